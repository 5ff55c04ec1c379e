//! Bytes as one client connection's input → the HTTP head parser, framing, router and
//! handler (`serve_bytes`, no socket), against an in-memory call side. Every answer is
//! a well-formed HTTP/1.1 status line; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trtc_sipgw::http::server::serve_bytes;
use trtc_sipgw::http::{Api, ApiKeys, CallError, CallStateReply, CallSummary, StartupRequest};
use trtc_sipgw::media::{Codec, MediaSnapshot};

/// A call side that knows one live call, "live", and places every call it is asked to.
struct StandIn;

fn unknown<T>() -> Result<T, CallError> {
    Err(CallError::NotFound("no such call".into()))
}

impl Api for StandIn {
    async fn startup(&self, req: StartupRequest) -> Result<String, CallError> {
        if req.phonenumber.ends_with('3') {
            return Err(CallError::Unavailable("at capacity".into()));
        }
        Ok("call1".into())
    }
    fn shutdown(&self, id: &str) -> Result<(), CallError> {
        if id == "live" {
            Ok(())
        } else {
            unknown()
        }
    }
    fn callstate(&self, _id: &str) -> Result<CallStateReply, CallError> {
        unknown()
    }
    fn dtmf(&self, id: &str, _digits: &str) -> Result<(), CallError> {
        if id == "live" {
            Ok(())
        } else {
            unknown()
        }
    }
    fn callstats(&self, id: &str) -> Result<MediaSnapshot, CallError> {
        if id != "live" {
            return unknown();
        }
        Ok(MediaSnapshot {
            codec: Codec::Pcmu,
            counters: Default::default(),
            telephone_event: None,
            line: None,
        })
    }
    fn calls(&self) -> Vec<CallSummary> {
        Vec::new()
    }
    fn health(&self) -> Vec<trtc_sipgw::health::Unwell> {
        Vec::new()
    }
    fn metrics(&self) -> Vec<u8> {
        b"# stand-in\n".to_vec()
    }
    fn status(&self) -> serde_json::Value {
        serde_json::json!({"box": {}, "calls": []})
    }
}

fuzz_target!(|data: &[u8]| {
    let mut keys = ApiKeys::new();
    keys.insert("fuzzkey", "fuzzsecret");
    let out = serve_bytes(&StandIn, &keys, 1_800_000_000, data);
    if !out.is_empty() {
        assert!(
            out.starts_with(b"HTTP/1.1 "),
            "not a status line: {:?}",
            &out[..out.len().min(40)]
        );
    }
});
