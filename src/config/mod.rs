//! The gateway's TOML configuration: every key has a built-in default, so the binary
//! runs with no file at all, and a bad file is refused at start with the key named.

pub mod inbound;
pub mod registrar;
pub mod secrets;
pub mod sip_tls;
pub mod trunks;

use crate::room_config::{SimConfig, TrtcRoomConfig};
use crate::sip::TimerConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Why a configuration could not be used. The message always names the offending key
/// (or the file), because the person reading it is editing that file.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration, one section per concern.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The SIPx-compatible HTTP API.
    pub http: HttpConfig,
    /// The SIP user agent (the phone leg's signalling).
    pub sip: SipSection,
    /// RTP media sockets of the phone leg.
    pub rtp: RtpConfig,
    /// Which room backend carries the TRTC leg.
    pub room: RoomConfig,
    /// Call registry limits and the persisted call log.
    pub calls: CallsConfig,
    /// Delivery of state webhooks.
    pub webhook: WebhookConfig,
    /// Logging.
    pub log: LogConfig,
    /// TRTC applications the gateway may sign userSigs for.
    pub trtc: TrtcConfig,
    /// `[policy]`: which numbers may be dialled and how often. `None` when the file has
    /// no `[policy]` section: then all numbers are allowed, which `validate` accepts only
    /// while the API listens on loopback.
    pub policy: Option<PolicyConfig>,
    /// `[callengine]`: the TRTC Call Engine REST API that rings app users for inbound
    /// calls. `None` when the file has no such section.
    pub callengine: Option<crate::callengine::CallEngineConfig>,
    /// `[alsa.lines.<name>]`: local sound devices usable as the phone leg (`alsa:<name>`).
    pub alsa: crate::alsa::AlsaConfig,
    /// `[registrar]`: devices that may REGISTER to the box. `None` when the file has no
    /// such section: REGISTER is then answered 405.
    pub registrar: Option<registrar::RegistrarSection>,
    /// `[[inbound]]`: which calls into the box go to which app users and room. Empty:
    /// the box takes no calls (INVITEs are answered 480).
    pub inbound: Vec<inbound::InboundRule>,
}

/// `[policy]`: the toll-fraud rules of `/trtc/startup`.
///
/// Exists because whoever can use the API dials on the trunk's credentials: premium,
/// international and PBX feature-code numbers are what an attacker tries first.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Regexes; a number matching one anywhere is refused (403), checked first.
    pub deny: Vec<String>,
    /// Regexes; when not empty, a number must match one in full, else 403.
    pub allow: Vec<String>,
    /// Call setups per api_key (per client address when unsigned) per minute; more are
    /// answered 429 with `Retry-After`. 0 = no limit.
    pub max_setups_per_minute: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            deny: Vec::new(),
            allow: Vec::new(),
            max_setups_per_minute: 60,
        }
    }
}

impl PolicyConfig {
    /// The compiled number rules; the error names `policy.deny` / `policy.allow`.
    pub fn numbers(&self) -> Result<crate::http::NumberPolicy, ConfigError> {
        crate::http::NumberPolicy::new(&self.deny, &self.allow).map_err(ConfigError)
    }
}

/// `[trtc]`: per-application secrets, so clients may omit `trtcParams.userSig`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrtcConfig {
    /// `[trtc.apps."<sdkAppId>"]`, keyed by the decimal sdkAppId.
    pub apps: std::collections::BTreeMap<String, TrtcAppConfig>,
}

/// `[trtc.apps."<sdkAppId>"]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrtcAppConfig {
    /// The application's UserSig secret key (TRTC console). Never logged.
    pub secret_key: String,
    /// Lifetime of the userSigs the gateway makes, in seconds.
    #[serde(default = "default_user_sig_expire_s")]
    pub user_sig_expire_s: u64,
}

fn default_user_sig_expire_s() -> u64 {
    86_400
}

impl std::fmt::Debug for TrtcAppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrtcAppConfig")
            .field("secret_key", &"<redacted>")
            .field("user_sig_expire_s", &self.user_sig_expire_s)
            .finish()
    }
}

/// `[http]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where the API listens. Loopback by default: exposing it to a LAN is a choice.
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most API connections open at once; beyond it a new client gets `503` at once.
    pub max_connections: usize,
    /// Most connections one client address may hold open, below `max_connections`, so
    /// one misbehaving client cannot take every slot from the others (`503` beyond).
    pub max_connections_per_client: usize,
    /// `api_key` → `api_secret` (`[http.api_keys]`): when not empty, every API request
    /// carries the SIPx signature (SPEC section 1). Secrets are never logged.
    pub api_keys: BTreeMap<String, String>,
    /// A listener beyond loopback without `api_keys` lets anyone who reaches it place
    /// calls on the trunk: the gateway refuses to start so unless this says so in words.
    pub allow_unauthenticated: bool,
    /// Signatures whose `expire_at` lies further ahead than this are refused (401), so a
    /// leaked URL cannot be valid forever; 0 = no limit.
    pub max_signature_validity_s: u64,
    /// `/metrics` without a signature (Prometheus scrapers cannot sign); it shows call
    /// counts and rates, no numbers or ids.
    pub metrics_public: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 64 * 1024,
            max_connections: 256,
            max_connections_per_client: 32,
            api_keys: BTreeMap::new(),
            allow_unauthenticated: false,
            max_signature_validity_s: 86_400,
            metrics_public: false,
        }
    }
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_connections", &self.max_connections)
            .field(
                "max_connections_per_client",
                &self.max_connections_per_client,
            )
            .field("api_keys", &self.api_keys.keys().collect::<Vec<_>>())
            .field("allow_unauthenticated", &self.allow_unauthenticated)
            .field("max_signature_validity_s", &self.max_signature_validity_s)
            .field("metrics_public", &self.metrics_public)
            .finish()
    }
}

impl HttpConfig {
    /// The signature policy the server enforces: the keys, and the validity limit.
    pub fn signature_keys(&self) -> crate::http::ApiKeys {
        let mut keys = crate::http::ApiKeys::new();
        for (key, secret) in &self.api_keys {
            keys.insert(key.clone(), secret.clone());
        }
        keys.set_max_ahead(Some(self.max_signature_validity_s).filter(|s| *s > 0));
        keys.set_metrics_public(self.metrics_public);
        keys
    }
}

/// `[sip]`: the file's view of the phone leg's signalling. Not named `SipConfig`: that is
/// the SIP user agent's own settings (`sip::SipConfig`), which `main` fills from this.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipSection {
    /// Address of the SIP sockets: UDP, and TCP on the same address and port.
    pub listen: SocketAddr,
    /// Address written into Via/Contact/SDP when `listen` is a wildcard; found from the
    /// route towards the outbound target when not set.
    pub advertise_ip: Option<IpAddr>,
    /// RFC 3261 T1 in milliseconds (retransmission base).
    pub t1_ms: u64,
    /// Codecs offered to the phone, most preferred first (`opus`, `g722`, `pcmu`,
    /// `pcma`, `g729` when built with it). The answer follows the phone's preference.
    pub codecs: Vec<String>,
    /// G.722 level convention: `"standard"` (the ITU-T reference, FFmpeg, spandsp) or
    /// `"pjmedia"` (peers that scale PCM by one bit around the codec: Linphone, pjsip).
    /// See `media::g722` for the evidence.
    #[serde(deserialize_with = "g722_level")]
    pub g722_level: crate::media::g722::G722Level,
    /// Where calls go when `trunks` is empty (a list of one trunk).
    pub outbound: OutboundConfig,
    /// `[[sip.trunks]]`: where calls go, in order, with failover (see `config::trunks`).
    pub trunks: Vec<trunks::TrunkSection>,
    /// DNS servers (`ip` or `ip:port`) for trunk hosts' SRV and A/AAAA lookups; empty:
    /// the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<String>,
    /// CIDRs (or single addresses) whose out-of-dialog requests are handled; requests
    /// from anywhere else are dropped without state or answer, so strangers cannot load
    /// the box or use it as a reflector. The trunk's resolved address is always trusted,
    /// and so is each live call's destination. `None` (key absent): 127.0.0.1 and ::1.
    pub trusted: Option<Vec<String>>,
    /// Address of the SIP over TLS listener; None: no listener (the box can still call
    /// TLS trunks). Needs `[sip.tls] cert_file` and `key_file`.
    pub tls_listen: Option<SocketAddr>,
    /// `[sip.tls]`: certificate, key and extra roots (see `config::sip_tls`).
    pub tls: sip_tls::SipTlsSection,
}

impl SipSection {
    /// `dns_servers` as addresses (port 53 when not given); the error names the entry.
    pub fn dns_server_addrs(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        self.dns_servers
            .iter()
            .map(|e| {
                e.parse::<SocketAddr>()
                    .or_else(|_| e.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .map_err(|_| {
                        ConfigError(format!(
                            "invalid value for key `sip.dns_servers`: `{e}` is not an IP address or ip:port"
                        ))
                    })
            })
            .collect()
    }

    /// The trunks calls leave through: `[[sip.trunks]]`, or `[sip.outbound]` as the one
    /// trunk of a config without that list.
    pub fn trunk_list(&self) -> Vec<trunks::TrunkSection> {
        if self.trunks.is_empty() {
            vec![trunks::TrunkSection::from_outbound(&self.outbound)]
        } else {
            self.trunks.clone()
        }
    }

    /// `trusted` as address blocks (the built-in loopback default when absent); the error
    /// names `sip.trusted` and the entry at fault.
    pub fn trusted_nets(&self) -> Result<Vec<crate::net::IpNet>, ConfigError> {
        let Some(entries) = &self.trusted else {
            return Ok(crate::sip::endpoint::default_trusted());
        };
        entries
            .iter()
            .map(|e| {
                crate::net::parse_net(e).ok_or_else(|| {
                    ConfigError(format!(
                        "invalid value for key `sip.trusted`: `{e}` is not a CIDR or an IP address"
                    ))
                })
            })
            .collect()
    }
}

impl Default for SipSection {
    fn default() -> Self {
        SipSection {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            advertise_ip: None,
            t1_ms: TimerConfig::default().t1.as_millis() as u64,
            codecs: ["opus", "g722", "pcmu", "pcma"].map(String::from).to_vec(),
            g722_level: crate::media::g722::G722Level::Standard,
            outbound: OutboundConfig::default(),
            trunks: Vec::new(),
            dns_servers: Vec::new(),
            trusted: None,
            tls_listen: None,
            tls: sip_tls::SipTlsSection::default(),
        }
    }
}

/// Reads `g722_level` by name, so a typo is a config error that lists the choices.
fn g722_level<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<crate::media::g722::G722Level, D::Error> {
    let name = String::deserialize(d)?;
    crate::media::g722::G722Level::from_config_name(&name).ok_or_else(|| {
        serde::de::Error::custom(format!("unknown g722_level `{name}` (standard, pjmedia)"))
    })
}

/// `[sip.outbound]`: the route that turns a phone number into a request URI.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Request-URI template; `{number}` is replaced by the requested phone number.
    pub uri: String,
    /// Digest user name, when the trunk or PBX asks for authentication.
    pub username: Option<String>,
    /// Digest password. Never logged.
    pub password: Option<String>,
    /// Caller id (From URI).
    pub from: Option<String>,
    /// When set, the digest credentials answer only challenges of this realm (a
    /// stranger's challenge would otherwise get a digest of the password).
    pub realm: Option<String>,
    /// Follow a 3xx from the callee (only to the trunk's own host). Off by default: a
    /// redirect could otherwise send the call, and a premium number, anywhere.
    pub follow_redirects: bool,
}

impl OutboundConfig {
    /// The request URI for a phone number: the template with `{number}` replaced, `#`
    /// escaped as SIP URIs require.
    pub fn request_uri(&self, number: &str) -> String {
        self.uri.replace("{number}", &number.replace('#', "%23"))
    }
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            uri: "sip:{number}@127.0.0.1:5062".into(),
            username: None,
            password: None,
            from: None,
            realm: None,
            follow_redirects: false,
        }
    }
}

/// `[rtp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtpConfig {
    /// Address RTP sockets bind to and advertise in SDP; the SIP address when not set.
    pub ip: Option<IpAddr>,
    /// Inclusive port range; each call takes an even RTP port (and the odd one above it).
    pub ports: [u16; 2],
    /// Hang up an answered call after this many seconds without RTP from the phone.
    pub no_rtp_timeout_s: u32,
    /// Jitter buffer target depth in 20 ms frames.
    pub jitter_frames: u8,
}

impl Default for RtpConfig {
    fn default() -> Self {
        RtpConfig {
            ip: None,
            ports: [16384, 32767],
            no_rtp_timeout_s: 30,
            jitter_frames: 2,
        }
    }
}

/// `[room]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomConfig {
    /// `sim` (built-in simulated room) or `trtc` (Tencent LiteAV SDK).
    pub backend: String,
    /// The gateway's own bound on room entry, in seconds.
    pub entry_timeout_s: u32,
    /// Settings of the simulated room.
    pub sim: SimConfig,
    /// Settings of Tencent's LiteAV SDK (`backend = "trtc"`).
    pub trtc: TrtcRoomConfig,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            backend: "sim".into(),
            entry_timeout_s: 15,
            sim: SimConfig::default(),
            trtc: Default::default(),
        }
    }
}

/// `[calls]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    /// Most calls at once; beyond it `/trtc/startup` answers 503. `"auto"`: what this
    /// box's core carries of the dearest codec offered (`calls::admission`).
    pub max_calls: MaxCalls,
    /// This process's node number (1..=99) when several gateways share a front (HAProxy,
    /// Kamailio's dispatcher): its call ids start with the number as two decimal digits,
    /// so the front routes `callstate`, `shutdown`, `dtmf` and `callstats` by the id
    /// alone (deploy/). None: ids are 16 hex digits, as a lone box's always were.
    pub node: Option<u8>,
    /// How long finished calls stay queryable, in hours.
    pub retention_h: u32,
    /// Directory of the persisted call log; `$STATE_DIRECTORY` (systemd) or a per-user
    /// state directory when not set; empty string = keep history in memory only.
    pub state_dir: Option<PathBuf>,
    /// Size cap of the call log in MiB: past it the log is rewritten without the
    /// oldest finished calls, so the disk and the start-up read stay bounded.
    pub log_max_mb: u32,
    /// Most finished calls held in memory; older ones answer `callstate` from the log.
    pub history_max: usize,
    /// The ringback inbound callers hear while the app users ring (national tone plan):
    /// frequency, on and off times.
    pub ringback_hz: f32,
    /// How long the ringback tone sounds.
    pub ringback_on_ms: u32,
    /// The pause after it.
    pub ringback_off_ms: u32,
}

/// `[calls] max_calls`: a number, or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxCalls {
    /// This many.
    Fixed(usize),
    /// From the measured cost of the codecs offered and this core's speed.
    Auto,
}

impl<'de> Deserialize<'de> for MaxCalls {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(usize),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(MaxCalls::Fixed(n)),
            Raw::Word(w) if w == "auto" => Ok(MaxCalls::Auto),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "`{w}`: a number of calls, or \"auto\""
            ))),
        }
    }
}

impl CallsConfig {
    /// The ringback tone plan.
    pub fn ringback(&self) -> crate::media::ringback::TonePlan {
        crate::media::ringback::TonePlan {
            hz: self.ringback_hz,
            on_ms: self.ringback_on_ms,
            off_ms: self.ringback_off_ms,
        }
    }
}

impl Default for CallsConfig {
    fn default() -> Self {
        CallsConfig {
            max_calls: MaxCalls::Fixed(200),
            node: None,
            retention_h: 24,
            state_dir: None,
            log_max_mb: 64,
            history_max: crate::calls::registry::HISTORY_MAX,
            ringback_hz: 425.0,
            ringback_on_ms: 1000,
            ringback_off_ms: 4000,
        }
    }
}

/// `[webhook]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Timeout of one delivery attempt, in milliseconds.
    pub timeout_ms: u64,
    /// Extra attempts after a failed delivery (connection error, timeout, 5xx).
    pub retries: u32,
    /// PEM file of extra CA certificates trusted for `https://` webhooks (a private
    /// CA on the LAN), beside the bundled public roots.
    pub ca_file: Option<PathBuf>,
    /// CIDRs or host names; when not empty, only these targets are posted to (API
    /// clients name the URL, so the operator bounds where the gateway may reach).
    /// Link-local and multicast addresses are refused whatever this says.
    pub allow: Vec<String>,
    /// Key of the `X-Trtc-Sipgw-Signature` HMAC on every webhook, so receivers can
    /// tell the gateway sent it (or `secret_file`). Never logged.
    pub secret: Option<String>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout_ms: 3000,
            retries: 3,
            ca_file: None,
            allow: Vec::new(),
            secret: None,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
        }
    }
}

impl Config {
    /// Reads and checks a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses and checks TOML text; the error names the key at fault.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        // `<secret>_file` keys become the secrets they name (src/secrets.rs).
        let inlined = crate::config::secrets::inline_secret_files(text)?;
        let text = inlined.as_deref().unwrap_or(text);
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError(describe_toml_error(text, &e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| {
            Err(ConfigError(format!("invalid value for key `{key}`: {why}")))
        };
        if !self.http.listen.ip().is_loopback()
            && self.http.api_keys.is_empty()
            && !self.http.allow_unauthenticated
        {
            return bad(
                "http.allow_unauthenticated",
                &format!(
                    "the API would listen on {} (beyond loopback) with no [http.api_keys]: \
                     anyone who reaches it could place calls on the trunk. Add api_keys, \
                     listen on 127.0.0.1, or set allow_unauthenticated = true to accept that",
                    self.http.listen
                ),
            );
        }
        if let Some(ce) = &self.callengine {
            ce.validate().map_err(ConfigError)?;
        }
        match &self.policy {
            None if !self.http.listen.ip().is_loopback() => {
                return bad(
                    "policy",
                    &format!(
                        "the API would listen on {} (beyond loopback) with no [policy]: every \
                         number, premium and international included, could be dialled on the \
                         trunk. Add a [policy] section with deny/allow (see board/example.toml); \
                         an empty [policy] allows all numbers in so many words",
                        self.http.listen
                    ),
                );
            }
            None => {}
            Some(p) => {
                p.numbers()?;
            }
        }
        for (key, secret) in &self.http.api_keys {
            if key.is_empty() || secret.len() < 8 {
                return bad(
                    "http.api_keys",
                    "each api_key needs a name and a secret of at least 8 characters",
                );
            }
        }
        let uri = &self.sip.outbound.uri;
        if !(uri.starts_with("sip:") || uri.starts_with("sips:")) {
            return bad("sip.outbound.uri", "must start with sip:");
        }
        if !uri.contains("{number}") {
            return bad("sip.outbound.uri", "must contain {number}");
        }
        if let Some(from) = &self.sip.outbound.from {
            if !(from.starts_with("sip:") || from.starts_with("sips:")) {
                return bad("sip.outbound.from", "must be a sip: URI");
            }
        }
        if self.sip.outbound.password.is_some() && self.sip.outbound.username.is_none() {
            return bad("sip.outbound.username", "is needed when a password is set");
        }
        self.sip.trusted_nets()?;
        if self.sip.t1_ms == 0 || self.sip.t1_ms > 10_000 {
            return bad("sip.t1_ms", "must be 1..=10000");
        }
        if self.sip.codecs.is_empty() {
            return bad("sip.codecs", "must name at least one codec");
        }
        for name in &self.sip.codecs {
            match crate::media::Codec::from_config_name(name) {
                Some(codec) if codec.is_available() => {}
                Some(_) => return bad("sip.codecs", &format!("`{name}` is not in this build")),
                None => {
                    return bad(
                        "sip.codecs",
                        &format!("unknown codec `{name}` (opus, g722, pcmu, pcma, g729)"),
                    )
                }
            }
        }
        let [lo, hi] = self.rtp.ports;
        if lo == 0 || lo > hi || hi - lo < 1 {
            return bad("rtp.ports", "must be [low, high] with 0 < low < high");
        }
        if self.rtp.no_rtp_timeout_s == 0 {
            return bad("rtp.no_rtp_timeout_s", "must be at least 1");
        }
        if self.rtp.jitter_frames > 25 {
            return bad("rtp.jitter_frames", "must be 0..=25");
        }
        match self.room.backend.as_str() {
            "sim" | "trtc" => {}
            _ => return bad("room.backend", "must be `sim` or `trtc`"),
        }
        if let Err((key, why)) = self.room.trtc.validate().and(self.room.sim.validate()) {
            return bad(key, &why);
        }
        for (app, cfg) in &self.trtc.apps {
            let key = format!("trtc.apps.\"{app}\"");
            if !app.parse::<u32>().is_ok_and(|n| n > 0) {
                return bad(&key, "the table name must be the decimal sdkAppId");
            }
            if cfg.secret_key.trim().is_empty() {
                return bad(&format!("{key}.secret_key"), "must not be empty");
            }
            if !(60..=180 * 86_400).contains(&cfg.user_sig_expire_s) {
                return bad(&format!("{key}.user_sig_expire_s"), "must be 60..=15552000");
            }
        }
        if let Err((key, why)) = self.alsa.validate(cfg!(feature = "alsa")) {
            return bad(&key, &why);
        }
        if let Some(Err((key, why))) = self.registrar.as_ref().map(|r| r.validate()) {
            return bad(&key, &why);
        }
        if let Err((key, why)) = trunks::validate_all(&self.sip.trunks) {
            return bad(&key, &why);
        }
        if let Err((key, why)) = self.sip.tls.validate(self.sip.tls_listen.is_some()) {
            return bad(&key, &why);
        }
        self.sip.dns_server_addrs()?;
        let apps: Vec<String> = self.trtc.apps.keys().cloned().collect();
        for (i, rule) in self.inbound.iter().enumerate() {
            if let Err((key, why)) = rule.validate(i, &apps) {
                return bad(&key, &why);
            }
        }
        if self.room.entry_timeout_s == 0 {
            return bad("room.entry_timeout_s", "must be at least 1");
        }
        if self.calls.max_calls == MaxCalls::Fixed(0) {
            return bad("calls.max_calls", "must be at least 1");
        }
        if matches!(self.calls.node, Some(n) if !(1..=99).contains(&n)) {
            return bad(
                "calls.node",
                "must be 1 to 99 (two digits lead the call ids)",
            );
        }
        if self.calls.log_max_mb == 0 {
            return bad("calls.log_max_mb", "must be at least 1");
        }
        if !(self.calls.ringback_hz > 0.0 && self.calls.ringback_hz < 4000.0) {
            return bad("calls.ringback_hz", "must be between 0 and 4000 Hz");
        }
        if self.calls.ringback_on_ms == 0 || self.calls.ringback_on_ms > 10_000 {
            return bad("calls.ringback_on_ms", "must be 1..=10000");
        }
        if self.calls.ringback_off_ms > 20_000 {
            return bad("calls.ringback_off_ms", "must be 0..=20000");
        }
        if self.calls.history_max == 0 {
            return bad("calls.history_max", "must be at least 1");
        }
        if self.webhook.timeout_ms == 0 {
            return bad("webhook.timeout_ms", "must be at least 1");
        }
        if self.webhook.retries > 10 {
            return bad("webhook.retries", "must be 0..=10");
        }
        if let Err(why) = crate::http::webhook_target::WebhookTargets::parse(&self.webhook.allow) {
            return bad("webhook.allow", &why);
        }
        if self.webhook.secret.as_deref().is_some_and(|s| s.len() < 8) {
            return bad("webhook.secret", "must be at least 8 characters");
        }
        if !matches!(
            self.log.level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            return bad("log.level", "must be error, warn, info, debug or trace");
        }
        if self.http.max_body_bytes < 1024 {
            return bad("http.max_body_bytes", "must be at least 1024");
        }
        if self.http.max_connections == 0 {
            return bad("http.max_connections", "must be at least 1");
        }
        if self.http.max_connections_per_client == 0
            || self.http.max_connections_per_client > self.http.max_connections
        {
            return bad(
                "http.max_connections_per_client",
                "must be at least 1 and at most http.max_connections",
            );
        }
        Ok(())
    }

    /// The `[policy]` rules the API server applies: the built-in open default (all
    /// numbers, no setup limit) when there is no `[policy]`, which `validate` allows only
    /// on loopback.
    pub fn guard(&self) -> Result<crate::http::Guard, ConfigError> {
        match &self.policy {
            None => Ok(crate::http::Guard::open()),
            Some(p) => Ok(crate::http::Guard::new(
                p.numbers()?,
                p.max_setups_per_minute,
            )),
        }
    }

    /// The offered codecs, in order, without repeats (names were checked by `validate`).
    pub fn offered_codecs(&self) -> Vec<crate::media::Codec> {
        let mut codecs = Vec::new();
        for codec in self
            .sip
            .codecs
            .iter()
            .filter_map(|n| crate::media::Codec::from_config_name(n))
        {
            if codec.is_available() && !codecs.contains(&codec) {
                codecs.push(codec);
            }
        }
        codecs
    }

    /// The directory of the persisted call log, or None when history stays in memory.
    pub fn state_dir(&self) -> Option<PathBuf> {
        match &self.calls.state_dir {
            Some(dir) if dir.as_os_str().is_empty() => None,
            Some(dir) => Some(dir.clone()),
            None => {
                if let Some(dirs) = std::env::var_os("STATE_DIRECTORY") {
                    return Some(last_state_directory(&dirs));
                }
                if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
                    return Some(PathBuf::from(dir).join("trtc-sipgw"));
                }
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/trtc-sipgw"))
            }
        }
    }
}

/// The last of systemd's `$STATE_DIRECTORY` paths: a unit with several
/// `StateDirectory=` entries gets them joined by `:` in the order written, and the
/// template unit (`trtc-sipgw@.service`) lists the shared directory (the SDK) before
/// its instance's own, which is where that instance keeps its history.
fn last_state_directory(dirs: &std::ffi::OsStr) -> PathBuf {
    let dirs = dirs.to_string_lossy();
    PathBuf::from(dirs.rsplit(':').next().unwrap_or_default())
}

/// toml's errors carry a byte span and, for unknown fields, the field's name; turn the
/// span into the dotted key (`rtp.ports`) and a line number, and drop the multi-line
/// source excerpt, so the message reads as one sentence naming the key.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    let Some(span) = e.span() else { return msg };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let mut table = String::new();
    for line in text[..start].lines() {
        let t = line.trim();
        if t.starts_with('[') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
    }
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string());
    match key {
        Some(key) if !key.is_empty() && !line.trim_start().starts_with('[') => {
            let full = if table.is_empty() {
                key
            } else {
                format!("{table}.{key}")
            };
            format!("key `{full}` (line {line_no}): {msg}")
        }
        _ => format!("line {line_no}: {msg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.http.listen.port(), 8080);
        assert_eq!(c.sip.listen.port(), 5060);
        assert_eq!(c.room.backend, "sim");
    }

    #[test]
    fn contract_keys_are_accepted() {
        let c = Config::parse(
            r#"
[http]
listen = "127.0.0.1:18080"
[sip]
listen = "127.0.0.1:15060"
[sip.outbound]
uri = "sip:{number}@127.0.0.1:25060"
username = "1001"
password = "secret"
from = "sip:1001@sip.test"
[rtp]
ip = "127.0.0.1"
ports = [21000, 21999]
[room]
backend = "sim"
[room.sim]
tone_hz = 1000
record_dir = "/tmp/room-rec"
dismiss_after_s = 0
"#,
        )
        .unwrap();
        assert_eq!(c.rtp.ports, [21000, 21999]);
        assert_eq!(c.sip.outbound.username.as_deref(), Some("1001"));
        assert_eq!(c.room.sim.tone_hz, 1000.0);
    }

    #[test]
    fn an_open_api_needs_keys_or_an_explicit_choice() {
        let e = Config::parse("[http]\nlisten = \"0.0.0.0:8080\"\n").unwrap_err();
        assert!(e.0.contains("`http.allow_unauthenticated`"), "{}", e.0);
        let c = Config::parse(
            "[http]\nlisten = \"0.0.0.0:8080\"\nallow_unauthenticated = true\n[policy]\n",
        )
        .unwrap();
        assert!(c.http.signature_keys().is_empty());
        let c = Config::parse(
            "[http]\nlisten = \"0.0.0.0:8080\"\n[http.api_keys]\n\"23456789\" = \"k69x50j0\"\n\
             [policy]\n",
        )
        .unwrap();
        assert!(!c.http.signature_keys().is_empty());
        let shown = format!("{:?}", c.http);
        assert!(
            shown.contains("23456789") && !shown.contains("k69x50j0"),
            "{shown}"
        );
        let e = Config::parse("[http.api_keys]\n\"k\" = \"short\"\n").unwrap_err();
        assert!(e.0.contains("`http.api_keys`"), "{}", e.0);
        // loopback needs nothing
        assert!(Config::parse("[http]\nlisten = \"127.0.0.1:8080\"\n").is_ok());
    }

    #[test]
    fn policy_is_checked_at_load() {
        // Beyond loopback, no [policy]: refused, naming the section.
        let open =
            "[http]\nlisten = \"0.0.0.0:8080\"\n[http.api_keys]\n\"23456789\" = \"k69x50j0\"\n";
        let e = Config::parse(open).unwrap_err();
        assert!(e.0.contains("`policy`"), "{}", e.0);
        // An empty [policy] allows all numbers in so many words, with the default limit.
        let c = Config::parse(&format!("{open}[policy]\n")).unwrap();
        assert_eq!(c.policy.as_ref().unwrap().max_setups_per_minute, 60);
        // On loopback the section may be absent.
        assert!(Config::parse("").unwrap().policy.is_none());
        for (text, key) in [
            ("[policy]\ndeny = [\"(\"]\n", "`policy.deny`"),
            ("[policy]\nallow = [\"[0-9\"]\n", "`policy.allow`"),
            (
                "[policy]\nmax_setups_per_minute = -1\n",
                "max_setups_per_minute",
            ),
            ("[policy]\ndenny = []\n", "denny"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.0.contains(key), "{text}: {}", e.0);
        }
        let c = Config::parse(
            "[policy]\ndeny = [\"^00\", \"^\\\\+\", \"^[*#]\"]\nallow = [\"^1[3-9][0-9]{9}$\"]\nmax_setups_per_minute = 0\n",
        )
        .unwrap();
        let g = c.guard().unwrap();
        assert!(g.numbers.check("+123").is_err());
        assert!(g.numbers.check("13800138000").is_ok());
    }

    #[test]
    fn the_shipped_example_config_is_valid() {
        let c = Config::parse(include_str!("../../board/example.toml")).unwrap();
        assert_eq!(c.sip.outbound.uri, "sip:{number}@pbx.lan:5060");
    }

    #[test]
    fn request_uri_fills_the_number_in() {
        let c =
            Config::parse("[sip.outbound]\nuri = \"sip:{number}@pbx.lan;user=phone\"\n").unwrap();
        assert_eq!(
            c.sip.outbound.request_uri("+1*2#"),
            "sip:+1*2%23@pbx.lan;user=phone"
        );
    }

    #[test]
    fn g722_level_and_room_dtmf_keys() {
        use crate::media::g722::G722Level;
        let c = Config::parse("").unwrap();
        assert_eq!(c.sip.g722_level, G722Level::Standard);
        assert_eq!(c.room.trtc.dtmf_cmd_id, 1);
        assert!(c.room.sim.key_digits.is_empty());
        let c = Config::parse(
            "[sip]\ng722_level = \"pjmedia\"\n[room.trtc]\ndtmf_cmd_id = 7\n\
             [room.sim]\nkey_digits = \"12#\"\nkey_digits_after_s = 5\n",
        )
        .unwrap();
        assert_eq!(c.sip.g722_level, G722Level::Pjmedia);
        assert_eq!(c.room.trtc.dtmf_cmd_id, 7);
        assert_eq!(
            (
                c.room.sim.key_digits.as_str(),
                c.room.sim.key_digits_after_s
            ),
            ("12#", 5)
        );
        let e = Config::parse("[sip]\ng722_level = \"14bit\"\n").unwrap_err();
        assert!(e.0.contains("standard, pjmedia"), "{}", e.0);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::parse("[sip]\nlisten = \"127.0.0.1:5060\"\nlistne = 1\n").unwrap_err();
        assert!(e.0.contains("listne"), "{}", e.0);
    }

    #[test]
    fn security_keys_of_webhook_and_outbound() {
        let c = Config::parse("").unwrap();
        assert!(
            !c.sip.outbound.follow_redirects,
            "redirects are off by default"
        );
        assert!(c.webhook.allow.is_empty() && c.webhook.secret.is_none());
        let c = Config::parse(
            "[sip.outbound]\nfollow_redirects = true\nrealm = \"pbx.lan\"\n\
             [webhook]\nallow = [\"10.0.0.0/8\", \"hooks.lan\"]\nsecret = \"0123456789\"\n",
        )
        .unwrap();
        assert!(c.sip.outbound.follow_redirects);
        assert_eq!(c.sip.outbound.realm.as_deref(), Some("pbx.lan"));
        assert_eq!(c.webhook.allow.len(), 2);
        assert_eq!(c.webhook.secret.as_deref(), Some("0123456789"));
    }

    #[test]
    fn sip_trusted_defaults_to_loopback_and_names_its_key() {
        let c = Config::parse("").unwrap();
        let nets = c.sip.trusted_nets().unwrap();
        let has = |ip: &str| {
            nets.iter()
                .any(|n| crate::net::net_contains(n, ip.parse().unwrap()))
        };
        assert!(has("127.0.0.1") && has("::1"));
        assert!(!has("127.0.0.2"), "not all of 127/8");
        assert!(!has("10.0.0.1"));
        let c = Config::parse("[sip]\ntrusted = [\"10.0.0.0/8\", \"192.0.2.7\"]\n").unwrap();
        let nets = c.sip.trusted_nets().unwrap();
        assert_eq!(nets.len(), 2);
        assert!(!nets
            .iter()
            .any(|n| crate::net::net_contains(n, "127.0.0.1".parse().unwrap())));
        for bad in [
            "[sip]\ntrusted = [\"10.0.0.0/40\"]\n",
            "[sip]\ntrusted = [\"pbx.lan\"]\n",
        ] {
            let e = Config::parse(bad).unwrap_err();
            assert!(e.0.contains("`sip.trusted`"), "{bad}: {}", e.0);
        }
        let e = Config::parse("[sip]\ntrusted = \"10.0.0.0/8\"\n").unwrap_err();
        assert!(e.0.contains("trusted"), "{}", e.0);
    }

    #[test]
    fn the_instance_state_directory_is_the_last_one_systemd_lists() {
        use std::ffi::OsStr;
        let one = super::last_state_directory(OsStr::new("/var/lib/trtc-sipgw"));
        assert_eq!(one, PathBuf::from("/var/lib/trtc-sipgw"));
        let two = super::last_state_directory(OsStr::new(
            "/var/lib/trtc-sipgw:/var/lib/trtc-sipgw/node2",
        ));
        assert_eq!(two, PathBuf::from("/var/lib/trtc-sipgw/node2"));
    }

    #[test]
    fn wrong_type_is_named() {
        let e = Config::parse("[rtp]\nports = \"many\"\n").unwrap_err();
        assert!(e.0.contains("ports"), "{}", e.0);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("[rtp]\nports = [2000, 1000]\n", "rtp.ports"),
            ("[sip.outbound]\nuri = \"sip:1@x\"\n", "sip.outbound.uri"),
            ("[room]\nbackend = \"zoom\"\n", "room.backend"),
            ("[room.sim]\ntone_hz = -5\n", "room.sim.tone_hz"),
            ("[calls]\nmax_calls = 0\n", "calls.max_calls"),
            ("[calls]\nnode = 0\n", "calls.node"),
            ("[calls]\nnode = 100\n", "calls.node"),
            ("[calls]\nnode = 300\n", "calls.node"),
            ("[calls]\nnode = \"a\"\n", "calls.node"),
            ("[calls]\nlog_max_mb = 0\n", "calls.log_max_mb"),
            ("[calls]\nhistory_max = 0\n", "calls.history_max"),
            ("[sip]\ncodecs = [\"speex\"]\n", "sip.codecs"),
            ("[sip]\ncodecs = []\n", "sip.codecs"),
            ("[trtc.apps.abc]\nsecret_key = \"k\"\n", "trtc.apps.\"abc\""),
            (
                "[trtc.apps.\"1400000001\"]\nsecret_key = \"\"\n",
                "secret_key",
            ),
            ("[room.trtc]\nlog_level = 9\n", "room.trtc.log_level"),
            ("[webhook]\nallow = [\"not a host\"]\n", "webhook.allow"),
            ("[webhook]\nsecret = \"short\"\n", "webhook.secret"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.0.contains(key), "{text}: {}", e.0);
        }
    }
}
