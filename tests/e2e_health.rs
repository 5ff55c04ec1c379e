//! `GET /healthz` end to end: 200 while the box serves calls, 503 naming `room` once a
//! room's teardown has been stuck in the SDK past the bound (the LiteAV double's
//! `DestroyTRTCCloud` made to take 15 s). The simulated room has no SDK teardown, so
//! this runs over the double only (`SIPGW_TEST_ROOM=trtc`, as scripts/test.sh does).
//! The media clock and SIP loop parts are checked by unit tests with an injected clock
//! (src/calls/clock.rs, src/sip/shell.rs), which a real process cannot make
//! deterministic.

mod common;

use common::http;
use common::rig::Rig;
use common::wait::secs;
use std::time::Instant;

#[test]
fn a_room_teardown_stuck_in_the_sdk_makes_healthz_503_naming_room() {
    if common::room::double_room().is_none() {
        eprintln!(
            "NOTE: over the simulated room there is no SDK teardown; run with SIPGW_TEST_ROOM=trtc"
        );
        return;
    }
    let mut rig = Rig::start("health-stuck-room", "uas_answer.xml", 1, false, |cfg| {
        cfg.room_teardown_ms = Some(15_000);
    });
    let r = http::get(rig.gw.http, "/healthz");
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"status": "ok"}))
    );

    let id = rig.gw.startup("1002", 60, None);
    rig.gw.wait_state(&id, 5, secs(20));
    rig.gw.shutdown(&id);
    rig.gw.wait_done(&id, secs(30));
    let left = Instant::now();
    rig.uas.proc.assert_success(secs(20));
    // A teardown in progress is normal: still healthy.
    assert_eq!(http::get(rig.gw.http, "/healthz").status, 200);

    let r = common::wait::until("/healthz 503", secs(20), || {
        let r = http::get(rig.gw.http, "/healthz");
        (r.status == 503).then_some(r)
    });
    let waited = left.elapsed();
    assert!(waited >= secs(9), "503 after only {waited:?}: {}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "unwell", "{v}");
    assert_eq!(v["unwell"][0]["part"], "room", "{v}");
    assert!(
        v["unwell"][0]["reason"].as_str().unwrap().contains("stuck"),
        "{v}"
    );
    rig.gw.assert_healthy();
}
