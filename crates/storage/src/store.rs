//! The object-store port: the trait and the values it hands back.

use std::fmt;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};

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

    /// Deletes one object; deleting a missing object is `Ok`.
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError>;

    /// Creates the bucket if missing (used by tests, gen-logs and start-up).
    async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError>;

    /// Cheap reachability check for `/readyz`; a missing bucket is
    /// [`StorageError::NoSuchBucket`].
    async fn ping(&self, bucket: &str) -> Result<(), StorageError>;
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
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
