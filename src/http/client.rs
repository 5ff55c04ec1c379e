//! A minimal async HTTP/1.1 client for webhooks (`callStateNotifyUrl`).
//!
//! Runs on the gateway's own reactor (no thread per request, no extra crate):
//! one `POST` per connection with `Connection: close`, and only the status
//! code of the reply is read. Name resolution goes through `smol::net`, which
//! resolves host names on smol's blocking pool without stalling the executor.
//!
//! Limitation: `https://` URLs are refused with `ClientError::Unsupported`;
//! TLS would need a rustls dependency and is left for later.

use std::fmt;
use std::io;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use smol::Timer;

/// Largest response header block we read before giving up on the peer.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// Why a webhook delivery failed; the caller decides whether to retry.
#[derive(Debug)]
pub enum ClientError {
    /// A URL scheme we do not speak yet (`"https"`).
    Unsupported(&'static str),
    /// The URL cannot be used (bad scheme, no host, bad port, spaces...).
    InvalidUrl(String),
    /// Name resolution or TCP connect failed.
    Connect(io::Error),
    /// Sending the request or reading the reply failed.
    Io(io::Error),
    /// The whole exchange did not finish within the timeout.
    Timeout,
    /// The peer answered something that is not an HTTP response.
    BadResponse(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unsupported(s) => write!(f, "unsupported URL scheme {s}"),
            ClientError::InvalidUrl(s) => write!(f, "invalid URL: {s}"),
            ClientError::Connect(e) => write!(f, "connect failed: {e}"),
            ClientError::Io(e) => write!(f, "I/O error: {e}"),
            ClientError::Timeout => write!(f, "timed out"),
            ClientError::BadResponse(s) => write!(f, "bad response: {s}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// POST `body` as JSON to `url` (`http://host[:port]/path?query`) and return
/// the response status code. `timeout` bounds the whole exchange, resolution
/// and connect included. Final 1xx responses are skipped; the body of the
/// reply is not read.
pub async fn post_json(url: &str, body: &[u8], timeout: Duration) -> Result<u16, ClientError> {
    let url = HttpUrl::parse(url)?;
    futures_lite::future::or(exchange(&url, body), async {
        Timer::after(timeout).await;
        Err(ClientError::Timeout)
    })
    .await
}

async fn exchange(url: &HttpUrl, body: &[u8]) -> Result<u16, ClientError> {
    let mut stream = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(ClientError::Connect)?;
    let _ = stream.set_nodelay(true);
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: trtc-sipgw/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        url.path_and_query,
        url.host_header(),
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).await.map_err(ClientError::Io)?;
    stream.flush().await.map_err(ClientError::Io)?;
    read_status(&mut stream).await
}

/// Read response heads until a non-1xx status arrives.
async fn read_status(stream: &mut TcpStream) -> Result<u16, ClientError> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
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
                    return Ok(code);
                }
                Ok(httparse::Status::Partial) if buf.len() > MAX_RESPONSE_HEAD => {
                    return Err(ClientError::BadResponse("response header too large".into()))
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(ClientError::BadResponse(e.to_string())),
            }
        }
        let n = stream.read(&mut chunk).await.map_err(ClientError::Io)?;
        if n == 0 {
            return Err(ClientError::BadResponse(
                "connection closed before a response".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The parts of an `http://` URL the client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpUrl {
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
        let rest = if has_prefix_ignore_case(url, "http://") {
            &url[7..]
        } else if has_prefix_ignore_case(url, "https://") {
            return Err(ClientError::Unsupported("https"));
        } else {
            return Err(ClientError::InvalidUrl("scheme must be http://".into()));
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
            None | Some("") => 80,
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
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
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
    }

    #[test]
    fn url_refusals() {
        assert!(matches!(
            HttpUrl::parse("https://x/"),
            Err(ClientError::Unsupported("https"))
        ));
        for bad in [
            "ftp://x/",
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

    #[test]
    fn https_is_unsupported() {
        let r = smol::block_on(post_json(
            "https://example.com/",
            b"{}",
            Duration::from_secs(1),
        ));
        assert!(matches!(r, Err(ClientError::Unsupported("https"))));
    }
}
