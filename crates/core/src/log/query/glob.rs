//! Wildcard patterns (`*` any run of characters, `?` one character), matched without
//! allocating and without regular expressions.

/// One element of a wildcard pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GlobItem {
    /// This character (already folded when the field is case-insensitive).
    Char(char),
    /// `?`: any one character.
    One,
    /// `*`: any run of characters, empty included.
    Many,
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Glob {
    items: Vec<GlobItem>,
}

impl Glob {
    /// The pattern of `items`, runs of `*` collapsed into one.
    pub(super) fn new(items: impl IntoIterator<Item = GlobItem>) -> Glob {
        let mut collapsed: Vec<GlobItem> = Vec::new();
        for item in items {
            if item == GlobItem::Many && collapsed.last() == Some(&GlobItem::Many) {
                continue;
            }
            collapsed.push(item);
        }
        Glob { items: collapsed }
    }

    /// True when `text`, each character passed through `fold`, matches the whole pattern.
    ///
    /// The classic two-pointer algorithm: walk pattern and text together; at a mismatch go back
    /// to the last `*` and let it swallow one more character. Only the last `*` is ever revisited
    /// (an earlier one can never help once a later one matched), so the cost is at most
    /// pattern length × text length steps, usually linear.
    pub(super) fn matches(&self, text: &str, fold: impl Fn(char) -> char) -> bool {
        let next_char = |at: usize| text.get(at..).and_then(|rest| rest.chars().next());
        let mut p = 0;
        let mut t = 0;
        // After the last `*` seen: the pattern index after it and the text index it resumed at.
        let mut star: Option<(usize, usize)> = None;
        loop {
            match self.items.get(p) {
                Some(GlobItem::Many) => {
                    p += 1;
                    star = Some((p, t));
                    continue;
                }
                Some(GlobItem::One) => {
                    if let Some(c) = next_char(t) {
                        p += 1;
                        t += c.len_utf8();
                        continue;
                    }
                }
                Some(GlobItem::Char(want)) => {
                    if let Some(c) = next_char(t) {
                        if fold(c) == *want {
                            p += 1;
                            t += c.len_utf8();
                            continue;
                        }
                    }
                }
                None => {
                    if t >= text.len() {
                        return true;
                    }
                }
            }
            // Mismatch: the last `*` takes one more character, or there is no way out.
            let Some((after_star, resumed_at)) = star else {
                return false;
            };
            let Some(c) = next_char(resumed_at) else {
                return false;
            };
            let resume = resumed_at + c.len_utf8();
            star = Some((after_star, resume));
            p = after_star;
            t = resume;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str) -> Glob {
        Glob::new(pattern.chars().map(|c| match c {
            '*' => GlobItem::Many,
            '?' => GlobItem::One,
            c => GlobItem::Char(c),
        }))
    }

    fn m(pattern: &str, text: &str) -> bool {
        glob(pattern).matches(text, |c| c)
    }

    #[test]
    fn stars_anywhere() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("/video/*", "/video/a.mp4"));
        assert!(m("/video/*", "/video/"));
        assert!(!m("/video/*", "/videos/a"));
        assert!(m("*Chrome*", "Mozilla Chrome/120 Safari"));
        assert!(m("*Chrome*", "Chrome"));
        assert!(!m("*Chrome*", "chrome"));
        assert!(m("*.mp4", "/a/b.mp4"));
        assert!(!m("*.mp4", "/a/b.mp4x"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("a**b", "ab"));
        assert!(m("*a*a*a*", "aaa"));
        assert!(!m("*a*a*a*", "aa"));
    }

    #[test]
    fn question_marks_take_one_character() {
        assert!(m("?", "x"));
        assert!(!m("?", ""));
        assert!(!m("?", "xy"));
        assert!(m("a?c", "abc"));
        assert!(m("a?c", "aéc"), "one character, not one byte");
        assert!(!m("a?c", "ac"));
        assert!(m("??*", "ab"));
        assert!(!m("??*", "a"));
        assert!(m("*?", "a"));
    }

    #[test]
    fn exact_without_wildcards() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abcd", "abc"));
    }

    #[test]
    fn folding_applies_to_the_text() {
        let g = glob("*chrome*");
        assert!(g.matches("Mozilla CHROME", |c| c.to_ascii_lowercase()));
        assert!(!g.matches("Mozilla CHROME", |c| c));
    }

    #[test]
    fn long_backtracking_input_stays_bounded() {
        let text = "a".repeat(4000);
        assert!(!m("*a*a*a*a*a*a*a*a*b", &text));
        assert!(m("*a*a*a*a*a*a*a*a*", &text));
    }
}
