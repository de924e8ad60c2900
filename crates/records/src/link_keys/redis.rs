//! [`RedisLinkKeyStore`]: the link keys in one Redis string, `{ns}:link-keys`.

use std::fmt;
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;

use super::{link_keys_over, KeyCell, LinkKeyStore, LinkKeys};
use crate::error::StoreError;

/// Replaces the record only if it is still what was read: `ARGV[1]` is `1` when the read found
/// none, `ARGV[2]` the value read, `ARGV[3]` the new value. Returns 1 when written.
static WRITE_IF_UNCHANGED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
",
    )
});

/// The link keys of every process sharing one Redis namespace.
#[derive(Clone)]
pub struct RedisLinkKeyStore {
    conn: ConnectionManager,
    key: String,
}

impl fmt::Debug for RedisLinkKeyStore {
    // The connection is left out: its settings may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLinkKeyStore")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl RedisLinkKeyStore {
    /// The keys under `namespace` (the task store's), over `conn`.
    pub fn with_connection(conn: ConnectionManager, namespace: &str) -> Self {
        RedisLinkKeyStore {
            conn,
            key: format!("{namespace}:link-keys"),
        }
    }
}

#[async_trait]
impl KeyCell for RedisLinkKeyStore {
    type Version = Option<String>;

    async fn read(&self) -> Result<(Option<String>, Self::Version), StoreError> {
        let mut conn = self.conn.clone();
        let value: Option<String> = redis::cmd("GET")
            .arg(&self.key)
            .query_async(&mut conn)
            .await?;
        Ok((value.clone(), value))
    }

    async fn write(&self, json: &str, version: Self::Version) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let (absent, read) = match &version {
            None => ("1", ""),
            Some(value) => ("0", value.as_str()),
        };
        let written: i64 = WRITE_IF_UNCHANGED
            .key(&self.key)
            .arg(absent)
            .arg(read)
            .arg(json)
            .invoke_async(&mut conn)
            .await?;
        Ok(written == 1)
    }
}

#[async_trait]
impl LinkKeyStore for RedisLinkKeyStore {
    async fn link_keys(
        &self,
        candidate: &[u8],
        now_ms: i64,
        rotate_after_ms: i64,
    ) -> Result<LinkKeys, StoreError> {
        link_keys_over(self, &self.key, candidate, now_ms, rotate_after_ms).await
    }
}
