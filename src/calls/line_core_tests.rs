use super::*;
use crate::calls::core::Control;
use crate::media::analysis::tone_snr_db;
use crate::media::tone::ToneGenerator;

const TICK: Duration = Duration::from_millis(20);

fn config(t0: Instant, ttl_s: u64) -> LineCallConfig {
    LineCallConfig {
        id: "c1".into(),
        line: "intercom".into(),
        started_at: t0,
        ttl: Duration::from_secs(ttl_s),
        rate: 16000,
        period_ms: 20,
        room_rate: 48000,
    }
}

/// The state lines recorded so far, as (state number, code, reason).
fn records(core: &mut LineCore, out: &mut Vec<(u8, u16, String)>, left_room: &mut bool) {
    while let Some(a) = core.poll_action() {
        match a {
            Action::Record(c) => {
                if c.state == CallState::Disconnected {
                    assert!(*left_room, "the room is left before DISCONNCTD");
                }
                out.push((c.state.number(), c.code, c.reason))
            }
            Action::LeaveRoom => *left_room = true,
            _ => {}
        }
    }
}

fn open(t0: Instant, ttl_s: u64) -> (LineCore, Vec<(u8, u16, String)>, bool) {
    let mut core = LineCore::new(t0, config(t0, ttl_s));
    let (mut lines, mut left) = (Vec::new(), false);
    core.room_entered(t0);
    core.devices_open(t0);
    records(&mut core, &mut lines, &mut left);
    (core, lines, left)
}

#[test]
fn a_line_goes_calling_then_confirmed_and_ends_at_its_ttl() {
    let t0 = Instant::now();
    let (mut core, mut lines, mut left) = open(t0, 2);
    assert_eq!(
        lines,
        vec![(1, 0, String::new()), (5, 200, "line intercom open".into())]
    );
    let mut now = t0;
    while !core.is_done() && now < t0 + Duration::from_secs(5) {
        now += TICK;
        core.handle_media_tick(now, None, 640);
        if core.poll_timeout().is_some_and(|at| at <= now) {
            core.handle_timeout(now);
        }
        records(&mut core, &mut lines, &mut left);
    }
    assert!(core.is_done());
    assert_eq!(lines.last().unwrap(), &(6, 200, "ttl expired".to_string()));
    assert!(now >= t0 + Duration::from_secs(2) && now < t0 + Duration::from_millis(2100));
}

#[test]
fn audio_crosses_both_ways_at_the_rooms_rate_and_the_lines() {
    let t0 = Instant::now();
    let (mut core, _, _) = open(t0, 60);
    let mut line_tone = ToneGenerator::new(441.0, 16000, 8000);
    let mut room_tone = ToneGenerator::new(1000.0, 48000, 8000);
    let (mut to_room, mut to_line) = (Vec::new(), Vec::new());
    let mut now = t0;
    for _ in 0..150 {
        now += TICK;
        // A card paced like the media clock: one period per tick.
        core.handle_capture(now, line_tone.next_frame().pcm());
        let frame = room_tone.next_frame();
        core.handle_media_tick(now, Some(&frame), 640);
        let room = core
            .poll_room_audio()
            .expect("a frame for the room every tick");
        assert_eq!((room.rate, room.len), (48000, 960));
        to_room.extend_from_slice(room.pcm());
        to_line.extend_from_slice(core.poll_playback().expect("a period for the card"));
    }
    let (_, snr_room, _) = tone_snr_db(&to_room[48000..], 48000, 441.0);
    let (_, snr_line, _) = tone_snr_db(&to_line[16000..], 16000, 1000.0);
    assert!(snr_room > 30.0, "line → room SNR {snr_room:.1} dB");
    assert!(snr_line > 30.0, "room → line SNR {snr_line:.1} dB");
    let s = core.line_stats();
    assert_eq!((s.capture_dropped, s.capture_stretched), (0, 0), "{s:?}");
    assert_eq!((s.playback_dropped, s.playback_stretched), (0, 0), "{s:?}");
}

#[test]
fn an_unpaced_device_is_read_in_real_time_and_its_surplus_dropped() {
    // ALSA's null plugin: whatever is asked for is there at once.
    let t0 = Instant::now();
    let (mut core, _, _) = open(t0, 60);
    let mut tone = ToneGenerator::new(441.0, 16000, 8000);
    let mut now = t0;
    let mut read = 0usize;
    let mut to_room = Vec::new();
    let mut source = Vec::new();
    for _ in 0..250 {
        now += TICK;
        let want = core.capture_wanted();
        while source.len() < want {
            source.extend_from_slice(tone.next_frame().pcm());
        }
        let got: Vec<i16> = source.drain(..want).collect();
        read += want;
        core.handle_capture(now, &got);
        // and a playback device that takes everything at once: nothing queued
        core.handle_media_tick(now, None, 0);
        to_room.extend_from_slice(core.poll_room_audio().unwrap().pcm());
    }
    // 5 s of ticks read about 5 s of audio (plus the ring's few periods), not more.
    let secs = read as f64 / 16000.0;
    assert!(
        (5.0..5.2).contains(&secs),
        "read {secs:.2} s of capture in 5 s"
    );
    let s = core.line_stats();
    assert!(s.capture_dropped > 0 && s.capture_underruns == 0, "{s:?}");
    assert_eq!(s.playback_stretched, 0, "nothing to stretch for: {s:?}");
    let (_, snr, _) = tone_snr_db(&to_room[48000..], 48000, 441.0);
    assert!(
        snr > 20.0,
        "SNR {snr:.1} dB with one sample dropped a period"
    );
}

#[test]
fn a_stalled_card_is_concealed_then_resumes() {
    let t0 = Instant::now();
    let (mut core, _, _) = open(t0, 60);
    let mut tone = ToneGenerator::new(441.0, 16000, 8000);
    let mut now = t0;
    for tick in 0..100 {
        now += TICK;
        if !(40..50).contains(&tick) {
            core.handle_capture(now, tone.next_frame().pcm());
        }
        core.handle_media_tick(now, None, 640);
        assert!(core.poll_room_audio().is_some());
    }
    let s = core.line_stats();
    assert!(s.capture_underruns >= 8, "{s:?}");
}

#[test]
fn a_device_that_goes_away_ends_the_call_with_503_naming_it() {
    let t0 = Instant::now();
    let (mut core, mut lines, mut left) = open(t0, 60);
    core.handle_xrun(t0 + TICK);
    core.handle_device_gone(
        t0 + 2 * TICK,
        "device unplugged: capture `hw:CARD=Device`: No such device".into(),
    );
    records(&mut core, &mut lines, &mut left);
    let last = lines.last().unwrap();
    assert_eq!((last.0, last.1), (6, 503));
    assert!(last.2.contains("device unplugged") && last.2.contains("hw:CARD=Device"));
    assert!(core.is_done());
    assert_eq!(core.line_stats().xruns, 1);
    // Nothing after the end.
    core.handle_media_tick(t0 + 3 * TICK, None, 0);
    assert!(core.poll_room_audio().is_none() && core.poll_playback().is_none());
    assert_eq!(core.capture_wanted(), 0);
}

#[test]
fn shutdown_and_a_closed_room_end_it_once_each_with_their_reason() {
    let t0 = Instant::now();
    let (mut core, mut lines, mut left) = open(t0, 60);
    core.handle_command(t0 + TICK, Control::Hangup(HangupCause::Shutdown));
    core.handle_room_event(
        t0 + 2 * TICK,
        RoomEvent::Closed {
            reason: "room dismissed".into(),
        },
    );
    records(&mut core, &mut lines, &mut left);
    let ends: Vec<_> = lines.iter().filter(|l| l.0 == 6).collect();
    assert_eq!(ends, vec![&(6, 200, "shutdown requested".to_string())]);

    let (mut core, mut lines, mut left) = open(t0, 60);
    core.handle_room_event(
        t0 + TICK,
        RoomEvent::Closed {
            reason: "room dismissed".into(),
        },
    );
    records(&mut core, &mut lines, &mut left);
    assert_eq!(
        lines.last().unwrap(),
        &(6, 200, "room dismissed".to_string())
    );
}

#[test]
fn a_failed_setup_is_calling_then_disconnctd_with_the_reason() {
    let t0 = Instant::now();
    let mut core = LineCore::new(t0, config(t0, 60));
    core.room_entered(t0);
    core.setup_failed(
        t0,
        503,
        "capture device `hw:CARD=Nope`: cannot open: No such file or directory",
    );
    let (mut lines, mut left) = (Vec::new(), false);
    records(&mut core, &mut lines, &mut left);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!((lines[1].0, lines[1].1), (6, 503));
    assert!(lines[1].2.contains("hw:CARD=Nope"));
    assert!(left);
}
