//! Linphone (Debian `linphone-cli`, 5.x) as a phone: `linphonec` run headless, auto-answer,
//! playing a WAV and recording what it hears, driven by commands on a FIFO kept open.
//! It has the codecs of many real users (Opus, G.722, PCMU, PCMA) and checks RFC 4733's
//! clock rule ("The remote equipment doesn't conform to RFC4733 2.1").
//!
//! What it needs, as found (issue 17): `$HOME/.local/share/linphone` must exist or it
//! stalls before binding a socket; every port and the bind address set in the rc; G.722
//! is off by default and is switched on with an `[audio_codec_N]` section.

use super::net::PortBlock;
use super::proc::Proc;
use super::tmp::TestDir;
use super::wait;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// linphonec SIP port in a test's PortBlock.
pub const P_LINPHONE: u16 = 12;
/// Its audio RTP port (RTCP on the next).
pub const P_LINPHONE_RTP: u16 = 14;
/// Its video and text RTP ports (unused, but kept inside the block so parallel tests
/// never collide on its defaults).
pub const P_LINPHONE_VIDEO: u16 = 16;
/// Text stream port.
pub const P_LINPHONE_TEXT: u16 = 18;

/// A running linphonec.
pub struct Linphone {
    pub proc: Proc,
    pub sip_port: u16,
    /// What Linphone heard (16-bit WAV at the codec's rate), once a call ran.
    pub recording: PathBuf,
    /// Linphone's own log (`-l`, level 6): where its RFC 4733 complaints would be.
    pub log: PathBuf,
    commands: File,
}

impl Linphone {
    /// Starts linphonec answering automatically with `codecs` (SDP names in preference
    /// order: `opus`, `G722`, `PCMU`, `PCMA`), playing `source_wav` into calls and
    /// recording them; waits until its SIP port is bound.
    pub fn start(dir: &TestDir, block: &PortBlock, codecs: &[&str], source_wav: &Path) -> Linphone {
        let home = dir.subdir("linphone-home");
        std::fs::create_dir_all(home.join(".local/share/linphone")).unwrap();
        let sip_port = block.port(P_LINPHONE);
        let mut rc = format!(
            "[sip]\nsip_port={sip_port}\nsip_tcp_port=0\nsip_tls_port=0\nbind_address=127.0.0.1\n\
             default_proxy=-1\nguess_hostname=0\n\n\
             [rtp]\naudio_rtp_port={}\nvideo_rtp_port={}\ntext_rtp_port={}\nbind_address=127.0.0.1\n\n\
             [video]\nenabled=0\ncapture=0\ndisplay=0\n\n\
             [sound]\nechocancellation=0\nagc=0\n\n\
             [net]\nfirewall_policy=0\n",
            block.port(P_LINPHONE_RTP),
            block.port(P_LINPHONE_VIDEO),
            block.port(P_LINPHONE_TEXT),
        );
        // Only the wanted codecs, in order: every other one the build knows is disabled.
        let all = [
            ("opus", 48000, 2),
            ("G722", 8000, 1),
            ("PCMU", 8000, 1),
            ("PCMA", 8000, 1),
            ("speex", 16000, 1),
            ("speex", 8000, 1),
            ("speex", 32000, 1),
            ("GSM", 8000, 1),
            ("iLBC", 8000, 1),
            ("L16", 44100, 2),
            ("L16", 44100, 1),
        ];
        let mut order: Vec<(&str, u32, u32, bool)> = codecs
            .iter()
            .filter_map(|c| all.iter().find(|a| a.0.eq_ignore_ascii_case(c)))
            .map(|&(m, r, ch)| (m, r, ch, true))
            .collect();
        for &(m, r, ch) in &all {
            if !order.iter().any(|o| o.0 == m && o.1 == r && o.2 == ch) {
                order.push((m, r, ch, false));
            }
        }
        for (i, (mime, rate, channels, on)) in order.iter().enumerate() {
            rc.push_str(&format!(
                "\n[audio_codec_{i}]\nmime={mime}\nrate={rate}\nchannels={channels}\nenabled={}\n",
                u8::from(*on)
            ));
        }
        let rc_path = dir.join("linphonerc");
        std::fs::write(&rc_path, rc).unwrap();

        let fifo = dir.join("linphone.fifo");
        let st = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(st.success(), "mkfifo {}", fifo.display());
        // Read-write keeps the FIFO open without waiting for the reader, and holds its
        // writing end for as long as this guard lives (EOF would end linphonec).
        let commands = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .unwrap();
        let stdin = File::open(&fifo).unwrap();
        let log = dir.join("linphone-core.log");
        let mut cmd = Command::new("linphonec");
        cmd.env("HOME", &home)
            .args(["-a", "-d", "6", "-c"])
            .arg(&rc_path)
            .arg("-l")
            .arg(&log);
        let mut proc = Proc::spawn_with_stdin("linphone", &mut cmd, dir.path(), Stdio::from(stdin));
        wait::until(
            &format!("linphonec to bind udp 127.0.0.1:{sip_port}"),
            Duration::from_secs(30),
            || {
                if let Some(st) = proc.exited() {
                    panic!("linphonec exited early ({st}):\n{}", proc.log_tail(40));
                }
                super::net::udp_in_use(sip_port).then_some(())
            },
        );
        let recording = dir.join("linphone-heard.wav");
        let mut l = Linphone {
            proc,
            sip_port,
            recording: recording.clone(),
            log,
            commands,
        };
        l.command("soundcard use files");
        l.command(&format!("play {}", source_wav.display()));
        l.command(&format!("record {}", recording.display()));
        l
    }

    /// Types one command line into linphonec.
    pub fn command(&mut self, line: &str) {
        writeln!(self.commands, "{line}").expect("write to linphonec's FIFO");
        self.commands.flush().unwrap();
    }

    /// Keys DTMF digits into the running call (linphonec sends a line of digits as DTMF).
    pub fn key(&mut self, digits: &str) {
        self.command(digits);
    }

    /// Everything linphonec said (its console) and logged (its core log).
    pub fn all_text(&self) -> String {
        let core = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("{}\n{core}", self.proc.log_text())
    }
}
