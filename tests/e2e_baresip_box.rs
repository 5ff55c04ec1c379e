//! Issue 10 with baresip on the other end: a softphone that REGISTERs to the box (digest
//! from `[registrar.users]`) and is called there by `/trtc/startup`, and a softphone that
//! calls into the box and is answered when the app user enters the room. Audio both ways
//! is checked by frequency each time.

mod common;

use common::audio::{assert_wav_tone, sox_tone};
use common::callstate::{assert_answered, show};
use common::gateway::{Gateway, GatewayConfig};
use common::http;
use common::net::PortBlock;
use common::peers::{Baresip, BaresipOpts};
use common::tmp::TestDir;
use common::wait::{self, secs};
use std::time::Duration;

fn baresip(dir: &TestDir, block: &PortBlock, account: String) -> Baresip {
    let src = dir.join("tone440.wav");
    sox_tone(&src, 440, 60, false);
    Baresip::start(
        dir,
        block,
        "baresip",
        &BaresipOpts {
            account,
            source_wav: src,
            codec_modules: Vec::new(),
        },
    )
}

/// baresip's recording of what it heard, once the call is over.
fn heard(phone: &Baresip) -> std::path::PathBuf {
    let rec = wait::until("baresip's recording (*-dec.wav)", secs(10), || {
        phone.recordings().into_iter().next()
    });
    wait::file_settled(&rec, secs(15));
    rec
}

#[test]
fn baresip_registers_to_the_box_and_is_called_there() {
    let dir = TestDir::new("baresip-registers");
    let block = PortBlock::new();
    let mut cfg = GatewayConfig::new(&dir, &block, "sip:{number}@127.0.0.1:9".into());
    cfg.extra_toml =
        "\n[registrar]\nrealm = \"trtc-sipgw\"\n[registrar.users]\n\"2001\" = \"secret2001\"\n"
            .into();
    let mut gw = Gateway::start(&dir, &cfg);
    let phone = baresip(
        &dir,
        &block,
        format!(
            "<sip:2001@{}>;auth_pass=secret2001;regint=600;answermode=auto;audio_codecs=PCMU",
            gw.sip
        ),
    );
    phone.wait_registered(secs(20));

    let id = gw.startup("2001", 60, None);
    gw.wait_state(&id, 5, secs(30));
    std::thread::sleep(Duration::from_secs(4));
    gw.shutdown(&id);
    let lines = gw.wait_done(&id, secs(30));
    assert_answered(&lines);
    assert_wav_tone(&gw.recording(&id), 440.0);
    assert_wav_tone(&heard(&phone), 1000.0);
    assert!(!gw.proc.log_text().contains("secret2001"));
    gw.assert_healthy();
}

#[test]
fn baresip_calls_into_the_box_and_hears_the_app_user() {
    let dir = TestDir::new("baresip-calls-in");
    let block = PortBlock::new();
    let mut cfg = GatewayConfig::new(&dir, &block, "sip:{number}@127.0.0.1:9".into());
    cfg.callee_enter_after_ms = Some(1000);
    cfg.extra_toml = "\n[trtc.apps.\"1400000001\"]\nsecret_key = \"inbound-test-secret-key\"\n\n\
                      [[inbound]]\nnumber = \"8001\"\nsdk_app_id = 1400000001\n\
                      robot = \"sipgw_robot\"\ncallees = [\"alice\"]\nstr_room_id = \"in_{id}\"\n"
        .into();
    let mut gw = Gateway::start(&dir, &cfg);
    let phone = baresip(
        &dir,
        &block,
        "<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU".into(),
    );
    let r = phone.command("dial", &format!("sip:8001@{}", gw.sip));
    assert_eq!(r["ok"], true, "{r}");
    let id = wait::until("the inbound call", secs(10), || {
        let calls = http::get(gw.http, "/trtc/calls").json();
        calls["calls"].as_array().and_then(|c| {
            c.iter()
                .find(|c| c["direction"] == "inbound")
                .and_then(|c| c["id"].as_str().map(str::to_string))
        })
    });
    gw.note_user(&id, "sipgw_robot");
    gw.wait_state(&id, 5, secs(15));
    std::thread::sleep(Duration::from_secs(4));
    let r = phone.command("hangup", "");
    assert_eq!(r["ok"], true, "{r}");
    let lines = gw.wait_done(&id, secs(20));
    assert_eq!(lines[0].state, 2, "{}", show(&lines));
    assert!(lines.iter().any(|l| l.state == 5), "{}", show(&lines));
    assert!(
        lines.last().unwrap().reason.contains("hung up"),
        "{}",
        show(&lines)
    );
    assert_wav_tone(&gw.recording(&id), 440.0);
    assert_wav_tone(&heard(&phone), 1000.0);
    gw.assert_healthy();
}
