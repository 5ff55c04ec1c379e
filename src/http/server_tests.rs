//! Server tests over real loopback sockets.
//!
//! The server runs on a `LocalExecutor` in the test thread; clients are plain
//! blocking sockets on a helper thread, so a client that stalls really stalls
//! and the server must cope without blocking the others.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use smol::net::TcpListener;
use smol::LocalExecutor;

use super::api::{Api, CallStateReply, StartupRequest};
use super::call_error::CallError;
use super::server::{serve, serve_with_keys, HttpLimits};
use super::signature::{self, ApiKeys};

/// A call side that remembers what it was asked.
#[derive(Default)]
struct Fake {
    calls: Cell<u32>,
    last: RefCell<Option<StartupRequest>>,
}

impl Api for Fake {
    async fn startup(&self, req: StartupRequest) -> Result<String, CallError> {
        if req.phonenumber == "503" {
            return Err(CallError::Unavailable("at capacity".into()));
        }
        if req.phonenumber == "502" {
            return Err(CallError::RoomFailed("enter room failed: -100018".into()));
        }
        // Let other tasks run, as a real startup would while entering the room.
        smol::Timer::after(Duration::from_millis(1)).await;
        let n = self.calls.get() + 1;
        self.calls.set(n);
        *self.last.borrow_mut() = Some(req);
        Ok(format!("call{n}"))
    }
    fn shutdown(&self, id: &str) -> Result<(), CallError> {
        if id == "live" {
            Ok(())
        } else {
            Err(CallError::NotFound("no such call".into()))
        }
    }
    fn dtmf(&self, id: &str, _digits: &str) -> Result<(), CallError> {
        if id == "live" {
            Ok(())
        } else {
            Err(CallError::NotFound("no such call".into()))
        }
    }

    fn status(&self) -> serde_json::Value {
        serde_json::json!({"box": {}, "calls": []})
    }

    fn health(&self) -> Vec<crate::health::Unwell> {
        Vec::new()
    }

    fn metrics(&self) -> Vec<u8> {
        b"# no metrics in this fake\n".to_vec()
    }

    fn calls(&self) -> Vec<crate::http::CallSummary> {
        Vec::new()
    }

    fn callstats(&self, id: &str) -> Result<crate::media::MediaSnapshot, CallError> {
        if id == "live" {
            Ok(crate::media::MediaSnapshot {
                codec: crate::media::Codec::Pcmu,
                counters: Default::default(),
                telephone_event: None,
                line: None,
            })
        } else {
            Err(CallError::NotFound("no such call".into()))
        }
    }

    fn callstate(&self, id: &str) -> Result<CallStateReply, CallError> {
        match id {
            "live" => Ok(CallStateReply {
                data: "2022-06-11T22:22:41.909837+08:00 1 CALLING 0\n".into(),
                done: false,
            }),
            _ => Err(CallError::NotFound("no such call".into())),
        }
    }
}

fn test_limits() -> HttpLimits {
    HttpLimits {
        header_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(1),
        ..HttpLimits::default()
    }
}

/// Run the server on a LocalExecutor in this thread, the client on another.
fn run<R: Send + 'static>(
    limits: HttpLimits,
    keys: ApiKeys,
    client: impl FnOnce(SocketAddr) -> R + Send + 'static,
) -> R {
    let ex = Rc::new(LocalExecutor::new());
    let listener = smol::block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let api = Rc::new(Fake::default());
    ex.spawn(serve_with_keys(listener, api, ex.clone(), limits, keys))
        .detach();
    let (tx, rx) = smol::channel::bounded(1);
    let th = std::thread::spawn(move || {
        let r = client(addr);
        let _ = tx.send_blocking(r);
    });
    match smol::block_on(ex.run(rx.recv())) {
        Ok(r) => {
            th.join().unwrap();
            r
        }
        Err(_) => std::panic::resume_unwind(th.join().unwrap_err()),
    }
}

fn run_default<R: Send + 'static>(client: impl FnOnce(SocketAddr) -> R + Send + 'static) -> R {
    run(test_limits(), ApiKeys::new(), client)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

#[derive(Debug)]
struct Resp {
    status: u16,
    /// Header block, names lowercased.
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
        })
    }
    fn closes(&self) -> bool {
        self.header("connection").as_deref() == Some("close")
    }
}

/// Read one response from `s`, keeping extra bytes in `buf` for the next one.
/// `None` when the server closed first.
fn read_resp(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Resp> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).unwrap();
            let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
            let cl: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("every response has Content-Length");
            while buf.len() < end + 4 + cl {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "closed inside a body");
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + cl].to_vec();
            buf.drain(..end + 4 + cl);
            return Some(Resp { status, head, body });
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// True once the server has closed the connection (EOF or reset).
fn wait_closed(s: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn req(method: &str, target: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {target} HTTP/1.1\r\nHost: gw\r\n{extra}");
    if !body.is_empty() || method == "POST" {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

fn exchange(addr: SocketAddr, raw: &[u8]) -> Resp {
    let mut s = connect(addr);
    s.write_all(raw).unwrap();
    read_resp(&mut s, &mut Vec::new()).expect("a response")
}

const STARTUP: &[u8] = br#"{"phonenumber":"+8613800000000","ttl":60,"trtcParams":{"sdkAppId":1400000000,"userSig":"sig","roomId":1234,"userId":"phone_1"},"callStateNotifyUrl":"http://127.0.0.1:9/hook","extra":[1,2]}"#;

#[test]
fn happy_paths_on_one_keep_alive_connection() {
    run_default(|addr| {
        let mut s = connect(addr);
        let mut buf = Vec::new();
        let ct = "Content-Type: application/json; charset=utf-8\r\n";

        s.write_all(&req("POST", "/trtc/startup", ct, STARTUP))
            .unwrap();
        let r = read_resp(&mut s, &mut buf).unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.json(), serde_json::json!({"id": "call1"}));
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json; charset=utf-8")
        );
        assert!(!r.closes());

        s.write_all(&req("POST", "/v2205/trtc/startup", "", STARTUP))
            .unwrap();
        let r = read_resp(&mut s, &mut buf).unwrap();
        assert_eq!(r.json()["id"], "call2");

        s.write_all(&req("POST", "/trtc/shutdown", ct, br#"{"id":"live"}"#))
            .unwrap();
        let r = read_resp(&mut s, &mut buf).unwrap();
        assert_eq!(
            (r.status, r.json()),
            (200, serde_json::json!({"id": "live"}))
        );

        s.write_all(&req(
            "POST",
            "/v2205/trtc/shutdown",
            ct,
            br#"{"id":"gone"}"#,
        ))
        .unwrap();
        let r = read_resp(&mut s, &mut buf).unwrap();
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (404, Some("not_found"))
        );

        s.write_all(&req("GET", "/v2205/trtc/callstate?id=live", "", b""))
            .unwrap();
        let r = read_resp(&mut s, &mut buf).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["done"], false);
        assert!(r.json()["data"].as_str().unwrap().ends_with("CALLING 0\n"));

        s.write_all(&req("GET", "/trtc/callstate", "", b""))
            .unwrap();
        let r = read_resp(&mut s, &mut buf).unwrap();
        assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("id")));

        s.write_all(&req("GET", "/healthz", "", b"")).unwrap();
        let r = read_resp(&mut s, &mut buf).unwrap();
        assert_eq!(
            (r.status, r.json()),
            (200, serde_json::json!({"status": "ok"}))
        );
    });
}

#[test]
fn api_errors_pass_through() {
    run_default(|addr| {
        let body = String::from_utf8(STARTUP.to_vec())
            .unwrap()
            .replace("+8613800000000", "503");
        let r = exchange(addr, &req("POST", "/trtc/startup", "", body.as_bytes()));
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (503, Some("unavailable"))
        );
        let body = String::from_utf8(STARTUP.to_vec())
            .unwrap()
            .replace("+8613800000000", "502");
        let r = exchange(addr, &req("POST", "/trtc/startup", "", body.as_bytes()));
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (502, Some("room_failed"))
        );
    });
}

#[test]
fn unknown_path_and_wrong_method() {
    run_default(|addr| {
        let r = exchange(addr, &req("GET", "/index.html", "", b""));
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (404, Some("not_found"))
        );
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));

        let r = exchange(addr, &req("GET", "/trtc/startup", "", b""));
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow").as_deref(), Some("POST"));
        assert_eq!(r.json()["error"], "method_not_allowed");

        let r = exchange(addr, &req("DELETE", "/v2205/trtc/callstate?id=x", "", b""));
        assert_eq!((r.status, r.header("allow").as_deref()), (405, Some("GET")));

        let r = exchange(addr, &req("HEAD", "/healthz", "", b""));
        assert_eq!(r.status, 405);
    });
}

#[test]
fn body_over_limit_is_413() {
    run_default(|addr| {
        let mut s = connect(addr);
        let body = vec![b' '; 1 << 20];
        let head = format!(
            "POST /trtc/startup HTTP/1.1\r\nHost: gw\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        // The server answers before the body; it may stop reading, so write errors are fine.
        let _ = s.write_all(&body);
        let r = read_resp(&mut s, &mut Vec::new()).expect("a 413 reply");
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (413, Some("body_too_large"))
        );
        assert!(r.closes());
    });
}

#[test]
fn small_body_limit_is_enforced_exactly() {
    let limits = HttpLimits {
        max_body: 10,
        ..test_limits()
    };
    run(limits, ApiKeys::new(), |addr| {
        let r = exchange(addr, &req("POST", "/trtc/shutdown", "", br#"{"id":"1"}"#));
        assert_eq!(r.status, 404, "10 bytes are allowed");
        let r = exchange(addr, &req("POST", "/trtc/shutdown", "", br#"{"id":"12"}"#));
        assert_eq!(r.status, 413);
    });
}

#[test]
fn header_over_limit_is_431() {
    run_default(|addr| {
        let big = "a".repeat(20 * 1024);
        let r = exchange(
            addr,
            &req("GET", "/healthz", &format!("X-Big: {big}\r\n"), b""),
        );
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (431, Some("header_too_large"))
        );
        assert!(r.closes());

        // A header that never ends is cut off too (no terminating blank line).
        let mut s = connect(addr);
        let _ = s.write_all(format!("GET /healthz HTTP/1.1\r\nX-Big: {big}").as_bytes());
        let r = read_resp(&mut s, &mut Vec::new()).unwrap();
        assert_eq!(r.status, 431);

        let many: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
        let r = exchange(addr, &req("GET", "/healthz", &many, b""));
        assert_eq!(r.status, 431);
    });
}

#[test]
fn malformed_json_and_validation() {
    run_default(|addr| {
        let r = exchange(
            addr,
            &req("POST", "/trtc/startup", "", b"{\"phonenumber\":"),
        );
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (400, Some("malformed_json"))
        );
        let body = String::from_utf8(STARTUP.to_vec())
            .unwrap()
            .replace("1234", "0");
        let r = exchange(addr, &req("POST", "/trtc/startup", "", body.as_bytes()));
        assert_eq!(
            (r.status, r.json()["field"].as_str()),
            (400, Some("trtcParams.roomId"))
        );
        assert!(!r.closes(), "a validation error keeps the connection");
    });
}

#[test]
fn wrong_content_type_is_415() {
    run_default(|addr| {
        let r = exchange(
            addr,
            &req(
                "POST",
                "/trtc/startup",
                "Content-Type: application/x-www-form-urlencoded\r\n",
                STARTUP,
            ),
        );
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (415, Some("unsupported_media_type"))
        );
    });
}

#[test]
fn pipelined_requests_answered_in_order() {
    run_default(|addr| {
        let mut s = connect(addr);
        let mut all = req("GET", "/healthz", "", b"");
        all.extend(req("POST", "/trtc/startup", "", STARTUP));
        all.extend(req("GET", "/trtc/callstate?id=live", "", b""));
        all.extend(req("GET", "/nope", "", b""));
        all.extend(req(
            "POST",
            "/trtc/startup",
            "Connection: close\r\n",
            STARTUP,
        ));
        s.write_all(&all).unwrap();
        let mut buf = Vec::new();
        let r1 = read_resp(&mut s, &mut buf).unwrap();
        let r2 = read_resp(&mut s, &mut buf).unwrap();
        let r3 = read_resp(&mut s, &mut buf).unwrap();
        let r4 = read_resp(&mut s, &mut buf).unwrap();
        let r5 = read_resp(&mut s, &mut buf).unwrap();
        assert_eq!(r1.json()["status"], "ok");
        assert_eq!(r2.json()["id"], "call1");
        assert_eq!(r3.json()["done"], false);
        assert_eq!(r4.status, 404);
        assert_eq!(r5.json()["id"], "call2");
        assert!(r5.closes());
        assert!(
            read_resp(&mut s, &mut buf).is_none(),
            "closed after Connection: close"
        );
    });
}

#[test]
fn chunked_and_smuggling_refused() {
    run_default(|addr| {
        let raw = b"POST /trtc/startup HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        let r = exchange(addr, raw);
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (411, Some("length_required"))
        );
        assert!(r.closes());

        let raw = b"POST /trtc/startup HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}";
        let r = exchange(addr, raw);
        assert_eq!(r.status, 400);

        let raw = b"POST /trtc/startup HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
        assert_eq!(exchange(addr, raw).status, 400);
        let raw = b"POST /trtc/startup HTTP/1.1\r\nHost: gw\r\nContent-Length: -2\r\n\r\n{}";
        assert_eq!(exchange(addr, raw).status, 400);
        // POST without any length: 411.
        let raw = b"POST /trtc/startup HTTP/1.1\r\nHost: gw\r\n\r\n";
        assert_eq!(exchange(addr, raw).status, 411);
    });
}

#[test]
fn garbage_gets_json_400() {
    run_default(|addr| {
        let r = exchange(addr, b"\x16\x03\x01\x02\x00 hello\r\n\r\n");
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (400, Some("bad_request"))
        );
        assert!(r.closes());
    });
}

#[test]
fn http10_closes_unless_keep_alive() {
    run_default(|addr| {
        let mut s = connect(addr);
        s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let r = read_resp(&mut s, &mut buf).unwrap();
        assert!(r.closes());
        assert!(read_resp(&mut s, &mut buf).is_none());

        let mut s = connect(addr);
        s.write_all(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let r = read_resp(&mut s, &mut buf).unwrap();
        assert_eq!(r.header("connection").as_deref(), Some("keep-alive"));
        s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(read_resp(&mut s, &mut buf).unwrap().status, 200);
    });
}

#[test]
fn expect_100_continue() {
    run_default(|addr| {
        let mut s = connect(addr);
        let head = format!(
            "POST /trtc/startup HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            STARTUP.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 256];
        while !buf.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(buf, b"HTTP/1.1 100 Continue\r\n\r\n");
        buf.clear();
        s.write_all(STARTUP).unwrap();
        let r = read_resp(&mut s, &mut buf).unwrap();
        assert_eq!((r.status, r.json()["id"].as_str()), (200, Some("call1")));
    });
}

#[test]
fn stalled_client_does_not_block_others() {
    let limits = HttpLimits {
        header_timeout: Duration::from_secs(1),
        ..HttpLimits::default()
    };
    run(limits, ApiKeys::new(), |addr| {
        let mut slow = connect(addr);
        slow.write_all(b"POST /trtc/startup HTTP/1.1\r\nHost: gw\r\nContent-Le")
            .unwrap();
        let mut slow_body = connect(addr);
        slow_body
            .write_all(
                b"POST /trtc/startup HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n{\"phone",
            )
            .unwrap();
        // Others are served while both stall.
        for _ in 0..5 {
            let r = exchange(addr, &req("POST", "/trtc/startup", "", STARTUP));
            assert_eq!(r.status, 200);
        }
        // The stalled ones are eventually answered 408 and closed.
        let r = read_resp(&mut slow, &mut Vec::new()).expect("408 for a stalled header");
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (408, Some("request_timeout"))
        );
        assert!(wait_closed(&mut slow));
        let r = read_resp(&mut slow_body, &mut Vec::new()).expect("408 for a stalled body");
        assert_eq!(r.status, 408);
    });
}

#[test]
fn silent_and_idle_connections_are_closed() {
    run_default(|addr| {
        // Never says anything.
        let mut silent = connect(addr);
        assert!(wait_closed(&mut silent));
        // Says one thing, then idles past idle_timeout.
        let mut idle = connect(addr);
        idle.write_all(&req("GET", "/healthz", "", b"")).unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_resp(&mut idle, &mut buf).unwrap().status, 200);
        assert!(read_resp(&mut idle, &mut buf).is_none());
    });
}

#[test]
fn many_concurrent_connections() {
    // Default (10 s) timeouts: opening 200 sockets can take a while when the
    // listen backlog overflows, and early ones must not time out meanwhile.
    let limits = HttpLimits {
        max_connections_per_client: 200,
        ..HttpLimits::default()
    };
    run(limits, ApiKeys::new(), |addr| {
        let mut socks: Vec<TcpStream> = (0..200).map(|_| connect(addr)).collect();
        for s in &mut socks {
            s.write_all(&req("GET", "/trtc/callstate?id=live", "", b""))
                .unwrap();
        }
        for s in &mut socks {
            let r = read_resp(s, &mut Vec::new()).unwrap();
            assert_eq!(r.status, 200);
        }
    });
}

/// A TCP connection to `addr` from the loopback address `from` (127.0.0.x).
fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    s.connect(&addr.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// A client over a limit is answered at once: 503 JSON naming the limit, with
/// Retry-After, without sending anything first.
fn assert_refused(s: &mut TcpStream, what: &str) {
    let r = read_resp(s, &mut Vec::new()).expect("an immediate 503");
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["error"].as_str(), Some("unavailable"));
    let msg = j["message"].as_str().unwrap_or_default();
    assert!(msg.contains(what), "{msg}");
    assert!(
        r.head.to_ascii_lowercase().contains("retry-after: 1"),
        "{}",
        r.head
    );
    assert!(wait_closed(s));
}

#[test]
fn one_client_cannot_take_every_connection() {
    let limits = HttpLimits {
        max_connections: 4,
        max_connections_per_client: 2,
        ..HttpLimits::default()
    };
    run(limits, ApiKeys::new(), |addr| {
        // Client A holds its two connections idle; its third is refused at once.
        let mut a: Vec<TcpStream> = (0..2).map(|_| connect_from([127, 0, 0, 1], addr)).collect();
        let mut a3 = connect_from([127, 0, 0, 1], addr);
        assert_refused(&mut a3, "this address");
        // Client B still gets in while A is at its limit.
        let mut b: Vec<TcpStream> = (0..2).map(|_| connect_from([127, 0, 0, 2], addr)).collect();
        for s in a.iter_mut().chain(b.iter_mut()) {
            s.write_all(&req("GET", "/healthz", "", b"")).unwrap();
            assert_eq!(read_resp(s, &mut Vec::new()).unwrap().status, 200);
        }
        // The server is full: a third client is refused too, saying so.
        let mut c = connect_from([127, 0, 0, 3], addr);
        assert_refused(&mut c, "the server");
        // A closed connection frees its slot for its client.
        drop(a.pop());
        std::thread::sleep(Duration::from_millis(200));
        let mut a4 = connect_from([127, 0, 0, 1], addr);
        a4.write_all(&req("GET", "/healthz", "", b"")).unwrap();
        assert_eq!(read_resp(&mut a4, &mut Vec::new()).unwrap().status, 200);
    });
}

#[test]
fn signature_checked_when_keys_configured() {
    let mut keys = ApiKeys::new();
    keys.insert("23456789", "k69x50j0");
    run(test_limits(), keys, |addr| {
        let r = exchange(addr, &req("POST", "/trtc/startup", "", STARTUP));
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (401, Some("unauthorized"))
        );
        let sig = signature::sign("23456789", "k69x50j0", "4102444800");
        let t =
            format!("/v2205/trtc/startup?api_key=23456789&expire_at=4102444800&signature={sig}");
        let r = exchange(addr, &req("POST", &t, "", STARTUP));
        assert_eq!(r.status, 200);
        let r = exchange(addr, &req("GET", "/healthz", "", b""));
        assert_eq!(r.status, 200);
    });
}

#[test]
fn metrics_are_signed_unless_made_public() {
    let mut keys = ApiKeys::new();
    keys.insert("23456789", "k69x50j0");
    run(test_limits(), keys.clone(), |addr| {
        let r = exchange(addr, &req("GET", "/metrics", "", b""));
        assert_eq!(r.status, 401);
    });
    keys.set_metrics_public(true);
    run(test_limits(), keys, |addr| {
        let r = exchange(addr, &req("GET", "/metrics", "", b""));
        assert_eq!(r.status, 200);
        assert!(r
            .head
            .to_ascii_lowercase()
            .contains("content-type: text/plain"));
        // only /metrics: the API still wants its signature
        let r = exchange(addr, &req("GET", "/trtc/calls", "", b""));
        assert_eq!(r.status, 401);
    });
}

#[test]
fn plain_serve_compiles_and_answers() {
    // `serve` (no keys) is what main uses by default.
    let ex = Rc::new(LocalExecutor::new());
    let listener = smol::block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    ex.spawn(serve(
        listener,
        Rc::new(Fake::default()),
        ex.clone(),
        HttpLimits::default(),
    ))
    .detach();
    let th = std::thread::spawn(move || exchange(addr, &req("GET", "/healthz", "", b"")).status);
    let status = smol::block_on(ex.run(smol::unblock(move || th.join().unwrap())));
    assert_eq!(status, 200);
}
