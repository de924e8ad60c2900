//! Readiness, known ahead of requests: a background probe checks the task store and the object
//! store every second and records the answer, so `/readyz` answers at once and a write while
//! Redis is down is refused in microseconds (503) instead of waiting on timeouts.
//!
//! The probe also makes sure the result bucket exists; until it does, the object store counts
//! as not ready (a process started while S3 is down keeps running and becomes ready when S3
//! returns).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use statport_records::TaskStore;
use statport_storage::ObjectStore;
use tokio::sync::watch;
use tracing::{info, warn};

// A dependency starts at 0: unknown, not probed yet.
const UP: u8 = 1;
const DOWN: u8 = 2;

/// How long one probe of a dependency may take before it counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What is known of one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not probed yet.
    Unknown,
    /// The last probe succeeded.
    Up,
    /// The last probe failed.
    Down,
}

#[derive(Debug, Default)]
struct Dependency {
    state: AtomicU8,
    last_error: Mutex<String>,
}

impl Dependency {
    fn health(&self) -> Health {
        match self.state.load(Ordering::Acquire) {
            UP => Health::Up,
            DOWN => Health::Down,
            _ => Health::Unknown,
        }
    }

    /// Records a probe result; true when the state changed.
    fn record(&self, result: Result<(), String>) -> bool {
        let (next, error) = match result {
            Ok(()) => (UP, String::new()),
            Err(e) => (DOWN, e),
        };
        *self
            .last_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = error;
        self.state.swap(next, Ordering::AcqRel) != next
    }

    fn describe(&self) -> String {
        match self.health() {
            Health::Up => "ok".to_owned(),
            Health::Unknown => "not checked yet".to_owned(),
            Health::Down => self
                .last_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        }
    }
}

/// The last known health of the task store and the object store, shared by the API handlers,
/// the probe and the workers (which start pulling jobs once both are up).
#[derive(Debug)]
pub struct Readiness {
    task_store: Dependency,
    object_store: Dependency,
    ready_tx: watch::Sender<bool>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            task_store: Dependency::default(),
            object_store: Dependency::default(),
            ready_tx: watch::channel(false).0,
        }
    }
}

impl Readiness {
    /// Nothing known yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The task store's health.
    pub fn task_store(&self) -> Health {
        self.task_store.health()
    }

    /// The object store's health (up only once the result bucket is known to exist).
    pub fn object_store(&self) -> Health {
        self.object_store.health()
    }

    /// True when both answered their last probe.
    pub fn is_ready(&self) -> bool {
        self.task_store() == Health::Up && self.object_store() == Health::Up
    }

    /// Records a probe of the task store.
    pub fn record_task_store(&self, result: Result<(), String>) {
        if self.task_store.record(result) {
            self.log_change("task store", self.task_store());
        }
        self.ready_tx.send_replace(self.is_ready());
    }

    /// Records a probe of the object store.
    pub fn record_object_store(&self, result: Result<(), String>) {
        if self.object_store.record(result) {
            self.log_change("object store", self.object_store());
        }
        self.ready_tx.send_replace(self.is_ready());
    }

    fn log_change(&self, what: &str, health: Health) {
        match health {
            Health::Up => info!(dependency = what, "dependency is reachable"),
            _ => warn!(
                dependency = what,
                "dependency is not reachable; reporting not ready"
            ),
        }
    }

    /// The task store's state for `/readyz`: `ok` or why not.
    pub fn describe_task_store(&self) -> String {
        self.task_store.describe()
    }

    /// The object store's state for `/readyz`: `ok` or why not.
    pub fn describe_object_store(&self) -> String {
        self.object_store.describe()
    }

    /// Resolves once both dependencies are up (at once when they already are).
    pub async fn wait_ready(&self) {
        let mut rx = self.ready_tx.subscribe();
        let _ = rx.wait_for(|ready| *ready).await;
    }
}

/// One probe of both dependencies; the result bucket is created when missing.
pub async fn probe_once(
    readiness: &Readiness,
    tasks: &dyn TaskStore,
    objects: &dyn ObjectStore,
    results_bucket: &str,
) {
    let redis = match tokio::time::timeout(PROBE_TIMEOUT, tasks.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
    };
    readiness.record_task_store(redis);
    let bucket = async {
        if objects.ping(results_bucket).await.is_ok() {
            return Ok(());
        }
        objects
            .ensure_bucket(results_bucket)
            .await
            .map_err(|e| format!("result bucket '{results_bucket}': {e}"))
    };
    let objects = match tokio::time::timeout(PROBE_TIMEOUT, bucket).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
    };
    readiness.record_object_store(objects);
}

/// Probes every `interval` until `shutdown` resolves.
pub async fn probe_forever(
    readiness: Arc<Readiness>,
    tasks: Arc<dyn TaskStore>,
    objects: Arc<dyn ObjectStore>,
    results_bucket: String,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {
                probe_once(&readiness, tasks.as_ref(), objects.as_ref(), &results_bucket).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_both_are_up_and_the_last_error_is_kept() {
        let r = Readiness::new();
        assert!(!r.is_ready());
        assert_eq!(r.task_store(), Health::Unknown);
        r.record_task_store(Ok(()));
        assert!(!r.is_ready());
        r.record_object_store(Err("connection refused".into()));
        assert_eq!(r.describe_object_store(), "connection refused");
        assert!(!r.is_ready());
        r.record_object_store(Ok(()));
        assert!(r.is_ready());
        r.record_task_store(Err("broken pipe".into()));
        assert_eq!(r.task_store(), Health::Down);
        assert!(!r.is_ready());
    }

    #[tokio::test]
    async fn wait_ready_resolves_when_both_come_up() {
        let r = Arc::new(Readiness::new());
        let waiter = {
            let r = Arc::clone(&r);
            tokio::spawn(async move { r.wait_ready().await })
        };
        r.record_task_store(Ok(()));
        assert!(!waiter.is_finished());
        r.record_object_store(Ok(()));
        waiter.await.expect("waiter ends");
    }
}
