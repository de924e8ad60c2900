//! Validation of bucket names and keys before they become paths under the store root.
//!
//! A valid key maps to a relative path made only of plain file names, so it can never
//! leave `root/<bucket>/`.

use std::path::PathBuf;

use crate::StorageError;

/// Longest key S3 accepts, in bytes.
const MAX_KEY_LEN: usize = 1024;

/// Checks an S3-style bucket name: 3 to 63 characters of `a-z`, `0-9`, `.` and `-`, starting
/// and ending with a letter or digit, no `..`.
pub(crate) fn check_bucket(bucket: &str) -> Result<(), StorageError> {
    let bytes = bucket.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let valid = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && !bucket.contains("..");
    if valid {
        Ok(())
    } else {
        Err(StorageError::Other(format!(
            "invalid bucket name '{bucket}'"
        )))
    }
}

/// Turns a key into a relative path, rejecting anything that is not a sequence of plain,
/// non-empty `/`-separated names (no `.`, `..`, `\`, NUL, leading, trailing or double `/`).
pub(crate) fn key_to_relative_path(key: &str) -> Result<PathBuf, StorageError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(invalid_key(key));
    }
    let mut path = PathBuf::new();
    for segment in key.split('/') {
        if !is_plain_name(segment) {
            return Err(invalid_key(key));
        }
        path.push(segment);
    }
    Ok(path)
}

/// Whether `segment` is usable as one path component: non-empty, not `.` or `..`, and free
/// of `/`, `\` and NUL.
pub(crate) fn is_plain_name(segment: &str) -> bool {
    !segment.is_empty() && segment != "." && segment != ".." && !segment.contains(['/', '\\', '\0'])
}

fn invalid_key(key: &str) -> StorageError {
    StorageError::Other(format!("invalid key '{key}' for the local store"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_s3_style_bucket_names() {
        for name in ["abc", "statport-logs", "my.bucket.1", &"a".repeat(63)] {
            assert!(check_bucket(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_bad_bucket_names() {
        for name in [
            "",
            "ab",
            "Upper",
            "a/b",
            "..",
            ".tmp",
            "a..b",
            "-abc",
            "abc-",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(check_bucket(name).is_err(), "{name}");
        }
    }

    #[test]
    fn keys_become_plain_relative_paths() {
        let path = key_to_relative_path("logs/2024/01/a b+c=é.gz").expect("valid key");
        assert_eq!(
            path,
            PathBuf::from("logs")
                .join("2024")
                .join("01")
                .join("a b+c=é.gz")
        );
        assert_eq!(
            key_to_relative_path(".hidden/x..y").expect("valid key"),
            PathBuf::from(".hidden").join("x..y")
        );
    }

    #[test]
    fn keys_cannot_escape_or_be_ambiguous() {
        for key in [
            "",
            "..",
            "../x",
            "a/../../x",
            "a/./b",
            "/abs",
            "a//b",
            "dir/",
            "a\\b",
            "nul\0",
            &"k".repeat(MAX_KEY_LEN + 1),
        ] {
            assert!(key_to_relative_path(key).is_err(), "{key:?}");
        }
    }
}
