//! Acceptance 4: one webhook POST per state line, in order, with the contract's JSON
//! fields; an unreachable webhook URL changes nothing about the call. Issue 9: a
//! link-local `callStateNotifyUrl` is refused with 400, and with `[webhook] secret`
//! every webhook carries an `X-Trtc-Sipgw-Signature` the receiver can verify.

mod common;

use common::callstate::{assert_answered, show};
use common::net::closed_tcp_port;
use common::rig::Rig;
use common::wait::secs;
use common::webhook::WebhookReceiver;
use std::time::Duration;

#[test]
fn every_state_is_posted_in_order() {
    let rx = WebhookReceiver::start();
    let mut rig = Rig::start("hooks", "uas_progress_bye.xml", 1, false, |_| {});
    let id = rig.gw.startup("1002", 60, Some(&rx.url()));
    let lines = rig.gw.wait_done(&id, secs(40));
    rig.uas.proc.assert_success(secs(20));
    assert_answered(&lines);
    let hooks = rx.wait_disconnected(secs(20));
    // Give a straggler (there should be none after state 6) a moment to show up.
    std::thread::sleep(Duration::from_millis(500));
    let hooks = if rx.hooks().len() > hooks.len() {
        rx.hooks()
    } else {
        hooks
    };

    let bodies: Vec<serde_json::Value> = hooks.iter().map(|h| h.json()).collect();
    assert_eq!(
        bodies.len(),
        lines.len(),
        "one POST per state line; lines:\n{}\nhooks: {bodies:#?}",
        show(&lines)
    );
    for (h, (b, l)) in hooks.iter().zip(bodies.iter().zip(&lines)) {
        assert_eq!(h.method, "POST");
        assert_eq!(h.path, "/hook", "the URL's path is kept");
        assert!(
            h.content_type
                .as_deref()
                .unwrap_or("")
                .starts_with("application/json"),
            "webhook content type: {:?}",
            h.content_type
        );
        assert_eq!(b["id"], serde_json::json!(id), "{b}");
        assert_eq!(
            b["state"].as_u64(),
            Some(u64::from(l.state)),
            "state is an integer, in order: {b}"
        );
        assert_eq!(b["state_text"].as_str(), Some(l.text.as_str()), "{b}");
        assert_eq!(
            b["status_code"].as_u64(),
            Some(u64::from(l.code)),
            "status_code is an integer: {b}"
        );
        assert_eq!(b["reason"].as_str(), Some(l.reason.as_str()), "{b}");
        let ts = b["timestamp"]
            .as_f64()
            .unwrap_or_else(|| panic!("timestamp must be a number: {b}"));
        let line_ts = l.timestamp.timestamp_micros() as f64 / 1e6;
        assert!(
            (ts - line_ts).abs() < 1.0,
            "webhook timestamp {ts} far from the line's {line_ts}: {b}"
        );
    }
    let states: Vec<u64> = bodies.iter().filter_map(|b| b["state"].as_u64()).collect();
    assert_eq!(states, vec![1, 3, 3, 4, 5, 6]);
    rig.gw.assert_healthy();
}

#[test]
fn unreachable_webhook_does_not_disturb_the_call() {
    let url = format!("http://127.0.0.1:{}/hook", closed_tcp_port());
    let mut rig = Rig::start("hooks-closed", "uas_answer.xml", 1, true, |_| {});
    let id = rig.gw.startup("1002", 60, Some(&url));
    rig.gw.wait_state(&id, 5, secs(20));
    std::thread::sleep(Duration::from_secs(4));
    rig.shutdown_and_assert_unhurt(&id);
}

/// `sha256=<hex HMAC-SHA256>` computed here, independently of the gateway's code.
fn expected_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[test]
fn link_local_webhook_is_refused_and_webhooks_are_signed() {
    const SECRET: &str = "hook-secret-1234";
    let rx = WebhookReceiver::start();
    let mut rig = Rig::start("hooks-signed", "uas_progress_bye.xml", 1, false, |cfg| {
        cfg.webhook_secret = Some(SECRET.into());
    });

    // A metadata service address, named literally: 400 naming the field, no call.
    for url in [
        "http://169.254.169.254/x",
        "http://[fe80::1]/x",
        "http://224.0.0.1/x",
    ] {
        let r = rig.gw.startup_raw(&common::gateway::Gateway::startup_body(
            "1002",
            60,
            Some(url),
        ));
        assert_eq!(r.status, 400, "{url}: {}", r.text());
        assert_eq!(
            r.json()["field"],
            "callStateNotifyUrl",
            "{url}: {}",
            r.text()
        );
    }

    // A receiver on loopback gets every state, each signed with the secret.
    let id = rig.gw.startup("1002", 60, Some(&rx.url()));
    let lines = rig.gw.wait_done(&id, secs(40));
    rig.uas.proc.assert_success(secs(20));
    assert_answered(&lines);
    let hooks = rx.wait_disconnected(secs(20));
    assert!(!hooks.is_empty());
    for h in &hooks {
        assert_eq!(
            h.signature.as_deref(),
            Some(expected_signature(SECRET, &h.body).as_str()),
            "body {:?}",
            String::from_utf8_lossy(&h.body)
        );
    }
    let log = rig.gw.proc.log_text();
    assert!(!log.contains(SECRET), "the secret was logged");
    rig.gw.assert_healthy();
}

/// A receiver that is slow (answers after the webhook timeout), then down (its port
/// closed), then back on the same port: calls in each phase go through as usual, and
/// once it is back it gets its webhooks again.
#[test]
fn a_receiver_slow_then_down_then_back() {
    let mut rig = Rig::start("hooks-flaky", "uas_answer.xml", 3, false, |cfg| {
        cfg.webhook_timeout = Some((300, 0));
    });
    let one_call = |rig: &mut Rig, url: &str| {
        let id = rig.gw.startup("1002", 60, Some(url));
        rig.gw.wait_state(&id, 5, secs(20));
        rig.gw.shutdown(&id);
        let lines = rig.gw.wait_done(&id, secs(20));
        assert_answered(&lines);
        id
    };

    // Slow: every answer comes 2 s late, past the 300 ms timeout.
    let slow = WebhookReceiver::start_slow(Duration::from_secs(2));
    let (addr, url) = (slow.addr(), slow.url());
    one_call(&mut rig, &url);
    assert!(
        !slow.hooks().is_empty(),
        "the slow receiver was never reached"
    );

    // Down: nothing listens on the port (its thread lets go of it once the answer
    // it is sleeping on is out).
    drop(slow);
    std::thread::sleep(Duration::from_millis(2500));
    one_call(&mut rig, &url);

    // Back on the same port: the next call's webhooks arrive, up to its DISCONNCTD.
    let back = WebhookReceiver::start_on(addr, Duration::ZERO);
    let id = one_call(&mut rig, &url);
    let mine = common::wait::until("the call's DISCONNCTD webhook", secs(20), || {
        let mine: Vec<serde_json::Value> = (back.hooks().iter().map(|h| h.json()))
            .filter(|b| b["id"] == serde_json::json!(id))
            .collect();
        mine.iter().any(|b| b["state"] == 6).then_some(mine)
    });
    assert_eq!(
        mine.iter()
            .map(|b| b["state"].as_u64().unwrap_or(0))
            .collect::<Vec<_>>(),
        rig.gw
            .callstate(&id)
            .0
            .iter()
            .map(|l| u64::from(l.state))
            .collect::<Vec<_>>(),
        "the receiver, back, gets every state of the call once"
    );
    rig.uas.proc.assert_success(secs(20));
}
