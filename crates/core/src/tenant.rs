//! Tenants as data: who a tenant is (its API keys), where its logs are, what it may do (its
//! limits) and how its callbacks are signed. [`Tenant`] is the one home of all four, and the
//! [`TenantDirectory`] the one place a tenant is looked up by id: config builds it, the API reads
//! keys and limits from it, submission its limits, log format and callback secret, the scheduler
//! and the workers its log source.
//!
//! Defaults come from the seeds: 20 API calls per second (Tencent CLS), one download per 30 s, 50
//! kept and 5 unfinished tasks (Huawei IoTDA), results kept 3 days (Tencent CLS). `max_rows`
//! (1,000,000) has no seed for aggregate exports: CLS's 50,000,000 is a count of raw log lines,
//! while an aggregate row costs the worker about 70 bytes of memory until the file is written
//! (8.9 M rows took 643 MB), so a million rows keeps one export near 70 MB. `max_domains` (100) has no seed: it is the usual ceiling of the Huawei CDN
//! statistics queries.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::log::format::LogFormat;

/// A rate for the generic cell rate algorithm (GCRA): `count` events per `period_ms`, sustained,
/// of which up to `burst` may come at once.
///
/// With `count = 20, period_ms = 1000, burst = 20`, 20 calls at the same instant pass and the
/// 21st waits 50 ms (one emission interval); after that one call passes every 50 ms. So any one
/// second sees at most `burst + count - 1` calls, and any long stretch `count` per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed per period, sustained (at least 1).
    pub count: u32,
    /// The period, ms (at least 1).
    pub period_ms: i64,
    /// Events allowed at once after a quiet spell (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `count` per second with a burst of `burst`.
    pub fn per_second(count: u32, burst: u32) -> Self {
        Rate {
            count,
            period_ms: 1000,
            burst,
        }
    }

    /// One event every `secs` seconds, no burst.
    pub fn one_every_secs(secs: u32) -> Self {
        Rate {
            count: 1,
            period_ms: i64::from(secs) * 1000,
            burst: 1,
        }
    }

    /// The GCRA emission interval: ms between two events at the sustained rate (at least 1).
    pub fn interval_ms(&self) -> i64 {
        (self.period_ms / i64::from(self.count.max(1))).max(1)
    }

    /// How far ahead of now the theoretical arrival time may run before a call is refused: the
    /// burst times the interval.
    pub fn tolerance_ms(&self) -> i64 {
        self.interval_ms()
            .saturating_mul(i64::from(self.burst.max(1)))
    }
}

/// One tenant's limits: the `[tenants.<id>.limits]` config table, every field optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantLimits {
    /// Authenticated API calls per second, sustained (Tencent CLS: 20).
    pub api_per_second: u32,
    /// API calls allowed at once after a quiet spell.
    pub api_burst: u32,
    /// Seconds between two downloads of the tenant's files (Huawei IoTDA: 30).
    pub download_interval_secs: u32,
    /// Tasks kept; creating one more deletes the oldest and its file (Huawei IoTDA: 50).
    pub max_kept_tasks: u32,
    /// Tasks `waiting` or `processing` at once; one more is refused with 429 (IoTDA: 5).
    pub max_unfinished_tasks: u32,
    /// How long a finished task's file is kept, seconds (Tencent CLS: 3 days).
    pub result_retention_secs: u64,
    /// Rows one export may write (1,000,000: see the module doc).
    pub max_rows: u64,
    /// Entries in one task's `domain_name`.
    pub max_domains: u32,
}

impl TenantLimits {
    /// The defaults, usable where a `const` or a `&'static` is needed (a tenant without a
    /// `limits` table).
    pub const DEFAULT: TenantLimits = TenantLimits {
        api_per_second: 20,
        api_burst: 20,
        download_interval_secs: 30,
        max_kept_tasks: 50,
        max_unfinished_tasks: 5,
        result_retention_secs: 259_200,
        max_rows: 1_000_000,
        max_domains: 100,
    };

    /// The size limits a request is validated under (no geography support and no callbacks:
    /// the caller sets [`RequestLimits::geo`](crate::request::RequestLimits::geo) and
    /// [`RequestLimits::callbacks`](crate::request::RequestLimits::callbacks)).
    pub fn request_limits(&self) -> crate::request::RequestLimits {
        crate::request::RequestLimits {
            max_rows: self.max_rows,
            max_domains: usize::try_from(self.max_domains).unwrap_or(usize::MAX),
            ..crate::request::RequestLimits::default()
        }
    }

    /// The rate of authenticated API calls.
    pub fn api_rate(&self) -> Rate {
        Rate::per_second(self.api_per_second, self.api_burst)
    }

    /// The rate of downloads.
    pub fn download_rate(&self) -> Rate {
        Rate::one_every_secs(self.download_interval_secs)
    }

    /// Refuses zeros, which would forbid everything (or, for the rates, divide by zero); the
    /// config loader reports the error with the tenant's id.
    pub fn validate(&self) -> Result<(), InvalidLimits> {
        let fields: [(&'static str, u64); 8] = [
            ("api_per_second", self.api_per_second.into()),
            ("api_burst", self.api_burst.into()),
            ("download_interval_secs", self.download_interval_secs.into()),
            ("max_kept_tasks", self.max_kept_tasks.into()),
            ("max_unfinished_tasks", self.max_unfinished_tasks.into()),
            ("result_retention_secs", self.result_retention_secs),
            ("max_rows", self.max_rows),
            ("max_domains", self.max_domains.into()),
        ];
        match fields.iter().find(|(_, v)| *v == 0) {
            Some((field, _)) => Err(InvalidLimits { field }),
            None => Ok(()),
        }
    }
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits::DEFAULT
    }
}

/// The longest tenant id accepted, characters.
pub const MAX_TENANT_ID_LEN: usize = 64;

/// True when `id` may name a tenant: 1 to [`MAX_TENANT_ID_LEN`] characters of `A-Z`, `a-z`,
/// `0-9`, `_` and `-`, the first a letter or digit. A tenant id goes into object keys (result
/// files are `<prefix><tenant>/<task_id>.<ext>`), Redis keys and URL paths (download links), so
/// it must need no escaping in any of them and cannot read as a path step (`..`, `/`) or an
/// option (a leading `-`).
pub fn is_valid_tenant_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    (1..=MAX_TENANT_ID_LEN).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// Where a tenant's logs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    /// Bucket holding the logs.
    pub bucket: String,
    /// Key prefix of the log files (config refuses an empty one, or one not ending in `/`).
    pub prefix: String,
    /// How the files are written.
    pub format: LogFormat,
}

/// A tenant's callback secret: never shown by `Debug` (nor logged), empty when not set.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct CallbackSecret(String);

impl CallbackSecret {
    /// A secret from its text (config, tests).
    pub fn new(secret: impl Into<String>) -> Self {
        CallbackSecret(secret.into())
    }

    /// The key bytes; `None` when no secret is set.
    pub fn bytes(&self) -> Option<&[u8]> {
        Some(self.0.as_bytes()).filter(|b| !b.is_empty())
    }
}

impl fmt::Debug for CallbackSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<not set>"
        } else {
            "<redacted>"
        })
    }
}

/// One configured tenant: everything statport knows about it, in one place.
///
/// `Debug` shows how many keys it has, never the key hashes, and never the callback secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Tenant {
    /// SHA-256 hex of each API key the tenant may use (several, for rotation).
    pub api_key_hashes: Vec<String>,
    /// Where its logs are.
    pub source: LogSource,
    /// What it may do.
    pub limits: TenantLimits,
    /// The HMAC key its completion callbacks are signed with; without one its tasks may not ask
    /// for callbacks (none goes unsigned).
    pub callback_secret: CallbackSecret,
    /// Whether its csv files neutralize text cells a spreadsheet would run as a formula (a
    /// leading `'`, CWE-1236). On unless the tenant's consumers are machines that want the
    /// bytes as logged.
    pub csv_escape_formulas: bool,
}

impl Tenant {
    /// A tenant reading `source`, with no API key and the default limits (workers and tests that
    /// need only the source).
    pub fn reading(source: LogSource) -> Self {
        Tenant {
            api_key_hashes: Vec::new(),
            source,
            limits: TenantLimits::default(),
            callback_secret: CallbackSecret::default(),
            csv_escape_formulas: true,
        }
    }

    /// True when the tenant has a callback secret, so its tasks may ask for callbacks.
    pub fn signs_callbacks(&self) -> bool {
        self.callback_secret.bytes().is_some()
    }
}

/// Every configured tenant by id: the one directory the API, submission, the scheduler, the
/// workers and the callbacks look a tenant up in. A tenant not in it has no keys (so no request
/// acts for it), reads no logs and gets [`TenantLimits::DEFAULT`] where limits are asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantDirectory {
    tenants: HashMap<String, Tenant>,
}

impl TenantDirectory {
    /// The directory of `tenants`, by id.
    pub fn new(tenants: HashMap<String, Tenant>) -> Self {
        TenantDirectory { tenants }
    }

    /// The tenant `id`, when configured.
    pub fn get(&self, id: &str) -> Option<&Tenant> {
        self.tenants.get(id)
    }

    /// `id`'s limits; the defaults for a tenant not configured.
    pub fn limits(&self, id: &str) -> &TenantLimits {
        self.get(id).map_or(&TenantLimits::DEFAULT, |t| &t.limits)
    }

    /// Every tenant with its id, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tenant)> {
        self.tenants.iter().map(|(id, t)| (id.as_str(), t))
    }

    /// A copy with `id` set to `tenant` (tests, and config built step by step).
    pub fn with(mut self, id: impl Into<String>, tenant: Tenant) -> Self {
        self.tenants.insert(id.into(), tenant);
        self
    }

    /// How many tenants are configured.
    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    /// True when no tenant is configured.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }
}

impl From<HashMap<String, Tenant>> for TenantDirectory {
    fn from(tenants: HashMap<String, Tenant>) -> Self {
        TenantDirectory::new(tenants)
    }
}

impl FromIterator<(String, Tenant)> for TenantDirectory {
    fn from_iter<I: IntoIterator<Item = (String, Tenant)>>(iter: I) -> Self {
        TenantDirectory::new(iter.into_iter().collect())
    }
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("api_keys", &self.api_key_hashes.len())
            .field("source", &self.source)
            .field("limits", &self.limits)
            .field("callback_secret", &self.callback_secret)
            .field("csv_escape_formulas", &self.csv_escape_formulas)
            .finish()
    }
}

/// A limit configured as 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limits.{field} must be at least 1")]
pub struct InvalidLimits {
    /// The field set to 0.
    pub field: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_seeds() {
        let l = TenantLimits::default();
        assert_eq!(l.api_rate(), Rate::per_second(20, 20));
        assert_eq!(l.api_rate().interval_ms(), 50);
        assert_eq!(l.api_rate().tolerance_ms(), 1000);
        assert_eq!(l.download_rate().interval_ms(), 30_000);
        assert_eq!(l.download_rate().tolerance_ms(), 30_000);
        assert_eq!((l.max_kept_tasks, l.max_unfinished_tasks), (50, 5));
        assert_eq!(l.result_retention_secs, 3 * 24 * 3600);
        assert_eq!(l.validate(), Ok(()));
    }

    #[test]
    fn a_config_table_overrides_some_fields_and_rejects_unknown_ones() {
        let l: TenantLimits =
            serde_json::from_str(r#"{"api_per_second": 5, "max_kept_tasks": 10}"#).expect("parse");
        assert_eq!(l.api_per_second, 5);
        assert_eq!(l.max_kept_tasks, 10);
        assert_eq!(l.api_burst, 20, "unset fields keep their default");
        let err = serde_json::from_str::<TenantLimits>(r#"{"api_per_sec": 5}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("api_per_sec"));
    }

    #[test]
    fn tenant_ids_are_a_safe_character_set_and_length() {
        let longest = "a".repeat(MAX_TENANT_ID_LEN);
        for ok in [
            "t1",
            "acme",
            "demo",
            "demo-huawei",
            "bench-urls",
            "r",
            "A_1",
            "9x",
            &longest,
        ] {
            assert!(is_valid_tenant_id(ok), "{ok} is valid");
        }
        let too_long = "a".repeat(MAX_TENANT_ID_LEN + 1);
        for bad in [
            "", "-acme", "_acme", "a b", "a/b", "..", "a.b", "a:b", "a%2F", "acmé", "a\n", "a*",
            &too_long,
        ] {
            assert!(!is_valid_tenant_id(bad), "{bad:?} is refused");
        }
    }

    #[test]
    fn zero_limits_are_refused() {
        let l = TenantLimits {
            api_burst: 0,
            ..TenantLimits::DEFAULT
        };
        assert_eq!(
            l.validate().map_err(|e| e.to_string()),
            Err("limits.api_burst must be at least 1".to_string())
        );
    }
}
