//! API errors and their JSON form.
//!
//! SPEC section 1 promises that every failure is a JSON object
//! (`{"error", "message", "field"?}`), never an HTML page. One type carries the
//! HTTP status together with the machine code, so every layer (framing,
//! routing, validation, the call side) fails the same way.

use std::fmt;

/// A failed request, as the client will see it.
///
/// Exists so that the call side (the `Api` implementor) and the HTTP layer
/// share one error vocabulary: whatever goes wrong ends as the same JSON shape
/// with a status the SIPx clients already understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code of the reply.
    pub status: u16,
    /// Stable machine-readable code (`"invalid_field"`, `"not_found"`, ...),
    /// so clients can branch without parsing `message`.
    pub error: &'static str,
    /// Human-readable explanation; never contains a secret or a userSig.
    pub message: String,
    /// JSON path of the offending request field (`"trtcParams.roomId"`),
    /// present only for validation errors.
    pub field: Option<String>,
}

impl ApiError {
    /// Generic constructor, for codes that have no helper below.
    pub fn new(status: u16, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
            field: None,
        }
    }

    /// A request field is present but has the wrong type or is out of range (400).
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.to_owned()),
            ..Self::new(400, "invalid_field", message)
        }
    }

    /// A required request field is absent (400); separate code from
    /// `invalid_field` so a client can tell "forgot it" from "sent it wrong".
    pub fn missing_field(field: &str) -> Self {
        ApiError {
            field: Some(field.to_owned()),
            ..Self::new(400, "missing_field", format!("`{field}` is required"))
        }
    }

    /// The body is not JSON at all (400).
    pub fn malformed_json(message: impl Into<String>) -> Self {
        Self::new(400, "malformed_json", message)
    }

    /// The request is broken at the HTTP level or in its overall shape (400).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    /// Signature missing, wrong or expired (401, SPEC "Signature").
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    /// The number policy refuses the number (403).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }

    /// The number policy refuses a request field (403), naming it (`phonenumber`) so
    /// the client knows which value was refused without the policy being echoed.
    pub fn forbidden_field(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.to_owned()),
            ..Self::forbidden(message)
        }
    }

    /// Call setups over `[policy] max_setups_per_minute` (429); the server adds the
    /// `Retry-After` header from the limiter, the message says how long too.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(429, "too_many_requests", message)
    }

    /// Unknown path, or a call id that is unknown or finished (404).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    /// Known path, wrong method (405); the server adds the `Allow` header.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "method_not_allowed", message)
    }

    /// The client was too slow to send its request (408).
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(408, "request_timeout", message)
    }

    /// A body came without `Content-Length` (e.g. chunked), which we refuse (411).
    pub fn length_required(message: impl Into<String>) -> Self {
        Self::new(411, "length_required", message)
    }

    /// The body is larger than the configured limit (413).
    pub fn body_too_large(message: impl Into<String>) -> Self {
        Self::new(413, "body_too_large", message)
    }

    /// The body is declared as something other than JSON (415).
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, "unsupported_media_type", message)
    }

    /// The request header block is larger than the configured limit (431).
    pub fn header_too_large(message: impl Into<String>) -> Self {
        Self::new(431, "header_too_large", message)
    }

    /// Our own bug or an unexpected failure (500); never a panic.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }

    /// The TRTC room could not be entered (502, with the SDK's reason).
    pub fn room_failed(message: impl Into<String>) -> Self {
        Self::new(502, "room_failed", message)
    }

    /// At call capacity or shutting down (503).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "unavailable", message)
    }

    /// The JSON body of the reply (`{"error", "message", "field"?}`).
    pub fn to_json(&self) -> Vec<u8> {
        let mut obj = serde_json::Map::new();
        obj.insert("error".into(), self.error.into());
        obj.insert("message".into(), self.message.clone().into());
        if let Some(field) = &self.field {
            obj.insert("field".into(), field.clone().into());
        }
        // Serializing a map of strings cannot fail; fall back to a fixed body anyway.
        serde_json::to_vec(&serde_json::Value::Object(obj))
            .unwrap_or_else(|_| br#"{"error":"internal","message":"error serialization"}"#.to_vec())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.error, self.message)?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_field_only_when_set() {
        let e = ApiError::bad_field("trtcParams.roomId", "out of range");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["error"], "invalid_field");
        assert_eq!(v["field"], "trtcParams.roomId");
        assert_eq!(v["message"], "out of range");
        assert_eq!(e.status, 400);

        let e = ApiError::not_found("no such call");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["error"], "not_found");
        assert!(v.get("field").is_none());
        assert_eq!(e.status, 404);
    }

    #[test]
    fn statuses() {
        assert_eq!(ApiError::room_failed("x").status, 502);
        assert_eq!(ApiError::unavailable("x").status, 503);
        assert_eq!(ApiError::unauthorized("x").status, 401);
        assert_eq!(ApiError::body_too_large("x").status, 413);
        assert_eq!(ApiError::header_too_large("x").status, 431);
        assert_eq!(ApiError::missing_field("id").field.as_deref(), Some("id"));
    }

    #[test]
    fn message_is_json_escaped() {
        let e = ApiError::bad_request("quote \" and newline \n");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["message"], "quote \" and newline \n");
    }
}
