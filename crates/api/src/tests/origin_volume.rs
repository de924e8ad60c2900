//! `POST /cdn/report/volOrigin` through the router: the seed's answer shape, every error code,
//! the engine's bounds as client errors, auth and the API rate limit.

use std::collections::BTreeMap;

use super::*;
use statport_core::origin_volume::server_group::{EdgeFilter, ServerGroups};
use statport_core::origin_volume::{
    OriginVolumeEngine, OriginVolumeRequest, ReportFailure, VolumePoint,
};
use statport_core::tenant::TenantLimits;

/// An engine that answers `(i + 1) * 1.25 MB + i bytes` for interval `i`, or the failure it was
/// told to give, and records what it was asked.
#[derive(Debug, Default)]
pub(super) struct ScriptedEngine {
    failure: Mutex<Option<ReportFailure>>,
    seen: Mutex<Vec<(String, OriginVolumeRequest)>>,
}

#[async_trait]
impl OriginVolumeEngine for ScriptedEngine {
    async fn origin_volume(
        &self,
        tenant: &str,
        request: &OriginVolumeRequest,
    ) -> Result<Vec<VolumePoint>, ReportFailure> {
        self.seen
            .lock()
            .expect("lock")
            .push((tenant.to_owned(), request.clone()));
        if let Some(failure) = self.failure.lock().expect("lock").clone() {
            return Err(failure);
        }
        let c = &request.condition;
        Ok(c.granularity
            .bucket_starts(c.range_start, c.range_end)
            .zip(0u64..)
            .map(|(start_ms, i)| VolumePoint {
                start_ms,
                bytes: (i + 1) * 1_250_000 + i,
            })
            .collect())
    }
}

pub(super) fn server_groups() -> ServerGroups {
    ServerGroups::new(BTreeMap::from([(
        "standard".to_owned(),
        vec!["SFO".to_owned(), "IAD".to_owned()],
    )]))
    .expect("groups")
}

const DAILY: &str =
    "/cdn/report/volOrigin?startdate=2019-11-04T00:00:00Z&enddate=2019-11-06T00:00:00Z&type=daily+8";

async fn post(
    f: &Fixture,
    uri: &str,
    key: Option<&str>,
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    send(&f.state, "POST", uri, key, Body::from(body.to_owned())).await
}

#[tokio::test]
async fn answers_in_the_seed_shape_with_utc_timestamps() {
    let f = fixture().await;
    let (status, _, body) = post(
        &f,
        DAILY,
        Some("k1"),
        r#"{"filters": {"hostnames": ["*.example.com"], "serverGroups": ["standard", "NRT"]}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    // `type=daily+8` sent unencoded: days start at 16:00 UTC, shown in UTC.
    assert_eq!(
        as_json(&body),
        json!({"dataName": "origin response volume", "dataUnit": "megabytes", "dataSeries": [
            {"timestamp": "2019-11-03T16:00:00Z", "data": 1.25},
            {"timestamp": "2019-11-04T16:00:00Z", "data": 2.500001},
            {"timestamp": "2019-11-05T16:00:00Z", "data": 3.750002}]})
    );
    let seen = f.engine.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let (tenant, request) = &seen[0];
    assert_eq!(tenant, "t1");
    assert_eq!(request.condition.domains.to_text(), "*.example.com");
    assert_eq!(
        request.edges,
        EdgeFilter::Prefixes(vec!["IAD".into(), "NRT".into(), "SFO".into()])
    );
    // `%2B` is the same; no body is every hostname and every edge.
    let (status, _, body) = post(&f, &DAILY.replace("daily+8", "daily%2B8"), Some("k1"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        as_json(&body)["dataSeries"].as_array().map(Vec::len),
        Some(3)
    );
    let seen = f.engine.seen.lock().expect("lock").clone();
    assert_eq!(seen[1].1.edges, EdgeFilter::All);
    assert_eq!(seen[1].1.condition.domains.to_text(), "all");
}

#[tokio::test]
async fn every_bad_input_has_its_code() {
    let f = fixture().await;
    let hourly = "/cdn/report/volOrigin?startdate=2019-11-04T00:00:00Z&enddate=2019-11-05T00:00:00Z&type=hourly";
    let cases: Vec<(String, &str, &str)> = vec![
        (DAILY.replace("daily+8", "weekly"), "", "InvalidType"),
        (
            DAILY.replace("2019-11-06", "2020-11-06"),
            "",
            "InvalidTimeSpan",
        ),
        (
            DAILY.replace("2019-11-06", "2019-11-01"),
            "",
            "InvalidTimeSpan",
        ),
        (
            hourly.into(),
            r#"{"filters": {"hostnames": ["sfasdfsdfasdfasdf"]}}"#,
            "InvalidHostnames",
        ),
        (
            hourly.into(),
            r#"{"filters": {"serverGroups": ["premium"]}}"#,
            "InvalidServerGroups",
        ),
        (
            hourly.into(),
            r#"{"filters": {"serverGroups": [""]}}"#,
            "InvalidServerGroups",
        ),
        (hourly.into(), "{not json", "StatPort.MalformedBody"),
        (
            hourly.into(),
            r#"{"filters": {"hostnames": "a.example.com"}}"#,
            "InvalidParameter",
        ),
        (
            hourly.replace("00:00:00Z&type", "00:00:00%2B08:00&type"),
            "",
            "InvalidParameter",
        ),
        (format!("{hourly}&scheme=ftp"), "", "InvalidParameter"),
        (format!("{hourly}&foo=1"), "", "InvalidParameter"),
        (hourly.replace("&type=hourly", ""), "", "MissingParameter"),
        (hourly.replace("startdate", "start"), "", "InvalidParameter"),
    ];
    for (uri, body, want) in cases {
        let (status, headers, answer) = post(&f, &uri, Some("k1"), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} {body}");
        assert_eq!(
            error_code(&headers, &answer),
            want,
            "{uri} {body}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert!(
        f.engine.seen.lock().expect("lock").is_empty(),
        "nothing invalid reaches the engine"
    );
    let (status, headers, body) = post(&f, hourly, None, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&headers, &body), "StatPort.Unauthorized");
    let (status, headers, body) = send(&f.state, "GET", hourly, Some("k1"), Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&headers, &body), "StatPort.MethodNotAllowed");
}

#[tokio::test]
async fn the_engines_bounds_become_client_errors() {
    let f = fixture().await;
    for (failure, status, code) in [
        (
            ReportFailure::TooLarge {
                bytes: 10,
                files: 1,
                limit: 5,
            },
            StatusCode::BAD_REQUEST,
            "StatPort.ReportTooLarge",
        ),
        (
            ReportFailure::TimedOut { limit_ms: 1000 },
            StatusCode::SERVICE_UNAVAILABLE,
            "StatPort.ReportTimedOut",
        ),
        (
            ReportFailure::Busy { limit: 2 },
            StatusCode::TOO_MANY_REQUESTS,
            "StatPort.TooManyReports",
        ),
        (
            ReportFailure::Unavailable {
                cause: "dial tcp 10.0.0.1: refused".into(),
            },
            StatusCode::SERVICE_UNAVAILABLE,
            "StatPort.ServiceUnavailable",
        ),
    ] {
        *f.engine.failure.lock().expect("lock") = Some(failure.clone());
        let (got, headers, body) = post(&f, DAILY, Some("k1"), "").await;
        assert_eq!(got, status, "{failure:?}");
        assert_eq!(error_code(&headers, &body), code);
        let message = as_json(&body)["error"]["error_msg"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            !message.contains("10.0.0.1"),
            "internal causes stay in the log: {message}"
        );
        if !matches!(failure, ReportFailure::Unavailable { .. }) {
            assert!(
                message.contains("origin_detail"),
                "points to an export task: {message}"
            );
        }
        assert_eq!(
            headers.contains_key("retry-after"),
            matches!(failure, ReportFailure::Busy { .. })
        );
    }
}

#[tokio::test]
async fn reports_count_against_the_api_rate() {
    let mut f = fixture().await;
    f.tenant("t1", |t| {
        t.limits = TenantLimits {
            api_per_second: 1,
            api_burst: 1,
            ..TenantLimits::default()
        }
    });
    let (status, _, _) = post(&f, DAILY, Some("k1"), "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, body) = post(&f, DAILY, Some("k1"), "").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(&headers, &body), "StatPort.TooManyRequests");
}
