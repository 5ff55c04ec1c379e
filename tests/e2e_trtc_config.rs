//! Start-up and request behaviour around the TRTC leg that needs no peer: the `trtc`
//! backend without its SDK is refused in one sentence naming the fetch script, and a
//! configured application secret lets clients omit `userSig` (the gateway signs).

mod common;

use common::gateway::{Gateway, GatewayConfig};
use common::net::PortBlock;
use common::tmp::TestDir;

#[test]
fn trtc_backend_without_its_sdk_is_one_clear_sentence() {
    let dir = TestDir::new("trtc-no-sdk");
    let toml = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[sip]\nlisten = \"127.0.0.1:0\"\n\
         [room]\nbackend = \"trtc\"\n[room.trtc]\nsdk_dir = \"{}\"\n",
        dir.join("no-sdk-here").display()
    );
    let (code, out) = Gateway::run_expect_failure(&dir, &toml);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}: {out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("trtc-sipgw: "))
        .unwrap_or_else(|| panic!("no error line in:\n{out}"));
    assert!(line.contains("bash scripts/fetch-liteav.sh"), "{line}");
    assert!(
        line.ends_with('.') && !line.contains(". "),
        "one sentence: {line}"
    );
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn user_sig_may_be_omitted_when_the_app_secret_is_configured() {
    let dir = TestDir::new("trtc-usersig");
    let block = PortBlock::new();
    // A phone that never answers: only the startup reply matters here.
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let uri = format!("sip:{{number}}@{}", phone.local_addr().unwrap());
    let cfg = GatewayConfig::new(&dir, &block, uri);
    let toml = format!(
        "{}\n[trtc.apps.\"1400000001\"]\nsecret_key = \"5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e\"\n",
        cfg.to_toml()
    );
    let mut gw = Gateway::start_with_text(&dir, &toml);

    let mut body = Gateway::startup_body("1002", 5, None);
    body["trtcParams"]
        .as_object_mut()
        .unwrap()
        .remove("userSig");
    let r = gw.startup_raw(&body);
    assert_eq!(
        r.status,
        200,
        "the gateway signs for a configured app: {}",
        r.text()
    );

    body["trtcParams"]["sdkAppId"] = serde_json::json!(1400000002u64);
    let r = gw.startup_raw(&body);
    assert_eq!(r.status, 400, "no secret for this app: {}", r.text());
    assert_eq!(r.json()["field"], "trtcParams.userSig", "{}", r.text());

    let log = gw.proc.log_text();
    assert!(
        !log.contains("5bd2850fff3ecb11"),
        "the secret key must never be logged"
    );
    gw.assert_healthy();
}
