use super::*;

const T0: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;

#[test]
fn the_first_look_creates_the_candidate() {
    let keys = next_keys(None, b"first", T0, DAY).expect("created");
    assert_eq!(keys.current.secret, b"first");
    assert_eq!(keys.current.since_ms, T0);
    assert_eq!(keys.previous, None);
}

#[test]
fn a_young_key_stays_and_an_old_one_rotates() {
    let keys = next_keys(None, b"first", T0, DAY).expect("created");
    assert_eq!(next_keys(Some(&keys), b"second", T0 + DAY - 1, DAY), None);
    let rotated = next_keys(Some(&keys), b"second", T0 + DAY, DAY).expect("rotated");
    assert_eq!(rotated.current.secret, b"second");
    assert_eq!(rotated.current.since_ms, T0 + DAY);
    assert_eq!(rotated.previous, Some(keys.current.clone()));
    // The key before the previous is gone after the next rotation.
    let again = next_keys(Some(&rotated), b"third", T0 + 2 * DAY, DAY).expect("rotated");
    assert_eq!(again.previous.map(|k| k.secret), Some(b"second".to_vec()));
}

#[test]
fn a_huge_period_never_overflows() {
    let keys = next_keys(None, b"k", T0, DAY).expect("created");
    assert_eq!(
        next_keys(Some(&keys), b"x", T0 + 1000 * DAY, i64::MAX),
        None
    );
}

#[test]
fn debug_and_the_record_keep_the_secret_out_of_logs() {
    let keys = next_keys(None, b"super-secret-bytes", T0, DAY).expect("created");
    let shown = format!("{keys:?}");
    assert!(!shown.contains("super-secret-bytes"), "{shown}");
    assert!(
        !shown.contains(&hex::encode(b"super-secret-bytes")),
        "{shown}"
    );
    let json = serde_json::to_string(&keys).expect("json");
    let back: LinkKeys = serde_json::from_str(&json).expect("read back");
    assert_eq!(back, keys);
}
