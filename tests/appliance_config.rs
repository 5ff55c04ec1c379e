//! `--check-config` on good and bad files, and secrets read from a credentials
//! directory (`$CREDENTIALS_DIRECTORY`, as systemd's `LoadCredential=` provides it).

mod common;

use common::gateway::binary;
use common::proc::Proc;
use common::tmp::TestDir;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn check(file: &Path, credentials: Option<&Path>) -> Output {
    let mut cmd = Command::new(binary());
    cmd.arg("--check-config")
        .arg(file)
        .env_remove("CREDENTIALS_DIRECTORY");
    if let Some(dir) = credentials {
        cmd.env("CREDENTIALS_DIRECTORY", dir);
    }
    cmd.output().expect("run the gateway binary")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(dir: &TestDir, name: &str, body: &str, mode: u32) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[test]
fn good_files_pass_and_say_what_the_gateway_would_do() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("board/example.toml");
    let o = check(&example, None);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    for needle in [
        "listens on:",
        "HTTP API  tcp 127.0.0.1:8080",
        "SIP       udp 0.0.0.0:5060",
        "advertises",
        "room backend: sim",
        "policy: numbers refused when they match \"^00\", \"^\\\\+\", \"^[*#]\"; all others allowed; at most 60 call setups per minute",
        "API access: unsigned, on loopback only",
        "SIP requests: answered from 127.0.0.1/32, ::1/128 (the built-in default), from the trunk",
        "effective configuration",
    ] {
        assert!(out.contains(needle), "no `{needle}` in:\n{out}");
    }
}

#[test]
fn bad_files_fail_with_the_key_named() {
    let dir = TestDir::new("check-bad");
    for (body, key) in [
        ("[rtp]\nports = [2000, 1000]\n", "rtp.ports"),
        ("[sip]\nlistne = 1\n", "listne"),
        ("[room]\nbackend = \"zoom\"\n", "room.backend"),
        (
            "[http]\nlisten = \"0.0.0.0:8080\"\n",
            "http.allow_unauthenticated",
        ),
        ("[sip.outbound\n", "line 1"),
        ("[policy]\ndeny = [\"(\"]\n", "policy.deny"),
        ("[sip]\ntrusted = [\"pbx.lan\"]\n", "sip.trusted"),
        (
            "[http]\nlisten = \"0.0.0.0:8080\"\nallow_unauthenticated = true\n",
            "`policy`",
        ),
    ] {
        let file = write(&dir, "bad.toml", body, 0o644);
        let o = check(&file, None);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{body}: {out}");
        assert!(out.contains(key), "{body}: no `{key}` in {out}");
    }
    let o = check(&dir.join("missing.toml"), None);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("missing.toml"), "{}", text(&o));
}

#[test]
fn an_inline_secret_in_a_world_readable_file_is_unsafe() {
    let dir = TestDir::new("check-unsafe");
    let body = "[sip.outbound]\nusername = \"1001\"\npassword = \"inline-pw\"\n";
    let open = write(&dir, "open.toml", body, 0o644);
    let o = check(&open, None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("sip.outbound.password"), "{}", text(&o));
    assert!(!text(&o).contains("inline-pw"), "{}", text(&o));
    let closed = write(&dir, "closed.toml", body, 0o600);
    let o = check(&closed, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !text(&o).contains("inline-pw"),
        "secret printed: {}",
        text(&o)
    );
}

#[test]
fn secrets_come_from_the_credentials_directory_and_are_never_printed() {
    let dir = TestDir::new("check-creds");
    let creds = dir.subdir("credentials");
    write(&dir, "credentials/sip-password", "pw-from-cred\n", 0o400);
    write(&dir, "credentials/app-key", "key-from-cred", 0o400);
    write(&dir, "credentials/socks-pw", "socks-from-cred", 0o400);
    let body = "[sip.outbound]\nusername = \"1001\"\npassword_file = \"sip-password\"\n\
                [room.trtc]\nsocks5 = \"proxy.lan:1080\"\nsocks5_user = \"u\"\nsocks5_password_file = \"socks-pw\"\n\
                [trtc.apps.\"1400000001\"]\nsecret_key_file = \"app-key\"\n";
    let file = write(&dir, "gateway.toml", body, 0o644);

    let o = check(&file, Some(&creds));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    for secret in ["pw-from-cred", "key-from-cred", "socks-from-cred"] {
        assert!(!out.contains(secret), "secret printed: {out}");
    }
    assert!(out.contains("sip.outbound.password"), "{out}");
    assert!(out.contains("trtc.apps.\"1400000001\".secret_key"), "{out}");

    // Outside systemd (no $CREDENTIALS_DIRECTORY) a relative name cannot be found.
    let o = check(&file, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("sip.outbound.password_file"),
        "{}",
        text(&o)
    );
    // A credential that is not there is named by its key.
    std::fs::remove_file(creds.join("app-key")).unwrap();
    let o = check(&file, Some(&creds));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("trtc.apps.\"1400000001\".secret_key_file"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_gateway_starts_with_its_secrets_in_a_credentials_directory() {
    let dir = TestDir::new("creds-run");
    let creds = dir.subdir("credentials");
    write(&dir, "credentials/sip-password", "pw-from-cred\n", 0o400);
    let body = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[sip]\nlisten = \"127.0.0.1:0\"\n\
         [sip.outbound]\nusername = \"1001\"\npassword_file = \"sip-password\"\n\
         [calls]\nstate_dir = \"{}\"\n",
        dir.subdir("state").display()
    );
    let file = write(&dir, "gateway.toml", &body, 0o644);
    let mut cmd = Command::new(binary());
    cmd.arg("--config")
        .arg(&file)
        .env("CREDENTIALS_DIRECTORY", &creds)
        .env("RUST_LOG", "trace");
    let mut gw = Proc::spawn("gateway", &mut cmd, dir.path());
    gw.wait_log("SIP on udp", Duration::from_secs(30));
    gw.signal("TERM");
    let st = gw.wait_exit(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "{}", gw.log_text());
    assert!(!gw.log_text().contains("pw-from-cred"), "secret logged");

    // Without the credential the gateway refuses to start, naming the key.
    std::fs::remove_file(creds.join("sip-password")).unwrap();
    let o = Command::new(binary())
        .arg("--config")
        .arg(&file)
        .env("CREDENTIALS_DIRECTORY", &creds)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("sip.outbound.password_file"),
        "{}",
        text(&o)
    );
}
