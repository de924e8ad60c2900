//! Mapping of aws-sdk-s3 errors onto [`StorageError`].

use std::error::Error;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::StorageError;

/// What an S3 call addressed, which decides how a bare 404 reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A bucket-level call (list, head bucket, create bucket).
    Bucket(&'a str),
    /// An object-level call (get, put, delete, multipart parts).
    Object(&'a str, &'a str),
}

impl Target<'_> {
    fn bucket(self) -> String {
        match self {
            Self::Bucket(bucket) | Self::Object(bucket, _) => bucket.to_owned(),
        }
    }
}

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bucket(bucket) => write!(f, "s3://{bucket}"),
            Self::Object(bucket, key) => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// Error codes S3 (and compatible servers) use for transient conditions.
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "OperationAborted",
];

/// Classifies a failed call `op` on `target`.
///
/// Missing buckets and keys are recognised by error code (`NoSuchBucket`, `NoSuchKey`) and,
/// for responses without a body such as HEAD, by a 404 status. Network failures, timeouts,
/// unparseable responses, 5xx, 429 and throttling codes are [`StorageError::Unavailable`].
pub(crate) fn map_sdk_error<E>(op: &str, target: Target<'_>, err: SdkError<E>) -> StorageError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    let status = err
        .raw_response()
        .map(|response| response.status().as_u16());
    let code = err.code().map(str::to_owned);
    let message = format!("{op} {target}: {}", error_chain(&err));
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StorageError::Unavailable(message)
        }
        SdkError::ServiceError(_) => {
            classify_service_error(target, code.as_deref(), status, message)
        }
        // Construction failures and future variants: our request was at fault.
        _ => StorageError::Other(message),
    }
}

/// The error and its sources, `: `-separated, skipping segments that repeat the previous
/// one (unlike `DisplayErrorContext`, which appends the whole `Debug` form).
fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(err) = current {
        let part = err.to_string();
        if parts.last() != Some(&part) {
            parts.push(part);
        }
        current = err.source();
    }
    parts.join(": ")
}

fn classify_service_error(
    target: Target<'_>,
    code: Option<&str>,
    status: Option<u16>,
    message: String,
) -> StorageError {
    match (code, status, target) {
        (Some("NoSuchBucket"), _, _) => StorageError::NoSuchBucket {
            bucket: target.bucket(),
        },
        (Some("NoSuchKey"), _, Target::Object(bucket, key)) => StorageError::NoSuchKey {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        },
        // HEAD responses carry no body, so the SDK only sees the status ("NotFound").
        (None | Some("NotFound"), Some(404), Target::Bucket(bucket)) => {
            StorageError::NoSuchBucket {
                bucket: bucket.to_owned(),
            }
        }
        (None | Some("NotFound"), Some(404), Target::Object(bucket, key)) => {
            StorageError::NoSuchKey {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            }
        }
        (Some(code), _, _) if TRANSIENT_CODES.contains(&code) => StorageError::Unavailable(message),
        (_, Some(status), _) if status >= 500 || status == 429 => {
            StorageError::Unavailable(message)
        }
        _ => StorageError::Other(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(target: Target<'_>, code: Option<&str>, status: u16) -> StorageError {
        classify_service_error(target, code, Some(status), "msg".to_owned())
    }

    #[test]
    fn missing_things_are_recognised_by_code_or_bare_404() {
        let object = Target::Object("b", "k");
        let bucket = Target::Bucket("b");
        assert!(matches!(
            classify(object, Some("NoSuchBucket"), 404),
            StorageError::NoSuchBucket { .. }
        ));
        assert!(matches!(
            classify(object, Some("NoSuchKey"), 404),
            StorageError::NoSuchKey { .. }
        ));
        assert!(matches!(
            classify(bucket, Some("NotFound"), 404),
            StorageError::NoSuchBucket { .. }
        ));
        assert!(matches!(
            classify(bucket, None, 404),
            StorageError::NoSuchBucket { .. }
        ));
        assert!(matches!(
            classify(object, None, 404),
            StorageError::NoSuchKey { .. }
        ));
        assert!(matches!(
            classify(object, Some("NoSuchUpload"), 404),
            StorageError::Other(_)
        ));
    }

    #[test]
    fn transient_failures_are_retryable() {
        let object = Target::Object("b", "k");
        assert!(classify(object, Some("SlowDown"), 503).is_retryable());
        assert!(classify(object, None, 500).is_retryable());
        assert!(classify(object, None, 429).is_retryable());
        assert!(classify(object, Some("RequestTimeout"), 400).is_retryable());
        assert!(!classify(object, Some("AccessDenied"), 403).is_retryable());
        assert!(!classify(object, Some("InvalidArgument"), 400).is_retryable());
    }
}
