//! Multipart upload of a local file: parts streamed from disk, a few in flight at once,
//! the upload aborted if any step fails.

use std::path::Path;

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use futures::{StreamExt, TryStreamExt};
use tracing::{debug, warn};

use super::errors::{map_sdk_error, Target};
use crate::StorageError;

/// The most parts S3 accepts in one upload.
pub(super) const MAX_PARTS: u64 = 10_000;

/// One file upload.
pub(crate) struct FileUpload<'a> {
    pub(crate) client: &'a Client,
    pub(crate) bucket: &'a str,
    pub(crate) key: &'a str,
    pub(crate) path: &'a Path,
    pub(crate) content_type: &'a str,
    /// File size in bytes.
    pub(crate) size: u64,
    /// Preferred part size; raised when the file would need more than [`MAX_PARTS`].
    pub(crate) part_size: u64,
    /// Parts uploaded concurrently.
    pub(crate) concurrency: usize,
}

/// One part: its 1-based number and byte range in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Part {
    number: i32,
    offset: u64,
    len: u64,
}

impl FileUpload<'_> {
    /// Runs the upload to completion, or aborts it and returns the first error.
    pub(crate) async fn run(&self) -> Result<(), StorageError> {
        let target = Target::Object(self.bucket, self.key);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .content_type(self.content_type)
            .send()
            .await
            .map_err(|err| map_sdk_error("create multipart upload", target, err))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                StorageError::Other(format!("create multipart upload {target}: no upload id"))
            })?
            .to_owned();

        let result = self.upload_parts_and_complete(&upload_id).await;
        if result.is_err() {
            self.abort(&upload_id).await;
        }
        result
    }

    async fn upload_parts_and_complete(&self, upload_id: &str) -> Result<(), StorageError> {
        let parts = split(self.size, self.part_size)?;
        let count = parts.len();
        debug!(
            bucket = self.bucket,
            key = self.key,
            size = self.size,
            parts = count,
            "multipart upload started"
        );
        let completed: Vec<CompletedPart> = futures::stream::iter(parts)
            .map(|part| self.upload_part(upload_id, part))
            .buffered(self.concurrency.max(1))
            .try_collect()
            .await?;
        self.client
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .map_err(|err| {
                map_sdk_error(
                    "complete multipart upload",
                    Target::Object(self.bucket, self.key),
                    err,
                )
            })?;
        debug!(
            bucket = self.bucket,
            key = self.key,
            parts = count,
            "multipart upload completed"
        );
        Ok(())
    }

    async fn upload_part(
        &self,
        upload_id: &str,
        part: Part,
    ) -> Result<CompletedPart, StorageError> {
        let target = Target::Object(self.bucket, self.key);
        let body = ByteStream::read_from()
            .path(self.path)
            .offset(part.offset)
            .length(Length::Exact(part.len))
            .build()
            .await
            .map_err(|err| {
                StorageError::Other(format!("cannot read {}: {err}", self.path.display()))
            })?;
        let content_length = i64::try_from(part.len)
            .map_err(|_| StorageError::Other(format!("part {} too large", part.number)))?;
        let uploaded = self
            .client
            .upload_part()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(upload_id)
            .part_number(part.number)
            .content_length(content_length)
            .body(body)
            .send()
            .await
            .map_err(|err| map_sdk_error("upload part", target, err))?;
        Ok(CompletedPart::builder()
            .part_number(part.number)
            .set_e_tag(uploaded.e_tag().map(str::to_owned))
            .build())
    }

    /// Best effort: an upload left behind only costs storage until a lifecycle rule drops it.
    async fn abort(&self, upload_id: &str) {
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(upload_id)
            .send()
            .await;
        if let Err(err) = aborted {
            let err = map_sdk_error(
                "abort multipart upload",
                Target::Object(self.bucket, self.key),
                err,
            );
            warn!(bucket = self.bucket, key = self.key, upload_id, error = %err, "cannot abort multipart upload");
        }
    }
}

/// Splits `size` bytes into parts of `part_size` (the last one shorter), raising the part
/// size so that there are at most [`MAX_PARTS`].
fn split(size: u64, part_size: u64) -> Result<Vec<Part>, StorageError> {
    let part_size = part_size.max(size.div_ceil(MAX_PARTS)).max(1);
    let count = size.div_ceil(part_size);
    (0..count)
        .map(|index| {
            let number = i32::try_from(index + 1)
                .map_err(|_| StorageError::Other(format!("too many parts: {count}")))?;
            let offset = index * part_size;
            Ok(Part {
                number,
                offset,
                len: part_size.min(size - offset),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn splits_into_full_parts_and_a_short_last_one() {
        let parts = split(11 * MIB, 5 * MIB).expect("split");
        assert_eq!(
            parts,
            vec![
                Part {
                    number: 1,
                    offset: 0,
                    len: 5 * MIB
                },
                Part {
                    number: 2,
                    offset: 5 * MIB,
                    len: 5 * MIB
                },
                Part {
                    number: 3,
                    offset: 10 * MIB,
                    len: MIB
                },
            ]
        );
    }

    #[test]
    fn exact_multiple_has_no_empty_part() {
        let parts = split(10 * MIB, 5 * MIB).expect("split");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.iter().map(|p| p.len).sum::<u64>(), 10 * MIB);
    }

    #[test]
    fn part_size_grows_to_stay_within_the_part_limit() {
        let size = 1024 * 1024 * MIB; // 1 TiB
        let parts = split(size, 5 * MIB).expect("split");
        assert!(parts.len() as u64 <= MAX_PARTS);
        assert_eq!(parts.iter().map(|p| p.len).sum::<u64>(), size);
    }
}
