//! The deployment's download-link keys, read from the task store ([`LinkKeyStore`]) and handed
//! to the [`LinkSigner`] of every process: the link source used when `links.secret` is empty.

use std::sync::Arc;

use async_trait::async_trait;
use statport_access::{LinkKeySet, LinkKeySource, MIN_SECRET_BYTES};
use statport_records::LinkKeyStore;

use crate::config::LINK_KEY_RELOAD_SECS;

/// Loads the stored keys, creating or rotating them when due, and says how long the replaced
/// key still verifies: one link lifetime after its replacement, plus the time other processes
/// may go on signing with it before they reload.
#[derive(Debug)]
pub struct StoredLinkKeys {
    /// Where the keys live (the task store's backend).
    pub store: Arc<dyn LinkKeyStore>,
    /// `links.rotate_secs`, ms.
    pub rotate_after_ms: i64,
    /// `links.ttl_secs`, ms.
    pub ttl_ms: i64,
}

impl StoredLinkKeys {
    /// How long after its replacement a key still verifies, ms.
    pub fn retired_key_grace_ms(&self) -> i64 {
        let reload_ms = i64::try_from(LINK_KEY_RELOAD_SECS * 1000).unwrap_or(i64::MAX);
        self.ttl_ms.saturating_add(reload_ms.saturating_mul(2))
    }
}

#[async_trait]
impl LinkKeySource for StoredLinkKeys {
    async fn load(&self, now_ms: i64) -> Result<LinkKeySet, String> {
        let mut candidate = [0u8; MIN_SECRET_BYTES];
        getrandom::fill(&mut candidate)
            .map_err(|e| format!("no randomness for a new link key: {e}"))?;
        let keys = self
            .store
            .link_keys(&candidate, now_ms, self.rotate_after_ms)
            .await
            .map_err(|e| format!("reading the download link keys: {e}"))?;
        let retired_until = keys
            .current
            .since_ms
            .saturating_add(self.retired_key_grace_ms());
        Ok(LinkKeySet::new(
            &keys.current.secret,
            keys.previous
                .as_ref()
                .map(|p| (p.secret.as_slice(), retired_until)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statport_access::{LinkSigner, PresentedLink};
    use statport_records::MemoryLinkKeyStore;

    const T0: i64 = 1_767_225_600_000;
    const TTL_MS: i64 = 3_600_000;
    const ROTATE_MS: i64 = 7 * 24 * 3_600_000;

    fn source(store: &Arc<MemoryLinkKeyStore>) -> Arc<StoredLinkKeys> {
        Arc::new(StoredLinkKeys {
            store: Arc::clone(store) as Arc<dyn LinkKeyStore>,
            rotate_after_ms: ROTATE_MS,
            ttl_ms: TTL_MS,
        })
    }

    #[tokio::test]
    async fn processes_share_the_stored_key_and_a_rotation_keeps_old_links_valid_for_their_lifetime(
    ) {
        let store = Arc::new(MemoryLinkKeyStore::new());
        let api = LinkSigner::from_source(source(&store), 3600);
        let worker = LinkSigner::from_source(source(&store), 3600);
        api.reload(T0).await.expect("load");
        worker.reload(T0 + 10).await.expect("load");
        // A link the worker signs verifies on the API process.
        let link = worker.sign("t1", "task", T0 + 20).expect("a key");
        assert_eq!(api.verify("t1", "task", &(&link).into(), T0 + 30), Ok(()));

        // A week on, the API process rotates; the worker's link of just before still works
        // until it expires, on both processes.
        let rotation = T0 + ROTATE_MS;
        let before = worker.sign("t1", "task", rotation - 1).expect("a key");
        api.reload(rotation).await.expect("rotate");
        let after = api.sign("t1", "task", rotation).expect("a key");
        assert_ne!(after.key_id, before.key_id);
        let old: PresentedLink<'_> = (&before).into();
        assert_eq!(api.verify("t1", "task", &old, before.expires - 1), Ok(()));
        assert_eq!(
            worker
                .verify_reloading("t1", "task", &(&after).into(), rotation + 1)
                .await,
            Ok(())
        );
        assert_eq!(
            worker.verify("t1", "task", &old, before.expires - 1),
            Ok(())
        );
        // After the retired key's grace it no longer verifies anything.
        let grace_end = rotation + source(&store).retired_key_grace_ms();
        assert!(api.verify("t1", "task", &old, grace_end).is_err());
    }
}
