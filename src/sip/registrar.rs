//! The registrar core (RFC 3261 §10, digest per RFC 7616/8760), without I/O: devices (SIM
//! gateways, desk phones, softphones) REGISTER with `[registrar.users]` credentials and the
//! box keeps their contacts. The SIP shell feeds it one already-parsed REGISTER and the time;
//! it answers with what to send back.
//!
//! Digest *verification* is written here because `ezk-sip-auth` (used by `auth.rs` for our own
//! requests) only answers challenges and has no server side. Nonces are stateless:
//! `<unix seconds>.<HMAC-SHA256(box secret, client IP | seconds)>`, so a restart or a flood of
//! challenges keeps no table; a nonce is good for [`NONCE_LIFETIME_S`], then answered `stale=true`.

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;

/// How long a nonce we handed out is accepted.
pub const NONCE_LIFETIME_S: u64 = 300;
/// Most contacts one user may hold, so a device cannot grow the table without bound.
pub const MAX_CONTACTS: usize = 10;

/// A digest algorithm a challenge can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RFC 2617 MD5: the only one many devices (baresip 1.0) understand.
    Md5,
    /// RFC 8760 SHA-256.
    Sha256,
}

impl Algorithm {
    /// The `algorithm=` token, as in the config's `algorithms` list.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses a token case-insensitively; unknown ones are `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "SHA-256" => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => format!("{:x}", md5::compute(data.as_bytes())),
            Algorithm::Sha256 => hex(&Sha256::digest(data.as_bytes())),
        }
    }
}

/// `[registrar]`: who may register and for how long.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// The digest realm offered in challenges.
    pub realm: String,
    /// user → password.
    pub users: HashMap<String, String>,
    /// The challenges offered, in this order (RFC 8760: one per algorithm); responses with
    /// either algorithm are verified whatever is offered. MD5 alone by default: baresip
    /// 1.0 (libre) fails a REGISTER outright when a 401 carries a challenge it cannot
    /// answer, and SIM gateways know only MD5.
    pub algorithms: Vec<Algorithm>,
    /// Shorter requested expiries get 423 Interval Too Brief.
    pub min_expires_s: u64,
    /// Longer requested expiries are shortened to this.
    pub max_expires_s: u64,
    /// Used when the request names no expiry.
    pub default_expires_s: u64,
}

/// One registered contact of a user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contact {
    /// The contact URI as the device sent it (without `<>` and parameters).
    pub uri: String,
    /// Unix seconds when the binding lapses.
    pub expires_at: u64,
    /// The REGISTER's Call-ID, for §10.3 ordering.
    pub call_id: String,
    /// The REGISTER's CSeq number, for §10.3 ordering.
    pub cseq: u32,
    /// Where the REGISTER came from; packets from there are trusted.
    pub source: Option<std::net::SocketAddr>,
}

/// One REGISTER, reduced to what the registrar needs (the shell extracts it from the message).
#[derive(Debug, Clone, Default)]
pub struct RegisterRequest {
    /// Request-URI as text (digest `uri` is checked against nothing else).
    pub request_uri: String,
    /// The To header's user part: whose bindings change.
    pub to_user: String,
    /// The raw Authorization header value, if any.
    pub authorization: Option<String>,
    /// Contact header values (each may list several, comma-separated).
    pub contacts: Vec<String>,
    /// The Expires header, if any.
    pub expires: Option<u64>,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// The datagram's source.
    pub source: Option<std::net::SocketAddr>,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// 401 with these WWW-Authenticate values.
    Challenge(Vec<String>),
    /// 200 OK listing every current contact with its remaining seconds.
    Ok(Vec<(String, u64)>),
    /// 423 with Min-Expires.
    IntervalTooBrief(u64),
    /// Any other refusal: code and reason (403 for a wrong password or unknown user alike).
    Refused(u16, &'static str),
}

/// Bindings per user plus the secret that signs nonces.
pub struct Registrar {
    config: RegistrarConfig,
    secret: Vec<u8>,
    bindings: HashMap<String, Vec<Contact>>,
}

impl Registrar {
    /// `secret` signs nonces; a random per-boot value is fine (old nonces then turn stale).
    pub fn new(config: RegistrarConfig, secret: Vec<u8>) -> Self {
        Registrar {
            config,
            secret,
            bindings: HashMap::new(),
        }
    }

    /// A user's live contacts at `now` (for routing calls to registered devices).
    pub fn contacts(&self, user: &str, now: u64) -> Vec<Contact> {
        self.bindings
            .get(user)
            .map(|v| v.iter().filter(|c| c.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `source` is the address a live contact registered from.
    pub fn is_registered_source(&self, source: std::net::SocketAddr, now: u64) -> bool {
        self.bindings
            .values()
            .flatten()
            .any(|c| c.expires_at > now && c.source == Some(source))
    }

    /// Every binding (for persistence).
    pub fn bindings(&self) -> &HashMap<String, Vec<Contact>> {
        &self.bindings
    }

    /// Restores persisted bindings, dropping lapsed ones and unknown users.
    pub fn restore(&mut self, bindings: HashMap<String, Vec<Contact>>, now: u64) {
        for (user, mut list) in bindings {
            if !self.config.users.contains_key(&user) {
                continue;
            }
            list.retain(|c| c.expires_at > now);
            list.truncate(MAX_CONTACTS);
            if !list.is_empty() {
                self.bindings.insert(user, list);
            }
        }
    }

    /// Handles one REGISTER at unix time `now`.
    pub fn register(&mut self, req: &RegisterRequest, now: u64) -> RegisterOutcome {
        let ip = req.source.map(|s| s.ip());
        let Some(auth) = req.authorization.as_deref() else {
            return RegisterOutcome::Challenge(self.challenges(ip, now, false));
        };
        let params = parse_digest(auth);
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        let nonce = get("nonce");
        match self.nonce_state(nonce, ip, now) {
            NonceState::Bad => return RegisterOutcome::Challenge(self.challenges(ip, now, false)),
            NonceState::Stale => return RegisterOutcome::Challenge(self.challenges(ip, now, true)),
            NonceState::Good => {}
        }
        // Either algorithm is verified, whichever the challenges offered: a device may
        // prefer SHA-256 even when only MD5 was offered (offering both breaks some devices,
        // see `RegistrarConfig::algorithms`).
        let algorithm = match params.get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => match Algorithm::parse(a) {
                Some(a) => a,
                None => return RegisterOutcome::Challenge(self.challenges(ip, now, false)),
            },
        };
        let user = get("username");
        if get("realm") != self.config.realm || user != req.to_user {
            return RegisterOutcome::Refused(403, "Forbidden");
        }
        // An unknown user is checked against a dummy password, so both answers look alike.
        let password = self.config.users.get(user).map(String::as_str);
        let expected = digest_response(
            algorithm,
            user,
            &self.config.realm,
            password.unwrap_or("\u{0}no such user"),
            "REGISTER",
            get("uri"),
            nonce,
            params.get("qop").map(|_| (get("nc"), get("cnonce"))),
        );
        if password.is_none() || !constant_eq(expected.as_bytes(), get("response").as_bytes()) {
            return RegisterOutcome::Refused(403, "Forbidden");
        }
        self.update_bindings(user.to_owned(), req, now)
    }

    fn update_bindings(
        &mut self,
        user: String,
        req: &RegisterRequest,
        now: u64,
    ) -> RegisterOutcome {
        let contacts: Vec<(String, Option<u64>)> = req
            .contacts
            .iter()
            .flat_map(|v| split_contacts(v))
            .collect();
        let list = self.bindings.entry(user.clone()).or_default();
        list.retain(|c| c.expires_at > now);
        if contacts.iter().any(|(uri, _)| uri == "*") {
            if contacts.len() != 1 || req.expires != Some(0) {
                return RegisterOutcome::Refused(400, "Bad Request");
            }
            if list
                .iter()
                .any(|c| c.call_id == req.call_id && c.cseq >= req.cseq)
            {
                return RegisterOutcome::Refused(500, "Out Of Order");
            }
            list.clear();
        }
        for (uri, param) in &contacts {
            if uri == "*" {
                continue;
            }
            let asked = param
                .or(req.expires)
                .unwrap_or(self.config.default_expires_s);
            if asked != 0 && asked < self.config.min_expires_s {
                return RegisterOutcome::IntervalTooBrief(self.config.min_expires_s);
            }
            if list
                .iter()
                .any(|c| &c.uri == uri && c.call_id == req.call_id && c.cseq >= req.cseq)
            {
                return RegisterOutcome::Refused(500, "Out Of Order");
            }
        }
        // Apply only after every contact passed the checks: a refused REGISTER changes nothing.
        let mut staged = list.clone();
        for (uri, param) in contacts {
            if uri == "*" {
                continue;
            }
            let asked = param
                .or(req.expires)
                .unwrap_or(self.config.default_expires_s);
            staged.retain(|c| c.uri != uri);
            if asked == 0 {
                continue;
            }
            staged.push(Contact {
                uri,
                expires_at: now + asked.min(self.config.max_expires_s),
                call_id: req.call_id.clone(),
                cseq: req.cseq,
                source: req.source,
            });
        }
        if staged.len() > MAX_CONTACTS {
            return RegisterOutcome::Refused(403, "Too Many Contacts");
        }
        let answer = staged
            .iter()
            .map(|c| (c.uri.clone(), c.expires_at - now))
            .collect();
        if staged.is_empty() {
            self.bindings.remove(&user);
        } else {
            self.bindings.insert(user, staged);
        }
        RegisterOutcome::Ok(answer)
    }

    fn challenges(&self, ip: Option<IpAddr>, now: u64, stale: bool) -> Vec<String> {
        let nonce = self.nonce(ip, now);
        let stale = if stale { ", stale=true" } else { "" };
        self.config
            .algorithms
            .iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}",
                    self.config.realm,
                    a.name()
                )
            })
            .collect()
    }

    fn mac(&self, ip: Option<IpAddr>, ts: u64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        let ip = ip.map(|i| i.to_string()).unwrap_or_default();
        mac.update(format!("{ip}|{ts}").as_bytes());
        hex(&mac.finalize().into_bytes()[..16])
    }

    fn nonce(&self, ip: Option<IpAddr>, now: u64) -> String {
        format!("{now}.{}", self.mac(ip, now))
    }

    fn nonce_state(&self, nonce: &str, ip: Option<IpAddr>, now: u64) -> NonceState {
        let Some((ts, mac)) = nonce.split_once('.') else {
            return NonceState::Bad;
        };
        let Ok(ts) = ts.parse::<u64>() else {
            return NonceState::Bad;
        };
        if ts > now || !constant_eq(self.mac(ip, ts).as_bytes(), mac.as_bytes()) {
            return NonceState::Bad;
        }
        if now - ts > NONCE_LIFETIME_S {
            NonceState::Stale
        } else {
            NonceState::Good
        }
    }
}

enum NonceState {
    Good,
    Stale,
    Bad,
}

/// The digest `response` (RFC 7616 §3.4.1): `qop` is `Some((nc, cnonce))` for `qop=auth`.
#[allow(clippy::too_many_arguments)]
pub fn digest_response(
    algorithm: Algorithm,
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha1 = algorithm.hash(&format!("{user}:{realm}:{password}"));
    let ha2 = algorithm.hash(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => algorithm.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => algorithm.hash(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// `Digest a="b", c=d` → lower-case names to unquoted values.
fn parse_digest(value: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Some(rest) = value.trim_start().get(6..) else {
        return out;
    };
    if !value.trim_start()[..6].eq_ignore_ascii_case("digest") {
        return out;
    }
    let mut rest = rest.trim_start();
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = rest[eq + 1..].trim_start();
        let (val, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => break,
            }
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        out.insert(name, val.to_owned());
        rest = next.trim_start().trim_start_matches(',');
    }
    out
}

/// One Contact header value → (URI, `expires` parameter) per contact. `*` stays `*`.
fn split_contacts(value: &str) -> Vec<(String, Option<u64>)> {
    let mut out = Vec::new();
    for part in value.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if part == "*" {
            out.push(("*".to_owned(), None));
            continue;
        }
        let (uri, params) = match (part.find('<'), part.find('>')) {
            (Some(a), Some(b)) if a < b => (&part[a + 1..b], &part[b + 1..]),
            _ => part.split_once(';').unwrap_or((part, "")),
        };
        let expires = params.split(';').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("expires")
                .then(|| v.trim().parse().ok())
                .flatten()
        });
        out.push((uri.trim().to_owned(), expires));
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
