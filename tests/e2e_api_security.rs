//! The API is safe by default (issue "Safe on a network", its first rules): a gateway told
//! to listen beyond loopback without API keys refuses to start, naming the key that would
//! allow it; with `[http.api_keys]` every API path wants the SIPx signature (SPEC section
//! 1), and a wrong, expired or too-far signature is a 401 JSON error that does not say
//! whether the key exists. Real process, real sockets on loopback.

mod common;

use common::gateway::{Gateway, GatewayConfig};
use common::http::{self, Response};
use common::net::PortBlock;
use common::tmp::TestDir;
use std::time::{SystemTime, UNIX_EPOCH};
use trtc_sipgw::http::signature::sign;

const KEY: &str = "23456789";
const SECRET: &str = "k69x50j0";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn signed(path: &str, key: &str, secret: &str, expire_at: u64) -> String {
    let sig = sign(key, secret, &expire_at.to_string());
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}api_key={key}&expire_at={expire_at}&signature={sig}")
}

/// A test directory, its port block (held for the test's length) and a gateway config
/// whose trunk is a port nobody answers: these tests never need the phone.
fn setup(name: &str) -> (TestDir, PortBlock, GatewayConfig) {
    let dir = TestDir::new(name);
    let block = PortBlock::new();
    let cfg = GatewayConfig::new(
        &dir,
        &block,
        format!("sip:{{number}}@127.0.0.1:{}", block.port(1)),
    );
    (dir, block, cfg)
}

fn assert_401(r: &Response, what: &str) -> String {
    assert_eq!(r.status, 401, "{what}: {} {}", r.status, r.text());
    let v = r.json();
    assert_eq!(v["error"], "unauthorized", "{what}: {v}");
    v["message"].as_str().unwrap_or_default().to_string()
}

#[test]
fn an_api_beyond_loopback_without_keys_does_not_start() {
    let dir = TestDir::new("api-open-refused");
    let toml = "[http]\nlisten = \"0.0.0.0:0\"\n[sip]\nlisten = \"127.0.0.1:0\"\n";
    let (code, out) = Gateway::run_expect_failure(&dir, toml);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}:\n{out}");
    assert!(
        out.contains("http.allow_unauthenticated"),
        "the refusal names the key:\n{out}"
    );
    assert!(!out.contains("HTTP API on"), "nothing listened:\n{out}");
}

#[test]
fn signed_requests_pass_and_every_bad_signature_is_401() {
    let (dir, _block, cfg) = setup("api-signed");
    let toml = format!(
        "{}\n[http.api_keys]\n\"{KEY}\" = \"{SECRET}\"\n",
        cfg.to_toml()
    );
    let mut gw = Gateway::start_with_text(&dir, &toml);
    let path = "/trtc/callstate?id=0123456789abcdef";
    let now = unix_now();

    // A good signature gets through to the API: the call is unknown, so 404.
    let r = http::get(gw.http, &signed(path, KEY, SECRET, now + 600));
    assert_eq!(r.status, 404, "signed request: {}", r.text());
    let r = http::get(
        gw.http,
        &signed(
            "/v2205/trtc/callstate?id=0123456789abcdef",
            KEY,
            SECRET,
            now + 600,
        ),
    );
    assert_eq!(r.status, 404, "signed request, v2205 prefix: {}", r.text());

    assert_401(&http::get(gw.http, path), "unsigned");
    let wrong_secret = assert_401(
        &http::get(gw.http, &signed(path, KEY, "not-the-secret", now + 600)),
        "wrong signature",
    );
    let unknown_key = assert_401(
        &http::get(gw.http, &signed(path, "99999999", SECRET, now + 600)),
        "unknown key",
    );
    assert_eq!(
        wrong_secret, unknown_key,
        "the answer must not tell whether the key exists"
    );
    let expired = assert_401(
        &http::get(gw.http, &signed(path, KEY, SECRET, now - 10)),
        "expired",
    );
    assert!(expired.contains("expired"), "{expired}");
    let too_far = assert_401(
        &http::get(gw.http, &signed(path, KEY, SECRET, now + 10 * 86_400)),
        "expire_at beyond max_signature_validity_s",
    );
    assert!(too_far.contains("future"), "{too_far}");
    // A startup without a signature places no call.
    let body = Gateway::startup_body("1002", 10, None);
    assert_401(
        &http::post_json(gw.http, "/trtc/startup", &body),
        "unsigned startup",
    );
    // The health probe stays open for monitors.
    assert_eq!(http::get(gw.http, "/healthz").status, 200);
    gw.assert_healthy();
}

/// Sends raw bytes as one request on a fresh connection and returns what came back
/// (empty when the server closed without a word).
fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// One random request: a method, a target and headers drawn from pieces that have
/// broken routers before (multi-byte UTF-8 cut anywhere, percent escapes, invalid
/// bytes, huge numbers), and a body exactly as long as its Content-Length says.
fn random_request(rng: &mut impl rand::Rng) -> Vec<u8> {
    const METHODS: &[&str] = &[
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT", "get",
        "PoSt", "XYZZY", "G\u{e9}T",
    ];
    const PIECES: &[&str] = &[
        "/",
        "/trtc",
        "/trtc/",
        "startup",
        "shutdown",
        "callstate",
        "callstats",
        "dtmf",
        "healthz",
        "v2205",
        "?",
        "&",
        "=",
        "id",
        "api_key",
        "signature",
        "expire_at",
        "%",
        "%2",
        "%e9",
        "%C3%A9",
        "%00",
        "%ff%fe",
        "\u{e9}",
        "\u{4e2d}",
        "\u{1f600}",
        "..",
        "//",
        "#",
        ";",
        "+",
        "0123456789abcdef",
        "99999999999999999999999",
        "-1",
    ];
    const ROUTES: &[&str] = &[
        "/healthz",
        "/trtc/callstate?id=",
        "/trtc/callstats?id=",
        "/v2205/trtc/startup",
        "/trtc/shutdown",
        "/trtc/dtmf",
    ];
    let method = METHODS[rng.gen_range(0..METHODS.len())];
    let mut target: Vec<u8> = Vec::new();
    if rng.gen_bool(0.5) {
        target.extend_from_slice(ROUTES[rng.gen_range(0..ROUTES.len())].as_bytes());
    } else if rng.gen_bool(0.9) {
        target.push(b'/');
    }
    for _ in 0..rng.gen_range(0..8) {
        if rng.gen_bool(0.05) {
            // a raw byte, valid UTF-8 or not (never CR/LF, which would end the line)
            let b: u8 = rng.gen_range(0x21..=0xff);
            target.push(b);
        } else {
            let p = PIECES[rng.gen_range(0..PIECES.len())].as_bytes();
            // cut a piece anywhere, inside a multi-byte character too
            let cut = rng.gen_range(1..=p.len());
            target.extend_from_slice(&p[..cut]);
        }
    }
    let mut req = Vec::new();
    req.extend_from_slice(method.as_bytes());
    req.push(b' ');
    req.extend_from_slice(&target);
    req.extend_from_slice(if rng.gen_bool(0.9) {
        b" HTTP/1.1\r\n"
    } else {
        b" HTTP/1.0\r\n"
    });
    req.extend_from_slice(b"Host: gw\r\n");
    let body_len = if rng.gen_bool(0.5) {
        rng.gen_range(0..300usize)
    } else {
        0
    };
    if body_len > 0 || rng.gen_bool(0.2) {
        req.extend_from_slice(format!("Content-Length: {body_len}\r\n").as_bytes());
    }
    const HEADERS: &[&str] = &[
        "Content-Type: application/json",
        "Content-Type: text/plain; charset=\u{e9}",
        "Content-Type: ",
        "Expect: 100-continue",
        "Connection: keep-alive, close",
        "X-Forwarded-For: 10.0.0.1",
        "Transfer-Encoding: chunked",
        "Content-Length: 18446744073709551616",
        "Content-Length: -1",
        "\u{e9}\u{e9}: x",
        "X: \u{4e2d}\u{6587}",
    ];
    for _ in 0..rng.gen_range(0..3) {
        req.extend_from_slice(HEADERS[rng.gen_range(0..HEADERS.len())].as_bytes());
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    for _ in 0..body_len {
        let b: u8 = if rng.gen_bool(0.7) {
            b"{}\"[]:,phonenumber0123456789 "[rng.gen_range(0..29)]
        } else {
            rng.gen()
        };
        req.push(b);
    }
    req
}

#[test]
fn thousands_of_random_requests_are_answered_and_nothing_panics() {
    use rand::SeedableRng;
    let (dir, _block, cfg) = setup("api-random");
    let mut gw = Gateway::start(&dir, &cfg);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..3000 {
        let req = random_request(&mut rng);
        let raw = raw_exchange(gw.http, &req);
        let shown = String::from_utf8_lossy(&req).into_owned();
        // Requests that are HTTP enough are answered with a status line and JSON; the
        // server never goes silent or resets (a panic in its task would).
        let r = http::parse_response(&raw)
            .unwrap_or_else(|| panic!("request {i} got no response: {shown:?}"));
        assert!(
            (200..600).contains(&r.status),
            "request {i}: {} for {shown:?}",
            r.status
        );
        if r.status >= 400 && !r.text().is_empty() {
            assert!(
                r.json()["error"].is_string(),
                "request {i}: {} {} for {shown:?}",
                r.status,
                r.text()
            );
        }
        *statuses.entry(r.status).or_insert(0u32) += 1;
    }
    eprintln!("statuses of 3000 random requests: {statuses:?}");
    // The mix must reach the routes, not just the parser's refusals.
    assert!(
        statuses.len() >= 4 && statuses.keys().any(|s| *s < 400),
        "the requests should reach several answers"
    );
    assert_eq!(http::get(gw.http, "/healthz").status, 200);
    gw.assert_healthy();
}

#[test]
fn a_client_over_its_connection_limit_gets_503_at_once() {
    use std::io::Write;
    let (dir, _block, cfg) = setup("api-conn-cap");
    let toml = cfg.to_toml().replacen(
        "[http]\n",
        "[http]\nmax_connections = 8\nmax_connections_per_client = 2\n",
        1,
    );
    let mut gw = Gateway::start_with_text(&dir, &toml);
    // Two idle connections hold this client's slots...
    let held: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(gw.http).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // ...so its third request is refused at once, not left waiting in the backlog.
    let r = http::get(gw.http, "/healthz");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"], "unavailable");
    assert!(r.text().contains("this address"), "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    // Closing one gives the slot back.
    drop(held);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut s = std::net::TcpStream::connect(gw.http).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(http::get(gw.http, "/healthz").status, 200);
    drop(s);
    assert!(gw.proc.log_text().contains("refused a connection (503"));
    gw.assert_healthy();
}
