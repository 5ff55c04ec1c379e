//! Whole SIP messages on top of `ezk-sip-types`, which parses lines and header values but has no
//! message type: one datagram in, one [`Message`] out (or a clean error), and back to bytes.

use bytes::{Bytes, BytesMut};
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{CSeq, CallID, ContentLength, FromTo, Via};
use ezk_sip_types::msg::{Line, MessageLine, PullParser, RequestLine, StatusLine};
use ezk_sip_types::parse::Parse;
use ezk_sip_types::print::{AppendCtx, PrintCtx, UriContext};
use ezk_sip_types::{Headers, Method, Name, StatusCode};
use std::fmt::Write as _;

/// Largest message we accept or build; a UDP datagram cannot carry more anyway.
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// Most Via entries a request we answer may carry. A response copies every Via of its
/// request (RFC 3261 8.2.6.2), so this bounds what an answer reflects; real requests cross
/// a handful of proxies, and a request with more is dropped unanswered
/// ([`Request::echo_is_bounded`]).
pub const MAX_VIAS: usize = 16;

/// A SIP request; kept as typed start line plus raw header map so unknown headers survive.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method and request-URI.
    pub line: RequestLine,
    /// All headers, compact names already mapped to their long form by `ezk-sip-types`.
    pub headers: Headers,
    /// The body, exactly `Content-Length` bytes.
    pub body: Bytes,
}

/// A SIP response; same shape as [`Request`] so transactions can treat both alike.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code and reason phrase.
    pub line: StatusLine,
    /// All headers.
    pub headers: Headers,
    /// The body, exactly `Content-Length` bytes.
    pub body: Bytes,
}

/// Either kind of message, as a datagram may carry either.
#[derive(Debug, Clone)]
pub enum Message {
    /// A request from the peer.
    Request(Request),
    /// A response from the peer.
    Response(Response),
}

/// Why a datagram was not a SIP message; counted and logged, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Only CRLFs (a keep-alive) or nothing at all.
    Empty,
    /// Bigger than [`MAX_MESSAGE_LEN`].
    TooLarge,
    /// The message head is not UTF-8.
    NotUtf8,
    /// The head ended before the blank line.
    Incomplete,
    /// The first line is neither a request line nor a status line.
    BadStartLine,
    /// A header line has no `name:` part.
    BadHeader,
    /// Content-Length is unreadable or larger than the body that arrived.
    BadContentLength,
    /// A header that every message must carry (Via, From, To, Call-ID, CSeq) is missing or unreadable.
    MissingHeader(&'static str),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty datagram"),
            ParseError::TooLarge => f.write_str("message too large"),
            ParseError::NotUtf8 => f.write_str("message head is not UTF-8"),
            ParseError::Incomplete => f.write_str("message head incomplete"),
            ParseError::BadStartLine => f.write_str("bad start line"),
            ParseError::BadHeader => f.write_str("bad header line"),
            ParseError::BadContentLength => f.write_str("bad Content-Length"),
            ParseError::MissingHeader(h) => write!(f, "missing or malformed {h} header"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parse one datagram into a message. Checks that the headers every transaction needs are present
/// and readable, so later layers can rely on them.
pub fn parse(data: &[u8]) -> Result<Message, ParseError> {
    if data.len() > MAX_MESSAGE_LEN {
        return Err(ParseError::TooLarge);
    }
    // RFC 3261 7.5: ignore CRLFs before the start line (also UDP keep-alives).
    let start = data
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .ok_or(ParseError::Empty)?;
    let src = Bytes::copy_from_slice(&data[start..]);

    let mut parser = PullParser::new(&src, 0);
    let first = match parser.next() {
        Some(Ok(line)) => line,
        Some(Err(_)) | None => return Err(ParseError::Incomplete),
    };
    let first = std::str::from_utf8(first).map_err(|_| ParseError::NotUtf8)?;
    let (rest, start_line) =
        MessageLine::parse(&src)(first).map_err(|_| ParseError::BadStartLine)?;
    if !rest.trim().is_empty() {
        return Err(ParseError::BadStartLine);
    }

    let mut headers = Headers::with_capacity(16);
    for line in parser.by_ref() {
        let line = line.map_err(|_| ParseError::Incomplete)?;
        let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
        let (_, Line { name, value }) =
            Line::parse(&src, line).map_err(|_| ParseError::BadHeader)?;
        if name.as_print_str().is_empty() {
            return Err(ParseError::BadHeader);
        }
        headers.insert(name, value);
    }
    let head_end = parser.head_end().min(src.len());
    let rest = src.slice(head_end..);
    let body = match headers.try_get_named::<ContentLength>() {
        Some(Ok(ContentLength(len))) if len <= rest.len() => rest.slice(..len),
        Some(_) => return Err(ParseError::BadContentLength),
        // UDP: without Content-Length the body runs to the end of the datagram (RFC 3261 18.3).
        None => rest,
    };

    require_common_headers(&headers)?;

    Ok(match start_line {
        MessageLine::Request(line) => Message::Request(Request {
            line,
            headers,
            body,
        }),
        MessageLine::Response(line) => {
            let code = line.code.into_u16();
            if !(100..=699).contains(&code) {
                return Err(ParseError::BadStartLine);
            }
            Message::Response(Response {
                line,
                headers,
                body,
            })
        }
    })
}

fn require_common_headers(headers: &Headers) -> Result<(), ParseError> {
    match headers.try_get_named::<Via>() {
        Some(Ok(_)) => {}
        _ => return Err(ParseError::MissingHeader("Via")),
    }
    match headers.try_get::<FromTo>(Name::FROM) {
        Some(Ok(_)) => {}
        _ => return Err(ParseError::MissingHeader("From")),
    }
    match headers.try_get::<FromTo>(Name::TO) {
        Some(Ok(_)) => {}
        _ => return Err(ParseError::MissingHeader("To")),
    }
    match headers.try_get_named::<CallID>() {
        Some(Ok(id)) if !id.0.is_empty() => {}
        _ => return Err(ParseError::MissingHeader("Call-ID")),
    }
    match headers.try_get_named::<CSeq>() {
        Some(Ok(_)) => {}
        _ => return Err(ParseError::MissingHeader("CSeq")),
    }
    Ok(())
}

/// Typed access to the headers every message carries; parse() has checked they are readable,
/// but these still return `Option` so a hand-built message cannot make them panic.
pub trait CommonHeaders {
    /// The raw header map.
    fn headers(&self) -> &Headers;

    /// Top Via (ours on responses, the peer's on requests).
    fn top_via(&self) -> Option<Via> {
        self.headers()
            .get_named::<Vec<Via>>()
            .ok()
            .and_then(|v| v.into_iter().next())
    }
    /// Branch of the top Via, the transaction id.
    fn branch(&self) -> Option<String> {
        self.top_via()
            .and_then(|v| v.params.get_val("branch").map(|b| b.to_string()))
    }
    /// From header.
    fn from(&self) -> Option<FromTo> {
        self.headers().get::<FromTo>(Name::FROM).ok()
    }
    /// To header.
    fn to(&self) -> Option<FromTo> {
        self.headers().get::<FromTo>(Name::TO).ok()
    }
    /// Call-ID value.
    fn call_id(&self) -> Option<String> {
        self.headers()
            .get_named::<CallID>()
            .ok()
            .map(|c| c.0.to_string())
    }
    /// CSeq number and method.
    fn cseq(&self) -> Option<CSeq> {
        self.headers().get_named::<CSeq>().ok()
    }
    /// Content-Type value, if any.
    fn content_type(&self) -> Option<String> {
        self.headers()
            .get_raw(&Name::CONTENT_TYPE)
            .next()
            .map(|v| v.trim().to_string())
    }
}

impl CommonHeaders for Request {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

impl CommonHeaders for Response {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

impl Request {
    /// Serialise for the wire; Content-Length is always written from the actual body.
    pub fn to_bytes(&self) -> Bytes {
        let ctx = PrintCtx {
            method: Some(&self.line.method),
            uri: Some(UriContext::ReqUri),
        };
        let line = self.line.print_ctx(ctx).to_string();
        serialise(&line, &self.headers, &self.body)
    }

    /// The method, for matching.
    pub fn method(&self) -> &Method {
        &self.line.method
    }

    /// Via entries, counted without parsing them: header lines plus the commas that join
    /// several entries in one line (a comma inside a quoted parameter over-counts, which
    /// only errs on the side of refusing).
    pub fn via_count(&self) -> usize {
        self.headers
            .get_raw(&Name::VIA)
            .map(|v| 1 + v.bytes().filter(|b| *b == b',').count())
            .sum()
    }

    /// Whether an answer to this request stays small: at most [`MAX_VIAS`] Via entries.
    /// With [`Response::for_request`] copying only the five headers RFC 3261 requires, each
    /// once (Via excepted), an answer is then never more than a few hundred bytes larger
    /// than the request itself, so the gateway cannot be used to amplify traffic; requests
    /// that fail this are dropped without state or answer.
    pub fn echo_is_bounded(&self) -> bool {
        self.via_count() <= MAX_VIAS
    }
}

impl Response {
    /// Serialise for the wire; Content-Length is always written from the actual body.
    pub fn to_bytes(&self) -> Bytes {
        serialise(&self.line.to_string(), &self.headers, &self.body)
    }

    /// The status code as a number.
    pub fn code(&self) -> u16 {
        self.line.code.into_u16()
    }

    /// The reason phrase, or the standard one when the peer sent none.
    pub fn reason(&self) -> String {
        match &self.line.reason {
            Some(r) => r.to_string(),
            None => self.line.code.text().unwrap_or("").to_string(),
        }
    }

    /// A response with the given code and reason and no headers yet.
    pub fn new(code: u16, reason: &str) -> Self {
        Response {
            line: StatusLine {
                code: StatusCode::from(code),
                reason: Some(BytesStr::from(reason.to_string())),
            },
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }
}

impl Response {
    /// RFC 3261 8.2.6.2: a response to `request` copying exactly Via (every entry, in
    /// order), From, To, Call-ID and CSeq and nothing else; `to_tag` is added to To when the
    /// request had none (the peer needs it to tell dialogs apart). From, To, Call-ID and
    /// CSeq are single-valued, so only their first occurrence is copied: a request that
    /// repeats them cannot make its answer grow.
    pub fn for_request(request: &Request, code: u16, reason: &str, to_tag: Option<&str>) -> Self {
        let mut resp = Response::new(code, reason);
        for v in request.headers.get_raw(&Name::VIA) {
            resp.headers.insert(Name::VIA, v.clone());
        }
        let first = |name: &Name| request.headers.get_raw(name).next().cloned();
        if let Some(v) = first(&Name::FROM) {
            resp.headers.insert(Name::FROM, v);
        }
        match (request.to(), to_tag) {
            (Some(mut to), Some(tag)) if to.tag.is_none() => {
                to.tag = Some(BytesStr::from(tag.to_string()));
                resp.headers.insert_type(Name::TO, &to);
            }
            _ => {
                if let Some(v) = first(&Name::TO) {
                    resp.headers.insert(Name::TO, v);
                }
            }
        }
        for name in [Name::CALL_ID, Name::CSEQ] {
            if let Some(v) = first(&name) {
                resp.headers.insert(name, v);
            }
        }
        resp
    }

    /// The body as SDP, when there is one (non-empty, and typed application/sdp if typed at all).
    pub fn sdp(&self) -> Option<Bytes> {
        sdp_body(self.content_type(), &self.body)
    }
}

impl Request {
    /// The body as SDP, when there is one (non-empty, and typed application/sdp if typed at all).
    pub fn sdp(&self) -> Option<Bytes> {
        sdp_body(self.content_type(), &self.body)
    }
}

fn sdp_body(content_type: Option<String>, body: &Bytes) -> Option<Bytes> {
    if body.is_empty() {
        return None;
    }
    match content_type {
        Some(ct) if !ct.to_ascii_lowercase().starts_with("application/sdp") => None,
        _ => Some(body.clone()),
    }
}

fn serialise(start_line: &str, headers: &Headers, body: &Bytes) -> Bytes {
    let mut head = String::with_capacity(512 + headers.printed_len());
    head.push_str(start_line);
    head.push_str("\r\n");
    for (name, value) in headers.iter() {
        if *name == Name::CONTENT_LENGTH {
            continue;
        }
        let _ = write!(head, "{}: {}\r\n", name.as_print_str(), value);
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    let mut out = BytesMut::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@192.0.2.4>\r\n\
From: Alice <sip:alice@192.0.2.1>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@192.0.2.1>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\nGARBAGE-AFTER";

    #[test]
    fn parses_request_and_honours_content_length() {
        let Message::Request(req) = parse(INVITE).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(req.line.method, Method::INVITE);
        assert_eq!(&req.body[..], b"v=0\n");
        assert_eq!(req.call_id().unwrap(), "a84b4c76e66710@pc33");
        assert_eq!(req.cseq().unwrap().cseq, 314159);
        assert_eq!(req.branch().unwrap(), "z9hG4bK776asdhds");
        assert_eq!(req.from().unwrap().tag.unwrap(), "1928301774");
        assert!(req.to().unwrap().tag.is_none());
        assert_eq!(req.content_type().unwrap(), "application/sdp");
    }

    #[test]
    fn compact_forms_and_bare_lf() {
        let msg = b"SIP/2.0 180 Ringing\n\
v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport=5060\n\
f: <sip:a@10.0.0.1>;tag=x\n\
t: <sip:b@10.0.0.2>;tag=y\n\
i: callid-1\n\
CSeq: 1 INVITE\n\
m: <sip:b@10.0.0.2:5070>\n\
c: application/sdp\n\
l: 3\n\
\n\
abc";
        let Message::Response(resp) = parse(msg).unwrap() else {
            panic!("not a response")
        };
        assert_eq!(resp.code(), 180);
        assert_eq!(resp.reason(), "Ringing");
        assert_eq!(resp.to().unwrap().tag.unwrap(), "y");
        assert_eq!(resp.call_id().unwrap(), "callid-1");
        assert_eq!(&resp.body[..], b"abc");
        assert_eq!(resp.content_type().unwrap(), "application/sdp");
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse(b"").unwrap_err(), ParseError::Empty);
        assert_eq!(parse(b"\r\n\r\n").unwrap_err(), ParseError::Empty);
        assert!(parse(b"hello world").is_err());
        assert!(parse(b"\x00\x01\x02\xff\r\n\r\n").is_err());
        assert!(parse(b"SIP/2.0 200 OK\r\nVia: x\r\n").is_err());
        // Content-Length larger than what arrived.
        let mut short = INVITE.to_vec();
        short.truncate(short.len() - 14);
        assert_eq!(parse(&short).unwrap_err(), ParseError::BadContentLength);
        // Missing Call-ID.
        let no_callid =
            String::from_utf8_lossy(INVITE).replace("Call-ID: a84b4c76e66710@pc33\r\n", "");
        assert_eq!(
            parse(no_callid.as_bytes()).unwrap_err(),
            ParseError::MissingHeader("Call-ID")
        );
        assert_eq!(
            parse(b"SIP/2.0 999 Odd\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@h>\r\nt: <sip:b@h>\r\ni: x\r\nCSeq: 1 INVITE\r\n\r\n").unwrap_err(),
            ParseError::BadStartLine
        );
    }

    #[test]
    fn round_trip() {
        let Message::Request(req) = parse(INVITE).unwrap() else {
            panic!("not a request")
        };
        let bytes = req.to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("INVITE sip:bob@192.0.2.4 SIP/2.0\r\n"));
        assert!(text.contains("\r\nContent-Length: 4\r\n\r\nv=0\n"));
        let Message::Request(again) = parse(&bytes).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(again.call_id(), req.call_id());
        assert_eq!(again.body, req.body);
    }

    /// RFC 3261 8.2.6.2: an answer carries the request's Via, From, To, Call-ID and CSeq
    /// and nothing else of it, single-valued headers once.
    #[test]
    fn responses_echo_only_what_rfc3261_requires() {
        // Repeated single-valued headers come after the first ones: those are what is read.
        let text = String::from_utf8_lossy(INVITE).replace(
            "CSeq: 314159 INVITE\r\n",
            "CSeq: 314159 INVITE\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKsecond\r\n\
             Record-Route: <sip:p.example;lr>\r\nSubject: reflect me\r\nX-Big: yyyyyyyy\r\n\
             From: <sip:dup@192.0.2.1>;tag=dup\r\nCall-ID: dup\r\nCSeq: 9 INVITE\r\n",
        );
        let Message::Request(req) = parse(text.as_bytes()).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(req.via_count(), 2);
        assert!(req.echo_is_bounded());
        let resp = Response::for_request(&req, 480, "Busy", Some("t1"));
        let names: Vec<String> = resp
            .headers
            .iter()
            .map(|(n, _)| n.as_print_str().to_string())
            .collect();
        assert_eq!(names, ["Via", "Via", "From", "To", "Call-ID", "CSeq"]);
        let out = String::from_utf8_lossy(&resp.to_bytes()).into_owned();
        for absent in [
            "Record-Route",
            "Subject",
            "X-Big",
            "Contact",
            "dup",
            "application/sdp",
        ] {
            assert!(!out.contains(absent), "{absent} echoed:\n{out}");
        }
        assert!(out.contains(";tag=t1"), "{out}");
        assert!(out.len() < INVITE.len(), "{out}");
    }

    /// Mutated copies of valid messages must never panic the parser.
    #[test]
    fn mutations_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..3000 {
            let mut m = INVITE.to_vec();
            for _ in 0..rng.gen_range(1..6) {
                let i = rng.gen_range(0..m.len());
                match rng.gen_range(0..3) {
                    0 => m[i] = rng.gen(),
                    1 => {
                        m.remove(i);
                    }
                    _ => m.truncate(i),
                }
                if m.is_empty() {
                    break;
                }
            }
            if let Ok(Message::Request(r)) = parse(&m) {
                let _ = r.to_bytes();
                let _ = (r.top_via(), r.from(), r.to(), r.cseq(), r.call_id());
            }
        }
    }
}
