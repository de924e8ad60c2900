//! Log records and everything that reads them: the shared vocabulary of one parsed access-log
//! line, the log formats that produce it, client geography, the query language of the `logs`
//! export and that export's rows.
//!
//! The vocabulary at the top of this folder ([`LogRecord`], [`Scheme`], [`ServiceArea`],
//! [`RecordSink`], [`is_hostname`]) is a leaf: it imports nothing above it, so the formats, the
//! request validation and the statistics all build on it without a circle.
//!
//! # Layout
//! - `record`: [`LogRecord`], [`Scheme`], [`ServiceArea`] and on-demand URL decoding.
//! - `sink`: [`RecordSink`], where a scan puts the records its condition selected.
//! - `host`: [`is_hostname`], the host-name rule of `domain_name` and Huawei file names.
//! - [`format`]: the log formats, each with its file-name rule and line parser
//!   ([`format::cloudfront`]: CloudFront standard logs, driven by the `#Fields` header;
//!   [`format::huawei`]: Huawei CDN logs, one file per domain, hour and service area).
//! - [`geo`]: client geography from an IP database (MaxMind DB): the lookup seam, the
//!   `country` / `province` / `isp` filters, a small database writer for tests.
//! - [`query`]: the Lucene-style query language of the `logs` export, parsed once into a
//!   matcher over [`LogRecord`]s.
//! - [`row`]: the rows of the `logs` export: its columns, a selected record packed into bytes
//!   for the external sort, and read back into cells.

pub mod format;
pub mod geo;
mod host;
pub mod query;
mod record;
pub mod row;
mod sink;

pub use host::is_hostname;
pub(crate) use record::percent_decode;
pub use record::{LogRecord, Scheme, ServiceArea};
pub use sink::RecordSink;
