//! Host-name rules shared by the request (`domain_name`) and the log formats that name a
//! domain in the file name (Huawei).

/// True for a DNS host name: dot-separated labels of letters, digits and inner hyphens
/// (underscores tolerated), at most 253 characters, at least two labels.
pub fn is_hostname(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 || !s.contains('.') {
        return false;
    }
    s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
    })
}
