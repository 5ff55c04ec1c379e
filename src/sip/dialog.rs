//! RFC 3261 section 12 dialog state on the UAC side: the identifiers, CSeq spaces, route set and
//! remote target that every request inside an established call must carry, plus the local
//! identity (Via, Contact, User-Agent) that all our requests share.

use super::message::{CommonHeaders, Request, Response};
use super::transport::Transport;
use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{
    Allow, CSeq, CallID, Contact, FromTo, MaxForwards, Routing, Via,
};
use ezk_sip_types::host::{Host, HostPort};
use ezk_sip_types::msg::RequestLine;
use ezk_sip_types::uri::params::Param;
use ezk_sip_types::uri::{NameAddr, SipUri};
use ezk_sip_types::{Headers, Method, Name};
use std::net::{IpAddr, SocketAddr};

/// Methods we answer, advertised in Allow.
pub const ALLOWED: [Method; 7] = [
    Method::INVITE,
    Method::ACK,
    Method::CANCEL,
    Method::BYE,
    Method::OPTIONS,
    Method::INFO,
    Method::UPDATE,
];

/// What we say about ourselves in every message (Via sent-by, Contact, User-Agent).
#[derive(Debug, Clone)]
pub struct Local {
    /// Advertised address (not necessarily the bound one: 0.0.0.0 is never advertised).
    pub addr: SocketAddr,
    /// Port of our TLS listener (`[sip] tls_listen`), written into Contact for dialogs
    /// over TLS so the peer's new connections reach it; None: the port of `addr`.
    pub tls_port: Option<u16>,
    /// User-Agent / Server header value.
    pub user_agent: String,
}

impl Local {
    /// Via for a new request: UDP, our address, the branch, and `rport` (RFC 3581) so answers
    /// come back through NATs. The transaction layer writes the transport the request
    /// really takes into it when it sends (`transport::prepare`).
    pub fn via(&self, branch: &str) -> Via {
        let mut via = Via::new("UDP", self.addr, branch.to_string());
        via.params.push(Param::name("rport"));
        via
    }

    /// `<sip:trtc-sipgw@ip:port>`: where the peer sends in-dialog requests.
    pub fn contact(&self) -> Contact {
        self.contact_on(Transport::Udp)
    }

    /// [`Local::contact`] for a dialog over `transport`: `;transport=tcp` for TCP (and
    /// `tls` on the TLS listener's port for TLS), so the peer's requests in the dialog
    /// come over the same transport (RFC 3263 4.1).
    pub fn contact_on(&self, transport: Transport) -> Contact {
        let addr = match (transport, self.tls_port) {
            (Transport::Tls, Some(port)) => SocketAddr::new(self.addr.ip(), port),
            _ => self.addr,
        };
        let mut uri = SipUri::new(HostPort::from(addr)).user(BytesStr::from_static("trtc-sipgw"));
        if let Some(t) = transport.uri_param() {
            uri.uri_params.push(Param::value("transport", t));
        }
        Contact::new(NameAddr::uri(uri))
    }

    /// Headers every response of ours carries beyond the copied ones; `contact`: our
    /// Contact for a dialog over that transport (dialog-creating and target-refresh
    /// answers).
    pub fn decorate_response(&self, resp: &mut Response, contact: Option<Transport>) {
        if let Some(transport) = contact {
            resp.headers.insert_named(&self.contact_on(transport));
        }
        resp.headers
            .insert_named(&ALLOWED.iter().cloned().map(Allow).collect::<Vec<_>>());
        if !self.user_agent.is_empty() {
            resp.headers.insert(Name::SERVER, self.user_agent.clone());
        }
    }
}

/// Where a URI points when it is an IP literal; names fall back to the caller's choice, since a
/// core without I/O cannot resolve them.
pub fn uri_addr(uri: &SipUri) -> Option<SocketAddr> {
    let port = uri
        .host_port
        .port
        .unwrap_or(if uri.sips { 5061 } else { 5060 });
    let ip: IpAddr = match &uri.host_port.host {
        Host::IP4(ip) => (*ip).into(),
        Host::IP6(ip) => (*ip).into(),
        Host::Name(_) => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// One dialog we take part in as the caller.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Call-ID shared by all requests of the dialog.
    pub call_id: String,
    /// Our From (with our tag).
    pub local: FromTo,
    /// The peer's To (with its tag).
    pub remote: FromTo,
    /// Tag the peer put in To.
    pub remote_tag: String,
    /// Last CSeq number we used.
    pub local_cseq: u32,
    /// Last CSeq number the peer used, once it sent a request.
    pub remote_cseq: Option<u32>,
    /// Record-Route of the 2xx, reversed (RFC 3261 12.1.2).
    pub route_set: Vec<Routing>,
    /// The peer's Contact: request-URI of in-dialog requests.
    pub remote_target: SipUri,
    /// Where the INVITE went; used when the next hop is a host name.
    pub fallback: SocketAddr,
    /// What the dialog was set up over: its requests take it unless the next hop's URI
    /// names another (`;transport=`).
    pub transport: Transport,
}

impl Dialog {
    /// The dialog a 2xx (or 1xx with tag) to our INVITE (sent over `transport`) creates.
    pub fn from_response(
        invite: &Request,
        resp: &Response,
        fallback: SocketAddr,
        transport: Transport,
    ) -> Option<Self> {
        let local = invite.from()?;
        let remote = resp.to()?;
        let remote_tag = remote.tag.as_ref()?.to_string();
        let mut route_set = resp
            .headers
            .get::<Vec<Routing>>(Name::RECORD_ROUTE)
            .unwrap_or_default();
        route_set.reverse();
        let remote_target = resp
            .headers
            .get_named::<Vec<Contact>>()
            .ok()
            .and_then(|c| c.into_iter().next())
            .map(|c| c.uri.uri)
            .unwrap_or_else(|| invite.line.uri.clone());
        Some(Dialog {
            call_id: invite.call_id()?,
            local,
            remote,
            remote_tag,
            local_cseq: invite.cseq()?.cseq,
            remote_cseq: None,
            route_set,
            remote_target,
            fallback,
            transport,
        })
    }

    /// Our tag.
    pub fn local_tag(&self) -> String {
        self.local
            .tag
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    /// Whether a request from the peer belongs to this dialog (its To tag is ours, its From tag
    /// is the peer's).
    pub fn matches(&self, req: &Request) -> bool {
        let (Some(call_id), Some(from), Some(to)) = (req.call_id(), req.from(), req.to()) else {
            return false;
        };
        call_id == self.call_id
            && to.tag.as_deref() == self.local.tag.as_deref()
            && from.tag.as_deref() == Some(self.remote_tag.as_str())
    }

    /// Check and record the peer's CSeq (RFC 3261 12.2.2: lower than before → 500).
    pub fn accept_remote_cseq(&mut self, cseq: u32) -> bool {
        match self.remote_cseq {
            Some(prev) if cseq <= prev => false,
            _ => {
                self.remote_cseq = Some(cseq);
                true
            }
        }
    }

    /// A target refresh (re-INVITE/UPDATE) may move the peer's Contact.
    pub fn refresh_target(&mut self, req: &Request) {
        if let Some(c) = req
            .headers
            .get_named::<Vec<Contact>>()
            .ok()
            .and_then(|c| c.into_iter().next())
        {
            self.remote_target = c.uri.uri;
        }
    }

    /// Next hop of in-dialog requests: first route, else remote target.
    pub fn next_hop(&self) -> SocketAddr {
        uri_addr(self.next_hop_uri()).unwrap_or(self.fallback)
    }

    /// What in-dialog requests travel over: what the next hop's URI names, else what the
    /// dialog was set up over (a TCP dialog stays on TCP).
    pub fn hop_transport(&self) -> Transport {
        Transport::of_uri(self.next_hop_uri()).unwrap_or(self.transport)
    }

    fn next_hop_uri(&self) -> &SipUri {
        match self.route_set.first() {
            Some(r) => &r.uri.uri,
            None => &self.remote_target,
        }
    }

    /// Build an in-dialog request. `cseq` None takes the next number (ACK passes the INVITE's).
    pub fn request(
        &mut self,
        method: Method,
        cseq: Option<u32>,
        local: &Local,
        branch: &str,
    ) -> Request {
        let num = match cseq {
            Some(n) => n,
            None => {
                self.local_cseq += 1;
                self.local_cseq
            }
        };
        let mut headers = Headers::with_capacity(12);
        headers.insert_named(&local.via(branch));
        headers.insert_named(&MaxForwards(70));
        headers.insert_type(Name::FROM, &self.local);
        headers.insert_type(Name::TO, &self.remote);
        headers.insert_named(&CallID::new(self.call_id.clone()));
        headers.insert_named(&CSeq::new(num, method.clone()));

        // RFC 3261 12.2.1.1: loose routing when the first route has `lr`, else strict routing.
        let uri = match self.route_set.first() {
            None => self.remote_target.clone(),
            Some(first) if first.uri.uri.uri_params.get("lr").is_some() => {
                headers.insert_type(Name::ROUTE, &self.route_set);
                self.remote_target.clone()
            }
            Some(first) => {
                let mut uri = first.uri.uri.clone();
                uri.header_params = Default::default();
                let mut rest: Vec<Routing> = self.route_set[1..].to_vec();
                rest.push(Routing {
                    uri: NameAddr::uri(self.remote_target.clone()),
                    params: Default::default(),
                });
                headers.insert_type(Name::ROUTE, &rest);
                uri
            }
        };
        if method != Method::ACK && method != Method::CANCEL {
            headers.insert_named(&local.contact_on(self.transport));
        }
        if !local.user_agent.is_empty() {
            headers.insert(Name::USER_AGENT, local.user_agent.clone());
        }
        Request {
            line: RequestLine { method, uri },
            headers,
            body: Bytes::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse, Message};

    fn invite() -> Request {
        let Ok(Message::Request(r)) = parse(
            b"INVITE sip:bob@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
From: <sip:a@10.0.0.1>;tag=ours\r\nTo: <sip:bob@10.0.0.2>\r\nCall-ID: c1\r\nCSeq: 5 INVITE\r\n\r\n",
        ) else {
            panic!()
        };
        r
    }

    fn ok(rr: &str) -> Response {
        let text = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
From: <sip:a@10.0.0.1>;tag=ours\r\nTo: <sip:bob@10.0.0.2>;tag=theirs\r\nCall-ID: c1\r\nCSeq: 5 INVITE\r\n\
{rr}Contact: <sip:bob@10.0.0.9:5070>\r\n\r\n"
        );
        let Ok(Message::Response(r)) = parse(text.as_bytes()) else {
            panic!()
        };
        r
    }

    fn local() -> Local {
        Local {
            addr: "10.0.0.1:5060".parse().unwrap(),
            tls_port: None,
            user_agent: "ua".into(),
        }
    }

    #[test]
    fn contact_over_tls_names_tls_and_the_tls_listener() {
        let mut l = local();
        let text = |l: &Local, t| {
            use ezk_sip_types::print::AppendCtx;
            l.contact_on(t)
                .uri
                .uri
                .print_ctx(ezk_sip_types::print::PrintCtx::default())
                .to_string()
        };
        assert_eq!(
            text(&l, Transport::Tls),
            "sip:trtc-sipgw@10.0.0.1:5060;transport=tls"
        );
        l.tls_port = Some(5061);
        assert_eq!(
            text(&l, Transport::Tls),
            "sip:trtc-sipgw@10.0.0.1:5061;transport=tls"
        );
        // Other transports keep the main port.
        assert_eq!(
            text(&l, Transport::Tcp),
            "sip:trtc-sipgw@10.0.0.1:5060;transport=tcp"
        );
    }

    #[test]
    fn loose_route_set_reversed() {
        let resp = ok("Record-Route: <sip:p2.example;lr>, <sip:10.0.0.7:5080;lr>\r\n");
        let mut d = Dialog::from_response(
            &invite(),
            &resp,
            "10.0.0.2:5060".parse().unwrap(),
            Transport::Udp,
        )
        .unwrap();
        assert_eq!(d.remote_tag, "theirs");
        assert_eq!(d.next_hop(), "10.0.0.7:5080".parse().unwrap());
        let bye = d.request(Method::BYE, None, &local(), "z9hG4bKx");
        let text = String::from_utf8(bye.to_bytes().to_vec()).unwrap();
        assert!(
            text.starts_with("BYE sip:bob@10.0.0.9:5070 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Route: <sip:10.0.0.7:5080;lr>, <sip:p2.example;lr>\r\n"),
            "{text}"
        );
        assert!(text.contains("CSeq: 6 BYE\r\n"), "{text}");
        assert!(text.contains(";tag=theirs"), "{text}");
    }

    #[test]
    fn strict_route() {
        let resp = ok("Record-Route: <sip:10.0.0.7:5080>\r\n");
        let mut d = Dialog::from_response(
            &invite(),
            &resp,
            "10.0.0.2:5060".parse().unwrap(),
            Transport::Udp,
        )
        .unwrap();
        let bye = d.request(Method::BYE, None, &local(), "z9hG4bKx");
        let text = String::from_utf8(bye.to_bytes().to_vec()).unwrap();
        assert!(
            text.starts_with("BYE sip:10.0.0.7:5080 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Route: <sip:bob@10.0.0.9:5070>\r\n"),
            "{text}"
        );
    }
}
