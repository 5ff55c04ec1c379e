//! Hands out RTP/RTCP socket pairs from the configured port range, one pair per call.

use rand::Rng;
use smol::net::UdpSocket;
use std::io;
use std::net::{IpAddr, SocketAddr};

/// Picks each call's pair at random among the even ports of a range: a stranger cannot
/// guess the port of the next call from the last one (sequential ports made that easy),
/// and a port just freed by one call is rarely reused at once by the next (late packets
/// of the old call would land in it).
pub struct RtpPorts {
    ip: IpAddr,
    low: u16,
    high: u16,
}

/// The sockets of one call's media: RTP on an even port, RTCP on the odd one above.
pub struct RtpSockets {
    /// RTP socket.
    pub rtp: UdpSocket,
    /// RTCP socket (port + 1).
    pub rtcp: UdpSocket,
    /// Bound RTP address.
    pub addr: SocketAddr,
}

impl RtpPorts {
    /// A pool over `[low, high]` on `ip`.
    pub fn new(ip: IpAddr, low: u16, high: u16) -> Self {
        let first = low + (low % 2);
        RtpPorts {
            ip,
            low: first,
            high,
        }
    }

    /// Binds a free pair, starting the search at a random one; fails when every pair in
    /// the range is taken.
    pub fn allocate(&self) -> io::Result<RtpSockets> {
        let span = u32::from(self.high.saturating_sub(self.low) / 2 + 1);
        let start = rand::thread_rng().gen_range(0..span);
        for i in 0..span {
            let pair = (start + i) % span;
            let Some(port) = u16::try_from(u32::from(self.low) + 2 * pair).ok() else {
                continue;
            };
            if port >= self.high {
                // no room for the RTCP port above it
                continue;
            }
            let Ok(rtp) = std::net::UdpSocket::bind((self.ip, port)) else {
                continue;
            };
            let Ok(rtcp) = std::net::UdpSocket::bind((self.ip, port + 1)) else {
                continue;
            };
            let addr = rtp.local_addr()?;
            return Ok(RtpSockets {
                rtp: UdpSocket::try_from(rtp)?,
                rtcp: UdpSocket::try_from(rtcp)?,
                addr,
            });
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no free RTP port pair in the configured range",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_distinct_and_run_out() {
        let base = 30000 + (std::process::id() % 2000) as u16 * 8;
        let pool = RtpPorts::new(IpAddr::from([127, 0, 0, 1]), base, base + 3);
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert_eq!(a.addr.port() % 2, 0);
        assert_ne!(a.addr.port(), b.addr.port());
        assert!(pool.allocate().is_err(), "range of two pairs is exhausted");
        drop(a);
        assert!(pool.allocate().is_ok(), "a freed pair is found again");
    }

    #[test]
    fn ports_are_not_handed_out_in_order() {
        let base = 20000 + (std::process::id() % 1000) as u16 * 4;
        let pool = RtpPorts::new(IpAddr::from([127, 0, 0, 1]), base, base + 4000);
        let ports: Vec<u16> = (0..8)
            .map(|_| pool.allocate().unwrap().addr.port())
            .collect();
        let sequential = ports.windows(2).filter(|w| w[1] == w[0] + 2).count();
        assert!(sequential < 7, "a guessable sequence: {ports:?}");
        assert!(ports
            .iter()
            .all(|p| p % 2 == 0 && (base..base + 4000).contains(p)));
    }
}
