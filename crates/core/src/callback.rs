//! Completion callbacks, the pure part: which callback URLs are acceptable, which addresses a
//! callback may be sent to, and the signature a receiver checks.
//!
//! **Signature.** A callback is a `POST` of the task object (JSON) with one header,
//! `X-Statport-Signature: t=<unix seconds>,v1=<hex>`, where the hex is HMAC-SHA256, keyed with
//! the tenant's callback secret, over the bytes `<t>.<body>` (the API contract). A receiver
//! recomputes it over the raw body it got, compares in constant time, and refuses a `t` more
//! than five minutes ([`REPLAY_WINDOW_SECS`]) from its own clock (a replay); [`verify`] does
//! exactly that.
//!
//! **Addresses.** Only `http` and `https` URLs with a host are accepted. Loopback, link-local,
//! private (RFC 1918, unique-local IPv6), unspecified, multicast and broadcast addresses are
//! refused unless the operator allows them ([`AddressPolicy::allow_private`]), both when the URL
//! names an address and when a host name resolves to one (checked again at send time).
//!
//! **Who may ask.** Only a tenant with a callback secret may submit a `callback_url`
//! ([`CallbackSupport`], checked by the request validation), so no callback is ever unsigned.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "X-Statport-Signature";

/// The header naming the delivery: the same on every attempt of one task end, so a receiver
/// that must act once deduplicates on it (delivery is at least once).
pub const DELIVERY_HEADER: &str = "X-Statport-Delivery";

/// How far a signature's `t` may be from the receiver's clock before it is refused as a
/// replay: five minutes (the API contract).
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// The longest callback URL accepted, bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Which destination addresses callbacks may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    /// Also loopback, link-local and private addresses (tests, or receivers on the operator's
    /// own network); off by default.
    pub allow_private: bool,
}

/// What the validation of one tenant's request needs to know about callbacks: where they may
/// go, and whether the tenant has a callback secret to sign them with (without one, a
/// `callback_url` is refused with `StatPort.CallbackNotConfigured`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallbackSupport {
    /// The destinations callbacks may reach.
    pub policy: AddressPolicy,
    /// The tenant has a callback secret configured.
    pub signed: bool,
}

impl AddressPolicy {
    /// Why `ip` may not be called under this policy; `None` when it may.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        if self.allow_private {
            return None;
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => refusal_v4(v4),
            IpAddr::V6(v6) => refusal_v6(v6),
        }
    }
}

/// IPv4 blocks of the IANA special-purpose registry that are not globally reachable (and the
/// reserved 240.0.0.0/4), beyond those `std` names: (first address, prefix length).
const SPECIAL_V4: [([u8; 4], u8); 8] = [
    ([0, 0, 0, 0], 8),       // "this network"
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    ([240, 0, 0, 0], 4),     // reserved, and the broadcast address
];

/// IPv6 blocks inside global unicast (`2000::/3`) that are not globally reachable or that
/// carry another address a callback could be steered through: (first address, prefix length).
const SPECIAL_V6: [(u128, u8); 5] = [
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 23), // IETF protocol assignments, Teredo
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32), // documentation
    (0x2002_0000_0000_0000_0000_0000_0000_0000, 16), // 6to4
    (0x3fff_0000_0000_0000_0000_0000_0000_0000, 20), // documentation
    (0x5f00_0000_0000_0000_0000_0000_0000_0000, 16), // SRv6 SIDs
];

fn in_v4_block(ip: Ipv4Addr, (first, len): ([u8; 4], u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(first)) & mask
}

fn in_v6_block(ip: Ipv6Addr, (first, len): (u128, u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == first & mask
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_unspecified() {
        Some("the unspecified address")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("a multicast or broadcast address")
    } else if in_v4_block(ip, ([100, 64, 0, 0], 10)) {
        Some("a shared (carrier-grade NAT) address")
    } else if SPECIAL_V4.iter().any(|&block| in_v4_block(ip, block)) {
        Some("a reserved or special-purpose address")
    } else {
        None
    }
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("the unspecified address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if (first & 0xfe00) == 0xfc00 {
        Some("a unique-local (private) address")
    } else if (first & 0xffc0) == 0xfe80 {
        Some("a link-local address")
    } else if (first & 0xe000) != 0x2000 {
        // Outside global unicast: IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96` and
        // `64:ff9b:1::/48`, discard-only `100::/64`, site-local, and everything unassigned.
        Some("a reserved or special-purpose address")
    } else if SPECIAL_V6.iter().any(|&block| in_v6_block(ip, block)) {
        Some("a reserved or special-purpose address")
    } else {
        None
    }
}

/// A checked callback URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl {
    /// The URL as given (trimmed).
    pub url: String,
    /// The host part: a name, or an address (IPv6 without brackets).
    pub host: String,
}

impl CallbackUrl {
    /// Checks `text`: `http://` or `https://`, a host, no user info, at most
    /// [`MAX_URL_BYTES`]; a host that is an address must pass `policy`. A host name is checked
    /// against `policy` when the callback is sent (after resolving it).
    pub fn parse(text: &str, policy: AddressPolicy) -> Result<CallbackUrl, ApiError> {
        let url = text.trim();
        let invalid = |why: &str| ApiError::invalid(format!("the parameter 'callback_url' {why}"));
        if url.len() > MAX_URL_BYTES {
            return Err(invalid(&format!("must be at most {MAX_URL_BYTES} bytes")));
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| invalid("must be an http:// or https:// URL"))?;
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("must not contain spaces or control characters"));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(invalid("must not carry user information (user@host)"));
        }
        let host = if let Some(bracketed) = authority.strip_prefix('[') {
            bracketed
                .split_once(']')
                .map(|(h, _)| h)
                .ok_or_else(|| invalid("has an unclosed '[' in its host"))?
        } else {
            authority.split(':').next().unwrap_or_default()
        };
        if host.is_empty() {
            return Err(invalid("must name a host"));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            if let Some(why) = policy.refusal(ip) {
                return Err(invalid(&format!(
                    "points at {why} ({ip}), which callbacks may not reach"
                )));
            }
        } else if is_localhost(host) && !policy.allow_private {
            return Err(invalid(
                "points at localhost, which callbacks may not reach",
            ));
        }
        Ok(CallbackUrl {
            url: url.to_owned(),
            host: host.to_owned(),
        })
    }
}

/// True for `localhost` and names under `.localhost` (RFC 6761: they resolve to loopback).
fn is_localhost(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// The `X-Statport-Signature` value for `body` sent at `timestamp_secs` with `secret`:
/// `t=<timestamp>,v1=<hex HMAC-SHA256 over "<timestamp>.<body>">`.
pub fn sign(secret: &[u8], timestamp_secs: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp_secs},v1={}",
        hex::encode(mac(secret, timestamp_secs, body).finalize().into_bytes())
    )
}

/// What a receiver does with the `X-Statport-Signature` header `header` and the raw `body`:
/// true when the header holds one `t` within `tolerance_secs` of `now_secs` (older is a replay;
/// [`REPLAY_WINDOW_SECS`] is the contract's window) and a `v1` equal to the HMAC-SHA256 of
/// `<t>.<body>` with `secret`, compared in constant time. Unknown `key=value` parts are
/// ignored (room for future schemes); several `v1` parts pass when one matches.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> bool {
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return false;
        };
        match key {
            "t" => {
                let Ok(t) = value.parse::<i64>() else {
                    return false;
                };
                if timestamp.replace(t).is_some() {
                    return false;
                }
            }
            "v1" => match hex::decode(value) {
                Ok(bytes) => signatures.push(bytes),
                Err(_) => return false,
            },
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if now_secs.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
        return false;
    }
    signatures
        .iter()
        .any(|sig| mac(secret, timestamp, body).verify_slice(sig).is_ok())
}

/// The HMAC over `<timestamp>.<body>`.
fn mac(secret: &[u8], timestamp_secs: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = keyed(secret);
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn keyed(secret: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(secret).expect("HMAC-SHA256 accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: AddressPolicy = AddressPolicy {
        allow_private: false,
    };

    #[test]
    fn only_public_http_urls_pass_by_default() {
        for ok in [
            "https://hooks.example.com/statport",
            "http://93.184.215.14:8080/cb?x=1",
            "https://[2606:4700:4700::1111]/cb",
        ] {
            let url = CallbackUrl::parse(ok, STRICT).expect(ok);
            assert_eq!(url.url, ok);
        }
        assert_eq!(
            CallbackUrl::parse("https://[2606:4700:4700::1111]:8443/cb", STRICT)
                .expect("v6")
                .host,
            "2606:4700:4700::1111"
        );
        for (bad, says) in [
            ("ftp://example.com/x", "http:// or https://"),
            ("https:///nohost", "must name a host"),
            ("https://user:pw@example.com/", "user information"),
            ("http://127.0.0.1:9/", "loopback"),
            ("http://localhost/", "localhost"),
            ("http://10.1.2.3/", "private"),
            ("http://192.168.0.1/", "private"),
            ("http://172.16.5.4/", "private"),
            ("http://169.254.169.254/latest/meta-data", "link-local"),
            ("http://0.0.0.0/", "unspecified"),
            ("http://100.64.0.1/", "carrier-grade"),
            ("http://[::1]/", "loopback"),
            ("http://[fd00::1]/", "unique-local"),
            ("http://[fe80::1]/", "link-local"),
            ("http://[::ffff:127.0.0.1]/", "loopback"),
            ("http://[::1/", "unclosed"),
            ("https://exa mple.com/", "spaces"),
        ] {
            let err = CallbackUrl::parse(bad, STRICT).expect_err(bad);
            assert!(err.message.contains(says), "{bad}: {}", err.message);
            assert!(err.message.starts_with("the parameter 'callback_url'"));
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(CallbackUrl::parse(&long, STRICT).is_err());
    }

    /// Every non-global block of the IANA special-purpose registries (and the v6 space outside
    /// global unicast) is refused; their global neighbours pass.
    #[test]
    fn every_special_purpose_range_is_refused() {
        for refused in [
            "0.1.2.3",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "198.18.0.1",
            "198.19.255.254",
            "198.51.100.1",
            "203.0.113.1",
            "240.0.0.1",
            "255.255.255.254",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:c000:201::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "::10.0.0.1",
            "::8.8.8.8",
            "100::1",
            "fec0::1",
            "4000::1",
        ] {
            let ip: IpAddr = refused.parse().expect(refused);
            assert_eq!(
                STRICT.refusal(ip),
                Some("a reserved or special-purpose address"),
                "{refused}"
            );
        }
        for global in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "198.17.255.255",
            "198.20.0.1",
            "192.0.1.1",
            "223.255.255.254",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "2001:200::1",
            "2003::1",
        ] {
            let ip: IpAddr = global.parse().expect(global);
            assert_eq!(STRICT.refusal(ip), None, "{global}");
        }
        let open = AddressPolicy {
            allow_private: true,
        };
        assert_eq!(open.refusal("192.0.2.1".parse().expect("ip")), None);
    }

    #[test]
    fn the_operator_may_allow_private_addresses() {
        let open = AddressPolicy {
            allow_private: true,
        };
        for url in [
            "http://127.0.0.1:9/",
            "http://localhost:8080/",
            "http://10.0.0.1/",
        ] {
            assert!(CallbackUrl::parse(url, open).is_ok(), "{url}");
        }
        assert_eq!(open.refusal("::1".parse().expect("ip")), None);
        assert_eq!(
            STRICT.refusal("8.8.8.8".parse().expect("ip")),
            None,
            "a public address passes"
        );
    }

    #[test]
    fn a_signature_verifies_and_rejects_changes_and_replays() {
        let body = br#"{"task_id":"t","status":"success"}"#;
        let secret = b"tenant-secret";
        let header = sign(secret, 1_795_000_000, body);
        assert!(header.starts_with("t=1795000000,v1="), "{header}");
        assert_eq!(header.len(), "t=1795000000,v1=".len() + 64);
        let ok =
            |h: &str, b: &[u8], key: &[u8], now: i64| verify(key, h, b, now, REPLAY_WINDOW_SECS);
        assert!(ok(&header, body, secret, 1_795_000_100));
        assert!(
            ok(&header, body, secret, 1_795_000_300),
            "exactly five minutes old"
        );
        // Another body or secret does not verify; nor a changed timestamp.
        assert!(!ok(&header, b"{}", secret, 1_795_000_000));
        assert!(!ok(&header, body, b"other", 1_795_000_000));
        let moved = header.replace("t=1795000000", "t=1795000001");
        assert!(!ok(&moved, body, secret, 1_795_000_001));
        // Too old (a replay), or too far ahead.
        assert!(!ok(&header, body, secret, 1_795_000_301));
        assert!(!ok(&header, body, secret, 1_794_999_699));
        // Parts in another order, spaces, an unknown scheme and a second (rotated) v1 pass.
        let v1 = header.split_once(",v1=").expect("v1").1;
        let zeros = "0".repeat(64);
        for fine in [
            format!("v1={v1},t=1795000000"),
            format!("t=1795000000, v1={v1}"),
            format!("t=1795000000,v0=abc,v1={v1}"),
            format!("t=1795000000,v1={zeros},v1={v1}"),
        ] {
            assert!(ok(&fine, body, secret, 1_795_000_000), "{fine}");
        }
        // Malformed headers.
        for bad in [
            String::new(),
            "t=1795000000".to_owned(),
            format!("v1={v1}"),
            format!("t=x,v1={v1}"),
            format!("t=1795000000,t=1795000000,v1={v1}"),
            format!("t=1795000000,v1=zz{v1}"),
            format!("t=1795000000,v1={}", &v1[..63]),
            format!("t=1795000000,v1={}", &v1[..62]),
            format!("t=1795000000;v1={v1}"),
            format!("sha256={v1}"),
        ] {
            assert!(!ok(&bad, body, secret, 1_795_000_000), "{bad}");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // RFC 4231 test case 2 ("Jefe"), whose message we prefix with "0.": computed directly.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").expect("key");
        mac.update(b"0.what do ya want for nothing?");
        let want: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            sign(b"Jefe", 0, b"what do ya want for nothing?"),
            format!("t=0,v1={want}")
        );
        // The same value as docs/API.md's Python receiver computes
        // (hmac.new(b"Jefe", b"0." + body, hashlib.sha256).hexdigest()).
        assert_eq!(
            want,
            "37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
        // And the RFC's own vector, to pin the HMAC itself: over "what do ya want for nothing?".
        let mut rfc = HmacSha256::new_from_slice(b"Jefe").expect("key");
        rfc.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(rfc.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn request(url: &str) -> crate::ExportRequest {
        crate::ExportRequest::from_json(&serde_json::json!({
            "domain_name": "www.example.com",
            "start_time": 1_795_000_000_000_i64,
            "end_time": 1_795_003_600_000_i64,
            "interval": 300,
            "callback_url": url,
        }))
        .expect("typed")
    }

    fn limits(allow_private: bool, signed: bool) -> crate::RequestLimits {
        crate::RequestLimits {
            callbacks: CallbackSupport {
                policy: AddressPolicy { allow_private },
                signed,
            },
            ..crate::RequestLimits::default()
        }
    }

    #[test]
    fn submission_accepts_a_callback_only_under_the_policy_and_with_a_secret() {
        use crate::ErrorCode;
        // A public URL with a secret: stored as given.
        let c = request(" https://hooks.example.com/statport?x=1 ")
            .validate_with(&limits(false, true))
            .expect("accepted");
        assert_eq!(
            c.callback_url.as_deref(),
            Some("https://hooks.example.com/statport?x=1")
        );
        // No secret configured: refused with its own code, whatever the URL.
        for url in ["https://hooks.example.com/", "ftp://x"] {
            let err = request(url)
                .validate_with(&limits(true, false))
                .expect_err("no secret");
            assert_eq!(err.code, ErrorCode::CallbackNotConfigured);
            assert_eq!(err.code.http_status(), 400);
            assert!(err.message.contains("callback secret"), "{}", err.message);
        }
        // A private literal: refused unless allowed.
        let err = request("http://127.0.0.1:8081/cb")
            .validate_with(&limits(false, true))
            .expect_err("loopback refused");
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        assert!(err.message.contains("loopback"), "{}", err.message);
        let c = request("http://127.0.0.1:8081/cb")
            .validate_with(&limits(true, true))
            .expect("loopback allowed");
        assert_eq!(c.callback_url.as_deref(), Some("http://127.0.0.1:8081/cb"));
        // A bad scheme.
        let err = request("ftp://hooks.example.com/")
            .validate_with(&limits(true, true))
            .expect_err("ftp");
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        assert!(
            err.message.contains("http:// or https://"),
            "{}",
            err.message
        );
        // A host name is accepted here and checked when the callback is sent.
        assert!(request("https://internal.example/")
            .validate_with(&limits(false, true))
            .is_ok());
        // The default limits have no secret: callbacks are off.
        assert_eq!(
            request("https://hooks.example.com/")
                .validate()
                .expect_err("off")
                .code,
            ErrorCode::CallbackNotConfigured
        );
        // An empty callback_url is no callback.
        assert_eq!(
            request("  ")
                .validate_with(&limits(false, false))
                .expect("none")
                .callback_url,
            None
        );
    }
}
