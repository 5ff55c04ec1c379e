//! An HTTP response and its wire form.
//!
//! Every reply of the gateway has a `Content-Length` and, errors always, is JSON;
//! keeping the serialization in one place guarantees that (SPEC: never an HTML error,
//! never chunked).

use super::errors::ApiError;

/// A reply ready to be written: status, JSON body, and the one optional
/// header some replies need (`Allow` on a 405).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// JSON body (already serialized).
    pub body: Vec<u8>,
    /// `Allow` header value, for 405 replies.
    pub allow: Option<&'static str>,
    /// `Retry-After` header value in seconds, for 429 replies.
    pub retry_after: Option<u64>,
    /// Content type when the body is not JSON (`/metrics`' text format, the status
    /// page); None = JSON.
    pub content_type: Option<&'static str>,
    /// Not a body but a stream: the server answers with Server-Sent Events of the
    /// status until the client goes (`GET /events`).
    pub event_stream: bool,
}

impl Response {
    /// A 200 with a JSON body.
    pub fn ok(body: Vec<u8>) -> Self {
        Response {
            status: 200,
            body,
            allow: None,
            retry_after: None,
            content_type: None,
            event_stream: false,
        }
    }

    /// The same reply with another content type than JSON.
    pub fn with_content_type(mut self, content_type: &'static str) -> Self {
        self.content_type = Some(content_type);
        self
    }

    /// Serialize to bytes. `close` adds `Connection: close`; `keep_alive_http10`
    /// adds `Connection: keep-alive` for HTTP/1.0 clients that asked for it.
    pub fn to_bytes(&self, close: bool, keep_alive_http10: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
            self.status,
            reason(self.status),
            self.content_type
                .unwrap_or("application/json; charset=utf-8"),
            self.body.len()
        );
        if let Some(allow) = self.allow {
            head.push_str("Allow: ");
            head.push_str(allow);
            head.push_str("\r\n");
        }
        if let Some(secs) = self.retry_after {
            head.push_str(&format!("Retry-After: {secs}\r\n"));
        }
        if close {
            head.push_str("Connection: close\r\n");
        } else if keep_alive_http10 {
            head.push_str("Connection: keep-alive\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

impl From<ApiError> for Response {
    fn from(e: ApiError) -> Self {
        let allow = (e.status == 405).then_some("GET, POST");
        Response {
            status: e.status,
            body: e.to_json(),
            allow,
            retry_after: None,
            content_type: None,
            event_stream: false,
        }
    }
}

/// Standard reason phrase of a status (cosmetic; clients use the number).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        let r = Response::ok(br#"{"id":"x"}"#.to_vec());
        let s = String::from_utf8(r.to_bytes(false, false)).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(s.contains("Content-Length: 10\r\n"));
        assert!(s.contains("Content-Type: application/json; charset=utf-8\r\n"));
        assert!(!s.contains("Connection"));
        assert!(s.ends_with("\r\n\r\n{\"id\":\"x\"}"));

        let mut r: Response = ApiError::method_not_allowed("no").into();
        r.allow = Some("POST");
        let s = String::from_utf8(r.to_bytes(true, false)).unwrap();
        assert!(s.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(s.contains("Allow: POST\r\n"));
        assert!(s.contains("Connection: close\r\n"));

        let mut r: Response = ApiError::too_many_requests("slow down").into();
        r.retry_after = Some(7);
        let s = String::from_utf8(r.to_bytes(false, false)).unwrap();
        assert!(s.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{s}");
        assert!(s.contains("Retry-After: 7\r\n"));
    }
}
