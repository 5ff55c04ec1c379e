//! `trtc-sipgw --check-config FILE`: what the gateway would do with a configuration,
//! without starting it — for the person setting up a box and for the Debian package's
//! postinst, which starts the service only when this passes.
//!
//! Loads and validates the file (secrets from their `*_file`s included), refuses a
//! config that is valid but unsafe (an inline secret in a file other users can read),
//! and prints the effective configuration with every secret masked, the addresses it
//! would listen on and advertise, the room backend and whether the SDK is there, and the
//! call policy in words.

use crate::config::{Config, ConfigError};
use crate::room::trtc::sdk::{resolve_sdk_dir, shim_candidates};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

/// Loads `path` and checks it; the error names the key (or the file) at fault.
pub fn load_checked(path: &Path) -> Result<Config, ConfigError> {
    let config = Config::load(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    if let Some(key) = inline_secret_in_readable_file(path, &text) {
        return Err(ConfigError(format!(
            "{}: key `{key}`: an inline secret in a file other users can read; move it into a \
             file and give `{key}_file` (see README, \"Secrets\"), or chmod o-r the file",
            path.display()
        )));
    }
    if let Some((key, why)) = crate::alsa::probe_lines(&config.alsa).into_iter().next() {
        return Err(ConfigError(format!(
            "{}: key `{key}`: {why}",
            path.display()
        )));
    }
    let tls = &config.sip.tls;
    if tls.cert_file.is_some() || tls.ca_file.is_some() {
        // The files the TLS contexts are built from; the error names its key.
        crate::sip::tls::SipTls::load(tls)
            .map_err(|why| ConfigError(format!("{}: key {why}", path.display())))?;
    }
    if let Some((key, why)) = missing_sdk(&config) {
        return Err(ConfigError(format!(
            "{}: key `{key}`: {why}",
            path.display()
        )));
    }
    Ok(config)
}

/// With `backend = "trtc"`, what the gateway could not load: the SDK or the shim.
fn missing_sdk(config: &Config) -> Option<(&'static str, String)> {
    if config.room.backend != "trtc" {
        return None;
    }
    let trtc = &config.room.trtc;
    let Some(dir) = resolve_sdk_dir(trtc) else {
        return Some(("room.trtc.sdk_dir", "not set and no home directory".into()));
    };
    if !dir.join("libliteav.so").is_file() {
        return Some((
            "room.trtc.sdk_dir",
            format!(
                "no LiteAV SDK in {} (run trtc-sipgw-fetch-sdk)",
                dir.display()
            ),
        ));
    }
    if !shim_candidates(trtc, &dir).iter().any(|p| p.is_file()) {
        return Some((
            "room.trtc.shim",
            "libsipgw_trtc_shim.so not found (reinstall the package)".into(),
        ));
    }
    None
}

/// The first secret written inline in `text` when the file is readable by others.
fn inline_secret_in_readable_file(path: &Path, text: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    if mode & 0o004 == 0 {
        return None;
    }
    crate::config::secrets::inline_secret_keys(text)
        .into_iter()
        .next()
}

/// The report `--check-config` prints for a valid configuration; `advertise_ip` is the
/// address the gateway would put into Via/Contact/SDP (main.rs works it out).
pub fn report(path: &Path, config: &Config, advertise_ip: IpAddr) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "configuration {}: ok", path.display());
    let _ = writeln!(out, "\nlistens on:");
    let _ = writeln!(out, "  HTTP API  tcp {}", config.http.listen);
    let _ = writeln!(out, "  SIP       udp {}", config.sip.listen);
    let _ = writeln!(out, "  SIP       tcp {}", config.sip.listen);
    match config.sip.tls_listen {
        Some(addr) => {
            let _ = writeln!(out, "  SIP       tls {addr}");
        }
        None => {
            let _ = writeln!(
                out,
                "  SIP       tls: no listener (no sip.tls_listen); TLS trunks are still called"
            );
        }
    }
    let media_ip = config.rtp.ip.unwrap_or(advertise_ip);
    let [lo, hi] = config.rtp.ports;
    let _ = writeln!(out, "  RTP       udp {media_ip} ports {lo}-{hi}");
    let _ = writeln!(out, "advertises (Via/Contact/SDP):");
    let _ = writeln!(
        out,
        "  SIP       {advertise_ip}:{}",
        config.sip.listen.port()
    );
    let _ = writeln!(out, "  RTP       {media_ip}");
    if config.http.listen.port() < 1024 || config.sip.listen.port() < 1024 {
        let _ = writeln!(
            out,
            "  note: a port below 1024 needs CAP_NET_BIND_SERVICE (see the unit file)"
        );
    }
    if let Some(n) = config.calls.node {
        let _ = writeln!(
            out,
            "  node {n}: call ids start with {n:02} (one of several processes behind a front, deploy/)"
        );
    }
    let _ = writeln!(out, "\nroom backend: {}", room_backend(config));
    let _ = writeln!(out, "\npolicy: {}", policy(config));
    let _ = writeln!(out, "API access: {}", api_access(config));
    let _ = writeln!(out, "SIP requests: {}", sip_trust(config));
    let _ = writeln!(out, "\nsecrets: {}", secrets_summary(config));
    let _ = writeln!(
        out,
        "\neffective configuration (defaults filled in, secrets masked):\n{}",
        crate::config::secrets::mask_secrets(config, &format!("{config:#?}"))
    );
    out
}

/// Which room backend the gateway would load, and whether what it needs is there.
fn room_backend(config: &Config) -> String {
    if config.room.backend != "trtc" {
        return format!(
            "{} (built-in simulated room: no TRTC, for tests and demos)",
            config.room.backend
        );
    }
    let trtc = &config.room.trtc;
    let Some(dir) = resolve_sdk_dir(trtc) else {
        return "trtc (Tencent LiteAV SDK): SDK NOT FOUND (no sdk_dir and no home directory); \
                run trtc-sipgw-fetch-sdk"
            .into();
    };
    let sdk = if dir.join("libliteav.so").is_file() {
        format!("SDK found in {}", dir.display())
    } else {
        format!(
            "SDK NOT FOUND in {} (run trtc-sipgw-fetch-sdk, or set [room.trtc] sdk_dir)",
            dir.display()
        )
    };
    let shim = match shim_candidates(trtc, &dir)
        .into_iter()
        .find(|p| p.is_file())
    {
        Some(p) => format!("shim {}", p.display()),
        None => "shim libsipgw_trtc_shim.so NOT FOUND (set [room.trtc] shim)".into(),
    };
    format!("trtc (Tencent LiteAV SDK): {sdk}; {shim}")
}

/// Who may use the API, in words: signed requests, or anyone who reaches the listener.
fn api_access(config: &Config) -> String {
    let http = &config.http;
    match http.api_keys.len() {
        0 if http.listen.ip().is_loopback() => {
            "unsigned, on loopback only (add [http.api_keys] before opening it)".into()
        }
        0 => format!(
            "UNSIGNED on {} (allow_unauthenticated = true): anyone who reaches it can dial",
            http.listen
        ),
        n => format!(
            "signed requests only ({n} api key{}), expire_at at most {} s ahead",
            if n == 1 { "" } else { "s" },
            http.max_signature_validity_s
        ),
    }
}

/// Whose SIP requests the gateway answers, in words (`[sip] trusted` and the trunk).
fn sip_trust(config: &Config) -> String {
    let nets = config
        .sip
        .trusted_nets()
        .map(|n| {
            n.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let list = if nets.is_empty() {
        "nobody else"
    } else {
        &nets
    };
    let default = if config.sip.trusted.is_none() {
        " (the built-in default)"
    } else {
        ""
    };
    format!(
        "answered from {list}{default}, from the trunks ({}) and in live calls' dialogs; \
         others are dropped unanswered",
        trunks_text(config)
    )
}

/// The trunks as `name uri` entries (one `[sip.outbound]` uri without a list).
fn trunks_text(config: &Config) -> String {
    if config.sip.trunks.is_empty() {
        return config.sip.outbound.uri.clone();
    }
    config
        .sip
        .trunks
        .iter()
        .map(|t| format!("{} {}", t.name, t.uri))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The call policy in words: which numbers may be dialled, how often, and how many
/// calls at once.
fn policy(config: &Config) -> String {
    let tail = format!(
        "dialled as {}; at most {} calls at once",
        trunks_text(config),
        crate::calls::admission::max_calls(config).1
    );
    let Some(p) = &config.policy else {
        return format!(
            "all numbers allowed (no [policy]: the built-in default, accepted only while the \
             API is on loopback), no setup rate limit, {tail}"
        );
    };
    let quoted = |pats: &[String]| {
        pats.iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let numbers = match (p.deny.is_empty(), p.allow.is_empty()) {
        (true, true) => "all numbers allowed ([policy] with no deny or allow)".to_string(),
        (false, true) => format!(
            "numbers refused when they match {}; all others allowed",
            quoted(&p.deny)
        ),
        (true, false) => format!("only numbers matching {} in full", quoted(&p.allow)),
        (false, false) => format!(
            "numbers refused when they match {}; of the rest only those matching {} in full",
            quoted(&p.deny),
            quoted(&p.allow)
        ),
    };
    let rate = match p.max_setups_per_minute {
        0 => "no setup rate limit".to_string(),
        n => format!("at most {n} call setups per minute per api_key (per address when unsigned)"),
    };
    format!("{numbers}; {rate}; {tail}")
}

/// Which secrets are set (never their values).
fn secrets_summary(config: &Config) -> String {
    let mut set = Vec::new();
    if config.sip.outbound.password.is_some() {
        set.push("sip.outbound.password".to_string());
    }
    for (i, t) in config.sip.trunks.iter().enumerate() {
        if t.password.is_some() {
            set.push(format!("sip.trunks[{i}].password"));
        }
    }
    if config.room.trtc.socks5_password.is_some() {
        set.push("room.trtc.socks5_password".to_string());
    }
    for app in config.trtc.apps.keys() {
        set.push(format!("trtc.apps.\"{app}\".secret_key"));
    }
    if set.is_empty() {
        "none set".into()
    } else {
        format!(
            "{} set (shown as {})",
            set.join(", "),
            crate::config::secrets::MASK
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(name: &str, text: &str, mode: u32) -> std::path::PathBuf {
        let p =
            std::env::temp_dir().join(format!("sipgw-check-{name}-{}.toml", std::process::id()));
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn inline_secret_in_a_world_readable_file_is_refused_with_its_key() {
        let text = "[sip.outbound]\nusername = \"u\"\npassword = \"pw\"\n";
        let open = write("open", text, 0o644);
        let e = load_checked(&open).unwrap_err().0;
        assert!(e.contains("sip.outbound.password"), "{e}");
        assert!(!e.contains("\"pw\""), "{e}");
        let closed = write("closed", text, 0o600);
        assert!(load_checked(&closed).is_ok());
    }

    #[test]
    fn the_board_profiles_are_valid() {
        for text in [
            include_str!("../board/rpi4.toml"),
            include_str!("../board/rpi5.toml"),
            include_str!("../board/x86_64.toml"),
            include_str!("../packaging/config.toml"),
        ] {
            let c = Config::parse(text).unwrap();
            let [lo, hi] = c.rtp.ports;
            let crate::config::MaxCalls::Fixed(max) = c.calls.max_calls else {
                panic!("board profiles set a number: {text}");
            };
            assert!(usize::from(hi - lo) + 1 >= 2 * max, "{text}");
        }
    }

    #[test]
    fn a_trtc_backend_without_the_sdk_names_sdk_dir() {
        let c =
            Config::parse("[room]\nbackend = \"trtc\"\n[room.trtc]\nsdk_dir = \"/nonexistent\"\n")
                .unwrap();
        assert_eq!(missing_sdk(&c).unwrap().0, "room.trtc.sdk_dir");
        assert!(missing_sdk(&Config::default()).is_none());
    }

    #[test]
    fn report_masks_secrets_and_names_addresses_backend_and_policy() {
        let c = Config::parse(
            "[sip.outbound]\nusername = \"u\"\npassword = \"top-secret\"\n\
             [trtc.apps.\"1400000001\"]\nsecret_key = \"app-key\"\n",
        )
        .unwrap();
        let r = report(Path::new("x.toml"), &c, "192.0.2.7".parse().unwrap());
        assert!(!r.contains("top-secret") && !r.contains("app-key"), "{r}");
        assert!(r.contains("tcp 127.0.0.1:8080"), "{r}");
        assert!(r.contains("192.0.2.7:5060"), "{r}");
        assert!(r.contains("room backend: sim"), "{r}");
        assert!(r.contains("all numbers allowed"), "{r}");
        assert!(!r.contains("call ids start"), "{r}");
        assert!(
            r.contains("SIP requests: answered from 127.0.0.1/32, ::1/128 (the built-in default)"),
            "{r}"
        );
        assert!(r.contains("trtc.apps.\"1400000001\".secret_key"), "{r}");
        let node = Config::parse("[calls]\nnode = 3\n").unwrap();
        let r = report(Path::new("x.toml"), &node, "192.0.2.7".parse().unwrap());
        assert!(r.contains("node 3: call ids start with 03"), "{r}");
        assert!(r.contains("SIP       tls: no listener"), "{r}");
    }

    #[test]
    fn report_names_the_tls_listener_and_bad_tls_files_are_refused_by_key() {
        let dir = std::env::temp_dir().join(format!("check-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = "[sip]\ntls_listen = \"127.0.0.1:5061\"\n[sip.tls]\n\
                    cert_file = \"/nonexistent/box.pem\"\nkey_file = \"/nonexistent/box.key\"\n";
        let c = Config::parse(text).unwrap();
        let r = report(Path::new("x.toml"), &c, "192.0.2.7".parse().unwrap());
        assert!(r.contains("SIP       tls 127.0.0.1:5061"), "{r}");
        let path = dir.join("gw.toml");
        std::fs::write(&path, text).unwrap();
        let err = load_checked(&path).unwrap_err().0;
        assert!(err.contains("sip.tls.cert_file: cannot read"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
