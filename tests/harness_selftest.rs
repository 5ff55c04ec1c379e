//! Self-tests of the end-to-end harness (tests/common): they run without the gateway
//! and prove each piece works — peers start and become ready, sipp scenarios complete
//! against a sipp counterpart, kamailio authenticates and routes to a registered
//! baresip, captures decode, the tone checker tells a tone from silence or a wrong tone,
//! the HTTP client and the webhook receiver talk to each other.

mod common;

use common::audio::{analyze, assert_tone, assert_wav_tone, read_wav, sox_silence, sox_tone};
use common::callstate::{assert_answered, assert_ending, parse_lines};
use common::net::{PortBlock, BLOCK_SIZE};
use common::peers::*;
use common::proc::Proc;
use common::rtpcap::Capture;
use common::tmp::TestDir;
use common::webhook::WebhookReceiver;
use common::{http, wait};
use serde_json::json;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

#[test]
fn tone_checker_detects_tone_and_rejects_silence_and_wrong_tone() {
    let dir = TestDir::new("tone");
    let t440 = dir.join("t440.wav");
    let t440u = dir.join("t440u.wav");
    let quiet = dir.join("silence.wav");
    sox_tone(&t440, 440, 3, false);
    sox_tone(&t440u, 440, 3, true);
    sox_silence(&quiet, 3);

    let r = assert_wav_tone(&t440, 440.0);
    assert!(r.snr_db > 30.0, "a clean sox tone has a high SNR: {r:?}");
    assert_wav_tone(&t440u, 440.0); // µ-law WAV decodes too
    assert_eq!(read_wav(&t440u).rate, 8000);

    let a = read_wav(&t440);
    assert!(
        !analyze(&a, 1000.0, 0.5).carries(1000.0),
        "440 Hz must not pass as 1000 Hz"
    );
    let s = read_wav(&quiet);
    assert!(
        !analyze(&s, 440.0, 0.5).carries(440.0),
        "silence must not pass as a tone"
    );

    // A tone buried in loud noise fails on SNR.
    let mut seed = 0x1234_5678u32;
    let samples: Vec<i16> = (0..24_000)
        .map(|i| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = f64::from((seed >> 16) as u16 as i16) / 32768.0 * 0.5;
            let tone = 0.05 * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 8000.0).sin();
            ((noise + tone) * 32767.0) as i16
        })
        .collect();
    let noisy = common::audio::Audio {
        rate: 8000,
        samples,
    };
    let n = analyze(&noisy, 440.0, 0.5);
    assert!(!n.carries(440.0), "noise with a weak tone must fail: {n:?}");
}

#[test]
#[should_panic(expected = "does not carry")]
fn assert_tone_panics_on_wrong_tone() {
    let dir = TestDir::new("tone-wrong");
    let p = dir.join("t.wav");
    sox_tone(&p, 1000, 2, false);
    assert_tone(&read_wav(&p), 440.0, "wrong tone");
}

#[test]
fn http_client_talks_to_webhook_receiver() {
    let rx = WebhookReceiver::start();
    let body = json!({"id": "abc", "timestamp": 1.5, "state": 1, "state_text": "CALLING", "status_code": 0, "reason": ""});
    let r = http::post_json(rx.addr(), "/hook", &body);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({}));
    let hooks = wait::until("one webhook", Duration::from_secs(5), || {
        let h = rx.hooks();
        (!h.is_empty()).then_some(h)
    });
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].method, "POST");
    assert_eq!(hooks[0].path, "/hook");
    assert_eq!(hooks[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(hooks[0].json(), body);
    // wait_disconnected sees a state-6 hook.
    let six = json!({"id": "abc", "timestamp": 2.5, "state": 6, "state_text": "DISCONNCTD", "status_code": 200, "reason": "phone hung up"});
    http::post_json(rx.addr(), "/hook", &six);
    assert_eq!(rx.wait_disconnected(Duration::from_secs(5)).len(), 2);
}

#[test]
fn http_parser_handles_chunked_and_content_length() {
    let raw = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n";
    let r = http::parse_response(raw).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"a": 1}));
    let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}garbage";
    assert_eq!(http::parse_response(raw).unwrap().body, b"{}");
}

#[test]
fn process_guard_kills_its_process_group_on_drop() {
    let dir = TestDir::new("proc");
    // A shell that leaves a grandchild: both must be gone after the drop.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "sleep 300 & echo child $!; wait"]);
    let mut p = Proc::spawn("sleeper", &mut cmd, dir.path());
    p.wait_log("child ", Duration::from_secs(5));
    let grandchild: u32 = p
        .log_text()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let pid = p.pid();
    drop(p);
    wait::until(
        "the guarded processes to be gone",
        Duration::from_secs(5),
        || {
            let alive = |pid: u32| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| !s.contains(") Z "))
                    .unwrap_or(false)
            };
            (!alive(pid) && !alive(grandchild)).then_some(())
        },
    );
}

#[test]
fn port_blocks_are_distinct_and_free() {
    let a = PortBlock::new();
    let b = PortBlock::new();
    let (a0, a1) = a.range(0, BLOCK_SIZE - 1);
    let (b0, b1) = b.range(0, BLOCK_SIZE - 1);
    assert!(a1 < b0 || b1 < a0, "blocks overlap: {a0}-{a1} / {b0}-{b1}");
    assert!(a1 < 32768, "blocks stay below the ephemeral range");
}

#[test]
fn callstate_parser_accepts_spec_example_and_checks_shape() {
    let data = "2022-06-11T22:22:41.909837+08:00 1 CALLING 0\n\
2022-06-11T22:22:42.505195+08:00 3 EARLY 180 Ringing\n\
2022-06-11T22:22:46.758498+08:00 3 EARLY 183 Session Progress\n\
2022-06-11T22:22:50.400547+08:00 4 CONNECTING 200 OK\n\
2022-06-11T22:22:50.402426+08:00 5 CONFIRMED 200 OK\n\
2022-06-11T22:23:38.690629+08:00 6 DISCONNCTD 200 Normal call clearing\n";
    let lines = parse_lines(data);
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[2].reason, "Session Progress");
    assert_eq!(lines[0].reason, "");
    assert_answered(&lines);
    assert_ending(&lines, 200, "normal CALL");
    let bad = std::panic::catch_unwind(|| parse_lines("2022-06-11T22:22:41+08:00 1 CALLING 0\n"));
    assert!(bad.is_err(), "a timestamp without microseconds is refused");
    let twice = parse_lines(&format!(
        "{data}2022-06-11T22:23:39.000000+08:00 6 DISCONNCTD 200 again\n"
    ));
    assert!(
        std::panic::catch_unwind(|| assert_answered(&twice)).is_err(),
        "two DISCONNCTD are refused"
    );
}

fn loopback(port: u16) -> SocketAddr {
    format!("127.0.0.1:{port}").parse().unwrap()
}

fn tones(dir: &TestDir) {
    sox_tone(&dir.join("tone440_ulaw.wav"), 440, 30, true);
    sox_tone(&dir.join("tone1k_ulaw.wav"), 1000, 30, true);
}

#[test]
fn sipp_uas_answer_streams_both_ways_and_capture_decodes() {
    let dir = TestDir::new("sipp-answer");
    let block = PortBlock::new();
    tones(&dir);
    let uas_media = block.port(P_SIPP_UAS_MEDIA);
    let uac_media = block.port(P_SIPP_UAC_MEDIA);
    let cap = Capture::start(
        dir.path(),
        "cap",
        &format!("udp dst port {uas_media} or udp dst port {uac_media}"),
    );
    let mut uas = Sipp::uas(&dir, &block, "uas_answer.xml", 1);
    let mut uac = Sipp::uac(
        &dir,
        &block,
        "uac_stream.xml",
        loopback(uas.sip_port),
        "1002",
        1,
        &[],
    );
    uac.proc.assert_success(Duration::from_secs(30));
    uas.proc.assert_success(Duration::from_secs(30));
    let streams = cap.finish();
    let to_uas = streams
        .iter()
        .find(|s| s.dst_port == uas_media)
        .expect("RTP to the UAS media port");
    let to_uac = streams
        .iter()
        .find(|s| s.dst_port == uac_media)
        .expect("RTP to the UAC media port");
    assert_eq!(to_uas.payload_type, 0);
    assert_tone(&to_uas.audio, 1000.0, "caller -> sipp UAS");
    assert_tone(&to_uac.audio, 440.0, "sipp UAS -> caller");
}

#[test]
fn sipp_uas_progress_then_bye_completes() {
    let dir = TestDir::new("sipp-progress");
    let block = PortBlock::new();
    tones(&dir);
    let mut uas = Sipp::uas(&dir, &block, "uas_progress_bye.xml", 1);
    let mut uac = Sipp::uac(
        &dir,
        &block,
        "uac_wait_bye.xml",
        loopback(uas.sip_port),
        "1002",
        1,
        &[],
    );
    uac.proc.assert_success(Duration::from_secs(30));
    uas.proc.assert_success(Duration::from_secs(30));
    let msgs: String = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("uac_wait_bye_"))
        .filter(|e| e.file_name().to_string_lossy().ends_with("_messages.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(msgs.contains("SIP/2.0 180 Ringing"), "UAC saw 180");
    assert!(msgs.contains("SIP/2.0 183 Session Progress"), "UAC saw 183");
    assert!(
        msgs.contains("BYE sip:sipp@127.0.0.1:"),
        "UAS sent BYE to the caller's Contact"
    );
}

#[test]
fn sipp_uas_ring_until_cancel_completes() {
    let dir = TestDir::new("sipp-cancel");
    let block = PortBlock::new();
    let mut uas = Sipp::uas(&dir, &block, "uas_ring_cancel.xml", 1);
    let mut uac = Sipp::uac(
        &dir,
        &block,
        "uac_cancel.xml",
        loopback(uas.sip_port),
        "1002",
        1,
        &[],
    );
    uac.proc.assert_success(Duration::from_secs(30));
    uas.proc.assert_success(Duration::from_secs(30));
}

#[test]
fn sipp_uas_rejections_complete() {
    for scenario in ["uas_busy.xml", "uas_488.xml"] {
        let dir = TestDir::new("sipp-reject");
        let block = PortBlock::new();
        let mut uas = Sipp::uas(&dir, &block, scenario, 1);
        let mut uac = Sipp::uac(
            &dir,
            &block,
            "uac_rejected.xml",
            loopback(uas.sip_port),
            "1002",
            1,
            &[],
        );
        uac.proc.assert_success(Duration::from_secs(30));
        uas.proc.assert_success(Duration::from_secs(30));
    }
}

#[test]
fn sipp_uas_silent_and_g729_answer_then_take_bye() {
    for scenario in ["uas_silent.xml", "uas_g729.xml"] {
        let dir = TestDir::new("sipp-silent");
        let block = PortBlock::new();
        let mut uas = Sipp::uas(&dir, &block, scenario, 1);
        let mut uac = Sipp::uac(
            &dir,
            &block,
            "uac_bye_after_answer.xml",
            loopback(uas.sip_port),
            "1002",
            1,
            &[],
        );
        uac.proc.assert_success(Duration::from_secs(30));
        uas.proc.assert_success(Duration::from_secs(30));
    }
}

#[test]
fn sipp_uas_ten_concurrent_calls_stream_separately() {
    let dir = TestDir::new("sipp-ten");
    let block = PortBlock::new();
    tones(&dir);
    let (m0, m1) = block.range(P_SIPP_UAS_MEDIA, P_SIPP_UAS_MEDIA_END);
    let cap = Capture::start(dir.path(), "cap", &format!("udp dst portrange {m0}-{m1}"));
    let mut uas = Sipp::uas(&dir, &block, "uas_answer.xml", 10);
    let mut uac = Sipp::uac(
        &dir,
        &block,
        "uac_stream.xml",
        loopback(uas.sip_port),
        "1002",
        10,
        &["-l", "10", "-r", "10"],
    );
    uac.proc.assert_success(Duration::from_secs(60));
    uas.proc.assert_success(Duration::from_secs(30));
    let streams = cap.finish();
    // sipp 3.6 gives all calls one media port; calls differ by SSRC.
    assert!(streams.iter().all(|s| (m0..=m1).contains(&s.dst_port)));
    let mut ssrcs: Vec<u32> = streams.iter().map(|s| s.ssrc).collect();
    ssrcs.sort();
    ssrcs.dedup();
    assert_eq!(
        ssrcs.len(),
        10,
        "ten RTP streams (SSRCs) towards the UAS: {streams:?}"
    );
    for s in &streams {
        assert_tone(&s.audio, 1000.0, &format!("call with SSRC {:08x}", s.ssrc));
    }
}

#[test]
fn kamailio_routes_authenticated_call_to_registered_baresip() {
    let dir = TestDir::new("kam");
    let block = PortBlock::new();
    tones(&dir);
    let src = dir.join("tone440.wav");
    sox_tone(&src, 440, 30, false);
    let kam = Kamailio::start(&dir, &block, &[("1001", "pw1001"), ("1002", "pw1002")]);
    let bs = Baresip::start(
        &dir,
        &block,
        "baresip-1002",
        &BaresipOpts {
            account: format!(
                "<sip:1002@{}>;auth_pass=pw1002;regint=60;answermode=auto;audio_codecs=PCMU",
                kam.addr
            ),
            source_wav: src,
            codec_modules: Vec::new(),
        },
    );
    bs.wait_registered(Duration::from_secs(20));
    let uac_media = block.port(P_SIPP_UAC_MEDIA);
    let cap = Capture::start(dir.path(), "cap", &format!("udp dst port {uac_media}"));
    let mut uac = Sipp::uac(
        &dir,
        &block,
        "uac_auth_stream.xml",
        kam.addr,
        "1002",
        1,
        &["-au", "1001", "-ap", "pw1001", "-key", "caller", "1001"],
    );
    uac.proc.assert_success(Duration::from_secs(40));
    let streams = cap.finish();
    let heard = streams.first().expect("RTP from baresip to the caller");
    assert_tone(&heard.audio, 440.0, "baresip -> caller");
    let rec = wait::until(
        "baresip's recording (*-dec.wav)",
        Duration::from_secs(10),
        || bs.recordings().into_iter().next(),
    );
    // baresip closes the file when it handles the BYE.
    wait::file_settled(&rec, Duration::from_secs(15));
    assert_wav_tone(&rec, 1000.0);
}
