//! Completion callbacks, the sending part. When a run records its task's end it records the
//! task's callback with it (the outbox, `statport_core::outbox`); a [`CallbackSender`] in any
//! worker process finds the due callbacks in the task store, leases one, `POST`s the task object
//! (as `GET /v1/cdn/statistics/export-tasks/{id}` shows it, with a signed download link, without
//! its own delivery state) to the task's `callback_url`, signed with the tenant's callback secret
//! (`X-Statport-Signature`, [`statport_core::callback`]) and named by its delivery id
//! (`X-Statport-Delivery`), and records the attempt on the task.
//!
//! Delivery never runs in a worker's job slot and never changes the task's result: a 2xx is
//! delivered; any other status, a timeout or a connection error is tried again after a backoff
//! with full jitter, up to `callbacks.max_attempts` attempts, across restarts; a destination the
//! address policy refuses (a host name resolving to a private address) is given up at once.
//! Each failure is logged (the URL, never the secret) and counted
//! (`statport_callbacks_total{result}`). A host name is resolved and checked by us, and the
//! connection pinned to the checked address, so a DNS answer cannot change between the check
//! and the connection (DNS rebinding); redirects are not followed, for the same reason.
//!
//! At least once: a sender that dies (or is stopped past [`SHUTDOWN_GRACE`]) mid-attempt
//! records nothing; when its lease runs out another sender sends the same delivery again.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use statport_access::LinkSigner;
use statport_api::ops::Metrics;
use statport_api::task_view;
use statport_core::callback::{
    sign, AddressPolicy, CallbackUrl, DELIVERY_HEADER, SIGNATURE_HEADER,
};
use statport_core::outbox::AttemptResult;
use statport_core::task::TaskRecord;
use statport_core::tenant::TenantDirectory;
use statport_core::time::clock::Clock;
use statport_records::{CallbackOutbox, TaskRef};
use statport_worker::retry::{jitter_unit, RetryPolicy};
use statport_worker::{TaskEnd, TaskEnded};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
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

/// How often a sender looks for due callbacks when nothing wakes it.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Deliveries one sender runs at once.
const MAX_IN_FLIGHT: usize = 16;

/// Delivers the completion callbacks recorded in the task store (the outbox), whichever
/// process ended their tasks; given to the workers as their [`TaskEnded`] port, which only
/// wakes it.
#[derive(Debug)]
pub struct CallbackSender {
    inner: Arc<Inner>,
    wake: Notify,
}

#[derive(Debug)]
struct Inner {
    outbox: Arc<dyn CallbackOutbox>,
    links: Arc<LinkSigner>,
    public_url: String,
    clock: Arc<dyn Clock>,
    tenants: Arc<TenantDirectory>,
    policy: AddressPolicy,
    delivery: Delivery,
    metrics: Arc<Metrics>,
    /// This sender's name in the leases it takes (unique per process).
    owner: String,
}

/// Everything a [`CallbackSender`] needs.
#[derive(Debug)]
pub struct SenderParts {
    /// Where the pending callbacks are recorded (the task store).
    pub outbox: Arc<dyn CallbackOutbox>,
    /// Signs the download link of the body.
    pub links: Arc<LinkSigner>,
    /// Base URL of download links.
    pub public_url: String,
    /// Now (signing times, link expiry, due times and leases).
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
    /// A sender over `parts`; nothing is sent until [`CallbackSender::run`] runs.
    pub fn new(parts: SenderParts) -> Self {
        CallbackSender {
            inner: Arc::new(Inner {
                outbox: parts.outbox,
                links: parts.links,
                public_url: parts.public_url,
                clock: parts.clock,
                tenants: parts.tenants,
                policy: parts.policy,
                delivery: parts.delivery,
                metrics: parts.metrics,
                owner: format!("callbacks-{}", statport_queue::unique_worker_name()),
            }),
            wake: Notify::new(),
        }
    }

    /// Delivers due callbacks until `shutdown` is cancelled: at once when a task of this
    /// process ends, else every [`POLL_INTERVAL`]. Each attempt is one lease: claimed, sent,
    /// recorded; an attempt cut short (a shutdown past [`SHUTDOWN_GRACE`], a crash) is not
    /// recorded, and its lease running out makes the callback due again for any sender.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut last_warning_ms = i64::MIN;
        loop {
            while in_flight.try_join_next().is_some() {}
            let room = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
            if room > 0 {
                let now = self.inner.clock.now_ms();
                match self.inner.outbox.due_callbacks(now, room).await {
                    Ok(due) => {
                        for task in due {
                            let inner = Arc::clone(&self.inner);
                            in_flight.spawn(async move { inner.attempt(task).await });
                        }
                    }
                    Err(e) if now.saturating_sub(last_warning_ms) >= 60_000 => {
                        last_warning_ms = now;
                        warn!(error = %e, "could not read the pending callbacks; trying again");
                    }
                    Err(_) => {}
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = shutdown.cancelled() => break,
            }
        }
        let all_done = async { while in_flight.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, all_done)
            .await
            .is_err()
        {
            warn!(
                left = in_flight.len(),
                "callback attempts still running at shutdown were stopped; their leases run out and any process sends them again"
            );
            in_flight.abort_all();
        }
    }
}

impl TaskEnded for CallbackSender {
    fn task_ended(&self, end: TaskEnd) {
        // The callback is already recorded with the end: just look now rather than at the
        // next poll.
        if end.callback_url.is_some() {
            self.wake.notify_one();
        }
    }
}

/// Why one attempt did not deliver.
#[derive(Debug)]
enum Failure {
    /// Worth another attempt (a timeout, a connection or store error).
    Retry(String),
    /// The receiver answered with a status that is not 2xx: worth another attempt.
    Answered(u16),
    /// Never deliverable (a refused address, no secret): given up at once.
    GiveUp(String),
}

impl Inner {
    /// How long one attempt holds a callback: the request's timeout twice over, plus a second
    /// for the store calls around it.
    fn lease_ms(&self) -> i64 {
        let timeout = i64::try_from(self.delivery.timeout.as_millis()).unwrap_or(i64::MAX);
        timeout.saturating_mul(2).saturating_add(1_000)
    }

    /// One attempt at `task`'s callback: claim, send, record.
    async fn attempt(&self, task: TaskRef) {
        let (tenant, task_id) = (task.tenant_id.as_str(), task.task_id.as_str());
        let now = self.clock.now_ms();
        let record = match self
            .outbox
            .claim_callback(tenant, task_id, &self.owner, now, self.lease_ms())
            .await
        {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(e) => {
                warn!(task_id, tenant, error = %e, "could not claim a pending callback; it stays pending");
                return;
            }
        };
        let Some(delivery) = record.callback.clone() else {
            return;
        };
        let url = record.condition.callback_url.clone().unwrap_or_default();
        let attempt = delivery.attempts.saturating_add(1);
        let outcome = match self.send_record(record, &delivery.delivery_id).await {
            Ok(status) => {
                self.metrics.callbacks_delivered.inc();
                info!(task_id, tenant, url = %url, attempt, status, delivery_id = %delivery.delivery_id, "callback delivered");
                AttemptResult::Delivered { status }
            }
            Err(Failure::GiveUp(why)) => {
                self.metrics.callbacks_failed.inc();
                warn!(task_id, tenant, url = %url, attempt, error = %why, "callback given up");
                AttemptResult::GiveUp {
                    status: None,
                    error: why,
                }
            }
            Err(failure) => {
                let (status, why) = match failure {
                    Failure::Answered(code) => {
                        (Some(code), format!("the receiver answered {code}"))
                    }
                    Failure::Retry(why) | Failure::GiveUp(why) => (None, why),
                };
                if attempt >= self.delivery.max_attempts {
                    self.metrics.callbacks_failed.inc();
                    warn!(task_id, tenant, url = %url, attempt, error = %why, "callback given up after its last attempt");
                    AttemptResult::GiveUp {
                        status,
                        error: format!("gave up after {attempt} attempts: {why}"),
                    }
                } else {
                    self.metrics.callbacks_retried.inc();
                    let wait = self.delivery.backoff(attempt, jitter_unit());
                    let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                    warn!(task_id, tenant, url = %url, attempt, error = %why, in_ms = wait_ms, "callback attempt failed, will retry");
                    AttemptResult::Retry {
                        status,
                        error: why,
                        retry_at: self.clock.now_ms().saturating_add(wait_ms),
                    }
                }
            }
        };
        match self
            .outbox
            .record_callback(
                tenant,
                task_id,
                &delivery.delivery_id,
                &self.owner,
                &outcome,
                self.clock.now_ms(),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                info!(task_id, tenant, "callback attempt not recorded: another sender took it over or the task changed");
            }
            Err(e) => {
                warn!(task_id, tenant, error = %e, "callback attempt not recorded; its lease runs out and it is tried again");
            }
        }
    }

    /// Sends the body of `record` (its view as `GET` shows it, without its own delivery state)
    /// to its callback URL, signed with its tenant's secret.
    async fn send_record(&self, record: TaskRecord, delivery_id: &str) -> Result<u16, Failure> {
        let url = record
            .condition
            .callback_url
            .clone()
            .ok_or_else(|| Failure::GiveUp("the task has no callback URL".into()))?;
        let secret = self
            .tenants
            .get(&record.tenant_id)
            .and_then(|t| t.callback_secret.bytes())
            .ok_or_else(|| {
                Failure::GiveUp("the tenant has no callback secret configured any more".into())
            })?;
        let now = self.clock.now_ms();
        if record.file_key.is_some() && !self.links.ensure_loaded(now).await {
            // A body without its download link would be a wrong one: try again later.
            return Err(Failure::Retry(
                "the download link keys could not be loaded".into(),
            ));
        }
        let mut view = task_view(record, &self.links, &self.public_url, now);
        view.callback = None;
        let body = serde_json::to_vec(&view)
            .map_err(|e| Failure::Retry(format!("encoding the task: {e}")))?;
        self.send(&url, secret, &body, delivery_id).await
    }

    /// One attempt: check (and resolve) the destination, `POST` the signed body. The status on
    /// a 2xx.
    async fn send(
        &self,
        url: &str,
        secret: &[u8],
        body: &[u8],
        delivery_id: &str,
    ) -> Result<u16, Failure> {
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
            .header(DELIVERY_HEADER, delivery_id)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| Failure::Retry(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(Failure::Answered(status.as_u16()))
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
