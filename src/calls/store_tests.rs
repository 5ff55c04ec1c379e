//! Tests of the call log: damage, durability, compaction and write failures.

use super::*;

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sipgw-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

const HOUR: Duration = Duration::from_secs(3600);
const BIG: u64 = 64 << 20;

fn open(dir: &Path) -> (CallStore, HashMap<String, StoredCall>) {
    CallStore::open(dir, HOUR, BIG, SystemTime::now()).unwrap()
}

fn calling(stamp: &str) -> String {
    format!("2026-01-01T00:00:{stamp}.000000+00:00 1 CALLING 0")
}

fn ended(stamp: &str) -> String {
    format!("2026-01-01T00:00:{stamp}.000000+00:00 6 DISCONNCTD 486 Busy Here")
}

#[test]
fn history_survives_reopen_and_old_calls_expire() {
    let dir = tempdir("reopen");
    let now = SystemTime::now();
    let (mut store, calls) = open(&dir);
    assert!(calls.is_empty());
    let t = unix_seconds(now);
    store.append("aa01", t, &calling("00"));
    store.append("aa01", t, &ended("01"));
    store.append("bb02", t - 7200.0, &ended("00"));
    store.append("cc03", t, &calling("00"));
    drop(store);

    let (_store, calls) = open(&dir);
    let a = &calls["aa01"];
    assert!(a.done);
    assert!(a.lines.ends_with("6 DISCONNCTD 486 Busy Here\n"));
    assert!(!calls.contains_key("bb02"), "past retention");
    let c = &calls["cc03"];
    assert!(c.done, "a call cut short by a restart is closed");
    assert!(c.lines.contains("6 DISCONNCTD 0 gateway restarted"));

    // Compaction kept what was retained, and the closing line is persisted too.
    let (_store, again) = open(&dir);
    assert_eq!(again["cc03"].lines.matches("DISCONNCTD").count(), 1);
    assert_eq!(again["aa01"], calls["aa01"]);
    let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
    assert!(
        !text.contains("bb02"),
        "compaction removed the expired call"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_lines_are_skipped() {
    let dir = tempdir("garbage");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(LOG_FILE), "nonsense\nzz 1 x\n\u{1}\u{2} \n").unwrap();
    let (_s, calls) = open(&dir);
    assert!(calls.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn damaged_records_are_skipped_and_every_other_kept() {
    let dir = tempdir("damage");
    std::fs::create_dir_all(&dir).unwrap();
    let t = unix_seconds(SystemTime::now());
    let mut bytes = Vec::new();
    bytes.extend(format!("aa01 {t:.6} {}\n", calling("00")).bytes());
    // A middle record with bytes that are not UTF-8, for another call.
    bytes.extend(format!("bb02 {t:.6} ").bytes());
    bytes.extend([0xff, 0xfe, b' ', b'1', b'\n']);
    bytes.extend(format!("bb02 {t:.6} {}\n", calling("00")).bytes());
    bytes.extend(format!("aa01 {t:.6} {}\n", ended("02")).bytes());
    bytes.extend(format!("bb02 {t:.6} {}\n", ended("03")).bytes());
    bytes.extend(format!("cc03 {t:.6} {}\n", ended("04")).bytes());
    // A torn last record: the process died mid-write.
    bytes.extend(format!("dd04 {t:.6} 2026-01-01T00:00:05").bytes());
    std::fs::write(dir.join(LOG_FILE), &bytes).unwrap();

    let (_s, calls) = open(&dir);
    let ids: HashSet<&str> = calls.keys().map(|k| k.as_str()).collect();
    assert_eq!(ids, HashSet::from(["aa01", "bb02", "cc03"]));
    assert_eq!(calls["aa01"].lines.lines().count(), 2);
    assert_eq!(
        calls["bb02"].lines.lines().count(),
        2,
        "records after the bad one"
    );
    assert!(calls["bb02"].done && calls["cc03"].done);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parse_names_each_kind_of_damage() {
    assert_eq!(
        parse(b"ab 1.0 t 1 CALLING 0").err(),
        Some("torn (no end of line)")
    );
    assert_eq!(parse(b"ab 1.0 \xff 1 X\n").err(), Some("not UTF-8"));
    assert_eq!(parse(b"zz 1.0 t 1 X\n").err(), Some("bad call id"));
    assert_eq!(parse(b"ab nan t 1 X\n").err(), Some("bad time"));
    assert_eq!(parse(b"ab 1.0 t x X\n").err(), Some("bad callstate line"));
    assert_eq!(parse(b"ab 1.0\n").err(), Some("missing fields"));
    let r = parse(b"ab 1.5 t 6 DISCONNCTD 0\n").unwrap();
    assert_eq!((r.id, r.unix, r.is_end()), ("ab", 1.5, true));
}

#[test]
fn compaction_keeps_each_records_own_time() {
    let dir = tempdir("times");
    let (mut store, _) = open(&dir);
    let t = unix_seconds(SystemTime::now());
    store.append("aa01", t - 100.0, &calling("00"));
    store.append("aa01", t - 50.0, &ended("50"));
    store.append("ee05", t - 7200.0, &ended("00"));
    store.compact_if_due(SystemTime::now());
    let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
    let times: Vec<&str> = text.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(
        times,
        [format!("{:.6}", t - 100.0), format!("{:.6}", t - 50.0)],
        "{text}"
    );
    drop(store);
    let (_s, calls) = open(&dir);
    let last = format!("{:.6}", calls["aa01"].last_unix);
    assert_eq!(
        last,
        format!("{:.6}", t - 50.0),
        "the last record's own time"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_size_cap_drops_oldest_finished_calls_but_never_a_live_one() {
    let dir = tempdir("cap");
    let cap = 4096u64;
    let (mut store, _) = CallStore::open(&dir, HOUR, cap, SystemTime::now()).unwrap();
    let t = unix_seconds(SystemTime::now());
    store.append("0001", t - 10.0, &calling("00")); // live throughout
    for i in 2..200u32 {
        let id = format!("{i:04x}");
        store.append(&id, t - 5.0 + f64::from(i) / 1000.0, &calling("00"));
        store.append(&id, t - 5.0 + f64::from(i) / 1000.0, &ended("01"));
    }
    let size = std::fs::metadata(dir.join(LOG_FILE)).unwrap().len();
    assert!(size <= cap, "log is {size} bytes, cap {cap}");
    assert!(store.lookup("0001").is_some(), "the live call was dropped");
    assert!(
        store.lookup("00c7").is_some(),
        "the newest finished call was dropped"
    );
    assert!(
        store.lookup("0002").is_none(),
        "the oldest finished call is kept"
    );
    assert!(!dir.join(TMP_FILE).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lookup_reads_a_call_back_from_the_file() {
    let dir = tempdir("lookup");
    let (mut store, _) = open(&dir);
    let t = unix_seconds(SystemTime::now());
    store.append("aa01", t, &calling("00"));
    store.append("bb02", t, &calling("00"));
    store.append("aa01", t, &ended("01"));
    let a = store.lookup("aa01").unwrap();
    assert!(a.done);
    assert_eq!(a.lines, format!("{}\n{}\n", calling("00"), ended("01")));
    assert!(store.lookup("cc03").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_disconnected_record_is_synced_and_others_on_flush() {
    let dir = tempdir("sync");
    let (mut store, _) = open(&dir);
    let t = unix_seconds(SystemTime::now());
    store.append("aa01", t, &calling("00"));
    assert!(store.unsynced(), "a CALLING line waits for the tick");
    store.flush();
    assert!(!store.unsynced());
    store.append("aa01", t, &calling("01"));
    store.append("aa01", t, &ended("02"));
    assert!(!store.unsynced(), "DISCONNCTD is synced at once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_write_failure_keeps_records_and_writing_resumes() {
    let dir = tempdir("fail");
    let (mut store, _) = open(&dir);
    let t = unix_seconds(SystemTime::now());
    store.append("aa01", t, &calling("00"));
    // A descriptor opened read-only refuses writes, as a full disk would.
    let good = std::mem::replace(&mut store.file, File::open(dir.join(LOG_FILE)).unwrap());
    store.append("aa01", t, &ended("01"));
    store.append("bb02", t, &calling("02"));
    assert!(store.failing, "the failure is noticed");
    assert_eq!(store.failures_logged, 1, "logged once, not per line");
    assert_eq!(store.pending.iter().filter(|b| **b == b'\n').count(), 2);
    store.flush();
    assert!(store.failing);
    assert_eq!(store.failures_logged, 1);
    store.file = good;
    store.flush();
    assert!(!store.failing, "writing resumed");
    assert!(store.pending.is_empty());
    let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text
        .lines()
        .nth(1)
        .unwrap()
        .ends_with("DISCONNCTD 486 Busy Here"));
    let _ = std::fs::remove_dir_all(&dir);
}
