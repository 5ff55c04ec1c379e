//! Touch tones from the phone: RFC 4733 events (sipp replaying its shipped capture of
//! the key '1') and SIP INFO (application/dtmf-relay, '7') each become one `dtmf`
//! webhook and reach the room, between the state webhooks, which keep their form. With
//! `SIPGW_TEST_ROOM=trtc` the room is the trtc backend over the LiteAV double, and the
//! digits must arrive there as `{"dtmf":"1"}` custom command messages.

mod common;

use common::callstate::assert_ending;
use common::rig::Rig;
use common::wait::secs;
use common::webhook::WebhookReceiver;

#[test]
fn digits_from_the_phone_reach_the_webhook_and_the_room() {
    let rx = WebhookReceiver::start();
    let mut rig = Rig::start("dtmf-in", "uas_dtmf.xml", 1, false, |_| {});
    let id = rig.gw.startup("1002", 60, Some(&rx.url()));
    let lines = rig.gw.wait_done(&id, secs(40));
    rig.uas.proc.assert_success(secs(20));
    assert_ending(&lines, 200, "phone hung up");
    rx.wait_disconnected(secs(20));

    let bodies: Vec<serde_json::Value> = rx.hooks().iter().map(|h| h.json()).collect();
    let digits: Vec<&str> = bodies
        .iter()
        .filter(|b| b["event"] == "dtmf")
        .map(|b| {
            assert_eq!(b["id"], serde_json::json!(id), "{b}");
            assert!(b["timestamp"].is_f64(), "{b}");
            assert_eq!(b["from"], "phone", "{b}");
            b["digit"].as_str().unwrap_or("?")
        })
        .collect();
    assert_eq!(
        digits,
        vec!["1", "7"],
        "one event per key press: {bodies:#?}"
    );
    let states = bodies.iter().filter(|b| b.get("state").is_some()).count();
    assert_eq!(states, lines.len(), "state webhooks unchanged: {bodies:#?}");

    if common::room::double_room().is_some() {
        // the trtc backend sent each digit as a custom command message (id 1, reliable,
        // ordered), which the LiteAV double records per user
        let sent = std::fs::read_to_string(rig.gw.record_dir.join("phone1.cmd"))
            .expect("the LiteAV double records the custom messages it was sent");
        assert_eq!(sent, "1 11 {\"dtmf\":\"1\"}\n1 11 {\"dtmf\":\"7\"}\n");
    } else {
        let keyed = std::fs::read_to_string(rig.gw.record_dir.join(format!("{id}.dtmf")))
            .expect("the simulated room records the digits it was passed");
        assert_eq!(keyed, "17");
    }
    rig.gw.assert_healthy();
}
