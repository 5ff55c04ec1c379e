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
    let dir = TestDir::new("api-signed");
    let block = PortBlock::new();
    let cfg = GatewayConfig::new(
        &dir,
        &block,
        format!("sip:{{number}}@127.0.0.1:{}", block.port(1)),
    );
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
