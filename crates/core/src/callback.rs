//! Completion callbacks, the pure part: which callback URLs are acceptable, which addresses a
//! callback may be sent to, and the signature a receiver checks.
//!
//! **Signature.** A callback is a `POST` of the task object (JSON) with two headers:
//! `X-Statport-Timestamp: <seconds since the Unix epoch>` and
//! `X-Statport-Signature: sha256=<hex>`, where the hex is HMAC-SHA256, keyed with the tenant's
//! callback secret, over the bytes `<timestamp>.<body>`. A receiver recomputes it over the raw
//! body it got, compares in constant time, and rejects a timestamp more than a few minutes from
//! its own clock (a replay); [`verify`] does exactly that.
//!
//! **Addresses.** Only `http` and `https` URLs with a host are accepted. Loopback, link-local,
//! private (RFC 1918, unique-local IPv6), unspecified, multicast and broadcast addresses are
//! refused unless the operator allows them ([`AddressPolicy::allow_private`]), both when the URL
//! names an address and when a host name resolves to one (checked again at send time).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying the signing time, seconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "X-Statport-Timestamp";

/// The header carrying `sha256=<hex HMAC>`.
pub const SIGNATURE_HEADER: &str = "X-Statport-Signature";

/// The longest callback URL accepted, bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Which destination addresses callbacks may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    /// Also loopback, link-local and private addresses (tests, or receivers on the operator's
    /// own network); off by default.
    pub allow_private: bool,
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
    } else if ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64 {
        Some("a shared (carrier-grade NAT) address")
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
/// `sha256=` and the hex HMAC-SHA256 over `<timestamp>.<body>`.
pub fn sign(secret: &[u8], timestamp_secs: i64, body: &[u8]) -> String {
    let mut mac = keyed(secret);
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a receiver does: true when `signature` is [`sign`]`(secret, timestamp_secs, body)`
/// (compared in constant time) and `timestamp_secs` is within `tolerance_secs` of `now_secs`.
pub fn verify(
    secret: &[u8],
    timestamp_secs: i64,
    body: &[u8],
    signature: &str,
    now_secs: i64,
    tolerance_secs: i64,
) -> bool {
    if now_secs.abs_diff(timestamp_secs) > tolerance_secs.unsigned_abs() {
        return false;
    }
    let Some(hex_digest) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(bytes) = hex::decode(hex_digest) else {
        return false;
    };
    let mut mac = keyed(secret);
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
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
            "http://203.0.113.7:8080/cb?x=1",
            "https://[2001:db8::1]/cb",
        ] {
            let url = CallbackUrl::parse(ok, STRICT).expect(ok);
            assert_eq!(url.url, ok);
        }
        assert_eq!(
            CallbackUrl::parse("https://[2001:db8::1]:8443/cb", STRICT)
                .expect("v6")
                .host,
            "2001:db8::1"
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
        let signature = sign(b"tenant-secret", 1_795_000_000, body);
        assert!(signature.starts_with("sha256="));
        assert_eq!(signature.len(), 7 + 64);
        assert!(verify(
            b"tenant-secret",
            1_795_000_000,
            body,
            &signature,
            1_795_000_100,
            300
        ));
        // Another body, secret or timestamp does not verify.
        assert!(!verify(
            b"tenant-secret",
            1_795_000_000,
            b"{}",
            &signature,
            1_795_000_000,
            300
        ));
        assert!(!verify(
            b"other",
            1_795_000_000,
            body,
            &signature,
            1_795_000_000,
            300
        ));
        assert!(!verify(
            b"tenant-secret",
            1_795_000_001,
            body,
            &signature,
            1_795_000_001,
            300
        ));
        // Too old: a replay.
        assert!(!verify(
            b"tenant-secret",
            1_795_000_000,
            body,
            &signature,
            1_795_000_301,
            300
        ));
        // Malformed signatures.
        for bad in [
            "",
            "sha256=",
            "sha256=zz",
            "md5=00",
            &signature[..signature.len() - 1],
        ] {
            assert!(!verify(
                b"tenant-secret",
                1_795_000_000,
                body,
                bad,
                1_795_000_000,
                300
            ));
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Against the HMAC computed directly over the documented message "<timestamp>.<body>".
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
            format!("sha256={want}")
        );
    }
}
