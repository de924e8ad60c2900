//! Signed, expiring download links: HMAC-SHA256 over the tenant, the task, the file and the
//! expiry, so a link works without an API key until it expires and cannot be bent to another
//! file, task, tenant or time.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Tags the signed message so a signature made for anything else with the same secret can never
/// verify as a link.
const DOMAIN: &[u8] = b"statport-download-link-v1";

/// Signs and verifies download links with one secret.
///
/// The secret should be at least 32 random bytes, shared by every API process. `Debug` does not
/// show it.
#[derive(Clone)]
pub struct LinkSigner {
    /// The MAC already keyed with the secret (the secret itself is not kept).
    keyed: HmacSha256,
    ttl_ms: i64,
}

impl fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSigner")
            .field("secret", &"<redacted>")
            .field("ttl_ms", &self.ttl_ms)
            .finish()
    }
}

/// A signature and the time it stops being valid; both go into the link's query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLink {
    /// ms since epoch after which the link is refused.
    pub expires: i64,
    /// Lowercase hex HMAC-SHA256 (64 characters).
    pub signature: String,
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The signature is genuine but its time is over.
    #[error("the download link has expired")]
    Expired,
    /// The signature is malformed or does not match the link's fields.
    #[error("the download link signature is invalid")]
    BadSignature,
}

impl LinkSigner {
    /// A signer whose links live `ttl_secs` seconds.
    pub fn new(secret: Vec<u8>, ttl_secs: u64) -> Self {
        let keyed =
            HmacSha256::new_from_slice(&secret).expect("HMAC-SHA256 accepts keys of any length");
        let ttl_ms = i64::try_from(ttl_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        LinkSigner { keyed, ttl_ms }
    }

    /// Signs a link to `file_key` of the tenant's task, valid until `now_ms` plus the TTL.
    pub fn sign(&self, tenant: &str, task_id: &str, file_key: &str, now_ms: i64) -> SignedLink {
        let expires = now_ms.saturating_add(self.ttl_ms);
        let tag = self
            .mac(tenant, task_id, file_key, expires)
            .finalize()
            .into_bytes();
        SignedLink {
            expires,
            signature: hex::encode(tag),
        }
    }

    /// Checks a presented link: the signature must match all four fields (compared in constant
    /// time), then `now_ms` must be before `expires`. A bad signature is reported as such even
    /// when the time is also over, so a forger learns nothing from the answer.
    pub fn verify(
        &self,
        tenant: &str,
        task_id: &str,
        file_key: &str,
        expires: i64,
        signature: &str,
        now_ms: i64,
    ) -> Result<(), LinkError> {
        let presented = hex::decode(signature).map_err(|_| LinkError::BadSignature)?;
        self.mac(tenant, task_id, file_key, expires)
            .verify_slice(&presented)
            .map_err(|_| LinkError::BadSignature)?;
        if now_ms >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    /// The MAC over the link's fields, each length-prefixed so no field can borrow bytes from
    /// its neighbour.
    fn mac(&self, tenant: &str, task_id: &str, file_key: &str, expires: i64) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(DOMAIN);
        for field in [tenant, task_id, file_key] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac.update(&expires.to_be_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600_000;

    fn signer() -> LinkSigner {
        LinkSigner::new(b"0123456789abcdef0123456789abcdef".to_vec(), 600)
    }

    #[test]
    fn a_fresh_link_verifies_until_it_expires() {
        let s = signer();
        let link = s.sign("t1", "task1", "t1/task1.csv", NOW);
        assert_eq!(link.expires, NOW + 600_000);
        assert_eq!(link.signature.len(), 64);
        let verify = |now| {
            s.verify(
                "t1",
                "task1",
                "t1/task1.csv",
                link.expires,
                &link.signature,
                now,
            )
        };
        assert_eq!(verify(NOW), Ok(()));
        assert_eq!(verify(link.expires - 1), Ok(()));
        assert_eq!(verify(link.expires), Err(LinkError::Expired));
        assert_eq!(verify(link.expires + 1), Err(LinkError::Expired));
    }

    #[test]
    fn signatures_are_deterministic_and_accept_uppercase_hex() {
        let s = signer();
        let a = s.sign("t1", "task1", "k", NOW);
        assert_eq!(a, s.sign("t1", "task1", "k", NOW));
        let upper = a.signature.to_uppercase();
        assert_eq!(s.verify("t1", "task1", "k", a.expires, &upper, NOW), Ok(()));
    }

    #[test]
    fn every_field_is_bound() {
        let s = signer();
        let link = s.sign("t1", "task1", "k", NOW);
        let sig = link.signature.as_str();
        let bad = Err(LinkError::BadSignature);
        assert_eq!(s.verify("t2", "task1", "k", link.expires, sig, NOW), bad);
        assert_eq!(s.verify("t1", "task2", "k", link.expires, sig, NOW), bad);
        assert_eq!(s.verify("t1", "task1", "k2", link.expires, sig, NOW), bad);
        // Extending the expiry breaks the signature rather than buying time.
        assert_eq!(
            s.verify("t1", "task1", "k", link.expires + 1, sig, NOW),
            bad
        );
        // Expired and altered: the answer is about the signature.
        assert_eq!(
            s.verify("t1", "task1", "k", link.expires + 1, sig, link.expires + 5),
            bad
        );
    }

    #[test]
    fn fields_cannot_be_shifted_across_boundaries() {
        let s = signer();
        let link = s.sign("ab", "c", "d", NOW);
        let sig = link.signature.as_str();
        let bad = Err(LinkError::BadSignature);
        assert_eq!(s.verify("a", "bc", "d", link.expires, sig, NOW), bad);
        assert_eq!(s.verify("ab", "", "cd", link.expires, sig, NOW), bad);
    }

    #[test]
    fn malformed_or_foreign_signatures_are_rejected() {
        let s = signer();
        let link = s.sign("t1", "task1", "k", NOW);
        let bad = Err(LinkError::BadSignature);
        for sig in [
            "",
            "zz",
            &link.signature[..62],
            &format!("{}00", link.signature),
        ] {
            assert_eq!(s.verify("t1", "task1", "k", link.expires, sig, NOW), bad);
        }
        let other = LinkSigner::new(b"another secret of enough length!".to_vec(), 600);
        let forged = other.sign("t1", "task1", "k", NOW);
        assert_eq!(
            s.verify("t1", "task1", "k", forged.expires, &forged.signature, NOW),
            bad
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", LinkSigner::new(b"super-secret-value".to_vec(), 60));
        assert!(!shown.contains("super-secret-value"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn huge_ttl_saturates_instead_of_overflowing() {
        let s = LinkSigner::new(b"k".to_vec(), u64::MAX);
        assert_eq!(s.sign("t", "i", "k", NOW).expires, i64::MAX);
    }
}
