//! What the phone heard, for peers that do not record (sipp): capture UDP on `lo` with
//! dumpcap (classic pcap format), then parse the pcap, pick out RTP and decode G.711
//! into PCM per stream, placing each packet by its RTP timestamp.

use super::audio::{alaw_to_linear, ulaw_to_linear, Audio};
use super::proc::Proc;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A running dumpcap; stop it with [`Capture::finish`] before reading.
pub struct Capture {
    proc: Proc,
    file: PathBuf,
}

impl Capture {
    /// Starts capturing on `lo` with a BPF `filter` (e.g. `udp dst port 12345`) into
    /// `<dir>/<name>.pcap`, and waits until dumpcap says it is capturing.
    pub fn start(dir: &Path, name: &str, filter: &str) -> Capture {
        let file = dir.join(format!("{name}.pcap"));
        let mut cmd = Command::new("dumpcap");
        cmd.args(["-i", "lo", "-f", filter, "-P", "-q", "-w"])
            .arg(&file);
        let mut proc = Proc::spawn(name, &mut cmd, dir);
        proc.wait_log("Capturing on", Duration::from_secs(20));
        // dumpcap prints that line just before the capture loop starts; let it settle.
        std::thread::sleep(Duration::from_millis(300));
        Capture { proc, file }
    }

    /// Stops dumpcap (it flushes on SIGTERM) and returns the parsed RTP streams.
    pub fn finish(mut self) -> Vec<RtpStream> {
        std::thread::sleep(Duration::from_millis(300));
        self.proc.signal("TERM");
        self.proc.wait_exit(Duration::from_secs(10));
        let bytes = std::fs::read(&self.file).unwrap_or_else(|e| {
            panic!(
                "read {}: {e}; dumpcap log:\n{}",
                self.file.display(),
                self.proc.log_tail(20)
            )
        });
        let packets = parse_pcap(&bytes).unwrap_or_else(|e| panic!("{}: {e}", self.file.display()));
        rtp_streams(&packets)
    }

    pub fn file(&self) -> &Path {
        &self.file
    }
}

/// One UDP datagram from the capture.
#[derive(Debug, Clone)]
pub struct UdpPacket {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

fn rd16(b: &[u8], be: bool) -> u16 {
    let a = [b[0], b[1]];
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}
fn rd32(b: &[u8], be: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

/// Parses a classic pcap file and returns its IPv4/UDP datagrams.
pub fn parse_pcap(bytes: &[u8]) -> Result<Vec<UdpPacket>, String> {
    if bytes.len() < 24 {
        return Err("pcap shorter than its header".into());
    }
    let be = match &bytes[0..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => false,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => true,
        _ => return Err("not a classic pcap file (pcapng? pass -P to dumpcap)".into()),
    };
    let linktype = rd32(&bytes[20..24], be);
    let mut out = Vec::new();
    let mut pos = 24;
    while pos + 16 <= bytes.len() {
        let incl = rd32(&bytes[pos + 8..pos + 12], be) as usize;
        let frame = bytes
            .get(pos + 16..pos + 16 + incl)
            .ok_or("truncated record")?;
        pos += 16 + incl;
        let ip = match linktype {
            1 if frame.len() >= 14 && frame[12..14] == [0x08, 0x00] => &frame[14..],
            113 if frame.len() >= 16 && frame[14..16] == [0x08, 0x00] => &frame[16..],
            276 if frame.len() >= 20 && frame[0..2] == [0x08, 0x00] => &frame[20..],
            0 if frame.len() >= 4 => &frame[4..],
            12 | 101 => frame,
            _ => continue,
        };
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let udp = match ip.get(ihl..) {
            Some(u) if u.len() >= 8 => u,
            _ => continue,
        };
        let ulen = usize::from(rd16(&udp[4..6], true)).clamp(8, udp.len());
        out.push(UdpPacket {
            src_port: rd16(&udp[0..2], true),
            dst_port: rd16(&udp[2..4], true),
            payload: udp[8..ulen].to_vec(),
        });
    }
    Ok(out)
}

/// One RTP stream (by source port, destination port and SSRC), decoded.
#[derive(Debug, Clone)]
pub struct RtpStream {
    pub src_port: u16,
    pub dst_port: u16,
    pub ssrc: u32,
    pub payload_type: u8,
    pub packets: usize,
    /// Decoded audio (8 kHz) for PCMU/PCMA streams; empty for other payload types.
    pub audio: Audio,
}

/// Groups RTP packets by (source port, destination port, SSRC) and decodes PCMU/PCMA by
/// timestamp. (sipp gives every call the same media port, so the destination port alone
/// does not tell calls apart; the gateway's per-call source port and SSRC do.)
pub fn rtp_streams(packets: &[UdpPacket]) -> Vec<RtpStream> {
    struct Acc {
        pt: u8,
        pkts: Vec<(u32, Vec<u8>)>,
    }
    let mut by_key: BTreeMap<(u16, u16, u32), Acc> = BTreeMap::new();
    for p in packets {
        let b = &p.payload;
        if b.len() < 12 || b[0] >> 6 != 2 {
            continue;
        }
        let pt = b[1] & 0x7f;
        if (72..=76).contains(&pt) {
            continue; // RTCP
        }
        let cc = usize::from(b[0] & 0x0f);
        let mut off = 12 + 4 * cc;
        if b[0] & 0x10 != 0 {
            let Some(ext) = b.get(off..off + 4) else {
                continue;
            };
            off += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        let mut end = b.len();
        if b[0] & 0x20 != 0 {
            end = end.saturating_sub(usize::from(*b.last().unwrap_or(&0)));
        }
        if off > end {
            continue;
        }
        let ts = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        let ssrc = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
        by_key
            .entry((p.src_port, p.dst_port, ssrc))
            .or_insert_with(|| Acc {
                pt,
                pkts: Vec::new(),
            })
            .pkts
            .push((ts, b[off..end].to_vec()));
    }
    by_key
        .into_iter()
        .map(|((src_port, dst_port, ssrc), acc)| {
            let decode: Option<fn(u8) -> i16> = match acc.pt {
                0 => Some(ulaw_to_linear),
                8 => Some(alaw_to_linear),
                _ => None,
            };
            let mut samples = Vec::new();
            if let (Some(dec), Some((ts0, _))) = (decode, acc.pkts.first()) {
                let ts0 = *ts0;
                for (ts, payload) in &acc.pkts {
                    let at = ts.wrapping_sub(ts0) as usize;
                    if at > 8000 * 600 {
                        continue; // before the first packet or absurdly far: ignore
                    }
                    if samples.len() < at + payload.len() {
                        samples.resize(at + payload.len(), 0);
                    }
                    for (i, &c) in payload.iter().enumerate() {
                        samples[at + i] = dec(c);
                    }
                }
            }
            RtpStream {
                src_port,
                dst_port,
                ssrc,
                payload_type: acc.pt,
                packets: acc.pkts.len(),
                audio: Audio {
                    rate: 8000,
                    samples,
                },
            }
        })
        .collect()
}
