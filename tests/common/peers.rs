//! Real SIP peers written by others: sipp (scripted UAS/UAC), kamailio (registrar and
//! proxy with digest auth) and baresip (a softphone that plays a WAV and records what it
//! hears). Each is configured per test (ports, paths) in the test's own directory and
//! owned by a [`Proc`] guard.

use super::net::{tcp_listening, udp_in_use, PortBlock};
use super::proc::Proc;
use super::tmp::TestDir;
use super::wait;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

// Port layout inside a test's PortBlock (the gateway's RTP range is 100..=199).
/// sipp UAS SIP port.
pub const P_SIPP_UAS: u16 = 0;
/// sipp UAS control port.
pub const P_SIPP_UAS_CP: u16 = 1;
/// sipp UAC SIP port (harness self-tests).
pub const P_SIPP_UAC: u16 = 2;
/// sipp UAC control port.
pub const P_SIPP_UAC_CP: u16 = 3;
/// kamailio SIP port.
pub const P_KAMAILIO: u16 = 4;
/// Kamailio's TLS port ([`Kamailio::start_tls`]).
pub const P_KAMAILIO_TLS: u16 = 5;
/// baresip SIP port (baresip also binds the next one).
pub const P_BARESIP: u16 = 6;
/// baresip ctrl_tcp port.
pub const P_BARESIP_CTRL: u16 = 10;
/// First sipp UAS media port (`-mp`); rtp_stream sockets are allocated upwards from it.
pub const P_SIPP_UAS_MEDIA: u16 = 20;
/// Last port of the sipp UAS media area.
pub const P_SIPP_UAS_MEDIA_END: u16 = 59;
/// baresip RTP range start.
pub const P_BARESIP_RTP: u16 = 60;
/// baresip RTP range end.
pub const P_BARESIP_RTP_END: u16 = 79;
/// First sipp UAC media port (`-mp`).
pub const P_SIPP_UAC_MEDIA: u16 = 80;
/// End of the sipp UAC media area.
pub const P_SIPP_UAC_MEDIA_END: u16 = 99;

fn copy_into(dir: &TestDir, rel: &str) -> PathBuf {
    let src = super::peers_dir().join(rel);
    let dst = dir.join(Path::new(rel).file_name().unwrap().to_str().unwrap());
    std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    dst
}

/// A sipp instance running one scenario from `tests/peers/sipp/`.
pub struct Sipp {
    pub proc: Proc,
    pub sip_port: u16,
    pub media_port: u16,
}

impl Sipp {
    /// Starts a UAS (`-m calls`) on the block's UAS ports and waits until its SIP port is
    /// bound. The scenario runs in the test dir, so its `rtp_stream` WAV names (made with
    /// [`super::audio::sox_tone`]) are relative to it.
    pub fn uas(dir: &TestDir, block: &PortBlock, scenario: &str, calls: u32) -> Sipp {
        Self::uas_with(dir, block, scenario, calls, &[])
    }

    /// Like [`Sipp::uas`], with extra arguments (e.g. `-key name value` for `[name]` in the
    /// scenario).
    pub fn uas_with(
        dir: &TestDir,
        block: &PortBlock,
        scenario: &str,
        calls: u32,
        extra: &[&str],
    ) -> Sipp {
        Self::uas_on(dir, block, scenario, calls, extra, false)
    }

    /// Like [`Sipp::uas_with`], over TCP only (`-t t1`: it listens on TCP, not UDP, and
    /// answers on the connection each request came on) when `tcp`.
    pub fn uas_on(
        dir: &TestDir,
        block: &PortBlock,
        scenario: &str,
        calls: u32,
        extra: &[&str],
        tcp: bool,
    ) -> Sipp {
        let sip_port = block.port(P_SIPP_UAS);
        let media_port = block.port(P_SIPP_UAS_MEDIA);
        let sf = copy_into(dir, &format!("sipp/{scenario}"));
        let mut cmd = Command::new("sipp");
        cmd.current_dir(dir.path())
            .arg("-sf")
            .arg(&sf)
            .args([
                "-i",
                "127.0.0.1",
                "-mi",
                "127.0.0.1",
                "-nostdin",
                "-trace_msg",
                "-trace_err",
            ])
            .args(["-p", &sip_port.to_string()])
            .args(["-mp", &media_port.to_string()])
            .args(["-cp", &block.port(P_SIPP_UAS_CP).to_string()])
            .args(["-m", &calls.to_string()])
            .args(extra);
        if tcp {
            cmd.args(["-t", "t1"]);
        }
        let mut proc = Proc::spawn(
            &format!("sipp-uas-{}", scenario.trim_end_matches(".xml")),
            &mut cmd,
            dir.path(),
        );
        let what = if tcp { "listen on TCP" } else { "bind UDP" };
        wait::until(
            &format!("sipp UAS to {what} {sip_port}"),
            Duration::from_secs(20),
            || {
                if let Some(st) = proc.exited() {
                    panic!("sipp UAS exited early ({st}):\n{}", proc.log_tail(40));
                }
                let ready = if tcp {
                    tcp_listening(sip_port)
                } else {
                    udp_in_use(sip_port)
                };
                ready.then_some(())
            },
        );
        Sipp {
            proc,
            sip_port,
            media_port,
        }
    }

    /// Starts a UAC that places `calls` calls to `service@remote`, with optional digest
    /// credentials (`-au/-ap`) and extra arguments.
    pub fn uac(
        dir: &TestDir,
        block: &PortBlock,
        scenario: &str,
        remote: SocketAddr,
        service: &str,
        calls: u32,
        extra: &[&str],
    ) -> Sipp {
        let sip_port = block.port(P_SIPP_UAC);
        let media_port = block.port(P_SIPP_UAC_MEDIA);
        let sf = copy_into(dir, &format!("sipp/{scenario}"));
        let mut cmd = Command::new("sipp");
        cmd.current_dir(dir.path())
            .arg(remote.to_string())
            .arg("-sf")
            .arg(&sf)
            .args(["-s", service])
            .args([
                "-i",
                "127.0.0.1",
                "-mi",
                "127.0.0.1",
                "-nostdin",
                "-trace_msg",
                "-trace_err",
            ])
            .args(["-p", &sip_port.to_string()])
            .args(["-mp", &media_port.to_string()])
            .args(["-cp", &block.port(P_SIPP_UAC_CP).to_string()])
            .args(["-m", &calls.to_string()])
            .args(extra);
        let proc = Proc::spawn(
            &format!("sipp-uac-{}", scenario.trim_end_matches(".xml")),
            &mut cmd,
            dir.path(),
        );
        Sipp {
            proc,
            sip_port,
            media_port,
        }
    }

    /// The URI template the gateway uses to call this UAS.
    pub fn outbound_uri(&self) -> String {
        format!("sip:{{number}}@127.0.0.1:{}", self.sip_port)
    }
}

/// The kamailio modules directory of this machine (its path carries the multiarch triple).
fn kamailio_mpath() -> String {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("kamailio/modules"))
                .collect()
        })
        .unwrap_or_default();
    found.push(PathBuf::from("/usr/lib/kamailio/modules"));
    found
        .into_iter()
        .find(|p| p.join("tm.so").exists())
        .map(|p| format!("{}/", p.display()))
        .unwrap_or_else(|| {
            panic!("kamailio modules (tm.so) not found under /usr/lib — run scripts/test.sh")
        })
}

/// A kamailio registrar/proxy with digest auth (realm `sip.test`, 407 for INVITEs,
/// 401 for REGISTERs, the auth user must equal the From user).
pub struct Kamailio {
    pub proc: Proc,
    pub addr: SocketAddr,
}

impl Kamailio {
    /// Starts kamailio on the block's kamailio port with the given `(user, password)`s and
    /// waits until it answers OPTIONS.
    pub fn start(dir: &TestDir, block: &PortBlock, users: &[(&str, &str)]) -> Kamailio {
        Self::start_with(dir, block, users, false)
    }

    /// As [`Kamailio::start_with`] with TCP, plus TLS on the block's kamailio TLS port
    /// serving `cert`/`key` (PEM; kamailio's `tls` module, Debian
    /// `kamailio-tls-modules`). Its log says `over tls` for requests that came so.
    pub fn start_tls(
        dir: &TestDir,
        block: &PortBlock,
        users: &[(&str, &str)],
        cert: &Path,
        key: &Path,
    ) -> (Kamailio, SocketAddr) {
        let tls_port = block.port(P_KAMAILIO_TLS);
        let work = dir.subdir("kamailio");
        let tls_cfg = work.join("tls.cfg");
        std::fs::write(
            &tls_cfg,
            format!(
                "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n\
                 require_certificate = no\nprivate_key = {}\ncertificate = {}\n\n\
                 [client:default]\nmethod = TLSv1.2+\nverify_certificate = no\n\
                 require_certificate = no\n",
                key.display(),
                cert.display()
            ),
        )
        .unwrap();
        let tls = KamailioTls {
            listen: format!("enable_tls=yes\nlisten=tls:127.0.0.1:{tls_port}"),
            module: format!(
                "loadmodule \"tls.so\"\nmodparam(\"tls\", \"config\", \"{}\")",
                tls_cfg.display()
            ),
        };
        let kam = Self::start_full(dir, block, users, true, Some(tls));
        let addr = format!("127.0.0.1:{tls_port}").parse().unwrap();
        (kam, addr)
    }

    /// As [`Kamailio::start`]; `tcp`: it listens on TCP on the same port as well. Its
    /// log says `REQ <method> <uri> from <addr> over <udp|tcp> (<n> bytes)` for every
    /// request it routes.
    pub fn start_with(
        dir: &TestDir,
        block: &PortBlock,
        users: &[(&str, &str)],
        tcp: bool,
    ) -> Kamailio {
        Self::start_full(dir, block, users, tcp, None)
    }

    fn start_full(
        dir: &TestDir,
        block: &PortBlock,
        users: &[(&str, &str)],
        tcp: bool,
        tls: Option<KamailioTls>,
    ) -> Kamailio {
        let tls = tls.unwrap_or(KamailioTls {
            listen: String::new(),
            module: String::new(),
        });
        let port = block.port(P_KAMAILIO);
        let work = dir.subdir("kamailio");
        let users_cfg: String = users
            .iter()
            .map(|(u, p)| format!("    $sht(users=>{u}) = \"{p}\";\n"))
            .collect();
        let tpl = std::fs::read_to_string(super::peers_dir().join("kamailio.cfg.in")).unwrap();
        let cfg = tpl
            .replace("@DISABLE_TCP@", if tcp { "no" } else { "yes" })
            .replace(
                "@TCP_LISTEN@",
                &if tcp {
                    format!("listen=tcp:127.0.0.1:{port}")
                } else {
                    String::new()
                },
            )
            .replace("@TLS_LISTEN@", &tls.listen)
            .replace("@TLS_MODULE@", &tls.module)
            .replace("@PORT@", &port.to_string())
            .replace("@MPATH@", &kamailio_mpath())
            .replace("@CTL@", &work.join("kamailio_ctl").to_string_lossy())
            .replace("@USERS@", &users_cfg);
        let cfg_path = work.join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let args = ["-f".to_string(), cfg_path.to_string_lossy().into_owned()];
        let proc = run_kamailio(dir, &work, &args, addr);
        Kamailio { proc, addr }
    }
}

/// The lines a TLS kamailio adds to the template: its listener and its module.
struct KamailioTls {
    listen: String,
    module: String,
}

/// Checks a kamailio config (`kamailio -c` with `args`, which name the file and any
/// `-A` defines), runs it in the foreground with `work` as its directory and waits
/// until it answers OPTIONS at `addr`.
pub fn run_kamailio(dir: &TestDir, work: &Path, args: &[String], addr: SocketAddr) -> Proc {
    let check = Command::new("kamailio")
        .arg("-c")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kamailio: {e} — run scripts/test.sh"));
    assert!(
        check.status.success(),
        "kamailio -c refused the config {args:?}:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut cmd = Command::new("kamailio");
    cmd.args(args)
        .args(["-DD", "-E", "-m", "64", "-M", "8", "-w"])
        .arg(work)
        .arg("-P")
        .arg(work.join("kamailio.pid"));
    let mut proc = Proc::spawn("kamailio", &mut cmd, dir.path());
    wait::until(
        "kamailio to answer OPTIONS with 200",
        Duration::from_secs(30),
        || {
            if let Some(st) = proc.exited() {
                panic!("kamailio exited early ({st}):\n{}", proc.log_tail(40));
            }
            (super::sip::options_ping(addr, Duration::from_millis(300)) == Some(200)).then_some(())
        },
    );
    proc
}

/// Settings of one baresip instance.
#[derive(Debug, Clone)]
pub struct BaresipOpts {
    /// The `accounts` line, e.g. `<sip:1002@127.0.0.1:5060>;auth_pass=...;answermode=auto`.
    pub account: String,
    /// 8 kHz 16-bit mono WAV baresip plays into every call (longer than the call: it
    /// hangs up when the file ends).
    pub source_wav: PathBuf,
    /// Codec modules to load (`g711.so`, `g722.so`, `opus.so`): baresip answers with
    /// the first of the offer it has. Empty: G.711 only.
    pub codec_modules: Vec<String>,
}

/// A headless baresip controlled over ctrl_tcp (netstring-framed JSON).
pub struct Baresip {
    pub proc: Proc,
    pub sip_port: u16,
    pub ctrl: SocketAddr,
    pub rec_dir: PathBuf,
}

fn netstring(v: &Value) -> Vec<u8> {
    let s = v.to_string();
    format!("{}:{},", s.len(), s).into_bytes()
}

/// Splits complete netstrings off `buf`.
fn take_netstrings(buf: &mut Vec<u8>) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(colon) = buf.iter().position(|&b| b == b':') {
        let Some(n) = std::str::from_utf8(&buf[..colon])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            buf.clear();
            break;
        };
        if buf.len() < colon + 1 + n + 1 {
            break;
        }
        if let Ok(v) = serde_json::from_slice(&buf[colon + 1..colon + 1 + n]) {
            out.push(v);
        }
        buf.drain(..colon + 1 + n + 1);
    }
    out
}

impl Baresip {
    /// A phone that answers at once with PCMU, playing `source_wav`, registered at
    /// `registrar` (kamailio) as `user` with `password`; returns once registered.
    pub fn registered(
        dir: &TestDir,
        block: &PortBlock,
        (user, password): (&str, &str),
        registrar: SocketAddr,
        source_wav: PathBuf,
    ) -> Baresip {
        let phone = Baresip::start(
            dir,
            block,
            &format!("baresip-{user}"),
            &BaresipOpts {
                account: format!(
                    "<sip:{user}@{registrar}>;auth_pass={password};regint=60;answermode=auto;\
                         audio_codecs=PCMU"
                ),
                source_wav,
                codec_modules: Vec::new(),
            },
        );
        phone.wait_registered(Duration::from_secs(20));
        phone
    }

    /// Starts baresip on the block's baresip ports (RTP in 60..=79) and waits for ctrl_tcp.
    pub fn start(dir: &TestDir, block: &PortBlock, name: &str, opts: &BaresipOpts) -> Baresip {
        let conf_dir = dir.subdir(name);
        let rec_dir = dir.subdir(&format!("{name}-rec"));
        let sip_port = block.port(P_BARESIP);
        let ctrl_port = block.port(P_BARESIP_CTRL);
        let (r0, r1) = block.range(P_BARESIP_RTP, P_BARESIP_RTP_END);
        let tpl = std::fs::read_to_string(super::peers_dir().join("baresip/config.in")).unwrap();
        let cfg = tpl
            .replace("@SIP_PORT@", &sip_port.to_string())
            .replace("@RTP_PORTS@", &format!("{r0}-{r1}"))
            .replace("@CTRL_PORT@", &ctrl_port.to_string())
            .replace("@SOURCE_WAV@", &opts.source_wav.to_string_lossy())
            .replace("@REC_DIR@", &rec_dir.to_string_lossy())
            .replace(
                "@CODEC_MODULES@",
                &(if opts.codec_modules.is_empty() {
                    vec!["g711.so".to_string()]
                } else {
                    opts.codec_modules.clone()
                })
                .iter()
                .map(|m| format!("module\t\t\t{m}\n"))
                .collect::<String>(),
            );
        std::fs::write(conf_dir.join("config"), cfg).unwrap();
        std::fs::write(conf_dir.join("accounts"), format!("{}\n", opts.account)).unwrap();
        let mut cmd = Command::new("baresip");
        cmd.arg("-f").arg(&conf_dir);
        let mut proc = Proc::spawn(name, &mut cmd, dir.path());
        let ctrl: SocketAddr = format!("127.0.0.1:{ctrl_port}").parse().unwrap();
        wait::until(
            &format!("baresip ctrl_tcp on {ctrl}"),
            Duration::from_secs(20),
            || {
                if let Some(st) = proc.exited() {
                    panic!("baresip exited early ({st}):\n{}", proc.log_tail(40));
                }
                super::net::tcp_accepts(ctrl).then_some(())
            },
        );
        Baresip {
            proc,
            sip_port,
            ctrl,
            rec_dir,
        }
    }

    /// Sends one ctrl_tcp command and returns its response (`{"response":true,"ok":..,"data":..}`).
    pub fn command(&self, command: &str, params: &str) -> Value {
        let mut s =
            TcpStream::connect(self.ctrl).unwrap_or_else(|e| panic!("connect baresip ctrl: {e}"));
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s.write_all(&netstring(
            &json!({"command": command, "params": params, "token": "h1"}),
        ))
        .unwrap();
        let mut buf = Vec::new();
        let start = Instant::now();
        let mut chunk = [0u8; 8192];
        while start.elapsed() < Duration::from_secs(5) {
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
            let mut msgs = take_netstrings(&mut buf);
            if let Some(i) = msgs.iter().position(|m| m["response"] == json!(true)) {
                return msgs.swap_remove(i);
            }
        }
        panic!(
            "baresip gave no response to {command:?}:\n{}",
            self.proc.log_tail(30)
        );
    }

    /// Waits until `reginfo` shows the account registered (baresip prints `OK`).
    pub fn wait_registered(&self, timeout: Duration) {
        let mut last = String::new();
        let ok = wait::try_until(timeout, || {
            let r = self.command("reginfo", "");
            last = r["data"].as_str().unwrap_or_default().to_string();
            last.contains("OK").then_some(())
        });
        if ok.is_none() {
            panic!(
                "baresip did not register within {:.0} s; reginfo: {last:?}\nlog:\n{}",
                timeout.as_secs_f64(),
                self.proc.log_tail(40)
            );
        }
    }

    /// Decoded-audio recordings (`*-dec.wav`) the sndfile module wrote so far.
    pub fn recordings(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.rec_dir)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        v.retain(|p| p.to_string_lossy().ends_with("-dec.wav"));
        v.sort();
        v
    }
}
