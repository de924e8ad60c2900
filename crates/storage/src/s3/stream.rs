//! [`StreamUpload`]: a streaming upload to S3 of bytes whose total size is not known ahead.
//!
//! Bytes are buffered up to the part size. A result no bigger than one part goes up as one
//! PutObject at finish; a bigger one becomes a multipart upload, created when the first part
//! is full, each part sent while the next one fills (one part buffered, one in flight), and
//! completed at finish. An error, an abort or a drop without finish aborts the multipart
//! upload, so no object and (best effort) no stored parts remain.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::errors::{map_sdk_error, Target};
use super::multipart::MAX_PARTS;
use crate::spool::add_len;
use crate::{StorageError, Upload};

/// One upload in progress.
pub(crate) struct StreamUpload {
    client: Client,
    bucket: String,
    key: String,
    content_type: String,
    /// Bytes per part (all parts but the last are exactly this long).
    part_size: usize,
    /// The part being filled, at most `part_size` bytes.
    buffer: Vec<u8>,
    /// Bytes written so far.
    size: u64,
    /// Set once the first part is full; taken when the upload completes or is aborted.
    multipart: Option<Multipart>,
}

/// The state of a created multipart upload.
struct Multipart {
    upload_id: String,
    completed: Vec<CompletedPart>,
    /// The part being sent, if any.
    in_flight: Option<JoinHandle<Result<CompletedPart, StorageError>>>,
    /// Number of the next part (1-based).
    next_number: i32,
}

impl StreamUpload {
    /// An upload that has contacted nothing yet.
    pub(crate) fn new(
        client: Client,
        bucket: &str,
        key: &str,
        content_type: &str,
        part_size: u64,
    ) -> Self {
        Self {
            client,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            content_type: content_type.to_owned(),
            part_size: usize::try_from(part_size).unwrap_or(usize::MAX),
            buffer: Vec::new(),
            size: 0,
            multipart: None,
        }
    }

    fn target(&self) -> Target<'_> {
        Target::Object(&self.bucket, &self.key)
    }

    /// Makes room for `more` bytes in the buffer without ever holding more than one part:
    /// the capacity grows by doubling for a small result and goes straight to a whole part
    /// once the upload is known to need several.
    fn reserve(&mut self, more: usize) {
        let len = self.buffer.len();
        let needed = len.saturating_add(more);
        if needed > self.buffer.capacity() {
            let target = if self.multipart.is_some() {
                self.part_size
            } else {
                needed
                    .max(self.buffer.capacity().saturating_mul(2))
                    .min(self.part_size)
            };
            self.buffer.reserve_exact(target.max(needed) - len);
        }
    }

    /// Sends the full buffer as the next part, creating the multipart upload first if
    /// needed, after the previous part has arrived.
    async fn send_part(&mut self) -> Result<(), StorageError> {
        if self.multipart.is_none() {
            self.multipart = Some(self.create().await?);
        }
        let body = Bytes::from(std::mem::take(&mut self.buffer));
        let Some(multipart) = self.multipart.as_mut() else {
            return Err(StorageError::Other(
                "multipart upload not created".to_owned(),
            ));
        };
        if let Some(previous) = multipart.in_flight.take() {
            multipart.completed.push(join_part(previous).await?);
        }
        let number = multipart.next_number;
        if u64::try_from(number).map_or(true, |n| n > MAX_PARTS) {
            return Err(StorageError::Other(format!(
                "upload to s3://{}/{} needs more than {MAX_PARTS} parts of {} bytes; \
                 raise the part size",
                self.bucket, self.key, self.part_size
            )));
        }
        multipart.next_number = number.saturating_add(1);
        multipart.in_flight = Some(tokio::spawn(upload_part(
            self.client.clone(),
            self.bucket.clone(),
            self.key.clone(),
            multipart.upload_id.clone(),
            number,
            body,
        )));
        Ok(())
    }

    async fn create(&self) -> Result<Multipart, StorageError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type(&self.content_type)
            .send()
            .await
            .map_err(|err| map_sdk_error("create multipart upload", self.target(), err))?;
        let upload_id = created.upload_id().ok_or_else(|| {
            StorageError::Other(format!(
                "create multipart upload {}: no upload id",
                self.target()
            ))
        })?;
        debug!(
            bucket = self.bucket,
            key = self.key,
            part_size = self.part_size,
            "streaming multipart upload started"
        );
        Ok(Multipart {
            upload_id: upload_id.to_owned(),
            completed: Vec::new(),
            in_flight: None,
            next_number: 1,
        })
    }

    /// Everything finish does except the clean-up after a failure.
    async fn complete(&mut self) -> Result<(), StorageError> {
        if self.multipart.is_none() {
            let body = Bytes::from(std::mem::take(&mut self.buffer));
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type(&self.content_type)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|err| map_sdk_error("put", self.target(), err))?;
            return Ok(());
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        let Some(multipart) = self.multipart.as_mut() else {
            return Err(StorageError::Other(
                "multipart upload not created".to_owned(),
            ));
        };
        if let Some(last) = multipart.in_flight.take() {
            multipart.completed.push(join_part(last).await?);
        }
        let parts = multipart.completed.len();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&multipart.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut multipart.completed)))
                    .build(),
            )
            .send()
            .await
            .map_err(|err| {
                map_sdk_error(
                    "complete multipart upload",
                    Target::Object(&self.bucket, &self.key),
                    err,
                )
            })?;
        self.multipart = None;
        debug!(
            bucket = self.bucket,
            key = self.key,
            parts,
            "streaming multipart upload completed"
        );
        Ok(())
    }
}

#[async_trait::async_trait]
impl Upload for StreamUpload {
    async fn write(&mut self, mut chunk: Bytes) -> Result<(), StorageError> {
        self.size = add_len(self.size, &chunk)?;
        while !chunk.is_empty() {
            // A full part is sent only once more bytes follow it, so a result of exactly
            // one part still goes up as a single PutObject.
            if self.buffer.len() >= self.part_size {
                self.send_part().await?;
            }
            let take = (self.part_size - self.buffer.len()).min(chunk.len());
            self.reserve(take);
            self.buffer.extend_from_slice(&chunk.split_to(take));
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StorageError> {
        match self.complete().await {
            Ok(()) => {
                debug!(
                    bucket = self.bucket,
                    key = self.key,
                    size = self.size,
                    "object uploaded"
                );
                Ok(self.size)
            }
            Err(err) => {
                if let Some(multipart) = self.multipart.take() {
                    abort(&self.client, &self.bucket, &self.key, multipart).await;
                }
                Err(err)
            }
        }
    }

    async fn abort(mut self: Box<Self>) {
        if let Some(multipart) = self.multipart.take() {
            abort(&self.client, &self.bucket, &self.key, multipart).await;
        }
    }
}

impl Drop for StreamUpload {
    fn drop(&mut self) {
        let Some(multipart) = self.multipart.take() else {
            return;
        };
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { abort(&client, &bucket, &key, multipart).await });
            }
            Err(_) => warn!(
                bucket,
                key,
                upload_id = multipart.upload_id,
                "multipart upload dropped outside a runtime, left for the lifecycle rule"
            ),
        }
    }
}

/// Sends one part; run as its own task so that it travels while the next part fills.
async fn upload_part(
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    number: i32,
    body: Bytes,
) -> Result<CompletedPart, StorageError> {
    let target = Target::Object(&bucket, &key);
    let content_length = i64::try_from(body.len())
        .map_err(|_| StorageError::Other(format!("part {number} too large")))?;
    let uploaded = client
        .upload_part()
        .bucket(&bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number(number)
        .content_length(content_length)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|err| map_sdk_error("upload part", target, err))?;
    Ok(CompletedPart::builder()
        .part_number(number)
        .set_e_tag(uploaded.e_tag().map(str::to_owned))
        .build())
}

/// Waits for a part task; a task that panicked or was cancelled is a permanent failure.
async fn join_part(
    task: JoinHandle<Result<CompletedPart, StorageError>>,
) -> Result<CompletedPart, StorageError> {
    task.await
        .map_err(|err| StorageError::Other(format!("part upload task failed: {err}")))?
}

/// Stops the part in flight and aborts the multipart upload. Best effort: an upload left
/// behind only costs storage until a lifecycle rule drops it.
async fn abort(client: &Client, bucket: &str, key: &str, multipart: Multipart) {
    if let Some(in_flight) = multipart.in_flight {
        // Cancelled rather than awaited: the part is thrown away anyway, and a part still
        // arriving after the abort could outlive it.
        in_flight.abort();
        let _ = in_flight.await;
    }
    let aborted = client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&multipart.upload_id)
        .send()
        .await;
    match aborted {
        Ok(_) => debug!(bucket, key, "streaming multipart upload aborted"),
        Err(err) => {
            let err = map_sdk_error("abort multipart upload", Target::Object(bucket, key), err);
            warn!(bucket, key, upload_id = multipart.upload_id, error = %err, "cannot abort multipart upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::conformance::{
        fresh_bucket, pattern, read_all, require_s3, s3_test_settings, s3_test_store,
    };
    use crate::{ObjectStore, S3Store, MIN_PART_SIZE};

    const PART: usize = MIN_PART_SIZE as usize;

    /// Writes `data` in `chunk`-sized pieces and finishes.
    async fn upload(store: &S3Store, bucket: &str, key: &str, data: &Bytes, chunk: usize) -> u64 {
        let mut upload = store
            .start_upload(bucket, key, "application/x-ndjson")
            .await
            .expect("start upload");
        for offset in (0..data.len()).step_by(chunk) {
            let end = (offset + chunk).min(data.len());
            upload.write(data.slice(offset..end)).await.expect("write");
        }
        upload.finish().await.expect("finish")
    }

    /// The part count encoded in the ETag (`"<md5>-<parts>"` for multipart uploads).
    async fn parts_of(store: &S3Store, bucket: &str, key: &str) -> Option<String> {
        let head = store
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("head object");
        assert_eq!(head.content_type(), Some("application/x-ndjson"));
        let etag = head
            .e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned();
        etag.split_once('-').map(|(_, parts)| parts.to_owned())
    }

    async fn open_uploads(store: &S3Store, bucket: &str) -> usize {
        store
            .client
            .list_multipart_uploads()
            .bucket(bucket)
            .send()
            .await
            .expect("list multipart uploads")
            .uploads()
            .len()
    }

    #[tokio::test]
    async fn buffer_never_exceeds_one_part() {
        // Port 1: the test fails loudly if anything is sent before finish.
        let mut settings = s3_test_settings();
        settings.endpoint = "http://127.0.0.1:1".to_owned();
        let store = S3Store::new(settings);
        let mut upload =
            StreamUpload::new(store.upload_client, "b", "k", "text/csv", MIN_PART_SIZE);
        // Exactly one part: buffered only, nothing is sent before finish.
        let data = pattern(PART, 9);
        for offset in (0..PART).step_by(333_333) {
            let end = (offset + 333_333).min(PART);
            upload
                .write(data.slice(offset..end))
                .await
                .expect("buffered write");
        }
        assert_eq!(upload.buffer.len(), PART);
        assert_eq!(
            upload.buffer.capacity(),
            PART,
            "capacity capped at one part"
        );
        assert!(upload.multipart.is_none());
    }

    #[tokio::test]
    async fn results_up_to_one_part_are_one_put_and_bigger_ones_multipart() {
        let Some(store) = s3_test_store() else { return };
        require_s3(&store).await;
        let bucket = fresh_bucket();
        store.ensure_bucket(&bucket).await.expect("create bucket");

        for (len, parts) in [
            (PART, None),
            (PART + 1, Some("2")),
            (2 * PART, Some("2")),
            (3 * PART + PART / 2, Some("4")),
        ] {
            let data = pattern(len, len as u64);
            let key = format!("stream/{len}.jsonl");
            let size = upload(&store, &bucket, &key, &data, 1024 * 1024 + 3).await;
            assert_eq!(size, len as u64);
            assert_eq!(
                parts_of(&store, &bucket, &key).await.as_deref(),
                parts,
                "{len}"
            );
            assert_eq!(read_all(&store, &bucket, &key).await, data, "{len}");
        }
        // One write bigger than several parts is split too.
        let data = pattern(2 * PART + 5, 10);
        let size = upload(&store, &bucket, "stream/one-write.jsonl", &data, data.len()).await;
        assert_eq!(size, data.len() as u64);
        assert_eq!(
            parts_of(&store, &bucket, "stream/one-write.jsonl")
                .await
                .as_deref(),
            Some("3")
        );
        assert_eq!(
            read_all(&store, &bucket, "stream/one-write.jsonl").await,
            data
        );
        assert_eq!(open_uploads(&store, &bucket).await, 0);
    }

    #[tokio::test]
    async fn abort_and_drop_leave_no_multipart_upload() {
        let Some(store) = s3_test_store() else { return };
        require_s3(&store).await;
        let bucket = fresh_bucket();
        store.ensure_bucket(&bucket).await.expect("create bucket");
        let data = pattern(2 * PART + 1, 11);

        let mut aborted = store
            .start_upload(&bucket, "stream/aborted", "application/x-ndjson")
            .await
            .expect("start");
        aborted.write(data.clone()).await.expect("write");
        assert_eq!(open_uploads(&store, &bucket).await, 1);
        aborted.abort().await;
        assert_eq!(open_uploads(&store, &bucket).await, 0);

        let mut dropped = store
            .start_upload(&bucket, "stream/dropped", "application/x-ndjson")
            .await
            .expect("start");
        dropped.write(data).await.expect("write");
        assert_eq!(open_uploads(&store, &bucket).await, 1);
        drop(dropped);
        // The abort runs on a spawned task: wait for its effect, with a generous deadline.
        let deadline = Instant::now() + Duration::from_secs(30);
        while open_uploads(&store, &bucket).await > 0 {
            assert!(Instant::now() < deadline, "dropped upload never aborted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(store
            .list(&bucket, "stream/")
            .await
            .expect("list")
            .is_empty());
    }

    #[tokio::test]
    async fn upload_lost_behind_its_back_fails_and_leaves_no_object() {
        let Some(store) = s3_test_store() else { return };
        require_s3(&store).await;
        let bucket = fresh_bucket();
        store.ensure_bucket(&bucket).await.expect("create bucket");

        let mut upload = store
            .start_upload(&bucket, "stream/lost", "application/x-ndjson")
            .await
            .expect("start");
        upload.write(pattern(PART + 1, 12)).await.expect("write");
        let listed = store
            .client
            .list_multipart_uploads()
            .bucket(&bucket)
            .send()
            .await
            .expect("list multipart uploads");
        let id = listed.uploads()[0]
            .upload_id()
            .expect("upload id")
            .to_owned();
        store
            .client
            .abort_multipart_upload()
            .bucket(&bucket)
            .key("stream/lost")
            .upload_id(id)
            .send()
            .await
            .expect("abort behind its back");

        let err = match upload.write(pattern(PART, 13)).await {
            Ok(()) => upload.finish().await.expect_err("the upload is gone"),
            Err(err) => err,
        };
        // S3 answers NoSuchUpload (permanent, see `errors`); moto answers 500 (retryable).
        assert!(
            err.to_string().contains("upload part s3://"),
            "names the step and the object: {err}"
        );
        let err = store
            .get(&bucket, "stream/lost")
            .await
            .expect_err("no object");
        assert!(matches!(err, StorageError::NoSuchKey { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn unreachable_server_fails_at_start_and_is_retryable() {
        let mut settings = s3_test_settings();
        settings.endpoint = "http://127.0.0.1:1".to_owned();
        let err = match S3Store::new(settings)
            .start_upload("bucket", "k", "text/csv")
            .await
        {
            Ok(_) => panic!("nothing listens on port 1"),
            Err(err) => err,
        };
        assert!(err.is_retryable(), "{err:?}");
    }
}
