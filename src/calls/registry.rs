//! Every call the gateway knows about, running or finished: their state lines, the
//! way to reach a running call, and the count that enforces the capacity limit.

pub use super::core::Control;
use super::log::{dtmf_webhook_body, format_line, local_timestamp, webhook_body};
use super::state::{CallState, StateChange};
use super::store::{unix_seconds, CallStore, RESTARTED_REASON};
use crate::http::CallSummary;
use crate::media::MediaSnapshot;
use crate::metrics::{end_reason_class, metrics, Metrics, LIVE_STATES};
use smol::channel::Sender;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

/// The latest media statistics of a call, written by its task about once a second and
/// at its end, read by `/trtc/callstats`.
pub type SharedStats = Rc<RefCell<Option<MediaSnapshot>>>;

struct CallEntry {
    /// The number dialled (empty for calls restored from the log: it is not stored).
    number: String,
    /// When `/trtc/startup` registered it (for the set-up time metric).
    begun: Instant,
    /// Whether the 200 OK (CONNECTING) has been seen, so set-up is measured once.
    answered: bool,
    lines: String,
    done: bool,
    last_unix: f64,
    control: Option<Sender<Control>>,
    webhook: Option<Sender<Vec<u8>>>,
    stats: SharedStats,
}

/// The registry. Single-threaded: shared as `Rc<RefCell<Registry>>`.
pub struct Registry {
    calls: HashMap<String, CallEntry>,
    /// Media counters of the calls that ended, so exported totals never go back.
    finished_media: MediaTotals,
    active: usize,
    store: Option<CallStore>,
    retention: Duration,
    /// Finished calls held in memory, oldest end first, for eviction.
    finished: VecDeque<String>,
    /// Most finished calls held in memory (`[calls] history_max`).
    history_max: usize,
    /// DISCONNCTD webhooks of the calls a crash cut, until `main` sends them.
    owed: Vec<OwedWebhook>,
}

/// The DISCONNCTD webhook of a call that was live when the process died: its receiver
/// is told at the next start, as it would have been by a clean stop.
#[derive(Debug, Clone, PartialEq)]
pub struct OwedWebhook {
    /// The call's id.
    pub id: String,
    /// Its `callStateNotifyUrl`.
    pub url: String,
    /// The webhook's JSON body (state 6, the restart reason).
    pub body: Vec<u8>,
}

/// Default of `[calls] history_max`.
pub const HISTORY_MAX: usize = 10_000;

impl Registry {
    /// A registry whose history lives only in memory.
    pub fn in_memory(retention: Duration) -> Self {
        Registry {
            calls: HashMap::new(),
            finished_media: MediaTotals::default(),
            active: 0,
            store: None,
            retention,
            finished: VecDeque::new(),
            history_max: HISTORY_MAX,
            owed: Vec::new(),
        }
    }

    /// Holds at most `n` finished calls in memory (the oldest are evicted; those
    /// persisted still answer `callstate` from the call log).
    pub fn with_history_max(mut self, n: usize) -> Self {
        self.history_max = n.max(1);
        self.evict();
        self
    }

    /// Forgets the finished calls that ended first, beyond `history_max`.
    fn evict(&mut self) {
        while self.finished.len() > self.history_max {
            if let Some(id) = self.finished.pop_front() {
                self.calls.remove(&id);
            }
        }
    }

    /// A registry persisted under `dir` (the log capped at `log_max_bytes`), with the
    /// retained history read back.
    pub fn persistent(
        dir: &Path,
        retention: Duration,
        log_max_bytes: u64,
    ) -> std::io::Result<Self> {
        let (store, stored) = CallStore::open(dir, retention, log_max_bytes, SystemTime::now())?;
        let mut ended: Vec<(f64, String)> = stored
            .iter()
            .filter(|(_, c)| c.done)
            .map(|(id, c)| (c.last_unix, id.clone()))
            .collect();
        ended.sort_by(|a, b| a.0.total_cmp(&b.0));
        let restart = StateChange {
            state: CallState::Disconnected,
            code: 0,
            reason: RESTARTED_REASON.to_string(),
        };
        let mut owed: Vec<OwedWebhook> = (stored.iter())
            .filter(|(_, c)| c.restarted)
            .filter_map(|(id, c)| {
                let url = c.notify_url.clone()?;
                let body = webhook_body(id, c.last_unix, &restart);
                Some(OwedWebhook {
                    id: id.clone(),
                    url,
                    body,
                })
            })
            .collect();
        owed.sort_by(|a, b| a.id.cmp(&b.id));
        let calls = stored
            .into_iter()
            .map(|(id, c)| {
                let entry = CallEntry {
                    number: String::new(),
                    begun: Instant::now(),
                    answered: true,
                    lines: c.lines,
                    done: c.done,
                    last_unix: c.last_unix,
                    control: None,
                    webhook: None,
                    stats: SharedStats::default(),
                };
                (id, entry)
            })
            .collect();
        Ok(Registry {
            calls,
            finished_media: MediaTotals::default(),
            active: 0,
            store: Some(store),
            retention,
            finished: ended.into_iter().map(|(_, id)| id).collect(),
            history_max: HISTORY_MAX,
            owed,
        })
    }

    /// The DISCONNCTD webhooks owed for the calls this start closed (each handed out
    /// once).
    pub fn take_owed_webhooks(&mut self) -> Vec<OwedWebhook> {
        std::mem::take(&mut self.owed)
    }

    /// Persists where a running call's webhooks go, so a restart after a crash can
    /// still send its DISCONNCTD webhook.
    pub fn remember_notify_url(&mut self, id: &str, url: &str) {
        if let Some(store) = &mut self.store {
            store.append_notify_url(id, unix_seconds(SystemTime::now()), url);
        }
    }

    /// Registers a new call; it counts against capacity until its DISCONNCTD line.
    /// Returns the cell its task publishes media statistics into.
    pub fn begin(
        &mut self,
        id: &str,
        number: &str,
        control: Sender<Control>,
        webhook: Option<Sender<Vec<u8>>>,
    ) -> SharedStats {
        let stats = SharedStats::default();
        let entry = CallEntry {
            number: number.to_string(),
            begun: Instant::now(),
            answered: false,
            lines: String::new(),
            done: false,
            last_unix: unix_seconds(SystemTime::now()),
            control: Some(control),
            webhook,
            stats: stats.clone(),
        };
        self.calls.insert(id.to_string(), entry);
        self.active += 1;
        stats
    }

    /// Queues a `dtmf` webhook for a running call.
    pub fn notify_dtmf(&mut self, id: &str, digit: char, from: &str) {
        let Some(webhook) = self.calls.get(id).and_then(|e| e.webhook.as_ref()) else {
            return;
        };
        let body = dtmf_webhook_body(id, unix_seconds(SystemTime::now()), digit, from);
        if webhook.try_send(body).is_err() {
            log::warn!("call={id} webhook queue full, dtmf notification dropped");
        }
    }

    /// The call's latest media statistics: None for unknown ids, Some(None) for a
    /// call known but without media (unanswered, or from before a restart).
    pub fn stats(&self, id: &str) -> Option<Option<MediaSnapshot>> {
        self.calls.get(id).map(|e| *e.stats.borrow())
    }

    /// Stamps and records a state change: the callstate line, the persisted log and the
    /// webhook queue, in that order (a DISCONNCTD line is synced to disk before its
    /// webhook is queued). DISCONNCTD closes the call.
    pub fn record(&mut self, id: &str, change: &StateChange) {
        let Some(entry) = self.calls.get_mut(id) else {
            log::warn!("call={id} state change for an unknown call dropped");
            return;
        };
        if entry.done {
            return;
        }
        let unix = unix_seconds(SystemTime::now());
        let line = format_line(&local_timestamp(), change);
        log::info!("call={id} {line}");
        entry.lines.push_str(&line);
        entry.lines.push('\n');
        entry.last_unix = unix;
        if let Some(store) = &mut self.store {
            store.append(id, unix, &line);
        }
        if let Some(webhook) = &entry.webhook {
            if webhook.try_send(webhook_body(id, unix, change)).is_err() {
                log::warn!("call={id} webhook queue full, notification dropped");
            }
        }
        if change.state == CallState::Connecting && !entry.answered {
            entry.answered = true;
            if let Some(m) = metrics() {
                m.setup_seconds.observe(entry.begun.elapsed().as_secs_f64());
            }
        }
        if change.state == CallState::Disconnected {
            if let Some(m) = metrics() {
                let class = end_reason_class(change.code, &change.reason);
                m.calls_ended.with_label_values(&[class]).inc();
            }
            if let Some(s) = *entry.stats.borrow() {
                self.finished_media.add(&s);
            }
            entry.done = true;
            entry.control = None;
            entry.webhook = None; // the sender task drains what is queued, then ends
            self.active = self.active.saturating_sub(1);
            self.finished.push_back(id.to_string());
            self.evict();
        }
    }

    /// Syncs the call log's lines written since the last call (and retries what the
    /// disk refused), so every line is on disk within one tick. Called each 20 ms.
    pub fn flush(&mut self) {
        if let Some(store) = &mut self.store {
            store.flush();
        }
    }

    /// The call's lines and whether it is finished; None for unknown ids. A finished
    /// call evicted from memory is read back from the call log.
    pub fn callstate(&self, id: &str) -> Option<(String, bool)> {
        if let Some(e) = self.calls.get(id) {
            return Some((e.lines.clone(), e.done));
        }
        let stored = self.store.as_ref()?.lookup(id)?;
        let horizon = unix_seconds(SystemTime::now()) - self.retention.as_secs_f64();
        (stored.last_unix >= horizon || !stored.done).then_some((stored.lines, stored.done))
    }

    /// The control queue of a running call.
    pub fn control(&self, id: &str) -> Option<Sender<Control>> {
        self.calls
            .get(id)
            .filter(|e| !e.done)
            .and_then(|e| e.control.clone())
    }

    /// Ids of all running calls.
    pub fn running(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter(|(_, e)| !e.done)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every live call and the `recent` finished ones that ended last, newest first
    /// (by start), for `GET /trtc/calls` and the status page.
    pub fn summaries(&self, recent: usize) -> Vec<CallSummary> {
        let mut live = Vec::new();
        let mut finished = Vec::new();
        for (id, e) in &self.calls {
            let s = summarize(id, e);
            if e.done {
                finished.push(s);
            } else {
                live.push(s);
            }
        }
        let newest_end = |a: &CallSummary, b: &CallSummary| {
            b.ended_at
                .unwrap_or(0.0)
                .total_cmp(&a.ended_at.unwrap_or(0.0))
        };
        finished.sort_by(newest_end);
        finished.truncate(recent);
        live.extend(finished);
        live.sort_by(|a, b| b.started_at.total_cmp(&a.started_at));
        live
    }

    /// Brings the metrics that describe the calls as they are now up to date: live calls
    /// by state, media totals (ended calls plus the live ones' latest figures), jitter
    /// and RTT over the live calls. Called at each scrape.
    pub fn export_metrics(&self, m: &Metrics) {
        let mut live: HashMap<(&str, &str), i64> = LIVE_STATES
            .iter()
            .flat_map(|s| [((*s, "outbound"), 0), ((*s, "inbound"), 0)])
            .collect();
        let mut media = self.finished_media;
        let (mut depths, mut rtts) = (Vec::new(), Vec::new());
        for e in self.calls.values().filter(|e| !e.done) {
            let state = e
                .lines
                .lines()
                .last()
                .and_then(|l| l.split(' ').nth(2))
                .unwrap_or("CALLING");
            if let Some(n) = live.get_mut(&(state, direction_of(&e.lines))) {
                *n += 1;
            }
            if let Some(s) = *e.stats.borrow() {
                media.add(&s);
                depths.push(f64::from(s.counters.jitter_depth_ms) / 1e3);
                rtts.extend(s.counters.rtt_us.map(|us| f64::from(us) / 1e6));
            }
        }
        for ((state, direction), n) in live {
            m.calls_live.with_label_values(&[state, direction]).set(n);
        }
        Metrics::raise_to(&m.rtp_packets.with_label_values(&["in"]), media.rx_packets);
        Metrics::raise_to(&m.rtp_packets.with_label_values(&["out"]), media.tx_packets);
        Metrics::raise_to(&m.rtp_lost, media.lost);
        Metrics::raise_to(&m.rtp_late, media.late);
        Metrics::raise_to(&m.concealed_frames, media.concealed);
        Metrics::raise_to(&m.line_xruns, media.line_xruns);
        for (gauge, values) in [(&m.jitter_depth, &depths), (&m.rtt, &rtts)] {
            let max = values.iter().copied().fold(0.0, f64::max);
            let mean = if values.is_empty() {
                0.0
            } else {
                values.iter().sum::<f64>() / values.len() as f64
            };
            gauge.with_label_values(&["max"]).set(max);
            gauge.with_label_values(&["mean"]).set(mean);
        }
    }

    /// Number of calls counted against capacity.
    pub fn active(&self) -> usize {
        self.active
    }

    /// Forgets finished calls older than the retention time, in memory and in the call
    /// log (rewritten when a call is past retention).
    pub fn prune(&mut self, now: SystemTime) {
        let horizon = unix_seconds(now) - self.retention.as_secs_f64();
        self.calls.retain(|_, e| !e.done || e.last_unix >= horizon);
        let calls = &self.calls;
        self.finished.retain(|id| calls.contains_key(id));
        if let Some(store) = &mut self.store {
            store.compact_if_due(now);
        }
    }
}

/// Sums of the media counters the metrics export.
#[derive(Debug, Clone, Copy, Default)]
struct MediaTotals {
    rx_packets: u64,
    tx_packets: u64,
    lost: u64,
    late: u64,
    concealed: u64,
    line_xruns: u64,
}

impl MediaTotals {
    fn add(&mut self, snapshot: &MediaSnapshot) {
        let s = &snapshot.counters;
        self.line_xruns += snapshot.line.map_or(0, |l| l.xruns);
        self.rx_packets += s.rx_packets;
        self.tx_packets += s.tx_packets;
        self.lost += u64::try_from(s.rx_lost).unwrap_or(0);
        self.late += s.late;
        self.concealed += s.concealed_frames;
    }
}

/// `inbound` for a call whose first state line is INCOMING (the box took it; also read
/// back after a restart), `outbound` otherwise.
fn direction_of(lines: &str) -> &'static str {
    let first = lines.lines().next().unwrap_or("");
    if first.split(' ').nth(2) == Some("INCOMING") {
        "inbound"
    } else {
        "outbound"
    }
}

/// Unix seconds of a callstate line's timestamp (its first field), if it parses.
fn line_unix(line: &str) -> Option<f64> {
    let stamp = line.split(' ').next()?;
    let t = chrono::DateTime::parse_from_rfc3339(stamp).ok()?;
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6)
}

/// A call's summary, read from its state lines (so calls restored from the log after a
/// restart are listed like the others).
fn summarize(id: &str, e: &CallEntry) -> CallSummary {
    let first = e.lines.lines().next().unwrap_or("");
    let last = e.lines.lines().last().unwrap_or("");
    // `<time> <n> <TEXT> <code>[ <reason>]`
    let mut fields = last.splitn(4, ' ');
    let (_, _, text, tail) = (fields.next(), fields.next(), fields.next(), fields.next());
    let started_at = line_unix(first).unwrap_or(e.last_unix);
    let media = e.stats.borrow().map(|s| s.counters);
    CallSummary {
        id: id.to_string(),
        direction: direction_of(&e.lines),
        state: text.unwrap_or("CALLING").to_string(),
        number: e.number.clone(),
        started_at,
        ended_at: e.done.then(|| line_unix(last).unwrap_or(e.last_unix)),
        reason: e.done.then(|| tail.unwrap_or("").to_string()),
        codec: e.stats.borrow().map(|s| s.codec.name()),
        loss_percent: media.map(|m| crate::http::callstats::rx_loss(&m).1),
        jitter_ms: media.map(|m| crate::http::callstats::rx_jitter_ms(&m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_accumulate_and_disconnected_closes() {
        let mut r = Registry::in_memory(Duration::from_secs(60));
        let (tx, _rx) = smol::channel::unbounded();
        let (wtx, wrx) = smol::channel::unbounded();
        r.begin("ab12", "1002", tx, Some(wtx));
        assert_eq!(r.active(), 1);
        r.record(
            "ab12",
            &StateChange {
                state: CallState::Calling,
                code: 0,
                reason: String::new(),
            },
        );
        assert!(r.control("ab12").is_some());
        r.record(
            "ab12",
            &StateChange {
                state: CallState::Disconnected,
                code: 486,
                reason: "Busy Here".into(),
            },
        );
        r.record(
            "ab12",
            &StateChange {
                state: CallState::Confirmed,
                code: 200,
                reason: "OK".into(),
            },
        );
        let (lines, done) = r.callstate("ab12").unwrap();
        assert!(done);
        assert_eq!(lines.lines().count(), 2);
        assert!(lines.ends_with(" 6 DISCONNCTD 486 Busy Here\n"));
        assert_eq!(r.active(), 0);
        assert!(r.control("ab12").is_none());
        assert_eq!(wrx.len(), 2, "one webhook per line");
        assert!(r.callstate("ffff").is_none());
    }

    fn change(state: CallState, code: u16, reason: &str) -> StateChange {
        StateChange {
            state,
            code,
            reason: reason.into(),
        }
    }

    #[test]
    fn summaries_list_live_calls_then_the_recent_finished_ones_newest_first() {
        let mut r = Registry::in_memory(Duration::from_secs(60));
        let (tx, _rx) = smol::channel::unbounded();
        for (i, id) in ["a1", "b2", "c3", "d4"].iter().enumerate() {
            r.begin(id, &format!("100{i}"), tx.clone(), None);
            r.record(id, &change(CallState::Calling, 0, ""));
            std::thread::sleep(Duration::from_millis(2));
        }
        r.record("a1", &change(CallState::Disconnected, 408, "ttl expired"));
        r.record("b2", &change(CallState::Confirmed, 200, "OK"));
        r.record("c3", &change(CallState::Disconnected, 486, "Busy Here"));
        *r.calls["b2"].stats.borrow_mut() = Some(MediaSnapshot {
            codec: crate::media::Codec::Pcma,
            counters: Default::default(),
            telephone_event: None,
            line: None,
        });
        let all = r.summaries(10);
        let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["d4", "c3", "b2", "a1"]);
        let b2 = &all[2];
        assert_eq!(
            (b2.state.as_str(), b2.number.as_str()),
            ("CONFIRMED", "1001")
        );
        assert_eq!((b2.ended_at, b2.reason.as_deref()), (None, None));
        assert_eq!(b2.codec, Some("PCMA"));
        let a1 = &all[3];
        assert_eq!(a1.state, "DISCONNCTD");
        assert_eq!(a1.reason.as_deref(), Some("408 ttl expired"));
        assert!(a1.ended_at.unwrap() >= a1.started_at && a1.started_at > 1.7e9);
        // only the one that ended last of the finished ones, but every live call
        let ids: Vec<String> = r.summaries(1).into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["d4", "c3", "b2"]);
    }

    #[test]
    fn prune_forgets_only_old_finished_calls() {
        let mut r = Registry::in_memory(Duration::from_secs(60));
        let (tx, _rx) = smol::channel::unbounded();
        r.begin("a1", "1001", tx.clone(), None);
        r.begin("b2", "1002", tx, None);
        r.record(
            "a1",
            &StateChange {
                state: CallState::Disconnected,
                code: 0,
                reason: "x".into(),
            },
        );
        r.prune(SystemTime::now() + Duration::from_secs(120));
        assert!(r.callstate("a1").is_none());
        assert!(r.callstate("b2").is_some(), "running calls are kept");
    }

    #[test]
    fn evicted_finished_calls_answer_from_the_log_then_404_past_retention() {
        let dir = std::env::temp_dir().join(format!("sipgw-reg-evict-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut r = Registry::persistent(&dir, Duration::from_secs(3600), 64 << 20)
            .unwrap()
            .with_history_max(2);
        let (tx, _rx) = smol::channel::unbounded();
        for id in ["a1", "b2", "c3", "d4"] {
            r.begin(id, "1001", tx.clone(), None);
            r.record(id, &change(CallState::Calling, 0, ""));
        }
        for id in ["a1", "b2", "c3"] {
            r.record(id, &change(CallState::Disconnected, 486, "Busy Here"));
        }
        assert_eq!(r.calls.len(), 3, "two finished calls and the live one held");
        assert!(
            !r.calls.contains_key("a1"),
            "the oldest finished call evicted"
        );
        let (lines, done) = r.callstate("a1").expect("answered from the log");
        assert!(
            done && lines.ends_with(" 6 DISCONNCTD 486 Busy Here\n"),
            "{lines}"
        );
        assert_eq!(lines.lines().count(), 2);
        assert!(r.callstate("d4").is_some(), "a live call is never evicted");
        assert!(r.callstate("ffff").is_none());
        // Past retention it is gone from the log too.
        r.prune(SystemTime::now() + Duration::from_secs(7200));
        assert!(r.callstate("a1").is_none());
        let text = std::fs::read_to_string(dir.join("calls.log")).unwrap();
        assert!(!text.contains("a1 ") && text.contains("d4 "), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_restart_reloads_at_most_history_max_finished_calls_newest_kept() {
        let dir = std::env::temp_dir().join(format!("sipgw-reg-reload-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut r = Registry::persistent(&dir, Duration::from_secs(3600), 64 << 20).unwrap();
        let (tx, _rx) = smol::channel::unbounded();
        for id in ["a1", "b2", "c3"] {
            r.begin(id, "1001", tx.clone(), None);
            r.record(id, &change(CallState::Disconnected, 486, "Busy Here"));
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(r);
        let r = Registry::persistent(&dir, Duration::from_secs(3600), 64 << 20)
            .unwrap()
            .with_history_max(1);
        let held: Vec<&String> = r.calls.keys().collect();
        assert_eq!(held, ["c3"]);
        assert!(r.callstate("a1").is_some_and(|(_, done)| done));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_call_cut_by_a_crash_owes_its_disconnctd_webhook_once() {
        let dir = std::env::temp_dir().join(format!("sipgw-reg-owed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut r = Registry::persistent(&dir, Duration::from_secs(3600), 64 << 20).unwrap();
        let (tx, _rx) = smol::channel::unbounded();
        for id in ["a1", "b2", "c3"] {
            r.begin(id, "1001", tx.clone(), None);
        }
        r.remember_notify_url("a1", "http://127.0.0.1:9/hook");
        r.remember_notify_url("c3", "http://127.0.0.1:9/other");
        r.record("a1", &change(CallState::Calling, 0, ""));
        r.record("c3", &change(CallState::Disconnected, 486, "Busy Here"));
        r.flush();
        drop(r); // b2 has no webhook, c3 ended: only a1 is owed one

        let mut r = Registry::persistent(&dir, Duration::from_secs(3600), 64 << 20).unwrap();
        let owed = r.take_owed_webhooks();
        assert_eq!(owed.len(), 1, "{owed:?}");
        assert_eq!(
            (owed[0].id.as_str(), owed[0].url.as_str()),
            ("a1", "http://127.0.0.1:9/hook")
        );
        let body: serde_json::Value = serde_json::from_slice(&owed[0].body).unwrap();
        assert_eq!(body["state"], 6);
        assert_eq!(body["reason"], RESTARTED_REASON);
        assert!(r.take_owed_webhooks().is_empty(), "handed out once");
        // The notify record is not a state line.
        let (lines, done) = r.callstate("a1").unwrap();
        assert!(done && !lines.contains("notify"), "{lines}");
        drop(r);
        // The next start owes nothing: the call was closed by the previous one.
        let mut r = Registry::persistent(&dir, Duration::from_secs(3600), 64 << 20).unwrap();
        assert!(r.take_owed_webhooks().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
