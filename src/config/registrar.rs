//! `[registrar]`: the devices (SIM gateways, desk phones, softphones) that may REGISTER
//! to the box, with their digest passwords, and how long a binding may last.

use crate::sip::registrar::{Algorithm, RegistrarConfig};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[registrar]`; the gateway has a registrar only when the file has this section.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarSection {
    /// The digest realm of the challenges.
    pub realm: String,
    /// `[registrar.users]`: user = password (or `"<user>_file" = "..."`).
    pub users: BTreeMap<String, String>,
    /// Digest algorithms challenged with, in order: one challenge each (RFC 8760). MD5
    /// alone by default (baresip 1.0 fails on a 401 with a SHA-256 challenge beside it);
    /// responses with MD5 or SHA-256 are verified whatever this says.
    pub algorithms: Vec<String>,
    /// Shorter requested expiries are answered 423 Interval Too Brief.
    pub min_expires_s: u64,
    /// Longer requested expiries are shortened to this.
    pub max_expires_s: u64,
    /// A REGISTER that names no expiry gets this.
    pub default_expires_s: u64,
}

impl Default for RegistrarSection {
    fn default() -> Self {
        RegistrarSection {
            realm: "trtc-sipgw".into(),
            users: BTreeMap::new(),
            algorithms: vec!["MD5".into()],
            min_expires_s: 60,
            max_expires_s: 7200,
            default_expires_s: 3600,
        }
    }
}

impl std::fmt::Debug for RegistrarSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: Vec<&String> = self.users.keys().collect();
        f.debug_struct("RegistrarSection")
            .field("realm", &self.realm)
            .field("users", &users)
            .field("algorithms", &self.algorithms)
            .field("min_expires_s", &self.min_expires_s)
            .field("max_expires_s", &self.max_expires_s)
            .field("default_expires_s", &self.default_expires_s)
            .finish()
    }
}

impl RegistrarSection {
    /// Checks the section; the error is `(key, why)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, why: &str| Err((format!("registrar.{k}"), why.to_string()));
        if self.realm.trim().is_empty() || self.realm.contains('"') {
            return bad("realm", "must be a non-empty string without `\"`");
        }
        for (user, password) in &self.users {
            let ok_user = !user.is_empty()
                && user.len() <= 64
                && user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(c));
            if !ok_user {
                return bad(
                    &format!("users.\"{user}\""),
                    "a user is a SIP user part: letters, digits and -_.!~*'()&=+$,;?/",
                );
            }
            if password.is_empty() {
                return bad(
                    &format!("users.\"{user}\""),
                    "the password must not be empty",
                );
            }
        }
        if self.algorithms.is_empty() {
            return bad("algorithms", "must name at least one of MD5, SHA-256");
        }
        if let Some(a) = self
            .algorithms
            .iter()
            .find(|a| Algorithm::parse(a).is_none())
        {
            return bad("algorithms", &format!("`{a}`: must be MD5 or SHA-256"));
        }
        if self.min_expires_s == 0 || self.min_expires_s > self.max_expires_s {
            return bad(
                "min_expires_s",
                "must be at least 1 and at most max_expires_s",
            );
        }
        if !(self.min_expires_s..=self.max_expires_s).contains(&self.default_expires_s) {
            return bad(
                "default_expires_s",
                "must be within min_expires_s..=max_expires_s",
            );
        }
        Ok(())
    }

    /// The registrar core's settings.
    pub fn core_config(&self) -> RegistrarConfig {
        RegistrarConfig {
            realm: self.realm.clone(),
            users: self
                .users
                .iter()
                .map(|(u, p)| (u.clone(), p.clone()))
                .collect(),
            algorithms: self
                .algorithms
                .iter()
                .filter_map(|a| Algorithm::parse(a))
                .collect(),
            min_expires_s: self.min_expires_s,
            max_expires_s: self.max_expires_s,
            default_expires_s: self.default_expires_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RegistrarSection {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_contract_parses_and_challenges_with_md5_by_default() {
        let r = parse("realm = \"trtc-sipgw\"\n[users]\n\"2001\" = \"secret2001\"\n");
        assert!(r.validate().is_ok());
        let c = r.core_config();
        assert_eq!(c.algorithms, vec![Algorithm::Md5]);
        let both = parse("algorithms = [\"SHA-256\", \"MD5\"]\n").core_config();
        assert_eq!(both.algorithms, vec![Algorithm::Sha256, Algorithm::Md5]);
        assert_eq!(c.users["2001"], "secret2001");
    }

    #[test]
    fn errors_name_the_key_and_debug_hides_passwords() {
        let r = parse("[users]\n\"2001\" = \"\"\n");
        assert_eq!(r.validate().unwrap_err().0, "registrar.users.\"2001\"");
        let r = parse("algorithms = [\"SHA-512\"]\n");
        assert_eq!(r.validate().unwrap_err().0, "registrar.algorithms");
        let r = parse("min_expires_s = 100\nmax_expires_s = 50\n");
        assert_eq!(r.validate().unwrap_err().0, "registrar.min_expires_s");
        let r = parse("[users]\n\"2001\" = \"hunter2hunter2\"\n");
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
