//! OPTIONS pings: how the box learns that a trunk is up or down ahead of calls (RFC 3261
//! section 11, used as a keep-alive). Only the request is built here; the core sends it
//! as a client transaction and reports its final answer (`SipCore::ping`).

use super::dialog::Local;
use super::message::Request;
use super::transport::Transport;
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{CSeq, CallID, FromTo, MaxForwards};
use ezk_sip_types::msg::RequestLine;
use ezk_sip_types::uri::{NameAddr, SipUri};
use ezk_sip_types::{Headers, Method, Name};

/// An out-of-dialog OPTIONS to `uri` (over `transport`, which our Contact names) from
/// `from` (with its tag), with a fresh Call-ID and Via `branch`.
pub(crate) fn options_request(
    local: &Local,
    (uri, transport): (SipUri, Transport),
    from: NameAddr,
    tag: String,
    branch: &str,
    call_id: String,
) -> Request {
    let mut headers = Headers::with_capacity(9);
    headers.insert_named(&local.via(branch));
    headers.insert_named(&MaxForwards(70));
    headers.insert_type(Name::FROM, &FromTo::new(from, Some(BytesStr::from(tag))));
    headers.insert_type(Name::TO, &FromTo::new(NameAddr::uri(uri.clone()), None));
    headers.insert_named(&CallID::new(call_id));
    headers.insert_named(&CSeq::new(1, Method::OPTIONS));
    headers.insert_named(&local.contact_on(transport));
    headers.insert(Name::ACCEPT, "application/sdp");
    if !local.user_agent.is_empty() {
        headers.insert(Name::USER_AGENT, local.user_agent.clone());
    }
    Request {
        line: RequestLine {
            method: Method::OPTIONS,
            uri,
        },
        headers,
        body: bytes::Bytes::new(),
    }
}
