//! Supervision, end to end: a call whose task panics is still ended properly (BYE to the
//! phone, DISCONNCTD `500 internal error`) and gives its capacity slot back, and the
//! gateway goes on serving calls and answers `/healthz` 200.
//!
//! The panic needs a trigger no production build has: the `fault-injection` cargo
//! feature (src/calls/fault.rs: a call to `*999` panics its task 2 s after the INVITE).
//! `cargo test --features fault-injection --test e2e_supervision` builds the gateway
//! binary under test with it, which scripts/test.sh does; without the feature this file
//! compiles to nothing.
#![cfg(feature = "fault-injection")]

mod common;

use common::callstate::{assert_answered, assert_ending};
use common::http;
use common::rig::Rig;
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
