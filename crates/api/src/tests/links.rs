//! The download endpoint checks a link's signature before it reads anything, and refused links
//! are throttled per client address.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ConnectInfo;
use statport_core::task::TaskRecord;
use statport_records::{
    Admission, AdmissionLimits, Claim, ListQuery, Outcome, StoreError, TaskPage,
};

use super::*;
use crate::limits::REFUSED_LINKS;

/// A task store that counts its reads and passes everything to a memory store.
#[derive(Debug, Default)]
struct CountingStore {
    inner: MemoryTaskStore,
    gets: AtomicUsize,
}

#[async_trait]
impl TaskStore for CountingStore {
    async fn create(&self, record: &TaskRecord) -> Result<(), StoreError> {
        self.inner.create(record).await
    }
    async fn admit(
        &self,
        record: &TaskRecord,
        limits: &AdmissionLimits,
    ) -> Result<Admission, StoreError> {
        self.inner.admit(record, limits).await
    }
    async fn expire_file(
        &self,
        tenant: &str,
        task_id: &str,
        ended_by: i64,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        self.inner
            .expire_file(tenant, task_id, ended_by, now_ms)
            .await
    }
    async fn get(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        self.gets.fetch_add(1, Ordering::AcqRel);
        self.inner.get(tenant, task_id).await
    }
    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<TaskPage, StoreError> {
        self.inner.list(tenant, query).await
    }
    async fn delete(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        self.inner.delete(tenant, task_id).await
    }
    async fn claim(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        now_ms: i64,
    ) -> Result<Claim, StoreError> {
        self.inner.claim(tenant, task_id, run_id, now_ms).await
    }
    async fn progress(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        progress: u8,
        read_lines: u64,
        skipped_lines: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .progress(
                tenant,
                task_id,
                run_id,
                progress,
                read_lines,
                skipped_lines,
                now_ms,
            )
            .await
    }
    async fn finish(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .finish(tenant, task_id, run_id, outcome, now_ms)
            .await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// A download of `path` from `client`, as the server with connect info sees it.
async fn download_from(
    state: &AppState,
    path: &str,
    client: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let addr: SocketAddr = client.parse().expect("an address");
    let mut request = Request::builder()
        .method("GET")
        .uri(path)
        .body(Body::empty())
        .expect("request");
    request.extensions_mut().insert(ConnectInfo(addr));
    let response = app(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, headers, body.to_vec())
}

/// `path` with the last character of its signature changed.
fn tampered(path: &str) -> String {
    let (head, last) = path.split_at(path.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

#[tokio::test]
async fn a_forged_link_is_refused_before_any_record_is_read() {
    let mut f = fixture().await;
    let store = Arc::new(CountingStore::default());
    f.state.submitter.tasks = store.clone();
    let path = finished_task(&f.state, "x").await;
    let reads = store.gets.load(Ordering::Acquire);
    for forged in [
        tampered(&path),
        path.replace("kid=", "kid=0"),
        path.replace("expires=", "expires=9"),
        path.replace("/done?", "/other?"),
        "/v1/downloads/t1/done?expires=1".to_owned(),
    ] {
        let (status, headers, body) = download_from(&f.state, &forged, "192.0.2.1:5000").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{forged}");
        assert_eq!(error_code(&headers, &body), "StatPort.InvalidLink");
    }
    assert_eq!(
        store.gets.load(Ordering::Acquire),
        reads,
        "no record was read"
    );
    let (status, _, _) = download_from(&f.state, &path, "192.0.2.1:5000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(store.gets.load(Ordering::Acquire), reads + 1);
}

#[tokio::test]
async fn refused_links_are_throttled_per_client_address_and_valid_ones_never() {
    let f = fixture().await;
    let path = finished_task(&f.state, "x").await;
    let forged = tampered(&path);
    for _ in 0..REFUSED_LINKS.burst {
        let (status, _, _) = download_from(&f.state, &forged, "198.51.100.7:1000").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, headers, body) = download_from(&f.state, &forged, "198.51.100.7:1001").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(&headers, &body), "StatPort.TooManyRequests");
    assert!(headers.get("retry-after").is_some());
    // Another address has its own budget.
    let (status, _, _) = download_from(&f.state, &forged, "203.0.113.9:1000").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A valid link from the throttled address still downloads.
    let (status, _, file) = download_from(&f.state, &path, "198.51.100.7:1002").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(file, b"time,flux\r\n");
    // The budget refills with time: one refused link a minute / 10 later.
    f.clock
        .advance(REFUSED_LINKS.period_ms / i64::from(REFUSED_LINKS.count));
    let (status, _, _) = download_from(&f.state, &forged, "198.51.100.7:1003").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
