//! The object-store port: the trait and the values it hands back.

use std::fmt;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};

use crate::spool::SpooledUpload;
use crate::StorageError;

/// A bucket/key object store (S3 or a local folder), held as `Arc<dyn ObjectStore>`.
///
/// Keys are `/`-separated strings as in S3; listing is by plain string prefix.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// All objects whose key starts with `prefix`, in key order (paginate internally).
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError>;

    /// Streaming read of a whole object.
    async fn get(&self, bucket: &str, key: &str) -> Result<ObjectReader, StorageError>;

    /// Uploads the local file at `path` (multipart for big files, a simple put below the part
    /// size) and returns its size in bytes.
    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, StorageError>;

    /// Uploads bytes held in memory.
    async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError>;

    /// Starts a streaming upload to `key`, for results written while they are produced.
    ///
    /// Nothing is visible under `key` until [`Upload::finish`] succeeds; [`Upload::abort`]
    /// (or dropping the upload, best effort) leaves nothing behind. A missing bucket fails
    /// here with [`StorageError::NoSuchBucket`] where the store can tell cheaply. Blocking
    /// writers (csv, serde_json) use it through [`UploadWriter`](crate::UploadWriter).
    ///
    /// The default spools the bytes to a temporary file and hands it to
    /// [`put_file`](Self::put_file) at finish, so every store (test doubles included) can
    /// stream; [`S3Store`](crate::S3Store) and [`LocalStore`](crate::LocalStore) stream
    /// natively.
    async fn start_upload<'a>(
        &'a self,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> Result<Box<dyn Upload + 'a>, StorageError> {
        let upload = SpooledUpload::start(self, bucket, key, content_type).await?;
        Ok(Box::new(upload))
    }

    /// Deletes one object; deleting a missing object is `Ok`.
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError>;

    /// Creates the bucket if missing (used by tests, gen-logs and start-up).
    async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError>;

    /// Cheap reachability check for `/readyz`; a missing bucket is
    /// [`StorageError::NoSuchBucket`].
    async fn ping(&self, bucket: &str) -> Result<(), StorageError>;
}

/// A streaming upload in progress, from [`ObjectStore::start_upload`].
///
/// Feed it with [`write`](Upload::write), then end it with exactly one of
/// [`finish`](Upload::finish) or [`abort`](Upload::abort). After `write` fails the upload
/// cannot go on: abort it (dropping it aborts too, best effort).
#[async_trait::async_trait]
pub trait Upload: Send {
    /// Appends `chunk` to the object. Chunks of any size are accepted; the store buffers
    /// what it needs (at most about one part) and sends the rest on.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError>;

    /// Makes the object visible under its key and returns its size in bytes. On failure the
    /// upload has been aborted: nothing is visible.
    async fn finish(self: Box<Self>) -> Result<u64, StorageError>;

    /// Drops everything written so far; nothing becomes visible. Failures to clean up are
    /// logged, not returned: there is nothing the caller could do about them.
    async fn abort(self: Box<Self>);
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When the object was last written, ms since the Unix epoch (S3's `LastModified`, a local
    /// file's mtime); `None` when the store does not say. The janitor's sweep of orphaned
    /// result files deletes only objects older than its grace period.
    pub last_modified_ms: Option<i64>,
}

/// A streaming object body plus the object's size when the store reports it.
///
/// Read it through [`ObjectReader::body`] or directly: `ObjectReader` is itself an
/// [`AsyncRead`].
pub struct ObjectReader {
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// The object's bytes.
    pub body: Pin<Box<dyn AsyncRead + Send>>,
}

impl ObjectReader {
    /// Wraps a reader and an optional size.
    pub fn new(size: Option<u64>, body: impl AsyncRead + Send + 'static) -> Self {
        Self {
            size,
            body: Box::pin(body),
        }
    }
}

impl fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectReader")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for ObjectReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.body.as_mut().poll_read(cx, buf)
    }
}
