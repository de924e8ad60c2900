//! Readiness, known ahead of requests: a background probe checks the task store and the object
//! store every second and records the answer, so `/readyz` answers at once and a write while
//! Redis is down is refused in microseconds (503) instead of waiting on timeouts.
//!
//! The probe also makes sure the result bucket exists; until it does, the object store counts
//! as not ready (a process started while S3 is down keeps running and becomes ready when S3
//! returns).
//!
//! `/readyz` needs no key, so it tells only a coarse state per dependency (`ok`, `unavailable`,
//! `not checked yet`); why a dependency is down goes to the log, at warn, when it goes down and
//! whenever the error changes, with any credentials in URLs replaced.

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

/// What `/readyz` says of an up dependency.
pub const STATE_OK: &str = "ok";
/// What `/readyz` says of a dependency whose last probe failed (the cause is in the log).
pub const STATE_UNAVAILABLE: &str = "unavailable";
/// What `/readyz` says of a dependency not probed yet.
pub const STATE_NOT_CHECKED: &str = "not checked yet";

#[derive(Debug, Default)]
struct Dependency {
    state: AtomicU8,
    /// The last probe's error, credentials redacted; empty while up or not probed.
    last_error: Mutex<String>,
}

/// What one probe result changed, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    /// The dependency answered after being down or not probed.
    Up,
    /// The dependency went down, or is still down with another error (redacted).
    Down(String),
}

impl Dependency {
    fn health(&self) -> Health {
        match self.state.load(Ordering::Acquire) {
            UP => Health::Up,
            DOWN => Health::Down,
            _ => Health::Unknown,
        }
    }

    /// Records a probe result; what changed, if anything worth logging.
    fn record(&self, result: Result<(), String>) -> Option<Change> {
        let (next, error) = match result {
            Ok(()) => (UP, String::new()),
            Err(e) => (DOWN, redact_credentials(&e)),
        };
        let mut last_error = self
            .last_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let error_changed = *last_error != error;
        *last_error = error.clone();
        let previous = self.state.swap(next, Ordering::AcqRel);
        match next {
            UP if previous != UP => Some(Change::Up),
            DOWN if previous != DOWN || error_changed => Some(Change::Down(error)),
            _ => None,
        }
    }

    /// The coarse state `/readyz` shows; never the error text (the endpoint needs no key).
    fn describe(&self) -> &'static str {
        match self.health() {
            Health::Up => STATE_OK,
            Health::Unknown => STATE_NOT_CHECKED,
            Health::Down => STATE_UNAVAILABLE,
        }
    }

    /// The last probe's error (redacted), while down.
    fn last_error(&self) -> Option<String> {
        Some(
            self.last_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        )
        .filter(|e| !e.is_empty() && self.health() == Health::Down)
    }
}

/// `text` with the user-info part of every URL in it (`redis://user:password@host`) replaced
/// by `<redacted>`, so an error that quotes a URL with a password can be logged.
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the first character that cannot be in it unescaped.
        let end = tail
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || "'\"<>`".contains(c)
            })
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str("<redacted>");
                rest = &tail[userinfo_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
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

    /// Records a probe of the task store (the error is logged, redacted, when it is new).
    pub fn record_task_store(&self, result: Result<(), String>) {
        if let Some(change) = self.task_store.record(result) {
            log_change("task store", change);
        }
        self.ready_tx.send_replace(self.is_ready());
    }

    /// Records a probe of the object store (the error is logged, redacted, when it is new).
    pub fn record_object_store(&self, result: Result<(), String>) {
        if let Some(change) = self.object_store.record(result) {
            log_change("object store", change);
        }
        self.ready_tx.send_replace(self.is_ready());
    }

    /// The task store's state for `/readyz`: [`STATE_OK`], [`STATE_UNAVAILABLE`] or
    /// [`STATE_NOT_CHECKED`], never the error.
    pub fn describe_task_store(&self) -> &'static str {
        self.task_store.describe()
    }

    /// The object store's state for `/readyz`, as [`Readiness::describe_task_store`].
    pub fn describe_object_store(&self) -> &'static str {
        self.object_store.describe()
    }

    /// Why the task store is down (redacted), for the process's own messages; `None` unless
    /// its last probe failed.
    pub fn task_store_error(&self) -> Option<String> {
        self.task_store.last_error()
    }

    /// Why the object store is down (redacted), as [`Readiness::task_store_error`].
    pub fn object_store_error(&self) -> Option<String> {
        self.object_store.last_error()
    }

    /// Resolves once both dependencies are up (at once when they already are).
    pub async fn wait_ready(&self) {
        let mut rx = self.ready_tx.subscribe();
        let _ = rx.wait_for(|ready| *ready).await;
    }
}

/// Logs a change of one dependency: info when it answers again, warn with the (redacted) error
/// when it goes down or its error changes.
fn log_change(what: &str, change: Change) {
    match change {
        Change::Up => info!(dependency = what, "dependency is reachable"),
        Change::Down(error) => warn!(
            dependency = what,
            %error,
            "dependency is not reachable; reporting not ready"
        ),
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
    fn ready_only_when_both_are_up_and_the_state_is_coarse() {
        let r = Readiness::new();
        assert!(!r.is_ready());
        assert_eq!(r.task_store(), Health::Unknown);
        assert_eq!(r.describe_task_store(), "not checked yet");
        r.record_task_store(Ok(()));
        assert_eq!(r.describe_task_store(), "ok");
        assert!(!r.is_ready());
        r.record_object_store(Err("connection refused".into()));
        assert_eq!(r.describe_object_store(), "unavailable");
        assert_eq!(
            r.object_store_error().as_deref(),
            Some("connection refused")
        );
        assert!(!r.is_ready());
        r.record_object_store(Ok(()));
        assert!(r.is_ready());
        assert_eq!(r.object_store_error(), None);
        r.record_task_store(Err("broken pipe".into()));
        assert_eq!(r.task_store(), Health::Down);
        assert_eq!(r.describe_task_store(), "unavailable");
        assert!(!r.is_ready());
    }

    #[test]
    fn a_change_is_reported_when_the_state_or_the_error_changes() {
        let d = Dependency::default();
        assert_eq!(d.record(Ok(())), Some(Change::Up));
        assert_eq!(d.record(Ok(())), None);
        assert_eq!(
            d.record(Err("refused".into())),
            Some(Change::Down("refused".into()))
        );
        assert_eq!(d.record(Err("refused".into())), None, "same error: quiet");
        assert_eq!(
            d.record(Err("timed out".into())),
            Some(Change::Down("timed out".into())),
            "another error is logged"
        );
        assert_eq!(d.record(Ok(())), Some(Change::Up));
        let first = Dependency::default();
        assert_eq!(
            first.record(Err("redis://:pw@h:6379/ refused".into())),
            Some(Change::Down("redis://<redacted>@h:6379/ refused".into())),
            "the first probe failing is a change too, logged redacted"
        );
    }

    #[test]
    fn credentials_in_urls_are_redacted() {
        for (text, want) in [
            ("connection refused", "connection refused"),
            (
                "redis://user:hunter2@redis.internal:6379/0: refused",
                "redis://<redacted>@redis.internal:6379/0: refused",
            ),
            ("rediss://:hunter2@h", "rediss://<redacted>@h"),
            (
                "a http://k:s@x/p and b https://y/q@z and c s3://bucket/key@v",
                "a http://<redacted>@x/p and b https://y/q@z and c s3://bucket/key@v",
            ),
            ("'redis://u:p@w@h:1' x", "'redis://<redacted>@h:1' x"),
            ("ends in ://", "ends in ://"),
        ] {
            assert_eq!(redact_credentials(text), want, "{text}");
        }
    }

    #[test]
    fn the_error_is_logged_at_warn_redacted() {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            // Another test may have hit the warn! callsite first, with no subscriber, and its
            // interest is cached as "never": ask again now that this one is in place.
            tracing::callsite::rebuild_interest_cache();
            let r = Readiness::new();
            r.record_task_store(Err(
                "status store request failed: redis://app:hunter2@10.0.0.5:6379/ refused".into(),
            ));
            r.record_task_store(Err("no answer within 2s".into()));
        });
        let logged =
            String::from_utf8_lossy(&sink.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
        assert!(logged.contains("WARN"), "{logged}");
        assert!(
            logged.contains("redis://<redacted>@10.0.0.5:6379/ refused"),
            "{logged}"
        );
        assert!(logged.contains("no answer within 2s"), "{logged}");
        assert!(!logged.contains("hunter2"), "{logged}");
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
