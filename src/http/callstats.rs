//! `GET /trtc/callstats`: the JSON shape the API documents, built from the media core's
//! plain counters. It lives beside the API so the media core carries no presentation.

use crate::media::{MediaSnapshot, MediaStats};
use serde::Serialize;

/// `callstats` as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct CallStats {
    /// Codec name as in SDP (`PCMU`, `G722`, `opus`…).
    codec: &'static str,
    rx: RxStats,
    tx: TxStats,
    jitter_buffer: JitterBufferStats,
    /// Round-trip time from RTCP, ms; `null` until measured.
    rtt_ms: Option<f64>,
    /// Telephone-events as negotiated; `null` when not.
    telephone_event: Option<TelephoneEventStats>,
    /// A sound-device line's figures; absent for SIP calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<LineJson>,
}

/// `callstats.line`: the device side of an `alsa:` call.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct LineJson {
    /// The line's sample rate.
    rate: u32,
    /// Overruns/underruns the device reported, each recovered.
    xruns: u64,
    /// Samples dropped or repeated to absorb the card's clock drift, and periods the
    /// card delivered too little for.
    capture: DriftJson,
    playback: DriftJson,
}

/// How one direction absorbed drift.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct DriftJson {
    dropped: u64,
    stretched: u64,
    /// Capture: periods padded for lack of audio; playback: samples the device had no
    /// room for.
    short: u64,
}

/// `callstats.telephone_event`.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct TelephoneEventStats {
    /// Payload type.
    pt: u8,
    /// Its RTP clock.
    clock: u32,
    /// 1 when the peer paired events with a clock other than the codec's (accepted for
    /// interop, counted here), else 0.
    clock_mismatch: u64,
}

/// `callstats.rx`: what came from the phone.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct RxStats {
    /// RTP packets received.
    packets: u64,
    /// Packets lost on the network: expected (from the sequence numbers) minus distinct
    /// packets received; never negative.
    lost: u64,
    /// Packets that arrived more than once (each extra copy once); RFC 3550's
    /// cumulative loss counts these as received, which can make it negative.
    duplicates: u64,
    /// Lost share of expected packets, percent.
    loss_percent: f64,
    /// Interarrival jitter, ms.
    jitter_ms: f64,
    /// DTMF digits received.
    dtmf: u64,
    /// RTP and RTCP datagrams dropped because they were not the phone's (another
    /// address, or a second stream beside the pinned one): how much a stranger sprayed.
    foreign: u64,
}

/// `callstats.tx`: what went to the phone.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct TxStats {
    /// RTP packets sent.
    packets: u64,
    /// DTMF digits sent.
    dtmf: u64,
}

/// `callstats.jitter_buffer`.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct JitterBufferStats {
    /// Current delay, ms.
    depth_ms: u32,
    /// Current target, ms.
    target_ms: u32,
    /// Deepest so far, ms.
    max_depth_ms: u32,
    /// Frames synthesised by concealment.
    concealed_frames: u64,
    /// Packets that came too late to play.
    late_frames: u64,
    /// Frames the buffer reported lost.
    lost_frames: u64,
    /// Opus frames rebuilt from FEC.
    fec_recovered: u64,
}

/// Packets lost from the phone (distinct packets: duplicates push RFC 3550's figure
/// below zero) and their share of those expected, percent to two decimals.
pub fn rx_loss(s: &MediaStats) -> (u64, f64) {
    let lost = u64::try_from(s.rx_lost.saturating_add(s.rx_duplicates as i64)).unwrap_or(0);
    let percent = if s.rx_expected > 0 {
        (lost as f64 * 100.0 / s.rx_expected as f64 * 100.0).round() / 100.0
    } else {
        0.0
    };
    (lost, percent)
}

/// Interarrival jitter of the phone's RTP in ms, to two decimals.
pub fn rx_jitter_ms(s: &MediaStats) -> f64 {
    f64::from(s.rx_jitter_us / 10) / 100.0
}

/// The `callstats` object for a snapshot of a call's media (also written to the log at
/// the end of each call).
pub fn callstats_json(snapshot: &MediaSnapshot) -> serde_json::Value {
    let s = &snapshot.counters;
    let (lost, loss_percent) = rx_loss(s);
    let stats = CallStats {
        // A line carries raw PCM: L16 in SDP's terms (RFC 3551).
        codec: if snapshot.line.is_some() {
            "L16"
        } else {
            snapshot.codec.name()
        },
        rx: RxStats {
            packets: s.rx_packets,
            lost,
            duplicates: s.rx_duplicates,
            loss_percent,
            jitter_ms: rx_jitter_ms(s),
            dtmf: s.dtmf_received,
            foreign: s.rx_foreign,
        },
        tx: TxStats {
            packets: s.tx_packets,
            dtmf: s.dtmf_sent,
        },
        jitter_buffer: JitterBufferStats {
            depth_ms: s.jitter_depth_ms,
            target_ms: s.jitter_target_ms,
            max_depth_ms: s.jitter_max_depth_ms,
            concealed_frames: s.concealed_frames,
            late_frames: s.late,
            lost_frames: s.lost,
            fec_recovered: s.fec_recovered,
        },
        rtt_ms: s.rtt_us.map(|us| f64::from(us / 10) / 100.0),
        telephone_event: snapshot
            .telephone_event
            .map(|(pt, clock)| TelephoneEventStats {
                pt,
                clock,
                clock_mismatch: s.dtmf_clock_mismatch,
            }),
        line: snapshot.line.map(|l| LineJson {
            rate: l.rate,
            xruns: l.xruns,
            capture: DriftJson {
                dropped: l.capture_dropped,
                stretched: l.capture_stretched,
                short: l.capture_underruns,
            },
            playback: DriftJson {
                dropped: l.playback_dropped,
                stretched: l.playback_stretched,
                short: l.playback_overflowed,
            },
        }),
    };
    serde_json::to_value(stats).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Codec, MediaStats};

    #[test]
    fn counters_land_in_the_documented_keys() {
        let snapshot = MediaSnapshot {
            codec: Codec::Pcmu,
            counters: MediaStats {
                rx_packets: 380,
                rx_lost: 20,
                rx_expected: 400,
                rx_jitter_us: 1_234,
                tx_packets: 400,
                dtmf_received: 2,
                dtmf_sent: 3,
                jitter_depth_ms: 40,
                jitter_target_ms: 60,
                jitter_max_depth_ms: 80,
                concealed_frames: 5,
                late: 6,
                lost: 7,
                fec_recovered: 8,
                rtt_us: Some(12_345),
                dtmf_clock_mismatch: 1,
                rx_foreign: 9,
                ..MediaStats::default()
            },
            telephone_event: Some((101, 8000)),
            line: None,
        };
        let json = callstats_json(&snapshot);
        assert_eq!(json["codec"], "PCMU");
        assert_eq!(json["rx"]["packets"], 380);
        assert_eq!(json["rx"]["lost"], 20);
        assert_eq!(json["rx"]["loss_percent"], 5.0);
        assert_eq!(json["rx"]["jitter_ms"], 1.23);
        assert_eq!(json["rx"]["dtmf"], 2);
        assert_eq!(json["rx"]["foreign"], 9);
        assert_eq!(json["tx"]["packets"], 400);
        assert_eq!(json["tx"]["dtmf"], 3);
        assert_eq!(json["jitter_buffer"]["depth_ms"], 40);
        assert_eq!(json["jitter_buffer"]["target_ms"], 60);
        assert_eq!(json["jitter_buffer"]["max_depth_ms"], 80);
        assert_eq!(json["jitter_buffer"]["concealed_frames"], 5);
        assert_eq!(json["jitter_buffer"]["late_frames"], 6);
        assert_eq!(json["jitter_buffer"]["lost_frames"], 7);
        assert_eq!(json["jitter_buffer"]["fec_recovered"], 8);
        assert_eq!(json["rtt_ms"], 12.34);
        assert_eq!(json["telephone_event"]["pt"], 101);
        assert_eq!(json["telephone_event"]["clock"], 8000);
        assert_eq!(json["telephone_event"]["clock_mismatch"], 1);
    }

    #[test]
    fn duplicates_never_make_loss_negative() {
        let json = callstats_json(&MediaSnapshot {
            codec: Codec::Pcmu,
            counters: MediaStats {
                rx_packets: 104,
                rx_lost: -4,
                rx_duplicates: 4,
                rx_expected: 100,
                ..MediaStats::default()
            },
            telephone_event: None,
            line: None,
        });
        assert_eq!(json["rx"]["lost"], 0);
        assert_eq!(json["rx"]["duplicates"], 4);
        assert!(json["telephone_event"].is_null());
    }

    #[test]
    fn no_rtt_yet_is_null_and_nothing_expected_is_no_loss() {
        let json = callstats_json(&MediaSnapshot {
            codec: Codec::Opus,
            counters: MediaStats::default(),
            telephone_event: None,
            line: None,
        });
        assert_eq!(json["codec"], "opus");
        assert!(json["rtt_ms"].is_null());
        assert_eq!(json["rx"]["loss_percent"], 0.0);
    }
}
