//! The one error type every object store returns.

/// Why an object-store operation failed.
///
/// Callers branch on the variant: the two "missing" variants are answers, not faults;
/// [`StorageError::Unavailable`] is worth retrying, [`StorageError::Other`] is not.
/// `Clone` so that a failure can be reported both by the failing `write` of an
/// [`UploadWriter`](crate::UploadWriter) and by its `finish`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// The bucket does not exist.
    #[error("bucket '{bucket}' does not exist")]
    NoSuchBucket {
        /// The bucket that was addressed.
        bucket: String,
    },
    /// The bucket exists but holds no object under this key.
    #[error("object '{key}' does not exist in bucket '{bucket}'")]
    NoSuchKey {
        /// The bucket that was addressed.
        bucket: String,
        /// The missing key.
        key: String,
    },
    /// The store could not be reached or answered with a transient failure (network error,
    /// timeout, 5xx, throttling). Retrying later may succeed.
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    /// Any other failure (bad request, access denied, invalid key, local I/O error).
    /// Retrying will not help.
    #[error("object store error: {0}")]
    Other(String),
}

impl StorageError {
    /// Whether the operation may succeed if retried later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// The storage error inside an [`std::io::Error`], if there is one: an
    /// [`UploadWriter`](crate::UploadWriter) fails its writes with one, and writers that
    /// wrap it (csv, serde_json) hand that `io::Error` back, so callers can still tell a
    /// retryable failure from a permanent one.
    pub fn find_in(err: &std::io::Error) -> Option<&Self> {
        err.get_ref()?.downcast_ref::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_is_retryable() {
        assert!(StorageError::Unavailable("timeout".into()).is_retryable());
        assert!(!StorageError::Other("denied".into()).is_retryable());
        assert!(!StorageError::NoSuchBucket { bucket: "b".into() }.is_retryable());
        assert!(!StorageError::NoSuchKey {
            bucket: "b".into(),
            key: "k".into()
        }
        .is_retryable());
    }

    #[test]
    fn found_inside_an_io_error() {
        let err = std::io::Error::other(StorageError::Unavailable("slow".into()));
        assert!(StorageError::find_in(&err).is_some_and(StorageError::is_retryable));
        assert_eq!(err.to_string(), "object store unavailable: slow");
        assert!(StorageError::find_in(&std::io::Error::other("plain")).is_none());
    }

    #[test]
    fn messages_name_the_missing_thing() {
        let err = StorageError::NoSuchBucket { bucket: "x".into() };
        assert_eq!(err.to_string(), "bucket 'x' does not exist");
        let err = StorageError::NoSuchKey {
            bucket: "x".into(),
            key: "a/b".into(),
        };
        assert_eq!(err.to_string(), "object 'a/b' does not exist in bucket 'x'");
    }
}
