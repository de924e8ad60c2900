//! Settings: `config/default.toml` (built in) < a `--config` file < `STATPORT__…` environment
//! variables < command-line flags. Unknown keys are rejected; secrets are redacted in `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Deserializer};
use statport_access::MIN_SECRET_BYTES;

/// The built-in defaults; every key is documented there and in the README.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// All settings of a statport process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the HTTP API listens and the URL clients reach it at (download links).
    pub api: ApiSettings,
    /// Which implementation serves each port (task store, queue, object store).
    pub backends: BackendSettings,
    /// Where the embedded backends keep their data.
    pub embedded: EmbeddedSettings,
    /// How schedulers turn recurring exports into tasks, and how many schedules a tenant has.
    pub scheduler: SchedulerSettings,
    /// Redis (task records and the queue).
    pub redis: RedisSettings,
    /// The job queue.
    pub queue: QueueConfig,
    /// The S3-compatible object store.
    pub s3: statport_storage::S3Settings,
    /// Where result files go.
    pub results: ResultsSettings,
    /// How download links are signed and how long they hold.
    pub links: LinkSettings,
    /// How export runs read, retry, report progress and bound their memory.
    pub worker: WorkerConfig,
    /// How often expired result files and finished queue records are swept.
    pub retention: RetentionSettings,
    /// Synchronous reports (`POST /cdn/report/volOrigin`): bounds and server groups.
    pub reports: ReportsConfig,
    /// Whether this process is the demo (the published demo key is allowed only then).
    #[serde(default)]
    pub demo: DemoSettings,
    /// The offline IP database (none by default).
    #[serde(default)]
    pub ip_database: IpDatabaseSettings,
    /// Completion callbacks: where they may go, how they are retried.
    pub callbacks: CallbackSettings,
    /// Tenants by id: only what the operator configured (the defaults define none).
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
}

/// `[backends]`: one setting per port. The embedded default (`sqlite`, `sqlite`, `local`) needs
/// no server; `redis`, `redis`, `s3` is the choice for many processes on many machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    /// Task records and schedules.
    pub store: StoreBackend,
    /// The job queue.
    pub queue: QueueBackend,
    /// The tenants' logs and the result files.
    pub objects: ObjectBackend,
}

/// Where task records and schedules live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    /// One SQLite file (`embedded.sqlite_path`): processes on one machine.
    Sqlite,
    /// Redis (`[redis]`): any number of processes on any number of machines.
    Redis,
}

/// Where queued jobs wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueBackend {
    /// apalis-sqlite in the same SQLite file.
    Sqlite,
    /// apalis-redis (`[redis]`, `[queue] name`).
    Redis,
}

/// Where logs and result files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectBackend {
    /// A local folder (`embedded.objects_dir`): a bucket is a sub-folder, a key a path in it.
    Local,
    /// An S3-compatible server (`[s3]`).
    S3,
}

impl BackendSettings {
    /// True when some port needs Redis.
    pub fn uses_redis(&self) -> bool {
        self.store == StoreBackend::Redis || self.queue == QueueBackend::Redis
    }

    /// True when some port needs the SQLite file.
    pub fn uses_sqlite(&self) -> bool {
        self.store == StoreBackend::Sqlite || self.queue == QueueBackend::Sqlite
    }
}

/// `[embedded]`: the files of the embedded backends. Relative paths are read from the working
/// directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSettings {
    /// The SQLite file holding task records, schedules and the queue (created when missing).
    pub sqlite_path: String,
    /// The folder of the local object store (created when missing).
    pub objects_dir: String,
}

use statport_scheduler::SchedulerSettings;

/// `[retention]`: how often result-file retention (`tenants.<id>.limits.result_retention_secs`),
/// the sweep of orphaned result files and the trimming of finished queue records are enforced.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Seconds between two retention sweeps of a worker process.
    pub sweep_interval_secs: u64,
    /// Seconds an object under `results.prefix` that no live task wants must have been an
    /// orphan (and unwritten) before the sweep deletes it.
    pub orphan_grace_secs: u64,
}

/// The shortest `retention.orphan_grace_secs`: longer than a submission may leave an evicted or
/// replaced task's record away while it waits for the queue, and than a sweep interval.
pub const MIN_ORPHAN_GRACE_SECS: u64 = 60;

/// `[reports]`: the bounds of a synchronous report and the server groups it filters by.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// Most compressed log bytes one report may read (the listed sizes of the files its range
    /// needs); over it the request is refused before anything is read.
    pub max_compressed_bytes: u64,
    /// Longest wall time of one report, ms; past it the report is stopped.
    pub timeout_ms: u64,
    /// Reports running at once per API process; one more gets 429.
    pub max_concurrent: usize,
    /// Log files one report reads at the same time; 0 = number of cores.
    pub scan_parallelism: usize,
    /// Server group name → edge-location code prefixes (`[reports.server_groups]`).
    #[serde(default)]
    pub server_groups: BTreeMap<String, Vec<String>>,
}

impl ReportsConfig {
    /// The checked server groups.
    pub fn server_groups(
        &self,
    ) -> Result<
        statport_core::origin_volume::server_group::ServerGroups,
        statport_core::origin_volume::server_group::InvalidServerGroup,
    > {
        statport_core::origin_volume::server_group::ServerGroups::new(self.server_groups.clone())
    }
}

/// `[ip_database]`: the MaxMind DB files the geography filters and `isp_detail` read. Empty
/// paths: no database, and requests needing one are refused with
/// `StatPort.IpDatabaseNotConfigured`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpDatabaseSettings {
    /// The database (GeoIP2/GeoLite2-City layout, optionally with a top-level `isp`).
    pub path: String,
    /// A separate GeoIP2-ISP database the ISP is read from instead; needs `path`.
    pub isp_path: String,
}

/// `[demo]`: marks the process as the demo, the only place the published demo key may work.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    /// True in `config/demo.toml` only.
    #[serde(default)]
    pub enabled: bool,
}

/// SHA-256 hex of the API keys published in the README and `config/demo.toml` ("demo-key",
/// "demo-huawei-key").
/// A tenant configured with one of them outside the demo would be open to anyone.
pub const PUBLISHED_DEMO_KEY_HASHES: &[&str] = &[
    // "demo-key": the demo's CloudFront tenant.
    "c48a01f49fd0f2cc404bc3cbbc80e91457a3d41bb429a695243de4c61794155c",
    // "demo-huawei-key": the demo's Huawei tenant.
    "46ac2ff0aae86bdff8b191627d079ce553dea462294f9365c2ce3566f646512b",
];

/// `[api]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Address to listen on.
    pub listen: String,
    /// Base URL clients reach the API at (used in download links); empty = `http://<listen>`.
    #[serde(default)]
    pub public_url: String,
}

/// `[redis]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port/db`.
    pub url: String,
    /// Key prefix of task records.
    pub namespace: String,
}

/// `[queue]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// The queue's name, under which its jobs live (several deployments may share a Redis).
    pub name: String,
    /// Worker heartbeat period, seconds.
    pub heartbeat_secs: u64,
    /// Missed beats before a worker's jobs are re-queued.
    pub missed_heartbeats: usize,
    /// How often an idle worker looks for new jobs, ms.
    pub poll_interval_ms: u64,
    /// Jobs run at once per worker process.
    pub concurrency: usize,
    /// Longest run of a statistics export, seconds: past it the run is stopped and the task
    /// fails with `StatPort.ExportTimedOut`.
    pub job_timeout_secs: u64,
    /// Longest run of a `logs` export, seconds (it reads and sorts every matching row).
    #[serde(default = "default_logs_job_timeout_secs")]
    pub logs_job_timeout_secs: u64,
    /// Longest wait for running jobs at shutdown, seconds.
    pub shutdown_timeout_secs: u64,
}

/// `queue.logs_job_timeout_secs` when not set: 24 hours.
fn default_logs_job_timeout_secs() -> u64 {
    24 * 3600
}

/// `[results]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsSettings {
    /// Bucket for result files (created at start if missing).
    pub bucket: String,
    /// Key prefix of result files: the prefix holds nothing else, so an orphan is recognisable.
    #[serde(default)]
    pub prefix: String,
}

/// `[links]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    /// HMAC secret, at least [`MIN_SECRET_BYTES`] bytes; empty (the default) = the deployment's
    /// shared keys, generated once and kept in the task store, rotated every `rotate_secs`.
    #[serde(default)]
    pub secret: String,
    /// Link lifetime, seconds.
    pub ttl_secs: u64,
    /// How long a stored key signs before it is replaced, seconds (the replaced key still
    /// verifies the links it signed until they expire). Unused when `secret` is set.
    #[serde(default = "default_rotate_secs")]
    pub rotate_secs: u64,
}

/// `links.rotate_secs` when not set: a week.
fn default_rotate_secs() -> u64 {
    7 * 24 * 3600
}

/// How often a process reloads the stored link keys, seconds; a rotation made by another
/// process is seen within this time (or at once, by the first link that names the new key).
pub const LINK_KEY_RELOAD_SECS: u64 = 60;

impl fmt::Debug for LinkSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSettings")
            .field(
                "secret",
                &if self.secret.is_empty() {
                    "<stored keys>"
                } else {
                    "<redacted>"
                },
            )
            .field("ttl_secs", &self.ttl_secs)
            .field("rotate_secs", &self.rotate_secs)
            .finish()
    }
}

/// `[worker]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Hours after a range whose log files may still hold its lines.
    pub late_hours: u32,
    /// Crash recoveries (runs that died without reporting an end) after which a task fails
    /// instead of running again. Transient errors do not count.
    pub max_attempts: u32,
    /// How long transient errors (S3 or Redis unreachable, timeouts, 5xx) are retried, with
    /// backoff, from the first one, before the task fails, s.
    #[serde(default = "default_retry_span_secs")]
    pub retry_span_secs: u64,
    /// Progress report period, ms.
    pub progress_interval_ms: u64,
    /// Log files read at once per task; 0 = number of cores.
    pub scan_parallelism: usize,
    /// Directory for result files before upload; empty = the system temp dir.
    #[serde(default)]
    pub temp_dir: String,
    /// Bytes this worker process's runs may hold in `temp_dir` at once, all runs together
    /// (sorted runs and merge passes of `logs` exports, result files before upload); a run that
    /// would pass it fails with `StatPort.TempDiskFull`. At least 1: there is no unbounded
    /// setting.
    #[serde(default = "default_temp_disk_bytes")]
    pub temp_disk_bytes: u64,
    /// Memory bounds past which top lists and `uv` become estimates (`[worker.sketches]`).
    #[serde(default)]
    pub sketches: statport_core::stats::sketch::SketchLimits,
    /// The sort of `logs` exports (`[worker.logs]`): rows held in memory per scan before a
    /// sorted run is written to the temp dir, and runs merged at once.
    #[serde(default)]
    pub logs: statport_worker::sort::LogSortSettings,
}

fn default_retry_span_secs() -> u64 {
    900
}

/// 10 GiB: a `logs` export of about 40 million rows of ~250 bytes, or two of 20 million.
fn default_temp_disk_bytes() -> u64 {
    10 * 1024 * 1024 * 1024
}

/// `[callbacks]`: completion callbacks (`callback_url`), sent by the process that ran the task.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackSettings {
    /// Also loopback, link-local and private destinations (tests, receivers on the operator's
    /// own network); off by default, so a tenant cannot make statport call inside its network.
    pub allow_private: bool,
    /// Attempts per callback, the first included (1–20); then it is given up.
    pub max_attempts: u32,
    /// Backoff before the second attempt (the upper bound of its full jitter), ms; it doubles
    /// per attempt up to `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    /// Longest backoff between two attempts, ms.
    pub max_backoff_ms: u64,
    /// Longest wait for one attempt (connection and answer), ms.
    pub timeout_ms: u64,
}

use statport_core::tenant::CallbackSecret;

/// The shortest callback secret accepted, bytes: a receiver's HMAC key must not be guessable.
pub const MIN_CALLBACK_SECRET_BYTES: usize = 16;

/// `[tenants.<id>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// SHA-256 hex of each API key (a list, or one comma-separated string from the environment).
    #[serde(deserialize_with = "string_or_list")]
    pub api_key_hashes: Vec<String>,
    /// Bucket of the tenant's logs.
    pub log_bucket: String,
    /// Prefix of the tenant's log files: a folder ending in `/` (`logs/acme/`) that is not the
    /// start of another tenant's prefix nor of `results.prefix` in the same bucket (see
    /// `layout_check`, which refuses an empty one).
    #[serde(default)]
    pub log_prefix: String,
    /// `cloudfront` or `huawei`.
    pub log_format: statport_core::log::format::LogFormat,
    /// The tenant's limits (`[tenants.<id>.limits]`, every field optional; defaults from the
    /// seeds, see the README's "Limits").
    #[serde(default)]
    pub limits: statport_core::tenant::TenantLimits,
    /// The HMAC key completion callbacks are signed with (shared with the tenant's receiver);
    /// without one the tenant's tasks may not ask for callbacks.
    #[serde(default)]
    pub callback_secret: CallbackSecret,
    /// Neutralize csv text cells that start like a formula (`=`, `+`, `-`, `@`, tab, CR) with a
    /// leading `'`, so a file opened in a spreadsheet runs nothing a request put in the logs.
    /// On by default; set `false` for machine consumers that want the logged bytes.
    #[serde(default = "escape_formulas_by_default")]
    pub csv_escape_formulas: bool,
}

/// `tenants.<id>.csv_escape_formulas` when not set: on.
fn escape_formulas_by_default() -> bool {
    true
}

/// True when `hash` (hex, either case) is the hash of a published demo key.
fn is_published_demo_key(hash: &str) -> bool {
    PUBLISHED_DEMO_KEY_HASHES
        .iter()
        .any(|known| known.eq_ignore_ascii_case(hash.trim()))
}

impl TenantConfig {
    /// The tenant this table configures.
    pub fn tenant(&self) -> statport_core::tenant::Tenant {
        statport_core::tenant::Tenant {
            api_key_hashes: self.api_key_hashes.clone(),
            source: statport_core::tenant::LogSource {
                bucket: self.log_bucket.clone(),
                prefix: self.log_prefix.clone(),
                format: self.log_format,
            },
            limits: self.limits.clone(),
            callback_secret: self.callback_secret.clone(),
            csv_escape_formulas: self.csv_escape_formulas,
        }
    }
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

impl Settings {
    /// Loads the defaults, then `file` if given, then the `STATPORT__…` environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            if !path.exists() {
                bail!("the config file '{}' does not exist", path.display());
            }
            builder = builder.add_source(
                config::File::from(path.to_path_buf()).format(config::FileFormat::Toml),
            );
        }
        builder = builder.add_source(
            config::Environment::with_prefix("STATPORT")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let settings: Settings = builder
            .build()
            .context("reading the configuration")?
            .try_deserialize()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        settings.check()?;
        Ok(settings)
    }

    /// Checks what serde cannot, naming the key at fault.
    pub fn check(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        if self.backends.uses_sqlite() && self.embedded.sqlite_path.trim().is_empty() {
            bail!("invalid configuration: embedded.sqlite_path must not be empty while a backend is sqlite");
        }
        if self.backends.objects == ObjectBackend::Local
            && self.embedded.objects_dir.trim().is_empty()
        {
            bail!("invalid configuration: embedded.objects_dir must not be empty while backends.objects is local");
        }
        if self.scheduler.tick_ms == 0 || self.scheduler.lease_secs == 0 {
            bail!("invalid configuration: scheduler.tick_ms and scheduler.lease_secs must be at least 1");
        }
        if !self.redis.url.starts_with("redis://") && !self.redis.url.starts_with("rediss://") {
            bail!(
                "invalid configuration: redis.url must start with redis:// or rediss://, not '{}' (credentials not shown)",
                statport_api::ready::redact_credentials(&self.redis.url)
                    .split('@')
                    .next_back()
                    .unwrap_or_default()
            );
        }
        if self.results.bucket.is_empty() {
            bail!("invalid configuration: results.bucket must not be empty");
        }
        if self.links.ttl_secs == 0 {
            bail!("invalid configuration: links.ttl_secs must be at least 1");
        }
        if !self.links.secret.is_empty() && self.links.secret.len() < MIN_SECRET_BYTES {
            bail!("refusing to start: links.secret is {} bytes; a download link secret must be at least {MIN_SECRET_BYTES} random bytes (for example `openssl rand -hex 32`), or leave it empty to use the keys statport keeps in the task store", self.links.secret.len());
        }
        if self.links.rotate_secs < self.links.ttl_secs.saturating_add(2 * LINK_KEY_RELOAD_SECS) {
            bail!("invalid configuration: links.rotate_secs must be at least links.ttl_secs + {} (a replaced key must outlive the links it signed)", 2 * LINK_KEY_RELOAD_SECS);
        }
        if self.queue.job_timeout_secs == 0 || self.queue.logs_job_timeout_secs == 0 {
            bail!("invalid configuration: queue.job_timeout_secs and queue.logs_job_timeout_secs must be at least 1");
        }
        if self.retention.orphan_grace_secs < MIN_ORPHAN_GRACE_SECS {
            bail!("invalid configuration: retention.orphan_grace_secs is {} and must be at least {MIN_ORPHAN_GRACE_SECS}: an orphaned result file is deleted only after being one that long, which must outlast a submission waiting for the queue (default 3600)", self.retention.orphan_grace_secs);
        }
        if self.queue.concurrency == 0
            || self.queue.heartbeat_secs == 0
            || self.queue.missed_heartbeats == 0
        {
            bail!("invalid configuration: queue.concurrency, queue.heartbeat_secs and queue.missed_heartbeats must be at least 1");
        }
        if !(1..=20).contains(&self.worker.max_attempts) {
            bail!("invalid configuration: worker.max_attempts must be from 1 to 20 (the queue itself gives up on a job after 25 tries)");
        }
        if self.worker.temp_disk_bytes == 0 {
            bail!("invalid configuration: worker.temp_disk_bytes must be at least 1: it bounds the bytes one worker process keeps in worker.temp_dir (there is no unbounded setting; the default is 10737418240, 10 GiB)");
        }
        if self.reports.max_concurrent == 0 || self.reports.timeout_ms == 0 {
            bail!("invalid configuration: reports.max_concurrent and reports.timeout_ms must be at least 1");
        }
        let c = &self.callbacks;
        if !(1..=20).contains(&c.max_attempts) {
            bail!("invalid configuration: callbacks.max_attempts must be from 1 to 20");
        }
        if c.initial_backoff_ms == 0 || c.timeout_ms == 0 {
            bail!("invalid configuration: callbacks.initial_backoff_ms and callbacks.timeout_ms must be at least 1");
        }
        if c.max_backoff_ms < c.initial_backoff_ms {
            bail!("invalid configuration: callbacks.max_backoff_ms must be at least callbacks.initial_backoff_ms");
        }
        self.reports.server_groups().map_err(|e| {
            anyhow::anyhow!(
                "invalid configuration: reports.server_groups.{}: {}",
                e.group,
                e.reason
            )
        })?;
        for (id, t) in &self.tenants {
            if t.log_bucket.is_empty() {
                bail!("invalid configuration: tenants.{id}.log_bucket must not be empty");
            }
            t.limits
                .validate()
                .map_err(|e| anyhow::anyhow!("invalid configuration: tenants.{id}.limits: {e}"))?;
            if t.callback_secret
                .bytes()
                .is_some_and(|b| b.len() < MIN_CALLBACK_SECRET_BYTES)
            {
                bail!("invalid configuration: tenants.{id}.callback_secret must be at least {MIN_CALLBACK_SECRET_BYTES} bytes (or empty: no callbacks for the tenant)");
            }
            if t.limits.max_unfinished_tasks > t.limits.max_kept_tasks {
                bail!("invalid configuration: tenants.{id}.limits.max_unfinished_tasks must not exceed max_kept_tasks");
            }
            for h in &t.api_key_hashes {
                if h.len() != 64 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
                    bail!("invalid configuration: tenants.{id}.api_key_hashes must hold SHA-256 hex digests (64 hex characters); hash a key with `statport hash-key <key>`");
                }
                if !self.demo.enabled && is_published_demo_key(h) {
                    bail!("refusing to start: tenants.{id}.api_key_hashes holds the hash of a published demo key (\"demo-key\" or \"demo-huawei-key\"), which anyone can use; give the tenant its own key (`statport hash-key <key>`), or run the demo with --config config/demo.toml");
                }
            }
        }
        crate::layout_check::check_layout(&self.results, &self.tenants)?;
        Ok(())
    }

    /// Every configured tenant, by id, as the rest of statport sees it.
    pub fn tenants(&self) -> statport_core::tenant::TenantDirectory {
        self.tenants
            .iter()
            .map(|(id, t)| (id.clone(), t.tenant()))
            .collect()
    }

    /// Tenants that accept the published demo key (non-empty only in the demo, where the
    /// process warns loudly about them at start).
    pub fn tenants_with_demo_key(&self) -> Vec<&str> {
        self.tenants
            .iter()
            .filter(|(_, t)| t.api_key_hashes.iter().any(|h| is_published_demo_key(h)))
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// `api.listen` parsed.
    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.api
            .listen
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid configuration: api.listen must be an address like 127.0.0.1:8080, not '{}'", self.api.listen))
    }

    /// The base URL for download links.
    pub fn public_url(&self) -> String {
        if self.api.public_url.is_empty() {
            format!("http://{}", self.api.listen)
        } else {
            self.api.public_url.trim_end_matches('/').to_string()
        }
    }

    /// `worker.temp_dir`, or the system temp dir.
    pub fn temp_dir(&self) -> PathBuf {
        if self.worker.temp_dir.is_empty() {
            std::env::temp_dir()
        } else {
            PathBuf::from(&self.worker.temp_dir)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_check() {
        let s: Settings = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("defaults deserialize");
        s.check().expect("defaults are valid");
        assert!(s.tenants.is_empty(), "the defaults must define no tenant");
        // The seed's seven server groups, names kept case-sensitive.
        let groups = s.reports.server_groups().expect("valid groups");
        assert_eq!(
            groups.names().collect::<Vec<_>>(),
            [
                "ChinaPremium",
                "ChinaStandard",
                "deluxe",
                "nearChina",
                "premium",
                "standard",
                "ultra"
            ]
        );
        assert!(!s.demo.enabled);
        let mut s3 = s.s3.clone();
        s3.secret_access_key = "very-secret-value".into();
        assert!(!format!("{s3:?}").contains("very-secret-value"));
        let mut links = s.links.clone();
        links.secret = "another-secret".into();
        assert!(!format!("{links:?}").contains("another-secret"));
        assert!(
            !s.callbacks.allow_private,
            "private destinations are off by default"
        );
        assert_eq!(s.worker.temp_disk_bytes, 10 * 1024 * 1024 * 1024);
    }

    #[test]
    fn the_temp_disk_bound_must_be_positive() {
        let err = load_with("[worker]\ntemp_disk_bytes = 0\n").expect_err("0 is refused");
        assert!(err.to_string().contains("worker.temp_disk_bytes"), "{err}");
        let set = load_with("[worker]\ntemp_disk_bytes = 1048576\n").expect("valid");
        assert_eq!(set.worker.temp_disk_bytes, 1 << 20);
    }

    #[test]
    fn a_bad_redis_url_is_named_without_its_password() {
        for url in [
            "http://user:hunter2secret@r:6379/",
            "user:hunter2secret@r:6379",
        ] {
            let err = load_with(&format!("[redis]\nurl = \"{url}\"\n")).expect_err(url);
            assert!(err.to_string().contains("redis.url"), "{err}");
            assert!(!err.to_string().contains("hunter2secret"), "{err}");
        }
    }

    #[test]
    fn a_link_secret_under_32_bytes_refuses_to_start_and_rotation_outlives_a_link() {
        let default = load_with("").expect("the default: stored keys");
        assert!(default.links.secret.is_empty());
        assert_eq!(default.links.rotate_secs, 7 * 24 * 3600);
        let short = load_with("[links]\nsecret = \"0123456789abcdef0123456789abcde\"\n")
            .expect_err("31 bytes");
        assert!(short.to_string().contains("links.secret"), "{short}");
        assert!(!short.to_string().contains("0123456789abcdef"), "{short}");
        load_with("[links]\nsecret = \"0123456789abcdef0123456789abcdef\"\n").expect("32 bytes");
        let err = load_with("[links]\nttl_secs = 3600\nrotate_secs = 3700\n")
            .expect_err("a rotation within a link's life");
        assert!(err.to_string().contains("links.rotate_secs"), "{err}");
        load_with("[links]\nttl_secs = 3600\nrotate_secs = 3720\n").expect("just enough");
    }

    #[test]
    fn an_orphan_grace_under_a_minute_refuses_to_start() {
        let default = load_with("").expect("the default");
        assert_eq!(default.retention.orphan_grace_secs, 3600);
        let err = load_with("[retention]\norphan_grace_secs = 59\n").expect_err("59 s");
        assert!(
            err.to_string().contains("retention.orphan_grace_secs"),
            "{err}"
        );
        load_with("[retention]\norphan_grace_secs = 60\n").expect("a minute");
    }

    #[test]
    fn callback_settings_are_checked_and_the_secret_never_shown() {
        let own_hash = statport_access::hash_api_key("operator-key");
        let tenant = |secret: &str| {
            format!(
                "[tenants.acme]\napi_key_hashes = [\"{own_hash}\"]\nlog_bucket = \"b\"\nlog_prefix = \"logs/\"\nlog_format = \"cloudfront\"\ncallback_secret = \"{secret}\"\n"
            )
        };
        let s = load_with(&tenant("a-long-enough-callback-secret")).expect("valid");
        let t = &s.tenants["acme"];
        assert_eq!(
            t.callback_secret.bytes(),
            Some(&b"a-long-enough-callback-secret"[..])
        );
        let shown = format!("{s:?}");
        assert!(!shown.contains("a-long-enough-callback-secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
        let none = load_with(&tenant("")).expect("no secret");
        assert_eq!(none.tenants["acme"].callback_secret.bytes(), None);
        let err = load_with(&tenant("short")).expect_err("too short");
        assert!(
            err.to_string().contains("tenants.acme.callback_secret"),
            "{err}"
        );
        assert!(!err.to_string().contains("short\""), "{err}");
        for (bad, key) in [
            ("[callbacks]\nmax_attempts = 0\n", "callbacks.max_attempts"),
            ("[callbacks]\ntimeout_ms = 0\n", "callbacks.timeout_ms"),
            (
                "[callbacks]\ninitial_backoff_ms = 10\nmax_backoff_ms = 5\n",
                "callbacks.max_backoff_ms",
            ),
        ] {
            let err = load_with(bad).expect_err(bad);
            assert!(err.to_string().contains(key), "{bad}: {err}");
        }
    }

    fn load_with(extra: &str) -> anyhow::Result<Settings> {
        let dir = std::env::temp_dir().join(format!("statport-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.toml", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, extra)?;
        let result = Settings::load(Some(&path));
        let _ = std::fs::remove_file(&path);
        result
    }

    const DEMO_TOML: &str = include_str!("../../../config/demo.toml");

    #[test]
    fn operator_tenants_replace_the_demo_and_the_demo_key_needs_the_demo() {
        // An operator's file: only its tenant exists, the demo key is not live.
        let own_hash = statport_access::hash_api_key("operator-key");
        let s = load_with(&format!(
            "[tenants.acme]\napi_key_hashes = [\"{own_hash}\"]\nlog_bucket = \"b\"\nlog_prefix = \"logs/\"\nlog_format = \"cloudfront\"\n"
        ))
        .expect("operator config");
        assert_eq!(s.tenants.keys().collect::<Vec<_>>(), vec!["acme"]);
        assert!(s.tenants_with_demo_key().is_empty());
        // The demo key outside the demo: refused, naming the tenant.
        let err = load_with(&DEMO_TOML.replace("enabled = true", "enabled = false"))
            .expect_err("demo key outside the demo");
        assert!(
            err.to_string().contains("tenants.demo.api_key_hashes"),
            "{err}"
        );
        assert!(err.to_string().contains("demo-key"), "{err}");
        // The demo's own file works and is recognised as such.
        let demo = load_with(DEMO_TOML).expect("demo config");
        assert!(demo.demo.enabled);
        assert_eq!(demo.tenants_with_demo_key(), vec!["demo", "demo-huawei"]);
        assert_eq!(
            PUBLISHED_DEMO_KEY_HASHES,
            [
                statport_access::hash_api_key("demo-key"),
                statport_access::hash_api_key("demo-huawei-key")
            ]
        );
        // The Huawei demo key alone, outside the demo: refused too.
        let huawei_only = format!(
            "[tenants.h]\napi_key_hashes = [\"{}\"]\nlog_bucket = \"b\"\nlog_prefix = \"logs/\"\nlog_format = \"huawei\"\n",
            statport_access::hash_api_key("demo-huawei-key")
        );
        let err = load_with(&huawei_only).expect_err("huawei demo key outside the demo");
        assert!(
            err.to_string().contains("tenants.h.api_key_hashes"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let err = load_with("[s3]\nregion = \"x\"\nbucket_typo = 1\n").expect_err("unknown key");
        assert!(err.to_string().contains("bucket_typo"), "{err}");
        let err = load_with("[api]\nlisten = \"not an address\"\n").expect_err("bad listen");
        assert!(err.to_string().contains("api.listen"), "{err}");
        let err = load_with("[tenants.x]\napi_key_hashes = \"abc\"\nlog_bucket = \"b\"\nlog_prefix = \"logs/\"\nlog_format = \"cloudfront\"\n")
            .expect_err("bad hash");
        assert!(
            err.to_string().contains("tenants.x.api_key_hashes"),
            "{err}"
        );
        let err = load_with(
            "[tenants.x]\napi_key_hashes = []\nlog_bucket = \"b\"\nlog_format = \"w3c\"\n",
        )
        .expect_err("bad format");
        assert!(err.to_string().contains("w3c"), "{err}");
        let err = load_with("[reports.server_groups]\nstandard = [\"sfo\"]\n")
            .expect_err("lower-case prefix");
        assert!(
            err.to_string().contains("reports.server_groups.standard"),
            "{err}"
        );
        let err = load_with("[reports.server_groups]\nmine = []\n").expect_err("empty group");
        assert!(err.to_string().contains("no edge-location prefix"), "{err}");
        let own_hash = statport_access::hash_api_key("operator-key");
        let huawei = load_with(&format!(
            "[tenants.h]\napi_key_hashes = [\"{own_hash}\"]\nlog_bucket = \"b\"\nlog_prefix = \"logs/\"\nlog_format = \"huawei\"\n"
        ))
        .expect("a Huawei tenant");
        assert_eq!(
            huawei.tenants["h"].tenant().source.format,
            statport_core::log::format::LogFormat::Huawei
        );
        assert!(
            load_with("[worker]\nlate_hours = 3\n")
                .expect("valid")
                .worker
                .late_hours
                == 3
        );
    }
}
