//! [`LocalUpload`]: a streaming upload into the local store, written to a file in the
//! staging directory and renamed into place at finish.

use std::path::PathBuf;

use bytes::Bytes;
use tokio::fs;
use tokio::io::AsyncWriteExt;
use tracing::debug;

use super::{io_error, LocalStore, TMP_DIR};
use crate::spool::{add_len, StagedFile};
use crate::{StorageError, Upload};

/// One upload in progress. The staged file lives in `root/.tmp/`, on the same file system as
/// the buckets (so the rename is atomic) and outside every bucket (so listings never show
/// it); dropping the upload removes it.
pub(super) struct LocalUpload {
    store: LocalStore,
    bucket: String,
    key: String,
    dest: PathBuf,
    staged: StagedFile,
    file: fs::File,
    size: u64,
}

impl LocalUpload {
    /// Checks the key and the bucket, then opens the staged file.
    pub(super) async fn start(
        store: &LocalStore,
        bucket: &str,
        key: &str,
    ) -> Result<Self, StorageError> {
        let (_, dest) = store.object_path(bucket, key).await?;
        let dir = store.root.join(TMP_DIR);
        fs::create_dir_all(&dir)
            .await
            .map_err(|err| io_error("cannot create staging directory", &dir, err))?;
        let (staged, file) = StagedFile::create(&dir)
            .await
            .map_err(|err| io_error("cannot create a staged file in", &dir, err))?;
        Ok(Self {
            store: store.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            dest,
            staged,
            file,
            size: 0,
        })
    }

    /// Flushes and syncs the staged file, then renames it to the object's path.
    async fn commit(&mut self) -> Result<(), StorageError> {
        let synced = async {
            self.file.flush().await?;
            self.file.sync_all().await
        };
        synced
            .await
            .map_err(|err| io_error("cannot write", self.staged.path(), err))?;
        self.store.commit(self.staged.path(), &self.dest).await
    }
}

#[async_trait::async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.size = add_len(self.size, &chunk)?;
        let written = self.file.write_all(&chunk).await;
        written.map_err(|err| io_error("cannot write", self.staged.path(), err))
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StorageError> {
        let committed = self.commit().await;
        let this = *self;
        drop(this.file);
        match committed {
            Ok(()) => {
                this.staged.keep();
                debug!(
                    bucket = this.bucket,
                    key = this.key,
                    size = this.size,
                    "object stored"
                );
                Ok(this.size)
            }
            Err(err) => {
                this.staged.remove().await;
                Err(err)
            }
        }
    }

    async fn abort(self: Box<Self>) {
        let Self { staged, file, .. } = *self;
        drop(file);
        staged.remove().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectStore;

    fn temp_store() -> LocalStore {
        LocalStore::new(
            std::env::temp_dir().join(format!("statport-local-{}", uuid::Uuid::new_v4())),
        )
    }

    fn staged_files(store: &LocalStore) -> usize {
        std::fs::read_dir(store.root().join(TMP_DIR)).map_or(0, Iterator::count)
    }

    #[tokio::test]
    async fn staged_file_exists_only_while_the_upload_runs() {
        let store = temp_store();
        store.ensure_bucket("bucket").await.expect("ensure bucket");
        let chunk = Bytes::from_static(b"a,b\n");

        let mut upload = store
            .start_upload("bucket", "x/y/finished.csv", "text/csv")
            .await
            .expect("start");
        upload.write(chunk.clone()).await.expect("write");
        assert_eq!(staged_files(&store), 1);
        assert!(
            !store.root().join("bucket").join("x").exists(),
            "no directories yet"
        );
        assert_eq!(upload.finish().await.expect("finish"), 4);
        assert_eq!(staged_files(&store), 0);

        let mut upload = store
            .start_upload("bucket", "aborted.csv", "text/csv")
            .await
            .expect("start");
        upload.write(chunk.clone()).await.expect("write");
        upload.abort().await;
        assert_eq!(staged_files(&store), 0);

        let mut upload = store
            .start_upload("bucket", "dropped.csv", "text/csv")
            .await
            .expect("start");
        upload.write(chunk).await.expect("write");
        drop(upload);
        assert_eq!(staged_files(&store), 0);
        let keys: Vec<String> = store
            .list("bucket", "")
            .await
            .expect("list")
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(keys, ["x/y/finished.csv"]);
        let _ = std::fs::remove_dir_all(store.root());
    }

    #[tokio::test]
    async fn failed_commit_leaves_nothing_and_bad_keys_fail_at_start() {
        let store = temp_store();
        store.ensure_bucket("bucket").await.expect("ensure bucket");
        store
            .put_bytes("bucket", "a/b", Bytes::from_static(b"1"), "text/plain")
            .await
            .expect("put a/b");
        let mut upload = store
            .start_upload("bucket", "a", "text/plain")
            .await
            .expect("start");
        upload.write(Bytes::from_static(b"2")).await.expect("write");
        let err = upload.finish().await.expect_err("a is a directory");
        assert!(matches!(err, StorageError::Other(_)), "{err:?}");
        assert_eq!(staged_files(&store), 0);

        for key in ["../escape", "a//b", ""] {
            let err = match store.start_upload("bucket", key, "text/plain").await {
                Ok(_) => panic!("{key:?} must be rejected"),
                Err(err) => err,
            };
            assert!(matches!(err, StorageError::Other(_)), "{key}: {err:?}");
        }
        let _ = std::fs::remove_dir_all(store.root());
    }
}
