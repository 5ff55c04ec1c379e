//! What the call side may answer instead of a result: kinds of failure without HTTP
//! vocabulary.
//!
//! Part of the [`Api`](super::api::Api) contract: the implementor (the call layer) says
//! *what* went wrong, and only this module says which HTTP status and machine code a
//! client sees for it, so status numbers stay in `http` and the call side could serve
//! another front end unchanged.

use super::errors::ApiError;
use std::fmt;

/// Why the call side refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No call with that id (or no longer running, or without what was asked of it).
    NotFound(String),
    /// The gateway cannot take this now: at capacity, stopping, out of ports, busy.
    Unavailable(String),
    /// The TRTC room could not be entered (with the SDK's reason).
    RoomFailed(String),
    /// The SIP side could not start the call (no INVITE went out).
    SipFailed(String),
    /// A request field the call side needs was left out (its JSON path), e.g. a userSig
    /// when no secret key for the application is configured.
    MissingField(&'static str),
    /// The request clashes with what is going on: a line that already carries a call,
    /// touch tones for a call whose phone leg has no keypad.
    Conflict(String),
    /// A request field has a value the gateway refuses (its JSON path, and why), e.g.
    /// a `callStateNotifyUrl` naming a link-local address.
    BadField(&'static str, String),
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::NotFound(m) => ApiError::not_found(m),
            CallError::Unavailable(m) => ApiError::unavailable(m),
            CallError::RoomFailed(m) => ApiError::room_failed(m),
            CallError::SipFailed(m) => ApiError::new(502, "sip_failed", m),
            CallError::Conflict(m) => ApiError::new(409, "conflict", m),
            CallError::MissingField(field) => ApiError::missing_field(field),
            CallError::BadField(field, m) => ApiError::bad_field(field, m),
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NotFound(m)
            | CallError::Unavailable(m)
            | CallError::RoomFailed(m)
            | CallError::SipFailed(m)
            | CallError::Conflict(m) => f.write_str(m),
            CallError::MissingField(field) => write!(f, "`{field}` is required"),
            CallError::BadField(field, m) => write!(f, "`{field}`: {m}"),
        }
    }
}

impl std::error::Error for CallError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(e: CallError) -> (u16, serde_json::Value) {
        let api = ApiError::from(e);
        (api.status, serde_json::from_slice(&api.to_json()).unwrap())
    }

    #[test]
    fn each_kind_keeps_the_status_and_json_clients_know() {
        use serde_json::json;
        let cases = [
            (
                CallError::NotFound("no call with id x".into()),
                404,
                json!({"error": "not_found", "message": "no call with id x"}),
            ),
            (
                CallError::Unavailable("at capacity".into()),
                503,
                json!({"error": "unavailable", "message": "at capacity"}),
            ),
            (
                CallError::RoomFailed("room entry timed out".into()),
                502,
                json!({"error": "room_failed", "message": "room entry timed out"}),
            ),
            (
                CallError::SipFailed("cannot call sip:1@x".into()),
                502,
                json!({"error": "sip_failed", "message": "cannot call sip:1@x"}),
            ),
            (
                CallError::MissingField("trtcParams.userSig"),
                400,
                json!({"error": "missing_field", "message": "`trtcParams.userSig` is required", "field": "trtcParams.userSig"}),
            ),
            (
                CallError::BadField("callStateNotifyUrl", "refused".into()),
                400,
                json!({"error": "invalid_field", "message": "refused", "field": "callStateNotifyUrl"}),
            ),
        ];
        for (kind, status, body) in cases {
            assert_eq!(reply(kind.clone()), (status, body), "{kind:?}");
        }
    }
}
