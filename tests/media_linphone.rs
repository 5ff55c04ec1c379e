//! Linphone (Debian `linphone-cli`) as the phone, issue 17: audio levels per codec in both
//! directions (±1 dB, no clipping), and DTMF both ways on Opus and PCMU without an RFC 4733
//! complaint in Linphone's log.
//!
//! Linphone (mediastreamer2) scales PCM by one bit around its G.722 codec, so against the
//! ITU-T reference level (our default) it is heard 6 dB low and hears us 6 dB high; with
//! `[sip] g722_level = "pjmedia"` both directions are exact. Both are asserted, so a level
//! change in either convention fails here.

mod common;

use common::audio::{clipped_samples, read_wav, sox_tone_at, steady_level_dbfs};
use common::gateway::{Gateway, GatewayConfig};
use common::http;
use common::linphone::Linphone;
use common::net::PortBlock;
use common::tmp::TestDir;
use common::wait::{self, secs};
use common::webhook::WebhookReceiver;
use serde_json::json;
use std::time::Duration;

/// Linphone's 440 Hz source: sox `vol 0.5`, −9.03 dBFS RMS.
const PHONE_TONE_DBFS: f64 = -9.03;
/// The simulated room's 1 kHz speaker (amplitude 16000): −9.24 dBFS RMS.
const ROOM_TONE_DBFS: f64 = -9.24;

struct Call {
    gw: Gateway,
    phone: Linphone,
    id: String,
    dir: TestDir,
    _block: PortBlock,
}

fn call(name: &str, codec: &str, g722_level: Option<&str>, notify: Option<&str>) -> Call {
    let dir = TestDir::new(name);
    let block = PortBlock::new();
    let src = dir.join("tone440.wav");
    sox_tone_at(&src, 16000, 440, 90);
    let phone = Linphone::start(&dir, &block, &[codec], &src);
    let mut cfg = GatewayConfig::new(
        &dir,
        &block,
        format!("sip:{{number}}@127.0.0.1:{}", phone.sip_port),
    );
    cfg.codecs = Some(vec![
        "opus".into(),
        "g722".into(),
        "pcmu".into(),
        "pcma".into(),
    ]);
    cfg.g722_level = g722_level.map(String::from);
    let gw = Gateway::start(&dir, &cfg);
    let id = gw.startup("1002", 90, notify);
    gw.wait_state(&id, 5, secs(30));
    Call {
        gw,
        phone,
        id,
        dir,
        _block: block,
    }
}

/// Hangs up and returns (Linphone→room, room→Linphone) level errors in dB, and the
/// clipped samples of both recordings.
fn hang_up_and_measure(c: &mut Call) -> (f64, f64, usize) {
    c.gw.shutdown(&c.id);
    c.gw.wait_done(&c.id, secs(30));
    wait::file_settled(&c.phone.recording, secs(15));
    let room = read_wav(&c.gw.recording(&c.id));
    let heard = read_wav(&c.phone.recording);
    c.gw.assert_healthy();
    (
        steady_level_dbfs(&room) - PHONE_TONE_DBFS,
        steady_level_dbfs(&heard) - ROOM_TONE_DBFS,
        clipped_samples(&room) + clipped_samples(&heard),
    )
}

#[test]
fn levels_per_codec_both_ways() {
    let cases = [
        ("opus", None, 0.0),
        ("PCMU", None, 0.0),
        ("G722", Some("pjmedia"), 0.0),
        // the reference level against mediastreamer2's one-bit scaling: 6 dB apart
        ("G722", Some("standard"), 6.02),
    ];
    let mut table = vec![];
    for (codec, level, skew) in cases {
        let name = format!("linphone-level-{codec}-{}", level.unwrap_or("default"));
        let mut c = call(&name, codec, level, None);
        std::thread::sleep(Duration::from_secs(6));
        let log = c.gw.proc.log_text();
        let ours = if codec == "opus" { "opus" } else { codec };
        assert!(
            log.contains(&format!("media {ours} pt")),
            "{codec} not negotiated:\n{log}"
        );
        let (up, down, clipped) = hang_up_and_measure(&mut c);
        println!(
            "linphone {codec} ({}): linphone->room {up:+.2} dB, room->linphone {down:+.2} dB, \
             {clipped} clipped ({})",
            level.unwrap_or("default"),
            c.dir.path().display()
        );
        table.push((codec, level, skew, up, down, clipped));
    }
    for (codec, level, skew, up, down, clipped) in table {
        // at +6 dB a half-scale tone reaches full scale: clipping is the known symptom
        if skew == 0.0 {
            assert_eq!(clipped, 0, "{codec} {level:?}: clipped samples");
        }
        assert!(
            (up + skew).abs() <= 1.0,
            "{codec} {level:?}: linphone->room {up:+.2} dB"
        );
        assert!(
            (down - skew).abs() <= 1.0,
            "{codec} {level:?}: room->linphone {down:+.2} dB"
        );
    }
}

fn dtmf_both_ways(codec: &str) {
    let rx = WebhookReceiver::start();
    let mut c = call(
        &format!("linphone-dtmf-{codec}"),
        codec,
        None,
        Some(&rx.url()),
    );
    // the gateway keys digits to Linphone…
    let r = http::post_json(
        c.gw.http,
        "/trtc/dtmf",
        &json!({"id": c.id, "digits": "19#"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait::until("Linphone to receive 1, 9, #", secs(15), || {
        let text = c.phone.proc.log_text();
        ["tone 1", "tone 9", "tone #"]
            .iter()
            .all(|t| text.contains(t))
            .then_some(())
    });
    // …and Linphone keys digits to the gateway
    c.phone.key("5*");
    let digits = wait::until("the gateway's dtmf webhooks for 5 and *", secs(15), || {
        let d: Vec<String> = rx
            .hooks()
            .iter()
            .map(|h| h.json())
            .filter(|b| b["event"] == "dtmf")
            .map(|b| b["digit"].as_str().unwrap_or("?").to_string())
            .collect();
        (d.len() >= 2).then_some(d)
    });
    assert_eq!(digits, ["5", "*"]);
    let stats = http::get(c.gw.http, &format!("/trtc/callstats?id={}", c.id)).json();
    assert!(
        stats["rx"]["lost"].as_u64().is_some(),
        "rx.lost is a count: {stats}"
    );
    assert_eq!(stats["telephone_event"]["clock_mismatch"], 0, "{stats}");
    c.gw.shutdown(&c.id);
    c.gw.wait_done(&c.id, secs(30));
    let text = c.phone.all_text();
    assert!(
        text.contains("telephone-event"),
        "Linphone's log has no SDP: the check below would prove nothing"
    );
    // mediastreamer2: "The remote equipment doesn't conform to RFC4733 2.1"
    assert!(
        !text.contains("conform to RFC4733"),
        "Linphone complains about our telephone-event:\n{}",
        text.lines()
            .filter(|l| l.contains("4733"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn dtmf_both_ways_on_opus() {
    dtmf_both_ways("opus");
}

#[test]
fn dtmf_both_ways_on_pcmu() {
    dtmf_both_ways("PCMU");
}
