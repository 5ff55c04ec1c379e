//! Acceptance 6: ten calls at once to one sipp UAS, each with audio both ways: every
//! room recording carries the phone's 440 Hz, and every RTP stream the gateway sent to
//! the phones (told apart by source port and SSRC) carries the room's 1000 Hz.

mod common;

use common::audio::{assert_tone, assert_wav_tone};
use common::callstate::{assert_answered, assert_ending};
use common::rig::Rig;
use common::wait::secs;
use std::time::Duration;

#[test]
fn ten_calls_at_once() {
    let mut rig = Rig::start("load-10", "uas_answer.xml", 10, true, |_| {});
    let ids: Vec<String> = (0..10).map(|_| rig.gw.startup("1002", 120, None)).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10, "call ids must differ: {ids:?}");
    for id in &ids {
        rig.gw.wait_state(id, 5, secs(30));
    }
    std::thread::sleep(Duration::from_secs(5));
    for id in &ids {
        rig.gw.shutdown(id);
    }
    for id in &ids {
        let lines = rig.gw.wait_done(id, secs(30));
        assert_answered(&lines);
        assert_ending(&lines, 200, "shutdown requested");
    }
    rig.uas.proc.assert_success(secs(30));
    for id in &ids {
        assert_wav_tone(&rig.gw.recording(id), 440.0);
    }
    let streams = rig.phone_heard();
    let mut calls: Vec<(u16, u32)> = streams.iter().map(|s| (s.src_port, s.ssrc)).collect();
    calls.sort();
    calls.dedup();
    assert!(
        calls.len() >= 10,
        "RTP towards the phone from ten calls, got {calls:?}"
    );
    let mut good = 0;
    for s in &streams {
        if s.audio.duration_s() >= 2.0 {
            assert_tone(
                &s.audio,
                1000.0,
                &format!("gateway port {} SSRC {:08x}", s.src_port, s.ssrc),
            );
            good += 1;
        }
    }
    assert!(
        good >= 10,
        "ten streams of at least 2 s towards the phone, got {good}: {calls:?}"
    );
    rig.gw.assert_healthy();
}
