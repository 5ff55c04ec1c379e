//! The systemd notify protocol, checked against a `NOTIFY_SOCKET` this test listens on
//! (as systemd would): READY=1 once the listeners are up, WATCHDOG=1 keep-alives at
//! half of `WATCHDOG_USEC`, STATUS= with the call count, STOPPING=1 after SIGTERM, and
//! a clean exit.

mod common;

use common::gateway::binary;
use common::proc::Proc;
use common::tmp::TestDir;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

/// Every datagram that arrives within `timeout`, until `done` says enough.
fn collect(
    sock: &UnixDatagram,
    timeout: Duration,
    got: &mut Vec<String>,
    done: impl Fn(&[String]) -> bool,
) {
    let until = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while !done(got) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        sock.set_read_timeout(Some(left.min(Duration::from_millis(200))))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            got.extend(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .map(str::to_string),
            );
        }
    }
}

fn count(lines: &[String], what: &str) -> usize {
    lines.iter().filter(|l| l.as_str() == what).count()
}

#[test]
fn ready_watchdog_status_and_stopping_reach_the_notify_socket() {
    let dir = TestDir::new("notify");
    let socket_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&socket_path).unwrap();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[sip]\nlisten = \"127.0.0.1:0\"\n\
             [calls]\nstate_dir = \"{}\"\n",
            dir.subdir("state").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(binary());
    cmd.arg("--config")
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        // 400 ms: keep-alives every 200 ms.
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID");
    let mut gw = Proc::spawn("gateway", &mut cmd, dir.path());

    let mut got = Vec::new();
    collect(&sock, Duration::from_secs(30), &mut got, |l| {
        count(l, "READY=1") > 0
    });
    assert_eq!(
        count(&got, "READY=1"),
        1,
        "no READY=1: {got:?}\n{}",
        gw.log_text()
    );
    // READY=1 comes only once the listeners are up: their address lines are logged first.
    let log = gw.log_text();
    assert!(
        log.contains("HTTP API on http://") && log.contains("SIP on udp"),
        "{log}"
    );
    assert!(
        got.iter().any(|l| l == "STATUS=0 live calls"),
        "no STATUS= with the call count: {got:?}"
    );

    let after_ready = got.len();
    collect(&sock, Duration::from_secs(5), &mut got, |l| {
        count(&l[after_ready..], "WATCHDOG=1") >= 5
    });
    assert!(
        count(&got[after_ready..], "WATCHDOG=1") >= 5,
        "fewer than 5 keep-alives in 5 s at WATCHDOG_USEC=400000: {got:?}"
    );
    assert_eq!(count(&got, "STOPPING=1"), 0);

    gw.signal("TERM");
    collect(&sock, Duration::from_secs(10), &mut got, |l| {
        count(l, "STOPPING=1") > 0
    });
    assert_eq!(count(&got, "STOPPING=1"), 1, "no STOPPING=1: {got:?}");
    let status = gw.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "gateway did not exit cleanly after SIGTERM: {status:?}\n{}",
        gw.log_text()
    );
    // No keep-alive after STOPPING=1: a stopping gateway is not healthy.
    let stop_at = got.iter().position(|l| l == "STOPPING=1").unwrap();
    assert_eq!(count(&got[stop_at..], "WATCHDOG=1"), 0, "{got:?}");
}

#[test]
fn without_a_notify_socket_the_gateway_runs_as_before() {
    let dir = TestDir::new("no-notify");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        "[http]\nlisten = \"127.0.0.1:0\"\n[sip]\nlisten = \"127.0.0.1:0\"\n[calls]\nstate_dir = \"\"\n",
    )
    .unwrap();
    let mut cmd = Command::new(binary());
    cmd.arg("--config")
        .arg(&config)
        .env_remove("NOTIFY_SOCKET")
        .env("WATCHDOG_USEC", "400000");
    let mut gw = Proc::spawn("gateway", &mut cmd, dir.path());
    gw.wait_log("SIP on udp", Duration::from_secs(30));
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{}", gw.log_text());
}
