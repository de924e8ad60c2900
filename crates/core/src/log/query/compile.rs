//! From syntax tree to matcher: each value checked against its field (numbers for numeric
//! fields, the fixed values of `scheme` and `result`) and put in the form the matcher compares
//! fastest (case-insensitive literals lowercased once, here).

use std::ops::Bound;

use super::error::QueryError;
use super::field::{Field, FieldKind};
use super::glob::{Glob, GlobItem};
use super::matcher::{Check, Node, Test, TextTest};
use super::syntax::{literal_text, Expr, Literal, Value};
use crate::time::parse_rfc3339;

/// The matcher for `expr`, or the first value that does not suit its field.
pub(super) fn compile(expr: Expr) -> Result<Node, QueryError> {
    Ok(match expr {
        Expr::Or(items) => Node::Any(compile_all(items)?),
        Expr::And(items) => Node::All(compile_all(items)?),
        Expr::Not(inner) => Node::Not(Box::new(compile(*inner)?)),
        Expr::Clause { field, value } => Node::Test(Test {
            field,
            check: check(field, value)?,
        }),
    })
}

fn compile_all(items: Vec<Expr>) -> Result<Vec<Node>, QueryError> {
    items.into_iter().map(compile).collect()
}

fn check(field: Field, value: Value) -> Result<Check, QueryError> {
    match field.kind() {
        FieldKind::Numeric => number_check(field, value),
        FieldKind::Text => Ok(Check::Text {
            fold: false,
            test: text_test(field, value, false)?,
        }),
        FieldKind::CaseInsensitiveText => Ok(Check::Text {
            fold: true,
            test: text_test(field, value, true)?,
        }),
    }
}

fn number_check(field: Field, value: Value) -> Result<Check, QueryError> {
    let (lower, upper) = match value {
        Value::Term { items, .. } if items == [GlobItem::Many] => {
            (Bound::Unbounded, Bound::Unbounded)
        }
        Value::Term { items, at } => {
            if items
                .iter()
                .any(|i| matches!(i, GlobItem::Many | GlobItem::One))
            {
                return Err(wildcard_on_number(field, at));
            }
            let exact = number(field, &literal(&items, at))?;
            (Bound::Included(exact), Bound::Included(exact))
        }
        Value::Phrase(l) => {
            let exact = number(field, &l)?;
            (Bound::Included(exact), Bound::Included(exact))
        }
        Value::Range { lower, upper } => (
            map_bound(lower, |l| number(field, &l))?,
            map_bound(upper, |l| number(field, &l))?,
        ),
    };
    Ok(Check::Number { lower, upper })
}

/// A term without wildcards as a literal.
fn literal(items: &[GlobItem], at: usize) -> Literal {
    Literal {
        text: literal_text(items),
        at,
    }
}

fn wildcard_on_number(field: Field, at: usize) -> QueryError {
    QueryError {
        position: at,
        message: format!(
            "the field '{}' takes a number: wildcards work on text fields only",
            field.as_str()
        ),
    }
}

/// The number `l` says for `field`: an integer, or for `time` also an RFC 3339 date-time.
fn number(field: Field, l: &Literal) -> Result<i128, QueryError> {
    let text = l.text.as_str();
    if let Ok(n) = text.parse::<i128>() {
        return Ok(n);
    }
    if field == Field::Time {
        if let Some(ms) = parse_rfc3339(text) {
            return Ok(i128::from(ms));
        }
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let message = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        format!("the number '{text}' is too large")
    } else if field == Field::Time {
        format!(
            "the field 'time' takes milliseconds since the epoch or an RFC 3339 time like \
             2026-11-24T10:00:00Z, not '{text}'"
        )
    } else {
        format!(
            "the field '{}' takes a number, not '{text}'",
            field.as_str()
        )
    };
    Err(QueryError {
        position: l.at,
        message,
    })
}

fn text_test(field: Field, value: Value, fold: bool) -> Result<TextTest, QueryError> {
    let fold_str = |s: String| if fold { s.to_ascii_lowercase() } else { s };
    Ok(match value {
        Value::Term { items, .. } if items == [GlobItem::Many] => TextTest::Present,
        Value::Term { items, at } if items.iter().all(|i| matches!(i, GlobItem::Char(_))) => {
            let l = literal(&items, at);
            TextTest::Equals(fixed_value(field, fold_str(l.text), l.at)?)
        }
        Value::Term { items, .. } => {
            TextTest::Glob(Glob::new(items.into_iter().map(|i| match i {
                GlobItem::Char(c) if fold => GlobItem::Char(c.to_ascii_lowercase()),
                other => other,
            })))
        }
        Value::Phrase(l) => TextTest::Equals(fixed_value(field, fold_str(l.text), l.at)?),
        Value::Range { lower, upper } => TextTest::Range {
            lower: map_bound(lower, |l| Ok(fold_str(l.text)))?,
            upper: map_bound(upper, |l| Ok(fold_str(l.text)))?,
        },
    })
}

/// `text` when `field` can hold it (`scheme` and `result` have a fixed set of values: a typo
/// there is an error, not a query that matches nothing).
fn fixed_value(field: Field, text: String, at: usize) -> Result<String, QueryError> {
    match field.allowed_values() {
        Some(allowed) if !allowed.contains(&text.as_str()) => Err(QueryError {
            position: at,
            message: format!(
                "the field '{}' takes {}, not '{text}'",
                field.as_str(),
                allowed.join(" or ")
            ),
        }),
        _ => Ok(text),
    }
}

fn map_bound<T>(
    bound: Bound<Literal>,
    f: impl FnOnce(Literal) -> Result<T, QueryError>,
) -> Result<Bound<T>, QueryError> {
    Ok(match bound {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(l) => Bound::Included(f(l)?),
        Bound::Excluded(l) => Bound::Excluded(f(l)?),
    })
}
