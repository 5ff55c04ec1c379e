//! A minimal async HTTP/1.1 client for webhooks (`callStateNotifyUrl`).
//!
//! Runs on the gateway's own reactor (no thread per request): one `POST` per
//! connection with `Connection: close`, and only the status code of the reply
//! is read. Name resolution goes through `smol::net`, which resolves host
//! names on smol's blocking pool without stalling the executor. `https://`
//! runs rustls over the same `TcpStream` (see `tls.rs`); certificates are
//! always verified.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use rustls::ClientConfig;
use smol::net::TcpStream;
use smol::Timer;

use super::tls;
use super::webhook_target::{self, WebhookTargets, SIGNATURE_HEADER};

pub use super::tls::TlsSetupError;

/// Largest response header block we read before giving up on the peer.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// Largest reply body [`WebhookClient::post_json_reply`] reads: a REST API's JSON answer.
pub const MAX_REPLY_BODY: usize = 256 * 1024;

/// Why a webhook delivery failed; the caller decides whether to retry.
#[derive(Debug)]
pub enum ClientError {
    /// The URL cannot be used (bad scheme, no host, bad port, spaces...).
    InvalidUrl(String),
    /// Name resolution or TCP connect failed.
    Connect(io::Error),
    /// The TLS handshake was refused: unknown CA, certificate not valid for
    /// the host, expired, protocol mismatch. Retrying will not help.
    Tls(rustls::Error),
    /// The process-wide TLS trust could not be built (free `post_json` only).
    TlsSetup(String),
    /// Sending the request or reading the reply failed.
    Io(io::Error),
    /// The whole exchange did not finish within the timeout.
    Timeout,
    /// The peer answered something that is not an HTTP response.
    BadResponse(String),
    /// The target is not one webhooks may go to (link-local, multicast, or outside
    /// `[webhook] allow`); retrying will not help.
    Refused(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidUrl(s) => write!(f, "invalid URL: {s}"),
            ClientError::Connect(e) => write!(f, "connect failed: {e}"),
            ClientError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            ClientError::TlsSetup(s) => write!(f, "TLS setup failed: {s}"),
            ClientError::Io(e) => write!(f, "I/O error: {e}"),
            ClientError::Timeout => write!(f, "timed out"),
            ClientError::BadResponse(s) => write!(f, "bad response: {s}"),
            ClientError::Refused(s) => write!(f, "target refused: {s}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// POST `body` as JSON to `url` (`http://` or `https://`, host, optional
/// port, path and query) and return the response status code. `timeout`
/// bounds the whole exchange: resolution, connect, TLS handshake, request and
/// response head. Final 1xx responses are skipped; the body of the reply is
/// not read. `https://` trusts the bundled and system roots only; use a
/// [`WebhookClient`] to add private CAs.
pub async fn post_json(url: &str, body: &[u8], timeout: Duration) -> Result<u16, ClientError> {
    let url = HttpUrl::parse(url)?;
    let tls = if url.tls {
        Some(tls::default_config()?)
    } else {
        None
    };
    let send = Sending {
        targets: &WebhookTargets::default(),
        secret: None,
        want_body: false,
    };
    with_timeout(exchange(&url, body, tls, send), timeout)
        .await
        .map(|(code, _)| code)
}

/// A webhook sender whose TLS trust is built once at startup (bundled roots,
/// system store, and the operator's extra CAs) and shared by every request;
/// cheap to clone.
#[derive(Clone)]
pub struct WebhookClient {
    tls: Arc<ClientConfig>,
    /// Where webhooks may go (`[webhook] allow`, and never link-local or multicast).
    targets: Arc<WebhookTargets>,
    /// `[webhook] secret`: when set, every body is signed with it. Never logged.
    secret: Option<Arc<str>>,
}

impl fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookClient")
            .field("targets", &self.targets)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// What a send needs besides the URL and body.
#[derive(Clone, Copy)]
struct Sending<'a> {
    targets: &'a WebhookTargets,
    secret: Option<&'a str>,
    /// Read the reply's body too (a REST API's answer), not only its status.
    want_body: bool,
}

impl WebhookClient {
    /// Trust the bundled Mozilla roots, the system store (when present) and,
    /// if given, every certificate in the PEM file `ca_file` (`[webhook]
    /// ca_file`), so receivers behind a private CA can be reached without
    /// turning verification off. Reads files: call once at startup.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, TlsSetupError> {
        let extra = match ca_file {
            Some(path) => tls::read_ca_file(path)?,
            None => Vec::new(),
        };
        Self::build(extra, true)
    }

    /// Trust only the CA certificates in `pem` (no public roots): for tests
    /// and for deployments that pin their receivers to one private CA.
    pub fn with_only_ca_pem(pem: &[u8]) -> Result<Self, TlsSetupError> {
        Self::build(tls::read_ca_pem(pem)?, false)
    }

    fn build(
        extra: Vec<rustls::pki_types::CertificateDer<'static>>,
        public_roots: bool,
    ) -> Result<Self, TlsSetupError> {
        Ok(WebhookClient {
            tls: tls::client_config(extra, public_roots)?,
            targets: Arc::new(WebhookTargets::default()),
            secret: None,
        })
    }

    /// Posts only to targets `targets` allows (`[webhook] allow`); without this,
    /// any address but link-local and multicast ones.
    pub fn with_targets(mut self, targets: WebhookTargets) -> Self {
        self.targets = Arc::new(targets);
        self
    }

    /// Signs every body with `secret` (`[webhook] secret`) in the
    /// `X-Trtc-Sipgw-Signature` header, so receivers can tell the gateway sent it.
    pub fn with_secret(mut self, secret: Option<&str>) -> Self {
        self.secret = secret.filter(|s| !s.is_empty()).map(Arc::from);
        self
    }

    /// The startup check of a `callStateNotifyUrl`: refuses a URL that cannot be
    /// used or that names a refused address literally (host names are checked when
    /// resolved, at send time). The error says why, without the secret.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let url = HttpUrl::parse(url).map_err(|e| e.to_string())?;
        self.targets.check_literal(&url.host)
    }

    /// Same contract as the free [`post_json`], with this client's trust.
    pub async fn post_json(
        &self,
        url: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<u16, ClientError> {
        let url = HttpUrl::parse(url)?;
        let tls = url.tls.then(|| self.tls.clone());
        let send = Sending {
            targets: &self.targets,
            secret: self.secret.as_deref(),
            want_body: false,
        };
        with_timeout(exchange(&url, body, tls, send), timeout)
            .await
            .map(|(code, _)| code)
    }

    /// POSTs `body` as JSON and returns the status and the reply's body (at most
    /// [`MAX_REPLY_BODY`] bytes): for REST APIs (the Call Engine) rather than webhooks.
    /// No webhook signature is added. The URL may carry credentials in its query: it is
    /// never part of an error.
    pub async fn post_json_reply(
        &self,
        url: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let url = HttpUrl::parse(url)?;
        let tls = url.tls.then(|| self.tls.clone());
        let send = Sending {
            targets: &self.targets,
            secret: None,
            want_body: true,
        };
        with_timeout(exchange(&url, body, tls, send), timeout).await
    }
}

async fn with_timeout<T>(
    work: impl std::future::Future<Output = Result<T, ClientError>>,
    timeout: Duration,
) -> Result<T, ClientError> {
    futures_lite::future::or(work, async {
        Timer::after(timeout).await;
        Err(ClientError::Timeout)
    })
    .await
}

async fn exchange(
    url: &HttpUrl,
    body: &[u8],
    tls: Option<Arc<ClientConfig>>,
    send: Sending<'_>,
) -> Result<(u16, Vec<u8>), ClientError> {
    let stream = connect_allowed(url, send.targets).await?;
    let _ = stream.set_nodelay(true);
    let signature = match send.secret {
        Some(secret) => format!(
            "{SIGNATURE_HEADER}: {}\r\n",
            webhook_target::sign(secret, body)
        ),
        None => String::new(),
    };
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{signature}Connection: close\r\n\r\n",
        url.path_and_query,
        url.host_header(),
        crate::USER_AGENT,
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    match tls {
        None => send_and_read(stream, &request, ClientError::Io, send.want_body).await,
        Some(config) => {
            let stream = tls::handshake(config, &url.host, stream).await?;
            send_and_read(stream, &request, tls::classify, send.want_body).await
        }
    }
}

/// Resolves the URL's host and connects to the first address that both `targets`
/// allows and answers. Connecting to the very addresses that were checked (not
/// resolving again) leaves DNS no second chance to point elsewhere.
async fn connect_allowed(
    url: &HttpUrl,
    targets: &WebhookTargets,
) -> Result<TcpStream, ClientError> {
    let addrs = smol::net::resolve((url.host.as_str(), url.port))
        .await
        .map_err(ClientError::Connect)?;
    let mut refused = None;
    let mut last_err = None;
    for addr in addrs {
        if let Err(why) = targets.check(&url.host, addr.ip()) {
            refused = Some(why);
            continue;
        }
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last_err = Some(e),
        }
    }
    match (last_err, refused) {
        (Some(e), _) => Err(ClientError::Connect(e)),
        (None, Some(why)) => Err(ClientError::Refused(format!("{}: {why}", url.host))),
        (None, None) => Err(ClientError::Connect(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} resolved to no address", url.host),
        ))),
    }
}

/// Write the request and read the status; `io_err` maps stream errors (TLS
/// streams report alerts and bad records as I/O errors too).
async fn send_and_read<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    io_err: fn(io::Error) -> ClientError,
    want_body: bool,
) -> Result<(u16, Vec<u8>), ClientError> {
    stream.write_all(request).await.map_err(io_err)?;
    stream.flush().await.map_err(io_err)?;
    read_response(&mut stream, io_err, want_body).await
}

/// Read response heads until a non-1xx status arrives; with `want_body`, then the body
/// (by Content-Length, else until the server closes, at most [`MAX_REPLY_BODY`]).
async fn read_response<S: AsyncRead + Unpin>(
    stream: &mut S,
    io_err: fn(io::Error) -> ClientError,
    want_body: bool,
) -> Result<(u16, Vec<u8>), ClientError> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let (code, head_len, length) = loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let code = resp.code.unwrap_or(0);
                    if (100..200).contains(&code) && code != 101 {
                        buf.drain(..n);
                        continue;
                    }
                    let length = resp
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .and_then(|v| v.trim().parse::<usize>().ok());
                    break (code, n, length);
                }
                Ok(httparse::Status::Partial) if buf.len() > MAX_RESPONSE_HEAD => {
                    return Err(ClientError::BadResponse("response header too large".into()))
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(ClientError::BadResponse(e.to_string())),
            }
        }
        let n = stream.read(&mut chunk).await.map_err(io_err)?;
        if n == 0 {
            return Err(ClientError::BadResponse(
                "connection closed before a response".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if !want_body {
        return Ok((code, Vec::new()));
    }
    let mut body = buf.split_off(head_len);
    let want = length.unwrap_or(MAX_REPLY_BODY).min(MAX_REPLY_BODY);
    if length.is_some_and(|l| l > MAX_REPLY_BODY) {
        return Err(ClientError::BadResponse("reply body too large".into()));
    }
    while body.len() < want {
        let n = stream.read(&mut chunk).await.map_err(io_err)?;
        if n == 0 {
            if length.is_some() {
                return Err(ClientError::BadResponse("reply body cut short".into()));
            }
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(want);
    Ok((code, body))
}
/// The parts of an `http://` or `https://` URL the client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpUrl {
    /// `https://`: run TLS before the request.
    tls: bool,
    /// Host name or IP literal, without IPv6 brackets.
    host: String,
    port: u16,
    /// Origin-form request target, always starting with `/`.
    path_and_query: String,
}

impl HttpUrl {
    fn parse(url: &str) -> Result<Self, ClientError> {
        // The URL comes from an API client: no byte of it may break the
        // request line or smuggle a header.
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ClientError::InvalidUrl(
                "contains spaces or control characters".into(),
            ));
        }
        let (tls, rest) = if has_prefix_ignore_case(url, "http://") {
            (false, &url[7..])
        } else if has_prefix_ignore_case(url, "https://") {
            (true, &url[8..])
        } else {
            return Err(ClientError::InvalidUrl(
                "scheme must be http:// or https://".into(),
            ));
        };
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(ClientError::InvalidUrl("user info is not supported".into()));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| ClientError::InvalidUrl("unclosed [".into()))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| ClientError::InvalidUrl("junk after ]".into()))?,
                ),
            };
            (host, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(ClientError::InvalidUrl("no host".into()));
        }
        let port = match port {
            None | Some("") => default_port(tls),
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(ClientError::InvalidUrl(format!("bad port {p:?}"))),
            },
        };
        let path_and_query = if target.starts_with('/') {
            target.to_owned()
        } else {
            format!("/{target}")
        };
        Ok(HttpUrl {
            tls,
            host: host.to_owned(),
            port,
            path_and_query,
        })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default_port(self.tls) {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn default_port(tls: bool) -> u16 {
    if tls {
        443
    } else {
        80
    }
}

fn has_prefix_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use smol::net::TcpListener;

    fn url(s: &str) -> HttpUrl {
        HttpUrl::parse(s).unwrap()
    }

    #[test]
    fn url_parsing() {
        let u = url("http://example.com");
        assert_eq!(
            (u.host.as_str(), u.port, u.path_and_query.as_str()),
            ("example.com", 80, "/")
        );
        assert_eq!(u.host_header(), "example.com");
        let u = url("HTTP://10.0.0.1:8080/hook?a=1&b=2#frag");
        assert_eq!(
            (u.host.as_str(), u.port, u.path_and_query.as_str()),
            ("10.0.0.1", 8080, "/hook?a=1&b=2")
        );
        assert_eq!(u.host_header(), "10.0.0.1:8080");
        let u = url("http://h?x=1");
        assert_eq!(u.path_and_query, "/?x=1");
        let u = url("http://[::1]:9000/p");
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert_eq!(u.host_header(), "[::1]:9000");
        let u = url("http://[::1]/p");
        assert_eq!((u.host_header().as_str(), u.port), ("[::1]", 80));
        assert!(!u.tls);
        let u = url("HTTPS://hooks.example.com/cb");
        assert!(u.tls);
        assert_eq!(
            (u.port, u.host_header().as_str()),
            (443, "hooks.example.com")
        );
        let u = url("https://hooks.example.com:8443");
        assert_eq!((u.port, u.path_and_query.as_str()), (8443, "/"));
        assert_eq!(u.host_header(), "hooks.example.com:8443");
        // An explicit :80 on https is not the default port: keep it.
        assert_eq!(url("https://h:80/").host_header(), "h:80");
        assert_eq!(url("http://h:443/").host_header(), "h:443");
    }

    #[test]
    fn url_refusals() {
        for bad in [
            "ftp://x/",
            "https:/x/",
            "https://",
            "https://u@h/",
            "x/y",
            "http://",
            "http:///p",
            "http://:80/",
            "http://h:0/",
            "http://h:65536/",
            "http://h:+80/",
            "http://h:8a/",
            "http://u:p@h/",
            "http://[::1/",
            "http://[::1]x/",
            "http://h/a b",
            "http://h/a\r\nX-Injected: 1",
        ] {
            assert!(
                matches!(HttpUrl::parse(bad), Err(ClientError::InvalidUrl(_))),
                "{bad}"
            );
        }
    }

    /// Accept one connection, read the whole request (until its body is
    /// complete), answer with `reply`, and hand back what was received.
    async fn one_shot_server(listener: TcpListener, reply: &'static [u8]) -> Vec<u8> {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            got.extend_from_slice(&chunk[..n]);
            if n == 0 {
                break;
            }
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
                let cl: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                if got.len() >= end + 4 + cl {
                    break;
                }
            }
        }
        s.write_all(reply).await.unwrap();
        got
    }

    #[test]
    fn posts_and_returns_status() {
        smol::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = smol::spawn(one_shot_server(
                listener,
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n",
            ));
            let url = format!("http://127.0.0.1:{port}/hook?x=1");
            let status = post_json(&url, br#"{"state":1}"#, Duration::from_secs(10))
                .await
                .unwrap();
            assert_eq!(status, 204);
            let got = String::from_utf8(server.await).unwrap();
            assert!(got.starts_with("POST /hook?x=1 HTTP/1.1\r\n"), "{got}");
            assert!(
                got.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
                "{got}"
            );
            assert!(got.contains("Content-Type: application/json\r\n"));
            assert!(got.contains("Content-Length: 11\r\n"));
            assert!(got.contains("Connection: close\r\n"));
            assert!(got.ends_with("\r\n\r\n{\"state\":1}"));
        });
    }

    #[test]
    fn signs_the_body_when_a_secret_is_set() {
        smol::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = smol::spawn(one_shot_server(listener, b"HTTP/1.1 200 OK\r\n\r\n"));
            let client = WebhookClient::new(None)
                .unwrap()
                .with_secret(Some("s3cret-key"));
            let body = br#"{"state":1}"#;
            let url = format!("http://127.0.0.1:{port}/hook");
            let status = client
                .post_json(&url, body, Duration::from_secs(10))
                .await
                .unwrap();
            assert_eq!(status, 200);
            let got = String::from_utf8(server.await).unwrap();
            let want = format!(
                "X-Trtc-Sipgw-Signature: {}\r\n",
                webhook_target::sign("s3cret-key", body)
            );
            assert!(got.contains(&want), "{got}");
            assert!(!got.contains("s3cret-key"), "{got}");
        });
    }

    #[test]
    fn refused_targets_are_not_connected_to() {
        smol::block_on(async {
            // Nothing listens there: a connection attempt would be a Connect error.
            let client = WebhookClient::new(None).unwrap();
            let r = client
                .post_json("http://169.254.169.254:9/x", b"{}", Duration::from_secs(5))
                .await;
            assert!(matches!(r, Err(ClientError::Refused(_))), "{r:?}");
            assert!(client.check_url("http://169.254.169.254/x").is_err());
            assert!(client.check_url("http://[fe80::1]/x").is_err());
            assert!(client.check_url("http://127.0.0.1/x").is_ok());
            // A host name resolving to an address outside the allow list is refused
            // when sent, though the startup check lets the name through.
            let only = WebhookClient::new(None)
                .unwrap()
                .with_targets(WebhookTargets::parse(&["10.0.0.0/8".to_string()]).unwrap());
            assert!(only.check_url("http://localhost:9/x").is_ok());
            let r = only
                .post_json("http://localhost:9/x", b"{}", Duration::from_secs(5))
                .await;
            assert!(matches!(r, Err(ClientError::Refused(_))), "{r:?}");
        });
    }

    #[test]
    fn reports_server_errors_as_status() {
        smol::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = smol::spawn(one_shot_server(
                listener,
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
            ));
            let url = format!("http://localhost:{port}/");
            let status = post_json(&url, b"{}", Duration::from_secs(10)).await;
            server.await;
            // "localhost" may resolve to ::1 first; connect() falls back to 127.0.0.1.
            assert_eq!(status.unwrap(), 503);
        });
    }

    #[test]
    fn garbage_reply_is_bad_response() {
        smol::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = smol::spawn(one_shot_server(listener, b"SSH-2.0-OpenSSH\r\n\r\n"));
            let r = post_json(
                &format!("http://127.0.0.1:{port}/"),
                b"{}",
                Duration::from_secs(10),
            )
            .await;
            server.await;
            assert!(matches!(r, Err(ClientError::BadResponse(_))), "{r:?}");
        });
    }

    #[test]
    fn unreachable_port_fails() {
        smol::block_on(async {
            // Bind then drop to get a port nobody listens on.
            let port = {
                let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
                l.local_addr().unwrap().port()
            };
            let r = post_json(
                &format!("http://127.0.0.1:{port}/"),
                b"{}",
                Duration::from_secs(30),
            )
            .await;
            assert!(matches!(r, Err(ClientError::Connect(_))), "{r:?}");
        });
    }

    #[test]
    fn timeout_is_honoured() {
        smol::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            // Accept and never answer.
            let server = smol::spawn(async move {
                let (s, _) = listener.accept().await.unwrap();
                Timer::after(Duration::from_secs(30)).await;
                drop(s);
            });
            let r = post_json(
                &format!("http://127.0.0.1:{port}/"),
                b"{}",
                Duration::from_millis(200),
            )
            .await;
            assert!(matches!(r, Err(ClientError::Timeout)), "{r:?}");
            drop(server);
        });
    }

    // ---- https ----

    use futures_rustls::TlsAcceptor;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::{CertificateError, ServerConfig};

    /// A CA made for one test and a server configuration whose certificate it
    /// issued for `names` (DNS names or IP literals).
    struct TestPki {
        ca_pem: String,
        server: Arc<ServerConfig>,
    }

    fn test_pki(names: &[&str]) -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "trtc-sipgw test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let leaf = CertificateParams::new(names)
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.der().clone()];
        let server = ServerConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        TestPki {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        }
    }

    /// Read one request (head plus Content-Length body) from any stream and
    /// answer `reply`; returns what was received.
    async fn serve_request<S: AsyncRead + AsyncWrite + Unpin>(
        s: &mut S,
        reply: &[u8],
    ) -> io::Result<Vec<u8>> {
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = s.read(&mut chunk).await?;
            got.extend_from_slice(&chunk[..n]);
            if n == 0 {
                break;
            }
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
                let cl: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                if got.len() >= end + 4 + cl {
                    break;
                }
            }
        }
        s.write_all(reply).await?;
        s.flush().await?;
        s.close().await?;
        Ok(got)
    }

    /// Serve `count` TLS connections one after the other. Each entry is the
    /// request received, or the server-side handshake error (expected when
    /// the client rejects the certificate).
    async fn tls_server(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        reply: &'static [u8],
        count: usize,
    ) -> Vec<io::Result<Vec<u8>>> {
        let acceptor = TlsAcceptor::from(config);
        let mut results = Vec::new();
        for _ in 0..count {
            let (tcp, _) = listener.accept().await.unwrap();
            let r = match acceptor.accept(tcp).await {
                Ok(mut tls) => serve_request(&mut tls, reply).await,
                Err(e) => Err(e),
            };
            results.push(r);
        }
        results
    }

    async fn loopback() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    #[test]
    fn https_with_trusted_private_ca() {
        smol::block_on(async {
            let pki = test_pki(&["localhost", "127.0.0.1"]);
            let client = WebhookClient::with_only_ca_pem(pki.ca_pem.as_bytes()).unwrap();
            let (listener, port) = loopback().await;
            let server = smol::spawn(tls_server(
                listener,
                pki.server.clone(),
                b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
                2,
            ));
            // By IP literal (verified against the certificate's IP SAN)...
            let by_ip = format!("https://127.0.0.1:{port}/hook?id=7");
            let status = client
                .post_json(&by_ip, br#"{"state":2}"#, Duration::from_secs(10))
                .await
                .unwrap();
            assert_eq!(status, 202);
            // ...and by name (SNI and DNS SAN).
            let by_name = format!("https://localhost:{port}/hook");
            let status = client
                .post_json(&by_name, b"{}", Duration::from_secs(10))
                .await
                .unwrap();
            assert_eq!(status, 202);
            let got = server.await;
            let first = String::from_utf8(got[0].as_ref().unwrap().clone()).unwrap();
            assert!(first.starts_with("POST /hook?id=7 HTTP/1.1\r\n"), "{first}");
            assert!(first.contains(&format!("Host: 127.0.0.1:{port}\r\n")));
            assert!(first.ends_with("\r\n\r\n{\"state\":2}"), "{first}");
            let second = String::from_utf8(got[1].as_ref().unwrap().clone()).unwrap();
            assert!(second.contains(&format!("Host: localhost:{port}\r\n")));
        });
    }

    #[test]
    fn https_ca_file_is_trusted_alongside_public_roots() {
        smol::block_on(async {
            let pki = test_pki(&["localhost", "127.0.0.1"]);
            let path = std::env::temp_dir().join(format!(
                "trtc-sipgw-test-ca-{}-{:x}.pem",
                std::process::id(),
                rand::random::<u64>()
            ));
            std::fs::write(&path, &pki.ca_pem).unwrap();
            let client = WebhookClient::new(Some(&path));
            let _ = std::fs::remove_file(&path);
            let client = client.unwrap();
            let (listener, port) = loopback().await;
            let server = smol::spawn(tls_server(
                listener,
                pki.server.clone(),
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                1,
            ));
            let status = client
                .post_json(
                    &format!("https://localhost:{port}/"),
                    b"{}",
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
            assert_eq!(status, 200);
            assert!(server.await[0].is_ok());
        });
    }

    #[test]
    fn https_unknown_ca_is_a_tls_error() {
        smol::block_on(async {
            let pki = test_pki(&["localhost", "127.0.0.1"]);
            let (listener, port) = loopback().await;
            let server = smol::spawn(tls_server(listener, pki.server.clone(), b"", 2));
            let url = format!("https://127.0.0.1:{port}/");
            // The default client (public and system roots) does not know the CA...
            let r = WebhookClient::new(None)
                .unwrap()
                .post_json(&url, b"{}", Duration::from_secs(10))
                .await;
            assert!(
                matches!(
                    r,
                    Err(ClientError::Tls(rustls::Error::InvalidCertificate(
                        CertificateError::UnknownIssuer
                    )))
                ),
                "{r:?}"
            );
            let text = r.unwrap_err().to_string();
            assert!(
                text.contains("TLS") && text.contains("UnknownIssuer"),
                "{text}"
            );
            // ...and neither does the free function.
            let r = post_json(&url, b"{}", Duration::from_secs(10)).await;
            assert!(
                matches!(
                    r,
                    Err(ClientError::Tls(rustls::Error::InvalidCertificate(
                        CertificateError::UnknownIssuer
                    )))
                ),
                "{r:?}"
            );
            // The server saw the client's refusal, not a request.
            for got in server.await {
                assert!(got.is_err(), "{got:?}");
            }
        });
    }

    #[test]
    fn https_name_mismatch_is_a_tls_error() {
        smol::block_on(async {
            let pki = test_pki(&["webhooks.example"]);
            let client = WebhookClient::with_only_ca_pem(pki.ca_pem.as_bytes()).unwrap();
            let (listener, port) = loopback().await;
            let server = smol::spawn(tls_server(listener, pki.server.clone(), b"", 2));
            for host in ["localhost", "127.0.0.1"] {
                let r = client
                    .post_json(
                        &format!("https://{host}:{port}/"),
                        b"{}",
                        Duration::from_secs(10),
                    )
                    .await;
                assert!(
                    matches!(
                        r,
                        Err(ClientError::Tls(rustls::Error::InvalidCertificate(
                            CertificateError::NotValidForName
                                | CertificateError::NotValidForNameContext { .. }
                        )))
                    ),
                    "{host}: {r:?}"
                );
            }
            for got in server.await {
                assert!(got.is_err(), "{got:?}");
            }
        });
    }

    #[test]
    fn https_stalled_handshake_times_out() {
        smol::block_on(async {
            let pki = test_pki(&["localhost", "127.0.0.1"]);
            let client = WebhookClient::with_only_ca_pem(pki.ca_pem.as_bytes()).unwrap();
            let (listener, port) = loopback().await;
            // Accept TCP, read the ClientHello, never answer it.
            let server = smol::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                Timer::after(Duration::from_secs(30)).await;
                drop(s);
            });
            let r = client
                .post_json(
                    &format!("https://127.0.0.1:{port}/"),
                    b"{}",
                    Duration::from_millis(300),
                )
                .await;
            assert!(matches!(r, Err(ClientError::Timeout)), "{r:?}");
            drop(server);
        });
    }

    #[test]
    fn plain_http_server_behind_https_url_fails_cleanly() {
        smol::block_on(async {
            let (listener, port) = loopback().await;
            // Answer the ClientHello the way a plain HTTP server would.
            let server = smol::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await;
                Timer::after(Duration::from_secs(30)).await;
            });
            let r = post_json(
                &format!("https://127.0.0.1:{port}/"),
                b"{}",
                Duration::from_secs(10),
            )
            .await;
            // Not a status code: the reply is not TLS, and rustls says so.
            assert!(matches!(r, Err(ClientError::Tls(_))), "{r:?}");
            drop(server);
        });
    }

    #[test]
    fn ca_file_errors_are_reported() {
        let dir = std::env::temp_dir();
        let missing = dir.join(format!(
            "trtc-sipgw-no-such-ca-{}-{:x}.pem",
            std::process::id(),
            rand::random::<u64>()
        ));
        assert!(matches!(
            WebhookClient::new(Some(&missing)),
            Err(TlsSetupError::CaFile { .. })
        ));
        let empty = dir.join(format!(
            "trtc-sipgw-empty-ca-{}-{:x}.pem",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let r = WebhookClient::new(Some(&empty));
        let _ = std::fs::remove_file(&empty);
        assert!(matches!(r, Err(TlsSetupError::NoCertificates(_))), "{r:?}");
        assert!(matches!(
            WebhookClient::with_only_ca_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n"),
            Err(TlsSetupError::CaFile { .. })
        ));
    }
}
