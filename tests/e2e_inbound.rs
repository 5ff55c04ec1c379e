//! Issue 10, calls into the box: a sipp caller dials a number an `[[inbound]]` rule
//! takes; the box answers 100/180, enters the rule's room as its robot, plays ringback
//! on a 183 while the callees ring, and answers 200 when the first callee enters the room
//! (the simulated room's `callee_enter_after_ms`). Audio both ways is checked by
//! frequency: the caller's 440 Hz in the room's recording, and at the caller first the
//! 425 Hz ringback, then the callee's 1 kHz. Refusals (nobody answers in `timeout_s`, a
//! number no rule takes) reach the caller as their final response and the call's
//! DISCONNCTD line.

mod common;

use common::audio::{analyze, assert_wav_tone, Audio};
use common::callengine::{CallEngineStandIn, Script};
use common::callstate::show;
use common::gateway::{Gateway, GatewayConfig};
use common::http;
use common::net::PortBlock;
use common::peers::{Sipp, P_SIPP_UAC_MEDIA};
use common::rig::make_tones;
use common::rtpcap::Capture;
use common::tmp::TestDir;
use common::wait::{secs, until};
use common::webhook::WebhookReceiver;
use serde_json::Value;

fn rules(timeout_s: u32) -> String {
    format!(
        "\n[trtc.apps.\"1400000001\"]\nsecret_key = \"inbound-test-secret-key\"\n\n\
         [[inbound]]\nnumber = \"8001\"\nsdk_app_id = 1400000001\nrobot = \"sipgw_robot\"\n\
         callees = [\"alice\", \"bob\"]\nstr_room_id = \"in_{{id}}\"\ntimeout_s = {timeout_s}\n"
    )
}

fn gateway(dir: &TestDir, block: &PortBlock, callee_after_ms: u32, timeout_s: u32) -> Gateway {
    gateway_notifying(dir, block, callee_after_ms, timeout_s, None)
}

/// As [`gateway`], with the rule's `notify_url`.
fn gateway_notifying(
    dir: &TestDir,
    block: &PortBlock,
    callee_after_ms: u32,
    timeout_s: u32,
    notify_url: Option<&str>,
) -> Gateway {
    let mut cfg = GatewayConfig::new(dir, block, "sip:{number}@127.0.0.1:9".into());
    cfg.callee_enter_after_ms = Some(callee_after_ms);
    cfg.extra_toml = rules(timeout_s);
    if let Some(url) = notify_url {
        cfg.extra_toml
            .push_str(&format!("notify_url = \"{url}\"\n"));
    }
    Gateway::start(dir, &cfg)
}

/// Runs a sipp caller to `number` with `scenario` and asserts it got what it expected.
fn call_in(dir: &TestDir, block: &PortBlock, gw: &Gateway, scenario: &str, number: &str) {
    let mut sipp = Sipp::uac(
        dir,
        block,
        scenario,
        gw.sip,
        number,
        1,
        &["-timeout", "30s"],
    );
    sipp.proc.assert_success(secs(40));
}

/// The newest inbound call of `GET /trtc/calls`.
fn inbound_call(gw: &Gateway) -> Value {
    let calls = http::get(gw.http, "/trtc/calls").json();
    calls["calls"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["direction"] == "inbound").cloned())
        .unwrap_or_else(|| panic!("no inbound call in {calls}"))
}

#[test]
fn a_caller_hears_ringback_then_the_callee_who_entered_the_room() {
    let dir = TestDir::new("inbound-answer");
    let block = PortBlock::new();
    make_tones(&dir);
    let cap = Capture::start(
        dir.path(),
        "caller-rx",
        &format!("udp dst port {}", block.port(P_SIPP_UAC_MEDIA)),
    );
    let hooks = WebhookReceiver::start();
    let mut gw = gateway_notifying(&dir, &block, 1500, 30, Some(&hooks.url()));
    call_in(&dir, &block, &gw, "uac_inbound.xml", "8001");

    let call = inbound_call(&gw);
    let id = call["id"].as_str().unwrap().to_string();
    let lines = gw.wait_done(&id, secs(20));
    let got: Vec<(u8, u16)> = lines.iter().map(|l| (l.state, l.code)).collect();
    assert_eq!(
        got,
        vec![(2, 0), (3, 180), (3, 183), (4, 200), (5, 200), (6, 200)],
        "{}",
        show(&lines)
    );
    assert!(lines[5].reason.contains("hung up"), "{}", show(&lines));
    // The rule's webhooks tell the same story, INCOMING first.
    let posted: Vec<(u64, u64)> = hooks
        .wait_disconnected(secs(20))
        .iter()
        .map(|h| h.json())
        .filter(|b| b["id"] == id.as_str())
        .map(|b| {
            (
                b["state"].as_u64().unwrap(),
                b["status_code"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        posted,
        vec![(2, 0), (3, 180), (3, 183), (4, 200), (5, 200), (6, 200)]
    );
    let answered_after = (lines[3].timestamp - lines[0].timestamp).num_milliseconds();
    assert!(
        (1400..4000).contains(&answered_after),
        "the callee enters 1.5 s after the robot; answered after {answered_after} ms"
    );
    assert_eq!(call["number"], "sipp", "{call}");

    // The room heard the caller.
    gw.note_user(&id, "sipgw_robot");
    assert_wav_tone(&gw.recording(&id), 440.0);
    // The caller heard ringback, then the callee.
    let streams = cap.finish();
    let heard = streams
        .iter()
        .max_by_key(|s| s.audio.samples.len())
        .expect("the gateway sent RTP to the caller");
    let rate = heard.audio.rate as usize;
    let first = Audio {
        rate: heard.audio.rate,
        samples: heard.audio.samples[..rate].to_vec(),
    };
    let ringback = analyze(&first, 425.0, 0.0);
    assert!(ringback.carries(425.0), "ringback: {ringback:?}");
    let callee = analyze(&heard.audio, 1000.0, 3.0);
    assert!(callee.carries(1000.0), "after the answer: {callee:?}");
    eprintln!(
        "ringback SNR {:.1} dB, callee SNR {:.1} dB",
        ringback.snr_db, callee.snr_db
    );
    gw.assert_healthy();
}

#[test]
fn nobody_answering_is_480_and_an_unknown_number_404() {
    let dir = TestDir::new("inbound-refused");
    let block = PortBlock::new();
    make_tones(&dir);
    // The simulated callee never enters; the rule rings for 2 s.
    let mut gw = gateway(&dir, &block, 0, 2);
    call_in(&dir, &block, &gw, "uac_inbound_480.xml", "8001");
    let id = inbound_call(&gw)["id"].as_str().unwrap().to_string();
    let lines = gw.wait_done(&id, secs(20));
    let last = lines.last().unwrap();
    assert_eq!((last.state, last.code), (6, 480), "{}", show(&lines));
    assert!(last.reason.contains("within 2 s"), "{}", show(&lines));
    assert_eq!(lines[0].state, 2, "INCOMING first: {}", show(&lines));

    // A number no rule takes is refused at once and leaves no call.
    call_in(&dir, &block, &gw, "uac_inbound_404.xml", "9999");
    until("the 404 logged", secs(5), || {
        gw.proc
            .log_text()
            .contains("no [[inbound]] rule for 9999")
            .then_some(())
    });
    let calls = http::get(gw.http, "/trtc/calls").json();
    let inbound = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["direction"] == "inbound")
        .count();
    assert_eq!(inbound, 1, "{calls}");
    gw.assert_healthy();
}

/// A gateway whose `[callengine]` is the stand-in playing `script`; the simulated callee
/// never enters the room, so only the Call Engine's word answers or refuses.
fn with_engine(dir: &TestDir, block: &PortBlock, script: Script) -> (Gateway, CallEngineStandIn) {
    let engine = CallEngineStandIn::start("inbound-test-secret-key", script);
    let mut cfg = GatewayConfig::new(dir, block, "sip:{number}@127.0.0.1:9".into());
    cfg.callee_enter_after_ms = Some(0);
    cfg.extra_toml = rules(30) + &engine.toml();
    (Gateway::start(dir, &cfg), engine)
}

/// The inbound call's history once it ended.
fn inbound_lines(gw: &Gateway) -> Vec<common::callstate::StateLine> {
    let id = inbound_call(gw)["id"].as_str().unwrap().to_string();
    gw.wait_done(&id, secs(20))
}

#[test]
fn the_call_engine_accepting_answers_the_caller() {
    let dir = TestDir::new("inbound-ce-accept");
    let block = PortBlock::new();
    make_tones(&dir);
    let (mut gw, engine) = with_engine(&dir, &block, Script::Accept);
    call_in(&dir, &block, &gw, "uac_inbound.xml", "8001");
    let lines = inbound_lines(&gw);
    let got: Vec<u8> = lines.iter().map(|l| l.state).collect();
    assert_eq!(got, vec![2, 3, 3, 4, 5, 6], "{}", show(&lines));
    assert_eq!(engine.faults(), Vec::<String>::new());
    let commands = engine.commands();
    assert_eq!(commands[0], "start_call_by_robot", "{commands:?}");
    assert!(
        commands.contains(&"get_call_info".to_string()),
        "{commands:?}"
    );
    assert!(
        !commands.contains(&"end_call".to_string()),
        "answered: no end_call: {commands:?}"
    );
    assert!(
        !gw.proc.log_text().contains("usersig="),
        "a UserSig in the log"
    );
    gw.assert_healthy();
}

#[test]
fn declined_busy_no_answer_and_engine_errors_reach_the_caller() {
    for (script, code, scenario, keyword) in [
        (Script::Decline, 603, "uac_inbound_603.xml", "declined"),
        (Script::Busy, 486, "uac_inbound_486.xml", "busy"),
        (
            Script::NoAnswer,
            480,
            "uac_inbound_480.xml",
            "no callee answered",
        ),
        (Script::Error, 503, "uac_inbound_503.xml", "Call Engine"),
    ] {
        let dir = TestDir::new(&format!("inbound-ce-{code}"));
        let block = PortBlock::new();
        make_tones(&dir);
        let (mut gw, engine) = with_engine(&dir, &block, script);
        call_in(&dir, &block, &gw, scenario, "8001");
        let lines = inbound_lines(&gw);
        let last = lines.last().unwrap();
        assert_eq!(
            (last.state, last.code),
            (6, code),
            "{script:?}: {}",
            show(&lines)
        );
        assert!(
            last.reason.contains(keyword),
            "{script:?}: {}",
            show(&lines)
        );
        assert_eq!(engine.faults(), Vec::<String>::new(), "{script:?}");
        if script != Script::Error {
            // Ringing ended without an answer: the app users' phones are stopped.
            until("end_call", secs(5), || {
                engine
                    .commands()
                    .contains(&"end_call".to_string())
                    .then_some(())
            });
        }
        gw.assert_healthy();
    }
}

#[test]
fn a_caller_who_hangs_up_first_stops_the_ringing() {
    let dir = TestDir::new("inbound-ce-cancel");
    let block = PortBlock::new();
    make_tones(&dir);
    let (mut gw, engine) = with_engine(&dir, &block, Script::Ring);
    call_in(&dir, &block, &gw, "uac_inbound_cancel.xml", "8001");
    let lines = inbound_lines(&gw);
    let last = lines.last().unwrap();
    assert_eq!((last.state, last.code), (6, 487), "{}", show(&lines));
    assert!(last.reason.contains("caller"), "{}", show(&lines));
    until("end_call", secs(5), || {
        engine
            .commands()
            .contains(&"end_call".to_string())
            .then_some(())
    });
    assert_eq!(engine.faults(), Vec::<String>::new());
    gw.assert_healthy();
}

#[test]
fn an_inbound_call_answers_callstats_and_shutdown_like_an_outbound_one() {
    let dir = TestDir::new("inbound-api");
    let block = PortBlock::new();
    make_tones(&dir);
    let gw = gateway(&dir, &block, 500, 30);
    let mut sipp = Sipp::uac(
        &dir,
        &block,
        "uac_wait_bye.xml",
        gw.sip,
        "8001",
        1,
        &["-timeout", "30s"],
    );
    let id = until("the inbound call", secs(10), || {
        let calls = http::get(gw.http, "/trtc/calls").json();
        calls["calls"].as_array().and_then(|c| {
            c.iter()
                .find(|c| c["direction"] == "inbound")
                .and_then(|c| c["id"].as_str().map(str::to_string))
        })
    });
    gw.wait_state(&id, 5, secs(15));
    std::thread::sleep(std::time::Duration::from_secs(1));
    let stats = http::get(gw.http, &format!("/trtc/callstats?id={id}"));
    assert_eq!(stats.status, 200, "{}", stats.text());
    assert_eq!(stats.json()["codec"], "PCMU", "{}", stats.text());
    gw.shutdown(&id);
    sipp.proc.assert_success(secs(20)); // it got our BYE
    let lines = gw.wait_done(&id, secs(20));
    let last = lines.last().unwrap();
    assert_eq!((last.state, last.code), (6, 200), "{}", show(&lines));
    assert!(
        last.reason.contains("shutdown requested"),
        "{}",
        show(&lines)
    );
}
