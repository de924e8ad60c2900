//! Signed, expiring download links: HMAC-SHA256 over the tenant, the task and the expiry, so a
//! link works without an API key until it expires and cannot be bent to another task, tenant or
//! time. The link names the key that signed it (`kid`), so a process can tell a link signed with
//! a key it has not loaded yet (it reloads its keys, at most once a second) from a forgery (which
//! it refuses at once), and the check needs nothing but the link: a download reads no record
//! before its signature holds.
//!
//! Where the keys come from:
//! - a configured secret ([`LinkSigner::new`]): one key for good, the same in every process
//!   configured with it;
//! - a [`LinkKeySource`] ([`LinkSigner::from_source`]): the deployment's shared, rotating keys
//!   (the binary keeps them in the task store); the signer holds the current key, which signs,
//!   and the previous one, which still verifies until the links it signed have expired.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Tags the signed message so a signature made for anything else with the same secret can never
/// verify as a link.
const DOMAIN: &[u8] = b"statport-download-link-v2";

/// Tags the hash a key's id is cut from, so the id says nothing else about the secret.
const KEY_ID_DOMAIN: &[u8] = b"statport-link-key-id-v1";

/// The shortest secret a link key may have: 32 bytes, the HMAC-SHA256 block of security.
pub const MIN_SECRET_BYTES: usize = 32;

/// The shortest time between two reloads caused by links naming an unknown key, ms: a flood of
/// forged key ids costs the store at most one read a second per process.
pub const RELOAD_ON_UNKNOWN_KEY_MS: i64 = 1_000;

/// One signing key: its public id and the MAC keyed with its secret (the secret itself is not
/// kept).
#[derive(Clone)]
struct Key {
    id: String,
    keyed: HmacSha256,
}

impl Key {
    fn new(secret: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(secret)
            .finalize();
        Key {
            id: hex::encode(&digest[..8]),
            keyed: HmacSha256::new_from_slice(secret)
                .expect("HMAC-SHA256 accepts keys of any length"),
        }
    }
}

/// The keys one signer holds at a time: the current one, which signs, and possibly a retired
/// one, which still verifies until `accepted_until_ms`.
#[derive(Clone)]
pub struct LinkKeySet {
    current: Key,
    previous: Option<(Key, i64)>,
}

impl fmt::Debug for LinkKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkKeySet")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.as_ref().map(|(k, until)| (&k.id, until)),
            )
            .finish()
    }
}

impl LinkKeySet {
    /// The keys of `current`'s secret, plus a retired secret accepted until the given time (ms).
    pub fn new(current: &[u8], previous: Option<(&[u8], i64)>) -> Self {
        LinkKeySet {
            current: Key::new(current),
            previous: previous.map(|(secret, until)| (Key::new(secret), until)),
        }
    }

    /// The id links signed now carry (`kid`).
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// The key named `id` if it may verify at `now_ms`.
    fn key(&self, id: &str, now_ms: i64) -> Option<&Key> {
        if self.current.id == id {
            return Some(&self.current);
        }
        self.previous
            .as_ref()
            .filter(|(key, until)| key.id == id && now_ms < *until)
            .map(|(key, _)| key)
    }
}

/// Where a signer loads the deployment's keys from (the binary: the task store, with rotation).
#[async_trait]
pub trait LinkKeySource: Send + Sync + fmt::Debug {
    /// The keys to sign and verify with at `now_ms` (rotating them when due). The error is a
    /// sentence for the log.
    async fn load(&self, now_ms: i64) -> Result<LinkKeySet, String>;
}

/// Signs and verifies download links.
///
/// `Debug` shows key ids, never a secret.
pub struct LinkSigner {
    ttl_ms: i64,
    keys: RwLock<Option<Arc<LinkKeySet>>>,
    source: Option<Arc<dyn LinkKeySource>>,
    /// When the last reload for an unknown key id was tried, ms.
    last_unknown_reload_ms: AtomicI64,
}

impl fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSigner")
            .field("keys", &self.keys())
            .field("source", &self.source)
            .field("ttl_ms", &self.ttl_ms)
            .finish()
    }
}

/// A signature and the time it stops being valid; all three go into the link's query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLink {
    /// ms since epoch after which the link is refused.
    pub expires: i64,
    /// The id of the key that signed it (16 hex characters).
    pub key_id: String,
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
    /// The link names a key this signer does not hold (a newer key it has not loaded, or one
    /// retired too long ago, or none at all).
    #[error("the download link names an unknown key")]
    UnknownKey,
}

impl LinkSigner {
    /// A signer whose links live `ttl_secs` seconds, with one key for good: the configured
    /// secret (at least [`MIN_SECRET_BYTES`]; the configuration refuses shorter ones).
    pub fn new(secret: Vec<u8>, ttl_secs: u64) -> Self {
        Self::with(Some(LinkKeySet::new(&secret, None)), None, ttl_secs)
    }

    /// A signer whose links live `ttl_secs` seconds, with the keys of `source`: none until the
    /// first [`LinkSigner::reload`] (or [`LinkSigner::ensure_loaded`]).
    pub fn from_source(source: Arc<dyn LinkKeySource>, ttl_secs: u64) -> Self {
        Self::with(None, Some(source), ttl_secs)
    }

    fn with(
        keys: Option<LinkKeySet>,
        source: Option<Arc<dyn LinkKeySource>>,
        ttl_secs: u64,
    ) -> Self {
        let ttl_ms = i64::try_from(ttl_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        LinkSigner {
            ttl_ms,
            keys: RwLock::new(keys.map(Arc::new)),
            source,
            last_unknown_reload_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// How long a link lives, ms.
    pub fn ttl_ms(&self) -> i64 {
        self.ttl_ms
    }

    /// The keys held now, if any.
    pub fn keys(&self) -> Option<Arc<LinkKeySet>> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Loads the keys from the source again (rotating them when due); a signer with a
    /// configured secret has nothing to load. On an error the keys held stay in use.
    pub async fn reload(&self, now_ms: i64) -> Result<(), String> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        let keys = source.load(now_ms).await?;
        *self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(keys));
        Ok(())
    }

    /// Loads the keys when none are held yet (the first link of a process that has not
    /// reloaded); true when keys are held afterwards.
    pub async fn ensure_loaded(&self, now_ms: i64) -> bool {
        if self.keys().is_some() {
            return true;
        }
        if let Err(e) = self.reload(now_ms).await {
            tracing::warn!(error = %e, "the download link keys could not be loaded");
        }
        self.keys().is_some()
    }

    /// Signs a link to the tenant's task, valid until `now_ms` plus the TTL; `None` while no
    /// key is loaded.
    pub fn sign(&self, tenant: &str, task_id: &str, now_ms: i64) -> Option<SignedLink> {
        let keys = self.keys()?;
        let expires = now_ms.saturating_add(self.ttl_ms);
        let tag = mac(&keys.current, tenant, task_id, expires)
            .finalize()
            .into_bytes();
        Some(SignedLink {
            expires,
            key_id: keys.current.id.clone(),
            signature: hex::encode(tag),
        })
    }

    /// Checks a presented link with the keys held: the key it names must be held (and, when
    /// retired, still accepted), the signature must match (compared in constant time), then
    /// `now_ms` must be before `expires`. A bad signature is reported as such even when the time
    /// is also over, so a forger learns nothing from the answer.
    pub fn verify(
        &self,
        tenant: &str,
        task_id: &str,
        link: &PresentedLink<'_>,
        now_ms: i64,
    ) -> Result<(), LinkError> {
        let keys = self.keys().ok_or(LinkError::UnknownKey)?;
        let key = keys.key(link.key_id, now_ms).ok_or(LinkError::UnknownKey)?;
        let presented = hex::decode(link.signature).map_err(|_| LinkError::BadSignature)?;
        mac(key, tenant, task_id, link.expires)
            .verify_slice(&presented)
            .map_err(|_| LinkError::BadSignature)?;
        if now_ms >= link.expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    /// [`LinkSigner::verify`], reloading the keys once when the link names a key not held (a
    /// rotation another process made), at most once per [`RELOAD_ON_UNKNOWN_KEY_MS`]. An
    /// unknown key that stays unknown is a bad signature.
    pub async fn verify_reloading(
        &self,
        tenant: &str,
        task_id: &str,
        link: &PresentedLink<'_>,
        now_ms: i64,
    ) -> Result<(), LinkError> {
        match self.verify(tenant, task_id, link, now_ms) {
            Err(LinkError::UnknownKey) if self.source.is_some() => {}
            Err(LinkError::UnknownKey) => return Err(LinkError::BadSignature),
            other => return other,
        }
        let last = self.last_unknown_reload_ms.load(Ordering::Acquire);
        let due = now_ms.saturating_sub(last) >= RELOAD_ON_UNKNOWN_KEY_MS;
        if due
            && self
                .last_unknown_reload_ms
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            if let Err(e) = self.reload(now_ms).await {
                tracing::warn!(error = %e, "the download link keys could not be reloaded");
            }
        }
        match self.verify(tenant, task_id, link, now_ms) {
            Err(LinkError::UnknownKey) => Err(LinkError::BadSignature),
            other => other,
        }
    }
}

/// What a client presented: the link's query parameters.
#[derive(Debug, Clone, Copy)]
pub struct PresentedLink<'a> {
    /// `expires`, ms since epoch.
    pub expires: i64,
    /// `kid`, the id of the key that signed it.
    pub key_id: &'a str,
    /// `signature`, hex.
    pub signature: &'a str,
}

impl<'a> From<&'a SignedLink> for PresentedLink<'a> {
    fn from(link: &'a SignedLink) -> Self {
        PresentedLink {
            expires: link.expires,
            key_id: &link.key_id,
            signature: &link.signature,
        }
    }
}

/// The MAC over the link's fields, each length-prefixed so no field can borrow bytes from its
/// neighbour.
fn mac(key: &Key, tenant: &str, task_id: &str, expires: i64) -> HmacSha256 {
    let mut mac = key.keyed.clone();
    mac.update(DOMAIN);
    for field in [tenant, task_id] {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field.as_bytes());
    }
    mac.update(&expires.to_be_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600_000;
    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn signer() -> LinkSigner {
        LinkSigner::new(SECRET.to_vec(), 600)
    }

    fn presented<'a>(link: &'a SignedLink, signature: &'a str, expires: i64) -> PresentedLink<'a> {
        PresentedLink {
            expires,
            key_id: &link.key_id,
            signature,
        }
    }

    #[test]
    fn a_fresh_link_verifies_until_it_expires() {
        let s = signer();
        let link = s.sign("t1", "task1", NOW).expect("a key");
        assert_eq!(link.expires, NOW + 600_000);
        assert_eq!(link.signature.len(), 64);
        assert_eq!(link.key_id.len(), 16);
        let verify = |now| s.verify("t1", "task1", &(&link).into(), now);
        assert_eq!(verify(NOW), Ok(()));
        assert_eq!(verify(link.expires - 1), Ok(()));
        assert_eq!(verify(link.expires), Err(LinkError::Expired));
        assert_eq!(verify(link.expires + 1), Err(LinkError::Expired));
    }

    #[test]
    fn signatures_are_deterministic_and_accept_uppercase_hex() {
        let s = signer();
        let a = s.sign("t1", "task1", NOW).expect("a key");
        assert_eq!(Some(&a), s.sign("t1", "task1", NOW).as_ref());
        let upper = a.signature.to_uppercase();
        assert_eq!(
            s.verify("t1", "task1", &presented(&a, &upper, a.expires), NOW),
            Ok(())
        );
    }

    #[test]
    fn every_field_is_bound() {
        let s = signer();
        let link = s.sign("t1", "task1", NOW).expect("a key");
        let p = PresentedLink::from(&link);
        let bad = Err(LinkError::BadSignature);
        assert_eq!(s.verify("t2", "task1", &p, NOW), bad);
        assert_eq!(s.verify("t1", "task2", &p, NOW), bad);
        // Extending the expiry breaks the signature rather than buying time.
        let later = presented(&link, &link.signature, link.expires + 1);
        assert_eq!(s.verify("t1", "task1", &later, NOW), bad);
        // Expired and altered: the answer is about the signature.
        assert_eq!(s.verify("t1", "task1", &later, link.expires + 5), bad);
    }

    #[test]
    fn fields_cannot_be_shifted_across_boundaries() {
        let s = signer();
        let link = s.sign("ab", "c", NOW).expect("a key");
        let bad = Err(LinkError::BadSignature);
        assert_eq!(s.verify("a", "bc", &(&link).into(), NOW), bad);
    }

    #[test]
    fn malformed_or_foreign_signatures_are_rejected() {
        let s = signer();
        let link = s.sign("t1", "task1", NOW).expect("a key");
        let bad = Err(LinkError::BadSignature);
        let long = format!("{}00", link.signature);
        for sig in ["", "zz", &link.signature[..62], &long] {
            assert_eq!(
                s.verify("t1", "task1", &presented(&link, sig, link.expires), NOW),
                bad
            );
        }
        // Another secret: another key id, which this signer does not hold.
        let other = LinkSigner::new(b"another secret of enough length!".to_vec(), 600);
        let forged = other.sign("t1", "task1", NOW).expect("a key");
        assert_ne!(forged.key_id, link.key_id);
        assert_eq!(
            s.verify("t1", "task1", &(&forged).into(), NOW),
            Err(LinkError::UnknownKey)
        );
        // Another secret's signature under this signer's key id.
        let borrowed = presented(&link, &forged.signature, forged.expires);
        assert_eq!(s.verify("t1", "task1", &borrowed, NOW), bad);
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", LinkSigner::new(b"super-secret-value".to_vec(), 60));
        assert!(!shown.contains("super-secret-value"), "{shown}");
        assert!(
            !shown.contains(&hex::encode(b"super-secret-value")),
            "{shown}"
        );
    }

    #[test]
    fn huge_ttl_saturates_instead_of_overflowing() {
        let s = LinkSigner::new(SECRET.to_vec(), u64::MAX);
        assert_eq!(s.sign("t", "i", NOW).map(|l| l.expires), Some(i64::MAX));
    }

    /// A current secret and a retired one with the end of its acceptance.
    type Secrets = (Vec<u8>, Option<(Vec<u8>, i64)>);

    /// A source whose keys the test sets, counting loads.
    #[derive(Debug, Default)]
    struct Keys {
        current: std::sync::Mutex<Secrets>,
        loads: AtomicI64,
    }

    #[async_trait]
    impl LinkKeySource for Keys {
        async fn load(&self, _now_ms: i64) -> Result<LinkKeySet, String> {
            self.loads.fetch_add(1, Ordering::AcqRel);
            let (current, previous) = self.current.lock().expect("lock").clone();
            if current.is_empty() {
                return Err("store down".into());
            }
            Ok(LinkKeySet::new(
                &current,
                previous.as_ref().map(|(p, until)| (p.as_slice(), *until)),
            ))
        }
    }

    #[tokio::test]
    async fn a_sourced_signer_signs_only_once_it_has_keys() {
        let keys = Arc::new(Keys::default());
        let s = LinkSigner::from_source(keys.clone(), 600);
        assert_eq!(s.sign("t", "i", NOW), None);
        assert!(!s.ensure_loaded(NOW).await, "the source fails");
        *keys.current.lock().expect("lock") = (b"k1".repeat(16), None);
        assert!(s.ensure_loaded(NOW).await);
        assert!(s.sign("t", "i", NOW).is_some());
        // Loaded keys are not loaded again by ensure_loaded.
        let loads = keys.loads.load(Ordering::Acquire);
        assert!(s.ensure_loaded(NOW).await);
        assert_eq!(keys.loads.load(Ordering::Acquire), loads);
    }

    #[tokio::test]
    async fn after_a_rotation_the_previous_key_verifies_until_its_end_and_new_keys_are_fetched() {
        let k1 = b"k1".repeat(16);
        let k2 = b"k2".repeat(16);
        let keys = Arc::new(Keys::default());
        *keys.current.lock().expect("lock") = (k1.clone(), None);
        // Two processes sharing one source.
        let a = LinkSigner::from_source(keys.clone(), 600);
        let b = LinkSigner::from_source(keys.clone(), 600);
        assert!(a.ensure_loaded(NOW).await && b.ensure_loaded(NOW).await);
        let old = a.sign("t", "i", NOW).expect("a key");
        // Another process rotated: k2 signs, k1 is accepted until NOW + 1000.
        let until = NOW + 1_000;
        *keys.current.lock().expect("lock") = (k2.clone(), Some((k1.clone(), until)));
        a.reload(NOW).await.expect("reload");
        let new = a.sign("t", "i", NOW).expect("a key");
        assert_ne!(new.key_id, old.key_id);
        // b has not reloaded: the new key id is unknown to it, so it reloads and verifies.
        assert_eq!(
            b.verify("t", "i", &(&new).into(), NOW),
            Err(LinkError::UnknownKey)
        );
        assert_eq!(
            b.verify_reloading("t", "i", &(&new).into(), NOW).await,
            Ok(())
        );
        // The old link still verifies on both until the retired key's end.
        for s in [&a, &b] {
            assert_eq!(s.verify("t", "i", &(&old).into(), until - 1), Ok(()));
            assert_eq!(
                s.verify("t", "i", &(&old).into(), until),
                Err(LinkError::UnknownKey)
            );
        }
    }

    #[tokio::test]
    async fn unknown_key_ids_reload_at_most_once_a_second() {
        let keys = Arc::new(Keys::default());
        *keys.current.lock().expect("lock") = (b"k1".repeat(16), None);
        let s = LinkSigner::from_source(keys.clone(), 600);
        assert!(s.ensure_loaded(NOW).await);
        let forged = PresentedLink {
            expires: NOW + 1,
            key_id: "0123456789abcdef",
            signature: "00",
        };
        let before = keys.loads.load(Ordering::Acquire);
        for i in 0..50 {
            assert_eq!(
                s.verify_reloading("t", "i", &forged, NOW + i).await,
                Err(LinkError::BadSignature)
            );
        }
        assert_eq!(keys.loads.load(Ordering::Acquire), before + 1);
        let _ = s
            .verify_reloading("t", "i", &forged, NOW + RELOAD_ON_UNKNOWN_KEY_MS)
            .await;
        assert_eq!(keys.loads.load(Ordering::Acquire), before + 2);
    }

    #[tokio::test]
    async fn a_configured_secret_never_reloads_and_unknown_keys_are_bad_signatures() {
        let s = signer();
        let forged = PresentedLink {
            expires: NOW + 1,
            key_id: "0123456789abcdef",
            signature: "00",
        };
        assert_eq!(
            s.verify_reloading("t", "i", &forged, NOW).await,
            Err(LinkError::BadSignature)
        );
        assert_eq!(s.reload(NOW).await, Ok(()));
    }
}
