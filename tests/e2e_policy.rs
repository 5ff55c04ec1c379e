//! The number policy and the setup rate limit (issue "Safe on a network"): with a real
//! gateway process and real sockets on loopback, a startup to a denied number or to one
//! outside `allow` is a 403 JSON error naming `phonenumber`, an allowed number is dialled,
//! the 61st startup within a minute is a 429 with `Retry-After`, the refusals are logged
//! with the client address but not once per attempt, and an API beyond loopback without
//! a `[policy]` does not start.

mod common;

use common::gateway::{Gateway, GatewayConfig};
use common::http::Response;
use common::net::PortBlock;
use common::tmp::TestDir;

fn assert_403_phonenumber(r: &Response, what: &str) {
    assert_eq!(r.status, 403, "{what}: {} {}", r.status, r.text());
    let v = r.json();
    assert_eq!(v["error"], "forbidden", "{what}: {v}");
    assert_eq!(v["field"], "phonenumber", "{what}: {v}");
    assert!(v["message"].is_string(), "{what}: {v}");
}

fn gateway_with_policy(dir: &TestDir, block: &PortBlock, policy: &str) -> Gateway {
    let cfg = GatewayConfig::new(
        dir,
        block,
        // Nobody listens there: the INVITE goes out and is not answered.
        format!("sip:{{number}}@127.0.0.1:{}", block.port(1)),
    );
    Gateway::start_with_text(dir, &format!("{}\n[policy]\n{policy}", cfg.to_toml()))
}

#[test]
fn an_api_beyond_loopback_without_a_policy_does_not_start() {
    let dir = TestDir::new("policy-open-refused");
    let toml = "[http]\nlisten = \"0.0.0.0:0\"\n[http.api_keys]\n\"23456789\" = \"k69x50j0\"\n\
                [sip]\nlisten = \"127.0.0.1:0\"\n";
    let (code, out) = Gateway::run_expect_failure(&dir, toml);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}:\n{out}");
    assert!(
        out.contains("`policy`"),
        "the refusal names [policy]:\n{out}"
    );
    assert!(!out.contains("HTTP API on"), "nothing listened:\n{out}");
}

#[test]
fn a_bad_pattern_is_refused_naming_the_key() {
    let dir = TestDir::new("policy-bad-regex");
    let toml = "[sip]\nlisten = \"127.0.0.1:0\"\n[policy]\nallow = [\"[0-9\"]\n";
    let (code, out) = Gateway::run_expect_failure(&dir, toml);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}:\n{out}");
    assert!(
        out.contains("policy.allow"),
        "the refusal names the key:\n{out}"
    );
}

#[test]
fn denied_and_unlisted_numbers_are_403_allowed_ones_are_dialled() {
    let dir = TestDir::new("policy-numbers");
    let block = PortBlock::new();
    let gw = gateway_with_policy(
        &dir,
        &block,
        "deny = [\"^00\", \"^\\\\+\", \"^[*#]\"]\nallow = [\"^1[3-9][0-9]{9}$\"]\n",
    );
    for number in ["0044207946000", "+8613800138000", "*21#", "#31#"] {
        let r = gw.startup_raw(&Gateway::startup_body(number, 30, None));
        assert_403_phonenumber(&r, &format!("denied {number}"));
    }
    for number in ["1234", "12800138000", "138001380001"] {
        let r = gw.startup_raw(&Gateway::startup_body(number, 30, None));
        assert_403_phonenumber(&r, &format!("outside allow {number}"));
    }
    // An allowed number goes through: the room is entered and the INVITE sent.
    let id = gw.startup("13800138000", 30, None);
    gw.shutdown(&id);
    let log = gw.proc.log_text();
    assert!(
        log.contains("http: refused") && log.contains("127.0.0.1"),
        "refusals are logged with the client address:\n{log}"
    );
}

#[test]
fn the_61st_startup_within_a_minute_is_429_with_retry_after() {
    let dir = TestDir::new("policy-rate");
    let block = PortBlock::new();
    // Every number denied: the 60 allowed setups are refused by the policy (403), which
    // places no call, and still count against the limit.
    let gw = gateway_with_policy(
        &dir,
        &block,
        "deny = [\".*\"]\nmax_setups_per_minute = 60\n",
    );
    let body = Gateway::startup_body("1002", 30, None);
    for i in 1..=60 {
        let r = gw.startup_raw(&body);
        assert_403_phonenumber(&r, &format!("setup {i}"));
    }
    let r = gw.startup_raw(&body);
    assert_eq!(r.status, 429, "setup 61: {} {}", r.status, r.text());
    assert_eq!(r.json()["error"], "too_many_requests", "{}", r.text());
    let retry: u64 = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on the 429"))
        .parse()
        .expect("Retry-After is whole seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // 61 refusals from one address within seconds: a few log lines, not one each.
    let log = gw.proc.log_text();
    let lines = log.lines().filter(|l| l.contains("http: refused")).count();
    assert!(
        (1..=3).contains(&lines),
        "{lines} refusal lines for 61 attempts:\n{log}"
    );
}
