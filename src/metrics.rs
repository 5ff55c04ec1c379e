//! `GET /metrics`: what the box is doing, in the Prometheus text format, for the
//! dashboards the people running it already have.
//!
//! One process-wide set of metrics (`metrics()`), because the places that count (the
//! call registry, the webhook sender, the room set-up, the HTTP handler) are far apart
//! and a scrape wants them all; the `prometheus` crate's types are atomics, so counting
//! costs an increment and never touches the media path's per-packet work. Media figures
//! are not counted per packet at all: the scrape sums the calls' own counters
//! (`Registry::media_totals`) and moves the exported counters up to those sums.
//!
//! Every name is prefixed `trtc_sipgw_`, the process collector's too.

use std::sync::LazyLock;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// The prefix of every metric name.
pub const NAMESPACE: &str = "trtc_sipgw";

/// Call states a live call can be in, for the `calls_live` gauge (all exported, zeros
/// included, so a dashboard's series do not come and go).
pub const LIVE_STATES: &[&str] = &["CALLING", "INCOMING", "EARLY", "CONNECTING", "CONFIRMED"];

/// The gateway's metrics. See the module documentation.
pub struct Metrics {
    registry: Registry,
    /// Live calls by `state` and `direction`.
    pub calls_live: IntGaugeVec,
    /// Calls ended, by `reason` class ([`end_reason_class`]).
    pub calls_ended: IntCounterVec,
    /// Seconds from `/trtc/startup` to the phone's 200 OK.
    pub setup_seconds: Histogram,
    /// RTP packets of the phone leg, `direction` = `in` | `out`.
    pub rtp_packets: IntCounterVec,
    /// RTP packets lost on the way from the phone.
    pub rtp_lost: IntCounter,
    /// RTP packets from the phone that came too late to play.
    pub rtp_late: IntCounter,
    /// Audio frames made up by loss concealment.
    pub concealed_frames: IntCounter,
    /// Xruns of sound-device lines (`alsa:` calls), each recovered.
    pub line_xruns: IntCounter,
    /// Jitter-buffer depth over the live calls, `stat` = `max` | `mean`, seconds.
    pub jitter_depth: GaugeVec,
    /// RTCP round-trip time over the live calls that measured one, `stat` = `max` |
    /// `mean`, seconds.
    pub rtt: GaugeVec,
    /// Webhook posts, `result` = `delivered` | `retried` | `failed`.
    pub webhooks: IntCounterVec,
    /// Room entries that failed, by the SDK's error `code` (`timeout` when none came).
    pub room_errors: IntCounterVec,
    /// API requests, by route `path` (`other` for unknown paths) and `status`.
    pub api_requests: IntCounterVec,
    /// SIP datagrams dropped unanswered, by `reason`: `untrusted` (a stranger's
    /// request), `oversized` (too many Via headers), `table_full` (the transaction
    /// table at its bound), `garbage` (not SIP).
    pub sip_dropped: IntCounterVec,
    /// SIP transactions alive now.
    pub sip_transactions: IntGauge,
    /// 1 while a trunk takes calls first, 0 while it is passed over (it answered 503,
    /// did not answer, or could not be reached), by `trunk` name.
    pub trunk_up: IntGaugeVec,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(NAMESPACE)
}

impl Metrics {
    fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let m = Metrics {
            calls_live: IntGaugeVec::new(
                opts("calls_live", "Calls in progress, by state and direction."),
                &["state", "direction"],
            )?,
            calls_ended: IntCounterVec::new(
                opts(
                    "calls_ended_total",
                    "Calls ended, by the class of their end reason.",
                ),
                &["reason"],
            )?,
            setup_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "call_setup_seconds",
                    "Seconds from /trtc/startup to the phone's 200 OK.",
                )
                .namespace(NAMESPACE)
                .buckets(vec![0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 60.0]),
            )?,
            rtp_packets: IntCounterVec::new(
                opts(
                    "rtp_packets_total",
                    "RTP packets of the phone leg, in and out.",
                ),
                &["direction"],
            )?,
            rtp_lost: IntCounter::with_opts(opts(
                "rtp_lost_packets_total",
                "RTP packets from the phone lost on the network.",
            ))?,
            rtp_late: IntCounter::with_opts(opts(
                "rtp_late_packets_total",
                "RTP packets from the phone that arrived too late to play.",
            ))?,
            concealed_frames: IntCounter::with_opts(opts(
                "concealed_frames_total",
                "20 ms frames made up by loss concealment.",
            ))?,
            line_xruns: IntCounter::with_opts(opts(
                "line_xruns_total",
                "Overruns and underruns of sound-device lines, each recovered.",
            ))?,
            jitter_depth: GaugeVec::new(
                opts(
                    "jitter_buffer_depth_seconds",
                    "Jitter-buffer depth over the live calls (max and mean).",
                ),
                &["stat"],
            )?,
            rtt: GaugeVec::new(
                opts(
                    "rtt_seconds",
                    "RTCP round-trip time to the phone over the live calls (max and mean).",
                ),
                &["stat"],
            )?,
            webhooks: IntCounterVec::new(
                opts(
                    "webhooks_total",
                    "Webhook posts: delivered, retried (an attempt failed), failed (given up).",
                ),
                &["result"],
            )?,
            room_errors: IntCounterVec::new(
                opts(
                    "room_errors_total",
                    "Room entries that failed, by the TRTC SDK's error code.",
                ),
                &["code"],
            )?,
            api_requests: IntCounterVec::new(
                opts("api_requests_total", "API requests by route and status."),
                &["path", "status"],
            )?,
            sip_dropped: IntCounterVec::new(
                opts(
                    "sip_dropped_total",
                    "SIP datagrams dropped without an answer, by reason.",
                ),
                &["reason"],
            )?,
            sip_transactions: IntGauge::with_opts(opts(
                "sip_transactions",
                "SIP transactions alive now (bounded).",
            ))?,
            trunk_up: IntGaugeVec::new(
                opts(
                    "trunk_up",
                    "1 while a trunk is up, 0 while calls pass it over, by trunk.",
                ),
                &["trunk"],
            )?,
            registry,
        };
        let r = &m.registry;
        r.register(Box::new(m.calls_live.clone()))?;
        r.register(Box::new(m.calls_ended.clone()))?;
        r.register(Box::new(m.setup_seconds.clone()))?;
        r.register(Box::new(m.rtp_packets.clone()))?;
        r.register(Box::new(m.rtp_lost.clone()))?;
        r.register(Box::new(m.rtp_late.clone()))?;
        r.register(Box::new(m.concealed_frames.clone()))?;
        r.register(Box::new(m.line_xruns.clone()))?;
        r.register(Box::new(m.jitter_depth.clone()))?;
        r.register(Box::new(m.rtt.clone()))?;
        r.register(Box::new(m.webhooks.clone()))?;
        r.register(Box::new(m.room_errors.clone()))?;
        r.register(Box::new(m.api_requests.clone()))?;
        r.register(Box::new(m.sip_dropped.clone()))?;
        r.register(Box::new(m.sip_transactions.clone()))?;
        r.register(Box::new(m.trunk_up.clone()))?;
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::new(
                std::process::id() as prometheus::process_collector::pid_t,
                NAMESPACE,
            ),
        ))?;
        // Series that exist from the start, so rates work from the first scrape.
        for state in LIVE_STATES {
            for direction in ["outbound", "inbound"] {
                m.calls_live.with_label_values(&[state, direction]).set(0);
            }
        }
        for dir in ["in", "out"] {
            m.rtp_packets.with_label_values(&[dir]);
        }
        for result in ["delivered", "retried", "failed"] {
            m.webhooks.with_label_values(&[result]);
        }
        Ok(m)
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::warn!("metrics: cannot encode: {e}");
        }
        out
    }

    /// Brings the SIP figures up to the user agent's own counters.
    pub fn export_sip(&self, s: &crate::sip::SipStats) {
        for (reason, total) in [
            ("untrusted", s.untrusted_dropped),
            ("oversized", s.oversized_dropped),
            ("table_full", s.table_full_dropped),
            ("garbage", s.garbage),
        ] {
            Self::raise_to(&self.sip_dropped.with_label_values(&[reason]), total);
        }
        self.sip_transactions
            .set(i64::try_from(s.transactions).unwrap_or(i64::MAX));
    }

    /// Each trunk's health: `(name, up)`.
    pub fn export_trunks(&self, trunks: &[(String, bool)]) {
        for (name, up) in trunks {
            self.trunk_up
                .with_label_values(&[name.as_str()])
                .set(i64::from(*up));
        }
    }

    /// Raises a counter to `total` (the sum the calls report); never lowers it.
    pub fn raise_to(counter: &IntCounter, total: u64) {
        let now = counter.get();
        if total > now {
            counter.inc_by(total - now);
        }
    }
}

static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| {
    Metrics::new()
        .map_err(|e| log::error!("metrics: cannot be set up: {e}"))
        .ok()
});

/// The process's metrics; None only if they could not be registered (a bug, logged once):
/// callers then count nothing rather than fail.
pub fn metrics() -> Option<&'static Metrics> {
    METRICS.as_ref()
}

/// The class of a call's end, from its DISCONNCTD code and reason (the texts the call
/// layer writes, SPEC section 1): a small fixed set, so the `reason` label stays bounded.
pub fn end_reason_class(code: u16, reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    let has = |s: &str| r.contains(s);
    if has("ttl expired") {
        "ttl"
    } else if has("shutdown requested") {
        "shutdown"
    } else if has("gateway stopping") {
        "gateway_stopping"
    } else if has("gateway restarted") {
        "gateway_restarted"
    } else if has("no rtp") {
        "no_rtp"
    } else if has("room entry") || has("room refused") {
        "room_refused"
    } else if has("room") {
        "room_closed"
    } else if code == 486 || code == 600 {
        "busy"
    } else if matches!(code, 408 | 480 | 487) || has("no answer") {
        "no_answer"
    } else if code == 200 {
        "phone_hangup"
    } else if code == 401 || code == 407 || has("auth") {
        "auth_failed"
    } else if code == 488 || code == 415 {
        "no_common_codec"
    } else if (300..700).contains(&code) {
        "rejected"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_prefixed_and_the_text_is_prometheus() {
        let m = Metrics::new().unwrap();
        m.calls_ended.with_label_values(&["ttl"]).inc();
        m.api_requests.with_label_values(&["/healthz", "200"]).inc();
        let text = String::from_utf8(m.encode()).unwrap();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("trtc_sipgw_"), "{line}");
        }
        assert!(text.contains("trtc_sipgw_calls_ended_total{reason=\"ttl\"} 1"));
        assert!(text.contains("trtc_sipgw_process_resident_memory_bytes"));
        assert!(
            text.contains("trtc_sipgw_calls_live{direction=\"outbound\",state=\"CONFIRMED\"} 0")
        );
    }

    #[test]
    fn raise_to_only_moves_up() {
        let c = IntCounter::new("c", "c").unwrap();
        Metrics::raise_to(&c, 10);
        Metrics::raise_to(&c, 7);
        assert_eq!(c.get(), 10);
        Metrics::raise_to(&c, 12);
        assert_eq!(c.get(), 12);
    }

    #[test]
    fn end_reasons_fall_into_few_classes() {
        for (code, reason, class) in [
            (408, "ttl expired", "ttl"),
            (200, "shutdown requested", "shutdown"),
            (200, "phone hung up", "phone_hangup"),
            (486, "Busy Here", "busy"),
            (408, "Request Timeout", "no_answer"),
            (480, "Temporarily Unavailable", "no_answer"),
            (200, "room closed", "room_closed"),
            (502, "room entry failed: -100018", "room_refused"),
            (200, "no RTP for 30 s", "no_rtp"),
            (503, "gateway stopping", "gateway_stopping"),
            (0, "gateway restarted during the call", "gateway_restarted"),
            (404, "Not Found", "rejected"),
            (488, "Not Acceptable Here", "no_common_codec"),
            (0, "", "other"),
        ] {
            assert_eq!(end_reason_class(code, reason), class, "{code} {reason}");
        }
    }
}
