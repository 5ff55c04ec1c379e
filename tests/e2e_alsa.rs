//! Issue 14: a sound-device line as the phone leg (`phonenumber = "alsa:<line>"`),
//! through ALSA's own plugins, without sound hardware.
//!
//! Each test writes a `~/.asoundrc` into its own directory and points the gateway's
//! `HOME` there. A line's capture is a `file` PCM over the `null` slave whose `infile` is
//! a raw S16_LE tone at the line's rate; its playback a `file` PCM over `null` that
//! records a WAV. The `null` slave is not paced in real time, so what the files hold
//! shows that the gateway's own 20 ms clock paces the line. The room is the simulated
//! one (or the LiteAV double): it records what the line said and plays its 1 kHz tone,
//! which must come out in the playback WAV.
//!
//! Built without the `alsa` feature only the first test runs: the number is refused
//! with a message that says how to build a gateway that has lines.

mod common;

use common::gateway::{Gateway, GatewayConfig};
use common::net::PortBlock;
use common::tmp::TestDir;
use serde_json::json;

#[cfg(not(feature = "alsa"))]
#[test]
fn without_the_feature_an_alsa_number_says_how_to_build() {
    let dir = TestDir::new("alsa-off");
    let block = PortBlock::new();
    let cfg = GatewayConfig::new(&dir, &block, "sip:{number}@127.0.0.1:9".into());
    let mut gw = Gateway::start(&dir, &cfg);
    let r = gw.startup_raw(&Gateway::startup_body("alsa:intercom", 10, None));
    assert_eq!(r.status, 400, "{}", r.text());
    let body = r.json();
    assert_eq!(body["field"], json!("phonenumber"), "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("cargo build --features alsa")),
        "{body}"
    );
    // And a config with lines is refused at start, with the same hint.
    let toml = format!(
        "{}\n[alsa.lines.intercom]\nplayback = \"null\"\ncapture = \"null\"\n",
        cfg.to_toml()
    );
    let (code, out) = Gateway::run_expect_failure(&dir, &toml);
    assert_ne!(code, Some(0));
    assert!(out.contains("cargo build --features alsa"), "{out}");
    gw.assert_healthy();
}

#[cfg(feature = "alsa")]
mod lines {
    use super::common;
    use super::*;
    use common::audio::{analyze, assert_wav_tone, read_wav};
    use common::callstate::{assert_ending, show};
    use common::http;
    use common::wait::secs;
    use std::path::PathBuf;
    use std::process::Command;

    /// The capture tone, and the room's.
    const LINE_HZ: f64 = 441.0;
    const ROOM_HZ: f64 = 1000.0;

    /// A gateway with lines named `names` (each its own capture tone and playback WAV at
    /// `rate`) and one line whose card is not there.
    struct LineRig {
        dir: TestDir,
        gw: Gateway,
        config: PathBuf,
    }

    fn playback_wav(dir: &TestDir, name: &str) -> PathBuf {
        dir.join(&format!("play-{name}.wav"))
    }

    fn asoundrc(dir: &TestDir, names: &[&str], rate: u32) -> String {
        let mut rc = String::new();
        for name in names {
            let raw = dir.join(&format!("capture-{name}.raw"));
            let status = Command::new("sox")
                .args(["-n", "-r", &rate.to_string(), "-c", "1", "-b", "16"])
                .args(["-e", "signed-integer", "-t", "raw"])
                .arg(&raw)
                .args(["synth", "60", "sine", &LINE_HZ.to_string(), "vol", "0.5"])
                .status()
                .expect("sox");
            assert!(status.success());
            rc.push_str(&format!(
                "pcm.cap_{name} {{\n  type file\n  slave.pcm \"null\"\n  file \"/dev/null\"\n  \
                 infile \"{}\"\n  format \"raw\"\n}}\n\
                 pcm.play_{name} {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  \
                 format \"wav\"\n}}\n",
                raw.display(),
                playback_wav(dir, name).display()
            ));
        }
        rc
    }

    fn line_toml(names: &[&str], rate: u32) -> String {
        let mut t = String::new();
        for name in names {
            t.push_str(&format!(
                "\n[alsa.lines.{name}]\nplayback = \"play_{name}\"\ncapture = \"cap_{name}\"\n\
                 rate = {rate}\nperiod_ms = 20\n"
            ));
        }
        t.push_str(
            "\n[alsa.lines.gone]\nplayback = \"hw:CARD=NoSuchCard,DEV=0\"\n\
             capture = \"hw:CARD=NoSuchCard,DEV=0\"\n",
        );
        t
    }

    impl LineRig {
        fn start(test: &str, names: &[&str], rate: u32) -> LineRig {
            let dir = TestDir::new(test);
            std::fs::write(dir.join(".asoundrc"), asoundrc(&dir, names, rate)).unwrap();
            let block = PortBlock::new();
            let mut cfg = GatewayConfig::new(&dir, &block, "sip:{number}@127.0.0.1:9".into());
            cfg.tone_hz = ROOM_HZ as u32;
            cfg.extra_toml = line_toml(names, rate);
            cfg.env = vec![("HOME".into(), dir.path().to_string_lossy().into_owned())];
            let gw = Gateway::start(&dir, &cfg);
            LineRig {
                config: dir.join("gateway.toml"),
                dir,
                gw,
            }
        }

        fn callstats(&self, id: &str) -> serde_json::Value {
            let r = http::get(self.gw.http, &format!("/trtc/callstats?id={id}"));
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()
        }
    }

    fn states(lines: &[common::callstate::StateLine]) -> Vec<(u8, u16)> {
        lines.iter().map(|l| (l.state, l.code)).collect()
    }

    #[test]
    fn a_line_bridges_the_room_both_ways_refuses_a_second_call_and_ends_at_its_ttl() {
        let mut rig = LineRig::start("alsa-ttl", &["intercom"], 16000);
        let id = rig.gw.startup("alsa:intercom", 5, None);
        rig.gw.wait_state(&id, 5, secs(10));

        // One call per line: the second is refused, naming the line and its call.
        let r = rig
            .gw
            .startup_raw(&Gateway::startup_body("alsa:intercom", 5, None));
        assert_eq!(r.status, 409, "{}", r.text());
        assert!(
            r.text().contains("line busy") && r.text().contains(&id),
            "{}",
            r.text()
        );
        // Touch tones mean nothing on a line.
        let r = http::post_json(rig.gw.http, "/trtc/dtmf", &json!({"id": id, "digits": "1"}));
        assert_eq!(r.status, 409, "{}", r.text());
        // The line's figures are in callstats.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let stats = rig.callstats(&id);
        assert_eq!(stats["codec"], json!("L16"), "{stats}");
        assert_eq!(stats["line"]["rate"], json!(16000), "{stats}");
        assert_eq!(stats["line"]["xruns"], json!(0), "{stats}");

        let lines = rig.gw.wait_done(&id, secs(20));
        assert_eq!(
            states(&lines),
            vec![(1, 0), (5, 200), (6, 200)],
            "{}",
            show(&lines)
        );
        assert!(lines[1].reason.contains("intercom"), "{}", show(&lines));
        assert_ending(&lines, 200, "ttl expired");
        let took = (lines[2].timestamp - lines[0].timestamp).num_milliseconds();
        assert!(
            (4500..7000).contains(&took),
            "TTL 5 s, the call took {took} ms"
        );

        // The room heard the line, the line's playback the room; both in real time (the
        // null slave is unpaced: only the gateway's clock keeps the WAV at call length).
        let heard = assert_wav_tone(&rig.gw.recording(&id), LINE_HZ);
        let played = read_wav(&playback_wav(&rig.dir, "intercom"));
        assert_eq!(played.rate, 16000);
        let report = analyze(&played, ROOM_HZ, 0.5);
        assert!(report.carries(ROOM_HZ), "playback: {report:?}");
        assert!(
            (4.0..7.0).contains(&played.duration_s()),
            "the playback WAV holds {:.2} s of a 5 s call",
            played.duration_s()
        );
        eprintln!(
            "line → room SNR {:.1} dB, room → line SNR {:.1} dB",
            heard.snr_db, report.snr_db
        );
        rig.gw.assert_healthy();
    }

    #[test]
    fn shutdown_ends_a_line_call_and_frees_the_line() {
        let mut rig = LineRig::start("alsa-shutdown", &["door"], 8000);
        let id = rig.gw.startup("alsa:door", 60, None);
        rig.gw.wait_state(&id, 5, secs(10));
        std::thread::sleep(std::time::Duration::from_secs(2));
        rig.gw.shutdown(&id);
        let lines = rig.gw.wait_done(&id, secs(10));
        assert_ending(&lines, 200, "shutdown requested");
        assert_wav_tone(&rig.gw.recording(&id), LINE_HZ);
        // The line is free again.
        let again = rig.gw.startup("alsa:door", 60, None);
        rig.gw.wait_state(&again, 5, secs(10));
        // A gateway stopping ends it too, with its reason.
        rig.gw.proc.signal("TERM");
        let st = rig.gw.proc.wait_exit(secs(20));
        assert!(
            st.is_some_and(|s| s.success()),
            "{}",
            rig.gw.proc.log_tail(30)
        );
        let log = std::fs::read_to_string(rig.dir.join("state/calls.log")).unwrap_or_default();
        assert!(
            log.lines().any(|l| l.starts_with(&again)
                && l.contains("DISCONNCTD")
                && l.contains("gateway stopping")),
            "calls.log:\n{log}"
        );
    }

    #[test]
    fn a_missing_device_is_a_clear_error_at_start_at_startup_and_at_check_config() {
        let mut rig = LineRig::start("alsa-missing", &["intercom"], 16000);
        // The start-up log says it, naming the line.
        rig.gw
            .proc
            .wait_log("alsa.lines.gone: ", std::time::Duration::from_secs(5));
        let r = rig
            .gw
            .startup_raw(&Gateway::startup_body("alsa:gone", 10, None));
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(r.text().contains("NoSuchCard"), "{}", r.text());
        // An unknown line is a 400 naming the field.
        let r = rig
            .gw
            .startup_raw(&Gateway::startup_body("alsa:nosuchline", 10, None));
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["field"], json!("phonenumber"));
        // --check-config refuses the file, naming the key and the device.
        let out = Command::new(common::gateway::binary())
            .arg("--check-config")
            .arg(&rig.config)
            .env("HOME", rig.dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{text}");
        assert!(
            text.contains("alsa.lines.gone") && text.contains("NoSuchCard"),
            "{text}"
        );
        // The working line still works.
        let id = rig.gw.startup("alsa:intercom", 3, None);
        let lines = rig.gw.wait_done(&id, secs(15));
        assert_ending(&lines, 200, "ttl expired");
        rig.gw.assert_healthy();
    }

    #[cfg(feature = "fault-injection")]
    #[test]
    fn an_xrun_is_recovered_and_an_unplugged_device_ends_its_call() {
        let mut rig = LineRig::start("alsa-faults", &["xrun1", "unplug1"], 16000);
        let xrun = rig.gw.startup("alsa:xrun1", 4, None);
        let unplug = rig.gw.startup("alsa:unplug1", 30, None);
        let lines = rig.gw.wait_done(&unplug, secs(15));
        assert_ending(&lines, 503, "device unplugged");
        assert!(
            lines.last().unwrap().reason.contains("cap_unplug1"),
            "{}",
            show(&lines)
        );
        let took = (lines.last().unwrap().timestamp - lines[0].timestamp).num_milliseconds();
        assert!(took < 5000, "unplugged at 1 s, ended after {took} ms");

        std::thread::sleep(std::time::Duration::from_millis(1500));
        let stats = rig.callstats(&xrun);
        assert_eq!(stats["line"]["xruns"], json!(1), "{stats}");
        let lines = rig.gw.wait_done(&xrun, secs(15));
        assert_ending(&lines, 200, "ttl expired");
        let metrics = http::get(rig.gw.http, "/metrics").text();
        assert!(
            metrics
                .lines()
                .any(|l| l == "trtc_sipgw_line_xruns_total 1"),
            "{metrics}"
        );
        // The audio went on after the xrun.
        let heard = read_wav(&rig.gw.recording(&xrun));
        let after = analyze(&heard, LINE_HZ, 1.5);
        assert!(after.carries(LINE_HZ), "after the xrun: {after:?}");
        rig.gw.assert_healthy();
    }
}
