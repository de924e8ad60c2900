//! The object-store port of statport: where CDN access logs are read from and where
//! finished exports are written to.
//!
//! # Layout
//!
//! - [`ObjectStore`] (module `store`): the narrow async trait every component codes against,
//!   held as `Arc<dyn ObjectStore>`, with the values it returns: [`ObjectMeta`] for listings
//!   and [`ObjectReader`], a streaming body.
//! - [`StorageError`] (module `error`): missing bucket, missing key, retryable
//!   ([`StorageError::is_retryable`]) or permanent failure.
//! - [`S3Store`] (module `s3`): S3 or any S3-compatible server, over aws-sdk-s3, configured
//!   from [`S3Settings`]; big files go up as multipart uploads.
//! - [`LocalStore`] (module `local`): a folder on disk (`root/<bucket>/<key>`) with atomic
//!   writes, for the embedded default that needs no server.
//!
//! Both implementations pass one conformance suite (`conformance`, test-only), the S3 one
//! against a real S3-compatible server (`S3_ENDPOINT`, see `scripts/start-s3.sh`).

mod error;
mod local;
mod s3;
mod store;

#[cfg(test)]
mod conformance;

pub use error::StorageError;
pub use local::LocalStore;
pub use s3::{S3Settings, S3Store, DEFAULT_LIST_PAGE_SIZE, DEFAULT_PART_SIZE, MIN_PART_SIZE};
pub use store::{ObjectMeta, ObjectReader, ObjectStore};
