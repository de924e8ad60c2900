//! The signing keys of download links, kept in the task store so every process of a deployment
//! (API processes, workers sending callbacks) signs and verifies with the same key, and rotated
//! so no key signs forever.
//!
//! One record per store: the current key and the one it replaced. [`LinkKeyStore::link_keys`]
//! reads it and, in the same atomic step, creates the first key (from a candidate the caller
//! drew) or rotates when the current key is older than the rotation period: the current key
//! becomes the previous one and the candidate the current. Whichever process comes first
//! writes; every other process reads what it wrote, so there is one key at a time however many
//! processes start together.
//!
//! The rule is [`next_keys`], applied by each store over its own compare-and-set `KeyCell`:
//! - memory: a mutex.
//! - Redis: one string `{ns}:link-keys` (the record as JSON), replaced by a Lua script only if
//!   unchanged since the read.
//! - SQLite: one row of `statport_link_keys`, replaced inside the `BEGIN IMMEDIATE` transaction
//!   the read ran in.

mod redis;
mod sqlite;

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::error::StoreError;

pub use self::redis::RedisLinkKeyStore;
pub use self::sqlite::SqliteLinkKeyStore;

/// How many read-then-write rounds a store tries before it reports contention.
const MAX_ROUNDS: usize = 8;

/// One signing key as stored: its secret and since when it is the current key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLinkKey {
    /// The HMAC secret (32 random bytes), hex in the record.
    #[serde(with = "hex_bytes")]
    pub secret: Vec<u8>,
    /// When it became the current key, ms since epoch.
    pub since_ms: i64,
}

impl fmt::Debug for StoredLinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredLinkKey")
            .field("secret", &"<redacted>")
            .field("since_ms", &self.since_ms)
            .finish()
    }
}

/// The keys of a deployment: the one that signs, and the one it replaced (which still verifies
/// the links signed before the rotation until they expire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkKeys {
    /// Signs new links. Its `since_ms` is also when `previous` was retired.
    pub current: StoredLinkKey,
    /// The key `current` replaced, if there was one.
    pub previous: Option<StoredLinkKey>,
}

/// The keys after a look at `now_ms`: `None` when `stored` stays as it is; otherwise what to
/// write: the first key (`candidate`) when none is stored, or a rotation when the current key
/// has been current for `rotate_after_ms` or longer.
pub fn next_keys(
    stored: Option<&LinkKeys>,
    candidate: &[u8],
    now_ms: i64,
    rotate_after_ms: i64,
) -> Option<LinkKeys> {
    let fresh = StoredLinkKey {
        secret: candidate.to_vec(),
        since_ms: now_ms,
    };
    match stored {
        None => Some(LinkKeys {
            current: fresh,
            previous: None,
        }),
        Some(keys) if now_ms >= keys.current.since_ms.saturating_add(rotate_after_ms) => {
            Some(LinkKeys {
                current: fresh,
                previous: Some(keys.current.clone()),
            })
        }
        Some(_) => None,
    }
}

/// Where the signing keys of download links are kept: the task store's backend.
#[async_trait]
pub trait LinkKeyStore: Send + Sync + fmt::Debug {
    /// The keys at `now_ms`, created from `candidate` when none exist and rotated to it when the
    /// current key is `rotate_after_ms` old, in one atomic step across every process sharing
    /// the store. `candidate` is used only then; draw it fresh (32 random bytes) each call.
    async fn link_keys(
        &self,
        candidate: &[u8],
        now_ms: i64,
        rotate_after_ms: i64,
    ) -> Result<LinkKeys, StoreError>;
}

/// The compare-and-set one store keeps its key record with.
#[async_trait]
trait KeyCell: Send + Sync {
    /// What the store holds between a read and the write that depends on it (a token, or the
    /// lock of a transaction).
    type Version: Send;

    /// The stored record as JSON, if any, and its version.
    async fn read(&self) -> Result<(Option<String>, Self::Version), StoreError>;

    /// Writes `json` only if the record is still at `version`; false when another write came
    /// first.
    async fn write(&self, json: &str, version: Self::Version) -> Result<bool, StoreError>;
}

/// [`LinkKeyStore::link_keys`] over a [`KeyCell`]: read, apply [`next_keys`], write if needed,
/// again when another writer came first.
async fn link_keys_over<C: KeyCell>(
    cell: &C,
    what: &str,
    candidate: &[u8],
    now_ms: i64,
    rotate_after_ms: i64,
) -> Result<LinkKeys, StoreError> {
    for _ in 0..MAX_ROUNDS {
        let (json, version) = cell.read().await?;
        let stored = json
            .as_deref()
            .map(|j| {
                serde_json::from_str::<LinkKeys>(j).map_err(|e| StoreError::Corrupt {
                    key: what.to_owned(),
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        let Some(next) = next_keys(stored.as_ref(), candidate, now_ms, rotate_after_ms) else {
            if let Some(keys) = stored {
                return Ok(keys);
            }
            continue;
        };
        let json = serde_json::to_string(&next).map_err(StoreError::Encode)?;
        if cell.write(&json, version).await? {
            return Ok(next);
        }
    }
    Err(StoreError::Contention {
        task_id: what.to_owned(),
        attempts: MAX_ROUNDS,
    })
}

/// The keys in one process's memory (tests, and API-only tests with no shared store).
#[derive(Debug, Default)]
pub struct MemoryLinkKeyStore {
    keys: Mutex<Option<LinkKeys>>,
}

impl MemoryLinkKeyStore {
    /// A store holding no key yet.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl LinkKeyStore for MemoryLinkKeyStore {
    async fn link_keys(
        &self,
        candidate: &[u8],
        now_ms: i64,
        rotate_after_ms: i64,
    ) -> Result<LinkKeys, StoreError> {
        let mut keys = self.keys.lock().await;
        if let Some(next) = next_keys(keys.as_ref(), candidate, now_ms, rotate_after_ms) {
            *keys = Some(next);
        }
        keys.clone().ok_or_else(|| StoreError::Corrupt {
            key: "memory link keys".into(),
            reason: "no key after creating one".into(),
        })
    }
}

/// Hex in JSON for secret bytes.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
