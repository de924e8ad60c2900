//! One behaviour suite for every [`ObjectStore`], run against [`LocalStore`] in a temporary
//! folder and [`S3Store`] against a real S3-compatible server.
//!
//! The S3 run reads `S3_ENDPOINT` (default `http://127.0.0.1:9000`, credentials
//! `test`/`test`, region `us-east-1`, path style) and fails when the server is unreachable
//! unless `STATPORT_SKIP_S3=1`; start a server with `scripts/start-s3.sh`.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::{
    LocalStore, ObjectMeta, ObjectStore, S3Settings, S3Store, StorageError, Upload, MIN_PART_SIZE,
};

/// Size of the file that must go up in several parts (with [`MIN_PART_SIZE`] parts).
const MULTIPART_FILE_SIZE: usize = 11 * 1024 * 1024 + 12_345;
/// Size of the streamed result that must go up in several parts: three and a half parts
/// of [`MIN_PART_SIZE`], the part size of the S3 store under test.
const MULTIPART_STREAM_SIZE: usize = 3 * MIN_PART_SIZE as usize + MIN_PART_SIZE as usize / 2;
/// Chunk size of the streamed writes: odd, so that chunks straddle part boundaries.
const STREAM_CHUNK: usize = 1024 * 1024 + 7;
/// Keys written to exercise listing pagination (with a page size of 2 on S3).
const PAGED_KEYS: usize = 7;

/// Runs every check against `store`, using `bucket`, which must not exist yet.
pub(crate) async fn run_suite(store: &dyn ObjectStore, bucket: &str) {
    buckets(store, bucket).await;
    missing_bucket(store, &format!("{bucket}-absent")).await;
    put_get_round_trip(store, bucket).await;
    missing_key(store, bucket).await;
    prefix_listing(store, bucket).await;
    paginated_listing(store, bucket).await;
    overwrite_and_delete(store, bucket).await;
    put_small_file(store, bucket).await;
    put_multipart_file(store, bucket).await;
    stream_small(store, bucket).await;
    stream_empty(store, bucket).await;
    stream_multipart(store, bucket).await;
    stream_replaces_only_at_finish(store, bucket).await;
    stream_abort_and_drop(store, bucket).await;
    stream_missing_bucket(store, &format!("{bucket}-absent")).await;
    last_modified(store, bucket).await;
}

/// The listing of `prefix` with every object's age checked to be known, then left out, so the
/// checks compare keys and sizes.
async fn listed(store: &dyn ObjectStore, bucket: &str, prefix: &str) -> Vec<ObjectMeta> {
    let listed = store.list(bucket, prefix).await.expect("list");
    listed
        .into_iter()
        .map(|m| {
            assert!(m.last_modified_ms.is_some(), "no last-modified time: {m:?}");
            ObjectMeta {
                last_modified_ms: None,
                ..m
            }
        })
        .collect()
}

/// Now, ms since the Unix epoch, as the test host's clock says.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .expect("a clock after 1970")
}

/// A listed object says when it was written: between just before the put and just after it
/// (S3 keeps whole seconds, and the server's clock may be a little off the test's).
async fn last_modified(store: &dyn ObjectStore, bucket: &str) {
    const SLACK_MS: i64 = 5_000;
    let before = now_ms();
    store
        .put_bytes(bucket, "aged/k", Bytes::from_static(b"x"), "text/plain")
        .await
        .expect("put");
    let after = now_ms();
    let listed = store.list(bucket, "aged/").await.expect("list");
    let [object] = listed.as_slice() else {
        panic!("one object: {listed:?}");
    };
    let at = object.last_modified_ms.expect("a last-modified time");
    assert!(
        (before - SLACK_MS..=after + SLACK_MS).contains(&at),
        "written between {before} and {after}, listed as {at}"
    );
}

async fn buckets(store: &dyn ObjectStore, bucket: &str) {
    store.ensure_bucket(bucket).await.expect("create bucket");
    store
        .ensure_bucket(bucket)
        .await
        .expect("ensure_bucket is idempotent");
    store.ping(bucket).await.expect("ping existing bucket");
    let listed = store.list(bucket, "").await.expect("list new bucket");
    assert!(listed.is_empty(), "new bucket is empty: {listed:?}");
}

async fn missing_bucket(store: &dyn ObjectStore, absent: &str) {
    let is_missing = |err: &StorageError| matches!(err, StorageError::NoSuchBucket { bucket } if bucket == absent);
    let err = store
        .list(absent, "")
        .await
        .expect_err("list missing bucket");
    assert!(is_missing(&err), "list: {err:?}");
    let err = store
        .get(absent, "k")
        .await
        .expect_err("get from missing bucket");
    assert!(is_missing(&err), "get: {err:?}");
    let err = store.ping(absent).await.expect_err("ping missing bucket");
    assert!(is_missing(&err), "ping: {err:?}");
    assert!(!err.is_retryable());
    assert_eq!(err.to_string(), format!("bucket '{absent}' does not exist"));
}

async fn put_get_round_trip(store: &dyn ObjectStore, bucket: &str) {
    let key = "round-trip/dir/a file+with=odd&chars é.txt";
    let body = Bytes::from_static(b"hello, statport\n");
    store
        .put_bytes(bucket, key, body.clone(), "text/plain")
        .await
        .expect("put_bytes");
    assert_eq!(read_all(store, bucket, key).await, body);
    let listed = listed(store, bucket, "round-trip/").await;
    assert_eq!(listed, vec![meta(key, body.len())]);

    store
        .put_bytes(
            bucket,
            "round-trip/empty",
            Bytes::new(),
            "application/octet-stream",
        )
        .await
        .expect("put empty object");
    assert!(read_all(store, bucket, "round-trip/empty").await.is_empty());
}

async fn missing_key(store: &dyn ObjectStore, bucket: &str) {
    let err = store
        .get(bucket, "no/such/key")
        .await
        .expect_err("get missing key");
    match &err {
        StorageError::NoSuchKey { bucket: b, key } => {
            assert_eq!((b.as_str(), key.as_str()), (bucket, "no/such/key"));
        }
        other => panic!("expected NoSuchKey, got {other:?}"),
    }
    assert!(!err.is_retryable());
}

async fn prefix_listing(store: &dyn ObjectStore, bucket: &str) {
    let keys = [
        "prefix/logs/2024/01/a.gz",
        "prefix/logs/2024/01/b.gz",
        "prefix/logs/2024/02/c.gz",
        "prefix/logsx",
        "prefix/other/d.gz",
    ];
    // Written out of order: listings must come back sorted anyway.
    for (i, key) in keys.iter().enumerate().rev() {
        let body = Bytes::from(vec![b'x'; i + 1]);
        store
            .put_bytes(bucket, key, body, "application/gzip")
            .await
            .expect("put");
    }
    let listed_keys = |prefix: &'static str| async move {
        let listed = store.list(bucket, prefix).await.expect("list");
        listed.into_iter().map(|m| m.key).collect::<Vec<_>>()
    };
    assert_eq!(listed_keys("prefix/").await, keys);
    assert_eq!(listed_keys("prefix/logs/").await, keys[..3]);
    assert_eq!(
        listed_keys("prefix/logs").await,
        keys[..4],
        "prefix need not end at a slash"
    );
    assert_eq!(listed_keys("prefix/logs/2024/0").await, keys[..3]);
    assert_eq!(listed_keys("prefix/logs/2024/01/b").await, keys[1..2]);
    assert!(listed_keys("prefix/nothing/").await.is_empty());
    assert!(listed_keys("prefix/logs/2024/01/a.gz/").await.is_empty());

    let sizes = listed(store, bucket, "prefix/").await;
    let expected: Vec<ObjectMeta> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| meta(k, i + 1))
        .collect();
    assert_eq!(sizes, expected);
}

async fn paginated_listing(store: &dyn ObjectStore, bucket: &str) {
    let keys: Vec<String> = (0..PAGED_KEYS).map(|i| format!("paged/{i:03}")).collect();
    for key in &keys {
        store
            .put_bytes(bucket, key, Bytes::from(key.clone()), "text/plain")
            .await
            .expect("put");
    }
    let listed = listed(store, bucket, "paged/").await;
    let expected: Vec<ObjectMeta> = keys.iter().map(|k| meta(k, k.len())).collect();
    assert_eq!(listed, expected);
}

async fn overwrite_and_delete(store: &dyn ObjectStore, bucket: &str) {
    let key = "overwrite/key";
    store
        .put_bytes(bucket, key, Bytes::from_static(b"first"), "text/plain")
        .await
        .expect("put");
    store
        .put_bytes(bucket, key, Bytes::from_static(b"second!"), "text/plain")
        .await
        .expect("overwrite");
    assert_eq!(
        read_all(store, bucket, key).await,
        Bytes::from_static(b"second!")
    );
    assert_eq!(
        listed(store, bucket, "overwrite/").await,
        vec![meta(key, 7)]
    );

    store.delete(bucket, key).await.expect("delete");
    let err = store
        .get(bucket, key)
        .await
        .expect_err("deleted object is gone");
    assert!(matches!(err, StorageError::NoSuchKey { .. }), "{err:?}");
    assert!(store
        .list(bucket, "overwrite/")
        .await
        .expect("list")
        .is_empty());
    store
        .delete(bucket, key)
        .await
        .expect("deleting a missing object is ok");
    store
        .delete(bucket, "overwrite/never/existed")
        .await
        .expect("deleting a missing object is ok");
}

async fn put_small_file(store: &dyn ObjectStore, bucket: &str) {
    let data = pattern(10_000, 1);
    let file = TempFile::with_contents(&data);
    let key = "files/small.csv";
    let size = store
        .put_file(bucket, key, file.path(), "text/csv")
        .await
        .expect("put_file");
    assert_eq!(size, data.len() as u64);
    assert_eq!(read_all(store, bucket, key).await, data);
}

async fn put_multipart_file(store: &dyn ObjectStore, bucket: &str) {
    let data = pattern(MULTIPART_FILE_SIZE, 2);
    let file = TempFile::with_contents(&data);
    let key = "files/big.json";
    let size = store
        .put_file(bucket, key, file.path(), "application/json")
        .await
        .expect("put_file multipart");
    assert_eq!(size, data.len() as u64);
    let reader = store.get(bucket, key).await.expect("get");
    assert_eq!(reader.size, Some(data.len() as u64));
    assert_eq!(
        read_all(store, bucket, key).await,
        data,
        "content survives the part split"
    );
    assert_eq!(
        listed(store, bucket, key).await,
        vec![meta(key, data.len())]
    );

    let err = store
        .put_file(
            bucket,
            "files/none",
            Path::new("/nonexistent/statport/file"),
            "text/plain",
        )
        .await
        .expect_err("missing local file");
    assert!(matches!(err, StorageError::Other(_)), "{err:?}");
}

/// Streams `data` to `key` in `chunk`-sized writes and returns the upload, not finished.
async fn stream<'a>(
    store: &'a dyn ObjectStore,
    bucket: &str,
    key: &str,
    data: &Bytes,
    chunk: usize,
) -> Box<dyn Upload + 'a> {
    let mut upload = store
        .start_upload(bucket, key, "text/csv")
        .await
        .expect("start upload");
    for offset in (0..data.len()).step_by(chunk.max(1)) {
        let end = (offset + chunk).min(data.len());
        upload
            .write(data.slice(offset..end))
            .await
            .expect("write chunk");
    }
    upload
}

/// Checks that nothing is stored under `key`.
async fn assert_absent(store: &dyn ObjectStore, bucket: &str, key: &str) {
    let err = store.get(bucket, key).await.expect_err("no object yet");
    assert!(
        matches!(err, StorageError::NoSuchKey { .. }),
        "{key}: {err:?}"
    );
    let listed = listed(store, bucket, key).await;
    assert!(listed.is_empty(), "{key}: {listed:?}");
}

async fn stream_small(store: &dyn ObjectStore, bucket: &str) {
    let data = pattern(100_000, 5);
    let key = "stream/small.csv";
    let upload = stream(store, bucket, key, &data, 999).await;
    assert_absent(store, bucket, key).await;
    assert_eq!(upload.finish().await.expect("finish"), data.len() as u64);
    assert_eq!(read_all(store, bucket, key).await, data);
    assert_eq!(
        listed(store, bucket, key).await,
        vec![meta(key, data.len())]
    );
}

async fn stream_empty(store: &dyn ObjectStore, bucket: &str) {
    let key = "stream/empty.csv";
    let upload = stream(store, bucket, key, &Bytes::new(), 1).await;
    assert_eq!(upload.finish().await.expect("finish"), 0);
    assert!(read_all(store, bucket, key).await.is_empty());
}

async fn stream_multipart(store: &dyn ObjectStore, bucket: &str) {
    let data = pattern(MULTIPART_STREAM_SIZE, 6);
    let key = "stream/big.csv";
    let upload = stream(store, bucket, key, &data, STREAM_CHUNK).await;
    // Three parts have been sent by now, but none of them is an object.
    assert_absent(store, bucket, key).await;
    assert_eq!(upload.finish().await.expect("finish"), data.len() as u64);
    assert_eq!(
        read_all(store, bucket, key).await,
        data,
        "content survives the part split"
    );
    assert_eq!(
        listed(store, bucket, key).await,
        vec![meta(key, data.len())]
    );
}

async fn stream_replaces_only_at_finish(store: &dyn ObjectStore, bucket: &str) {
    let key = "stream/replaced.csv";
    let old = Bytes::from_static(b"old contents\n");
    store
        .put_bytes(bucket, key, old.clone(), "text/csv")
        .await
        .expect("put");
    let new = pattern(MIN_PART_SIZE as usize + 3, 7);
    let upload = stream(store, bucket, key, &new, STREAM_CHUNK).await;
    assert_eq!(
        read_all(store, bucket, key).await,
        old,
        "old object until finish"
    );
    assert_eq!(upload.finish().await.expect("finish"), new.len() as u64);
    assert_eq!(read_all(store, bucket, key).await, new);
}

async fn stream_abort_and_drop(store: &dyn ObjectStore, bucket: &str) {
    let data = pattern(2 * MIN_PART_SIZE as usize + 11, 8);
    for small in [true, false] {
        let len = if small { 10 } else { data.len() };
        let body = data.slice(..len);
        let key = format!("stream/aborted-{len}.csv");
        stream(store, bucket, &key, &body, STREAM_CHUNK)
            .await
            .abort()
            .await;
        assert_absent(store, bucket, &key).await;

        let key = format!("stream/dropped-{len}.csv");
        drop(stream(store, bucket, &key, &body, STREAM_CHUNK).await);
        assert_absent(store, bucket, &key).await;
    }
    assert!(
        store
            .list(bucket, "stream/")
            .await
            .expect("list")
            .iter()
            .all(|m| !m.key.contains("aborted") && !m.key.contains("dropped")),
        "aborted uploads left objects"
    );
}

async fn stream_missing_bucket(store: &dyn ObjectStore, absent: &str) {
    let started = store.start_upload(absent, "k.csv", "text/csv").await;
    let err = match started {
        // A store that cannot tell at start must tell at finish.
        Ok(mut upload) => match upload.write(Bytes::from_static(b"x")).await {
            Ok(()) => upload
                .finish()
                .await
                .expect_err("finish into a missing bucket"),
            Err(err) => err,
        },
        Err(err) => err,
    };
    assert!(
        matches!(&err, StorageError::NoSuchBucket { bucket } if bucket == absent),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

/// Reads a whole object through its streaming body, checking the reported size.
pub(crate) async fn read_all(store: &dyn ObjectStore, bucket: &str, key: &str) -> Bytes {
    let mut reader = store.get(bucket, key).await.expect("get");
    let mut out = Vec::new();
    reader.body.read_to_end(&mut out).await.expect("read body");
    if let Some(size) = reader.size {
        assert_eq!(size, out.len() as u64, "reported size of {key}");
    }
    Bytes::from(out)
}

fn meta(key: &str, size: usize) -> ObjectMeta {
    ObjectMeta {
        key: key.to_owned(),
        size: size as u64,
        last_modified_ms: None,
    }
}

/// Deterministic bytes that differ at every offset, so a misplaced part is caught.
pub(crate) fn pattern(len: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// A file in the system temp dir, removed on drop.
pub(crate) struct TempFile(PathBuf);

impl TempFile {
    pub(crate) fn with_contents(data: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("statport-storage-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, data).expect("write temp file");
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A bucket name no other test uses.
pub(crate) fn fresh_bucket() -> String {
    format!("statport-test-{}", uuid::Uuid::new_v4())
}

/// Settings for the test S3 server at `S3_ENDPOINT`.
pub(crate) fn s3_test_settings() -> S3Settings {
    let endpoint = std::env::var("S3_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "http://127.0.0.1:9000".to_owned());
    S3Settings {
        endpoint,
        region: "us-east-1".to_owned(),
        access_key_id: "test".to_owned(),
        secret_access_key: "test".to_owned(),
        path_style: true,
    }
}

/// The S3 store under test with small pages and parts, or `None` when
/// `STATPORT_SKIP_S3=1`.
pub(crate) fn s3_test_store() -> Option<S3Store> {
    if std::env::var("STATPORT_SKIP_S3").is_ok_and(|v| v == "1") {
        eprintln!("STATPORT_SKIP_S3=1: skipping test against the S3 server");
        return None;
    }
    Some(
        S3Store::new(s3_test_settings())
            .with_list_page_size(2)
            .with_part_size(MIN_PART_SIZE),
    )
}

/// Fails with a hint when the S3 server does not answer.
pub(crate) async fn require_s3(store: &S3Store) {
    // The bucket need not exist: any answer from the server proves it is reachable.
    if let Err(err @ StorageError::Unavailable(_)) = store.ping("statport-reachability").await {
        panic!(
            "S3 server at {} is unreachable ({err}); start one with scripts/start-s3.sh, \
             point S3_ENDPOINT at one, or set STATPORT_SKIP_S3=1",
            s3_test_settings().endpoint
        );
    }
}

#[tokio::test]
async fn local_store_conforms() {
    let root = std::env::temp_dir().join(format!("statport-local-{}", uuid::Uuid::new_v4()));
    let store = LocalStore::new(&root);
    run_suite(&store, &fresh_bucket()).await;
    let _ = std::fs::remove_dir_all(&root);
}

/// A store that delegates everything but [`ObjectStore::start_upload`] to a [`LocalStore`],
/// so the suite covers the default (spooled) streaming upload too.
#[derive(Debug)]
pub(crate) struct SpooledLocal(pub(crate) LocalStore);

#[async_trait::async_trait]
impl ObjectStore for SpooledLocal {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        self.0.list(bucket, prefix).await
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<crate::ObjectReader, StorageError> {
        self.0.get(bucket, key).await
    }

    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, StorageError> {
        self.0.put_file(bucket, key, path, content_type).await
    }

    async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.0.put_bytes(bucket, key, body, content_type).await
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        self.0.delete(bucket, key).await
    }

    async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        self.0.ensure_bucket(bucket).await
    }

    async fn ping(&self, bucket: &str) -> Result<(), StorageError> {
        self.0.ping(bucket).await
    }
}

#[tokio::test]
async fn default_streaming_upload_conforms() {
    let root = std::env::temp_dir().join(format!("statport-local-{}", uuid::Uuid::new_v4()));
    let store = SpooledLocal(LocalStore::new(&root));
    run_suite(&store, &fresh_bucket()).await;
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn s3_store_conforms() {
    let Some(store) = s3_test_store() else { return };
    require_s3(&store).await;
    run_suite(&store, &fresh_bucket()).await;
}
