//! The default streaming upload ([`SpooledUpload`]) and [`StagedFile`], the guard that
//! removes a half-written temporary file however an upload ends.
//!
//! Stores without a native streaming upload get [`ObjectStore::start_upload`] for free: the
//! bytes go to a temporary file in the system temp dir and [`ObjectStore::put_file`] uploads
//! it at finish, so memory stays flat and `put_file`'s own behaviour (multipart, faults
//! injected by test doubles) applies.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::fs;
use tokio::io::AsyncWriteExt;
use tracing::warn;

use crate::{ObjectStore, StorageError, Upload};

/// Tells the staged files of one process apart.
static STAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary file that is removed when dropped unless [`StagedFile::keep`] was called
/// (after it was renamed into place or handed over).
#[derive(Debug)]
pub(crate) struct StagedFile {
    path: Option<PathBuf>,
}

impl StagedFile {
    /// Creates a new, empty file in `dir` (which must exist) with a name no other upload of
    /// any process uses, and opens it for writing.
    pub(crate) async fn create(dir: &Path) -> io::Result<(Self, fs::File)> {
        loop {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let n = STAGE_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{}-{n}-{nanos}.upload", std::process::id()));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
            {
                Ok(file) => return Ok((Self { path: Some(path) }, file)),
                // A leftover of an earlier process with the same pid: pick another name.
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Forgets the file: it was moved into place and must stay.
    pub(crate) fn keep(mut self) {
        self.path = None;
    }

    /// Removes the file now, logging (not returning) a failure.
    pub(crate) async fn remove(mut self) {
        if let Some(path) = self.path.take() {
            if let Err(err) = fs::remove_file(&path).await {
                if err.kind() != io::ErrorKind::NotFound {
                    warn!(path = %path.display(), error = %err, "cannot remove temporary file");
                }
            }
        }
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // Best effort and quick: unlinking does not wait for the disk.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The default [`Upload`]: a temporary file handed to `put_file` at finish.
pub(crate) struct SpooledUpload<'a, S: ?Sized> {
    store: &'a S,
    bucket: String,
    key: String,
    content_type: String,
    staged: StagedFile,
    file: fs::File,
    size: u64,
}

impl<'a, S: ObjectStore + ?Sized> SpooledUpload<'a, S> {
    /// Opens the temporary file; nothing is sent to `store` before finish.
    pub(crate) async fn start(
        store: &'a S,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> Result<Self, StorageError> {
        let dir = std::env::temp_dir();
        let (staged, file) = StagedFile::create(&dir).await.map_err(|err| {
            StorageError::Other(format!(
                "cannot create a temporary file in {}: {err}",
                dir.display()
            ))
        })?;
        Ok(Self {
            store,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            content_type: content_type.to_owned(),
            staged,
            file,
            size: 0,
        })
    }

    fn io_error(&self, err: io::Error) -> StorageError {
        StorageError::Other(format!(
            "cannot write temporary file {}: {err}",
            self.staged.path().display()
        ))
    }
}

#[async_trait::async_trait]
impl<S: ObjectStore + ?Sized> Upload for SpooledUpload<'_, S> {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.size = add_len(self.size, &chunk)?;
        let written = self.file.write_all(&chunk).await;
        written.map_err(|err| self.io_error(err))
    }

    async fn finish(self: Box<Self>) -> Result<u64, StorageError> {
        let mut this = *self;
        // tokio writes behind: flush before the file is read back.
        let result = match this.file.flush().await {
            Ok(()) => {
                this.store
                    .put_file(
                        &this.bucket,
                        &this.key,
                        this.staged.path(),
                        &this.content_type,
                    )
                    .await
            }
            Err(err) => Err(this.io_error(err)),
        };
        drop(this.file);
        this.staged.remove().await;
        result
    }

    async fn abort(self: Box<Self>) {
        let Self { staged, file, .. } = *self;
        drop(file);
        staged.remove().await;
    }
}

/// `size` plus the length of `chunk`, or an error rather than a wrap-around.
pub(crate) fn add_len(size: u64, chunk: &[u8]) -> Result<u64, StorageError> {
    u64::try_from(chunk.len())
        .ok()
        .and_then(|len| size.checked_add(len))
        .ok_or_else(|| StorageError::Other("upload larger than 2^64 bytes".to_owned()))
}
