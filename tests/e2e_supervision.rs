//! Supervision, end to end: a call whose task panics is still ended properly (BYE to the
//! phone, DISCONNCTD `500 internal error`) and gives its capacity slot back, and the
//! gateway goes on serving calls and answers `/healthz` 200.
//!
//! A panic in a part the gateway cannot run without (here the SIP loop) ends the process
//! with a non-zero status, so systemd restarts it, instead of leaving a box that looks
//! alive and places no calls.
//!
//! The panics need a trigger no production build has: the `fault-injection` cargo
//! feature (src/calls/fault.rs: a call to `*999` panics its task 2 s after the INVITE, a
//! call to `*998` panics the SIP loop).
//! `cargo test --features fault-injection --test e2e_supervision` builds the gateway
//! binary under test with it, which scripts/test.sh does; without the feature this file
//! compiles to nothing.
#![cfg(feature = "fault-injection")]

mod common;

use common::callstate::{assert_answered, assert_ending};
use common::gateway::{Gateway, GatewayConfig};
use common::http;
use common::net::PortBlock;
use common::rig::Rig;
use common::tmp::TestDir;
use common::wait::secs;

#[test]
fn a_panicking_call_task_ends_its_call_500_and_frees_its_slot() {
    let mut rig = Rig::start("supervise-panic", "uas_answer.xml", 2, false, |cfg| {
        cfg.max_calls = Some(1);
    });
    let id = rig.gw.startup("*999", 60, None);
    let lines = rig.gw.wait_done(&id, secs(30));
    assert_answered(&lines);
    assert_ending(&lines, 500, "internal error");
    let log = rig.gw.proc.log_text();
    assert!(log.contains("the call task panicked"), "{log}");

    // With max_calls = 1 the next call is accepted only if the slot came back.
    let next = rig.gw.startup("1002", 60, None);
    rig.gw.wait_state(&next, 5, secs(20));
    rig.gw.shutdown(&next);
    let lines = rig.gw.wait_done(&next, secs(30));
    assert_ending(&lines, 200, "shutdown requested");
    // Both calls' phones got their BYE (sipp ran its scenario twice to the end).
    rig.uas.proc.assert_success(secs(20));

    let r = http::get(rig.gw.http, "/healthz");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        rig.gw.proc.exited().is_none(),
        "the gateway died with its call"
    );
}

#[test]
fn a_panicking_sip_loop_ends_the_process_non_zero() {
    let dir = TestDir::new("supervise-sip-panic");
    let block = PortBlock::new();
    // Nobody answers: the call never gets that far.
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let uri = format!("sip:{{number}}@{}", phone.local_addr().unwrap());
    let mut gw = Gateway::start(&dir, &GatewayConfig::new(&dir, &block, uri));
    let r = gw.startup_raw(&Gateway::startup_body("*998", 60, None));
    assert_eq!(r.status, 200, "{}", r.text());
    let status = gw.proc.wait_exit(secs(10));
    let log = gw.proc.log_text();
    let status =
        status.unwrap_or_else(|| panic!("still running after the SIP loop panicked:\n{log}"));
    assert!(
        !status.success(),
        "exit status {status} must be non-zero:\n{log}"
    );
    assert!(log.contains("the SIP loop panicked"), "{log}");
}
