//! Where a request URI sends its requests: the host and port of the URI, parsed by
//! `ezk-sip-types` (IPv6 references, parameters and headers included), with SIP's
//! default port when the URI names none. A host name is looked up elsewhere (`dns`:
//! SRV when the URI names no port, RFC 3263).

use ezk_sip_types::host::Host;
use ezk_sip_types::uri::SipUri;
use std::str::FromStr;

/// RFC 3261's port for SIP over UDP, used when a URI names none.
pub const DEFAULT_PORT: u16 = 5060;
/// The port of a `sips:` URI that names none (RFC 3261 19.1.2).
pub const DEFAULT_TLS_PORT: u16 = 5061;

/// The host and port a request URI points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// An IP address, or a name still to resolve.
    pub host: Host,
    /// The URI's port, or [`DEFAULT_PORT`] ([`DEFAULT_TLS_PORT`] for `sips:`).
    pub port: u16,
}

impl Target {
    /// The target of a parsed URI.
    pub fn of(uri: &SipUri) -> Target {
        Target {
            host: uri.host_port.host.clone(),
            port: uri.host_port.port.unwrap_or(if uri.sips {
                DEFAULT_TLS_PORT
            } else {
                DEFAULT_PORT
            }),
        }
    }

    /// The target of a URI given as text; None when it is not a SIP URI.
    pub fn parse(uri: &str) -> Option<Target> {
        SipUri::from_str(uri.trim()).ok().map(|u| Target::of(&u))
    }

    /// The host as resolvers take it (`::1`, not `[::1]`), for `(host, port)` lookups.
    pub fn host_text(&self) -> String {
        match &self.host {
            Host::IP4(ip) => ip.to_string(),
            Host::IP6(ip) => ip.to_string(),
            Host::Name(name) => name.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_port(uri: &str) -> Option<(String, u16)> {
        Target::parse(uri).map(|t| (t.host_text(), t.port))
    }

    #[test]
    fn host_and_port_of_request_uris() {
        let at = |h: &str, p| Some((h.to_string(), p));
        assert_eq!(
            host_port("sip:1002@127.0.0.1:25060"),
            at("127.0.0.1", 25060)
        );
        assert_eq!(
            host_port("sip:1002@pbx.lan;transport=udp"),
            at("pbx.lan", 5060)
        );
        assert_eq!(host_port("sip:1002@[::1]:5062"), at("::1", 5062));
        // sips: defaults to 5061 (RFC 3261 19.1.2).
        assert_eq!(host_port("sips:pbx.lan?subject=x"), at("pbx.lan", 5061));
        assert_eq!(host_port(" sip:1%23@10.0.0.1 "), at("10.0.0.1", 5060));
        assert_eq!(host_port("http://pbx.lan/"), None);
        assert_eq!(host_port("sip:"), None);
    }
}
