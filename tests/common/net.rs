//! Per-test port allocation. Single ports come from the kernel (bind port 0, read it
//! back); ranges (RTP ranges, peers that need fixed neighbouring ports) come from a
//! per-test block below the kernel's ephemeral range, chosen from the PID and an
//! atomic counter and checked to be free, so parallel tests and test binaries do not
//! collide.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

/// Lowest port handed out in blocks.
const BLOCK_FLOOR: u16 = 10_000;
/// One past the highest port handed out in blocks (Linux' ephemeral range starts at 32768).
const BLOCK_CEIL: u16 = 32_000;
/// Ports per block.
pub const BLOCK_SIZE: u16 = 200;

static NEXT_BLOCK: AtomicU32 = AtomicU32::new(0);

/// A block of `BLOCK_SIZE` consecutive ports that were free (UDP and TCP) when taken.
#[derive(Debug, Clone, Copy)]
pub struct PortBlock {
    base: u16,
}

fn udp_free(port: u16) -> bool {
    UdpSocket::bind(("127.0.0.1", port)).is_ok()
}

fn tcp_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

impl PortBlock {
    /// Takes the next free block for this process.
    pub fn new() -> PortBlock {
        let blocks = u32::from((BLOCK_CEIL - BLOCK_FLOOR) / BLOCK_SIZE);
        let pid = std::process::id();
        for _ in 0..blocks {
            let n = NEXT_BLOCK.fetch_add(1, Ordering::SeqCst);
            let idx = (pid.wrapping_mul(7919).wrapping_add(n)) % blocks;
            let base = BLOCK_FLOOR + (idx as u16) * BLOCK_SIZE;
            if (base..base + BLOCK_SIZE).all(|p| udp_free(p) && tcp_free(p)) {
                return PortBlock { base };
            }
        }
        panic!("no free block of {BLOCK_SIZE} ports in {BLOCK_FLOOR}..{BLOCK_CEIL}");
    }

    /// The `i`-th port of the block.
    pub fn port(&self, i: u16) -> u16 {
        assert!(i < BLOCK_SIZE, "port index {i} outside block");
        self.base + i
    }

    /// Inclusive sub-range `[port(from), port(to)]`.
    pub fn range(&self, from: u16, to: u16) -> (u16, u16) {
        (self.port(from), self.port(to))
    }
}

/// A UDP port that was free a moment ago (the kernel's choice).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP port that nobody listens on (bound then released): connections are refused.
pub fn closed_tcp_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    p
}

/// True when something is bound to this UDP port on 127.0.0.1 (our bind fails).
pub fn udp_in_use(port: u16) -> bool {
    !udp_free(port)
}

/// True when a TCP connect to `addr` succeeds.
pub fn tcp_accepts(addr: SocketAddr) -> bool {
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)).is_ok()
}

/// True when something listens on this TCP port (from /proc/net/tcp and tcp6, so
/// without connecting, which a one-connection peer such as sipp `-t t1` would take as
/// its peer).
pub fn tcp_listening(port: u16) -> bool {
    let needle = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|path| {
        std::fs::read_to_string(path).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                // local_address is column 1, st column 3; 0A is LISTEN.
                cols.get(1)
                    .is_some_and(|l| format!("{l} ").ends_with(&needle))
                    && cols.get(3) == Some(&"0A")
            })
        })
    })
}
