//! Acceptance 2: a sipp phone rings (180), sends 183 with SDP, answers, streams 440 Hz
//! and hangs up after ~5 s. The history shows every step; the room heard 440 Hz and the
//! phone heard the room's 1000 Hz (checked on a capture of the RTP sent to sipp).

mod common;

use common::audio::assert_wav_tone;
use common::callstate::{assert_answered, assert_ending, show};
use common::rig::Rig;
use common::wait::secs;

#[test]
fn phone_rings_progresses_answers_streams_and_hangs_up() {
    let mut rig = Rig::start("e2e-progress", "uas_progress_bye.xml", 1, true, |_| {});
    let id = rig.gw.startup("1002", 60, None);
    let lines = rig.gw.wait_done(&id, secs(40));
    rig.uas.proc.assert_success(secs(20));

    assert_answered(&lines);
    let got: Vec<(u8, u16)> = lines.iter().map(|l| (l.state, l.code)).collect();
    assert_eq!(
        got,
        vec![(1, 0), (3, 180), (3, 183), (4, 200), (5, 200), (6, 200)],
        "history:\n{}",
        show(&lines)
    );
    assert!(
        lines[1].reason.eq_ignore_ascii_case("Ringing"),
        "{}",
        show(&lines)
    );
    assert!(
        lines[2].reason.eq_ignore_ascii_case("Session Progress"),
        "{}",
        show(&lines)
    );
    assert_ending(&lines, 200, "hung up");
    assert!(
        lines[5].reason.to_lowercase().contains("phone"),
        "{}",
        show(&lines)
    );

    assert_wav_tone(&rig.gw.recording(&id), 440.0);
    rig.assert_phone_heard(1000.0);
    rig.gw.assert_healthy();
}
