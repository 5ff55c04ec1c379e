//! The persisted call log: every state line of every call, appended to one file, so
//! `/trtc/callstate` can still explain a call after the gateway restarts, and billing
//! can trust that a finished call's lines are never lost.
//!
//! Written here rather than with an embedded database: the format is one text line
//! per record (`<id> <unix seconds> <callstate line>`), readable with `grep`, and the
//! guarantees needed (synced appends, a crash-safe rewrite) are a few system calls.
//!
//! - Durability: a DISCONNCTD record is synced (`fdatasync`) before `append` returns;
//!   other records are synced by the next [`CallStore::flush`] (each 20 ms tick).
//! - Damage: the loader reads bytes, splits on `\n` and skips (and logs, with its byte
//!   offset) any record that is torn, not UTF-8 or unparsable, keeping every other.
//! - Compaction while up: past retention or over the size cap the file is rewritten
//!   to `calls.log.tmp` with only the retained records (each with its own time),
//!   synced, renamed over the log, and the directory synced. Calls without a
//!   DISCONNCTD record are never dropped.
//! - Write errors (disk full): logged once, records kept in memory (bounded) and
//!   written when a later write succeeds, which is logged too.
//! - Besides state lines, a call with a webhook has one `<id> <unix> notify <url>`
//!   record, so that a call cut by a crash still gets its DISCONNCTD webhook at the
//!   next start. Logs written before this record existed load unchanged.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// File name of the log inside the state directory.
const LOG_FILE: &str = "calls.log";
/// File name of the rewrite in progress.
const TMP_FILE: &str = "calls.log.tmp";
/// Damaged records logged one by one at load; beyond this only a count is logged.
const DAMAGE_LOG_LIMIT: usize = 20;
/// Most bytes of records held in memory while the disk refuses writes.
const PENDING_MAX: usize = 4 << 20;

/// A call's history as read back from disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredCall {
    /// The callstate lines, each ending in `\n`.
    pub lines: String,
    /// Whether a DISCONNCTD line was written.
    pub done: bool,
    /// Unix time of the last line, in seconds.
    pub last_unix: f64,
    /// Where the call's webhooks went (from its `notify` record), if anywhere.
    pub notify_url: Option<String>,
    /// Whether this start closed the call ("gateway restarted during the call"): its
    /// DISCONNCTD webhook is still owed.
    pub restarted: bool,
}

impl StoredCall {
    /// Adds one record's line.
    fn add(&mut self, r: &Record) {
        if let Some(url) = r.notify_url() {
            self.notify_url = Some(url.to_string());
            return;
        }
        self.lines.push_str(r.text);
        self.lines.push('\n');
        self.last_unix = r.unix;
        self.done |= r.is_end();
    }
}

/// What the store remembers of each call in the file, to decide compaction without
/// reading the file.
#[derive(Debug, Clone, Copy, Default)]
struct Indexed {
    last_unix: f64,
    done: bool,
    bytes: u64,
}

/// One intact record.
struct Record<'a> {
    id: &'a str,
    unix: f64,
    text: &'a str,
}

impl Record<'_> {
    /// Whether the record is a call's DISCONNCTD line (state 6).
    fn is_end(&self) -> bool {
        self.notify_url().is_none() && self.text.split(' ').nth(1) == Some("6")
    }

    /// The webhook URL, if this is a call's `notify` record.
    fn notify_url(&self) -> Option<&str> {
        self.text.strip_prefix(NOTIFY_PREFIX)
    }
}

/// How a `notify` record's text starts (a callstate line starts with its time stamp).
const NOTIFY_PREFIX: &str = "notify ";

/// Why a record could not be read.
fn parse(raw: &[u8]) -> Result<Record<'_>, &'static str> {
    let Some(body) = raw.strip_suffix(b"\n") else {
        return Err("torn (no end of line)");
    };
    let line = std::str::from_utf8(body).map_err(|_| "not UTF-8")?;
    let mut parts = line.splitn(3, ' ');
    let (Some(id), Some(unix), Some(text)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("missing fields");
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("bad call id");
    }
    let unix = unix
        .parse::<f64>()
        .ok()
        .filter(|u| u.is_finite())
        .ok_or("bad time")?;
    if let Some(url) = text.strip_prefix(NOTIFY_PREFIX) {
        if url.is_empty() || url.contains(char::is_whitespace) {
            return Err("bad notify URL");
        }
        return Ok(Record { id, unix, text });
    }
    let mut fields = text.split(' ');
    let (_stamp, n, state) = (fields.next(), fields.next(), fields.next());
    if !n.is_some_and(|n| n.len() == 1 && n.as_bytes()[0].is_ascii_digit()) || state.is_none() {
        return Err("bad callstate line");
    }
    Ok(Record { id, unix, text })
}

/// Reads the log at `path` record by record, calling `each` with the raw bytes and the
/// parsed record; damaged records are logged (if `report`) and skipped, never ending
/// the read. A missing file reads as empty.
fn scan(path: &Path, report: bool, mut each: impl FnMut(&[u8], &Record)) -> io::Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let (mut raw, mut offset, mut damaged) = (Vec::new(), 0u64, 0usize);
    loop {
        raw.clear();
        let n = reader.read_until(b'\n', &mut raw)?;
        if n == 0 {
            break;
        }
        if raw != b"\n" {
            match parse(&raw) {
                Ok(record) => each(&raw, &record),
                Err(why) if report => {
                    damaged += 1;
                    if damaged <= DAMAGE_LOG_LIMIT {
                        log::warn!(
                            "call log {}: damaged record at byte {offset} skipped: {why}",
                            path.display()
                        );
                    }
                }
                Err(_) => {}
            }
        }
        offset += n as u64;
    }
    if damaged > DAMAGE_LOG_LIMIT {
        log::warn!(
            "call log {}: {} more damaged records skipped",
            path.display(),
            damaged - DAMAGE_LOG_LIMIT
        );
    }
    Ok(())
}

/// Appends state lines to `<state_dir>/calls.log` (one record per line:
/// `<id> <unix seconds> <callstate line>`), syncs them, and keeps the file within
/// retention and its size cap.
pub struct CallStore {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    retention: Duration,
    max_bytes: u64,
    /// File size at which the next size compaction runs.
    compact_at: u64,
    size: u64,
    index: HashMap<String, Indexed>,
    /// Records not yet written (the disk refused them).
    pending: Vec<u8>,
    /// Written but not yet synced.
    dirty: bool,
    /// Whether the last write or sync failed (so the failure is logged once).
    failing: bool,
    /// How many failures were logged (one per run of failures).
    failures_logged: u32,
}

impl CallStore {
    /// Opens (creating) the log, reads back the calls still within `retention`
    /// (skipping damaged records), and compacts it. Calls that were still running when
    /// the gateway stopped are closed with a line that says so, stamped `now`.
    pub fn open(
        dir: &Path,
        retention: Duration,
        max_bytes: u64,
        now: SystemTime,
    ) -> io::Result<(CallStore, HashMap<String, StoredCall>)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new().append(true).create(true).open(&path)?;
        let mut store = CallStore {
            dir: dir.to_path_buf(),
            path,
            file,
            retention,
            max_bytes: max_bytes.max(1),
            compact_at: max_bytes.max(1),
            size: 0,
            index: HashMap::new(),
            pending: Vec::new(),
            dirty: false,
            failing: false,
            failures_logged: 0,
        };
        store.reindex(true)?;
        let now_unix = unix_seconds(now);
        let stamp = crate::calls::log::local_timestamp();
        let mut cut: Vec<String> = (store.index.iter())
            .filter(|(_, c)| !c.done)
            .map(|(id, _)| id.clone())
            .collect();
        cut.sort();
        for id in &cut {
            let line = format!("{stamp} 6 DISCONNCTD 0 {RESTARTED_REASON}");
            store.append(id, now_unix, &line);
        }
        store.compact(now);
        let mut calls: HashMap<String, StoredCall> = HashMap::new();
        scan(&store.path, false, |_, r| {
            calls.entry(r.id.to_string()).or_default().add(r)
        })?;
        // Records the disk refused are not in the file: read them from memory.
        for record in store.pending.split(|b| *b == b'\n') {
            let mut raw = record.to_vec();
            raw.push(b'\n');
            if let Ok(r) = parse(&raw) {
                calls.entry(r.id.to_string()).or_default().add(&r);
            }
        }
        for id in &cut {
            if let Some(call) = calls.get_mut(id) {
                call.restarted = true;
            }
        }
        let horizon = now_unix - retention.as_secs_f64();
        calls.retain(|_, c| !c.done || c.last_unix >= horizon);
        Ok((store, calls))
    }

    /// Rebuilds the index and size from the file.
    fn reindex(&mut self, report: bool) -> io::Result<()> {
        let mut index: HashMap<String, Indexed> = HashMap::new();
        scan(&self.path, report, |raw, r| {
            let e = index.entry(r.id.to_string()).or_default();
            e.last_unix = r.unix;
            e.done |= r.is_end();
            e.bytes += raw.len() as u64;
        })?;
        self.size = self.file.metadata()?.len();
        self.index = index;
        Ok(())
    }

    /// Records where a call's webhooks go (synced with the next tick), so that a
    /// restart can send the DISCONNCTD webhook of a call the crash cut.
    pub fn append_notify_url(&mut self, id: &str, unix: f64, url: &str) {
        if url.is_empty() || url.contains(char::is_whitespace) {
            return; // refused by the webhook client's URL check before it gets here
        }
        self.append_record(id, unix, &format!("{NOTIFY_PREFIX}{url}"), false);
    }

    /// Appends one state line (without its trailing newline). A DISCONNCTD line is on
    /// the disk when this returns (unless the disk refuses it: then it is retried).
    pub fn append(&mut self, id: &str, unix: f64, line: &str) {
        let end = line.split(' ').nth(1) == Some("6");
        self.append_record(id, unix, line, end);
    }

    fn append_record(&mut self, id: &str, unix: f64, line: &str, end: bool) {
        let record = format!("{id} {unix:.6} {line}\n");
        let e = self.index.entry(id.to_string()).or_default();
        e.last_unix = unix;
        e.done |= end;
        e.bytes += record.len() as u64;
        if self.pending.len() + record.len() > PENDING_MAX {
            log::error!("call={id} call log unwritable and its backlog full: record lost");
        } else {
            self.pending.extend_from_slice(record.as_bytes());
        }
        self.write_out(end);
        if self.size > self.compact_at && self.pending.is_empty() {
            self.compact(SystemTime::now());
        }
    }

    /// Syncs what was written since the last sync and retries records the disk
    /// refused. Cheap when there is nothing to do: called each media tick.
    pub fn flush(&mut self) {
        if self.dirty || !self.pending.is_empty() {
            self.write_out(true);
        }
    }

    /// Whether records are written but not synced, or not written yet.
    pub fn unsynced(&self) -> bool {
        self.dirty || !self.pending.is_empty()
    }

    /// Writes the pending records, then syncs if `sync`; logs the first failure and
    /// the recovery.
    fn write_out(&mut self, sync: bool) {
        let result = self.write_pending().and_then(|()| {
            if sync && self.dirty {
                self.file.sync_data()?;
                self.dirty = false;
            }
            Ok(())
        });
        self.outcome("append", result);
    }

    fn write_pending(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            match self.file.write(&self.pending) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.pending.drain(..n);
                    self.size += n as u64;
                    self.dirty = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Logs a failure once until a later operation succeeds, which is logged too.
    fn outcome(&mut self, what: &str, result: io::Result<()>) {
        match result {
            Err(e) if !self.failing => {
                self.failing = true;
                self.failures_logged += 1;
                log::error!(
                    "call log {}: {what} failed ({e}); calls go on, records are kept in \
                     memory and written when the disk accepts them",
                    self.path.display()
                );
            }
            Err(_) => {}
            Ok(()) if self.failing && self.pending.is_empty() => {
                self.failing = false;
                log::warn!("call log {}: writing resumed", self.path.display());
            }
            Ok(()) => {}
        }
    }

    /// Rewrites the log if a finished call is past retention (checked each minute).
    pub fn compact_if_due(&mut self, now: SystemTime) {
        let horizon = unix_seconds(now) - self.retention.as_secs_f64();
        if self.index.values().any(|c| c.done && c.last_unix < horizon) {
            self.compact(now);
        }
    }

    /// Ids to keep: running calls, and finished calls within retention, newest first
    /// until the size cap (to three quarters of it, so it is not rewritten each append).
    fn keep_set(&self, now: SystemTime) -> HashSet<String> {
        let horizon = unix_seconds(now) - self.retention.as_secs_f64();
        let mut keep: HashSet<String> = HashSet::new();
        let mut total = 0u64;
        let mut finished: Vec<(&String, &Indexed)> = Vec::new();
        for (id, c) in &self.index {
            if !c.done {
                keep.insert(id.clone());
                total += c.bytes;
            } else if c.last_unix >= horizon {
                finished.push((id, c));
            }
        }
        finished.sort_by(|a, b| b.1.last_unix.total_cmp(&a.1.last_unix));
        let budget = if self.size > self.compact_at {
            self.max_bytes / 4 * 3
        } else {
            u64::MAX
        };
        for (id, c) in finished {
            if total + c.bytes > budget {
                break;
            }
            total += c.bytes;
            keep.insert(id.clone());
        }
        keep
    }

    /// Rewrites the log with only the retained records; a failure is logged and the
    /// old file stays as it was.
    fn compact(&mut self, now: SystemTime) {
        self.write_out(true);
        if !self.pending.is_empty() {
            return; // the disk refuses writes: a rewrite would fail too
        }
        let keep = self.keep_set(now);
        let (before, started) = (self.size, std::time::Instant::now());
        let result = self.rewrite(&keep);
        match &result {
            Ok(()) => log::info!(
                "call log {} compacted: {before} -> {} bytes, {} calls, in {} ms",
                self.path.display(),
                self.size,
                self.index.len(),
                started.elapsed().as_millis()
            ),
            Err(_) => {
                let _ = std::fs::remove_file(self.dir.join(TMP_FILE));
            }
        }
        self.outcome("compaction", result);
        self.compact_at = if self.size > self.max_bytes / 4 * 3 {
            self.size + self.max_bytes / 4
        } else {
            self.max_bytes
        };
    }

    fn rewrite(&mut self, keep: &HashSet<String>) -> io::Result<()> {
        let tmp = self.dir.join(TMP_FILE);
        let mut out = io::BufWriter::new(File::create(&tmp)?);
        let mut failed = Ok(());
        scan(&self.path, false, |raw, r| {
            if failed.is_ok() && keep.contains(r.id) {
                failed = out.write_all(raw);
            }
        })?;
        failed?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        File::open(&self.dir)?.sync_all()?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.dirty = false;
        self.reindex(false)
    }

    /// A call's history read from the file (for calls no longer held in memory);
    /// None if the log has no record of it.
    pub fn lookup(&self, id: &str) -> Option<StoredCall> {
        self.index.get(id)?;
        let mut call = StoredCall::default();
        let mut found = false;
        let read = scan(&self.path, false, |_, r| {
            if r.id == id {
                found = true;
                call.add(r);
            }
        });
        if let Err(e) = read {
            log::warn!("call log {}: read failed: {e}", self.path.display());
        }
        found.then_some(call)
    }
}

/// The reason of the DISCONNCTD line written at start for a call the process did not
/// see end (a crash, kill -9, power loss).
pub const RESTARTED_REASON: &str = "gateway restarted during the call";

/// Seconds since the Unix epoch, with sub-second precision.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
