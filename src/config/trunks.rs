//! `[[sip.trunks]]`: the carriers and PBXs calls leave through, tried in order of
//! priority (by weight among equals), each for the numbers its `prefixes` take. A box
//! with one trunk drops every call while that trunk is down; with two, the call moves on.
//! The single `[sip.outbound]` table is read as a list of one trunk when this list is
//! empty, so older configs keep working unchanged.

use super::OutboundConfig;
use serde::Deserialize;

/// One `[[sip.trunks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkSection {
    /// Shown in state lines and logs ("trunk primary: 503 …, trying backup").
    pub name: String,
    /// Request-URI template; `{number}` becomes the dialled number.
    pub uri: String,
    /// `udp`, `tcp` or `tls`. A `;transport=tcp` (or `tls`) in `uri` also makes the
    /// trunk's calls go over that transport; a `sips:` URI needs `tls`.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// `off`, `offer` or `require`: SRTP with SDES keys, which needs TLS signalling.
    #[serde(default = "default_srtp")]
    pub srtp: String,
    /// Lower is tried first.
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Share of calls among trunks of equal priority (RFC 2782 style), at least 1.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Only numbers that start with one of these; empty takes every number.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Digest user name (also the default From user).
    #[serde(default)]
    pub username: Option<String>,
    /// Digest password (or `password_file`). Never logged.
    #[serde(default)]
    pub password: Option<String>,
    /// Caller id (From URI) on this trunk.
    #[serde(default)]
    pub from: Option<String>,
    /// Answer only challenges of this realm with the password.
    #[serde(default)]
    pub realm: Option<String>,
    /// Seconds between OPTIONS pings that mark the trunk up or down ahead of calls;
    /// 0 turns them off. (The issue names `[sip.trunks] keepalive_s`, which TOML cannot
    /// have beside the `[[sip.trunks]]` list, so the key lives in each entry.)
    #[serde(default = "default_keepalive_s")]
    pub keepalive_s: u32,
    /// Seconds a trunk that failed (503, no answer, transport error) is passed over
    /// before calls try it first again; a ping that is answered ends this sooner.
    #[serde(default = "default_retry_s")]
    pub retry_s: u32,
}

fn default_transport() -> String {
    "udp".into()
}
fn default_srtp() -> String {
    "off".into()
}
fn default_priority() -> u32 {
    1
}
fn default_weight() -> u32 {
    1
}
fn default_keepalive_s() -> u32 {
    30
}
fn default_retry_s() -> u32 {
    60
}

impl TrunkSection {
    /// `[sip.outbound]` as the one trunk of an older config: no pings (it never sent
    /// any) and nothing to fail over to.
    pub fn from_outbound(o: &OutboundConfig) -> TrunkSection {
        TrunkSection {
            name: "outbound".into(),
            uri: o.uri.clone(),
            transport: default_transport(),
            srtp: default_srtp(),
            priority: default_priority(),
            weight: default_weight(),
            prefixes: Vec::new(),
            username: o.username.clone(),
            password: o.password.clone(),
            from: o.from.clone(),
            realm: o.realm.clone(),
            keepalive_s: 0,
            retry_s: default_retry_s(),
        }
    }

    /// Whether this trunk carries calls to `number`.
    pub fn takes(&self, number: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| number.starts_with(p))
    }

    /// Checks entry `i`; the error is `(key, why)`.
    pub fn validate(&self, i: usize) -> Result<(), (String, String)> {
        let key = |k: &str| format!("sip.trunks[{i}].{k}");
        if self.name.trim().is_empty() || self.name.len() > 64 {
            return Err((key("name"), "must be 1 to 64 characters".into()));
        }
        let scheme_ok = self.uri.starts_with("sip:") || self.uri.starts_with("sips:");
        if !scheme_ok {
            return Err((key("uri"), "must start with sip: or sips:".into()));
        }
        if !self.uri.contains("{number}") {
            return Err((key("uri"), "must contain {number}".into()));
        }
        match self.transport.as_str() {
            "udp" | "tcp" | "tls" => {}
            other => return Err((key("transport"), format!("`{other}` (udp, tcp, tls)"))),
        }
        if self.uri.starts_with("sips:") && self.transport != "tls" {
            return Err((key("uri"), "sips: needs transport = \"tls\"".into()));
        }
        match self.srtp.as_str() {
            "off" | "offer" => {}
            "require" if self.transport != "tls" => {
                return Err((key("srtp"), "require needs transport = \"tls\"".into()));
            }
            "require" => {
                return Err((
                    key("srtp"),
                    "require: SRTP is not built yet, calls over tls carry plain RTP (srtp = \"off\")"
                        .into(),
                ));
            }
            other => return Err((key("srtp"), format!("`{other}` (off, offer, require)"))),
        }
        if self.weight == 0 {
            return Err((key("weight"), "must be at least 1".into()));
        }
        if self.prefixes.iter().any(|p| p.is_empty()) {
            return Err((
                key("prefixes"),
                "an empty prefix would take every number; leave the list out instead".into(),
            ));
        }
        if let Some(from) = &self.from {
            if !from.contains("sip:") {
                return Err((key("from"), "must be a sip: URI".into()));
            }
        }
        if self.password.is_some() && self.username.is_none() {
            return Err((key("username"), "is needed when a password is set".into()));
        }
        if self.retry_s == 0 {
            return Err((key("retry_s"), "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Checks the whole list: each entry, and names that tell trunks apart.
pub fn validate_all(trunks: &[TrunkSection]) -> Result<(), (String, String)> {
    for (i, t) in trunks.iter().enumerate() {
        t.validate(i)?;
        if trunks[..i].iter().any(|o| o.name == t.name) {
            return Err((
                format!("sip.trunks[{i}].name"),
                format!("`{}` is used by an earlier trunk", t.name),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn a_list_of_trunks_is_read_with_defaults() {
        let c = Config::parse(
            "[[sip.trunks]]\nname = \"primary\"\nuri = \"sip:{number}@10.0.0.1\"\n\
             priority = 1\nprefixes = [\"+86\", \"0\"]\nusername = \"1001\"\npassword = \"pw\"\n\
             [[sip.trunks]]\nname = \"backup\"\nuri = \"sip:{number}@10.0.0.2:5080\"\npriority = 2\n",
        )
        .unwrap();
        let t = &c.sip.trunks;
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].name, "primary");
        assert!(t[0].takes("+8613800000000") && t[0].takes("010") && !t[0].takes("+1555"));
        assert!(t[1].takes("+1555"));
        assert_eq!(
            (t[1].transport.as_str(), t[1].srtp.as_str()),
            ("udp", "off")
        );
        assert_eq!((t[1].keepalive_s, t[1].retry_s, t[1].weight), (30, 60, 1));
        // The trunks' list replaces [sip.outbound].
        let list = c.sip.trunk_list();
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn without_a_list_the_outbound_table_is_the_one_trunk() {
        let c = Config::parse(
            "[sip.outbound]\nuri = \"sip:{number}@pbx.lan\"\nusername = \"u\"\npassword = \"p\"\n",
        )
        .unwrap();
        let list = c.sip.trunk_list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].uri, "sip:{number}@pbx.lan");
        assert_eq!(list[0].password.as_deref(), Some("p"));
        assert_eq!(list[0].keepalive_s, 0);
    }

    #[test]
    fn dns_servers_take_an_address_with_or_without_port() {
        let c =
            Config::parse("[sip]\ndns_servers = [\"10.0.0.53\", \"127.0.0.1:5353\"]\n").unwrap();
        let got = c.sip.dns_server_addrs().unwrap();
        assert_eq!(got[0], "10.0.0.53:53".parse().unwrap());
        assert_eq!(got[1], "127.0.0.1:5353".parse().unwrap());
        let err = Config::parse("[sip]\ndns_servers = [\"dns.lan\"]\n")
            .unwrap_err()
            .0;
        assert!(
            err.contains("sip.dns_servers") && err.contains("dns.lan"),
            "{err}"
        );
    }

    #[test]
    fn tcp_and_tls_trunks_are_taken_and_sips_needs_tls() {
        let c = Config::parse(
            "[[sip.trunks]]\nname = \"a\"\nuri = \"sip:{number}@h\"\ntransport = \"tcp\"\n\
             [[sip.trunks]]\nname = \"b\"\nuri = \"sip:{number}@h;transport=tcp\"\n\
             [[sip.trunks]]\nname = \"c\"\nuri = \"sips:{number}@h:5061\"\ntransport = \"tls\"\n\
             [[sip.trunks]]\nname = \"d\"\nuri = \"sip:{number}@h;transport=tls\"\n",
        )
        .unwrap();
        let trunks = crate::sip::trunks::from_config(&c.sip.trunks);
        assert_eq!(trunks[0].transport, crate::sip::Transport::Tcp);
        assert_eq!(trunks[1].transport, crate::sip::Transport::Tcp);
        assert_eq!(trunks[2].transport, crate::sip::Transport::Tls);
        assert_eq!(trunks[3].transport, crate::sip::Transport::Tls);
        let err = Config::parse(
            "[[sip.trunks]]\nname = \"a\"\nuri = \"sips:{number}@h\"\ntransport = \"tcp\"\n",
        )
        .unwrap_err()
        .0;
        assert!(
            err.contains("sip.trunks[0].uri") && err.contains("needs transport = \"tls\""),
            "{err}"
        );
    }

    #[test]
    fn bad_entries_are_refused_naming_the_key() {
        let base = "[[sip.trunks]]\nname = \"a\"\nuri = \"sip:{number}@h\"\n";
        for (extra, key) in [
            ("transport = \"sctp\"\n", "sip.trunks[0].transport"),
            ("srtp = \"require\"\n", "sip.trunks[0].srtp"),
            ("srtp = \"maybe\"\n", "sip.trunks[0].srtp"),
            ("weight = 0\n", "sip.trunks[0].weight"),
            ("prefixes = [\"\"]\n", "sip.trunks[0].prefixes"),
            ("password = \"x\"\n", "sip.trunks[0].username"),
            ("colour = \"red\"\n", "colour"),
        ] {
            let err = Config::parse(&format!("{base}{extra}")).unwrap_err().0;
            assert!(err.contains(key), "{extra}: {err}");
        }
        let err = Config::parse("[[sip.trunks]]\nname = \"a\"\nuri = \"sip:1@h\"\n")
            .unwrap_err()
            .0;
        assert!(err.contains("sip.trunks[0].uri"), "{err}");
        let err = Config::parse(&format!("{base}{base}")).unwrap_err().0;
        assert!(err.contains("sip.trunks[1].name"), "{err}");
    }
}
