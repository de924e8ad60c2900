//! The object-store layout a configuration must keep so that no tenant reads another's logs or
//! the result files. A tenant's logs are listed by key prefix (`starts_with` on
//! `tenants.<id>.log_prefix` in its `log_bucket`), so a prefix that is the start of another
//! location's lists that location too: `logs/acme` also lists `logs/acme2/…`, and an empty prefix
//! the whole bucket. [`check_layout`] refuses such a configuration at start, naming the keys.
//!
//! The rules:
//! - a tenant id is [`is_valid_tenant_id`] (1 to 64 of `A-Za-z0-9_-`, the first alphanumeric);
//! - a `log_prefix` is not empty and ends in `/` (e.g. `logs/acme/`);
//! - in one `log_bucket`, no tenant's `log_prefix` is the start of another's (equal included);
//! - a tenant whose `log_bucket` is `results.bucket` has a `log_prefix` that neither starts
//!   `results.prefix` nor starts with it (an empty `results.prefix` overlaps every prefix).

use std::collections::BTreeMap;

use anyhow::bail;
use statport_core::tenant::{is_valid_tenant_id, MAX_TENANT_ID_LEN};

use crate::config::{ResultsSettings, TenantConfig};

/// Refuses tenant ids that are unsafe in keys and URLs, and log prefixes that would list
/// another tenant's logs or the result files; called by `Settings::check`.
pub fn check_layout(
    results: &ResultsSettings,
    tenants: &BTreeMap<String, TenantConfig>,
) -> anyhow::Result<()> {
    for (id, t) in tenants {
        if !is_valid_tenant_id(id) {
            bail!(
                "invalid configuration: tenant id {:?} (the table [tenants.{}]) must be 1 to {MAX_TENANT_ID_LEN} characters of A-Z, a-z, 0-9, '_' and '-', the first a letter or digit, because it goes into object keys, Redis keys and URLs; rename the table, e.g. [tenants.acme]",
                id,
                id.escape_debug()
            );
        }
        check_prefix(id, t)?;
    }
    let ids: Vec<&String> = tenants.keys().collect();
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            check_tenant_pair(a, &tenants[*a], b, &tenants[*b])?;
        }
    }
    for (id, t) in tenants {
        check_against_results(id, t, results)?;
    }
    Ok(())
}

/// `tenants.<id>.log_prefix` on its own: a real folder-like prefix.
fn check_prefix(id: &str, t: &TenantConfig) -> anyhow::Result<()> {
    let prefix = &t.log_prefix;
    if prefix.is_empty() {
        bail!(
            "invalid configuration: tenants.{id}.log_prefix must not be empty: an empty prefix lists the whole bucket '{}' (every other tenant's logs in it, and any result files); set the folder of this tenant's logs, ending in '/', e.g. log_prefix = \"logs/{id}/\"",
            t.log_bucket
        );
    }
    if !prefix.ends_with('/') {
        bail!(
            "invalid configuration: tenants.{id}.log_prefix '{prefix}' must end in '/': keys are listed by prefix, so '{prefix}' also lists '{prefix}2/…' and any other key that merely starts the same; use e.g. log_prefix = \"{prefix}/\"",
        );
    }
    Ok(())
}

/// Two tenants reading one bucket: neither prefix may be the start of the other.
fn check_tenant_pair(a: &str, ta: &TenantConfig, b: &str, tb: &TenantConfig) -> anyhow::Result<()> {
    if ta.log_bucket != tb.log_bucket {
        return Ok(());
    }
    let (pa, pb) = (&ta.log_prefix, &tb.log_prefix);
    if pa == pb {
        bail!(
            "invalid configuration: tenants.{a}.log_prefix and tenants.{b}.log_prefix are both '{pa}' in log_bucket '{}', so each tenant would read the other's logs; give each tenant its own folder, e.g. '{pa}{a}/' and '{pa}{b}/'",
            ta.log_bucket
        );
    }
    let (outer, outer_prefix, inner, inner_prefix) = if pb.starts_with(pa.as_str()) {
        (a, pa, b, pb)
    } else if pa.starts_with(pb.as_str()) {
        (b, pb, a, pa)
    } else {
        return Ok(());
    };
    bail!(
        "invalid configuration: tenants.{outer}.log_prefix '{outer_prefix}' is the start of tenants.{inner}.log_prefix '{inner_prefix}' in log_bucket '{}', so tenant {outer} would read tenant {inner}'s logs; give each tenant a folder that is not inside another's (e.g. move {outer}'s logs to '{outer_prefix}{outer}/'), or put them in different log buckets",
        ta.log_bucket
    )
}

/// A tenant reading the result bucket: its logs and the result files must not share keys.
fn check_against_results(
    id: &str,
    t: &TenantConfig,
    results: &ResultsSettings,
) -> anyhow::Result<()> {
    if t.log_bucket != results.bucket {
        return Ok(());
    }
    let (logs, files) = (&t.log_prefix, &results.prefix);
    if files.is_empty() {
        bail!(
            "invalid configuration: tenants.{id}.log_bucket is results.bucket '{}' and results.prefix is empty, so result files (keys '<tenant>/<task_id>.<ext>') may land among tenant {id}'s logs under '{logs}' and be read as logs; set results.prefix (e.g. \"exports/\") to a folder outside every log_prefix, or use another results.bucket",
            results.bucket
        );
    }
    if logs.starts_with(files.as_str()) || files.starts_with(logs.as_str()) {
        bail!(
            "invalid configuration: tenants.{id}.log_prefix '{logs}' and results.prefix '{files}' overlap in bucket '{}' (tenants.{id}.log_bucket is results.bucket), so tenant {id} would read result files as logs; give results.prefix a folder that neither starts nor lies inside the tenant's log_prefix (e.g. \"exports/\"), or use another results.bucket",
            results.bucket
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use statport_core::log::format::LogFormat;

    /// A tenant reading `prefix` in `bucket`.
    fn tenant(bucket: &str, prefix: &str) -> TenantConfig {
        TenantConfig {
            api_key_hashes: Vec::new(),
            log_bucket: bucket.into(),
            log_prefix: prefix.into(),
            log_format: LogFormat::Cloudfront,
            limits: Default::default(),
            callback_secret: Default::default(),
            csv_escape_formulas: true,
        }
    }

    fn results(bucket: &str, prefix: &str) -> ResultsSettings {
        ResultsSettings {
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    /// One tenant of a case: `(id, log_bucket, log_prefix)`.
    type Row<'a> = (&'a str, &'a str, &'a str);

    /// `rows` checked against `results`.
    fn check(results: &ResultsSettings, rows: &[Row<'_>]) -> anyhow::Result<()> {
        let tenants = rows
            .iter()
            .map(|(id, bucket, prefix)| (id.to_string(), tenant(bucket, prefix)))
            .collect();
        check_layout(results, &tenants)
    }

    #[test]
    fn layouts_that_keep_tenants_and_results_apart_are_accepted() {
        let default_results = results("statport-results", "exports/");
        let long_id = "a".repeat(MAX_TENANT_ID_LEN);
        let cases: &[(&str, ResultsSettings, Vec<Row<'_>>)] = &[
            ("no tenant", results("r", ""), vec![]),
            (
                "the demo: two folders of one bucket",
                default_results.clone(),
                vec![
                    ("demo", "statport-logs", "demo/cloudfront/"),
                    ("demo-huawei", "statport-logs", "demo/huawei/"),
                ],
            ),
            (
                "siblings that share a start but not a folder",
                default_results.clone(),
                vec![
                    ("acme", "logs", "logs/acme/"),
                    ("acme2", "logs", "logs/acme2/"),
                ],
            ),
            (
                "the same prefix in different buckets",
                default_results.clone(),
                vec![("t1", "logs-a", "cf/"), ("t2", "logs-b", "cf/")],
            ),
            (
                "logs and results in one bucket, in different folders",
                results("shared", "exports/"),
                vec![("t1", "shared", "logs/t1/"), ("t_2", "shared", "logs/t_2/")],
            ),
            (
                "an empty results.prefix in a bucket no tenant reads",
                results("results", ""),
                vec![("t1", "logs", "cf/")],
            ),
            (
                "the longest id",
                default_results.clone(),
                vec![(long_id.as_str(), "logs", "cf/")],
            ),
        ];
        for (what, results, rows) in cases {
            check(results, rows).unwrap_or_else(|e| panic!("{what}: {e}"));
        }
    }

    #[test]
    fn overlapping_or_unsafe_layouts_are_refused_naming_the_keys() {
        let default_results = results("statport-results", "exports/");
        let too_long = "a".repeat(MAX_TENANT_ID_LEN + 1);
        // (what, results, tenants, every text the message must hold)
        let cases: &[(&str, ResultsSettings, Vec<Row<'_>>, &[&str])] = &[
            (
                "an empty prefix lists the whole bucket",
                default_results.clone(),
                vec![("acme", "logs", "")],
                &["tenants.acme.log_prefix", "must not be empty", "logs/acme/"],
            ),
            (
                "a prefix without the trailing '/' lists its siblings",
                default_results.clone(),
                vec![("acme", "logs", "logs/acme")],
                &[
                    "tenants.acme.log_prefix 'logs/acme'",
                    "end in '/'",
                    "logs/acme/",
                ],
            ),
            (
                "equal prefixes in one bucket",
                default_results.clone(),
                vec![("a", "logs", "cf/"), ("b", "logs", "cf/")],
                &["tenants.a.log_prefix", "tenants.b.log_prefix", "both 'cf/'"],
            ),
            (
                "the first tenant's folder holds the second's",
                default_results.clone(),
                vec![("a", "logs", "logs/"), ("b", "logs", "logs/b/")],
                &[
                    "tenants.a.log_prefix 'logs/'",
                    "tenants.b.log_prefix 'logs/b/'",
                ],
            ),
            (
                "the second tenant's folder holds the first's",
                default_results.clone(),
                vec![("a", "logs", "logs/a/"), ("b", "logs", "logs/")],
                &["tenants.b.log_prefix 'logs/' is the start of tenants.a.log_prefix"],
            ),
            (
                "the results folder inside a tenant's logs",
                results("shared", "logs/exports/"),
                vec![("t1", "shared", "logs/")],
                &[
                    "tenants.t1.log_prefix 'logs/'",
                    "results.prefix 'logs/exports/'",
                ],
            ),
            (
                "a tenant's logs inside the results folder",
                results("shared", "out/"),
                vec![("t1", "shared", "out/t1/")],
                &["tenants.t1.log_prefix", "results.prefix 'out/'"],
            ),
            (
                "a results.prefix without '/' that starts a log prefix",
                results("shared", "exports"),
                vec![("t1", "shared", "exports2/")],
                &["results.prefix 'exports'"],
            ),
            (
                "an empty results.prefix in a bucket a tenant reads",
                results("shared", ""),
                vec![("t1", "shared", "logs/t1/")],
                &["tenants.t1.log_bucket", "results.prefix is empty"],
            ),
            (
                "an empty id",
                default_results.clone(),
                vec![("", "logs", "cf/")],
                &["tenant id \"\"", "1 to 64 characters"],
            ),
            (
                "an id with a path step",
                default_results.clone(),
                vec![("../x", "logs", "cf/")],
                &["tenant id \"../x\""],
            ),
            (
                "an id with a space",
                default_results.clone(),
                vec![("a b", "logs", "cf/")],
                &["tenant id \"a b\""],
            ),
            (
                "an id starting with '-'",
                default_results.clone(),
                vec![("-x", "logs", "cf/")],
                &["tenant id \"-x\"", "the first a letter or digit"],
            ),
            (
                "an id one character too long",
                default_results.clone(),
                vec![(too_long.as_str(), "logs", "cf/")],
                &["1 to 64 characters"],
            ),
        ];
        for (what, results, rows, needles) in cases {
            let err = check(results, rows).expect_err(what).to_string();
            for needle in *needles {
                assert!(err.contains(needle), "{what}: {needle:?} not in {err}");
            }
            assert!(err.starts_with("invalid configuration: "), "{what}: {err}");
        }
    }

    /// `Settings::load` over a file holding `toml` (on top of the defaults).
    fn load(toml: &str) -> anyhow::Result<crate::config::Settings> {
        let path = std::env::temp_dir().join(format!(
            "statport-layout-{}.toml",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, toml)?;
        let result = crate::config::Settings::load(Some(&path));
        let _ = std::fs::remove_file(&path);
        result
    }

    #[test]
    fn settings_refuse_to_load_a_leaking_layout() {
        let hash = statport_access::hash_api_key("operator-key");
        let tenant = |id: &str, prefix: &str| {
            format!(
                "[tenants.{id}]\napi_key_hashes = [\"{hash}\"]\nlog_bucket = \"logs\"\nlog_prefix = \"{prefix}\"\nlog_format = \"cloudfront\"\n"
            )
        };
        let ok = format!(
            "{}{}",
            tenant("acme", "logs/acme/"),
            tenant("acme2", "logs/acme2/")
        );
        load(&ok).expect("separate folders load");
        let leaking = format!(
            "{}{}",
            tenant("acme", "logs/acme"),
            tenant("acme2", "logs/acme2/")
        );
        let err = load(&leaking).expect_err("a prefix without '/'");
        assert!(err.to_string().contains("tenants.acme.log_prefix"), "{err}");
        let nested = format!(
            "{}{}",
            tenant("acme", "logs/"),
            tenant("acme2", "logs/acme2/")
        );
        let err = load(&nested).expect_err("one folder inside the other");
        assert!(
            err.to_string().contains("tenants.acme2.log_prefix"),
            "{err}"
        );
        let unset = "[tenants.acme]\napi_key_hashes = []\nlog_bucket = \"logs\"\nlog_format = \"cloudfront\"\n";
        let err = load(unset).expect_err("no log_prefix at all");
        assert!(err.to_string().contains("must not be empty"), "{err}");
    }
}
