//! The one error type every object store returns.

/// Why an object-store operation failed.
///
/// Callers branch on the variant: the two "missing" variants are answers, not faults;
/// [`StorageError::Unavailable`] is worth retrying, [`StorageError::Other`] is not.
#[derive(Debug, thiserror::Error)]
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
