//! Which addresses a webhook may reach.
//!
//! An endpoint's URL is an admin's input, so without a guard a webhook is a
//! way to make this service send requests into its own network (SSRF). The
//! check runs at connect time, on the addresses the name resolved to: the
//! HTTP client resolves through [`GuardedResolver`] and connects only to
//! the addresses it returns, so a name that resolves to a public address
//! when registered and to `127.0.0.1` when sent (DNS rebinding) is still
//! refused. A URL whose host is an address literal is checked by
//! [`check_url`] before the request, since the client does not resolve it.
//!
//! Refused unless the allow-list (`WEBHOOK_ALLOW_PRIVATE`, CIDR blocks)
//! covers them: loopback, private (RFC 1918), shared (RFC 6598),
//! link-local, unique-local, unspecified, multicast, broadcast and
//! documentation ranges, and IPv4-mapped or -compatible IPv6 forms of any
//! of these.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// An address block, `10.0.0.0/8` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{p:?} is not a prefix length from 0 to {max}"))?,
            None => max,
        };
        Ok(Self { network, prefix })
    }
}

impl Cidr {
    /// Whether `addr` is inside the block.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, canonical(addr)) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The IPv4 address an IPv6 address stands for (`::ffff:a.b.c.d`, the
/// deprecated `::a.b.c.d`), else the address itself.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                // IPv4-compatible (`::a.b.c.d`), but not `::` or `::1`.
                if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
                    IpAddr::V4(Ipv4Addr::new(
                        (s[6] >> 8) as u8,
                        s[6] as u8,
                        (s[7] >> 8) as u8,
                        s[7] as u8,
                    ))
                } else {
                    IpAddr::V6(v6)
                }
            }
        },
        v4 => v4,
    }
}

/// Whether `addr` is one no webhook may reach without the allow-list.
pub fn is_internal(addr: IpAddr) -> bool {
    match canonical(addr) {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || o[0] == 0
                // Shared address space (RFC 6598), carrier-grade NAT.
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                // IETF protocol assignments, benchmarking, reserved.
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10.
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                // Documentation 2001:db8::/32, Teredo 2001::/32, discard 100::/64;
                // NAT64 64:ff9b::/96 can reach IPv4 anywhere.
                || (s[0] == 0x2001 && (s[1] == 0x0db8 || s[1] == 0))
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])
                || (s[0] == 0x0064 && s[1] == 0xff9b)
                // 6to4 (2002::/16) embeds an IPv4 address.
                || (s[0] == 0x2002 && is_internal(IpAddr::V4(Ipv4Addr::new(
                    (s[1] >> 8) as u8,
                    s[1] as u8,
                    (s[2] >> 8) as u8,
                    s[2] as u8,
                ))))
        }
    }
}

/// The addresses webhooks may reach: public ones, and internal ones the
/// allow-list covers.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allowed: Arc<Vec<Cidr>>,
}

impl AddressPolicy {
    /// A policy allowing `allowed` besides public addresses.
    pub fn new(allowed: Vec<Cidr>) -> Self {
        Self {
            allowed: Arc::new(allowed),
        }
    }

    /// Whether a webhook may connect to `addr`.
    pub fn permits(&self, addr: IpAddr) -> bool {
        !is_internal(addr) || self.allowed.iter().any(|c| c.contains(addr))
    }

    /// The client's resolver under this policy.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            policy: self.clone(),
        })
    }
}

/// Why a URL may not be sent to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// Not an absolute http(s) URL with a host.
    #[error("not an http(s) URL with a host")]
    NotHttp,
    /// The host is (or resolved only to) addresses the policy refuses.
    #[error("{0} is a private, loopback or otherwise internal address")]
    Internal(IpAddr),
    /// The name resolved only to internal addresses (which are not shown:
    /// the delivery log must not map the internal network for its reader).
    #[error("{0} resolves only to private, loopback or otherwise internal addresses")]
    ResolvesInternal(String),
    /// The name did not resolve.
    #[error("{0} did not resolve to any address")]
    NoAddress(String),
}

/// Checks what can be checked before connecting: the scheme, and a host
/// that is an address literal.
pub fn check_url(policy: &AddressPolicy, url: &reqwest::Url) -> Result<(), Refused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused::NotHttp);
    }
    match url.host() {
        Some(url::Host::Ipv4(a)) => permit(policy, IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => permit(policy, IpAddr::V6(a)),
        Some(url::Host::Domain(_)) => Ok(()),
        None => Err(Refused::NotHttp),
    }
}

fn permit(policy: &AddressPolicy, addr: IpAddr) -> Result<(), Refused> {
    if policy.permits(addr) {
        Ok(())
    } else {
        Err(Refused::Internal(addr))
    }
}

/// Resolves with the system resolver and keeps only permitted addresses; a
/// name with none left fails to resolve, so the client never connects.
#[derive(Debug)]
pub struct GuardedResolver {
    policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let any = !found.is_empty();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if allowed.is_empty() {
                let refused = if any {
                    Refused::ResolvesInternal(host)
                } else {
                    Refused::NoAddress(host)
                };
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The allow-list setting: comma-separated CIDR blocks.
pub fn parse_allow_list(text: &str) -> Result<Vec<Cidr>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn internal_addresses_in_every_spelling_are_refused() {
        for text in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001::1",
            "100::1",
            "2002:7f00:1::",
        ] {
            assert!(is_internal(ip(text)), "{text} should be internal");
            assert!(!AddressPolicy::default().permits(ip(text)), "{text}");
        }
        for text in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip(text)), "{text} should be public");
        }
    }

    #[test]
    fn the_allow_list_admits_only_its_blocks() {
        let policy = AddressPolicy::new(parse_allow_list("127.0.0.0/8, ::1").expect("valid"));
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("::ffff:127.0.0.2")));
        assert!(policy.permits(ip("::1")));
        assert!(!policy.permits(ip("10.0.0.1")));
        assert!(!policy.permits(ip("169.254.169.254")));
        assert!(parse_allow_list("10.0.0.0/33").is_err());
        assert!(parse_allow_list("localhost").is_err());
        assert_eq!(parse_allow_list(" ").expect("empty"), vec![]);
    }

    #[test]
    fn address_literals_are_checked_before_connecting() {
        let policy = AddressPolicy::default();
        let url = |u: &str| reqwest::Url::parse(u).expect("a URL");
        assert_eq!(
            check_url(&policy, &url("http://127.0.0.1:9/hook")),
            Err(Refused::Internal(ip("127.0.0.1")))
        );
        assert_eq!(
            check_url(&policy, &url("http://[::ffff:7f00:1]/")),
            Err(Refused::Internal(ip("::ffff:7f00:1")))
        );
        // Decimal and hex spellings are normalised by the URL parser.
        assert!(check_url(&policy, &url("http://2130706433/")).is_err());
        assert!(check_url(&policy, &url("http://0x7f.1/")).is_err());
        assert_eq!(check_url(&policy, &url("https://example.com/")), Ok(()));
        assert_eq!(
            check_url(&policy, &url("ftp://example.com/")),
            Err(Refused::NotHttp)
        );
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_at_resolution() {
        let resolver = AddressPolicy::default().resolver();
        let name: Name = "localhost".parse().expect("a name");
        let Err(err) = resolver.resolve(name).await else {
            panic!("localhost resolved to a permitted address");
        };
        assert!(err.to_string().contains("internal"), "{err}");
        let allowed = AddressPolicy::new(parse_allow_list("127.0.0.0/8,::1").expect("valid"));
        let name: Name = "localhost".parse().expect("a name");
        let addrs: Vec<SocketAddr> = allowed
            .resolver()
            .resolve(name)
            .await
            .expect("allowed")
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
