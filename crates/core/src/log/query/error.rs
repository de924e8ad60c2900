//! Why a query was refused, and where.

use crate::error::ApiError;

/// A query that does not parse: where (a character offset) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct QueryError {
    /// The offset, in characters (not bytes) from 0, where the query goes wrong.
    pub position: usize,
    /// A sentence for a person, without the position.
    pub message: String,
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> ApiError {
        ApiError::invalid(format!("the parameter 'query' is invalid {e}"))
    }
}

/// A failure inside the parser: a message and where, as the length of the input left at that
/// point (the parser only sees what is left; [`Failure::locate`] turns it into a position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    /// Bytes of the query left when it failed.
    pub remaining: usize,
    /// What went wrong; empty for a combinator's own failure, which the parser turns into a
    /// sentence before it reaches the top.
    pub message: String,
}

impl Failure {
    /// A failure with `message` where `remaining` bytes of the query are left.
    pub fn new(remaining: usize, message: impl Into<String>) -> Failure {
        Failure {
            remaining,
            message: message.into(),
        }
    }

    /// The [`QueryError`] for this failure in `text` (the whole query).
    pub fn locate(self, text: &str) -> QueryError {
        QueryError {
            position: char_position(text, self.remaining),
            message: if self.message.is_empty() {
                "the query is not valid here".to_owned()
            } else {
                self.message
            },
        }
    }
}

/// The character offset in `text` where a suffix of `remaining` bytes starts.
pub(super) fn char_position(text: &str, remaining: usize) -> usize {
    let byte = text.len().saturating_sub(remaining);
    match text.get(..byte) {
        Some(head) => head.chars().count(),
        // Not a suffix on a character boundary: cannot happen, the parser only slices on them.
        None => text.chars().count(),
    }
}

impl<'a> winnow::error::ParserError<&'a str> for Failure {
    type Inner = Failure;

    fn from_input(input: &&'a str) -> Failure {
        Failure::new(input.len(), String::new())
    }

    /// Of two failed branches, keep the one with a sentence, else the one that went further.
    fn or(self, other: Failure) -> Failure {
        match (self.message.is_empty(), other.message.is_empty()) {
            (false, true) => self,
            (true, false) => other,
            _ if other.remaining < self.remaining => other,
            _ => self,
        }
    }

    fn into_inner(self) -> Result<Failure, Failure> {
        Ok(self)
    }
}
