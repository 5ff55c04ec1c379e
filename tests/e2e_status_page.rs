//! The status page in a real browser (issue "See what the box is doing"): Debian's
//! chromium, driven by selenium through Debian's chromedriver (tests/browser/status_page.py),
//! places a call to a sipp phone from the page's form, sees it live with a ticking
//! duration, ends it with its button and sees it in the history with its reason; a second
//! run does the same on a gateway with API keys, the page signing in the browser. The
//! screenshots are kept under the tests' output directory.

mod common;

use common::gateway::{Gateway, GatewayConfig};
use common::net::PortBlock;
use common::peers::Sipp;
use common::rig::make_tones;
use common::tmp::TestDir;
use std::process::Command;

fn page_run(name: &str, keys: Option<(&str, &str)>) -> (serde_json::Value, Gateway, TestDir) {
    let dir = TestDir::new(name);
    let block = PortBlock::new();
    make_tones(&dir);
    let uas = Sipp::uas(&dir, &block, "uas_answer.xml", 1);
    let cfg = GatewayConfig::new(&dir, &block, uas.outbound_uri());
    let mut toml = cfg.to_toml();
    if let Some((k, s)) = keys {
        toml.push_str(&format!("\n[http.api_keys]\n\"{k}\" = \"{s}\"\n"));
    }
    let gw = Gateway::start_with_text(&dir, &toml);
    let shot = dir.join("status-page.png");
    let mut cmd = Command::new("python3");
    cmd.arg(common::peers_dir().join("../browser/status_page.py"))
        .arg(format!("http://{}/", gw.http))
        .arg("1002")
        .arg(&shot);
    if let Some((k, s)) = keys {
        cmd.args([k, s]);
    }
    let out = cmd.output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed (scripts/test.sh installs chromium, chromium-driver and \
         selenium):\n{stdout}{}\n--- gateway log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.proc.log_tail(40)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
    if keys.is_none() && std::env::var_os("SIPGW_UPDATE_SCREENSHOT").is_some() {
        // README's picture of the page: `SIPGW_UPDATE_SCREENSHOT=1 cargo test --test
        // e2e_status_page` refreshes it.
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::write(docs.join("status-page.png"), &png).unwrap();
    }
    drop(uas);
    (seen, gw, dir)
}

fn assert_call_went_through(seen: &serde_json::Value, gw: &mut Gateway) {
    let id = seen["id"].as_str().expect("the page showed the call's id");
    assert!(
        seen["reason"].as_str().unwrap().contains("shutdown"),
        "{seen}"
    );
    assert_eq!(seen["version"], env!("CARGO_PKG_VERSION"));
    // The gateway's own account (its log: the API may want signatures here).
    let log = gw.proc.log_text();
    let of_call: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("call={id} ")))
        .collect();
    assert!(
        of_call.iter().any(|l| l.contains(" 5 CONFIRMED 200")),
        "answered: {of_call:?}"
    );
    assert!(
        of_call
            .iter()
            .any(|l| l.contains(" 6 DISCONNCTD 200 shutdown requested")),
        "ended from the page: {of_call:?}"
    );
    gw.assert_healthy();
}

#[test]
fn the_status_page_places_watches_and_ends_a_call() {
    let (seen, mut gw, _dir) = page_run("status-page", None);
    assert_eq!(
        seen["updates"], "live",
        "Server-Sent Events got through: {seen}"
    );
    assert_call_went_through(&seen, &mut gw);
}

#[test]
fn the_status_page_signs_in_the_browser_when_keys_are_set() {
    let (seen, mut gw, _dir) = page_run("status-page-signed", Some(("23456789", "k69x50j0")));
    assert_call_went_through(&seen, &mut gw);
    // The gateway saw signed requests only: nothing unsigned got past it.
    let log = gw.proc.log_text();
    assert!(
        !log.contains("k69x50j0"),
        "the secret never reaches the log"
    );
}
