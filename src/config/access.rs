//! `[server].operator_allow`: which addresses may see operator data (pids,
//! FFmpeg command lines, stderr, paths) over HTTP. Screens need none of it,
//! and a venue's LAN is shared with guests, crews and their devices.

use ipnet::IpNet;
use std::net::IpAddr;

/// The addresses and networks allowed to see operator data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAllow(Vec<IpNet>);

impl Default for OperatorAllow {
    /// This machine only (`127.0.0.0/8` and `::1`), like MediaMTX's API and
    /// metrics: an operator on the machine or through an SSH tunnel.
    fn default() -> Self {
        OperatorAllow(vec![
            IpNet::V4(ipnet::Ipv4Net::new_assert(std::net::Ipv4Addr::LOCALHOST, 8).trunc()),
            IpNet::from(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)),
        ])
    }
}

impl OperatorAllow {
    /// Parses the file's entries: `"10.0.0.5"`, `"192.168.1.0/24"`, `"::1"`.
    /// Returns the index and text of the first entry that is neither.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, (usize, String)> {
        let mut nets = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let text = entry.trim();
            let net = text
                .parse::<IpNet>()
                .map(|n| n.trunc())
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| (index, entry.to_string()))?;
            nets.push(net);
        }
        Ok(OperatorAllow(nets))
    }

    /// True when a client at `address` may see operator data. An IPv4
    /// client reaching a dual-stack listener (`::ffff:a.b.c.d`) counts as
    /// its IPv4 address.
    pub fn allows(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }
}

impl std::fmt::Display for OperatorAllow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn the_default_is_this_machine_only() {
        let allow = OperatorAllow::default();
        assert!(allow.allows(ip("127.0.0.1")));
        assert!(allow.allows(ip("127.0.0.2")));
        assert!(allow.allows(ip("::1")));
        assert!(allow.allows(ip("::ffff:127.0.0.1")));
        assert!(!allow.allows(ip("192.168.1.20")));
        assert!(!allow.allows(ip("::ffff:192.168.1.20")));
    }

    #[test]
    fn addresses_and_networks_are_both_accepted() {
        let allow =
            OperatorAllow::parse(["10.0.0.5", "192.168.1.0/24", "fd00::/8"]).expect("valid");
        assert!(allow.allows(ip("10.0.0.5")));
        assert!(!allow.allows(ip("10.0.0.6")));
        assert!(allow.allows(ip("192.168.1.77")));
        assert!(allow.allows(ip("fd12::1")));
        assert!(
            !allow.allows(ip("127.0.0.1")),
            "listing replaces the default"
        );
        assert_eq!(
            OperatorAllow::parse(["10.0.0.5", "office"]),
            Err((1, "office".to_string()))
        );
    }
}
