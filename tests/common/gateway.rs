//! The gateway under test: writes its TOML config into the test dir, starts the binary,
//! reads the bound HTTP and SIP addresses from its stderr, and wraps the HTTP API.

use super::callstate::{assert_answered, assert_ending, moved_on, parse_lines, show, StateLine};
use super::http::{self, Response};
use super::net::PortBlock;
use super::proc::Proc;
use super::tmp::TestDir;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Path of the gateway binary under test: the one cargo built for these tests, or
/// `$SIPGW_TEST_BINARY` (e.g. a wrapper running the aarch64 build under qemu-user, see
/// scripts/appliance-test.sh).
pub fn binary() -> &'static str {
    static BINARY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        std::env::var("SIPGW_TEST_BINARY")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_trtc-sipgw").to_string())
    })
}

/// The config keys the tests vary; `to_toml` renders the contract's format.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `[webhook] secret`: the key of every webhook's `X-Trtc-Sipgw-Signature`.
    pub webhook_secret: Option<String>,
    /// `[webhook] timeout_ms` and `retries`: the gateway's defaults when None.
    pub webhook_timeout: Option<(u64, u32)>,
    /// `[sip.outbound] uri`, e.g. `sip:{number}@127.0.0.1:5080`.
    pub outbound_uri: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: Option<String>,
    /// `[rtp] ports`, inclusive.
    pub rtp_ports: (u16, u16),
    pub tone_hz: u32,
    pub record_dir: PathBuf,
    pub dismiss_after_s: u32,
    pub no_rtp_timeout_s: Option<u32>,
    pub max_calls: Option<u32>,
    /// `[calls] state_dir`: the persisted call log, kept inside the test dir.
    pub state_dir: PathBuf,
    /// `[sip] codecs`, the offer order; the gateway's default when None.
    pub codecs: Option<Vec<String>>,
    /// `[sip] g722_level`; the gateway's default ("standard") when None.
    pub g722_level: Option<String>,
    /// Digits the room's app user keys to the phone (`[room.sim] key_digits`, or the
    /// LiteAV double's `KEY_DIGITS`), starting `key_digits_after_s` after entry.
    pub room_key_digits: Option<(String, u32)>,
    /// Over the LiteAV double: how long its `DestroyTRTCCloud` takes (a slow SDK
    /// teardown, which a clean stop must wait for).
    pub room_teardown_ms: Option<u32>,
    /// `[room.sim] callee_enter_after_ms`: inbound calls' callee enters this long after
    /// the robot (None: the gateway's default, never).
    pub callee_enter_after_ms: Option<u32>,
    /// TOML appended as is (tables the fields above do not cover, e.g. `[alsa.lines]`).
    pub extra_toml: String,
    /// Environment for the gateway process beyond the room double's (e.g. `HOME` for
    /// ALSA's `~/.asoundrc`).
    pub env: Vec<(String, String)>,
}

impl GatewayConfig {
    /// Defaults for a test: RTP range from `block` ports 100..=199, 1000 Hz room tone,
    /// recordings in `<dir>/room-rec`, no dismissal.
    pub fn new(dir: &TestDir, block: &PortBlock, outbound_uri: String) -> GatewayConfig {
        GatewayConfig {
            outbound_uri,
            username: None,
            password: None,
            from: None,
            rtp_ports: block.range(100, 199),
            tone_hz: 1000,
            record_dir: dir.subdir("room-rec"),
            dismiss_after_s: 0,
            no_rtp_timeout_s: None,
            max_calls: None,
            state_dir: dir.subdir("state"),
            codecs: None,
            g722_level: None,
            room_key_digits: None,
            room_teardown_ms: None,
            webhook_secret: None,
            webhook_timeout: None,
            callee_enter_after_ms: None,
            extra_toml: String::new(),
            env: Vec::new(),
        }
    }

    pub fn to_toml(&self) -> String {
        let q = |s: &str| toml_str(s);
        let mut t = String::new();
        t.push_str("[http]\nlisten = \"127.0.0.1:0\"\n\n[sip]\nlisten = \"127.0.0.1:0\"\n");
        if let Some(c) = &self.codecs {
            let list: Vec<String> = c.iter().map(|x| q(x)).collect();
            t.push_str(&format!("codecs = [{}]\n", list.join(", ")));
        }
        if let Some(l) = &self.g722_level {
            t.push_str(&format!("g722_level = {}\n", q(l)));
        }
        t.push('\n');
        t.push_str(&format!(
            "[sip.outbound]\nuri = {}\n",
            q(&self.outbound_uri)
        ));
        if let Some(u) = &self.username {
            t.push_str(&format!("username = {}\n", q(u)));
        }
        if let Some(p) = &self.password {
            t.push_str(&format!("password = {}\n", q(p)));
        }
        if let Some(f) = &self.from {
            t.push_str(&format!("from = {}\n", q(f)));
        }
        t.push_str(&format!(
            "\n[rtp]\nip = \"127.0.0.1\"\nports = [{}, {}]\n",
            self.rtp_ports.0, self.rtp_ports.1
        ));
        if let Some(s) = self.no_rtp_timeout_s {
            t.push_str(&format!("no_rtp_timeout_s = {s}\n"));
        }
        t.push_str(&format!(
            "\n[calls]\nstate_dir = {}\n",
            q(&self.state_dir.to_string_lossy())
        ));
        if let Some(m) = self.max_calls {
            t.push_str(&format!("max_calls = {m}\n"));
        }
        match super::room::double_room() {
            None => t.push_str("\n[room]\nbackend = \"sim\"\n"),
            Some(d) => t.push_str(&format!(
                "\n[room]\nbackend = \"trtc\"\n\n[room.trtc]\nsdk_dir = {}\nshim = {}\n",
                q(&d.sdk_dir.to_string_lossy()),
                q(&d.shim.to_string_lossy())
            )),
        }
        t.push_str(&format!(
            "\n[room.sim]\ntone_hz = {}\nrecord_dir = {}\ndismiss_after_s = {}\n",
            self.tone_hz,
            q(&self.record_dir.to_string_lossy()),
            self.dismiss_after_s
        ));
        if let Some((digits, after_s)) = &self.room_key_digits {
            t.push_str(&format!(
                "key_digits = {}\nkey_digits_after_s = {after_s}\n",
                q(digits)
            ));
        }
        if let Some(ms) = self.callee_enter_after_ms {
            t.push_str(&format!("callee_enter_after_ms = {ms}\n"));
        }
        if self.webhook_secret.is_some() || self.webhook_timeout.is_some() {
            t.push_str("\n[webhook]\n");
        }
        if let Some((timeout_ms, retries)) = self.webhook_timeout {
            t.push_str(&format!("timeout_ms = {timeout_ms}\nretries = {retries}\n"));
        }
        if let Some(secret) = &self.webhook_secret {
            t.push_str(&format!("secret = {}\n", q(secret)));
        }
        t.push_str(&self.extra_toml);
        t
    }

    /// What the LiteAV double must do to play the simulated room's part: speak the
    /// same tone, record to the same directory, refuse the same userSig, dismiss the
    /// room after the same time.
    fn double_env(&self) -> Vec<(String, String)> {
        if super::room::double_room().is_none() {
            return Vec::new();
        }
        let mut env = vec![
            (
                "LITEAV_DOUBLE_TONE_HZ".to_string(),
                self.tone_hz.to_string(),
            ),
            (
                "LITEAV_DOUBLE_RECORD_DIR".to_string(),
                self.record_dir.to_string_lossy().into_owned(),
            ),
            (
                "LITEAV_DOUBLE_REJECT_USER_SIG".to_string(),
                "reject".to_string(),
            ),
        ];
        if let Some((digits, after_s)) = &self.room_key_digits {
            env.push(("LITEAV_DOUBLE_KEY_DIGITS".to_string(), digits.clone()));
            env.push((
                "LITEAV_DOUBLE_KEY_AFTER_MS".to_string(),
                (after_s * 1000).to_string(),
            ));
        }
        if let Some(ms) = self.callee_enter_after_ms {
            // The simulated room's 0 is "never"; the double's remote user then never comes.
            let after = if ms == 0 { 3_600_000 } else { ms };
            env.push((
                "LITEAV_DOUBLE_REMOTE_ENTER_AFTER_MS".to_string(),
                after.to_string(),
            ));
        }
        if let Some(ms) = self.room_teardown_ms {
            env.push(("LITEAV_DOUBLE_DESTROY_DELAY_MS".to_string(), ms.to_string()));
        }
        if self.dismiss_after_s > 0 {
            env.push((
                "LITEAV_DOUBLE_DISMISS_AFTER_MS".to_string(),
                (self.dismiss_after_s * 1000).to_string(),
            ));
        }
        env
    }
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A running gateway; SIGTERM then SIGKILL on drop (via its [`Proc`]).
pub struct Gateway {
    pub proc: Proc,
    pub http: SocketAddr,
    pub sip: SocketAddr,
    pub record_dir: PathBuf,
    /// Over the LiteAV double: the TRTC user of each call, whose name the double's
    /// recording carries (calls get distinct users so their recordings do not collide).
    users: Mutex<HashMap<String, String>>,
}

/// Distinct TRTC users for calls over the LiteAV double.
static NEXT_USER: AtomicU32 = AtomicU32::new(1);

fn find_addr(log: &str, prefix: &str) -> Option<SocketAddr> {
    log.lines().find_map(|l| {
        let rest = l.split_once(prefix)?.1.trim();
        rest.split_whitespace().next()?.parse().ok()
    })
}

impl Gateway {
    /// Writes `cfg` and starts the gateway; panics with its log if it does not come up.
    pub fn start(dir: &TestDir, cfg: &GatewayConfig) -> Gateway {
        let mut env = cfg.double_env();
        env.extend(cfg.env.iter().cloned());
        let mut gw = Self::start_with_env(dir, &cfg.to_toml(), &env);
        gw.record_dir = cfg.record_dir.clone();
        gw
    }

    /// Starts the gateway on an arbitrary config text and waits for both address lines.
    pub fn start_with_text(dir: &TestDir, toml: &str) -> Gateway {
        Self::start_with_env(dir, toml, &[])
    }

    fn start_with_env(dir: &TestDir, toml: &str, env: &[(String, String)]) -> Gateway {
        let path = dir.join("gateway.toml");
        std::fs::write(&path, toml).unwrap();
        let mut cmd = Command::new(binary());
        cmd.arg("--config")
            .arg(&path)
            .env("RUST_LOG", "debug")
            .env("RUST_BACKTRACE", "1")
            .envs(env.iter().map(|(k, v)| (k, v)));
        let mut proc = Proc::spawn("gateway", &mut cmd, dir.path());
        proc.wait_log("trtc-sipgw: SIP on udp ", Duration::from_secs(30));
        proc.wait_log("trtc-sipgw: HTTP API on http://", Duration::from_secs(30));
        let log = proc.log_text();
        let http = find_addr(&log, "trtc-sipgw: HTTP API on http://")
            .unwrap_or_else(|| panic!("cannot parse the HTTP address line:\n{log}"));
        let sip = find_addr(&log, "trtc-sipgw: SIP on udp ")
            .unwrap_or_else(|| panic!("cannot parse the SIP address line:\n{log}"));
        Gateway {
            proc,
            http,
            sip,
            record_dir: dir.join("room-rec"),
            users: Mutex::new(HashMap::new()),
        }
    }

    /// Runs the binary on a config that must be refused; returns (exit code, output).
    pub fn run_expect_failure(dir: &TestDir, toml: &str) -> (Option<i32>, String) {
        let path = dir.join("bad.toml");
        std::fs::write(&path, toml).unwrap();
        let mut cmd = Command::new(binary());
        cmd.arg("--config").arg(&path);
        let mut proc = Proc::spawn("gateway-bad-config", &mut cmd, dir.path());
        let st = proc.wait_exit(Duration::from_secs(20));
        let out = proc.log_text();
        match st {
            Some(st) => (st.code(), out),
            None => panic!("gateway kept running on a bad config:\n{toml}\noutput:\n{out}"),
        }
    }

    /// The standard startup body of the tests.
    pub fn startup_body(phonenumber: &str, ttl: u32, notify: Option<&str>) -> Value {
        let mut body = json!({
            "phonenumber": phonenumber,
            "ttl": ttl,
            "trtcParams": {"sdkAppId": 1400000001u64, "userSig": "x", "roomId": 1234, "userId": "phone1"}
        });
        if let Some(url) = notify {
            body["callStateNotifyUrl"] = json!(url);
        }
        body
    }

    /// POST /trtc/startup with any body.
    pub fn startup_raw(&self, body: &Value) -> Response {
        http::post_json(self.http, "/trtc/startup", body)
    }

    /// Starts a call and returns its id (asserts 200 and a lowercase hex id).
    pub fn startup(&self, phonenumber: &str, ttl: u32, notify: Option<&str>) -> String {
        let mut body = Self::startup_body(phonenumber, ttl, notify);
        let user = super::room::double_room().map(|_| {
            let user = format!("phone{}", NEXT_USER.fetch_add(1, Ordering::SeqCst));
            body["trtcParams"]["userId"] = json!(user);
            user
        });
        let r = self.startup_raw(&body);
        assert_eq!(
            r.status,
            200,
            "startup failed: {}\ngateway log:\n{}",
            r.text(),
            self.proc.log_tail(40)
        );
        let id = r.json()["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", r.text()))
            .to_string();
        assert!(
            !id.is_empty() && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "call id {id:?} is not lowercase hex"
        );
        if let Some(user) = user {
            self.users.lock().unwrap().insert(id.clone(), user);
        }
        id
    }

    /// POST /trtc/shutdown; asserts 200 and the echoed id.
    pub fn shutdown(&self, id: &str) {
        let r = http::post_json(self.http, "/trtc/shutdown", &json!({ "id": id }));
        assert_eq!(r.status, 200, "shutdown failed: {}", r.text());
        assert_eq!(r.json()["id"], json!(id), "shutdown reply must echo the id");
    }

    /// GET /trtc/callstate: (parsed lines, done).
    pub fn callstate(&self, id: &str) -> (Vec<StateLine>, bool) {
        let r = http::get(self.http, &format!("/trtc/callstate?id={id}"));
        assert_eq!(r.status, 200, "callstate failed: {}", r.text());
        let v = r.json();
        let data = v["data"]
            .as_str()
            .unwrap_or_else(|| panic!("callstate without data: {v}"));
        let done = v["done"]
            .as_bool()
            .unwrap_or_else(|| panic!("callstate without done: {v}"));
        (parse_lines(data), done)
    }

    /// Waits until the call has reached `state` (e.g. 5 CONFIRMED); returns the lines.
    pub fn wait_state(&self, id: &str, state: u8, timeout: Duration) -> Vec<StateLine> {
        let mut last = Vec::new();
        let got = super::wait::try_until(timeout, || {
            let (lines, _) = self.callstate(id);
            let hit = lines.iter().any(|l| l.state == state);
            last = lines.clone();
            hit.then_some(lines)
        });
        got.unwrap_or_else(|| {
            panic!(
                "timed out after {:.0} s waiting for call {id} to reach state {state}; so far:\n{}\ngateway log:\n{}",
                timeout.as_secs_f64(),
                super::callstate::show(&last),
                self.proc.log_tail(40)
            )
        })
    }

    /// Waits until `done` and returns the full history.
    pub fn wait_done(&self, id: &str, timeout: Duration) -> Vec<StateLine> {
        let mut last = Vec::new();
        let got = super::wait::try_until(timeout, || {
            let (lines, done) = self.callstate(id);
            last = lines.clone();
            done.then_some(lines)
        });
        got.unwrap_or_else(|| {
            panic!(
                "timed out after {:.0} s waiting for call {id} to be done; so far:\n{}\ngateway log:\n{}",
                timeout.as_secs_f64(),
                super::callstate::show(&last),
                self.proc.log_tail(40)
            )
        })
    }

    /// Notes that call `id` entered its room as TRTC user `user` (an inbound call's
    /// robot), so [`Gateway::recording`] finds the LiteAV double's recording.
    pub fn note_user(&self, id: &str, user: &str) {
        if super::room::double_room().is_none() {
            return; // the simulated room records by call id
        }
        self.users
            .lock()
            .unwrap()
            .insert(id.to_string(), user.to_string());
    }

    /// Where the sim room records what it heard from the phone in call `id`.
    pub fn recording(&self, id: &str) -> PathBuf {
        let user = self.users.lock().unwrap().get(id).cloned();
        match user {
            None => self.record_dir.join(format!("{id}.wav")),
            Some(user) => {
                // The double writes its recording when the SDK instance is torn down,
                // just after the call ends.
                let path = self.record_dir.join(format!("{user}.wav"));
                super::wait::until(
                    &format!("the LiteAV double's recording {}", path.display()),
                    Duration::from_secs(15),
                    || path.exists().then_some(()),
                );
                super::wait::file_settled(&path, Duration::from_secs(15));
                path
            }
        }
    }

    /// Places a call to `number`, waits until it is CONFIRMED, keeps it up for `hold`,
    /// ends it through shutdown and checks that it was answered and ended so; returns
    /// its id and state lines.
    pub fn answered_call(&self, number: &str, hold: Duration) -> (String, Vec<StateLine>) {
        let id = self.startup(number, 60, None);
        self.wait_state(&id, 5, Duration::from_secs(30));
        std::thread::sleep(hold);
        self.shutdown(&id);
        let lines = self.wait_done(&id, Duration::from_secs(30));
        assert_answered(&lines);
        assert_ending(&lines, 200, "shutdown requested");
        (id, lines)
    }

    /// Places a call whose first trunk (`primary`) fails at the transport level and
    /// checks that it moved on to `backup` at once (well before Timer B's 32 s), saying
    /// so in its state lines, and was answered there; then ends it.
    pub fn assert_transport_error_moves_on(&mut self) {
        let started = std::time::Instant::now();
        let id = self.startup("1002", 60, None);
        let lines = self.wait_state(&id, 5, Duration::from_secs(30));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a transport error ends the attempt at once, not after Timer B: took {:?}\n{}",
            started.elapsed(),
            show(&lines)
        );
        assert_eq!(
            moved_on(&lines),
            ["trunk primary: transport error, trying backup"],
            "{}",
            show(&lines)
        );
        self.shutdown(&id);
        let lines = self.wait_done(&id, Duration::from_secs(30));
        let confirmed = lines.iter().find(|l| l.state == 5).expect("CONFIRMED");
        assert_eq!(confirmed.reason, "OK from backup", "{}", show(&lines));
    }

    /// Asserts the process is alive and never panicked.
    pub fn assert_healthy(&mut self) {
        let log = self.proc.log_text();
        assert!(
            !log.contains("panicked"),
            "gateway panicked:\n{}",
            self.proc.log_tail(60)
        );
        if let Some(st) = self.proc.exited() {
            panic!("gateway exited ({st}):\n{}", self.proc.log_tail(60));
        }
    }

    pub fn log_dir(&self) -> &Path {
        self.proc.log_path().parent().unwrap()
    }
}

impl Gateway {
    /// The gateway process's resident set size in KiB (`VmRSS` of /proc/<pid>/status),
    /// so a test can check that memory stays flat under load.
    pub fn rss_kib(&self) -> u64 {
        let path = format!("/proc/{}/status", self.proc.pid());
        let status =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in {path}:\n{status}"))
    }
}
