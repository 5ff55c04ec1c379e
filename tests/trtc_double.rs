//! The trtc room backend driven directly (not through the gateway) over a test double of
//! libliteav.so built against the SDK's real headers: entry, audio both ways checked by
//! frequency, every scripted failure mapped to its RoomError or RoomEvent, and resources
//! given back after each room.
//!
//! Skipped when the SDK was not present at build time, unless `SIPGW_REQUIRE_TRTC` is set.

#[path = "liteav_double/helpers.rs"]
mod helpers;

use helpers::*;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use trtc_sipgw::media::PcmFrame;
use trtc_sipgw::room::trtc::errors::meaning;
use trtc_sipgw::room::trtc::{TrtcBackend, TrtcRoom, TrtcRoomConfig};
use trtc_sipgw::room::{Room, RoomBackend, RoomError, RoomEvent, RoomId, RoomParams};

/// The remote user's tone in the double, and the phone's tone we send.
const ROOM_HZ: f64 = 700.0;
const PHONE_HZ: f64 = 1200.0;

/// Entry error codes the double is scripted to answer with, one user per code.
const ENTRY_ERRORS: [i32; 8] = [-3301, -3317, -3318, -3319, -3320, -100013, -205, -1];

struct Env {
    backend: TrtcBackend,
    double_dir: PathBuf,
    record_dir: PathBuf,
}

/// Tests share the double's instance counter, so they run one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds the double, scripts it (all environment set once, before any room exists) and
/// loads it as the SDK.
fn env(test: &str) -> Option<&'static Env> {
    static ENV: OnceLock<Env> = OnceLock::new();
    let (sdk_dir, shim) = sdk_or_skip(test)?;
    Some(ENV.get_or_init(|| {
        let double_dir = build_double(&sdk_dir);
        let record_dir = double_dir.join("rec");
        std::fs::create_dir_all(&record_dir).unwrap();
        std::env::set_var("LITEAV_DOUBLE_ENTER_DELAY_MS", "100");
        std::env::set_var("LITEAV_DOUBLE_TONE_HZ", ROOM_HZ.to_string());
        std::env::set_var("LITEAV_DOUBLE_RECORD_DIR", &record_dir);
        for code in ENTRY_ERRORS {
            std::env::set_var(
                format!("LITEAV_DOUBLE_ENTER_ERROR__{}", refused_user(code)),
                code.to_string(),
            );
        }
        std::env::set_var("LITEAV_DOUBLE_ENTER_RETURN__bad_param", "-2");
        std::env::set_var("LITEAV_DOUBLE_ENTER_THROW__thrower", "1");
        std::env::set_var("LITEAV_DOUBLE_KICK_AFTER_MS__kicked", "300");
        std::env::set_var("LITEAV_DOUBLE_DISMISS_AFTER_MS__dismissed", "300");
        std::env::set_var("LITEAV_DOUBLE_DISCONNECT_AFTER_MS__lost", "300");
        std::env::set_var("LITEAV_DOUBLE_ENTER_DELAY_MS__slow", "60000");
        // An app user keys "4#" on the DTMF command id, and "9" on another id (ignored).
        std::env::set_var("LITEAV_DOUBLE_KEY_DIGITS__keyer", "4#");
        std::env::set_var("LITEAV_DOUBLE_KEY_AFTER_MS__keyer", "100");
        std::env::set_var("LITEAV_DOUBLE_KEY_DIGITS__other_cmd", "9");
        std::env::set_var("LITEAV_DOUBLE_KEY_CMD_ID__other_cmd", "2");
        std::env::set_var("LITEAV_DOUBLE_KEY_AFTER_MS__other_cmd", "100");
        // The room's clock runs 15% fast against the call's tick.
        std::env::set_var("LITEAV_DOUBLE_FRAME_INTERVAL_US__drift", "17000");
        let config = TrtcRoomConfig {
            sdk_dir: Some(double_dir.clone()),
            shim: Some(shim),
            reconnect_timeout_s: 1,
            ..Default::default()
        };
        let backend = TrtcBackend::new(&config).expect("the double loads as the SDK");
        Env {
            backend,
            double_dir,
            record_dir,
        }
    }))
}

fn refused_user(code: i32) -> String {
    format!("refused{}", code.unsigned_abs())
}

fn params(user: &str, rate: u32) -> RoomParams {
    RoomParams {
        call_id: format!("call-{user}"),
        sdk_app_id: 1_400_000_000,
        user_id: user.into(),
        user_sig: "sig".into(),
        room: RoomId::Numeric(4242),
        sample_rate: rate,
    }
}

/// Calls one of the double's introspection functions.
fn double_fn(env: &Env, name: &[u8]) -> i32 {
    // SAFETY: the double exports these as `int f(void)`; opening it again only bumps the
    // loader's reference count of the copy already loaded.
    unsafe {
        let lib = libloading::Library::new(env.double_dir.join("libliteav.so")).unwrap();
        let f: libloading::Symbol<unsafe extern "C" fn() -> i32> = lib.get(name).unwrap();
        f()
    }
}

fn live_instances(env: &Env) -> i32 {
    double_fn(env, b"liteav_double_live_instances\0")
}

/// Every SDK instance destroyed (leaving runs on a pool thread, so wait for it).
fn assert_all_released(env: &Env) {
    assert!(
        wait_for(Duration::from_secs(10), || live_instances(env) == 0),
        "{} SDK instances still alive",
        live_instances(env)
    );
}

fn enter(env: &Env, p: RoomParams) -> Result<Box<dyn Room>, RoomError> {
    let fut = env.backend.enter(p);
    smol::block_on(async {
        futures_lite::future::or(fut, async {
            async_io::Timer::after(Duration::from_secs(10)).await;
            Err(RoomError {
                code: 0,
                message: "test: entry never resolved".into(),
            })
        })
        .await
    })
}

/// Enters through the typed API, to see the room's counters.
fn enter_typed(env: &Env, p: RoomParams) -> TrtcRoom {
    let entering = env.backend.start_entry(p).expect("entry starts");
    smol::block_on(async {
        futures_lite::future::or(async { Some(entering.await) }, async {
            async_io::Timer::after(Duration::from_secs(10)).await;
            None
        })
        .await
    })
    .expect("entry resolves")
    .expect("enters the double's room")
}

fn tone_frame(rate: u32, hz: f64, phase: &mut f64) -> PcmFrame {
    let mut f = PcmFrame::silence(rate);
    for s in f.pcm_mut() {
        *s = (10_000.0 * phase.sin()) as i16;
        *phase += 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    }
    f
}

/// Runs the room on a 20 ms tick for `ticks`, sending the phone's tone and collecting the
/// room's audio; returns what was received and the first event, if any.
fn run_ticks(room: &mut dyn Room, rate: u32, ticks: usize) -> (Vec<i16>, Option<RoomEvent>) {
    let mut received = Vec::new();
    let mut phase = 0.0;
    let start = Instant::now();
    for i in 0..ticks {
        let due = start + Duration::from_millis(20 * i as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        match room.poll_event(Instant::now()) {
            // The double's remote user entering is the room behaving, not an ending.
            Some(RoomEvent::RemoteUserEntered { .. }) | None => {}
            Some(e) => return (received, Some(e)),
        }
        room.send_audio(&tone_frame(rate, PHONE_HZ, &mut phase));
        // One frame per tick, as the gateway's call does.
        if let Some(f) = room.poll_audio() {
            assert_eq!(f.rate, rate);
            assert_eq!(f.len as u32, rate / 50);
            received.extend_from_slice(f.pcm());
        }
    }
    (received, None)
}

fn audio_both_ways(rate: u32) {
    let _g = serial();
    let Some(env) = env("audio_both_ways") else {
        return;
    };
    let user = format!("audio{rate}");
    let wav = env.record_dir.join(format!("{user}.wav"));
    let _ = std::fs::remove_file(&wav);

    let mut room = enter_typed(env, params(&user, rate));
    let (received, event) = run_ticks(&mut room, rate, 75);
    assert!(event.is_none(), "unexpected {event:?}");
    let stats = room.stats();
    eprintln!("audio at {rate} Hz: {stats:?}");
    assert_eq!(
        stats.rx_taken as usize * (rate as usize / 50),
        received.len()
    );
    assert!(stats.tx_frames >= 40, "{stats:?}");
    assert_eq!(stats.remote_enters, 1);
    assert_eq!(stats.rx_bad_format, 0);
    room.leave();
    room.leave(); // a second leave does nothing

    // Room → phone: the remote user's tone, at the rate asked for.
    assert!(
        received.len() >= (rate as usize / 50) * 40,
        "too little room audio: {} samples",
        received.len()
    );
    let share = tone_share(&received, rate, ROOM_HZ);
    assert!(share > 0.8, "room tone share {share}");
    assert!(tone_share(&received, rate, PHONE_HZ) < 0.05);

    // Phone → room: the double recorded what we sent (written when the instance is destroyed).
    assert_all_released(env);
    assert!(
        wait_for(Duration::from_secs(5), || wav.exists()),
        "no recording at {}",
        wav.display()
    );
    let (wav_rate, sent) = read_wav(&wav);
    assert_eq!(wav_rate, rate);
    assert!(
        sent.len() >= (rate as usize / 50) * 40,
        "too little sent: {} samples",
        sent.len()
    );
    let share = tone_share(&sent, rate, PHONE_HZ);
    assert!(share > 0.8, "phone tone share in the room {share}");
    assert!(tone_share(&sent, rate, ROOM_HZ) < 0.05);
}

#[test]
fn audio_both_ways_at_8k() {
    audio_both_ways(8000);
}

#[test]
fn audio_both_ways_at_16k() {
    audio_both_ways(16000);
}

#[test]
fn audio_both_ways_at_48k() {
    audio_both_ways(48000);
}

#[test]
fn a_fast_room_clock_is_trimmed_so_latency_stays_bounded() {
    let _g = serial();
    let Some(env) = env("drift") else { return };
    let mut room = enter_typed(env, params("drift", 16000));
    let (received, event) = run_ticks(&mut room, 16000, 200);
    assert!(event.is_none(), "unexpected {event:?}");
    let stats = room.stats();
    eprintln!("drifting room clock: {stats:?}");
    room.leave();
    // 15% more frames arrive than the tick takes: the surplus is dropped, and counted.
    assert!(stats.rx_dropped_late > 0, "{stats:?}");
    // Every queued frame was taken, trimmed, or is still waiting in the bounded queue.
    let accounted = stats.rx_taken + stats.rx_dropped_late;
    assert!(accounted <= stats.rx_frames, "{stats:?}");
    assert!(
        stats.rx_frames - accounted <= trtc_sipgw::room::trtc::shared::RX_QUEUE_FRAMES as u64,
        "{stats:?}"
    );
    assert!(
        stats.rx_max_depth <= trtc_sipgw::room::trtc::room::RX_MAX_BACKLOG + 1,
        "{stats:?}"
    );
    assert!(tone_share(&received, 16000, ROOM_HZ) > 0.5);
    assert_all_released(env);
}

#[test]
fn several_rooms_at_once_each_carry_their_own_audio() {
    let _g = serial();
    let Some(env) = env("several") else { return };
    let rates = [8000, 16000, 48000, 16000, 8000];
    let mut rooms: Vec<(u32, TrtcRoom, Vec<i16>)> = rates
        .iter()
        .enumerate()
        .map(|(i, &rate)| {
            (
                rate,
                enter_typed(env, params(&format!("multi{i}"), rate)),
                Vec::new(),
            )
        })
        .collect();
    assert_eq!(live_instances(env), rates.len() as i32);
    let start = Instant::now();
    for tick in 0..60u64 {
        if let Some(wait) =
            (start + Duration::from_millis(20 * tick)).checked_duration_since(Instant::now())
        {
            std::thread::sleep(wait);
        }
        for (rate, room, got) in rooms.iter_mut() {
            let event = room.poll_event(Instant::now());
            assert!(
                matches!(event, None | Some(RoomEvent::RemoteUserEntered { .. })),
                "{event:?}"
            );
            room.send_audio(&PcmFrame::silence(*rate));
            if let Some(f) = room.poll_audio() {
                assert_eq!(f.rate, *rate);
                got.extend_from_slice(f.pcm());
            }
        }
    }
    for (rate, mut room, got) in rooms {
        room.leave();
        let share = tone_share(&got, rate, ROOM_HZ);
        assert!(share > 0.8, "{rate} Hz room: tone share {share}");
    }
    assert_all_released(env);
}

#[test]
fn named_rooms_are_entered_too() {
    let _g = serial();
    let Some(env) = env("named_rooms") else {
        return;
    };
    let mut p = params("named", 16000);
    p.room = RoomId::Named("support_line_7".into());
    let mut room = enter(env, p).expect("enters a named room");
    room.leave();
    assert_all_released(env);
}

#[test]
fn each_entry_error_is_a_room_error_with_its_code_and_meaning() {
    let _g = serial();
    let Some(env) = env("entry_errors") else {
        return;
    };
    for code in ENTRY_ERRORS {
        let err = enter(env, params(&refused_user(code), 16000))
            .err()
            .expect("entry refused");
        assert_eq!(err.code, code, "{err}");
        assert_eq!(err.message, meaning(code));
        assert!(err.to_string().contains(&code.to_string()));
    }
    assert_all_released(env);
}

#[test]
fn a_synchronous_refusal_fails_entry_at_once() {
    let _g = serial();
    let Some(env) = env("sync_refusal") else {
        return;
    };
    let err = enter(env, params("bad_param", 16000))
        .err()
        .expect("refused");
    assert_eq!(err.code, -2);
    let err = enter(env, params("odd_rate", 22050))
        .err()
        .expect("refused");
    assert!(err.message.contains("22050"), "{err}");
    assert_all_released(env);
}

/// A C++ exception thrown inside the SDK stops at the shim's C boundary: entry fails with
/// the SDK's catch-all error and the process goes on (unwinding into Rust would abort it).
#[test]
fn an_sdk_exception_becomes_an_error_code() {
    let _g = serial();
    let Some(env) = env("sdk_exception") else {
        return;
    };
    let err = enter(env, params("thrower", 16000)).err().expect("refused");
    assert_eq!(err.code, -1, "{err}");
    // The SDK still works afterwards.
    let room = enter(env, params("after_throw", 16000)).expect("enters");
    drop(room);
    assert_all_released(env);
}

fn closes_with(user: &str, words: &str) {
    let _g = serial();
    let Some(env) = env(user) else { return };
    let mut room = enter(env, params(user, 16000)).expect("enters");
    let (_, event) = run_ticks(room.as_mut(), 16000, 250);
    let Some(RoomEvent::Closed { reason }) = event else {
        panic!("{user}: the room never closed")
    };
    assert!(
        reason.contains(words),
        "{user}: reason `{reason}` lacks `{words}`"
    );
    assert!(room.poll_event(Instant::now()).is_none(), "closed once");
    room.leave();
    assert_all_released(env);
}

/// Issue 17: digits from the phone go to the room as custom command messages (id 1,
/// reliable, ordered, `{"dtmf":"5"}`); digits an app user sends that way come back as
/// `RoomEvent::Dtmf`, and messages on other ids are ignored.
#[test]
fn dtmf_crosses_the_room_both_ways_as_custom_messages() {
    let _g = serial();
    let Some(env) = env("dtmf") else { return };
    let _ = std::fs::remove_file(env.record_dir.join("keyer.cmd"));
    let mut room = enter_typed(env, params("keyer", 16000));
    // the channel opens a moment after entry; custom messages only need the room
    let _ = run_ticks(&mut room, 16000, 5);
    room.send_dtmf('5');
    room.send_dtmf('x'); // not a digit: nothing sent
    room.send_dtmf('*');
    let mut digits = vec![];
    let start = Instant::now();
    while digits.len() < 2 && start.elapsed() < Duration::from_secs(5) {
        match run_ticks(&mut room, 16000, 5) {
            (_, Some(RoomEvent::Dtmf { digit })) => digits.push(digit),
            (_, Some(other)) => panic!("unexpected room event {other:?}"),
            (_, None) => {}
        }
    }
    assert_eq!(digits, ['4', '#'], "digits keyed by the app user");
    room.leave();
    drop(room);
    let sent = std::fs::read_to_string(env.record_dir.join("keyer.cmd")).unwrap_or_default();
    assert_eq!(sent, "1 11 {\"dtmf\":\"5\"}\n1 11 {\"dtmf\":\"*\"}\n");

    let mut other = enter_typed(env, params("other_cmd", 16000));
    let (_, event) = run_ticks(&mut other, 16000, 40);
    assert_eq!(
        event, None,
        "a message on another command id is not a digit"
    );
    other.leave();
    drop(other);
    assert_all_released(env);
}

#[test]
fn being_kicked_closes_the_room() {
    closes_with("kicked", "kicked");
}

#[test]
fn a_dismissed_room_closes() {
    closes_with("dismissed", "dismissed");
}

#[test]
fn a_connection_lost_for_good_closes_the_room() {
    closes_with("lost", "connection to TRTC lost");
}

#[test]
fn an_abandoned_entry_leaves_and_frees_the_instance() {
    let _g = serial();
    let Some(env) = env("abandoned") else { return };
    let fut = env.backend.enter(params("slow", 16000));
    let outcome = smol::block_on(futures_lite::future::or(async { Some(fut.await) }, async {
        async_io::Timer::after(Duration::from_millis(300)).await;
        None
    }));
    assert!(outcome.is_none(), "entry should still be pending");
    assert_all_released(env);
}

#[test]
fn sdk_log_files_are_off_without_a_log_dir() {
    let _g = serial();
    let Some(env) = env("log_files") else { return };
    assert_eq!(double_fn(env, b"liteav_double_log_file_disabled\0"), 1);
}
