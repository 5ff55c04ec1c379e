//! The gateway stopping and starting again: a running call is hung up with a reason
//! that says so, its room is left and torn down and its last webhook delivered before
//! the process exits 0 (even with a slow SDK teardown and a slow webhook receiver), and
//! every call's history is still queryable after the restart (SPEC: finished calls stay
//! queryable across a restart), also after a kill -9.

mod common;

use common::callstate::{assert_answered, assert_ending};
use common::gateway::{Gateway, GatewayConfig};
use common::rig::Rig;
use common::wait::secs;
use common::webhook::WebhookReceiver;
use std::time::Duration;

#[test]
fn sigterm_hangs_up_and_history_survives_a_restart() {
    let mut cfg_used: Option<GatewayConfig> = None;
    let mut rig = Rig::start("restart", "uas_answer.xml", 2, false, |cfg| {
        // Over the LiteAV double: DestroyTRTCCloud takes 3 s (longer than the webhooks
        // take), so a stop that does not wait for room teardowns exits before the
        // double writes its recording.
        cfg.room_teardown_ms = Some(3000);
        cfg_used = Some(cfg.clone());
    });
    // Each webhook answered 500 ms late: at SIGTERM the running call's queue is still
    // busy, so its DISCONNCTD webhook goes out only if the stop waits for it.
    let hooks = WebhookReceiver::start_slow(Duration::from_millis(500));
    let cfg = cfg_used.expect("config captured");

    // A finished call, then a running one.
    let done_id = rig.gw.startup("1002", 60, None);
    rig.gw.wait_state(&done_id, 5, secs(20));
    rig.gw.shutdown(&done_id);
    let done_before = rig.gw.wait_done(&done_id, secs(30));
    let running_id = rig.gw.startup("1002", 60, Some(&hooks.url()));
    rig.gw.wait_state(&running_id, 5, secs(20));

    // SIGTERM: the running call ends with the gateway's reason, the process exits 0.
    let status = rig.gw.proc.stop(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "gateway did not stop cleanly on SIGTERM: {status:?}\n{}",
        rig.gw.proc.log_tail(30)
    );
    rig.uas.proc.assert_success(secs(20)); // the phone got its BYE
                                           // The last webhook was delivered before the exit (nothing is sent after it).
    let last = hooks.hooks().last().map(|h| h.json()).expect("webhooks");
    assert_eq!(last["state"], 6, "DISCONNCTD webhook missing: {last}");
    assert_eq!(last["id"], serde_json::json!(running_id), "{last}");
    assert!(last.to_string().contains("gateway stopping"), "{last}");
    // The room was left and its SDK instance destroyed before the exit (the room
    // writes its recording then; the double only once its slow teardown is done).
    let recording = rig.gw.recording(&running_id);
    assert!(
        recording.exists(),
        "no recording: the room was not torn down"
    );

    // A new gateway on the same state directory knows both calls.
    let dir2 = common::tmp::TestDir::new("restart-second");
    let gw2 = Gateway::start(&dir2, &cfg);
    let (lines, done) = gw2.callstate(&done_id);
    assert!(done, "finished call not done after restart");
    assert_eq!(lines, done_before, "history changed across the restart");
    let (lines, done) = gw2.callstate(&running_id);
    assert!(done);
    assert_answered(&lines);
    assert_ending(&lines, 200, "gateway stopping");
    // Unknown ids are still 404 after the restart.
    let r = common::http::get(gw2.http, "/trtc/callstate?id=0123456789abcdef");
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn kill_9_with_calls_live_keeps_every_finished_call_and_closes_the_live_ones() {
    let mut cfg_used: Option<GatewayConfig> = None;
    let mut rig = Rig::start("restart-kill", "uas_answer.xml", 3, false, |cfg| {
        cfg_used = Some(cfg.clone());
    });
    let cfg = cfg_used.expect("config captured");

    let done_id = rig.gw.startup("1002", 60, None);
    rig.gw.wait_state(&done_id, 5, secs(20));
    rig.gw.shutdown(&done_id);
    let done_before = rig.gw.wait_done(&done_id, secs(30));
    // One live call has a webhook receiver: after the restart it is told the call ended.
    let hooks = WebhookReceiver::start();
    let live: Vec<String> = vec![
        rig.gw.startup("1002", 60, Some(&hooks.url())),
        rig.gw.startup("1002", 60, None),
    ];
    for id in &live {
        rig.gw.wait_state(id, 5, secs(20));
    }

    // No chance to write anything more: the power cord.
    rig.gw.proc.signal("KILL");
    let status = rig.gw.proc.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| !s.success()), "{status:?}");

    let dir2 = common::tmp::TestDir::new("restart-kill-second");
    let gw2 = Gateway::start(&dir2, &cfg);
    let (lines, done) = gw2.callstate(&done_id);
    assert!(done, "finished call not done after kill -9");
    assert_eq!(lines, done_before, "history changed across kill -9");
    for id in &live {
        let (lines, done) = gw2.callstate(id);
        assert!(done, "{id} still live after the restart");
        assert_answered(&lines);
        assert_ending(&lines, 0, "gateway restarted during the call");
    }
    // The webhook the crash kept from the receiver is sent by the next start, once.
    let ends = |hooks: &WebhookReceiver| -> Vec<serde_json::Value> {
        (hooks.hooks().iter().map(|h| h.json()))
            .filter(|j| j["state"] == 6)
            .collect()
    };
    let deadline = std::time::Instant::now() + secs(15);
    while ends(&hooks).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let owed = ends(&hooks);
    assert_eq!(
        owed.len(),
        1,
        "DISCONNCTD webhook after the restart: {owed:?}"
    );
    assert_eq!(owed[0]["id"], serde_json::json!(live[0]), "{}", owed[0]);
    assert_eq!(owed[0]["status_code"], 0, "{}", owed[0]);
    assert_eq!(owed[0]["reason"], "gateway restarted during the call");
    // The closing lines are persisted: a third start reads the same.
    drop(gw2);
    let dir3 = common::tmp::TestDir::new("restart-kill-third");
    let gw3 = Gateway::start(&dir3, &cfg);
    for id in &live {
        let (lines, _) = gw3.callstate(id);
        let ends = lines.iter().filter(|l| l.state == 6).count();
        assert_eq!(ends, 1, "{id}: {lines:?}");
    }
    // ... and owes no webhook again.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(ends(&hooks).len(), 1, "the owed webhook was sent twice");
}
