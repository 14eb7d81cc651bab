//! The target policy (POLICIES.md, *Target policy*): which addresses a
//! webhook may reach. A pure decision on one address; the client asks it for
//! every address a name resolves to, on every connection (see
//! [`PolicyResolver`]), and the model asks it for a literal address on save.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// Denied unless `[delivery] deny_builtin = false`: unspecified, link-local
/// (with the cloud metadata address), multicast and broadcast.
pub const BUILTIN_DENY: &[&str] = &[
    "0.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "fe80::/10",
    "ff00::/8",
];

/// Why an address may not be reached; the text follows `blocked: ` in a
/// delivery's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Blocked(pub String);

/// The deny and allow lists, parsed once from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    deny: Vec<IpNet>,
    allow: Vec<IpNet>,
}

impl TargetPolicy {
    /// The policy of the configuration: the built-in list (unless turned
    /// off) and `deny_networks`, then `allow_networks`.
    pub fn new(deny_builtin: bool, deny: &[IpNet], allow: &[IpNet]) -> TargetPolicy {
        let builtin = BUILTIN_DENY
            .iter()
            .filter(|_| deny_builtin)
            .filter_map(|n| n.parse::<IpNet>().ok());
        TargetPolicy {
            deny: builtin.chain(deny.iter().copied()).collect(),
            allow: allow.to_vec(),
        }
    }

    /// The policy of `[delivery]`.
    pub fn of(config: &crate::config::DeliveryConfig) -> TargetPolicy {
        TargetPolicy::new(
            config.deny_builtin,
            &config.deny_networks,
            &config.allow_networks,
        )
    }

    /// Whether `ip` may be connected to. An IPv4-mapped IPv6 address is
    /// judged as the IPv4 address it maps to, so `::ffff:169.254.169.254`
    /// is the metadata address. Deny wins over allow.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if let Some(net) = self.deny.iter().find(|n| n.contains(&ip)) {
            return Err(Blocked(format!("{ip} is in deny_networks {net}")));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|n| n.contains(&ip)) {
            return Err(Blocked(format!("{ip} is not in allow_networks")));
        }
        Ok(())
    }

    /// The addresses a name resolved to, if every one of them may be
    /// connected to: one outside the policy refuses the name whole, since
    /// the connection may try any of them.
    pub fn admit(&self, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Blocked> {
        for addr in &addrs {
            self.check(addr.ip())?;
        }
        Ok(addrs)
    }

    /// Checks the host of `url` when it is a literal address (a name is
    /// checked when it is resolved). `None` for a name.
    pub fn check_literal(&self, url: &url::Url) -> Option<Result<(), Blocked>> {
        let ip = match url.host()? {
            url::Host::Ipv4(v4) => IpAddr::V4(v4),
            url::Host::Ipv6(v6) => IpAddr::V6(v6),
            url::Host::Domain(_) => return None,
        };
        Some(self.check(ip))
    }
}

/// reqwest's resolver, with the policy applied to every address found: a
/// name with one denied address is refused whole, so a name that resolves
/// differently between a check and the connection cannot slip through (the
/// check is the resolution the connection uses).
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    pub policy: Arc<TargetPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let admitted = policy.admit(found)?;
            Ok(Box::new(admitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn the_builtin_list_denies_metadata_multicast_and_unspecified() {
        let p = TargetPolicy::new(true, &[], &[]);
        for denied in [
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "fe80::1",
            "ff02::1",
            "::ffff:169.254.169.254",
        ] {
            assert!(p.check(ip(denied)).is_err(), "{denied}");
        }
        for allowed in ["127.0.0.1", "10.1.2.3", "192.168.0.9", "::1", "8.8.8.8"] {
            assert_eq!(p.check(ip(allowed)), Ok(()), "{allowed}");
        }
        assert_eq!(
            p.check(ip("169.254.169.254")),
            Err(Blocked(
                "169.254.169.254 is in deny_networks 169.254.0.0/16".into()
            ))
        );
        let off = TargetPolicy::new(false, &[], &[]);
        assert_eq!(off.check(ip("169.254.169.254")), Ok(()));
    }

    #[test]
    fn allow_admits_only_its_networks_and_deny_wins() {
        let p = TargetPolicy::new(true, &nets(&["10.0.5.0/24"]), &nets(&["10.0.0.0/16"]));
        assert_eq!(p.check(ip("10.0.1.1")), Ok(()));
        assert_eq!(
            p.check(ip("10.1.0.1")),
            Err(Blocked("10.1.0.1 is not in allow_networks".into()))
        );
        assert!(p.check(ip("10.0.5.7")).is_err(), "deny wins");
        assert!(p.check(ip("::ffff:10.0.1.1")).is_ok(), "mapped as IPv4");
    }

    #[test]
    fn one_denied_address_refuses_the_whole_name() {
        let p = TargetPolicy::new(true, &nets(&["10.9.0.0/16"]), &[]);
        let addr = |a: &str| SocketAddr::new(ip(a), 443);
        assert!(p.admit(vec![addr("10.1.0.1"), addr("::1")]).is_ok());
        let mixed = vec![addr("10.1.0.1"), addr("10.9.0.5"), addr("10.1.0.2")];
        assert_eq!(
            p.admit(mixed),
            Err(Blocked("10.9.0.5 is in deny_networks 10.9.0.0/16".into()))
        );
        let metadata = vec![addr("8.8.8.8"), addr("169.254.169.254")];
        assert!(p.admit(metadata).is_err(), "a rebinding answer is refused");
    }

    #[test]
    fn literal_hosts_are_checked_names_are_left_to_the_resolver() {
        let p = TargetPolicy::new(true, &nets(&["127.0.0.0/8"]), &[]);
        let url = |u: &str| url::Url::parse(u).expect("url");
        assert!(matches!(
            p.check_literal(&url("http://127.0.0.1:9/")),
            Some(Err(_))
        ));
        assert!(matches!(
            p.check_literal(&url("http://[::ffff:127.0.0.1]/")),
            Some(Err(_))
        ));
        assert_eq!(p.check_literal(&url("http://localhost/")), None);
        assert_eq!(p.check_literal(&url("http://10.0.0.1/")), Some(Ok(())));
    }
}
