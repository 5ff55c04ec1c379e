//! The gateway process with Tencent's real libliteav.so (`backend = "trtc"`), run ONLY
//! inside an isolated network namespace (`unshare -n`, loopback only): the SDK connects
//! to Tencent's public addresses by itself, and there every attempt fails locally. The
//! test re-executes its own binary under `unshare -n` (bringing `lo` up so HTTP works on
//! 127.0.0.1 inside), refuses to go on unless loopback is the only interface, and then:
//! `/trtc/startup` fails cleanly with 502 within the entry bound, 20 times over; the
//! gateway stays healthy and serves the next request; its threads and memory come back.

mod common;

use common::gateway::Gateway;
use common::room::double as helpers;
use common::tmp::TestDir;
use std::time::{Duration, Instant};

const TEST_NAME: &str = "real_sdk_startup_fails_cleanly_and_leaves_nothing_behind";
const ATTEMPTS: usize = 20;
const WARM_UP: usize = 3;
/// `[room] entry_timeout_s` for this test: the SDK alone would take about 21 s to give up.
const ENTRY_BOUND_S: u64 = 2;

#[test]
fn real_sdk_startup_fails_cleanly_and_leaves_nothing_behind() {
    let Some((sdk_dir, shim)) = helpers::sdk_or_skip(TEST_NAME) else {
        return;
    };
    if !helpers::in_isolated_namespace() {
        helpers::run_in_isolated_namespace(TEST_NAME);
        return;
    }
    helpers::assert_isolated();
    inside_namespace(&sdk_dir, &shim);
}

fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

fn rss_kib_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn inside_namespace(sdk_dir: &std::path::Path, shim: &std::path::Path) {
    let dir = TestDir::new("trtc-real-sdk");
    // A "phone" that must never be called: the room is entered before the INVITE.
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let toml = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[sip]\nlisten = \"127.0.0.1:0\"\n\
         [sip.outbound]\nuri = \"sip:{{number}}@{}\"\n[rtp]\nip = \"127.0.0.1\"\n\
         [room]\nbackend = \"trtc\"\nentry_timeout_s = {ENTRY_BOUND_S}\n\
         [room.trtc]\nsdk_dir = \"{}\"\nshim = \"{}\"\n[calls]\nstate_dir = \"{}\"\n",
        phone.local_addr().unwrap(),
        sdk_dir.display(),
        shim.display(),
        dir.subdir("state").display()
    );
    let mut gw = Gateway::start_with_text(&dir, &toml);
    let pid = gw.proc.pid();

    let attempt = |n: usize| {
        let mut body = Gateway::startup_body("1002", 30, None);
        body["trtcParams"]["userId"] = serde_json::json!(format!("gw_test_{n}"));
        let started = Instant::now();
        let r = gw.startup_raw(&body);
        let took = started.elapsed();
        assert_eq!(r.status, 502, "attempt {n}: {}", r.text());
        let message = r.json()["message"].as_str().unwrap_or("").to_string();
        assert!(
            message.contains("timed out") || message.contains('-'),
            "attempt {n}: the reason names the timeout or the SDK's code: {message}"
        );
        assert!(
            took < Duration::from_secs(ENTRY_BOUND_S + 10),
            "attempt {n}: the gateway's bound was not kept ({took:?})"
        );
        message
    };

    for n in 0..WARM_UP {
        attempt(n);
    }
    // Teardown (ExitRoom, DestroyTRTCCloud) runs off the executor: let it settle.
    std::thread::sleep(Duration::from_secs(3));
    let (threads0, rss0) = (threads_of(pid), rss_kib_of(pid));
    let mut reasons = Vec::new();
    for n in WARM_UP..WARM_UP + ATTEMPTS {
        reasons.push(attempt(n));
    }
    // Threads come back once the last teardown finished; memory must not have grown.
    let settle = Instant::now() + Duration::from_secs(20);
    while threads_of(pid) > threads0 + 1 && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (threads1, rss1) = (threads_of(pid), rss_kib_of(pid));
    println!(
        "{ATTEMPTS} failed entries: threads {threads0} -> {threads1}, RSS {rss0} KiB -> {rss1} KiB; reason: {}",
        reasons.last().map(String::as_str).unwrap_or("")
    );
    assert!(
        threads1 <= threads0 + 1,
        "threads left behind: {threads0} -> {threads1}"
    );
    assert!(
        rss1 < rss0 + 16 * 1024,
        "memory left behind: {rss0} KiB -> {rss1} KiB after {ATTEMPTS} failures"
    );

    // Still healthy, still serving: health, a bad request, and one more attempt.
    let health = common::http::get(gw.http, "/healthz");
    assert_eq!(health.status, 200);
    let bad = common::http::post_json(gw.http, "/trtc/startup", &serde_json::json!({}));
    assert_eq!(bad.status, 400);
    attempt(99);
    phone
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        phone.recv_from(&mut buf).is_err(),
        "no INVITE without a room"
    );
    gw.assert_healthy();
}
