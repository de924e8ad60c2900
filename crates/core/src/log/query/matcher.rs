//! The compiled query: a tree of tests over one [`LogRecord`], evaluated without allocating
//! (beyond decoding a field that holds a `%`, and building `url` when the query names it).

use std::cmp::Ordering;
use std::ops::Bound;

use super::field::Field;
use super::glob::Glob;
use crate::log::LogRecord;

/// A node of the compiled query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    /// Every child matches (stops at the first that does not).
    All(Vec<Node>),
    /// Some child matches (stops at the first that does).
    Any(Vec<Node>),
    /// The child does not match.
    Not(Box<Node>),
    /// One field tested.
    Test(Test),
}

/// One field and the test its value must pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Test {
    /// The field read from the record.
    pub field: Field,
    /// What its value must satisfy.
    pub check: Check,
}

/// The test on a field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Check {
    /// A numeric field within the bounds (an exact value is the range from it to it).
    Number {
        /// The lower end.
        lower: Bound<i128>,
        /// The upper end.
        upper: Bound<i128>,
    },
    /// A text field: present and passing `test`; `fold` compares ASCII letters as lowercase
    /// (the literals in `test` are lowercase already).
    Text {
        /// Case-insensitive (ASCII).
        fold: bool,
        /// The test on the text.
        test: TextTest,
    },
}

/// The test on a text value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TextTest {
    /// Any value (`field:*`): the record has the field.
    Present,
    /// Exactly this text.
    Equals(String),
    /// Matches this wildcard pattern.
    Glob(Glob),
    /// Between these, by character (code point) order.
    Range {
        /// The lower end.
        lower: Bound<String>,
        /// The upper end.
        upper: Bound<String>,
    },
}

impl Node {
    /// True when `record` matches.
    pub(super) fn matches(&self, record: &LogRecord<'_>) -> bool {
        match self {
            Node::All(children) => children.iter().all(|c| c.matches(record)),
            Node::Any(children) => children.iter().any(|c| c.matches(record)),
            Node::Not(child) => !child.matches(record),
            Node::Test(test) => test.matches(record),
        }
    }
}

impl Test {
    fn matches(&self, record: &LogRecord<'_>) -> bool {
        match &self.check {
            Check::Number { lower, upper } => self
                .field
                .number(record)
                .is_some_and(|v| within(lower, upper, |bound| v.cmp(bound))),
            Check::Text { fold, test } => self
                .field
                .text(record)
                .is_some_and(|text| test.matches(&text, *fold)),
        }
    }
}

impl TextTest {
    fn matches(&self, text: &str, fold: bool) -> bool {
        match self {
            TextTest::Present => true,
            TextTest::Equals(want) if fold => text.eq_ignore_ascii_case(want),
            TextTest::Equals(want) => text == want,
            TextTest::Glob(glob) if fold => glob.matches(text, |c| c.to_ascii_lowercase()),
            TextTest::Glob(glob) => glob.matches(text, |c| c),
            TextTest::Range { lower, upper } => within(lower, upper, |bound| {
                if fold {
                    text.chars()
                        .map(|c| c.to_ascii_lowercase())
                        .cmp(bound.chars())
                } else {
                    text.cmp(bound.as_str())
                }
            }),
        }
    }
}

/// True when the value lies within `lower` .. `upper`; `cmp(bound)` orders the value against a
/// bound.
fn within<T>(lower: &Bound<T>, upper: &Bound<T>, cmp: impl Fn(&T) -> Ordering) -> bool {
    let above_lower = match lower {
        Bound::Unbounded => true,
        Bound::Included(b) => cmp(b) != Ordering::Less,
        Bound::Excluded(b) => cmp(b) == Ordering::Greater,
    };
    above_lower
        && match upper {
            Bound::Unbounded => true,
            Bound::Included(b) => cmp(b) != Ordering::Greater,
            Bound::Excluded(b) => cmp(b) == Ordering::Less,
        }
}
