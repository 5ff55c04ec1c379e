//! Address blocks, the one CIDR type of the gateway (`ipnet::IpNet`), and the one way a
//! configuration entry becomes one: `[sip] trusted` (whose requests are answered) and
//! `[webhook] allow` (where webhooks may go) read their CIDRs here, so both lists accept
//! the same spellings and match addresses the same way.

pub use ipnet::IpNet;
use std::net::IpAddr;

/// Reads `10.0.0.0/8`, `fd00::/8` or a single address (`192.0.2.7`, `::1`, taken as
/// /32 or /128); None for anything else. Parsing is `ipnet`'s; only the bare-address
/// form is added, because operators write one host that way.
pub fn parse_net(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Whether `ip` lies in `net`; an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, what a
/// dual-stack socket reports for an IPv4 peer) is matched as the IPv4 address it is.
pub fn net_contains(net: &IpNet, ip: IpAddr) -> bool {
    net.contains(&ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_bare_addresses() {
        let n = parse_net("10.0.0.0/8").unwrap();
        assert!(net_contains(&n, "10.9.8.7".parse().unwrap()));
        assert!(!net_contains(&n, "11.0.0.1".parse().unwrap()));
        assert!(net_contains(&n, "::ffff:10.1.1.1".parse().unwrap()));
        let one = parse_net(" 127.0.0.1 ").unwrap();
        assert!(net_contains(&one, "127.0.0.1".parse().unwrap()));
        assert!(!net_contains(&one, "127.0.0.2".parse().unwrap()));
        let v6 = parse_net("::1").unwrap();
        assert_eq!(v6.prefix_len(), 128);
        for bad in ["10.0.0.0/33", "::/129", "a/b", "", "host.lan", "10.0.0.0/"] {
            assert!(parse_net(bad).is_none(), "{bad}");
        }
    }
}
