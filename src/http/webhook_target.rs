//! Where webhooks may go, and how a receiver can tell they came from this gateway.
//!
//! `callStateNotifyUrl` comes from an API client, so without a rule the gateway would
//! post (from inside the LAN) to whatever it names: a cloud metadata service on
//! 169.254.169.254, a multicast group, a host the client cannot reach itself. Link-local
//! and multicast addresses are refused whatever `[webhook] allow` says; when `allow` is
//! not empty, only its CIDRs and host names are posted to. Pure functions: the startup
//! check (a literal address, answered 400) and the send-time check (every resolved
//! address) use the same rules.

use crate::net::{net_contains, parse_net, IpNet};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;

/// Header that carries the body's HMAC when `[webhook] secret` is set.
pub const SIGNATURE_HEADER: &str = "X-Trtc-Sipgw-Signature";

/// One entry of `[webhook] allow`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    /// An address block (a single address is a /32 or /128).
    Net(IpNet),
    /// A host name, compared without case and without a trailing dot.
    Host(String),
}

/// The rules a webhook target must pass (from `[webhook] allow`); cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookTargets {
    allow: Vec<Allowed>,
}

/// True for addresses no webhook may reach, whatever the allow list says: IPv4
/// link-local 169.254.0.0/16 (cloud metadata services), IPv6 link-local fe80::/10,
/// multicast and broadcast, the unspecified address, and IPv4-mapped forms of these.
pub fn is_never_allowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local() || v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_never_allowed(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            (first & 0xffc0) == 0xfe80 || v6.is_multicast() || v6.is_unspecified()
        }
    }
}

impl WebhookTargets {
    /// Reads `[webhook] allow`: CIDRs (`10.0.0.0/8`, `fd00::/8`), single addresses, or
    /// host names. The error names the entry that is neither.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut allow = Vec::with_capacity(entries.len());
        for entry in entries {
            allow.push(parse_entry(entry.trim()).ok_or_else(|| {
                format!("`{entry}` is neither a CIDR, an IP address nor a host name")
            })?);
        }
        Ok(WebhookTargets { allow })
    }

    /// Whether `ip` (which host name `host` resolved to, or which `host` names
    /// literally) may be posted to; the error says why not.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), String> {
        if is_never_allowed(ip) {
            return Err(format!(
                "{ip} is a link-local, multicast or unspecified address"
            ));
        }
        if self.allow.is_empty() {
            return Ok(());
        }
        let name = normalize_host(host);
        let allowed = self.allow.iter().any(|a| match a {
            Allowed::Net(net) => net_contains(net, ip),
            Allowed::Host(h) => *h == name,
        });
        if allowed {
            Ok(())
        } else {
            Err(format!("{ip} is not in [webhook] allow"))
        }
    }

    /// The startup check: when `host` is an IP literal (as a URL writes it, IPv6
    /// possibly in brackets), whether it may be posted to. Host names pass here; they
    /// are checked when resolved, at send time.
    pub fn check_literal(&self, host: &str) -> Result<(), String> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match bare.parse::<IpAddr>() {
            Ok(ip) => self.check(host, ip),
            Err(_) => Ok(()),
        }
    }
}

/// `sha256=<hex HMAC-SHA256 of body keyed with secret>`: the value of
/// [`SIGNATURE_HEADER`], so a receiver can check where a webhook came from.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty tag is a safe
    // fallback that no receiver would accept.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn parse_entry(entry: &str) -> Option<Allowed> {
    if let Some(net) = parse_net(entry) {
        return Some(Allowed::Net(net));
    }
    if entry.contains('/') {
        return None;
    }
    let name = normalize_host(entry);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then_some(Allowed::Host(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn targets(list: &[&str]) -> WebhookTargets {
        WebhookTargets::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn link_local_and_multicast_are_never_allowed() {
        for bad in [
            "169.254.169.254",
            "169.254.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "0.0.0.0",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_never_allowed(ip(bad)), "{bad}");
        }
        for good in [
            "127.0.0.1",
            "10.0.0.1",
            "192.168.1.1",
            "8.8.8.8",
            "::1",
            "fd00::1",
            "fec0::1",
        ] {
            assert!(!is_never_allowed(ip(good)), "{good}");
        }
    }

    #[test]
    fn the_allow_list_cannot_open_link_local() {
        let t = targets(&["169.254.0.0/16", "0.0.0.0/0", "::/0"]);
        assert!(t.check("169.254.169.254", ip("169.254.169.254")).is_err());
        assert!(t.check("x", ip("fe80::1")).is_err());
        assert!(t.check("x", ip("10.1.2.3")).is_ok());
    }

    #[test]
    fn an_empty_allow_list_allows_ordinary_addresses() {
        let t = WebhookTargets::default();
        assert!(t.check("hooks.lan", ip("10.0.0.5")).is_ok());
        assert!(t.check("::1", ip("::1")).is_ok());
    }

    #[test]
    fn with_an_allow_list_only_its_cidrs_and_names_pass() {
        let t = targets(&["10.0.0.0/8", "Hooks.Example.com.", "127.0.0.1", "fd00::/8"]);
        assert!(t.check("10.9.9.9", ip("10.9.9.9")).is_ok());
        assert!(t.check("x", ip("11.0.0.1")).is_err());
        assert!(t.check("hooks.example.com", ip("203.0.113.5")).is_ok());
        assert!(t.check("HOOKS.example.com.", ip("203.0.113.5")).is_ok());
        assert!(t.check("other.example.com", ip("203.0.113.5")).is_err());
        assert!(t.check("127.0.0.1", ip("127.0.0.1")).is_ok());
        assert!(t.check("127.0.0.2", ip("127.0.0.2")).is_err());
        assert!(t.check("fd00::9", ip("fd00::9")).is_ok());
        assert!(t.check("x", ip("::ffff:10.1.1.1")).is_ok());
    }

    #[test]
    fn literal_check_at_startup() {
        let t = WebhookTargets::default();
        assert!(t.check_literal("169.254.169.254").is_err());
        assert!(t.check_literal("[fe80::1]").is_err());
        assert!(t.check_literal("127.0.0.1").is_ok());
        // A name is left to the send-time check.
        assert!(t.check_literal("metadata.internal").is_ok());
        let only = targets(&["10.0.0.0/8"]);
        assert!(only.check_literal("192.168.1.1").is_err());
    }

    #[test]
    fn bad_allow_entries_are_named() {
        for bad in ["10.0.0.0/33", "not a host", "::/129", "a/b", ""] {
            let e = WebhookTargets::parse(&[bad.to_string()]).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn signature_is_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(sign("Jefe", b"x"), sign("jefe", b"x"));
    }
}
