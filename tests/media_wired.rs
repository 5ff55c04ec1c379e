//! Media features end to end through the gateway binary, against baresip. These need
//! the call layer to use the media API of issue 4:
//! - `[sip] codecs = [...]` read into `LocalMedia.codecs` (via `Codec::from_config_name`)
//!   so G.722 and Opus are offered;
//! - DTMF: `MediaBridge::poll_event` → `{"event":"dtmf"}` webhooks, `POST /trtc/dtmf`
//!   → `MediaBridge::send_dtmf`;
//! - `GET /trtc/callstats?id=` → `http::callstats::callstats_json` of the call's media snapshot.
//!
//! Until that is wired, the codec test fails at config load (unknown key) and the DTMF
//! and callstats tests at their HTTP calls.

mod common;

use common::audio::{assert_wav_tone, clipped_samples, read_wav, sox_tone, steady_level_dbfs};
use common::gateway::{Gateway, GatewayConfig};
use common::http;
use common::net::PortBlock;
use common::peers::{Baresip, BaresipOpts, P_BARESIP};
use common::tmp::TestDir;
use common::wait::{self, secs};
use common::webhook::WebhookReceiver;
use serde_json::json;
use std::time::Duration;

const OFFER: [&str; 4] = ["opus", "g722", "pcmu", "pcma"];

struct Call {
    gw: Gateway,
    phone: Baresip,
    id: String,
    _block: PortBlock,
    dir: TestDir,
}

/// baresip answering with only `baresip_codec` (its SDP name), the gateway offering all.
fn call(name: &str, baresip_codec: &str, notify: Option<&str>) -> Call {
    call_with(name, baresip_codec, notify, |_| {})
}

/// As [`call`], with the gateway's configuration adjusted by `tweak`.
fn call_with(
    name: &str,
    baresip_codec: &str,
    notify: Option<&str>,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Call {
    let dir = TestDir::new(name);
    let block = PortBlock::new();
    // baresip 1.0's aufile wants the codec's own rate and channels
    let src = dir.join("tone440.wav");
    let (rate, channels) = match baresip_codec {
        "opus" => ("48000", "2"),
        "G722" => ("16000", "1"),
        _ => ("8000", "1"),
    };
    if rate == "8000" {
        sox_tone(&src, 440, 60, false);
    } else {
        let st = std::process::Command::new("sox")
            .args([
                "-n",
                "-r",
                rate,
                "-c",
                channels,
                "-b",
                "16",
                "-e",
                "signed-integer",
            ])
            .arg(&src)
            .args(["synth", "60", "sine", "440", "vol", "0.5"])
            .status()
            .expect("sox");
        assert!(st.success());
    }
    let port = block.port(P_BARESIP);
    let phone = Baresip::start(
        &dir,
        &block,
        "baresip",
        &BaresipOpts {
            account: format!(
                "<sip:1002@127.0.0.1:{port}>;regint=0;answermode=auto;audio_codecs={baresip_codec}"
            ),
            source_wav: src,
            codec_modules: vec![match baresip_codec {
                "opus" => "opus.so".to_string(),
                "G722" => "g722.so".to_string(),
                _ => "g711.so".to_string(),
            }],
        },
    );
    let mut cfg = GatewayConfig::new(&dir, &block, format!("sip:{{number}}@127.0.0.1:{port}"));
    cfg.codecs = Some(OFFER.iter().map(|s| s.to_string()).collect());
    tweak(&mut cfg);
    let gw = Gateway::start(&dir, &cfg);
    let id = gw.startup("1002", 60, notify);
    gw.wait_state(&id, 5, secs(30));
    Call {
        gw,
        phone,
        id,
        _block: block,
        dir,
    }
}

/// Level of baresip's 440 Hz source (sox `vol 0.5`: −9.03 dBFS RMS).
const PHONE_TONE_DBFS: f64 = -9.03;
/// Level of the simulated room's 1 kHz speaker (amplitude 16000: −9.24 dBFS RMS).
const ROOM_TONE_DBFS: f64 = -9.24;

/// Hangs up, checks both tones, and returns (phone→room, room→phone) level errors in dB.
fn hang_up_and_check_audio(c: &mut Call) -> (f64, f64) {
    c.gw.shutdown(&c.id);
    c.gw.wait_done(&c.id, secs(30));
    // the room heard the phone's 440 Hz, the phone heard the room's 1 kHz
    let room_rec = c.gw.recording(&c.id);
    assert_wav_tone(&room_rec, 440.0);
    let rec = wait::until("baresip's recording (*-dec.wav)", secs(10), || {
        c.phone.recordings().into_iter().next()
    });
    wait::file_settled(&rec, secs(15));
    assert_wav_tone(&rec, 1000.0);
    c.gw.assert_healthy();
    let (room, phone) = (read_wav(&room_rec), read_wav(&rec));
    assert_eq!(clipped_samples(&room), 0, "the room's recording clips");
    assert_eq!(clipped_samples(&phone), 0, "baresip's recording clips");
    (
        steady_level_dbfs(&room) - PHONE_TONE_DBFS,
        steady_level_dbfs(&phone) - ROOM_TONE_DBFS,
    )
}

#[test]
fn baresip_answers_with_each_codec_and_audio_flows_both_ways() {
    let mut levels = vec![];
    for (baresip_codec, ours) in [
        ("opus", "opus"),
        ("G722", "G722"),
        ("PCMA", "PCMA"),
        ("PCMU", "PCMU"),
    ] {
        let mut c = call(&format!("media-codec-{ours}"), baresip_codec, None);
        std::thread::sleep(Duration::from_secs(4));
        let log = c.gw.proc.log_text();
        assert!(
            log.contains(&format!("media {ours} pt")),
            "{ours}: negotiated codec not in the log:\n{log}"
        );
        let (up, down) = hang_up_and_check_audio(&mut c);
        println!(
            "{ours}: audio both ways OK, level baresip->room {up:+.2} dB, room->baresip \
             {down:+.2} dB ({})",
            c.dir.path().display()
        );
        levels.push((ours, up, down));
    }
    // a level change in any codec fails here (issue 17: ±1 dB)
    for (codec, up, down) in levels {
        assert!(up.abs() <= 1.0, "{codec}: baresip->room {up:+.2} dB");
        assert!(down.abs() <= 1.0, "{codec}: room->baresip {down:+.2} dB");
    }
}

#[test]
fn callstats_reports_the_call() {
    let mut c = call("media-callstats", "opus", None);
    // RTT needs an RTCP report of baresip that answers one of ours (RTCP runs every ~5
    // s). It is usually known within 10 s; in about one run in six baresip's reports
    // carry no LSR for us and it stays null (not root-caused; the RTT arithmetic is
    // unit-tested in media::rtcp), so wait for it, bounded, and then accept either.
    let stats = || {
        let r = http::get(c.gw.http, &format!("/trtc/callstats?id={}", c.id));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut v = stats();
    while !v["rtt_ms"].is_number() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        v = stats();
    }
    println!("callstats: {v}");
    assert_eq!(v["codec"], "opus");
    assert!(v["rx"]["packets"].as_u64().unwrap() > 200);
    assert!(v["rx"]["lost"].as_i64().unwrap() <= 2);
    assert!(v["tx"]["packets"].as_u64().unwrap() > 200);
    assert!(v["rx"]["jitter_ms"].is_number());
    assert!(v["jitter_buffer"]["depth_ms"].is_u64());
    assert!(v["jitter_buffer"]["concealed_frames"].is_u64());
    assert!(v["jitter_buffer"]["late_frames"].is_u64());
    assert!(
        v["rtt_ms"].is_number() || v["rtt_ms"].is_null(),
        "rtt_ms is a number of milliseconds, or null while unknown: {v}"
    );
    if v["rtt_ms"].is_null() {
        eprintln!("callstats: no round-trip time from baresip's RTCP within 30 s");
    }
    hang_up_and_check_audio(&mut c);
}

#[test]
fn dtmf_from_the_api_reaches_baresip() {
    let mut c = call("media-dtmf-out", "PCMU", None);
    let r = http::post_json(
        c.gw.http,
        "/trtc/dtmf",
        &json!({"id": c.id, "digits": "19#"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // baresip logs each RFC 4733 digit it receives
    wait::until("baresip to log the digits", secs(10), || {
        let log = c.phone.proc.log_text();
        ["'1'", "'9'", "'#'"]
            .iter()
            .all(|d| log.contains(d))
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2)); // some audio for the checks below
    hang_up_and_check_audio(&mut c);
}

/// Issue 17: an app user's digits (a TRTC custom message; here the simulated room's
/// `key_digits`, or the LiteAV double's `KEY_DIGITS`) are keyed to the phone as RFC 4733
/// and reported as `dtmf` webhooks with `"from":"room"`.
#[test]
fn dtmf_from_the_room_reaches_baresip_and_the_webhook() {
    let rx = WebhookReceiver::start();
    let mut c = call_with("media-dtmf-room", "PCMU", Some(&rx.url()), |cfg| {
        cfg.room_key_digits = Some(("3*".into(), 2));
    });
    wait::until("baresip to log the room's digits", secs(15), || {
        let log = c.phone.proc.log_text();
        ["'3'", "'*'"].iter().all(|d| log.contains(d)).then_some(())
    });
    hang_up_and_check_audio(&mut c);
    rx.wait_disconnected(secs(20));
    let from_room: Vec<String> = rx
        .hooks()
        .iter()
        .map(|h| h.json())
        .filter(|b| b["event"] == "dtmf")
        .map(|b| {
            assert_eq!(b["from"], "room", "{b}");
            b["digit"].as_str().unwrap_or("?").to_string()
        })
        .collect();
    assert_eq!(from_room, ["3", "*"]);
}
