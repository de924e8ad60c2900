//! [`LocalStore`]: an object store in a folder on disk, for the embedded default.
//!
//! Layout: `root/<bucket>/<key>`, where buckets are directories and the `/`-separated parts
//! of a key are nested directories. Writes, streaming uploads included (module `upload`), go
//! to `root/.tmp/` first and are renamed into place, so readers never see a half-written
//! object. Keys that could leave the root (`..`, absolute, empty parts) are rejected.
//! Content types are not stored.
//!
//! Unlike S3, a key cannot be both an object and the "directory" of other objects (`a` and
//! `a/b`); writing the second one fails with [`StorageError::Other`].

mod names;
mod upload;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::fs;
use tokio::io::AsyncWriteExt;
use tracing::{debug, warn};

use self::upload::LocalUpload;
use crate::{ObjectMeta, ObjectReader, ObjectStore, StorageError, Upload};

/// Staging directory for writes in progress, under the root. Not a valid bucket name.
const TMP_DIR: &str = ".tmp";

/// How often a write retries when a concurrent delete pruned its parent directory.
const COMMIT_ATTEMPTS: usize = 3;

/// Tells the temporary files of one process apart.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An object store in a local folder (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root`; the folder is created on the first write or
    /// [`ObjectStore::ensure_bucket`].
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder holding the buckets.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bucket's directory, which must exist.
    async fn bucket_dir(&self, bucket: &str) -> Result<PathBuf, StorageError> {
        names::check_bucket(bucket)?;
        let dir = self.root.join(bucket);
        match fs::metadata(&dir).await {
            Ok(meta) if meta.is_dir() => Ok(dir),
            Ok(_) => Err(no_such_bucket(bucket)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(no_such_bucket(bucket)),
            Err(err) => Err(io_error("cannot read bucket directory", &dir, err)),
        }
    }

    /// The object's path, in a bucket that must exist.
    async fn object_path(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(PathBuf, PathBuf), StorageError> {
        let relative = names::key_to_relative_path(key)?;
        let bucket_dir = self.bucket_dir(bucket).await?;
        let path = bucket_dir.join(relative);
        Ok((bucket_dir, path))
    }

    /// A fresh path in the staging directory, which is created if needed.
    async fn temp_path(&self) -> Result<PathBuf, StorageError> {
        let dir = self.root.join(TMP_DIR);
        fs::create_dir_all(&dir)
            .await
            .map_err(|err| io_error("cannot create staging directory", &dir, err))?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        Ok(dir.join(format!("{}-{n}-{nanos}.part", std::process::id())))
    }

    /// Moves a finished temporary file to `dest`, creating its parent directories.
    async fn commit(&self, tmp: &Path, dest: &Path) -> Result<(), StorageError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent)
                    .await
                    .map_err(|err| io_error("cannot create directory for", dest, err))?;
            }
            match fs::rename(tmp, dest).await {
                Ok(()) => return Ok(()),
                // A concurrent delete removed the freshly created, still empty parent.
                Err(err) if err.kind() == io::ErrorKind::NotFound && attempt < COMMIT_ATTEMPTS => {
                    debug!(path = %dest.display(), attempt, "parent directory vanished, retrying");
                }
                Err(err) => return Err(io_error("cannot write", dest, err)),
            }
        }
    }

    /// Stages `tmp` with `write`, then commits it to `dest`; removes `tmp` on failure.
    async fn write_atomically<T>(
        &self,
        dest: &Path,
        write: impl AsyncFnOnce(&Path) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let tmp = self.temp_path().await?;
        let result = match write(&tmp).await {
            Ok(value) => self.commit(&tmp, dest).await.map(|()| value),
            Err(err) => Err(err),
        };
        if result.is_err() {
            if let Err(err) = fs::remove_file(&tmp).await {
                if err.kind() != io::ErrorKind::NotFound {
                    warn!(path = %tmp.display(), error = %err, "cannot remove temporary file");
                }
            }
        }
        result
    }
}

#[async_trait::async_trait]
impl ObjectStore for LocalStore {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let dir = self.bucket_dir(bucket).await?;
        let prefix = prefix.to_owned();
        let listed = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk(&dir, "", &prefix, &mut out).map(|()| out)
        })
        .await
        .map_err(|err| StorageError::Other(format!("listing task failed: {err}")))?;
        let mut objects = listed?;
        objects.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<ObjectReader, StorageError> {
        let (_, path) = self.object_path(bucket, key).await?;
        let missing = || StorageError::NoSuchKey {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        };
        let file = match fs::File::open(&path).await {
            Ok(file) => file,
            Err(err) if is_missing(&err) => return Err(missing()),
            Err(err) => return Err(io_error("cannot open", &path, err)),
        };
        let meta = file
            .metadata()
            .await
            .map_err(|err| io_error("cannot stat", &path, err))?;
        if !meta.is_file() {
            return Err(missing());
        }
        Ok(ObjectReader::new(Some(meta.len()), file))
    }

    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        _content_type: &str,
    ) -> Result<u64, StorageError> {
        let (_, dest) = self.object_path(bucket, key).await?;
        let size = self
            .write_atomically(&dest, async |tmp: &Path| {
                let size = fs::copy(path, tmp)
                    .await
                    .map_err(|err| io_error("cannot copy", path, err))?;
                let file = fs::File::open(tmp)
                    .await
                    .map_err(|err| io_error("cannot open", tmp, err))?;
                file.sync_all()
                    .await
                    .map_err(|err| io_error("cannot sync", tmp, err))?;
                Ok(size)
            })
            .await?;
        debug!(bucket, key, size, "object stored");
        Ok(size)
    }

    async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        let (_, dest) = self.object_path(bucket, key).await?;
        self.write_atomically(&dest, async |tmp: &Path| {
            let write = async {
                let mut file = fs::File::create(tmp).await?;
                file.write_all(&body).await?;
                file.sync_all().await
            };
            write
                .await
                .map_err(|err| io_error("cannot write", tmp, err))
        })
        .await?;
        debug!(bucket, key, size = body.len(), "object stored");
        Ok(())
    }

    async fn start_upload<'a>(
        &'a self,
        bucket: &str,
        key: &str,
        _content_type: &str,
    ) -> Result<Box<dyn Upload + 'a>, StorageError> {
        Ok(Box::new(LocalUpload::start(self, bucket, key).await?))
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        let (bucket_dir, path) = self.object_path(bucket, key).await?;
        match fs::remove_file(&path).await {
            Ok(()) => {
                prune_empty_parents(&bucket_dir, &path).await;
                Ok(())
            }
            Err(err) if is_missing(&err) || err.kind() == io::ErrorKind::IsADirectory => Ok(()),
            Err(err) => Err(io_error("cannot delete", &path, err)),
        }
    }

    async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        names::check_bucket(bucket)?;
        let dir = self.root.join(bucket);
        fs::create_dir_all(&dir)
            .await
            .map_err(|err| io_error("cannot create bucket directory", &dir, err))
    }

    async fn ping(&self, bucket: &str) -> Result<(), StorageError> {
        self.bucket_dir(bucket).await.map(|_| ())
    }
}

/// Collects the regular files under `dir` whose keys (`key_prefix` + relative path) start
/// with `filter`, descending only into directories that can hold such keys.
fn walk(
    dir: &Path,
    key_prefix: &str,
    filter: &str,
    out: &mut Vec<ObjectMeta>,
) -> Result<(), StorageError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // Removed by a concurrent delete since its parent was read.
        Err(err) if is_missing(&err) => return Ok(()),
        Err(err) => return Err(io_error("cannot list", dir, err)),
    };
    for entry in entries {
        let entry = entry.map_err(|err| io_error("cannot list", dir, err))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().filter(|name| names::is_plain_name(name)) else {
            warn!(path = %entry.path().display(), "skipping file whose name is not a valid key part");
            continue;
        };
        let key = format!("{key_prefix}{name}");
        let file_type = entry
            .file_type()
            .map_err(|err| io_error("cannot stat", &entry.path(), err))?;
        if file_type.is_dir() {
            let dir_key = format!("{key}/");
            if dir_key.starts_with(filter) || filter.starts_with(&dir_key) {
                walk(&entry.path(), &dir_key, filter, out)?;
            }
        } else if file_type.is_file() && key.starts_with(filter) {
            match entry.metadata() {
                Ok(meta) => out.push(ObjectMeta {
                    key,
                    size: meta.len(),
                    last_modified_ms: meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .and_then(|d| i64::try_from(d.as_millis()).ok()),
                }),
                Err(err) if is_missing(&err) => {}
                Err(err) => return Err(io_error("cannot stat", &entry.path(), err)),
            }
        }
    }
    Ok(())
}

/// Removes the now empty directories between `path` and `bucket_dir`, best effort.
async fn prune_empty_parents(bucket_dir: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(current) = dir {
        if current == bucket_dir || !current.starts_with(bucket_dir) {
            break;
        }
        // Fails on a non-empty directory, which ends the walk up.
        if fs::remove_dir(current).await.is_err() {
            break;
        }
        dir = current.parent();
    }
}

fn is_missing(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn no_such_bucket(bucket: &str) -> StorageError {
    StorageError::NoSuchBucket {
        bucket: bucket.to_owned(),
    }
}

fn io_error(what: &str, path: &Path, err: io::Error) -> StorageError {
    let message = format!("{what} {}: {err}", path.display());
    match err.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {
            StorageError::Unavailable(message)
        }
        _ => StorageError::Other(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store() -> LocalStore {
        LocalStore::new(
            std::env::temp_dir().join(format!("statport-local-{}", uuid::Uuid::new_v4())),
        )
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let store = temp_store();
        store.ensure_bucket("bucket").await.expect("ensure bucket");
        for key in ["../escape", "a/../../escape", "/etc/passwd", "a//b"] {
            let err = store
                .put_bytes("bucket", key, Bytes::from_static(b"x"), "text/plain")
                .await
                .expect_err("invalid key must be rejected");
            assert!(matches!(err, StorageError::Other(_)), "{key}: {err:?}");
            let err = store
                .get("bucket", key)
                .await
                .expect_err("invalid key must be rejected");
            assert!(matches!(err, StorageError::Other(_)), "{key}: {err:?}");
        }
        let err = store
            .ensure_bucket("../up")
            .await
            .expect_err("invalid bucket");
        assert!(matches!(err, StorageError::Other(_)), "{err:?}");
        assert!(!store.root().join("escape").exists());
        let _ = std::fs::remove_dir_all(store.root());
    }

    #[tokio::test]
    async fn writes_leave_no_temporary_files_and_deletes_prune_directories() {
        let store = temp_store();
        store.ensure_bucket("bucket").await.expect("ensure bucket");
        store
            .put_bytes(
                "bucket",
                "a/b/c.txt",
                Bytes::from_static(b"hello"),
                "text/plain",
            )
            .await
            .expect("put");
        let staged = std::fs::read_dir(store.root().join(TMP_DIR))
            .expect("staging dir exists")
            .count();
        assert_eq!(staged, 0);
        store.delete("bucket", "a/b/c.txt").await.expect("delete");
        assert!(!store.root().join("bucket").join("a").exists());
        assert!(store.root().join("bucket").exists());
        let _ = std::fs::remove_dir_all(store.root());
    }

    #[tokio::test]
    async fn object_and_directory_of_the_same_name_conflict() {
        let store = temp_store();
        store.ensure_bucket("bucket").await.expect("ensure bucket");
        store
            .put_bytes("bucket", "a/b", Bytes::from_static(b"1"), "text/plain")
            .await
            .expect("put a/b");
        let err = store
            .put_bytes("bucket", "a", Bytes::from_static(b"2"), "text/plain")
            .await
            .expect_err("a is a directory");
        assert!(matches!(err, StorageError::Other(_)), "{err:?}");
        let err = store
            .get("bucket", "a")
            .await
            .expect_err("a is not an object");
        assert!(matches!(err, StorageError::NoSuchKey { .. }), "{err:?}");
        store
            .delete("bucket", "a")
            .await
            .expect("deleting a directory name is a no-op");
        let _ = std::fs::remove_dir_all(store.root());
    }
}
