//! The persisted call log: every state line of every call, appended to one file, so
//! `/trtc/callstate` can still explain a call after the gateway restarts.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// File name of the log inside the state directory.
const LOG_FILE: &str = "calls.log";

/// A call's history as read back from disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredCall {
    /// The callstate lines, each ending in `\n`.
    pub lines: String,
    /// Whether a DISCONNCTD line was written.
    pub done: bool,
    /// Unix time of the last line, in seconds.
    pub last_unix: f64,
}

/// Appends state lines to `<state_dir>/calls.log` (one record per line:
/// `<id> <unix seconds> <callstate line>`).
pub struct CallStore {
    path: PathBuf,
    file: File,
}

impl CallStore {
    /// Opens (creating) the log, reads back the calls still within `retention`, and
    /// rewrites the file with only those, so it never grows past a retention period.
    /// Calls that were still running when the gateway stopped are closed with a line
    /// that says so, stamped `now`.
    pub fn open(
        dir: &Path,
        retention: Duration,
        now: SystemTime,
    ) -> io::Result<(CallStore, HashMap<String, StoredCall>)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let mut calls: HashMap<String, StoredCall> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                let Some((id, rest)) = line.split_once(' ') else {
                    continue;
                };
                let Some((unix, text)) = rest.split_once(' ') else {
                    continue;
                };
                let Ok(unix) = unix.parse::<f64>() else {
                    continue;
                };
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    continue;
                }
                let entry = calls.entry(id.to_string()).or_insert_with(|| {
                    order.push(id.to_string());
                    StoredCall::default()
                });
                entry.lines.push_str(text);
                entry.lines.push('\n');
                entry.last_unix = unix;
                entry.done |= text.split(' ').nth(1) == Some("6");
            }
        }
        let now_unix = unix_seconds(now);
        let horizon = now_unix - retention.as_secs_f64();
        calls.retain(|_, c| c.last_unix >= horizon);
        let stamp = crate::calls::log::local_timestamp();
        for call in calls.values_mut().filter(|c| !c.done) {
            call.lines.push_str(&format!(
                "{stamp} 6 DISCONNCTD 0 gateway restarted during the call\n"
            ));
            call.done = true;
            call.last_unix = now_unix;
        }
        // Rewrite compacted, then append from there.
        let tmp = dir.join(format!("{LOG_FILE}.tmp"));
        {
            let mut out = File::create(&tmp)?;
            for id in order.iter().filter(|id| calls.contains_key(*id)) {
                let call = &calls[id];
                for line in call.lines.lines() {
                    writeln!(out, "{id} {:.6} {line}", call.last_unix)?;
                }
            }
            out.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        let file = OpenOptions::new().append(true).create(true).open(&path)?;
        Ok((CallStore { path, file }, calls))
    }

    /// Appends one state line (without its trailing newline).
    pub fn append(&mut self, id: &str, unix: f64, line: &str) {
        if let Err(e) = writeln!(self.file, "{id} {unix:.6} {line}") {
            log::warn!("call log {}: append failed: {e}", self.path.display());
        }
    }
}

/// Seconds since the Unix epoch, with sub-second precision.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sipgw-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn history_survives_reopen_and_old_calls_expire() {
        let dir = tempdir("reopen");
        let now = SystemTime::now();
        let (mut store, calls) = CallStore::open(&dir, Duration::from_secs(3600), now).unwrap();
        assert!(calls.is_empty());
        let t = unix_seconds(now);
        store.append("aa01", t, "2026-01-01T00:00:00.000000+00:00 1 CALLING 0");
        store.append(
            "aa01",
            t,
            "2026-01-01T00:00:01.000000+00:00 6 DISCONNCTD 486 Busy Here",
        );
        store.append(
            "bb02",
            t - 7200.0,
            "2026-01-01T00:00:00.000000+00:00 1 CALLING 0",
        );
        store.append("cc03", t, "2026-01-01T00:00:00.000000+00:00 1 CALLING 0");
        drop(store);

        let (_store, calls) = CallStore::open(&dir, Duration::from_secs(3600), now).unwrap();
        let a = &calls["aa01"];
        assert!(a.done);
        assert!(a.lines.ends_with("6 DISCONNCTD 486 Busy Here\n"));
        assert!(!calls.contains_key("bb02"), "past retention");
        let c = &calls["cc03"];
        assert!(c.done, "a call cut short by a restart is closed");
        assert!(c.lines.contains("6 DISCONNCTD 0 gateway restarted"));

        // Compaction kept what was retained, and the closing line is persisted too.
        let (_store, again) = CallStore::open(&dir, Duration::from_secs(3600), now).unwrap();
        assert_eq!(again["cc03"].lines.matches("DISCONNCTD").count(), 1);
        assert_eq!(again["aa01"], calls["aa01"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let dir = tempdir("garbage");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(LOG_FILE), "nonsense\nzz 1 x\n\u{1}\u{2} \n").unwrap();
        let (_s, calls) =
            CallStore::open(&dir, Duration::from_secs(3600), SystemTime::now()).unwrap();
        assert!(calls.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
