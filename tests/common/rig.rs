//! The usual end-to-end setup in one call: a test dir, a port block, µ-law test tones,
//! an optional capture of what the phone receives, a sipp UAS playing the phone and the
//! gateway configured to call it.

use super::audio::{assert_tone, assert_wav_tone, sox_tone, ToneReport};
use super::callstate::{assert_answered, assert_ending};
use super::gateway::{Gateway, GatewayConfig};
use super::net::PortBlock;
use super::peers::{Sipp, P_SIPP_UAS_MEDIA};
use super::rtpcap::{Capture, RtpStream};
use super::tmp::TestDir;
use super::wait::secs;

/// Everything one sipp-based end-to-end test needs. Field order is drop order: the
/// gateway goes first, then the peer, the capture, and the directory last.
pub struct Rig {
    pub gw: Gateway,
    pub uas: Sipp,
    pub cap: Option<Capture>,
    pub block: PortBlock,
    pub rtp_ports: (u16, u16),
    pub dir: TestDir,
}

/// Makes `tone440_ulaw.wav` (what sipp phones say) and `tone1k_ulaw.wav` in `dir`.
pub fn make_tones(dir: &TestDir) {
    sox_tone(&dir.join("tone440_ulaw.wav"), 440, 30, true);
    sox_tone(&dir.join("tone1k_ulaw.wav"), 1000, 30, true);
}

impl Rig {
    /// Starts a sipp UAS running `scenario` for `calls` calls, optionally a capture of
    /// the RTP sent to its media port, and the gateway (config adjusted by `tweak`).
    pub fn start(
        name: &str,
        scenario: &str,
        calls: u32,
        capture: bool,
        tweak: impl FnOnce(&mut GatewayConfig),
    ) -> Rig {
        let dir = TestDir::new(name);
        let block = PortBlock::new();
        make_tones(&dir);
        let cap = capture.then(|| {
            Capture::start(
                dir.path(),
                "phone-rx",
                &format!("udp dst port {}", block.port(P_SIPP_UAS_MEDIA)),
            )
        });
        let uas = Sipp::uas(&dir, &block, scenario, calls);
        let mut cfg = GatewayConfig::new(&dir, &block, uas.outbound_uri());
        tweak(&mut cfg);
        let rtp_ports = cfg.rtp_ports;
        let gw = Gateway::start(&dir, &cfg);
        Rig {
            gw,
            uas,
            cap,
            block,
            rtp_ports,
            dir,
        }
    }

    /// Stops the capture and returns the RTP streams the gateway sent to the phone
    /// (source port inside the gateway's RTP range).
    pub fn phone_heard(&mut self) -> Vec<RtpStream> {
        let cap = self.cap.take().expect("rig started without a capture");
        let (lo, hi) = self.rtp_ports;
        cap.finish()
            .into_iter()
            .filter(|s| (lo..=hi).contains(&s.src_port))
            .collect()
    }

    /// Asserts the phone heard the room's tone (the longest stream from the gateway) and
    /// returns its analysis, so a test can print the SNR it measured.
    pub fn assert_phone_heard(&mut self, freq: f64) -> ToneReport {
        let streams = self.phone_heard();
        let best = streams
            .iter()
            .max_by_key(|s| s.audio.samples.len())
            .unwrap_or_else(|| {
                panic!(
                    "the gateway sent no RTP to the phone (files in {})",
                    self.dir.path().display()
                )
            });
        assert_tone(&best.audio, freq, "what the phone heard (RTP capture)")
    }
}

impl Rig {
    /// Ends a live call with `/trtc/shutdown` and checks it went as a normal call does:
    /// answered, ended 200 "shutdown requested", sipp content, the phone's 440 Hz in the
    /// room's recording and the room's 1000 Hz at the phone, no panic. For tests that
    /// disturb a call and must show it came through unhurt. Returns the analyses of what
    /// the room heard and what the phone heard, in that order, for tests that print the SNR.
    pub fn shutdown_and_assert_unhurt(&mut self, id: &str) -> (ToneReport, ToneReport) {
        self.gw.shutdown(id);
        let lines = self.gw.wait_done(id, secs(30));
        self.uas.proc.assert_success(secs(20));
        assert_answered(&lines);
        assert_ending(&lines, 200, "shutdown requested");
        let room = assert_wav_tone(&self.gw.recording(id), 440.0);
        let phone = self.assert_phone_heard(1000.0);
        self.gw.assert_healthy();
        (room, phone)
    }
}
