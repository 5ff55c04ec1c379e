//! REGISTER between the wire and the registrar core: what the core needs read out of a
//! request, and its outcome written back as a response. Kept apart from `registrar.rs`
//! (which never sees a SIP message) and from `endpoint.rs` (which only routes).

use super::message::{CommonHeaders, Request, Response};
use super::registrar::{RegisterOutcome, RegisterRequest};
use ezk_sip_types::Name;
use std::net::SocketAddr;

/// The user part of a `sip:`/`sips:` URI inside a header value (`"Bob" <sip:2001@host>`).
pub fn uri_user(value: &str) -> Option<&str> {
    let start = value
        .find("sip:")
        .map(|i| i + 4)
        .or_else(|| value.find("sips:").map(|i| i + 5))?;
    let rest = &value[start..];
    let at = rest.find('@')?;
    let user = &rest[..at];
    // `sip:user:password@host` is deprecated, but the user is still the part before `:`.
    let user = user.split(';').next().unwrap_or(user);
    Some(user.split(':').next().unwrap_or(user))
}

/// Reads what the registrar needs out of a REGISTER that came from `from`.
pub fn register_request(req: &Request, from: SocketAddr) -> RegisterRequest {
    let raw = |name: &Name| req.headers.get_raw(name).next().map(|v| v.to_string());
    let start_line = req.to_bytes();
    let request_uri = std::str::from_utf8(&start_line)
        .ok()
        .and_then(|s| s.split("\r\n").next())
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_string();
    RegisterRequest {
        request_uri,
        to_user: raw(&Name::TO)
            .as_deref()
            .and_then(uri_user)
            .unwrap_or("")
            .to_string(),
        authorization: raw(&Name::AUTHORIZATION),
        contacts: req
            .headers
            .get_raw(&Name::CONTACT)
            .map(|v| v.to_string())
            .collect(),
        expires: raw(&Name::EXPIRES).and_then(|v| v.trim().parse().ok()),
        call_id: req.call_id().unwrap_or_default(),
        cseq: req.cseq().map_or(0, |c| c.cseq),
        source: Some(from),
    }
}

/// The answer to a REGISTER: 401 with a challenge per algorithm, 200 listing the bindings
/// with their remaining seconds (RFC 3261 §10.3 step 8), 423 with Min-Expires, or a
/// refusal.
pub fn register_response(req: &Request, outcome: &RegisterOutcome, to_tag: &str) -> Response {
    let tag = Some(to_tag);
    match outcome {
        RegisterOutcome::Challenge(challenges) => {
            let mut r = Response::for_request(req, 401, "Unauthorized", tag);
            for c in challenges {
                r.headers.insert(Name::WWW_AUTHENTICATE, c.clone());
            }
            r
        }
        RegisterOutcome::Ok(bindings) => {
            let mut r = Response::for_request(req, 200, "OK", tag);
            for (uri, left) in bindings {
                r.headers
                    .insert(Name::CONTACT, format!("<{uri}>;expires={left}"));
            }
            r
        }
        RegisterOutcome::IntervalTooBrief(min) => {
            let mut r = Response::for_request(req, 423, "Interval Too Brief", tag);
            r.headers.insert(Name::MIN_EXPIRES, min.to_string());
            r
        }
        RegisterOutcome::Refused(code, reason) => Response::for_request(req, *code, reason, tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_of_header_values() {
        assert_eq!(uri_user("<sip:2001@10.0.0.5>;tag=x"), Some("2001"));
        assert_eq!(
            uri_user("\"Desk\" <sips:alice@pbx.lan:5061>"),
            Some("alice")
        );
        assert_eq!(uri_user("sip:bob:pw@host"), Some("bob"));
        assert_eq!(uri_user("<sip:host-only>"), None);
        assert_eq!(uri_user("garbage"), None);
    }
}
