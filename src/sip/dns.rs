//! Where a SIP host is, per RFC 3263: a numeric host is itself; a name with an explicit
//! port is looked up as A/AAAA; a bare name is looked up as SRV (`_sip._udp.<name>`, or
//! `_sip._tcp.<name>` for a trunk over TCP),
//! its targets ordered by priority and weight (RFC 2782), each then looked up as
//! A/AAAA; a name without SRV records falls back to A/AAAA on port 5060. (NAPTR is
//! optional in RFC 3263 and not asked: SIP trunks publish SRV.)
//!
//! The lookups are hickory-resolver's (a well-kept stub resolver, which also caches each
//! answer for its records' TTL), driven on the gateway's own smol reactor through the
//! small [`SmolRuntime`] below: no thread per lookup and no second async runtime.
//! Its background tasks run on the executor of the thread that looks up (see
//! [`set_local_executor`]). Only the ordering is ours, because it is a decision
//! ([`srv_order`], tested without a network).

use super::transport::Transport;
use async_io::{Async, Timer};
use futures_lite::FutureExt;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::{DnsTcpStream, DnsUdpSocket, RuntimeProvider, Spawn, Time};
use hickory_resolver::proto::rr::RData;
use hickory_resolver::Resolver;
use rand::Rng;
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

thread_local! {
    /// The executor of this thread, where the resolver's background tasks run.
    static EXECUTOR: RefCell<Option<Rc<smol::LocalExecutor<'static>>>> = const { RefCell::new(None) };
}

/// Runs the resolver's background tasks on `executor` (the gateway's), for lookups made
/// on this thread. Without it they run on smol's global executor.
pub fn set_local_executor(executor: Rc<smol::LocalExecutor<'static>>) {
    EXECUTOR.with(|e| *e.borrow_mut() = Some(executor));
}

/// hickory's view of smol: sockets on the async-io reactor, async-io timers.
#[derive(Clone, Copy, Default)]
pub struct SmolRuntime;

/// Spawns the resolver's background work (see [`set_local_executor`]).
#[derive(Clone, Copy, Default)]
pub struct SmolHandle;

impl Spawn for SmolHandle {
    fn spawn_bg(&mut self, future: impl Future<Output = ()> + Send + 'static) {
        let local = EXECUTOR.with(|e| e.borrow().clone());
        match local {
            Some(ex) => ex.spawn(future).detach(),
            None => smol::spawn(future).detach(),
        }
    }
}

/// async-io timers for hickory.
#[derive(Clone, Copy)]
pub struct SmolTime;

#[async_trait::async_trait]
impl Time for SmolTime {
    async fn delay_for(duration: Duration) {
        Timer::after(duration).await;
    }

    async fn timeout<F: 'static + Future + Send>(
        duration: Duration,
        future: F,
    ) -> Result<F::Output, io::Error> {
        async { Ok(future.await) }
            .or(async {
                Timer::after(duration).await;
                Err(io::Error::new(io::ErrorKind::TimedOut, "DNS timeout"))
            })
            .await
    }
}

/// A UDP socket on the reactor.
pub struct SmolUdp(Async<UdpSocket>);

impl DnsUdpSocket for SmolUdp {
    type Time = SmolTime;

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        loop {
            match self.0.get_ref().recv_from(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    futures_lite::ready!(self.0.poll_readable(cx))?;
                }
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.0.get_ref().send_to(buf, target) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    futures_lite::ready!(self.0.poll_writable(cx))?;
                }
                other => return Poll::Ready(other),
            }
        }
    }
}

/// A TCP stream on the reactor (DNS over TCP for answers too big for a datagram).
pub struct SmolTcp(Async<TcpStream>);

impl futures_lite::AsyncRead for SmolTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl futures_lite::AsyncWrite for SmolTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

impl DnsTcpStream for SmolTcp {
    type Time = SmolTime;
}

impl RuntimeProvider for SmolRuntime {
    type Handle = SmolHandle;
    type Timer = SmolTime;
    type Udp = SmolUdp;
    type Tcp = SmolTcp;

    fn create_handle(&self) -> Self::Handle {
        SmolHandle
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        _bind_addr: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = Result<Self::Tcp, io::Error>>>> {
        let limit = timeout.unwrap_or(Duration::from_secs(5));
        Box::pin(async move {
            let connect = async { Async::<TcpStream>::connect(server_addr).await.map(SmolTcp) };
            connect
                .or(async {
                    Timer::after(limit).await;
                    Err(io::Error::new(io::ErrorKind::TimedOut, "DNS TCP connect"))
                })
                .await
        })
    }

    fn bind_udp(
        &self,
        local_addr: SocketAddr,
        _server_addr: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = Result<Self::Udp, io::Error>>>> {
        Box::pin(async move { Async::<UdpSocket>::bind(local_addr).map(SmolUdp) })
    }
}

/// One SRV record: where and in which order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvTarget {
    /// Lower first.
    pub priority: u16,
    /// Share among equal priorities.
    pub weight: u16,
    /// The port the target listens on.
    pub port: u16,
    /// The host to look up next (without the trailing dot).
    pub target: String,
}

/// RFC 2782's order: by priority, lower first; among equal priorities a weighted
/// random pick, one at a time (weight 0 is picked only when nothing else is left in
/// its priority, as the RFC's running sums make it). A target of "." means the service
/// is not offered there and is dropped.
pub fn srv_order(mut records: Vec<SrvTarget>, rng: &mut impl Rng) -> Vec<SrvTarget> {
    records.retain(|r| !r.target.is_empty() && r.target != ".");
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    while let Some(first) = records.first() {
        let prio = first.priority;
        let n = records.iter().take_while(|r| r.priority == prio).count();
        let mut group: Vec<SrvTarget> = records.drain(..n).collect();
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let at = if total == 0 {
                0
            } else {
                let mut pick = rng.gen_range(1..=total);
                group
                    .iter()
                    .position(|r| {
                        let w = u32::from(r.weight);
                        if pick <= w {
                            return true;
                        }
                        pick -= w;
                        false
                    })
                    .unwrap_or(0)
            };
            out.push(group.remove(at));
        }
    }
    out
}

/// The resolver of the SIP layer.
#[derive(Clone)]
pub struct Dns {
    resolver: Resolver<SmolRuntime>,
}

impl Dns {
    /// Asks `servers` (`[sip] dns_servers`, each `ip:port`), or the system's resolvers
    /// (`/etc/resolv.conf`) when the list is empty.
    pub fn new(servers: &[SocketAddr]) -> Result<Dns, String> {
        let builder = if servers.is_empty() {
            Resolver::builder(SmolRuntime).map_err(|e| format!("system DNS configuration: {e}"))?
        } else {
            let name_servers = servers
                .iter()
                .map(|s| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = s.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = s.port();
                    NameServerConfig::new(s.ip(), true, vec![udp, tcp])
                })
                .collect();
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), name_servers),
                SmolRuntime,
            )
        };
        let mut builder = builder;
        // A dead DNS server must not hold a call for long: 2 s per try, two tries per
        // server, then the system resolver gets its turn.
        builder.options_mut().timeout = Duration::from_secs(2);
        builder.options_mut().attempts = 2;
        let resolver = builder.build().map_err(|e| format!("DNS resolver: {e}"))?;
        Ok(Dns { resolver })
    }

    /// Every address of `host` (A and AAAA), each with `port`.
    pub async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let found = self
            .resolver
            .lookup_ip(format!("{host}."))
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        Ok(found.iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }

    /// RFC 3263 for a host of a `sip:` URI: with an explicit `port`, its A/AAAA; without,
    /// its `_sip._udp` SRV targets in RFC 2782 order (each target's addresses in turn),
    /// or its A/AAAA on 5060 when it has no SRV records.
    pub async fn sip_targets(
        &self,
        host: &str,
        port: Option<u16>,
    ) -> Result<Vec<SocketAddr>, String> {
        self.sip_targets_over(host, port, Transport::Udp).await
    }

    /// As [`Dns::sip_targets`] for requests over `transport`: the SRV records asked for
    /// are `_sip._tcp` for TCP and `_sips._tcp` for TLS (RFC 3263 4.2).
    pub async fn sip_targets_over(
        &self,
        host: &str,
        port: Option<u16>,
        transport: Transport,
    ) -> Result<Vec<SocketAddr>, String> {
        if let Some(port) = port {
            return self.addresses(host, port).await;
        }
        if host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
            return self.addresses(host, default_port(transport)).await;
        }
        let service = match transport {
            Transport::Udp => "_sip._udp",
            Transport::Tcp => "_sip._tcp",
            Transport::Tls => "_sips._tcp",
        };
        let records: Vec<SrvTarget> =
            match self.resolver.srv_lookup(format!("{service}.{host}.")).await {
                Ok(lookup) => lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::SRV(srv) => Some(SrvTarget {
                            priority: srv.priority,
                            weight: srv.weight,
                            port: srv.port,
                            target: srv.target.to_utf8().trim_end_matches('.').to_string(),
                        }),
                        _ => None,
                    })
                    .collect(),
                Err(e) => {
                    log::debug!("SIP: no SRV records for {host}: {e}");
                    Vec::new()
                }
            };
        if records.is_empty() {
            return self.addresses(host, 5060).await;
        }
        let ordered = srv_order(records, &mut rand::thread_rng());
        let mut out = Vec::new();
        let mut last_error = None;
        for t in ordered {
            match self.addresses(&t.target, t.port).await {
                Ok(addrs) => out.extend(addrs),
                Err(e) => last_error = Some(e),
            }
        }
        match (out.is_empty(), last_error) {
            (true, Some(e)) => Err(e),
            _ => Ok(out),
        }
    }
}

/// The port of a URI that names none: 5061 for TLS, 5060 otherwise (RFC 3261 19.1.2).
pub fn default_port(transport: Transport) -> u16 {
    if transport == Transport::Tls {
        5061
    } else {
        5060
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn srv(priority: u16, weight: u16, target: &str) -> SrvTarget {
        SrvTarget {
            priority,
            weight,
            port: 5060,
            target: target.into(),
        }
    }

    #[test]
    fn lower_priority_first_then_by_weight_and_dot_means_none() {
        let mut rng = StdRng::seed_from_u64(3);
        let got = srv_order(
            vec![
                srv(20, 0, "late"),
                srv(10, 5, "a"),
                srv(10, 0, "."),
                srv(30, 1, "last"),
            ],
            &mut rng,
        );
        let names: Vec<&str> = got.iter().map(|t| t.target.as_str()).collect();
        assert_eq!(names, vec!["a", "late", "last"]);
        // Weights share first places 3:1.
        let firsts = (0..4000)
            .filter(|_| {
                srv_order(vec![srv(1, 30, "x"), srv(1, 10, "y")], &mut rng)[0].target == "x"
            })
            .count();
        assert!((2800..3200).contains(&firsts), "{firsts}");
        // Zero weights are still all placed.
        assert_eq!(
            srv_order(vec![srv(1, 0, "p"), srv(1, 0, "q")], &mut rng).len(),
            2
        );
    }
}
