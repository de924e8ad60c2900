use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use statport_core::log::format::LogFormat;
use statport_core::origin_volume::server_group::ServerGroups;
use statport_core::tenant::{LogSource, Tenant};
use statport_core::time::{ms_from_civil, HOUR_MS};
use statport_core::RequestLimits;
use statport_storage::{ObjectMeta, ObjectReader};
use tokio::sync::Notify;

use super::*;

/// An in-memory object store of one bucket, `logs`, whose reads can be made to hang.
#[derive(Debug, Default)]
struct MemStore {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    gets: AtomicUsize,
    hang_gets: AtomicBool,
    got: Notify,
}

#[async_trait]
impl ObjectStore for MemStore {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        if bucket != "logs" {
            return Err(StorageError::NoSuchBucket {
                bucket: bucket.into(),
            });
        }
        let objects = self.objects.lock().expect("lock");
        Ok(objects
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectMeta {
                key: k.clone(),
                size: v.len() as u64,
                last_modified_ms: None,
            })
            .collect())
    }

    async fn get(&self, _bucket: &str, key: &str) -> Result<ObjectReader, StorageError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.got.notify_one();
        if self.hang_gets.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let data = self.objects.lock().expect("lock").get(key).cloned();
        let data = data.ok_or_else(|| StorageError::NoSuchKey {
            bucket: "logs".into(),
            key: key.into(),
        })?;
        Ok(ObjectReader::new(
            Some(data.len() as u64),
            std::io::Cursor::new(data),
        ))
    }

    async fn put_file(&self, _: &str, _: &str, _: &Path, _: &str) -> Result<u64, StorageError> {
        Err(StorageError::Other("read-only".into()))
    }

    async fn put_bytes(
        &self,
        _: &str,
        key: &str,
        body: Bytes,
        _: &str,
    ) -> Result<(), StorageError> {
        self.objects
            .lock()
            .expect("lock")
            .insert(key.into(), body.to_vec());
        Ok(())
    }

    async fn delete(&self, _: &str, _: &str) -> Result<(), StorageError> {
        Ok(())
    }

    async fn ensure_bucket(&self, _: &str) -> Result<(), StorageError> {
        Ok(())
    }

    async fn ping(&self, _: &str) -> Result<(), StorageError> {
        Ok(())
    }
}

const FIELDS: &str = "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields";

/// One generated request: what the expected sums are computed from.
#[derive(Debug, Clone)]
struct Req {
    ts: i64,
    edge: &'static str,
    bytes: u64,
    host: &'static str,
    miss: bool,
}

fn line(r: &Req) -> String {
    let text = statport_core::time::format_rfc3339(r.ts, 0);
    let (date, time) = (&text[..10], &text[11..19]);
    let result = if r.miss { "Miss" } else { "Hit" };
    format!("{date}\t{time}\t{}\t{}\t192.0.2.1\tGET\td1.cloudfront.net\t/a.png\t200\t-\tcurl/8\t-\t-\t{result}\tid\t{}\thttps\t100\t0.01\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\t{result}\tHTTP/2.0\t-\t-", r.edge, r.bytes, r.host)
}

fn gz(text: &str) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(text.as_bytes()).expect("in-memory write");
    e.finish().expect("in-memory gzip")
}

fn day() -> i64 {
    ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date")
}

/// Three hourly files of deterministic traffic; returns every request written.
async fn three_hours(store: &MemStore) -> Vec<Req> {
    const EDGES: [&str; 3] = ["SFO5-C1", "NRT57-P2", "SFO9-P1"];
    const HOSTS: [&str; 3] = ["a.example.com", "b.example.com", "c.example.org"];
    let mut all = Vec::new();
    let mut x: u64 = 17;
    for hour in 0..3i64 {
        let mut text = format!("#Version: 1.0\n{FIELDS}\n");
        for _ in 0..300 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = Req {
                // Some lines late, from the previous hour.
                ts: day() + hour * HOUR_MS + i64::try_from((x >> 20) % 3_600_000).expect("fits")
                    - if (x >> 7).is_multiple_of(10) {
                        HOUR_MS / 2
                    } else {
                        0
                    },
                edge: EDGES[usize::try_from((x >> 30) % 3).expect("small")],
                bytes: (x >> 40) % 3_000_000,
                host: HOSTS[usize::try_from((x >> 50) % 3).expect("small")],
                miss: (x >> 3).is_multiple_of(4),
            };
            text.push_str(&line(&r));
            text.push('\n');
            all.push(r);
        }
        store
            .put_bytes(
                "logs",
                &format!("cf/E.2026-11-01-0{hour}.a.gz"),
                Bytes::from(gz(&text)),
                "",
            )
            .await
            .expect("put");
    }
    all
}

fn settings() -> OriginVolumeSettings {
    OriginVolumeSettings {
        max_compressed_bytes: 10_000_000,
        timeout: Duration::from_secs(60),
        max_concurrent: 2,
        scan_parallelism: 2,
        late_hours: 2,
    }
}

fn reporter(
    store: &Arc<MemStore>,
    settings: OriginVolumeSettings,
    bucket: &str,
) -> OriginVolumeReporter {
    let tenant = Tenant::reading(LogSource {
        bucket: bucket.into(),
        prefix: "cf/".into(),
        format: LogFormat::Cloudfront,
    });
    OriginVolumeReporter::new(
        Arc::clone(store) as Arc<dyn ObjectStore>,
        Arc::new(HashMap::from([("t1".to_owned(), tenant)]).into()),
        settings,
    )
}

fn request(start: &str, end: &str, type_: &str, body: &str) -> OriginVolumeRequest {
    let pairs = [("startdate", start), ("enddate", end), ("type", type_)]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<Vec<_>>();
    let groups = ServerGroups::new(BTreeMap::from([(
        "standard".to_owned(),
        vec!["SFO".to_owned()],
    )]))
    .expect("groups");
    OriginVolumeRequest::parse(&pairs, body.as_bytes(), &groups, &RequestLimits::default())
        .expect("valid request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sums_origin_bytes_per_interval_over_every_file() {
    let store = Arc::new(MemStore::default());
    let all = three_hours(&store).await;
    let r = reporter(&store, settings(), "logs");
    let req = request(
        "2026-11-01T00:00:00Z",
        "2026-11-01T03:30:00Z",
        "hourly",
        r#"{"filters": {"hostnames": ["*.example.com"], "serverGroups": ["standard"]}}"#,
    );
    let points = r.origin_volume("t1", &req).await.expect("report");
    let starts: Vec<i64> = points.iter().map(|p| p.start_ms).collect();
    assert_eq!(
        starts,
        (0..4).map(|h| day() + h * HOUR_MS).collect::<Vec<_>>()
    );
    for p in &points {
        let want: u64 = all
            .iter()
            .filter(|q| {
                q.miss
                    && q.edge.starts_with("SFO")
                    && q.host.ends_with(".example.com")
                    && q.ts >= p.start_ms
                    && q.ts < p.start_ms + HOUR_MS
            })
            .map(|q| q.bytes)
            .sum();
        assert_eq!(p.bytes, want, "hour starting {}", p.start_ms);
    }
    assert!(points[0].bytes > 0 && points[2].bytes > 0);
    assert_eq!(points[3].bytes, 0, "an interval without logs is a zero");
    assert_eq!(store.gets.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn over_the_byte_bound_nothing_is_read() {
    let store = Arc::new(MemStore::default());
    three_hours(&store).await;
    let total: u64 = store
        .list("logs", "cf/")
        .await
        .expect("list")
        .iter()
        .map(|o| o.size)
        .sum();
    let r = reporter(
        &store,
        OriginVolumeSettings {
            max_compressed_bytes: total - 1,
            ..settings()
        },
        "logs",
    );
    let req = request(
        "2026-11-01T00:00:00Z",
        "2026-11-01T01:00:00Z",
        "fiveminutes",
        "",
    );
    let failure = r.origin_volume("t1", &req).await.expect_err("too large");
    assert_eq!(
        failure,
        ReportFailure::TooLarge {
            bytes: total,
            files: 3,
            limit: total - 1
        }
    );
    assert_eq!(store.gets.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_report_too_many_is_refused_and_a_slow_one_times_out() {
    let store = Arc::new(MemStore::default());
    three_hours(&store).await;
    store.hang_gets.store(true, Ordering::SeqCst);
    let r = reporter(
        &store,
        OriginVolumeSettings {
            max_concurrent: 1,
            timeout: Duration::from_millis(300),
            ..settings()
        },
        "logs",
    );
    let req = request("2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z", "hourly", "");
    let got = store.got.notified();
    let slow = tokio::spawn({
        let (r, req) = (r.clone(), req.clone());
        async move { r.origin_volume("t1", &req).await }
    });
    // The first report is reading (its GET never answers): a second one is refused at once.
    got.await;
    assert_eq!(
        r.origin_volume("t1", &req).await,
        Err(ReportFailure::Busy { limit: 1 })
    );
    assert_eq!(
        slow.await.expect("joined"),
        Err(ReportFailure::TimedOut { limit_ms: 300 })
    );
    // The permit came back with the timeout.
    store.hang_gets.store(false, Ordering::SeqCst);
    assert!(r.origin_volume("t1", &req).await.is_ok());
}

#[tokio::test]
async fn sources_that_cannot_be_read_say_why() {
    let store = Arc::new(MemStore::default());
    let req = request("2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z", "hourly", "");
    let r = reporter(&store, settings(), "logs");
    assert_eq!(
        r.origin_volume("nobody", &req).await,
        Err(ReportFailure::NoLogSource)
    );
    let r = reporter(&store, settings(), "gone");
    assert_eq!(
        r.origin_volume("t1", &req).await,
        Err(ReportFailure::LogBucketNotFound {
            bucket: "gone".into()
        })
    );
    store
        .put_bytes(
            "logs",
            "cf/E.2026-11-01-00.a.gz",
            Bytes::from_static(b"not gzip"),
            "",
        )
        .await
        .expect("put");
    let r = reporter(&store, settings(), "logs");
    let failure = r.origin_volume("t1", &req).await.expect_err("corrupt");
    assert!(
        matches!(&failure, ReportFailure::CorruptLogFile { key, .. } if key == "cf/E.2026-11-01-00.a.gz"),
        "{failure:?}"
    );
}
