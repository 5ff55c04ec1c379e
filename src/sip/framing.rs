//! SIP over a byte stream (TCP, TLS): where one message ends and the next begins
//! (RFC 3261 section 18.3: the header ends at the first empty line, the body is
//! `Content-Length` bytes, which a stream message must carry). Decisions only, no I/O:
//! a connection's shell appends what it read and takes whole messages out, each then
//! handled exactly like a datagram. Hand-written because it is a few dozen lines over
//! `httparse`-like scanning that no SIP crate offers without its own transport layer.
//!
//! Bounded: a message (header and body) larger than [`MAX_MESSAGE`] is an error, after
//! which the connection must be closed, so a peer cannot make the box buffer without
//! end. CRLF keep-alives between messages (RFC 5626 section 3.5.1) are consumed and
//! counted.

/// Largest message taken from a stream (the UDP side reads at most 64 KiB too).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Why a stream cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// The header has no usable `Content-Length` (RFC 3261 18.3 requires it on streams).
    NoContentLength,
    /// The message would be larger than [`MAX_MESSAGE`].
    TooLarge,
}

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FramingError::NoContentLength => {
                f.write_str("SIP message on a stream without Content-Length")
            }
            FramingError::TooLarge => write!(f, "SIP message larger than {MAX_MESSAGE} bytes"),
        }
    }
}

/// What one connection has read and not yet handed out.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// Line ends consumed between messages (a keep-alive ping is CRLF CRLF).
    newlines: u64,
}

impl StreamFramer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Keep-alive pings (CRLF CRLF) seen so far.
    pub fn keepalives(&self) -> u64 {
        self.newlines / 2
    }

    /// The next whole message, if one has arrived; an error means the stream is broken
    /// and the connection must close.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        // Keep-alives: CRLF pairs (and stray line ends) before a message.
        let lead = self
            .buf
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .unwrap_or(self.buf.len());
        if lead > 0 {
            let lead_bytes = self.buf.drain(..lead);
            self.newlines += lead_bytes.filter(|b| *b == b'\n').count() as u64;
        }
        let Some(head_end) = find(&self.buf, b"\r\n\r\n").map(|i| i + 4) else {
            if self.buf.len() > MAX_MESSAGE {
                return Err(FramingError::TooLarge);
            }
            return Ok(None);
        };
        let head = self.buf.get(..head_end).unwrap_or_default();
        let length = content_length(head).ok_or(FramingError::NoContentLength)?;
        let total = head_end.checked_add(length).ok_or(FramingError::TooLarge)?;
        if total > MAX_MESSAGE {
            return Err(FramingError::TooLarge);
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The `Content-Length` (or compact `l`) header's value in a message head.
fn content_length(head: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";

    fn with_body(body: &str) -> Vec<u8> {
        format!(
            "INVITE sip:a@b SIP/2.0\r\nl: {}\r\nContent-Type: application/sdp\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn messages_split_by_content_length_whatever_the_reads() {
        let invite = with_body("v=0\r\no=- 1 1 IN IP4 h\r\n");
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(OPTIONS);
        stream.extend_from_slice(&invite);
        stream.extend_from_slice(OPTIONS);
        // Every way of cutting the stream into reads gives the same messages.
        for cut in [1, 2, 7, 50, stream.len()] {
            let mut f = StreamFramer::new();
            let mut got = Vec::new();
            for chunk in stream.chunks(cut) {
                f.push(chunk);
                while let Some(m) = f.next_message().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(
                got,
                vec![OPTIONS.to_vec(), invite.clone(), OPTIONS.to_vec()],
                "cut {cut}"
            );
            assert_eq!(f.keepalives(), 1);
        }
    }

    #[test]
    fn a_message_without_length_or_too_large_breaks_the_stream() {
        let mut f = StreamFramer::new();
        f.push(b"BYE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(f.next_message(), Err(FramingError::NoContentLength));

        let mut f = StreamFramer::new();
        f.push(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n");
        assert_eq!(f.next_message(), Err(FramingError::TooLarge));

        let mut f = StreamFramer::new();
        f.push(b"INVITE sip:a@b SIP/2.0\r\nSubject: ");
        f.push(&vec![b'x'; MAX_MESSAGE]);
        assert_eq!(f.next_message(), Err(FramingError::TooLarge));

        let mut f = StreamFramer::new();
        f.push(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 18446744073709551615\r\n\r\n");
        assert!(f.next_message().is_err());
    }
}
