//! The object-store port of statport: where CDN access logs are read from and where
//! finished exports are written to.
//!
//! # Layout
//!
//! - [`ObjectStore`] (module `store`): the narrow async trait every component codes against,
//!   held as `Arc<dyn ObjectStore>`, with the values it returns: [`ObjectMeta`] for listings
//!   (key, size, last-modified time) and [`ObjectReader`], a streaming body; [`Upload`], a streaming upload in progress
//!   ([`ObjectStore::start_upload`]).
//! - [`StorageError`] (module `error`): missing bucket, missing key, retryable
//!   ([`StorageError::is_retryable`]) or permanent failure.
//! - [`S3Store`] (module `s3`): S3 or any S3-compatible server, over aws-sdk-s3, configured
//!   from [`S3Settings`]; big files and big streamed results go up as multipart uploads.
//! - [`LocalStore`] (module `local`): a folder on disk (`root/<bucket>/<key>`) with atomic
//!   writes, for the embedded default that needs no server.
//! - [`UploadWriter`] (module `upload`): a blocking [`std::io::Write`] over an [`Upload`],
//!   for synchronous writers (csv, serde_json) running in `spawn_blocking`.
//! - module `spool`: the default `start_upload` of stores without a native one (a temporary
//!   file handed to `put_file`), and the staged-file guard both local uploads use.
//!
//! Both implementations pass one conformance suite (`conformance`, test-only), the S3 one
//! against a real S3-compatible server (`S3_ENDPOINT`, see `scripts/start-s3.sh`).

mod error;
mod local;
mod s3;
mod spool;
mod store;
mod upload;

#[cfg(test)]
mod conformance;

pub use error::StorageError;
pub use local::LocalStore;
pub use s3::{S3Settings, S3Store, DEFAULT_LIST_PAGE_SIZE, DEFAULT_PART_SIZE, MIN_PART_SIZE};
pub use store::{ObjectMeta, ObjectReader, ObjectStore, Upload};
pub use upload::{UploadWriter, CHANNEL_CAPACITY, CHUNK_SIZE};
