//! What the tenant is told when the scheduler fails to handle its schedule: a sentence that
//! names the part that failed and a coarse cause, never a key, a path or a connection detail
//! (those stay in the log line written next to it).

use statport_records::StoreError;

/// The sentence recorded on a schedule whose handling failed with `e` (a schedule-store call).
pub(crate) fn store_failure(e: &StoreError) -> String {
    let cause = match e {
        StoreError::Redis(_) | StoreError::Sqlite(_) if e.is_retryable() => {
            "the schedule store could not be reached"
        }
        StoreError::Redis(_)
        | StoreError::Sqlite(_)
        | StoreError::Open { .. }
        | StoreError::Schema { .. } => "the schedule store refused the request",
        StoreError::Contention { .. } => {
            "the schedule was changed by other writers too often at once"
        }
        StoreError::Corrupt { .. } => "a stored record of the schedule could not be read",
        StoreError::Encode(_) => "a record of the schedule could not be written",
    };
    format!(
        "the scheduler could not handle this schedule: {cause}; it tries again at its next tick"
    )
}

/// The sentence recorded on a schedule whose run was put off because a dependency did not
/// answer; `cause` is already safe to show the tenant.
pub(crate) fn postponed(cause: &str) -> String {
    format!(
        "the run could not create its task yet: {cause}; it is tried again once its lease passes"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sentence_names_no_key_or_connection() {
        let corrupt = StoreError::Corrupt {
            key: "statport:sched:t1:s1:runs".into(),
            reason: "expected value at line 1".into(),
        };
        let message = store_failure(&corrupt);
        assert!(message.contains("could not be read"), "{message}");
        assert!(
            !message.contains("statport:") && !message.contains("line 1"),
            "{message}"
        );
        let refused = redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connecting to redis://:hunter2@10.0.0.5:6379/ was refused",
        ));
        let message = store_failure(&StoreError::Redis(refused));
        assert!(message.contains("could not be reached"), "{message}");
        assert!(
            !message.contains("hunter2") && !message.contains("10.0.0.5"),
            "{message}"
        );
        let open = StoreError::Open {
            path: "/srv/secret/statport.db".into(),
            source: std::io::Error::other("permission denied"),
        };
        let message = store_failure(&open);
        assert!(message.contains("refused the request"), "{message}");
        assert!(!message.contains("/srv/secret"), "{message}");
    }
}
