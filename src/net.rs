//! URL and address checks shared by every outbound call (custom hosts, image URLs, redirects):
//! one place for the rule "what the gateway may connect to".
//!
//! Everything here works on the WHATWG-canonical URL (the `url` crate), the same parser the
//! Workers runtime's `fetch` uses, so what is checked is what is fetched: `http://2130706433`,
//! `http://127.1` and `http://0x7f.1` are all `127.0.0.1` here, as they are to `fetch`.
//! A leaf module: it imports nothing from the rest of the crate.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why a URL (or a trusted-host entry) was refused. The messages never repeat the URL, so
/// credentials in it are never echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("not a valid URL")]
    Invalid,
    /// Non-ASCII host labels are not mapped (Cargo.toml pins `idna_adapter` to its no-Unicode
    /// version), so such a host is refused rather than judged.
    #[error(
        "the host is not an ASCII domain name (write an internationalized name in its xn-- form)"
    )]
    NotAsciiHost,
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("URLs with a username or password are not allowed")]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error("a base URL may not have a query or fragment")]
    QueryOrFragment,
    #[error("a trusted host is scheme://host[:port], without a path")]
    Path,
    #[error("wildcards are not supported: list each host")]
    Wildcard,
}

/// Parses `raw` as the runtime's `fetch` would, and keeps it only if it is http(s) with a host
/// and without credentials.
pub fn parse_http_url(raw: &str) -> Result<Url, NetError> {
    let url = Url::parse(raw.trim()).map_err(|e| match e {
        url::ParseError::IdnaError => NetError::NotAsciiHost,
        _ => NetError::Invalid,
    })?;
    check_http_url(&url)?;
    Ok(url)
}

/// The rules of [`parse_http_url`] for a URL that was built another way (a redirect joined onto
/// the URL that answered it).
pub fn check_http_url(url: &Url) -> Result<(), NetError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(NetError::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(NetError::Credentials);
    }
    match url.host() {
        None => Err(NetError::NoHost),
        Some(Host::Domain(d)) if d.trim_end_matches('.').is_empty() => Err(NetError::NoHost),
        Some(_) => Ok(()),
    }
}

/// The URL's host is not a public unicast destination (see [`is_internal_host`]). A URL without
/// a host counts as internal: fail closed.
pub fn is_internal_url(url: &Url) -> bool {
    url.host().is_none_or(|h| is_internal_host(&h))
}

/// Loopback, private, link-local, metadata and every other special-purpose address, and the
/// names that mean them. Names that merely resolve to such an address (DNS rebinding) cannot be
/// seen here: a Worker has no resolver to ask.
pub fn is_internal_host<S: AsRef<str>>(host: &Host<S>) -> bool {
    match host {
        Host::Domain(d) => internal_name(d.as_ref()),
        Host::Ipv4(a) => internal_v4(*a),
        Host::Ipv6(a) => internal_v6(*a),
    }
}

/// Names reserved for, or conventionally used by, local networks. A public DNS resolver answers
/// none of them, so nothing legitimate is lost by refusing them; inside a network they reach
/// its own machines.
const INTERNAL_SUFFIXES: &[&str] = &[
    "localhost",   // RFC 6761: loopback
    "local",       // RFC 6762: mDNS, the link
    "internal",    // ICANN's private-use TLD; metadata.google.internal, *.ec2.internal
    "home.arpa",   // RFC 8375: home networks
    "localdomain", // the usual /etc/hosts alias of localhost
    // RFC 6762 appendix G: names private networks use in practice.
    "intranet",
    "private",
    "corp",
    "home",
    "lan",
];

fn internal_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    // A name without a dot is looked up through the resolver's search list (`metadata`,
    // `instance-data` on cloud VMs); no public API has one.
    if !name.contains('.') {
        return true;
    }
    INTERNAL_SUFFIXES.iter().any(|suffix| {
        name == *suffix
            || name
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

/// The IANA IPv4 Special-Purpose Address Registry, plus multicast and the reserved block: no
/// model API lives at any of these, and several are inside the network the gateway runs in.
const V4_REFUSED: &[(Ipv4Addr, u8)] = &[
    // "This network": connecting to 0.0.0.0 reaches the local host on Linux and macOS.
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8), // private (RFC 1918)
    // Shared address space (carrier-grade NAT): the provider's own network.
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8), // loopback
    // Link-local: 169.254.169.254 is the cloud metadata service.
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12), // private (RFC 1918)
    // IETF protocol assignments: DS-Lite, NAT64 discovery, PCP/TURN anycast; no HTTP APIs.
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 0, 2, 0), 24), // documentation (TEST-NET-1)
    // AS112 DNS sinks and AMT relays: anycast infrastructure that serves no HTTP API.
    (Ipv4Addr::new(192, 31, 196, 0), 24),
    (Ipv4Addr::new(192, 52, 193, 0), 24),
    (Ipv4Addr::new(192, 175, 48, 0), 24),
    // 6to4 relay anycast, deprecated (RFC 7526): whichever relay is nearest answers.
    (Ipv4Addr::new(192, 88, 99, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16), // private (RFC 1918)
    // Benchmarking: lab networks, often routed internally.
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation (TEST-NET-3)
    // Multicast: not a host to open a connection to.
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    // Reserved for future use, and the limited broadcast address 255.255.255.255.
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

fn internal_v4(ip: Ipv4Addr) -> bool {
    V4_REFUSED
        .iter()
        .any(|(net, len)| in_prefix(u32::from(ip).into(), u32::from(*net).into(), 32, *len))
}

/// The IANA IPv6 Special-Purpose Address Registry and the other blocks outside global unicast.
/// Addresses that carry an IPv4 address (mapped, NAT64, 6to4, Teredo) are judged by it first.
const V6_REFUSED: &[(Ipv6Addr, u8)] = &[
    // Unspecified, loopback, and IPv4-compatible (`::a.b.c.d`, deprecated by RFC 4291: no
    // network routes it, and some stacks turn it into the IPv4 address).
    (Ipv6Addr::UNSPECIFIED, 96),
    // NAT64 for local use (RFC 8215): a translator inside the operator's network.
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64), // discard-only (RFC 6666)
    // IETF protocol assignments: benchmarking, ORCHID identifiers, AMT, AS112, PCP/TURN anycast;
    // no HTTP APIs. Teredo (2001::/32) inside it is judged by its IPv4 addresses before this.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    // AS112 direct delegation: anycast DNS sinks.
    (Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0), 48),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation (RFC 9637)
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16), // SRv6 segment ids (RFC 9602)
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),  // unique local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), // site-local, deprecated
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),  // multicast
];

/// 2000::/3, the only block IANA allocates global unicast addresses from.
const GLOBAL_UNICAST: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4s) = embedded_v4(ip) {
        return v4s.iter().any(|v4| internal_v4(*v4));
    }
    let bits = u128::from(ip);
    V6_REFUSED
        .iter()
        .any(|(net, len)| in_prefix(bits, u128::from(*net), 128, *len))
        // Anything else outside 2000::/3 is unassigned: nothing legitimate lives there.
        || !in_prefix(bits, u128::from(GLOBAL_UNICAST.0), 128, GLOBAL_UNICAST.1)
}

/// The IPv4 addresses an IPv6 address leads to, for the forms whose traffic ends at them:
/// IPv4-mapped (`::ffff:a.b.c.d`, the IPv4 host itself), NAT64's well-known prefix
/// (`64:ff9b::a.b.c.d`, RFC 6052), 6to4 (`2002:AABB:CCDD::`, RFC 3056) and Teredo (server and
/// client, RFC 4380: the client's address is stored inverted).
fn embedded_v4(ip: Ipv6Addr) -> Option<Vec<Ipv4Addr>> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from(bits as u32);
    let seg = ip.segments();
    let prefix96 = bits >> 32;
    if prefix96 == 0xffff || prefix96 == u128::from(0x0064_ff9b_u32) << 64 {
        Some(vec![low32])
    } else if seg[0] == 0x2002 {
        Some(vec![Ipv4Addr::from((bits >> 80) as u32)])
    } else if seg[0] == 0x2001 && seg[1] == 0 {
        let server = Ipv4Addr::from((bits >> 64) as u32);
        let client = Ipv4Addr::from(!(bits as u32));
        Some(vec![server, client])
    } else {
        None
    }
}

/// `addr` is in `net/len`, both `width` bits wide.
fn in_prefix(addr: u128, net: u128, width: u32, len: u8) -> bool {
    let shift = width.saturating_sub(u32::from(len));
    addr.checked_shr(shift).unwrap_or(0) == net.checked_shr(shift).unwrap_or(0)
}

/// Hosts the operator lets callers name (var `TRUSTED_CUSTOM_HOSTS`, comma-separated), even with
/// catalog credentials and even when they are internal addresses. Each entry is matched on
/// scheme, host and port exactly, so trusting a host never sends credentials in the clear or to
/// another service on it:
/// - `host` or `host:port`: https only, port 443 unless given;
/// - `https://host[:port]`: the same, written out;
/// - `http://host[:port]`: plain http, to that port only (80 unless given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedHosts {
    entries: Vec<TrustedHost>,
    rejected: Vec<RejectedEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TrustedHost {
    scheme: String,
    host: Host<String>,
    port: u16,
}

/// An entry of `TRUSTED_CUSTOM_HOSTS` that was ignored, by position (1-based) only: the entry
/// itself may hold credentials and is never repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("TRUSTED_CUSTOM_HOSTS entry {position} is ignored: {reason}")]
pub struct RejectedEntry {
    pub position: usize,
    pub reason: NetError,
}

impl TrustedHosts {
    /// Parses the var. Entries that do not parse are left out and listed in
    /// [`TrustedHosts::rejected`] for the caller to log; empty entries are skipped.
    pub fn parse(list: &str) -> Self {
        let mut hosts = TrustedHosts::default();
        for (i, entry) in list.split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            match TrustedHost::parse(entry) {
                Ok(h) => hosts.entries.push(h),
                Err(reason) => hosts.rejected.push(RejectedEntry {
                    position: i + 1,
                    reason,
                }),
            }
        }
        hosts
    }

    /// Entries that were ignored.
    pub fn rejected(&self) -> &[RejectedEntry] {
        &self.rejected
    }

    /// `url`'s scheme, host and port are exactly one entry's.
    pub fn allows(&self, url: &Url) -> bool {
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return false;
        };
        let host = comparable(host.to_owned());
        self.entries
            .iter()
            .any(|e| e.scheme == url.scheme() && e.host == host && e.port == port)
    }
}

impl TrustedHost {
    fn parse(entry: &str) -> Result<Self, NetError> {
        if entry.contains('*') {
            return Err(NetError::Wildcard);
        }
        let url = if entry.contains("://") {
            parse_http_url(entry)?
        } else {
            parse_http_url(&format!("https://{entry}"))?
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(NetError::QueryOrFragment);
        }
        if url.path() != "/" {
            return Err(NetError::Path);
        }
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return Err(NetError::NoHost);
        };
        Ok(TrustedHost {
            scheme: url.scheme().to_owned(),
            host: comparable(host.to_owned()),
            port,
        })
    }
}

/// `example.com.` and `example.com` are one DNS name.
fn comparable(host: Host<String>) -> Host<String> {
    match host {
        Host::Domain(d) => Host::Domain(d.trim_end_matches('.').to_ascii_lowercase()),
        other => other,
    }
}

/// A validated upstream base URL: `scheme://host[:port][/prefix]`, no trailing slash, in its
/// WHATWG-canonical form (the form `fetch` uses), so the host the checks saw is the host that is
/// fetched: `http://2130706433:9300` is kept as `http://127.0.0.1:9300`.
#[derive(Debug, Clone)]
pub struct BaseUrl {
    text: String,
    url: url::Url,
}

impl PartialEq for BaseUrl {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for BaseUrl {}

impl BaseUrl {
    pub fn from_url(url: url::Url) -> Self {
        BaseUrl {
            text: url.as_str().trim_end_matches('/').to_owned(),
            url,
        }
    }

    /// A custom host (`x-portkey-custom-host` or a record's `custom_host`). A bare host gets
    /// `https://`. Only http(s) with a host; no query, fragment or credentials.
    pub fn custom(raw: &str) -> crate::error::Result<Self> {
        let raw = raw.trim();
        let url = if raw.contains("://") {
            parse_http_url(raw)
        } else {
            parse_http_url(&format!("https://{raw}"))
        }
        .and_then(|url| {
            if url.query().is_some() || url.fragment().is_some() {
                Err(NetError::QueryOrFragment)
            } else {
                Ok(url)
            }
        })
        .map_err(|why| {
            crate::error::GatewayError::invalid_param(
                "x-portkey-custom-host",
                format!("custom host must be an http(s) URL like https://bedrock-runtime.us-gov-west-1.amazonaws.com ({why})"),
            )
        })?;
        Ok(Self::from_url(url))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URL, for host checks.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// `host[:port]` of this base URL (the port only when it is not the scheme's default).
    pub fn authority(&self) -> &str {
        &self.url[url::Position::BeforeHost..url::Position::AfterPort]
    }

    /// The host without port or IPv6 brackets, lowercased.
    pub fn host(&self) -> String {
        match self.url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal(raw: &str) -> bool {
        is_internal_url(&parse_http_url(raw).unwrap_or_else(|e| panic!("{raw}: {e}")))
    }

    #[test]
    fn loopback_in_every_spelling_fetch_accepts() {
        for raw in [
            "http://127.0.0.1:9300",
            "http://2130706433:9300",
            "http://127.1:9300",
            "http://0x7f.1:9300",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0177.1/",
            "http://127.0.0.1./",
            "http://127.000.000.001/",
            "http://%31%32%37.0.0.1/",
            "http://[::1]/",
            "http://[0:0:0:0:0:0:0:1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[0:0:0:0:0:ffff:127.0.0.1]/",
            "http://[::127.0.0.1]/",
            "http://[::7f00:1]/",
            "http://[64:ff9b::127.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://a.b.localhost/",
            "http://0/",
            "http://0.0.0.0/",
        ] {
            assert!(internal(raw), "{raw}");
        }
    }

    #[test]
    fn non_ascii_hosts_are_refused_not_mapped() {
        // `fetch` maps these to ASCII (fullwidth digits and letters to 127.0.0.1 and localhost);
        // here they are refused before any check, so no spelling reaches an internal address.
        for raw in [
            "https://bücher.example/",
            "https://例え.テスト/v1",
            "http://１２７.０.０.１/",
            "http://ｌｏｃａｌｈｏｓｔ/",
            "http://%EF%BC%91%EF%BC%92%EF%BC%97.0.0.1/",
            "http://a.b.ｌｏｃａｌｈｏｓｔ/",
        ] {
            assert_eq!(parse_http_url(raw), Err(NetError::NotAsciiHost), "{raw}");
        }
        let trusted = TrustedHosts::parse("https://bücher.example");
        assert_eq!(trusted.rejected()[0].reason, NetError::NotAsciiHost);
        // The punycode form is an ordinary ASCII name.
        let url = parse_http_url("https://xn--bcher-kva.example/").unwrap();
        assert_eq!(url.host_str(), Some("xn--bcher-kva.example"));
        assert!(!is_internal_url(&url));
        // Non-ASCII in the path or query is fine: it is percent-encoded.
        assert_eq!(
            parse_http_url("https://example.com/bücher?q=ü")
                .unwrap()
                .as_str(),
            "https://example.com/b%C3%BCcher?q=%C3%BC"
        );
    }

    #[test]
    fn canonical_form_is_what_is_fetched() {
        for (raw, canonical) in [
            ("http://2130706433:9300", "http://127.0.0.1:9300/"),
            ("http://127.1:9300", "http://127.0.0.1:9300/"),
            ("http://0x7f.1:9300", "http://127.0.0.1:9300/"),
            ("http://0177.0.0.1", "http://127.0.0.1/"),
            ("http://[::127.0.0.1]", "http://[::7f00:1]/"),
            ("http://[::ffff:127.0.0.1]", "http://[::ffff:7f00:1]/"),
            ("HTTPS://Example.COM:443/a/../b", "https://example.com/b"),
        ] {
            assert_eq!(parse_http_url(raw).unwrap().as_str(), canonical, "{raw}");
        }
    }

    #[test]
    fn ipv4_special_purpose_ranges() {
        // (first address, last address) of every refused range.
        let refused = [
            ("0.0.0.0", "0.255.255.255"),
            ("10.0.0.0", "10.255.255.255"),
            ("100.64.0.0", "100.127.255.255"),
            ("127.0.0.0", "127.255.255.255"),
            ("169.254.0.0", "169.254.255.255"),
            ("172.16.0.0", "172.31.255.255"),
            ("192.0.0.0", "192.0.0.255"),
            ("192.0.2.0", "192.0.2.255"),
            ("192.31.196.0", "192.31.196.255"),
            ("192.52.193.0", "192.52.193.255"),
            ("192.88.99.0", "192.88.99.255"),
            ("192.168.0.0", "192.168.255.255"),
            ("192.175.48.0", "192.175.48.255"),
            ("198.18.0.0", "198.19.255.255"),
            ("198.51.100.0", "198.51.100.255"),
            ("203.0.113.0", "203.0.113.255"),
            ("224.0.0.0", "239.255.255.255"),
            ("240.0.0.0", "255.255.255.255"),
        ];
        for (first, last) in refused {
            for ip in [first, last] {
                let ip: Ipv4Addr = ip.parse().unwrap();
                assert!(internal_v4(ip), "{ip}");
                assert!(internal(&format!("http://{ip}/")), "{ip}");
            }
        }
        // Just outside each range, and ordinary public addresses.
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "203.0.112.255",
            "223.255.255.255",
        ] {
            let ip: Ipv4Addr = ip.parse().unwrap();
            assert!(!internal_v4(ip), "{ip}");
            assert!(!internal(&format!("http://{ip}/")), "{ip}");
        }
    }

    #[test]
    fn ipv6_special_purpose_ranges() {
        for ip in [
            "::",
            "::1",
            "::8.8.8.8",       // IPv4-compatible, deprecated: refused whatever it embeds
            "::ffff:10.0.0.1", // IPv4-mapped, private
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1", // NAT64 to 10.0.0.1
            "64:ff9b::169.254.169.254",
            "64:ff9b:1::8.8.8.8", // local-use NAT64
            "100::",
            "100::ffff:ffff:ffff:ffff",
            "2001:2::1",        // benchmarking
            "2001:10::1",       // ORCHID
            "2001:3::1",        // AMT
            "2001:1::1",        // PCP anycast
            "2001:1ff:ffff::1", // end of 2001::/23
            "2001:db8::1",
            "2001:db8:ffff::1",
            "2002:a00:1::1",    // 6to4 of 10.0.0.1
            "2002:7f00:1::",    // 6to4 of 127.0.0.1
            "2002:c0a8:101::1", // 6to4 of 192.168.1.1
            // Teredo: server 8.8.8.8, client 127.0.0.1 (stored inverted: 80ff:fffe).
            "2001:0:808:808::80ff:fffe",
            // Teredo: server 10.0.0.1, client 8.8.8.8 (f7f7:f7f7).
            "2001:0:a00:1::f7f7:f7f7",
            "2620:4f:8000::1",
            "3fff::1",
            "3fff:fff::1",
            "5f00::1",
            "fc00::1",
            "fd00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "4000::1", // outside 2000::/3: unassigned
            "8000::1",
            "e000::1",
        ] {
            let ip: Ipv6Addr = ip.parse().unwrap();
            assert!(internal_v6(ip), "{ip}");
            assert!(internal(&format!("http://[{ip}]/")), "{ip}");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",            // mapped public v4 is that v4
            "64:ff9b::8.8.8.8",          // NAT64 to a public v4
            "2002:808:808::1",           // 6to4 of 8.8.8.8
            "2001:0:808:808::f7f7:f7f7", // Teredo: both ends public
            "2001:200::1",               // just past 2001::/23
            "2001:db9::1",
            "2620:4f:8001::1",
            "3fff:1000::1",
            "2000::1",
            "3ffe::1",
        ] {
            let ip: Ipv6Addr = ip.parse().unwrap();
            assert!(!internal_v6(ip), "{ip}");
            assert!(!internal(&format!("http://[{ip}]/")), "{ip}");
        }
    }

    #[test]
    fn internal_names() {
        for raw in [
            "http://localhost/",
            "http://app.localhost:8080/",
            "http://metadata.google.internal/",
            "http://METADATA.GOOGLE.INTERNAL./",
            "http://ip-10-0-0-1.ec2.internal/",
            "http://printer.local/",
            "http://nas.home.arpa/",
            "http://localhost.localdomain/",
            "http://git.corp/",
            "http://metadata/",
            "http://instance-data./",
        ] {
            assert!(internal(raw), "{raw}");
        }
        for raw in [
            "https://bedrock-runtime.us-east-1.amazonaws.com/",
            "https://bedrock-runtime.us-east-1.amazonaws.com./",
            "https://notlocalhost.com/",
            "https://localhost.example.com/",
            "https://internal.example.com/",
            "https://example.local.com/",
        ] {
            assert!(!internal(raw), "{raw}");
        }
    }

    #[test]
    fn bare_hosts_parse_like_urls() {
        let host = |s: &str| Host::parse(s).unwrap();
        assert!(is_internal_host(&host("2130706433")));
        assert!(is_internal_host(&host("[::ffff:7f00:1]")));
        assert!(!is_internal_host(&host("example.com")));
        assert!(!is_internal_host(&Host::<&str>::Ipv4(Ipv4Addr::new(
            8, 8, 8, 8
        ))));
    }

    #[test]
    fn only_http_urls_with_a_host_and_no_credentials() {
        for (raw, err) in [
            ("ftp://example.com/", NetError::Scheme),
            ("file:///etc/passwd", NetError::Scheme),
            ("data:text/plain,x", NetError::Scheme),
            ("javascript:alert(1)", NetError::Scheme),
            ("https://user:secret-pw@example.com/", NetError::Credentials),
            ("https://user@example.com/", NetError::Credentials),
            ("https://:secret-pw@example.com/", NetError::Credentials),
            ("example.com", NetError::Invalid),
            ("https://", NetError::Invalid),
            ("http://[::1/", NetError::Invalid),
            ("http://256.0.0.1/", NetError::Invalid),
            ("", NetError::Invalid),
        ] {
            assert_eq!(parse_http_url(raw), Err(err), "{raw}");
            assert!(!err.to_string().contains("secret-pw"));
        }
        assert!(parse_http_url(" https://example.com/x?y#z ").is_ok());
    }

    #[test]
    fn trusted_hosts_match_scheme_host_and_port() {
        let t = TrustedHosts::parse(
            "http://127.0.0.1:8788, vpce-1.example.com, proxy.example.com:8443, https://GW.Example.com., http://plain.example.com",
        );
        assert!(t.rejected().is_empty());
        let allows = |raw: &str| t.allows(&parse_http_url(raw).unwrap());
        for raw in [
            "http://127.0.0.1:8788/",
            "http://2130706433:8788/",
            "http://127.1:8788/x",
            "http://0x7f.1:8788",
            "https://vpce-1.example.com/",
            "https://vpce-1.example.com:443/",
            "https://VPCE-1.Example.COM./",
            "https://proxy.example.com:8443/",
            "https://gw.example.com/",
            "https://gw.example.com./",
            "http://plain.example.com/",
            "http://plain.example.com:80/",
        ] {
            assert!(allows(raw), "{raw}");
        }
        for raw in [
            "https://127.0.0.1:8788/", // scheme
            "http://127.0.0.1:8789/",  // port
            "http://127.0.0.1/",       // default port is not the listed one
            "http://127.0.0.2:8788/",
            "http://vpce-1.example.com/", // bare entry means https only
            "https://vpce-1.example.com:8443/",
            "https://proxy.example.com/",
            "http://proxy.example.com:8443/",
            "https://plain.example.com/",
            "https://sub.vpce-1.example.com/",
        ] {
            assert!(!allows(raw), "{raw}");
        }
        assert!(!TrustedHosts::default().allows(&parse_http_url("https://x.com").unwrap()));
    }

    #[test]
    fn trusted_hosts_ipv6_and_default_ports() {
        let t = TrustedHosts::parse("http://[::1]:8788,https://[fd00::1],https://10.0.0.1:443");
        let allows = |raw: &str| t.allows(&parse_http_url(raw).unwrap());
        assert!(allows("http://[0:0:0:0:0:0:0:1]:8788/"));
        assert!(allows("https://[fd00:0::1]:443/"));
        assert!(allows("https://10.0.0.1/"));
        assert!(allows("https://167772161/"));
        assert!(!allows("http://[::1]:8787/"));
        assert!(!allows("http://[fd00::1]/"));
    }

    #[test]
    fn bad_trusted_entries_are_reported_by_position_only() {
        let t = TrustedHosts::parse(
            " , ok.example.com,ftp://x.example.com,https://user:secret-pw@x.example.com,*.example.com,https://x.example.com/v1,https://x.example.com/?a,http://[::1,",
        );
        assert!(t.allows(&parse_http_url("https://ok.example.com").unwrap()));
        let got: Vec<(usize, NetError)> = t
            .rejected()
            .iter()
            .map(|r| (r.position, r.reason))
            .collect();
        assert_eq!(
            got,
            [
                (3, NetError::Scheme),
                (4, NetError::Credentials),
                (5, NetError::Wildcard),
                (6, NetError::Path),
                (7, NetError::QueryOrFragment),
                (8, NetError::Invalid),
            ]
        );
        for r in t.rejected() {
            assert!(!r.to_string().contains("secret-pw"), "{r}");
        }
        assert_eq!(
            t.rejected()[1].to_string(),
            "TRUSTED_CUSTOM_HOSTS entry 4 is ignored: URLs with a username or password are not allowed"
        );
    }
}
