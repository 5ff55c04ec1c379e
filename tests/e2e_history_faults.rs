//! The call log under faults (issue 11, durable history): a log damaged before start
//! loads everything intact and names the damage; a full disk loses no call and no
//! line, logs the failure once, and writing resumes when space returns.

mod common;

use common::callstate::{assert_answered, assert_ending};
use common::gateway::{Gateway, GatewayConfig};
use common::net::PortBlock;
use common::rig::Rig;
use common::tmp::TestDir;
use common::wait::secs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn record(id: &str, unix: f64, n: u8, rest: &str) -> String {
    format!("{id} {unix:.6} 2026-01-01T00:00:0{n}.000000+00:00 {n} {rest}\n")
}

#[test]
fn a_damaged_log_loads_every_intact_call_and_names_the_damage() {
    let dir = TestDir::new("history-damaged");
    let block = PortBlock::new();
    let cfg = GatewayConfig::new(&dir, &block, "sip:{number}@127.0.0.1:9".into());
    let t = now_unix();
    let (a, b, c) = ("00000000000000a1", "00000000000000b2", "00000000000000c3");
    let mut bytes = Vec::new();
    bytes.extend(record(a, t, 1, "CALLING 0").bytes());
    bytes.extend(record(b, t, 1, "CALLING 0").bytes());
    let damaged_at = bytes.len();
    // A middle record whose bytes are not UTF-8 (a flipped sector, say).
    bytes.extend(format!("{b} {t:.6} 2026-01-01T00:00:02").bytes());
    bytes.extend([0xc3, 0x28, 0xff, b' ', b'5', b' ', b'C', b'\n']);
    bytes.extend(record(a, t, 6, "DISCONNCTD 486 Busy Here").bytes());
    bytes.extend(record(b, t, 6, "DISCONNCTD 200 shutdown requested").bytes());
    bytes.extend(record(c, t, 1, "CALLING 0").bytes());
    bytes.extend(record(c, t, 6, "DISCONNCTD 408 ttl expired").bytes());
    let torn_at = bytes.len();
    // The process died in the middle of its last write.
    bytes.extend(format!("00000000000000d4 {t:.6} 2026-01-01T00:00:09.0").bytes());
    std::fs::write(cfg.state_dir.join("calls.log"), &bytes).unwrap();

    let gw = Gateway::start(&dir, &cfg);
    for (id, code, reason) in [
        (a, 486, "Busy Here"),
        (b, 200, "shutdown requested"),
        (c, 408, "ttl expired"),
    ] {
        let (lines, done) = gw.callstate(id);
        assert!(done, "{id} not done");
        assert_eq!(lines.len(), 2, "{id}: {lines:?}");
        assert_ending(&lines, code, reason);
    }
    let r = common::http::get(gw.http, "/trtc/callstate?id=00000000000000d4");
    assert_eq!(r.status, 404, "the torn record's call");
    let log = gw.proc.log_text();
    for (at, why) in [(damaged_at, "not UTF-8"), (torn_at, "torn")] {
        let needle = format!("damaged record at byte {at} skipped: {why}");
        assert_eq!(
            log.matches(&needle).count(),
            1,
            "{needle:?} not logged once"
        );
    }
}

/// A 64 KiB tmpfs mounted on a directory; unmounted (lazily: the gateway may still
/// hold its files) on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    /// Fills it with `filler` until the file system refuses more.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = [0u8; 1024];
        while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_loses_no_call_logs_once_and_writing_resumes() {
    let probe = TestDir::new("history-probe");
    if Tmpfs::mount(probe.path()).is_none() {
        eprintln!("SKIPPED: mounting a tmpfs is not permitted here (needs root)");
        return;
    }
    let mut tmpfs = None;
    let mut rig = Rig::start("history-full", "uas_answer.xml", 2, false, |cfg| {
        let fs = Tmpfs::mount(&cfg.state_dir).expect("tmpfs mounts");
        tmpfs = Some(fs);
    });
    let tmpfs = tmpfs.unwrap();
    let filler = tmpfs.fill();
    let log_path = rig.gw.proc.log_path().to_path_buf();
    let calls_log = filler.with_file_name("calls.log");

    // The first call on a full disk still goes through and is queryable.
    let first = rig.gw.startup("1002", 60, None);
    rig.gw.wait_state(&first, 5, secs(20));
    rig.gw.shutdown(&first);
    let lines = rig.gw.wait_done(&first, secs(30));
    assert_answered(&lines);
    assert_ending(&lines, 200, "shutdown requested");
    std::thread::sleep(Duration::from_millis(200)); // several flush ticks retry
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(
        text.matches("failed (No space left on device").count(),
        1,
        "the failure is logged once:\n{}",
        rig.gw.proc.log_tail(40)
    );
    assert!(!std::fs::read_to_string(&calls_log)
        .unwrap()
        .contains(&first));

    // Space returns: what was held is written, and the next call's lines too.
    std::fs::remove_file(&filler).unwrap();
    rig.gw
        .proc
        .wait_log("writing resumed", Duration::from_secs(5));
    let second = rig.gw.startup("1002", 60, None);
    rig.gw.wait_state(&second, 5, secs(20));
    rig.gw.shutdown(&second);
    rig.gw.wait_done(&second, secs(30));
    rig.uas.proc.assert_success(secs(20));
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(text.matches("writing resumed").count(), 1, "{text}");
    let stored = std::fs::read_to_string(&calls_log).unwrap();
    for id in [&first, &second] {
        let n = stored
            .lines()
            .filter(|l| l.starts_with(id.as_str()))
            .count();
        let ends = stored
            .lines()
            .filter(|l| l.starts_with(id.as_str()) && l.contains(" 6 DISCONNCTD "))
            .count();
        assert!(
            n >= 4 && ends == 1,
            "call {id}: {n} lines on disk:\n{stored}"
        );
    }
    drop(rig);
    drop(tmpfs);
}
