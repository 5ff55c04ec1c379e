//! Acceptance 3: every way a call ends, one test each, against sipp phones. Each checks
//! the whole history's shape and the DISCONNCTD code with a keyword of its reason, and
//! that the phone saw the SIP it should (sipp's exit status: every step of its scenario).

mod common;

use common::callstate::{
    assert_answered, assert_ending, assert_unanswered, assert_well_formed, show,
};
use common::gateway::{Gateway, GatewayConfig};
use common::net::PortBlock;
use common::rig::Rig;
use common::tmp::TestDir;
use common::wait::secs;
use std::net::UdpSocket;
use std::time::Duration;

#[test]
fn phone_sends_bye() {
    let mut rig = Rig::start("end-phone-bye", "uas_progress_bye.xml", 1, false, |_| {});
    let id = rig.gw.startup("1002", 60, None);
    let lines = rig.gw.wait_done(&id, secs(40));
    rig.uas.proc.assert_success(secs(20));
    assert_answered(&lines);
    assert_ending(&lines, 200, "phone hung up");
    rig.gw.assert_healthy();
}

#[test]
fn shutdown_before_answer_cancels() {
    let mut rig = Rig::start(
        "end-shutdown-early",
        "uas_ring_cancel.xml",
        1,
        false,
        |_| {},
    );
    let id = rig.gw.startup("1002", 60, None);
    rig.gw.wait_state(&id, 3, secs(20));
    rig.gw.shutdown(&id);
    let lines = rig.gw.wait_done(&id, secs(30));
    rig.uas.proc.assert_success(secs(20)); // it received the CANCEL and the ACK of its 487
    assert_unanswered(&lines);
    assert_ending(&lines, 487, "shutdown requested");
    rig.gw.assert_healthy();
}

#[test]
fn shutdown_after_answer_sends_bye() {
    let mut rig = Rig::start("end-shutdown", "uas_answer.xml", 1, false, |_| {});
    let id = rig.gw.startup("1002", 60, None);
    rig.gw.wait_state(&id, 5, secs(20));
    std::thread::sleep(Duration::from_secs(1));
    rig.gw.shutdown(&id);
    let lines = rig.gw.wait_done(&id, secs(30));
    rig.uas.proc.assert_success(secs(20)); // it received the BYE
    assert_answered(&lines);
    assert_ending(&lines, 200, "shutdown requested");
    rig.gw.assert_healthy();
}

#[test]
fn ttl_expires_after_answer() {
    let mut rig = Rig::start("end-ttl", "uas_answer.xml", 1, false, |_| {});
    let id = rig.gw.startup("1002", 4, None);
    let lines = rig.gw.wait_done(&id, secs(40));
    rig.uas.proc.assert_success(secs(20));
    assert_answered(&lines);
    assert_ending(&lines, 200, "ttl expired");
    rig.gw.assert_healthy();
}

#[test]
fn ttl_expires_before_answer() {
    let mut rig = Rig::start("end-ttl-noanswer", "uas_ring_cancel.xml", 1, false, |_| {});
    let id = rig.gw.startup("1002", 3, None);
    let lines = rig.gw.wait_done(&id, secs(40));
    rig.uas.proc.assert_success(secs(20)); // CANCEL arrived
    assert_unanswered(&lines);
    assert_ending(&lines, 408, "ttl expired");
    rig.gw.assert_healthy();
}

#[test]
fn phone_busy() {
    let mut rig = Rig::start("end-busy", "uas_busy.xml", 1, false, |_| {});
    let id = rig.gw.startup("1002", 60, None);
    let lines = rig.gw.wait_done(&id, secs(30));
    rig.uas.proc.assert_success(secs(20)); // the 486 was ACKed
    assert_unanswered(&lines);
    assert_ending(&lines, 486, "Busy Here");
    assert!(
        lines.iter().any(|l| l.state == 3 && l.code == 180),
        "180 seen:\n{}",
        show(&lines)
    );
    rig.gw.assert_healthy();
}

#[test]
fn room_refuses_entry() {
    let dir = TestDir::new("end-room-refused");
    let block = PortBlock::new();
    // A "phone" that must never be called: the room is entered before the INVITE.
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uri = format!("sip:{{number}}@{}", phone.local_addr().unwrap());
    let mut gw = Gateway::start(&dir, &GatewayConfig::new(&dir, &block, uri));
    let mut body = Gateway::startup_body("1002", 60, None);
    body["trtcParams"]["userSig"] = serde_json::json!("reject");
    let r = gw.startup_raw(&body);
    assert_eq!(r.status, 502, "room refusal must be 502: {}", r.text());
    let v = r.json();
    assert!(v["error"].is_string(), "error JSON needs 'error': {v}");
    let msg = v["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error JSON needs 'message': {v}"));
    assert!(
        msg.contains("-3320"),
        "message should carry the SDK code -3320: {msg}"
    );
    assert!(v.get("id").is_none(), "no call id on a refused room: {v}");
    phone
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        phone.recv_from(&mut buf).is_err(),
        "no INVITE may be sent when the room refused"
    );
    gw.assert_healthy();
}

#[test]
fn room_dismissed() {
    let mut rig = Rig::start("end-room-closed", "uas_answer.xml", 1, false, |c| {
        c.dismiss_after_s = 3
    });
    let id = rig.gw.startup("1002", 60, None);
    let lines = rig.gw.wait_done(&id, secs(40));
    rig.uas.proc.assert_success(secs(20)); // BYE arrived
    assert_answered(&lines);
    assert_ending(&lines, 200, "room");
    rig.gw.assert_healthy();
}

#[test]
fn phone_sends_no_rtp() {
    let mut rig = Rig::start("end-no-rtp", "uas_silent.xml", 1, false, |c| {
        c.no_rtp_timeout_s = Some(3)
    });
    let id = rig.gw.startup("1002", 60, None);
    let lines = rig.gw.wait_done(&id, secs(40));
    rig.uas.proc.assert_success(secs(20)); // BYE arrived
    assert_answered(&lines);
    assert_ending(&lines, 200, "RTP");
    rig.gw.assert_healthy();
}

#[test]
fn answer_without_common_codec() {
    let mut rig = Rig::start("end-no-codec", "uas_g729.xml", 1, false, |_| {});
    let id = rig.gw.startup("1002", 60, None);
    let lines = rig.gw.wait_done(&id, secs(30));
    rig.uas.proc.assert_success(secs(20)); // its 200 was ACKed, then a BYE came
    assert_well_formed(&lines);
    assert_ending(&lines, 488, "codec");
    rig.gw.assert_healthy();
}

#[test]
fn phone_replies_488() {
    let mut rig = Rig::start("end-488", "uas_488.xml", 1, false, |_| {});
    let id = rig.gw.startup("1002", 60, None);
    let lines = rig.gw.wait_done(&id, secs(30));
    rig.uas.proc.assert_success(secs(20));
    assert_unanswered(&lines);
    assert_ending(&lines, 488, "Not Acceptable Here");
    rig.gw.assert_healthy();
}

/// Hold is not silence to hang up on: the phone re-INVITEs with `a=inactive`, stops RTP
/// for longer than the no-RTP timeout, resumes, and hangs up itself. The gateway must
/// answer each re-offer with the mirrored direction (sipp checks the bodies).
#[test]
fn hold_longer_than_the_no_rtp_timeout_keeps_the_call() {
    let mut rig = Rig::start("hold", "uas_hold.xml", 1, false, |cfg| {
        cfg.no_rtp_timeout_s = Some(2);
    });
    let id = rig.gw.startup("1002", 60, None);
    let lines = rig.gw.wait_done(&id, secs(40));
    rig.uas.proc.assert_success(secs(20));
    assert_answered(&lines);
    assert_ending(&lines, 200, "phone hung up");
    rig.gw.assert_healthy();
}
