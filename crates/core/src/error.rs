//! The error codes clients see, each with its HTTP status.
//!
//! One enum for every code, so the API renders all of them through one path and a code never
//! drifts from its status.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable, documented error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// A required field is absent.
    MissingParameter,
    /// A field has a value we do not accept (wrong JSON type, unknown value, out of range).
    InvalidParameter,
    /// The granularity (`granularity` / Wangsu `type`) is not one we know.
    InvalidType,
    /// The time range is empty, reversed or longer than the granularity allows.
    InvalidTimeSpan,
    /// A domain in `domain_name` / `hostnames` is not a valid host name or wildcard.
    InvalidHostnames,
    /// The body is not valid JSON.
    MalformedBody,
    /// No API key, or an unknown one.
    Unauthorized,
    /// The task does not exist (or belongs to another tenant).
    TaskNotFound,
    /// No such endpoint.
    NotFound,
    /// The task has no file to download (yet).
    FileNotReady,
    /// The task's result file was deleted at the end of its retention period (410).
    FileExpired,
    /// The download link is malformed, altered or expired.
    InvalidLink,
    /// Too many unfinished tasks.
    LimitExceededExport,
    /// Too many calls or downloads in a short time.
    TooManyRequests,
    /// A server-side dependency (Redis, object store) is not reachable.
    ServiceUnavailable,
    /// Our fault.
    InternalError,
    /// The export would make more rows than the tenant's limit; found while scanning, when the
    /// domains grouped by are `all` or a wildcard (see `ReportAggregate::overflowed`).
    TooManyRows,
    /// Task failure: the task's worker died while running it too many times (a crash loop).
    TooManyAttempts,
    /// Task failure: the object store or the task store stayed unreachable past the retry span.
    DependencyUnavailable,
    /// Task failure: the run went past its job timeout (`queue.job_timeout_secs`, or
    /// `queue.logs_job_timeout_secs` for `logs`); it was stopped, not retried.
    ExportTimedOut,
    /// Task failure: the tenant has no log source configured.
    NoLogSource,
    /// Task failure: the bucket for result files does not exist.
    ResultBucketMissing,
    /// Task failure: the object store refused a request for good (not a transient error).
    ObjectStoreError,
    /// Task failure: the tenant's log bucket does not exist.
    LogBucketNotFound,
    /// Task failure: a log file disappeared while the export read it.
    LogFileVanished,
    /// Task failure: a log file is not valid gzip.
    CorruptLogFile,
    /// Task failure: the run would have written more to the worker's temp dir than the worker
    /// allows (`worker.temp_disk_bytes`, shared by its runs); it was stopped at once (507).
    TempDiskFull,
    /// The endpoint exists but not with this HTTP method (405, with `Allow`).
    MethodNotAllowed,
    /// The request body is larger than the endpoint accepts (413).
    PayloadTooLarge,
    /// The request target (path and query string) is longer than we accept (414).
    UriTooLong,
    /// The body is not in a media type the endpoint reads (415).
    UnsupportedMediaType,
    /// The request was refused for a reason no other code names (a 4xx we did not expect).
    BadRequest,
    /// A `serverGroups` entry of the origin-volume report is neither a configured server group
    /// nor an edge-location prefix (seed-style name, like `InvalidHostnames`).
    InvalidServerGroups,
    /// A synchronous report would read more compressed log bytes than allowed: use an export
    /// task.
    ReportTooLarge,
    /// A synchronous report ran past its wall-time bound and was stopped: use an export task.
    ReportTimedOut,
    /// Too many synchronous reports are running at once on this API process (429).
    TooManyReports,
    /// A filter or action needs the IP database (`country`, `province`, `isp`, `isp_detail`,
    /// `service_area` over logs that do not state it) and none is configured (400); as a task
    /// failure, the worker that ran it has none.
    IpDatabaseNotConfigured,
    /// The schedule does not exist (or belongs to another tenant).
    ScheduleNotFound,
    /// The tenant already has as many schedules as it may (429).
    LimitExceededSchedule,
    /// Schedule-run failure: the schedule's tenant is no longer configured.
    TenantNotConfigured,
    /// A task asks for a `callback_url` but the tenant has no callback secret configured, so
    /// its callbacks could not be signed (400).
    CallbackNotConfigured,
}

impl ErrorCode {
    /// The code as it appears in `error_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingParameter => "MissingParameter",
            ErrorCode::InvalidParameter => "InvalidParameter",
            ErrorCode::InvalidType => "InvalidType",
            ErrorCode::InvalidTimeSpan => "InvalidTimeSpan",
            ErrorCode::InvalidHostnames => "InvalidHostnames",
            ErrorCode::MalformedBody => "StatPort.MalformedBody",
            ErrorCode::Unauthorized => "StatPort.Unauthorized",
            ErrorCode::TaskNotFound => "StatPort.TaskNotFound",
            ErrorCode::NotFound => "StatPort.NotFound",
            ErrorCode::FileNotReady => "StatPort.FileNotReady",
            ErrorCode::FileExpired => "StatPort.FileExpired",
            ErrorCode::InvalidLink => "StatPort.InvalidLink",
            ErrorCode::LimitExceededExport => "LimitExceeded.Export",
            ErrorCode::TooManyRequests => "StatPort.TooManyRequests",
            ErrorCode::ServiceUnavailable => "StatPort.ServiceUnavailable",
            ErrorCode::InternalError => "StatPort.InternalError",
            ErrorCode::TooManyRows => "StatPort.TooManyRows",
            ErrorCode::TooManyAttempts => "StatPort.TooManyAttempts",
            ErrorCode::ExportTimedOut => "StatPort.ExportTimedOut",
            ErrorCode::DependencyUnavailable => "StatPort.DependencyUnavailable",
            ErrorCode::NoLogSource => "StatPort.NoLogSource",
            ErrorCode::ResultBucketMissing => "StatPort.ResultBucketMissing",
            ErrorCode::ObjectStoreError => "StatPort.ObjectStoreError",
            ErrorCode::LogBucketNotFound => "StatPort.LogBucketNotFound",
            ErrorCode::LogFileVanished => "StatPort.LogFileVanished",
            ErrorCode::CorruptLogFile => "StatPort.CorruptLogFile",
            ErrorCode::TempDiskFull => "StatPort.TempDiskFull",
            ErrorCode::MethodNotAllowed => "StatPort.MethodNotAllowed",
            ErrorCode::PayloadTooLarge => "StatPort.PayloadTooLarge",
            ErrorCode::UriTooLong => "StatPort.UriTooLong",
            ErrorCode::UnsupportedMediaType => "StatPort.UnsupportedMediaType",
            ErrorCode::BadRequest => "StatPort.BadRequest",
            ErrorCode::InvalidServerGroups => "InvalidServerGroups",
            ErrorCode::ReportTooLarge => "StatPort.ReportTooLarge",
            ErrorCode::ReportTimedOut => "StatPort.ReportTimedOut",
            ErrorCode::TooManyReports => "StatPort.TooManyReports",
            ErrorCode::IpDatabaseNotConfigured => "StatPort.IpDatabaseNotConfigured",
            ErrorCode::ScheduleNotFound => "StatPort.ScheduleNotFound",
            ErrorCode::LimitExceededSchedule => "LimitExceeded.Schedule",
            ErrorCode::TenantNotConfigured => "StatPort.TenantNotConfigured",
            ErrorCode::CallbackNotConfigured => "StatPort.CallbackNotConfigured",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::MissingParameter
            | ErrorCode::InvalidParameter
            | ErrorCode::InvalidType
            | ErrorCode::InvalidTimeSpan
            | ErrorCode::InvalidHostnames
            | ErrorCode::MalformedBody
            | ErrorCode::TooManyRows
            | ErrorCode::BadRequest
            | ErrorCode::InvalidServerGroups
            | ErrorCode::ReportTooLarge
            | ErrorCode::IpDatabaseNotConfigured
            | ErrorCode::CallbackNotConfigured => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::InvalidLink => 403,
            ErrorCode::TaskNotFound | ErrorCode::NotFound | ErrorCode::ScheduleNotFound => 404,
            ErrorCode::FileNotReady => 409,
            ErrorCode::FileExpired => 410,
            ErrorCode::LimitExceededExport
            | ErrorCode::LimitExceededSchedule
            | ErrorCode::TooManyRequests
            | ErrorCode::TooManyReports => 429,
            ErrorCode::ServiceUnavailable | ErrorCode::ReportTimedOut => 503,
            ErrorCode::InternalError => 500,
            // Task failures are recorded in the task, not answered over HTTP; the status is what
            // such an answer would be.
            ErrorCode::DependencyUnavailable => 503,
            ErrorCode::ExportTimedOut => 504,
            ErrorCode::TempDiskFull => 507,
            ErrorCode::TooManyAttempts
            | ErrorCode::NoLogSource
            | ErrorCode::ResultBucketMissing
            | ErrorCode::ObjectStoreError
            | ErrorCode::LogBucketNotFound
            | ErrorCode::LogFileVanished
            | ErrorCode::CorruptLogFile
            | ErrorCode::TenantNotConfigured => 500,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UriTooLong => 414,
            ErrorCode::UnsupportedMediaType => 415,
        }
    }
}

/// A client-facing error: a code and a sentence. Internal details never go in `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ApiError {
    /// Which error.
    pub code: ErrorCode,
    /// A sentence for a person.
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// `MissingParameter` for `field`.
    pub fn missing(field: &str) -> Self {
        Self::new(
            ErrorCode::MissingParameter,
            format!("the parameter '{field}' is required"),
        )
    }

    /// `InvalidParameter` with a sentence.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameter, message)
    }
}

/// `n` with thousands separators (`8,928,000`), for messages people read.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
