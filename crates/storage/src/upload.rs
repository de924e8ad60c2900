//! [`UploadWriter`]: a synchronous [`std::io::Write`] over a streaming [`Upload`], for
//! blocking writers (the csv crate, serde_json) that produce a result too big for memory.
//!
//! The writer collects bytes into chunks of [`CHUNK_SIZE`] and hands each one over a bounded
//! channel ([`CHANNEL_CAPACITY`] chunks) to a pump task on the tokio runtime, which feeds the
//! store's [`Upload`]. Memory stays flat: the writer's chunk, the channel, and what the
//! upload buffers (for S3, a part filling and a part in flight). A slow store blocks the
//! writer instead of piling up bytes.
//!
//! Outcomes:
//! - [`UploadWriter::finish`] sends the rest, lets the pump finish the upload and returns
//!   the object's size: only then is the object visible.
//! - A failure in the pump (the store refused a part) is kept; the next `write` fails with
//!   an [`io::Error`] whose inner error is the [`StorageError`] (see
//!   [`StorageError::find_in`]), and `finish` returns it.
//! - Dropping the writer without `finish` (an error or a panic in the producer) makes the
//!   pump abort the upload: nothing becomes visible.
//!
//! # Use from a blocking thread
//!
//! ```no_run
//! # use std::{io::Write, sync::Arc};
//! # use statport_storage::{ObjectStore, StorageError, UploadWriter};
//! # async fn export(store: Arc<dyn ObjectStore>) -> Result<u64, StorageError> {
//! // In async code: start the upload (a missing bucket fails here)...
//! let mut writer = UploadWriter::start(store, "results", "t/1.csv", "text/csv").await?;
//! // ...then write from a blocking thread, where blocking on the channel is allowed.
//! let size = tokio::task::spawn_blocking(move || {
//!     for row in 0..1_000_000 {
//!         if let Err(err) = writeln!(writer, "{row},x") {
//!             // Dropping the writer aborts the upload.
//!             return Err(StorageError::find_in(&err)
//!                 .cloned()
//!                 .unwrap_or_else(|| StorageError::Other(err.to_string())));
//!         }
//!     }
//!     writer.finish()
//! })
//! .await
//! .map_err(|err| StorageError::Other(format!("export thread failed: {err}")))??;
//! # Ok(size)
//! # }
//! ```
//!
//! Code that already runs on a blocking thread starts with [`UploadWriter::start_blocking`]
//! and a [`Handle`] to the runtime instead.

use std::fmt;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::{ObjectStore, StorageError, Upload};

/// Bytes the writer collects before handing them to the pump task.
pub const CHUNK_SIZE: usize = 1024 * 1024;
/// Chunks that may wait between the writer and the pump task.
pub const CHANNEL_CAPACITY: usize = 4;

/// What the writer sends to the pump task.
enum Message {
    /// More bytes of the object.
    Chunk(Bytes),
    /// No more bytes: finish the upload. A channel closed without it means abort.
    Finish,
}

/// What the pump task reports at the end: the object's size, or why the upload failed.
type Outcome = Result<u64, StorageError>;

/// A blocking [`io::Write`] that streams into an object (see the [module docs](self)).
///
/// `write`, `flush` and `finish` block on the pump task: call them from a blocking thread
/// (`spawn_blocking`, a plain thread), never from async code; they panic on a runtime
/// thread.
pub struct UploadWriter {
    /// The chunk being collected.
    buffer: Vec<u8>,
    chunk_size: usize,
    /// `None` once finish has sent everything.
    sender: Option<mpsc::Sender<Message>>,
    /// The pump's outcome; taken when read.
    outcome: Option<oneshot::Receiver<Outcome>>,
    /// Why the upload failed, once known.
    failure: Option<StorageError>,
}

impl UploadWriter {
    /// Starts an upload of `key` on the current runtime and returns the writer once the
    /// store accepted it (a missing bucket fails here where the store can tell).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn start(
        store: Arc<dyn ObjectStore>,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> Result<Self, StorageError> {
        let (writer, ready) = Self::spawn(
            store,
            bucket,
            key,
            content_type,
            &Handle::current(),
            CHUNK_SIZE,
            CHANNEL_CAPACITY,
        );
        ready.await.unwrap_or_else(|_| Err(pump_gone()))?;
        Ok(writer)
    }

    /// [`UploadWriter::start`] for code already on a blocking thread: the pump runs on
    /// `handle`'s runtime and this call blocks until the store accepted the upload.
    ///
    /// # Panics
    ///
    /// On a runtime thread (use [`UploadWriter::start`] there).
    pub fn start_blocking(
        store: Arc<dyn ObjectStore>,
        bucket: &str,
        key: &str,
        content_type: &str,
        handle: &Handle,
    ) -> Result<Self, StorageError> {
        let (writer, ready) = Self::spawn(
            store,
            bucket,
            key,
            content_type,
            handle,
            CHUNK_SIZE,
            CHANNEL_CAPACITY,
        );
        ready.blocking_recv().unwrap_or_else(|_| Err(pump_gone()))?;
        Ok(writer)
    }

    /// Spawns the pump; the receiver tells whether the store accepted the upload.
    pub(crate) fn spawn(
        store: Arc<dyn ObjectStore>,
        bucket: &str,
        key: &str,
        content_type: &str,
        handle: &Handle,
        chunk_size: usize,
        capacity: usize,
    ) -> (Self, oneshot::Receiver<Result<(), StorageError>>) {
        let chunk_size = chunk_size.max(1);
        let (sender, messages) = mpsc::channel(capacity.max(1));
        let (ready_tx, ready) = oneshot::channel();
        let (outcome_tx, outcome) = oneshot::channel();
        handle.spawn(pump(
            store,
            bucket.to_owned(),
            key.to_owned(),
            content_type.to_owned(),
            messages,
            ready_tx,
            outcome_tx,
        ));
        let writer = Self {
            buffer: Vec::with_capacity(chunk_size),
            chunk_size,
            sender: Some(sender),
            outcome: Some(outcome),
            failure: None,
        };
        (writer, ready)
    }

    /// Sends the remaining bytes, waits for the store to make the object visible and
    /// returns its size in bytes; or the reason the upload failed (it was then aborted).
    ///
    /// # Panics
    ///
    /// On a runtime thread.
    pub fn finish(mut self) -> Result<u64, StorageError> {
        self.send_buffer()?;
        self.send(Message::Finish)?;
        self.sender = None;
        match self.outcome.take() {
            Some(outcome) => outcome.blocking_recv().unwrap_or_else(|_| Err(pump_gone())),
            None => Err(self.failure.take().unwrap_or_else(pump_gone)),
        }
    }

    /// The recorded failure, if the pump has stopped.
    fn check(&mut self) -> Result<(), StorageError> {
        if let Some(err) = &self.failure {
            return Err(err.clone());
        }
        if self.sender.as_ref().is_none_or(mpsc::Sender::is_closed) {
            return Err(self.record_failure());
        }
        Ok(())
    }

    /// Hands the collected chunk to the pump.
    fn send_buffer(&mut self) -> Result<(), StorageError> {
        self.check()?;
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.chunk_size));
        self.send(Message::Chunk(Bytes::from(chunk)))
    }

    fn send(&mut self, message: Message) -> Result<(), StorageError> {
        let sent = match &self.sender {
            Some(sender) => sender.blocking_send(message).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.record_failure())
        }
    }

    /// The pump closed the channel: waits for its reason and keeps it.
    fn record_failure(&mut self) -> StorageError {
        let err = match self.outcome.take().map(oneshot::Receiver::blocking_recv) {
            Some(Ok(Err(err))) => err,
            Some(Ok(Ok(_))) => StorageError::Other("upload finished before the writer".into()),
            Some(Err(_)) | None => self.failure.clone().unwrap_or_else(pump_gone),
        };
        self.failure = Some(err.clone());
        err
    }
}

impl io::Write for UploadWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check().map_err(io::Error::other)?;
        let mut rest = buf;
        while !rest.is_empty() {
            let take = (self.chunk_size - self.buffer.len()).min(rest.len());
            let (now, later) = rest.split_at(take);
            self.buffer.extend_from_slice(now);
            rest = later;
            if self.buffer.len() >= self.chunk_size {
                self.send_buffer().map_err(io::Error::other)?;
            }
        }
        Ok(buf.len())
    }

    /// Hands the collected bytes to the upload. Nothing becomes visible before
    /// [`UploadWriter::finish`].
    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer().map_err(io::Error::other)
    }
}

impl fmt::Debug for UploadWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadWriter")
            .field("buffered", &self.buffer.len())
            .field("chunk_size", &self.chunk_size)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

/// The pump task: starts the upload, feeds it every chunk, and finishes or aborts it.
async fn pump(
    store: Arc<dyn ObjectStore>,
    bucket: String,
    key: String,
    content_type: String,
    mut messages: mpsc::Receiver<Message>,
    ready: oneshot::Sender<Result<(), StorageError>>,
    outcome: oneshot::Sender<Outcome>,
) {
    let mut upload: Box<dyn Upload + '_> =
        match store.start_upload(&bucket, &key, &content_type).await {
            Ok(upload) => upload,
            Err(err) => {
                let _ = ready.send(Err(err));
                return;
            }
        };
    let _ = ready.send(Ok(()));
    loop {
        match messages.recv().await {
            Some(Message::Chunk(chunk)) => {
                if let Err(err) = upload.write(chunk).await {
                    // Unblock the writer at once; it reads the reason from `outcome`.
                    messages.close();
                    debug!(bucket, key, error = %err, "upload failed, aborting");
                    upload.abort().await;
                    let _ = outcome.send(Err(err));
                    return;
                }
            }
            Some(Message::Finish) => {
                let _ = outcome.send(upload.finish().await);
                return;
            }
            None => {
                debug!(
                    bucket,
                    key, "upload writer dropped without finish, aborting"
                );
                upload.abort().await;
                return;
            }
        }
    }
}

/// The pump task ended without a word: its runtime shut down.
fn pump_gone() -> StorageError {
    StorageError::Unavailable("the upload task stopped before the upload ended".to_owned())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::conformance::{
        fresh_bucket, pattern, read_all, require_s3, s3_test_store, SpooledLocal,
    };
    use crate::{LocalStore, ObjectMeta, ObjectReader, MIN_PART_SIZE};

    /// Generous bound for a spawned task to report back.
    const WAIT: Duration = Duration::from_secs(30);

    fn local_root() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("statport-upload-{}", uuid::Uuid::new_v4()))
    }

    /// Writes `data` from a blocking thread in small writes of 1 to 250 bytes and returns
    /// `finish`'s answer.
    async fn write_blocking(writer: UploadWriter, data: Bytes) -> Result<u64, StorageError> {
        tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            let mut offset = 0;
            let mut step = 1;
            while offset < data.len() {
                let end = (offset + step).min(data.len());
                writer.write_all(&data[offset..end]).expect("write");
                offset = end;
                step = step % 250 + 1;
            }
            writer.flush().expect("flush");
            writer.finish()
        })
        .await
        .expect("writer thread")
    }

    /// Many small writes through the bridge arrive byte-identical, in one part or several.
    async fn round_trip(store: Arc<dyn ObjectStore>, bucket: &str) {
        store.ensure_bucket(bucket).await.expect("create bucket");
        for (len, key) in [
            (70_000, "bridge/small.csv"),
            (3 * MIN_PART_SIZE as usize + 12_345, "bridge/big.csv"),
        ] {
            let data = pattern(len, len as u64);
            let writer = UploadWriter::start(Arc::clone(&store), bucket, key, "text/csv")
                .await
                .expect("start");
            assert_eq!(
                write_blocking(writer, data.clone()).await.expect("finish"),
                len as u64
            );
            assert_eq!(read_all(store.as_ref(), bucket, key).await, data, "{key}");
        }

        // Started from the blocking thread itself, with tiny chunks and a one-slot channel.
        let data = pattern(300_000, 3);
        let handle = Handle::current();
        let writer = {
            let store = Arc::clone(&store);
            let bucket = bucket.to_owned();
            tokio::task::spawn_blocking(move || {
                let (writer, ready) = UploadWriter::spawn(
                    store,
                    &bucket,
                    "bridge/tiny.csv",
                    "text/csv",
                    &handle,
                    1000,
                    1,
                );
                ready.blocking_recv().expect("pump answers").expect("start");
                writer
            })
            .await
            .expect("starter thread")
        };
        assert_eq!(
            write_blocking(writer, data.clone()).await.expect("finish"),
            300_000
        );
        assert_eq!(
            read_all(store.as_ref(), bucket, "bridge/tiny.csv").await,
            data
        );

        let handle = Handle::current();
        let (store2, bucket2) = (Arc::clone(&store), bucket.to_owned());
        let writer = tokio::task::spawn_blocking(move || {
            UploadWriter::start_blocking(
                store2,
                &bucket2,
                "bridge/blocking.csv",
                "text/csv",
                &handle,
            )
        })
        .await
        .expect("starter thread")
        .expect("start_blocking");
        let data = pattern(5_000, 4);
        assert_eq!(
            write_blocking(writer, data.clone()).await.expect("finish"),
            5_000
        );
        assert_eq!(
            read_all(store.as_ref(), bucket, "bridge/blocking.csv").await,
            data
        );
    }

    /// A missing bucket is reported by `start`, by name.
    async fn missing_bucket(store: Arc<dyn ObjectStore>, absent: &str) {
        let err = UploadWriter::start(store, absent, "k.csv", "text/csv")
            .await
            .expect_err("missing bucket");
        assert!(matches!(err, StorageError::NoSuchBucket { .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("bucket '{absent}' does not exist"));
    }

    #[tokio::test]
    async fn bridge_on_the_local_stores() {
        let root = local_root();
        let local: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(&root));
        round_trip(Arc::clone(&local), "native").await;
        missing_bucket(local, "absent").await;
        let spooled: Arc<dyn ObjectStore> = Arc::new(SpooledLocal(LocalStore::new(&root)));
        round_trip(spooled, "spooled").await;
        let _ = std::fs::remove_dir_all(&root);
    }

    #[tokio::test]
    async fn bridge_on_s3() {
        let Some(store) = s3_test_store() else { return };
        require_s3(&store).await;
        let store: Arc<dyn ObjectStore> = Arc::new(store);
        round_trip(Arc::clone(&store), &fresh_bucket()).await;
        missing_bucket(store, &fresh_bucket()).await;
    }

    /// A store whose uploads fail once more than `fail_after` bytes arrived, and report
    /// how they ended.
    #[derive(Debug)]
    struct Scripted {
        fail_after: u64,
        events: mpsc::UnboundedSender<&'static str>,
    }

    struct ScriptedUpload {
        written: u64,
        fail_after: u64,
        events: mpsc::UnboundedSender<&'static str>,
    }

    #[async_trait::async_trait]
    impl Upload for ScriptedUpload {
        async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
            self.written += chunk.len() as u64;
            if self.written > self.fail_after {
                return Err(StorageError::Unavailable("part 3 refused: SlowDown".into()));
            }
            Ok(())
        }

        async fn finish(self: Box<Self>) -> Result<u64, StorageError> {
            let _ = self.events.send("finished");
            Ok(self.written)
        }

        async fn abort(self: Box<Self>) {
            let _ = self.events.send("aborted");
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Scripted {
        async fn start_upload<'a>(
            &'a self,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<Box<dyn Upload + 'a>, StorageError> {
            Ok(Box::new(ScriptedUpload {
                written: 0,
                fail_after: self.fail_after,
                events: self.events.clone(),
            }))
        }

        async fn list(&self, _: &str, _: &str) -> Result<Vec<ObjectMeta>, StorageError> {
            Err(unused())
        }

        async fn get(&self, _: &str, _: &str) -> Result<ObjectReader, StorageError> {
            Err(unused())
        }

        async fn put_file(&self, _: &str, _: &str, _: &Path, _: &str) -> Result<u64, StorageError> {
            Err(unused())
        }

        async fn put_bytes(&self, _: &str, _: &str, _: Bytes, _: &str) -> Result<(), StorageError> {
            Err(unused())
        }

        async fn delete(&self, _: &str, _: &str) -> Result<(), StorageError> {
            Err(unused())
        }

        async fn ensure_bucket(&self, _: &str) -> Result<(), StorageError> {
            Err(unused())
        }

        async fn ping(&self, _: &str) -> Result<(), StorageError> {
            Err(unused())
        }
    }

    fn unused() -> StorageError {
        StorageError::Other("not used by this test".into())
    }

    fn scripted(fail_after: u64) -> (Arc<dyn ObjectStore>, mpsc::UnboundedReceiver<&'static str>) {
        let (events, received) = mpsc::unbounded_channel();
        (Arc::new(Scripted { fail_after, events }), received)
    }

    async fn next_event(events: &mut mpsc::UnboundedReceiver<&'static str>) -> &'static str {
        tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("the pump reports in time")
            .expect("the pump reports")
    }

    #[tokio::test]
    async fn a_failed_upload_fails_the_next_write_and_finish_and_is_aborted() {
        let (store, mut events) = scripted(5_000);
        let (writer, ready) =
            UploadWriter::spawn(store, "b", "k", "text/csv", &Handle::current(), 1000, 1);
        ready.await.expect("pump answers").expect("start");
        let (write_err, finish_err) = tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            // 1,000 writes of 100 bytes: the store gives up after 5,000.
            let write_err = (0..1000)
                .find_map(|_| writer.write_all(&[b'x'; 100]).err())
                .expect("a write fails");
            let again = writer.write(b"more").expect_err("writes keep failing");
            assert_eq!(again.to_string(), write_err.to_string());
            (write_err, writer.finish().expect_err("finish fails"))
        })
        .await
        .expect("writer thread");
        let inner = StorageError::find_in(&write_err).expect("a storage error inside");
        assert!(inner.is_retryable(), "{inner:?}");
        assert!(
            write_err.to_string().contains("part 3 refused"),
            "{write_err}"
        );
        assert!(
            matches!(finish_err, StorageError::Unavailable(ref m) if m.contains("part 3 refused"))
        );
        assert_eq!(next_event(&mut events).await, "aborted");
    }

    #[tokio::test]
    async fn dropping_the_writer_aborts_and_finish_finishes() {
        let (store, mut events) = scripted(u64::MAX);
        let writer = UploadWriter::start(Arc::clone(&store), "b", "k", "text/csv")
            .await
            .expect("start");
        tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            writer
                .write_all(&[b'x'; 3 * CHUNK_SIZE + 1])
                .expect("write");
            // A producer failing here drops the writer.
        })
        .await
        .expect("writer thread");
        assert_eq!(next_event(&mut events).await, "aborted");

        let writer = UploadWriter::start(store, "b", "k", "text/csv")
            .await
            .expect("start");
        let size = write_blocking(writer, pattern(1234, 1))
            .await
            .expect("finish");
        assert_eq!(size, 1234);
        assert_eq!(next_event(&mut events).await, "finished");
    }
}
