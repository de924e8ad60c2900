//! API keys: how they are stored (hashed) and how a presented key finds its tenant.
//!
//! API keys are long random tokens, not passwords a person chose, so guessing one is hopeless
//! whatever the hash costs: a fast hash (SHA-256) is appropriate and a slow password hash
//! (argon2, bcrypt) would only add latency to every request. Config holds the hashes only, so a
//! leaked config does not leak keys.

use std::fmt;

use hmac::digest::CtOutput;
use sha2::{Digest, Sha256};
use statport_core::tenant::TenantDirectory;

/// The lowercase hex SHA-256 of `key`: the form in which keys are stored in config.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Why a key ring could not be built from config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// A configured hash is not 64 hex characters.
    #[error("the API key hash of tenant '{tenant}' is not 64 hex characters (a SHA-256)")]
    InvalidHash {
        /// The tenant whose entry is wrong.
        tenant: String,
    },
    /// Two entries have the same hash: one key would belong to two tenants.
    #[error("tenants '{first}' and '{second}' are configured with the same API key")]
    DuplicateKey {
        /// The tenant of the earlier entry.
        first: String,
        /// The tenant of the later entry.
        second: String,
    },
}

/// Every configured key hash and its tenant. A tenant may have several keys (rotation).
///
/// `Debug` lists the tenants only.
#[derive(Clone)]
pub struct KeyRing {
    entries: Vec<(String, [u8; 32])>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field(
                "tenants",
                &self.entries.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeyRing {
    /// The ring of every configured tenant's key hashes (the one way the API builds it).
    pub fn for_tenants(tenants: &TenantDirectory) -> Result<Self, KeyRingError> {
        let entries = tenants
            .iter()
            .flat_map(|(id, t)| {
                t.api_key_hashes
                    .iter()
                    .map(move |h| (id.to_owned(), h.clone()))
            })
            .collect();
        KeyRing::new(entries)
    }

    /// A ring from `(tenant_id, key_hash_hex)` pairs as configured (hex in either case).
    /// Fails on a malformed hash or one key configured for two tenants.
    pub fn new(entries: Vec<(String, String)>) -> Result<Self, KeyRingError> {
        let mut ring: Vec<(String, [u8; 32])> = Vec::with_capacity(entries.len());
        for (tenant, hash_hex) in entries {
            let mut hash = [0u8; 32];
            if hex::decode_to_slice(hash_hex.trim(), &mut hash).is_err() {
                return Err(KeyRingError::InvalidHash { tenant });
            }
            if let Some((first, _)) = ring.iter().find(|(_, known)| *known == hash) {
                return Err(KeyRingError::DuplicateKey {
                    first: first.clone(),
                    second: tenant,
                });
            }
            ring.push((tenant, hash));
        }
        Ok(KeyRing { entries: ring })
    }

    /// The tenant that owns `presented_key`, or `None` for an unknown key. The presented key's
    /// hash is compared with every entry in constant time, and all entries are always visited.
    pub fn tenant_for(&self, presented_key: &str) -> Option<&str> {
        let presented = CtOutput::<Sha256>::new(Sha256::digest(presented_key.as_bytes()));
        let mut found = None;
        for (tenant, hash) in &self.entries {
            if CtOutput::<Sha256>::new((*hash).into()) == presented {
                found = Some(tenant.as_str());
            }
        }
        found
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is configured (every request will be refused).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_lowercase_hex_sha256() {
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash_api_key(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    fn ring() -> KeyRing {
        KeyRing::new(vec![
            ("tenant-a".to_owned(), hash_api_key("key-a-1")),
            ("tenant-b".to_owned(), hash_api_key("key-b").to_uppercase()),
            ("tenant-a".to_owned(), hash_api_key("key-a-2")),
        ])
        .expect("valid ring")
    }

    #[test]
    fn keys_map_to_their_tenant() {
        let ring = ring();
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.tenant_for("key-a-1"), Some("tenant-a"));
        assert_eq!(ring.tenant_for("key-a-2"), Some("tenant-a"));
        assert_eq!(ring.tenant_for("key-b"), Some("tenant-b"));
    }

    #[test]
    fn unknown_or_hash_as_key_is_refused() {
        let ring = ring();
        assert_eq!(ring.tenant_for("key-c"), None);
        assert_eq!(ring.tenant_for(""), None);
        assert_eq!(ring.tenant_for("key-a-1 "), None);
        // Presenting the stored hash itself does not work.
        assert_eq!(ring.tenant_for(&hash_api_key("key-a-1")), None);
        assert!(KeyRing::new(Vec::new()).expect("empty ring").is_empty());
    }

    #[test]
    fn malformed_hashes_are_rejected() {
        for bad in ["", "abc", &hash_api_key("k")[..63], &"g".repeat(64)] {
            let err = KeyRing::new(vec![("t".to_owned(), bad.to_owned())]);
            assert_eq!(
                err.map(|_| ()),
                Err(KeyRingError::InvalidHash {
                    tenant: "t".to_owned()
                })
            );
        }
    }

    #[test]
    fn one_key_for_two_tenants_is_rejected() {
        let err = KeyRing::new(vec![
            ("a".to_owned(), hash_api_key("k")),
            ("b".to_owned(), hash_api_key("k")),
        ]);
        assert_eq!(
            err.map(|_| ()),
            Err(KeyRingError::DuplicateKey {
                first: "a".to_owned(),
                second: "b".to_owned()
            })
        );
    }

    #[test]
    fn debug_shows_tenants_not_hashes() {
        let shown = format!("{:?}", ring());
        assert!(shown.contains("tenant-a"));
        assert!(!shown.contains(&hash_api_key("key-b")[..16]));
    }
}
