//! One request's bytes through the server's own parsing and the whole handler, with no
//! socket and a stand-in call service: the entry of the `http_request` fuzz target
//! (fuzz/). Not part of the API; hidden from the docs.

use super::api::{Api, CallStateReply, CallSummary, StartupRequest};
use super::call_error::CallError;
use super::handler::{handle, Request};
use super::server::parse_head;
use super::signature::ApiKeys;

/// A call service that knows one live call (`live`) and accepts every startup.
struct StandIn;

impl Api for StandIn {
    async fn startup(&self, req: StartupRequest) -> Result<String, CallError> {
        match req.phonenumber.as_str() {
            "503" => Err(CallError::Unavailable("at capacity".into())),
            _ => Ok("0123456789abcdef".into()),
        }
    }
    fn shutdown(&self, id: &str) -> Result<(), CallError> {
        known(id)
    }
    fn callstate(&self, id: &str) -> Result<CallStateReply, CallError> {
        known(id).map(|()| CallStateReply {
            data: "2026-01-01T00:00:00.000000+00:00 1 CALLING 0\n".into(),
            done: false,
        })
    }
    fn dtmf(&self, id: &str, _digits: &str) -> Result<(), CallError> {
        known(id)
    }
    fn callstats(&self, id: &str) -> Result<crate::media::MediaSnapshot, CallError> {
        known(id).and(Err(CallError::NotFound("no media yet".into())))
    }
    fn calls(&self) -> Vec<CallSummary> {
        Vec::new()
    }
    fn health(&self) -> Vec<crate::health::Unwell> {
        Vec::new()
    }
    fn metrics(&self) -> Vec<u8> {
        b"# stand-in\n".to_vec()
    }
    fn status(&self) -> serde_json::Value {
        serde_json::json!({"box": {}, "calls": []})
    }
}

fn known(id: &str) -> Result<(), CallError> {
    match id {
        "live" => Ok(()),
        _ => Err(CallError::NotFound("no such call".into())),
    }
}

/// Parses `data` as one HTTP/1.1 request (head, then `Content-Length` bytes of body)
/// and answers it as the server would, with one API key (`23456789` = `secret`) so
/// signed and unsigned paths are both reached. Returns the response status.
pub fn serve_bytes(data: &[u8]) -> u16 {
    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return 400;
    };
    let parsed = match parse_head(&data[..end + 4]) {
        Ok(p) => p,
        Err(e) => return e.status,
    };
    let rest = &data[end + 4..];
    let body = parsed.content_length.map(|n| &rest[..n.min(rest.len())]);
    let req = Request {
        method: &parsed.method,
        target: &parsed.target,
        content_type: parsed.content_type.as_deref(),
        body,
    };
    let mut keys = ApiKeys::new();
    keys.insert("23456789", "secret");
    smol::block_on(handle(&StandIn, &keys, 1_790_000_000, &req)).status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_get_the_statuses_the_server_gives() {
        assert_eq!(
            serve_bytes(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
            200
        );
        assert_eq!(serve_bytes(b"GARBAGE"), 400);
        let unsigned = b"GET /trtc/callstate?id=live HTTP/1.1\r\n\r\n";
        assert_eq!(
            serve_bytes(unsigned),
            401,
            "keys configured: unsigned refused"
        );
        let body = br#"{"phonenumber":"1002"}"#;
        let mut req = format!(
            "POST /trtc/startup HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        assert_eq!(serve_bytes(&req), 401);
    }
}
