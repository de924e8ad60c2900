//! [`S3Store`]: the object store on S3 or an S3-compatible server, over aws-sdk-s3.
//!
//! Configured explicitly from [`S3Settings`] (no environment or profile lookup). Metadata
//! calls and the start of a download have bounded timeouts and SDK retries; uploads have no
//! overall time limit but fail when the transfer stalls. Files larger than the part size go
//! up as multipart uploads (module `multipart`); so do streaming uploads that outgrow one
//! part (module `stream`).

mod errors;
mod multipart;
mod stream;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_sdk_s3::{Client, Config};
use bytes::Bytes;
use tracing::debug;

use self::errors::{map_sdk_error, Target};
use self::stream::StreamUpload;
use crate::{ObjectMeta, ObjectReader, ObjectStore, StorageError, Upload};

/// Default multipart part size (files up to this size go up in one request).
pub const DEFAULT_PART_SIZE: u64 = 16 * 1024 * 1024;
/// Smallest part S3 accepts (except for the last part).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Largest part S3 accepts.
const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Default and largest number of keys S3 returns per listing page.
pub const DEFAULT_LIST_PAGE_SIZE: usize = 1000;
/// Parts of one multipart upload in flight at once.
const UPLOAD_CONCURRENCY: usize = 4;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Per attempt of a metadata call or of a download's first response.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Whole metadata call, retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(90);
const PING_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_ATTEMPTS: u32 = 3;

/// Where and how to reach S3: also the `[s3]` section of the configuration, read as it is.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Endpoint URL of an S3-compatible server (`http://127.0.0.1:9000`); empty for AWS
    /// itself.
    #[serde(default)]
    pub endpoint: String,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key; redacted in `Debug`.
    pub secret_access_key: String,
    /// Address buckets as `endpoint/bucket` instead of `bucket.endpoint` (needed by most
    /// S3-compatible servers).
    pub path_style: bool,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// An object store on S3 (see the [module docs](self)).
#[derive(Clone)]
pub struct S3Store {
    /// For metadata calls and downloads: bounded timeouts.
    client: Client,
    /// For uploads: no overall timeout, stalled-stream protection only.
    upload_client: Client,
    endpoint: Option<String>,
    region: String,
    list_page_size: i32,
    part_size: u64,
}

impl S3Store {
    /// A store for `settings`. Nothing is contacted until the first call.
    pub fn new(settings: S3Settings) -> Self {
        let bounded = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let unbounded = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .disable_operation_attempt_timeout()
            .disable_operation_timeout()
            .build();
        Self {
            client: Client::from_conf(sdk_config(&settings, bounded)),
            upload_client: Client::from_conf(sdk_config(&settings, unbounded)),
            endpoint: Some(settings.endpoint.clone()).filter(|endpoint| !endpoint.is_empty()),
            region: settings.region,
            list_page_size: i32::try_from(DEFAULT_LIST_PAGE_SIZE).unwrap_or(i32::MAX),
            part_size: DEFAULT_PART_SIZE,
        }
    }

    /// Keys requested per listing page, clamped to `1..=1000` (small values exercise
    /// pagination in tests).
    pub fn with_list_page_size(mut self, keys: usize) -> Self {
        let keys = keys.clamp(1, DEFAULT_LIST_PAGE_SIZE);
        self.list_page_size = i32::try_from(keys).unwrap_or(i32::MAX);
        self
    }

    /// Multipart part size in bytes, clamped to S3's limits (at least [`MIN_PART_SIZE`]);
    /// files and streamed results up to this size are uploaded in a single request. A
    /// streaming upload holds up to two parts in memory (one filling, one in flight).
    pub fn with_part_size(mut self, bytes: u64) -> Self {
        self.part_size = bytes.clamp(MIN_PART_SIZE, MAX_PART_SIZE);
        self
    }

    async fn head_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| map_sdk_error("head bucket", Target::Bucket(bucket), err))
    }

    async fn create_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        let mut request = self.client.create_bucket().bucket(bucket);
        // us-east-1 is the default location and must not be named explicitly.
        if self.region != "us-east-1" {
            let location = BucketLocationConstraint::from(self.region.as_str());
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(location)
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => {
                debug!(bucket, "bucket created");
                Ok(())
            }
            Err(err) => match err.as_service_error() {
                Some(service) if service.is_bucket_already_owned_by_you() => Ok(()),
                // Created concurrently, or taken by someone else: only usable if we can see it.
                Some(service) if service.is_bucket_already_exists() => {
                    self.head_bucket(bucket).await.map_err(|_| {
                        StorageError::Other(format!(
                            "bucket name '{bucket}' is taken by another account"
                        ))
                    })
                }
                _ => Err(map_sdk_error("create bucket", Target::Bucket(bucket), err)),
            },
        }
    }
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("list_page_size", &self.list_page_size)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

/// The SDK configuration shared by both clients, with the given timeouts.
fn sdk_config(settings: &S3Settings, timeouts: TimeoutConfig) -> Config {
    let credentials = Credentials::new(
        settings.access_key_id.clone(),
        settings.secret_access_key.clone(),
        None,
        None,
        "statport",
    );
    let mut builder = Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .credentials_provider(credentials)
        .force_path_style(settings.path_style)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(timeouts)
        // Checksums only where S3 demands them: the default aws-chunked trailing checksums
        // are not understood by every S3-compatible server.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = Some(settings.endpoint.as_str()).filter(|e| !e.is_empty()) {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let target = Target::Bucket(bucket);
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0_usize;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .set_prefix((!prefix.is_empty()).then(|| prefix.to_owned()))
                .max_keys(self.list_page_size)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|err| map_sdk_error("list", target, err))?;
            pages += 1;
            objects.extend(page.contents().iter().filter_map(|object| {
                Some(ObjectMeta {
                    key: object.key()?.to_owned(),
                    size: object
                        .size()
                        .and_then(|size| u64::try_from(size).ok())
                        .unwrap_or(0),
                    last_modified_ms: object.last_modified().and_then(|t| t.to_millis().ok()),
                })
            }));
            match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(next)) => token = Some(next.to_owned()),
                (Some(true), None) => {
                    return Err(StorageError::Other(format!(
                        "list {target}: truncated page without continuation token"
                    )))
                }
                _ => break,
            }
        }
        debug!(
            bucket,
            prefix,
            objects = objects.len(),
            pages,
            "listed objects"
        );
        Ok(objects)
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<ObjectReader, StorageError> {
        let output = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| map_sdk_error("get", Target::Object(bucket, key), err))?;
        let size = output
            .content_length()
            .and_then(|size| u64::try_from(size).ok());
        Ok(ObjectReader::new(size, output.body.into_async_read()))
    }

    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, StorageError> {
        let unreadable = |err: &dyn fmt::Display| {
            StorageError::Other(format!("cannot read {}: {err}", path.display()))
        };
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|err| unreadable(&err))?
            .len();
        if size > self.part_size {
            multipart::FileUpload {
                client: &self.upload_client,
                bucket,
                key,
                path,
                content_type,
                size,
                part_size: self.part_size,
                concurrency: UPLOAD_CONCURRENCY,
            }
            .run()
            .await?;
        } else {
            let body = ByteStream::from_path(path)
                .await
                .map_err(|err| unreadable(&err))?;
            self.upload_client
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type(content_type)
                .body(body)
                .send()
                .await
                .map_err(|err| map_sdk_error("put", Target::Object(bucket, key), err))?;
        }
        debug!(bucket, key, size, "object uploaded");
        Ok(size)
    }

    async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let size = body.len();
        self.upload_client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|err| map_sdk_error("put", Target::Object(bucket, key), err))?;
        debug!(bucket, key, size, "object uploaded");
        Ok(())
    }

    async fn start_upload<'a>(
        &'a self,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> Result<Box<dyn Upload + 'a>, StorageError> {
        // One cheap request so that a missing bucket fails now, not after the first part.
        self.head_bucket(bucket).await?;
        Ok(Box::new(StreamUpload::new(
            self.upload_client.clone(),
            bucket,
            key,
            content_type,
            self.part_size,
        )))
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        let deleted = self
            .client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await;
        match deleted.map_err(|err| map_sdk_error("delete", Target::Object(bucket, key), err)) {
            // S3 answers 204 for a missing key; some compatible servers answer NoSuchKey.
            Ok(_) | Err(StorageError::NoSuchKey { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        match self.head_bucket(bucket).await {
            Err(StorageError::NoSuchBucket { .. }) => self.create_bucket(bucket).await,
            other => other,
        }
    }

    async fn ping(&self, bucket: &str) -> Result<(), StorageError> {
        match tokio::time::timeout(PING_TIMEOUT, self.head_bucket(bucket)).await {
            Ok(result) => result,
            Err(_) => Err(StorageError::Unavailable(format!(
                "ping s3://{bucket}: no answer within {}s",
                PING_TIMEOUT.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{
        fresh_bucket, pattern, read_all, require_s3, s3_test_settings, s3_test_store, TempFile,
    };

    #[test]
    fn debug_redacts_the_secret() {
        let mut settings = s3_test_settings();
        settings.secret_access_key = "hunter2-secret".to_owned();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let shown = format!("{:?}", S3Store::new(settings));
        assert!(!shown.contains("hunter2-secret"), "{shown}");
    }

    #[test]
    fn limits_are_clamped() {
        let store = S3Store::new(s3_test_settings())
            .with_list_page_size(0)
            .with_part_size(1);
        assert_eq!((store.list_page_size, store.part_size), (1, MIN_PART_SIZE));
        let store = store.with_list_page_size(5000);
        assert_eq!(store.list_page_size, 1000);
    }

    #[tokio::test]
    async fn unreachable_server_is_retryable() {
        let mut settings = s3_test_settings();
        // Port 1 (tcpmux) is closed on any sane test machine: connections are refused.
        settings.endpoint = "http://127.0.0.1:1".to_owned();
        let store = S3Store::new(settings);
        let err = store
            .ping("bucket")
            .await
            .expect_err("nothing listens on port 1");
        assert!(err.is_retryable(), "{err:?}");
    }

    #[tokio::test]
    async fn big_files_go_up_in_parts() {
        let Some(store) = s3_test_store() else { return };
        require_s3(&store).await;
        let bucket = fresh_bucket();
        store.ensure_bucket(&bucket).await.expect("create bucket");

        let data = pattern(2 * MIN_PART_SIZE as usize + 1, 3);
        let file = TempFile::with_contents(&data);
        let size = store
            .put_file(
                &bucket,
                "parts/big.bin",
                file.path(),
                "application/octet-stream",
            )
            .await
            .expect("put_file");
        assert_eq!(size, data.len() as u64);

        let head = store
            .client
            .head_object()
            .bucket(&bucket)
            .key("parts/big.bin")
            .send()
            .await
            .expect("head object");
        // A multipart ETag is "<md5 of part md5s>-<part count>".
        let etag = head.e_tag().unwrap_or_default();
        assert!(etag.trim_matches('"').ends_with("-3"), "etag {etag}");
        assert_eq!(head.content_type(), Some("application/octet-stream"));
        assert_eq!(read_all(&store, &bucket, "parts/big.bin").await, data);
    }

    #[tokio::test]
    async fn failed_multipart_upload_is_aborted() {
        let Some(store) = s3_test_store() else { return };
        require_s3(&store).await;
        let bucket = fresh_bucket();
        store.ensure_bucket(&bucket).await.expect("create bucket");

        // The file shrinks after its size was taken: the last part cannot be read.
        let data = pattern(2 * MIN_PART_SIZE as usize + 1, 4);
        let file = TempFile::with_contents(&data);
        let upload = multipart::FileUpload {
            client: &store.upload_client,
            bucket: &bucket,
            key: "parts/broken.bin",
            path: file.path(),
            content_type: "application/octet-stream",
            size: data.len() as u64 + MIN_PART_SIZE,
            part_size: MIN_PART_SIZE,
            concurrency: 2,
        };
        let err = upload.run().await.expect_err("the file is too short");
        assert!(matches!(err, StorageError::Other(_)), "{err:?}");

        let uploads = store
            .client
            .list_multipart_uploads()
            .bucket(&bucket)
            .send()
            .await
            .expect("list multipart uploads");
        assert!(
            uploads.uploads().is_empty(),
            "left behind: {:?}",
            uploads.uploads()
        );
        let err = store
            .get(&bucket, "parts/broken.bin")
            .await
            .expect_err("no object");
        assert!(matches!(err, StorageError::NoSuchKey { .. }), "{err:?}");
    }
}
