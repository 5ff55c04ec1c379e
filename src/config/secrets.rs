//! Secrets kept out of the config file: every secret key of the configuration also
//! accepts `<key>_file = "..."`, the file holding the secret. A relative name is looked
//! up in `$CREDENTIALS_DIRECTORY`, where systemd's `LoadCredential=` puts credentials
//! readable by the service alone, so the (world-readable) config file carries no secret
//! and a `DynamicUser` service can still read its secrets.
//!
//! Works on the TOML text before the typed configuration is deserialized: the file's
//! content replaces the `_file` key, so the section structs stay as they are and a new
//! secret key only needs a line in [`SECRET_KEYS`].

use super::ConfigError;
use std::path::{Component, Path, PathBuf};
use toml::{Table, Value};

/// Every secret key of the configuration: (table path, key); `*` matches any table name
/// (the sdkAppIds under `[trtc.apps]`). Add a line here when a section gains a secret.
pub const SECRET_KEYS: &[(&[&str], &str)] = &[
    (&["sip", "outbound"], "password"),
    (&["sip", "trunks"], "password"),
    (&["room", "trtc"], "socks5_password"),
    (&["trtc", "apps", "*"], "secret_key"),
    (&["webhook"], "secret"),
];

/// Tables whose every value is a secret, keyed by a name the user chooses
/// (`[http.api_keys]`: api_key = api_secret): `"<name>_file" = "..."` there gives the
/// secret of `<name>` from a file.
pub const SECRET_TABLES: &[&[&str]] = &[&["http", "api_keys"], &["registrar", "users"]];

/// What a masked secret looks like wherever the gateway shows a configuration.
pub const MASK: &str = "********";

/// Replaces every `<secret>_file` key of `text` with the secret read from that file.
/// Returns None when the text has no such key (the caller parses `text` as it is, so
/// its error messages keep their line numbers), or the rewritten TOML text.
/// Errors name the key and the file, never the secret.
pub fn inline_secret_files(text: &str) -> Result<Option<String>, ConfigError> {
    // Syntax errors are the config parser's to report, with their line numbers.
    let Ok(mut root) = text.parse::<Table>() else {
        return Ok(None);
    };
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let mut changed = false;
    for (path, key) in SECRET_KEYS {
        for (name, table) in tables_at(&mut root, path) {
            changed |= inline_one(table, &name, key, credentials.as_deref())?;
        }
    }
    for path in SECRET_TABLES {
        for (name, table) in tables_at(&mut root, path) {
            let named: Vec<String> = table
                .keys()
                .filter_map(|k| k.strip_suffix("_file"))
                .map(str::to_string)
                .collect();
            for key in named {
                changed |= inline_one(table, &name, &key, credentials.as_deref())?;
            }
        }
    }
    if !changed {
        return Ok(None);
    }
    toml::to_string(&root)
        .map(Some)
        .map_err(|e| ConfigError(format!("cannot rewrite the configuration: {e}")))
}

/// The dotted names of the secrets written inline in `text` (not through `*_file`), for
/// `--check-config` to refuse them in a file other users can read.
pub fn inline_secret_keys(text: &str) -> Vec<String> {
    let Ok(mut root) = text.parse::<Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (path, key) in SECRET_KEYS {
        for (name, table) in tables_at(&mut root, path) {
            if table.contains_key(*key) {
                out.push(format!("{name}.{key}"));
            }
        }
    }
    for path in SECRET_TABLES {
        for (name, table) in tables_at(&mut root, path) {
            for key in table.keys().filter(|k| !k.ends_with("_file")) {
                out.push(format!("{name}.\"{key}\""));
            }
        }
    }
    out
}

/// The tables found at `path` (with `*` for any name), with their dotted names.
fn tables_at<'a>(root: &'a mut Table, path: &[&str]) -> Vec<(String, &'a mut Table)> {
    let mut found = vec![(String::new(), root)];
    for part in path {
        let mut next = Vec::new();
        for (prefix, table) in found {
            for (name, value) in table.iter_mut() {
                if *part != "*" && name != part {
                    continue;
                }
                let shown = if *part == "*" {
                    format!("\"{name}\"")
                } else {
                    name.clone()
                };
                let dotted = if prefix.is_empty() {
                    shown
                } else {
                    format!("{prefix}.{shown}")
                };
                match value {
                    Value::Table(t) => next.push((dotted, t)),
                    // An array of tables (`[[sip.trunks]]`): each entry by its index.
                    Value::Array(items) => {
                        for (i, item) in items.iter_mut().enumerate() {
                            if let Value::Table(t) = item {
                                next.push((format!("{dotted}[{i}]"), t));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        found = next;
    }
    found
}

/// Inlines `<key>_file` of one table; true when it was there.
fn inline_one(
    table: &mut Table,
    table_name: &str,
    key: &str,
    credentials: Option<&Path>,
) -> Result<bool, ConfigError> {
    let file_key = format!("{key}_file");
    let Some(value) = table.remove(&file_key) else {
        return Ok(false);
    };
    let full = format!("{table_name}.{file_key}");
    let bad = |why: String| ConfigError(format!("invalid value for key `{full}`: {why}"));
    if table.contains_key(key) {
        return Err(bad(format!(
            "give either `{key}` or `{file_key}`, not both"
        )));
    }
    let Value::String(name) = value else {
        return Err(bad("must be a file name (a string)".into()));
    };
    let path = secret_path(&name, credentials).map_err(bad)?;
    let secret = read_secret(&path).map_err(bad)?;
    table.insert(key.to_string(), Value::String(secret));
    Ok(true)
}

/// Where the secret named `name` lives: an absolute path as it is, a relative name in
/// the credentials directory (a plain name: no `..`).
pub fn secret_path(name: &str, credentials: Option<&Path>) -> Result<PathBuf, String> {
    let path = Path::new(name);
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(format!(
            "`{name}` must be an absolute path or a name inside $CREDENTIALS_DIRECTORY"
        ));
    }
    match credentials {
        Some(dir) => Ok(dir.join(path)),
        None => Err(format!(
            "`{name}` is relative and $CREDENTIALS_DIRECTORY is not set (systemd sets it for \
             LoadCredential=); give an absolute path outside systemd"
        )),
    }
}

/// The file's text without its final line break (editors add one); it must be UTF-8 and
/// not empty.
fn read_secret(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    let secret = text
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&text);
    if secret.trim().is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(secret.to_string())
}

/// Replaces every secret of `config` that appears in `text` (as a quoted string, the way
/// `Debug` prints it) with [`MASK`]: a last guard for anything that shows a configuration.
pub fn mask_secrets(config: &super::Config, text: &str) -> String {
    let mut out = text.to_string();
    for secret in secrets_of(config) {
        out = out.replace(&format!("{secret:?}"), &format!("\"{MASK}\""));
    }
    out
}

/// The secret values of a configuration (for masking; never print them).
fn secrets_of(config: &super::Config) -> Vec<&str> {
    let mut out = Vec::new();
    out.extend(config.sip.outbound.password.as_deref());
    out.extend(
        config
            .sip
            .trunks
            .iter()
            .filter_map(|t| t.password.as_deref()),
    );
    out.extend(config.room.trtc.socks5_password.as_deref());
    out.extend(config.trtc.apps.values().map(|a| a.secret_key.as_str()));
    out.extend(config.webhook.secret.as_deref());
    out.extend(config.http.api_keys.values().map(String::as_str));
    if let Some(r) = &config.registrar {
        out.extend(r.users.values().map(String::as_str));
    }
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sipgw-secrets-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn text_without_file_keys_is_left_alone() {
        assert!(inline_secret_files("[sip.outbound]\npassword = \"x\"\n")
            .unwrap()
            .is_none());
        assert!(inline_secret_files("not toml [").unwrap().is_none());
    }

    #[test]
    fn each_trunks_password_comes_from_its_file_and_is_masked() {
        let d = dir("trunks");
        std::fs::write(d.join("a"), "pw-primary\n").unwrap();
        let text = format!(
            "[[sip.trunks]]\nname = \"a\"\nuri = \"sip:{{number}}@h\"\nusername = \"u\"\n\
             password_file = \"{}\"\n[[sip.trunks]]\nname = \"b\"\nuri = \"sip:{{number}}@g\"\n\
             username = \"v\"\npassword = \"pw-backup\"\n",
            d.join("a").display()
        );
        assert_eq!(inline_secret_keys(&text), vec!["sip.trunks[1].password"]);
        let out = inline_secret_files(&text).unwrap().unwrap();
        let c = crate::config::Config::parse(&out).unwrap();
        assert_eq!(c.sip.trunks[0].password.as_deref(), Some("pw-primary"));
        let shown = mask_secrets(&c, &format!("{c:?}"));
        assert!(!shown.contains("pw-primary") && !shown.contains("pw-backup"));
    }

    #[test]
    fn absolute_file_is_inlined_without_its_newline() {
        let d = dir("abs");
        std::fs::write(d.join("pw"), "s3cret\n").unwrap();
        let text = format!(
            "[sip.outbound]\nusername = \"1001\"\npassword_file = \"{}\"\n",
            d.join("pw").display()
        );
        let out = inline_secret_files(&text).unwrap().unwrap();
        let c = crate::config::Config::parse(&out).unwrap();
        assert_eq!(c.sip.outbound.password.as_deref(), Some("s3cret"));
    }

    #[test]
    fn every_secret_key_accepts_a_file() {
        let d = dir("all");
        for (name, value) in [
            ("a", "pw-a"),
            ("b", "pw-b"),
            ("c", "key-c"),
            ("d", "hook-secret-d"),
        ] {
            std::fs::write(d.join(name), value).unwrap();
        }
        let text = format!(
            "[sip.outbound]\nusername = \"u\"\npassword_file = \"{0}/a\"\n\
             [room.trtc]\nsocks5 = \"proxy.lan:1080\"\nsocks5_password_file = \"{0}/b\"\n\
             [trtc.apps.\"1400000001\"]\nsecret_key_file = \"{0}/c\"\n\
             [webhook]\nsecret_file = \"{0}/d\"\n",
            d.display()
        );
        let c =
            crate::config::Config::parse(&inline_secret_files(&text).unwrap().unwrap()).unwrap();
        assert_eq!(c.sip.outbound.password.as_deref(), Some("pw-a"));
        assert_eq!(c.room.trtc.socks5_password.as_deref(), Some("pw-b"));
        assert_eq!(c.trtc.apps["1400000001"].secret_key, "key-c");
        assert_eq!(c.webhook.secret.as_deref(), Some("hook-secret-d"));
    }

    #[test]
    fn api_secrets_come_from_files_per_key() {
        let d = dir("apikeys");
        std::fs::write(d.join("k1"), "first-long-secret\n").unwrap();
        let text = format!(
            "[http.api_keys]\n\"23456789_file\" = \"{}\"\n\"inline\" = \"k69x50j0k69x\"\n",
            d.join("k1").display()
        );
        let c =
            crate::config::Config::parse(&inline_secret_files(&text).unwrap().unwrap()).unwrap();
        assert_eq!(c.http.api_keys["23456789"], "first-long-secret");
        assert_eq!(c.http.api_keys["inline"], "k69x50j0k69x");
        assert!(!c.http.api_keys.contains_key("23456789_file"));
        // only the inline one counts as a secret written in the file
        assert_eq!(
            inline_secret_keys(&text),
            vec!["http.api_keys.\"inline\"".to_string()]
        );
        // masked wherever the configuration is shown
        let shown = mask_secrets(&c, &format!("{:?}", c.http.api_keys));
        assert!(!shown.contains("first-long-secret") && !shown.contains("k69x50j0k69x"));
        // both forms for one key is an error naming it
        let both = format!(
            "[http.api_keys]\n\"k_file\" = \"{}\"\n\"k\" = \"k69x50j0k69x\"\n",
            d.join("k1").display()
        );
        let e = inline_secret_files(&both).unwrap_err();
        assert!(e.0.contains("http.api_keys.k_file"), "{}", e.0);
    }

    #[test]
    fn relative_names_need_the_credentials_directory() {
        let d = dir("rel");
        assert_eq!(secret_path("pw", Some(&d)).unwrap(), d.join("pw"));
        let e = secret_path("pw", None).unwrap_err();
        assert!(e.contains("CREDENTIALS_DIRECTORY"), "{e}");
        assert!(secret_path("../etc/shadow", Some(&d)).is_err());
        assert!(secret_path("", Some(&d)).is_err());
    }

    #[test]
    fn errors_name_the_key_and_never_the_secret() {
        let d = dir("err");
        std::fs::write(d.join("pw"), "hunter2").unwrap();
        std::fs::write(d.join("empty"), "\n").unwrap();
        for (text, key) in [
            (
                format!(
                    "[sip.outbound]\npassword = \"hunter2\"\npassword_file = \"{}/pw\"\n",
                    d.display()
                ),
                "sip.outbound.password_file",
            ),
            (
                format!(
                    "[sip.outbound]\npassword_file = \"{}/missing\"\n",
                    d.display()
                ),
                "sip.outbound.password_file",
            ),
            (
                format!(
                    "[trtc.apps.\"1400000001\"]\nsecret_key_file = \"{}/empty\"\n",
                    d.display()
                ),
                "trtc.apps.\"1400000001\".secret_key_file",
            ),
            (
                "[room.trtc]\nsocks5_password_file = 7\n".to_string(),
                "room.trtc.socks5_password_file",
            ),
        ] {
            let e = inline_secret_files(&text).unwrap_err().0;
            assert!(e.contains(key), "{text}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn registrar_passwords_come_from_files_and_count_as_inline_secrets() {
        let d = dir("registrar");
        std::fs::write(d.join("pw2001"), "s3cret2001\n").unwrap();
        let text = format!(
            "[registrar.users]\n\"2001_file\" = \"{}/pw2001\"\n\"2002\" = \"inline2002\"\n",
            d.display()
        );
        let c = crate::config::Config::parse(&text).unwrap();
        let users = &c.registrar.as_ref().unwrap().users;
        assert_eq!(users["2001"], "s3cret2001");
        assert_eq!(
            inline_secret_keys(&text),
            vec!["registrar.users.\"2002\"".to_string()]
        );
        let shown = mask_secrets(&c, &format!("{c:#?}"));
        assert!(
            !shown.contains("s3cret2001") && !shown.contains("inline2002"),
            "{shown}"
        );
    }

    #[test]
    fn masking_hides_every_secret() {
        let c = crate::config::Config::parse(
            "[sip.outbound]\nusername = \"u\"\npassword = \"p@ss\"\n[room.trtc]\nsocks5_password = \"sockpw\"\n[webhook]\nsecret = \"hooksecret\"\n",
        )
        .unwrap();
        let shown = mask_secrets(&c, &format!("{c:#?}"));
        assert!(
            !shown.contains("p@ss") && !shown.contains("sockpw") && !shown.contains("hooksecret"),
            "{shown}"
        );
        assert!(shown.contains(MASK));
    }
}
