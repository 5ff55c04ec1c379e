//! A local webhook receiver: a std TcpListener served by one thread that records every
//! request (method, path, content type, JSON body) and answers `200 {}`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One received request.
#[derive(Debug, Clone)]
pub struct Hook {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    /// The `X-Trtc-Sipgw-Signature` header, when the gateway signs its webhooks.
    pub signature: Option<String>,
    pub body: Vec<u8>,
}

impl Hook {
    /// The body as JSON; panics with the raw body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "webhook body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// The receiver; stops accepting when dropped.
pub struct WebhookReceiver {
    addr: SocketAddr,
    hooks: Arc<Mutex<Vec<Hook>>>,
    stop: Arc<AtomicBool>,
}

fn read_request(s: &mut TcpStream) -> Option<Hook> {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if raw.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let mut content_length = 0usize;
    let mut content_type = None;
    let mut signature = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().ok()?;
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(v.trim().to_string());
            } else if k.trim().eq_ignore_ascii_case("x-trtc-sipgw-signature") {
                signature = Some(v.trim().to_string());
            }
        }
    }
    while raw.len() < head_end + content_length {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let body = raw[head_end..head_end + content_length].to_vec();
    Some(Hook {
        method,
        path,
        content_type,
        signature,
        body,
    })
}

impl WebhookReceiver {
    /// Starts listening on an ephemeral 127.0.0.1 port.
    pub fn start() -> WebhookReceiver {
        Self::start_slow(Duration::ZERO)
    }

    /// Like [`start`](Self::start), but each answer comes `delay` after the request was
    /// read: a slow receiver, so the gateway's queue of webhooks backs up (each call's
    /// webhooks go one at a time, the next only after the previous answer).
    pub fn start_slow(delay: Duration) -> WebhookReceiver {
        Self::start_on("127.0.0.1:0".parse().unwrap(), delay)
    }

    /// Listens on `addr` (a receiver coming back on the port a dropped one used),
    /// answering each request `delay` after reading it.
    pub fn start_on(addr: SocketAddr, delay: Duration) -> WebhookReceiver {
        let listener = TcpListener::bind(addr).expect("bind the webhook receiver");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let hooks = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, st) = (hooks.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        if let Some(hook) = read_request(&mut s) {
                            h.lock().unwrap().push(hook);
                            std::thread::sleep(delay);
                            let _ = s.write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                            );
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        WebhookReceiver { addr, hooks, stop }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to give the gateway as `callStateNotifyUrl`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Everything received so far, in arrival order.
    pub fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().unwrap().clone()
    }

    /// Waits until a received body has `state == 6` (DISCONNCTD) and returns all hooks.
    pub fn wait_disconnected(&self, timeout: Duration) -> Vec<Hook> {
        super::wait::until("a webhook with state 6 (DISCONNCTD)", timeout, || {
            let hooks = self.hooks();
            hooks
                .iter()
                .any(|h| {
                    serde_json::from_slice::<serde_json::Value>(&h.body)
                        .map(|v| v["state"] == 6)
                        .unwrap_or(false)
                })
                .then_some(hooks)
        })
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
