//! The HTTP/1.1 listener: accept loop and one task per connection, all on the
//! gateway's single `LocalExecutor` (DESIGN: one thread, no thread per
//! connection).
//!
//! Framing is ours over `httparse`, deliberately small: requests need a
//! `Content-Length` for a body (a `Transfer-Encoding` is answered 411, and
//! both together 400, which closes the request-smuggling door), keep-alive and
//! pipelining are supported, and every limit is enforced before memory is
//! spent: header size (431), body size (413, refused before the body is read),
//! number of connections, and timeouts for slow or idle clients.
//!
//! Timeouts: a new connection has `header_timeout` to deliver its first
//! header block; between keep-alive requests it may stay silent for
//! `idle_timeout`, after which the first byte starts a fresh `header_timeout`
//! for the rest of the header. The body then gets a fresh `header_timeout` of
//! its own. A response write that cannot finish within `idle_timeout` drops
//! the connection.
//!
//! Connection limits: at most `max_connections` at once, and at most
//! `max_connections_per_client` from one address, so one client cannot take
//! every slot. A connection over either limit is answered `503` JSON with
//! `Retry-After` at once and closed, rather than left in the kernel's backlog
//! where its client cannot tell a busy box from a dead one; at most
//! `MAX_REFUSING` such answers are in flight, beyond that a connection is just
//! closed, so a flood of connections costs the box a bounded amount.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Shutdown};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use smol::{LocalExecutor, Timer};

use super::api::Api;
use super::conn_slots::{ConnectionSlots, Refusal};
use super::errors::ApiError;
use super::handler::{self, Request};
use super::policy::Guard;
use super::response::Response;
use super::signature::ApiKeys;

/// Most headers accepted in one request (more → 431).
const MAX_HEADERS: usize = 64;
/// Read granularity.
const READ_CHUNK: usize = 4096;
/// How long, and how many bytes, we keep draining a client after an error
/// reply before closing, so that unread request bytes do not turn our close
/// into a reset that destroys the reply before the client reads it.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 << 20;
/// Pause after a failed `accept` (e.g. out of file descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Most `503` answers to connections over a limit being written at once.
const MAX_REFUSING: usize = 64;
/// How long a refused client waits before trying again (`Retry-After`).
const REFUSED_RETRY_AFTER_S: u64 = 1;

/// Resource limits of the HTTP server.
///
/// Exists because the box is small (DESIGN: fixed memory, refuse rather than
/// grow): every number here bounds memory or time a client can take.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest request body (413 above).
    pub max_body: usize,
    /// Largest request header block, request line included (431 above).
    pub max_header: usize,
    /// Most connections served at once; more are answered `503` at once.
    pub max_connections: usize,
    /// Most connections served at once for one client address (`503` beyond).
    pub max_connections_per_client: usize,
    /// Time a client has to send a header block, and then its body.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may stay silent between requests.
    pub idle_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_body: 64 * 1024,
            max_header: 16 * 1024,
            max_connections: 256,
            max_connections_per_client: 32,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Serve the API on `listener` without signature check (no API keys). Runs
/// until the executor is dropped; accept errors are logged and retried.
pub async fn serve<A: Api + 'static>(
    listener: TcpListener,
    api: Rc<A>,
    executor: Rc<LocalExecutor<'static>>,
    limits: HttpLimits,
) {
    serve_with_keys(listener, api, executor, limits, ApiKeys::new()).await
}

/// Like [`serve`], with the SIPx signature enforced when `keys` is not empty.
pub async fn serve_with_keys<A: Api + 'static>(
    listener: TcpListener,
    api: Rc<A>,
    executor: Rc<LocalExecutor<'static>>,
    limits: HttpLimits,
    keys: ApiKeys,
) {
    serve_with_guard(listener, api, executor, limits, keys, Guard::open()).await
}

/// Like [`serve_with_keys`], with the `[policy]` rules (number policy, setup limit per
/// client, rate-limited log of refusals) of `guard` applied to every request.
pub async fn serve_with_guard<A: Api + 'static>(
    listener: TcpListener,
    api: Rc<A>,
    executor: Rc<LocalExecutor<'static>>,
    limits: HttpLimits,
    keys: ApiKeys,
    guard: Guard,
) {
    let slots = ConnectionSlots::new(limits.max_connections, limits.max_connections_per_client);
    let refusing = Rc::new(Cell::new(0usize));
    let limits = Rc::new(limits);
    let keys = Rc::new(keys);
    let guard = Rc::new(guard);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok((stream, peer)) => (stream, peer.ip()),
            Err(e) => {
                log::warn!("http: accept failed: {e}");
                Timer::after(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let slot = match slots.take(peer) {
            Ok(slot) => slot,
            Err(refusal) => {
                let line = guard.failures.borrow_mut().note(
                    peer,
                    Instant::now(),
                    &format!("a connection (503: {refusal})"),
                );
                if let Some(line) = line {
                    log::warn!("{line}");
                }
                if refusing.get() < MAX_REFUSING {
                    refusing.set(refusing.get() + 1);
                    let refusing = refusing.clone();
                    executor
                        .spawn(async move {
                            refuse(stream, refusal).await;
                            refusing.set(refusing.get() - 1);
                        })
                        .detach();
                }
                continue;
            }
        };
        // Replies are single small writes; Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        let (api, keys, limits, guard) = (api.clone(), keys.clone(), limits.clone(), guard.clone());
        executor
            .spawn(async move {
                connection(stream, peer, &*api, &keys, &guard, &limits).await;
                drop(slot);
            })
            .detach();
    }
}

/// Answers a connection over a limit: `503` JSON saying which limit, with
/// `Retry-After`, then closes it.
async fn refuse(stream: TcpStream, refusal: Refusal) {
    let _ = stream.set_nodelay(true);
    let error = ApiError::unavailable(format!("too many connections: {refusal}"));
    let mut response = Response::from(error);
    response.retry_after = Some(REFUSED_RETRY_AFTER_S);
    send_and_close(stream, response).await;
}

/// What the header phase produced.
enum Head {
    /// A complete header block of this many bytes is at the start of the buffer.
    Complete(usize),
    /// The client closed or stayed silent between requests: close quietly.
    Gone,
}

/// The header fields the server acts on, copied out of the buffer so the
/// buffer can keep growing while the body is read.
struct Parsed {
    method: String,
    target: String,
    http10: bool,
    content_type: Option<String>,
    content_length: Option<usize>,
    keep_alive: bool,
    expect_continue: bool,
}

impl Parsed {
    /// The request the handler sees: the head's fields and `body` (the bytes after the
    /// head, when the request had a `Content-Length`).
    fn request<'a>(&'a self, body: &'a [u8]) -> Request<'a> {
        Request {
            method: &self.method,
            target: &self.target,
            content_type: self.content_type.as_deref(),
            body: self.content_length.map(|_| body),
        }
    }
}

/// Serve one connection until it closes, fails, or times out.
async fn connection<A: Api>(
    mut stream: TcpStream,
    peer: IpAddr,
    api: &A,
    keys: &ApiKeys,
    guard: &Guard,
    limits: &HttpLimits,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut first = true;
    loop {
        let head_len = match read_head(&mut stream, &mut buf, limits, first).await {
            Ok(Head::Complete(n)) => n,
            Ok(Head::Gone) => return,
            Err(e) => return fail(stream, e).await,
        };
        first = false;
        let parsed = match parse_head(&buf[..head_len]) {
            Ok(p) => p,
            Err(e) => return fail(stream, e).await,
        };

        let body_len = parsed.content_length.unwrap_or(0);
        if body_len > limits.max_body {
            let e = ApiError::body_too_large(format!("body over {} bytes", limits.max_body));
            return fail(stream, e).await;
        }
        let total = head_len + body_len;
        if buf.len() < total {
            if parsed.expect_continue && !parsed.http10 {
                let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
                let deadline = Instant::now() + limits.idle_timeout;
                if with_deadline(deadline, stream.write_all(interim))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let deadline = Instant::now() + limits.header_timeout;
            match read_to(&mut stream, &mut buf, total, deadline).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return fail(
                        stream,
                        ApiError::request_timeout("body not received in time"),
                    )
                    .await
                }
                Err(_) => return,
            }
        }

        let request = parsed.request(&buf[head_len..total]);
        let client = handler::Client {
            guard,
            peer,
            now: Instant::now(),
        };
        let response = handler::handle_guarded(api, keys, client, unix_now(), &request).await;
        count_request(&parsed.target, response.status);
        log::debug!(
            "http: {} {} -> {}",
            parsed.method,
            parsed.target.split('?').next().unwrap_or(""),
            response.status
        );

        if response.event_stream {
            return stream_events(stream, api, limits).await;
        }
        let close = !parsed.keep_alive;
        let bytes = response.to_bytes(close, parsed.http10 && !close);
        let deadline = Instant::now() + limits.idle_timeout;
        if with_deadline(deadline, stream.write_all(&bytes))
            .await
            .is_err()
        {
            return;
        }
        buf.drain(..total);
        if buf.is_empty() && buf.capacity() > 4 * READ_CHUNK {
            // An idle keep-alive connection should not hold a large body's buffer.
            buf = Vec::with_capacity(READ_CHUNK);
        }
        if close {
            return close_stream(stream, !buf.is_empty()).await;
        }
    }
}

/// How often `GET /events` sends the status (the page's durations tick on their own).
const EVENT_INTERVAL: Duration = Duration::from_secs(1);
/// How long one `GET /events` stream lasts; the browser's `EventSource` reconnects by
/// itself, so no connection (and no signature) lives for ever.
const EVENT_STREAM_LIFETIME: Duration = Duration::from_secs(600);

/// Serves `GET /events`: Server-Sent Events, one `status` event a second with what
/// `GET /trtc/status` answers, until the client goes, a write stalls, or the stream's
/// lifetime ends. The body is delimited by closing the connection (HTTP/1.1 allows it
/// for responses), so nothing is chunked.
async fn stream_events<A: Api>(mut stream: TcpStream, api: &A, limits: &HttpLimits) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
                Connection: close\r\n\r\nretry: 2000\n\n";
    let end = Instant::now() + EVENT_STREAM_LIFETIME;
    let mut out = head.as_bytes().to_vec();
    while Instant::now() < end {
        out.extend_from_slice(b"event: status\ndata: ");
        out.extend_from_slice(api.status().to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
        let deadline = Instant::now() + limits.idle_timeout;
        if with_deadline(deadline, stream.write_all(&out))
            .await
            .is_err()
        {
            return;
        }
        out.clear();
        Timer::after(EVENT_INTERVAL).await;
    }
    close_stream(stream, false).await;
}

/// Counts an answered request in the metrics, by route and status.
fn count_request(target: &str, status: u16) {
    if let Some(m) = crate::metrics::metrics() {
        let path = super::router::metrics_path(super::router::split_target(target).0);
        m.api_requests
            .with_label_values(&[path, &status.to_string()])
            .inc();
    }
}

/// Read until `buf` starts with a complete header block.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    limits: &HttpLimits,
    first: bool,
) -> Result<Head, ApiError> {
    // A fresh connection must speak within header_timeout; a kept-alive one
    // may idle, and its header clock starts with the first byte.
    let mut deadline = if first || !buf.is_empty() {
        Instant::now() + limits.header_timeout
    } else {
        Instant::now() + limits.idle_timeout
    };
    let mut started = !buf.is_empty();
    loop {
        if !buf.is_empty() {
            if let Some(n) = complete_head(buf, limits)? {
                return Ok(Head::Complete(n));
            }
        }
        let mut chunk = [0u8; READ_CHUNK];
        match with_deadline(deadline, stream.read(&mut chunk)).await {
            // Closed, possibly mid-header: nobody left to answer.
            Ok(0) => return Ok(Head::Gone),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::TimedOut && buf.is_empty() => {
                return Ok(Head::Gone)
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(ApiError::request_timeout("header not received in time"))
            }
            Err(_) => return Ok(Head::Gone),
        }
        if !started {
            started = true;
            deadline = Instant::now() + limits.header_timeout;
        }
    }
}

fn too_large_header(limits: &HttpLimits) -> ApiError {
    ApiError::header_too_large(format!("header over {} bytes", limits.max_header))
}

/// The length of the header block `buf` starts with, `None` while it is incomplete,
/// or the error that ends the connection (too large, malformed).
fn complete_head(buf: &[u8], limits: &HttpLimits) -> Result<Option<usize>, ApiError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n > limits.max_header => Err(too_large_header(limits)),
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) if buf.len() > limits.max_header => {
            Err(too_large_header(limits))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(ApiError::header_too_large(format!(
            "more than {MAX_HEADERS} header fields"
        ))),
        Err(e) => Err(ApiError::bad_request(format!("malformed request: {e}"))),
    }
}

/// Runs the bytes a client sent, as one connection's input, through the real head
/// parser, framing rules, router and handler against `api`, with no socket and no
/// clock but `now_unix`: the entry of the `http_request` fuzz target (fuzz/). Returns
/// every response the server would have written. Pipelined requests are answered in
/// turn; an incomplete one at the end is dropped, as a closed connection's would be.
#[doc(hidden)]
pub fn serve_bytes<A: Api>(api: &A, keys: &ApiKeys, now_unix: u64, data: &[u8]) -> Vec<u8> {
    let limits = HttpLimits::default();
    let guard = Guard::open();
    let mut out = Vec::new();
    let mut buf = data;
    while !buf.is_empty() {
        let parsed = complete_head(buf, &limits).and_then(|head| match head {
            Some(n) => parse_head(&buf[..n]).map(|p| Some((n, p))),
            None => Ok(None),
        });
        let (head_len, parsed) = match parsed {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                out.extend(Response::from(e).to_bytes(true, false));
                break;
            }
        };
        let body_len = parsed.content_length.unwrap_or(0);
        if body_len > limits.max_body {
            let e = ApiError::body_too_large(format!("body over {} bytes", limits.max_body));
            out.extend(Response::from(e).to_bytes(true, false));
            break;
        }
        let total = head_len + body_len;
        if buf.len() < total {
            break;
        }
        let request = parsed.request(&buf[head_len..total]);
        let client = handler::Client {
            guard: &guard,
            peer: IpAddr::from([127, 0, 0, 1]),
            now: Instant::now(),
        };
        let response = futures_lite::future::block_on(handler::handle_guarded(
            api, keys, client, now_unix, &request,
        ));
        let close = !parsed.keep_alive;
        out.extend(response.to_bytes(close, parsed.http10 && !close));
        if close || response.event_stream {
            break;
        }
        buf = &buf[total..];
    }
    out
}

/// Extract what the server needs from a complete header block.
fn parse_head(head: &[u8]) -> Result<Parsed, ApiError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(ApiError::bad_request("malformed request")),
    }
    let method = req.method.unwrap_or("").to_owned();
    let target = req.path.unwrap_or("").to_owned();
    let http10 = req.version == Some(0);

    let mut content_length: Option<usize> = None;
    let mut content_type = None;
    let mut transfer_encoding = false;
    let (mut conn_close, mut conn_keep_alive, mut expect_continue) = (false, false, false);
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| ApiError::bad_request(format!("header {} is not UTF-8", h.name)))?
            .trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(value)?;
            if content_length.is_some_and(|old| old != n) {
                return Err(ApiError::bad_request("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                conn_close |= token.eq_ignore_ascii_case("close");
                conn_keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
            } else {
                return Err(ApiError::new(
                    417,
                    "expectation_failed",
                    "only Expect: 100-continue is supported",
                ));
            }
        }
    }
    if transfer_encoding {
        return Err(if content_length.is_some() {
            ApiError::bad_request("both Transfer-Encoding and Content-Length")
        } else {
            ApiError::length_required("Transfer-Encoding is not supported; send Content-Length")
        });
    }
    let keep_alive = !conn_close && (!http10 || conn_keep_alive);
    Ok(Parsed {
        method,
        target,
        http10,
        content_type,
        content_length,
        keep_alive,
        expect_continue,
    })
}

fn parse_content_length(value: &str) -> Result<usize, ApiError> {
    if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request("invalid Content-Length"));
    }
    // Values too big for usize are certainly over the body limit.
    Ok(value.parse().unwrap_or(usize::MAX))
}

/// Read until `buf` holds at least `total` bytes. `Ok(false)` when the peer
/// closed first.
async fn read_to(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    total: usize,
    deadline: Instant,
) -> io::Result<bool> {
    let mut chunk = [0u8; READ_CHUNK];
    while buf.len() < total {
        let want = (total - buf.len()).min(READ_CHUNK);
        let n = with_deadline(deadline, stream.read(&mut chunk[..want])).await?;
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(true)
}

/// Answer a framing-level error and close the connection.
async fn fail(stream: TcpStream, error: ApiError) {
    log::debug!("http: closing connection after {error}");
    send_and_close(stream, Response::from(error)).await;
}

/// Writes a last response (`Connection: close`) and closes, lingering so the
/// client reads it.
async fn send_and_close(mut stream: TcpStream, response: Response) {
    let bytes = response.to_bytes(true, false);
    let deadline = Instant::now() + LINGER_TIME;
    if with_deadline(deadline, stream.write_all(&bytes))
        .await
        .is_ok()
    {
        close_stream(stream, true).await;
    }
}

/// Close our side; with `linger`, first drain what the client still sends
/// (bounded in time and bytes) so the kernel does not answer it with a reset
/// that would discard our reply.
async fn close_stream(mut stream: TcpStream, linger: bool) {
    let _ = stream.flush().await;
    let _ = stream.shutdown(Shutdown::Write);
    if !linger {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut drained = 0;
    let mut chunk = [0u8; READ_CHUNK];
    while drained < LINGER_BYTES {
        match with_deadline(deadline, stream.read(&mut chunk)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Run an I/O future, failing with `TimedOut` at `deadline`.
async fn with_deadline<T>(
    deadline: Instant,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    futures_lite::future::or(fut, async {
        Timer::at(deadline).await;
        Err(io::Error::from(io::ErrorKind::TimedOut))
    })
    .await
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
