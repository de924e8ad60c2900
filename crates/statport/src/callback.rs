//! Completion callbacks, the sending part: the worker's [`TaskEnded`] port implemented with
//! HTTP. When a run records its task's end, the task object (exactly as `GET
//! /v1/cdn/statistics/export-tasks/{id}` shows it, with a signed download link) is `POST`ed to
//! the task's `callback_url`, signed with the tenant's callback secret
//! (`X-Statport-Signature`, [`statport_core::callback`]).
//!
//! Delivery runs on its own spawned task, never in the worker's job slot, and never changes the
//! task: a 2xx is delivered; any other status, a timeout or a connection error is tried again
//! after a backoff with full jitter, up to `callbacks.max_attempts` attempts; a destination the
//! address policy refuses (a host name resolving to a private address) is given up at once.
//! Each failure is logged (the URL, never the secret) and counted
//! (`statport_callbacks_total{result}`). A host name is resolved and checked by us, and the
//! connection pinned to the checked address, so a DNS answer cannot change between the check
//! and the connection (DNS rebinding); redirects are not followed, for the same reason.
//!
//! At shutdown, pending deliveries get [`SHUTDOWN_GRACE`] and are then dropped: callbacks are
//! at least once while the process lives, and polling the task stays the source of truth.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use statport_access::LinkSigner;
use statport_api::ops::Metrics;
use statport_api::task_view;
use statport_core::callback::{sign, AddressPolicy, CallbackUrl, SIGNATURE_HEADER};
use statport_core::task::TaskRecord;
use statport_core::tenant::TenantDirectory;
use statport_core::time::clock::Clock;
use statport_records::TaskStore;
use statport_worker::retry::{jitter_unit, RetryPolicy};
use statport_worker::{TaskEnd, TaskEnded};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::config::CallbackSettings;

/// How long pending deliveries may still run when the process stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How callbacks are retried and timed out (`[callbacks]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Attempts per callback, the first included.
    pub max_attempts: u32,
    /// The upper bound of the first backoff; it doubles per failure.
    pub initial_backoff: Duration,
    /// The longest backoff between two attempts, however many failed.
    pub max_backoff: Duration,
    /// Longest wait for one attempt.
    pub timeout: Duration,
}

impl Delivery {
    /// The delivery settings of `[callbacks]`.
    pub fn from_settings(c: &CallbackSettings) -> Self {
        Delivery {
            max_attempts: c.max_attempts.max(1),
            initial_backoff: Duration::from_millis(c.initial_backoff_ms),
            max_backoff: Duration::from_millis(c.max_backoff_ms),
            timeout: Duration::from_millis(c.timeout_ms),
        }
    }

    /// The wait after failed attempt number `failures` (1 for the first), with `unit` a random
    /// number in `[0, 1)`: full jitter, uniform in `[0, min(max_backoff, initial × 2^(failures-1))]`.
    pub fn backoff(&self, failures: u32, unit: f64) -> Duration {
        RetryPolicy {
            base: self.initial_backoff,
            cap: self.max_backoff,
            min: Duration::ZERO,
            span: Duration::MAX,
        }
        .backoff(failures, unit)
    }
}

/// Sends completion callbacks; given to the workers as their [`TaskEnded`] port.
#[derive(Debug)]
pub struct CallbackSender {
    inner: Arc<Inner>,
    pending: Mutex<JoinSet<()>>,
}

#[derive(Debug)]
struct Inner {
    tasks: Arc<dyn TaskStore>,
    links: Arc<LinkSigner>,
    public_url: String,
    clock: Arc<dyn Clock>,
    tenants: Arc<TenantDirectory>,
    policy: AddressPolicy,
    delivery: Delivery,
    metrics: Arc<Metrics>,
}

/// Everything a [`CallbackSender`] needs.
#[derive(Debug)]
pub struct SenderParts {
    /// Where the ended task is read back from.
    pub tasks: Arc<dyn TaskStore>,
    /// Signs the download link of the body.
    pub links: Arc<LinkSigner>,
    /// Base URL of download links.
    pub public_url: String,
    /// Now (signing times, link expiry).
    pub clock: Arc<dyn Clock>,
    /// The tenants, whose callback secrets sign the bodies.
    pub tenants: Arc<TenantDirectory>,
    /// Where callbacks may go.
    pub policy: AddressPolicy,
    /// Retries and timeouts.
    pub delivery: Delivery,
    /// Where deliveries are counted.
    pub metrics: Arc<Metrics>,
}

impl CallbackSender {
    /// A sender over `parts`; nothing is sent until a task with a `callback_url` ends.
    pub fn new(parts: SenderParts) -> Self {
        CallbackSender {
            inner: Arc::new(Inner {
                tasks: parts.tasks,
                links: parts.links,
                public_url: parts.public_url,
                clock: parts.clock,
                tenants: parts.tenants,
                policy: parts.policy,
                delivery: parts.delivery,
                metrics: parts.metrics,
            }),
            pending: Mutex::new(JoinSet::new()),
        }
    }

    /// Waits up to `grace` for the pending deliveries, then drops the rest (process shutdown).
    pub async fn drain(&self, grace: Duration) {
        let mut pending = std::mem::take(&mut *self.lock_pending());
        let all_done = async { while pending.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            warn!(
                dropped = pending.len(),
                "completion callbacks still pending at shutdown were dropped (poll the tasks instead)"
            );
            pending.abort_all();
        }
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, JoinSet<()>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TaskEnded for CallbackSender {
    fn task_ended(&self, end: TaskEnd) {
        let Some(url) = end.callback_url.clone() else {
            return;
        };
        let inner = Arc::clone(&self.inner);
        let mut pending = self.lock_pending();
        // Forget the deliveries that are over, so the set holds only pending ones.
        while pending.try_join_next().is_some() {}
        pending.spawn(async move { inner.deliver(end, url).await });
    }
}

/// Why one attempt did not deliver.
#[derive(Debug)]
enum Failure {
    /// Worth another attempt (a status, a timeout, a connection or store error).
    Retry(String),
    /// Never deliverable (a refused address, no secret): given up at once.
    GiveUp(String),
}

impl Inner {
    async fn deliver(&self, end: TaskEnd, url: String) {
        let task_id = end.task_id.as_str();
        let tenant = end.tenant_id.as_str();
        let Some(secret) = self
            .tenants
            .get(tenant)
            .and_then(|t| t.callback_secret.bytes())
        else {
            warn!(task_id, tenant, url = %url, "callback given up: the tenant has no callback secret configured any more");
            self.metrics.callbacks_failed.inc();
            return;
        };
        let mut body: Option<Vec<u8>> = None;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match &body {
                Some(b) => self.send(&url, secret, b).await,
                None => match self.body(&end).await {
                    Ok(Some(b)) => self.send(&url, secret, body.insert(b)).await,
                    Ok(None) => return,
                    Err(why) => Err(Failure::Retry(why)),
                },
            };
            let why = match result {
                Ok(status) => {
                    self.metrics.callbacks_delivered.inc();
                    info!(task_id, tenant, url = %url, attempt, status, "callback delivered");
                    return;
                }
                Err(Failure::GiveUp(why)) => {
                    self.metrics.callbacks_failed.inc();
                    warn!(task_id, tenant, url = %url, attempt, error = %why, "callback given up");
                    return;
                }
                Err(Failure::Retry(why)) => why,
            };
            if attempt >= self.delivery.max_attempts {
                self.metrics.callbacks_failed.inc();
                warn!(task_id, tenant, url = %url, attempt, error = %why, "callback given up after its last attempt");
                return;
            }
            self.metrics.callbacks_retried.inc();
            let wait = self.delivery.backoff(attempt, jitter_unit());
            warn!(task_id, tenant, url = %url, attempt, error = %why, in_ms = wait.as_millis(), "callback attempt failed, will retry");
            tokio::time::sleep(wait).await;
        }
    }

    /// The body: the ended task as its owner reads it. `None` when there is nothing to tell
    /// any more (the task was deleted, or replaced and is running again: that run will call
    /// back when it ends).
    async fn body(&self, end: &TaskEnd) -> Result<Option<Vec<u8>>, String> {
        let record: Option<TaskRecord> = self
            .tasks
            .get(&end.tenant_id, &end.task_id)
            .await
            .map_err(|e| format!("reading the task: {e}"))?;
        let Some(record) = record
            .filter(|r| r.status.is_final() && r.run_id.as_deref() == Some(end.run_id.as_str()))
        else {
            info!(task_id = %end.task_id, run_id = %end.run_id, "callback not sent: the task was deleted or replaced since it ended");
            return Ok(None);
        };
        let now = self.clock.now_ms();
        if record.file_key.is_some() && !self.links.ensure_loaded(now).await {
            // A body without its download link would be a wrong one: try again later.
            return Err("the download link keys could not be loaded".into());
        }
        let view = task_view(record, &self.links, &self.public_url, now);
        serde_json::to_vec(&view)
            .map(Some)
            .map_err(|e| format!("encoding the task: {e}"))
    }

    /// One attempt: check (and resolve) the destination, `POST` the signed body. The status on
    /// a 2xx.
    async fn send(&self, url: &str, secret: &[u8], body: &[u8]) -> Result<u16, Failure> {
        let target = destination(url, self.policy).await?;
        let mut client = reqwest::Client::builder()
            .timeout(self.delivery.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("statport/", env!("CARGO_PKG_VERSION")));
        if let Some((host, addr)) = &target {
            client = client.resolve(host, *addr);
        }
        let client = client
            .build()
            .map_err(|e| Failure::Retry(format!("preparing the HTTP client: {e}")))?;
        let now_secs = self.clock.now_ms().div_euclid(1000);
        let response = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign(secret, now_secs, body))
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| Failure::Retry(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(Failure::Retry(format!("the receiver answered {status}")))
        }
    }
}

/// Checks `url` against `policy` as it will be connected to: an address in the URL must be
/// allowed; a host name is resolved here and the first allowed address returned, for the
/// connection to be pinned to (`None` when the URL names an address). A name that resolves
/// only to refused addresses is given up; one that does not resolve is retried.
async fn destination(
    url: &str,
    policy: AddressPolicy,
) -> Result<Option<(String, SocketAddr)>, Failure> {
    // The submission rules again (the policy may have changed since), then the URL as the
    // HTTP client reads it: hosts like `0x7f.1` are addresses there.
    CallbackUrl::parse(url, policy).map_err(|e| Failure::GiveUp(e.message))?;
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Failure::GiveUp(format!("the URL does not parse: {e}")))?;
    let refused = |ip: IpAddr| {
        policy.refusal(ip).map(|why| {
            Failure::GiveUp(format!(
                "it points at {why} ({ip}), which callbacks may not reach"
            ))
        })
    };
    // The client's form of the host: addresses normalized, IPv6 in brackets.
    let host = parsed
        .host_str()
        .ok_or_else(|| Failure::GiveUp("the URL names no host".into()))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return refused(ip).map_or(Ok(None), Err);
    }
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Failure::Retry(format!("resolving {host}: {e}")))?
        .collect();
    let mut why = None;
    for addr in &addrs {
        match refused(addr.ip()) {
            None => {
                debug!(host, %addr, "callback host resolved");
                return Ok(Some((host.to_owned(), *addr)));
            }
            Some(reason) => why = Some(reason),
        }
    }
    Err(why.unwrap_or_else(|| Failure::Retry(format!("{host} resolved to no address"))))
}

/// A reqwest error as a sentence with its kind (timeout, connection) and cause.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut text = format!("the request {kind}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Delivery {
        Delivery {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(1000),
            max_backoff: Duration::from_millis(60_000),
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_is_full_jitter_doubling_to_the_cap() {
        let d = delivery();
        // The whole range: from nothing to the doubling ceiling.
        assert_eq!(d.backoff(1, 0.0), Duration::ZERO);
        assert_eq!(d.backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(d.backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(d.backoff(3, 1.0), Duration::from_secs(4));
        assert_eq!(d.backoff(6, 1.0), Duration::from_secs(32));
        assert_eq!(d.backoff(7, 1.0), Duration::from_secs(60), "capped");
        assert_eq!(d.backoff(u32::MAX, 1.0), Duration::from_secs(60));
        assert_eq!(d.backoff(3, 0.5), Duration::from_secs(2));
        // Random units stay within the range.
        for failures in 1..=10 {
            let ceiling = d.backoff(failures, 1.0);
            let got = d.backoff(failures, jitter_unit());
            assert!(got <= ceiling, "{got:?} > {ceiling:?}");
        }
        // The bound over all attempts: at most the sum of the ceilings.
        let total: Duration = (1..d.max_attempts).map(|n| d.backoff(n, 1.0)).sum();
        assert_eq!(total, Duration::from_secs(1 + 2 + 4 + 8 + 16));
    }

    #[test]
    fn settings_become_a_delivery() {
        let d = Delivery::from_settings(&CallbackSettings {
            allow_private: false,
            max_attempts: 3,
            initial_backoff_ms: 10,
            max_backoff_ms: 40,
            timeout_ms: 500,
        });
        assert_eq!(d.max_attempts, 3);
        assert_eq!(d.backoff(10, 1.0), Duration::from_millis(40));
        assert_eq!(d.timeout, Duration::from_millis(500));
    }

    #[tokio::test]
    async fn destinations_are_checked_as_they_will_be_connected_to() {
        let strict = AddressPolicy {
            allow_private: false,
        };
        let open = AddressPolicy {
            allow_private: true,
        };
        // Addresses: refused or allowed by the policy, never resolved.
        for url in [
            "http://127.0.0.1:9/cb",
            "http://[::1]:9/cb",
            "http://10.1.2.3/",
            "http://0x7f.1/",
            "http://2130706433/",
        ] {
            assert!(
                matches!(destination(url, strict).await, Err(Failure::GiveUp(_))),
                "{url}"
            );
        }
        assert!(matches!(
            destination("http://127.0.0.1:9/cb", open).await,
            Ok(None)
        ));
        assert!(matches!(
            destination("http://0x7f.1/", open).await,
            Ok(None)
        ));
        assert!(matches!(
            destination("https://93.184.215.14/cb", strict).await,
            Ok(None)
        ));
        // A name is resolved and pinned to an allowed address; `localhost` is refused unless
        // private destinations are allowed.
        assert!(matches!(
            destination("http://localhost:9/cb", strict).await,
            Err(Failure::GiveUp(_))
        ));
        match destination("http://localhost:9/cb", open).await {
            Ok(Some((host, addr))) => {
                assert_eq!(host, "localhost");
                assert!(addr.ip().is_loopback(), "{addr}");
                assert_eq!(addr.port(), 9);
            }
            other => panic!("localhost allowed: {other:?}"),
        }
        assert!(matches!(
            destination("ftp://example.com/", open).await,
            Err(Failure::GiveUp(_))
        ));
    }
}
