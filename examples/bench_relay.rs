//! The baseline of `scripts/bench.sh`: the least a box can do with a call's RTP, a UDP
//! relay that sends every packet straight back to where it came from. It runs on the
//! same runtime as the gateway (one thread, a `smol::LocalExecutor`, one task per
//! socket), so the ratio gateway/relay measures what the gateway adds on top of moving
//! the same packets: SIP, the 20 ms clock, jitter buffer, codecs and the room.
//!
//! `bench_relay --base 127.0.0.1:38000 --count 200` binds ports 38000..38199.

use smol::net::UdpSocket;
use std::net::SocketAddr;
use std::rc::Rc;

fn main() {
    let mut base: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 38000));
    let mut count: u16 = 200;
    let mut args = std::env::args().skip(1);
    while let Some(k) = args.next() {
        let v = args.next().unwrap_or_default();
        match (k.as_str(), v.parse::<SocketAddr>(), v.parse::<u16>()) {
            ("--base", Ok(a), _) => base = a,
            ("--count", _, Ok(n)) => count = n,
            _ => {
                eprintln!("usage: bench_relay [--base IP:PORT] [--count N]");
                std::process::exit(2);
            }
        }
    }
    let ex = Rc::new(smol::LocalExecutor::new());
    smol::block_on(ex.run(async {
        for i in 0..count {
            let mut addr = base;
            addr.set_port(base.port() + i);
            let socket = match UdpSocket::bind(addr).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("bench_relay: bind {addr}: {e}");
                    std::process::exit(1);
                }
            };
            ex.spawn(async move {
                let mut buf = [0u8; 2048];
                loop {
                    if let Ok((n, from)) = socket.recv_from(&mut buf).await {
                        let _ = socket.send_to(&buf[..n], from).await;
                    }
                }
            })
            .detach();
        }
        eprintln!("bench_relay: {count} ports from {base}");
        futures_lite::future::pending::<()>().await
    }));
}
