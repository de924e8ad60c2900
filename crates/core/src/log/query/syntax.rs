//! The query grammar, written with `winnow` combinators: text in, syntax tree out.
//!
//! The tree keeps values as written (with character positions) and names fields by [`Field`];
//! whether a value suits its field (a number for `status`) is checked by the compiler, which
//! turns the tree into the matcher.
//!
//! Every failure is a [`Failure`] with a sentence: a branch that does not apply backtracks, and
//! once the grammar knows what must come next it cuts with a message saying what was expected.
//! Nesting is bounded by [`MAX_DEPTH`]; runs of `NOT` and of `AND`/`OR` are loops, not
//! recursion, so no input can exhaust the stack.

use std::ops::Bound;

use winnow::combinator::{alt, not, opt, peek, preceded, repeat, terminated};
use winnow::error::ErrMode;
use winnow::prelude::*;
use winnow::token::{any, none_of, one_of, take_while};

use super::error::{char_position, Failure};
use super::field::{Field, KNOWN_FIELDS};
use super::glob::GlobItem;

/// Parentheses may nest this deep (clause groups and value groups together).
pub(super) const MAX_DEPTH: usize = 32;

type PResult<T> = ModalResult<T, Failure>;

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expr {
    /// Any of these (at least two).
    Or(Vec<Expr>),
    /// All of these (at least two).
    And(Vec<Expr>),
    /// Not this.
    Not(Box<Expr>),
    /// `field:value`.
    Clause {
        /// The field tested.
        field: Field,
        /// What it is tested against.
        value: Value,
    },
}

/// One value a field is tested against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    /// An unquoted value, maybe with wildcards (escaped `\*` and `\?` are plain characters).
    Term {
        /// The characters and wildcards.
        items: Vec<GlobItem>,
        /// Where it starts (characters).
        at: usize,
    },
    /// A quoted phrase, escapes resolved: compared whole, no wildcards.
    Phrase(Literal),
    /// A range or comparison (`>x` is the range from x excluded to no end).
    Range {
        /// The lower end.
        lower: Bound<Literal>,
        /// The upper end.
        upper: Bound<Literal>,
    },
}

/// A value taken as plain text: range ends, comparison operands, phrases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Literal {
    /// The text, escapes resolved.
    pub text: String,
    /// Where it starts (characters).
    pub at: usize,
}

/// Parses `text`; `Ok(None)` for an empty or all-whitespace query.
pub(super) fn parse(text: &str) -> Result<Option<Expr>, Failure> {
    let grammar = Grammar { text };
    let mut input = text;
    grammar.query(&mut input).map_err(|e| match e {
        ErrMode::Backtrack(f) | ErrMode::Cut(f) => f,
        ErrMode::Incomplete(_) => Failure::new(0, "the query ends too early"),
    })
}

/// Clauses are `field:value`; inside `field:( … )` the items are values of that one field.
#[derive(Debug, Clone, Copy)]
enum Items {
    Clauses,
    ValuesOf(Field),
}

/// The grammar over one query text (kept to turn what is left of the input into positions).
struct Grammar<'t> {
    text: &'t str,
}

impl<'t> Grammar<'t> {
    /// The character position where `rest` (a suffix of the query) starts.
    fn pos(&self, rest: &str) -> usize {
        char_position(self.text, rest.len())
    }

    /// A failure that stops the parse, at `rest`, with `message`.
    fn cut(&self, rest: &str, message: String) -> ErrMode<Failure> {
        ErrMode::Cut(Failure::new(rest.len(), message))
    }

    fn query(&self, i: &mut &'t str) -> PResult<Option<Expr>> {
        ws(i)?;
        if i.is_empty() {
            return Ok(None);
        }
        let expr = self.or_expr(i, Items::Clauses, 0, None)?;
        ws(i)?;
        if i.is_empty() {
            return Ok(Some(expr));
        }
        // The loops below stop only at the end, at `)`, or before OR (which they take).
        Err(self.cut(
            i,
            format!("found {} without a matching '('", describe_next(i)),
        ))
    }

    /// `and (OR and)*`; `prev` is the token before, for messages (`None` at the start).
    fn or_expr(
        &self,
        i: &mut &'t str,
        items: Items,
        depth: usize,
        prev: Option<&'t str>,
    ) -> PResult<Expr> {
        let mut any_of = vec![self.and_expr(i, items, depth, prev)?];
        loop {
            let before = i.checkpoint();
            ws(i)?;
            let Some(op) = opt(or_op.take()).parse_next(i)? else {
                i.reset(&before);
                break;
            };
            ws(i)?;
            any_of.push(self.and_expr(i, items, depth, Some(op))?);
        }
        Ok(one_or(any_of, Expr::Or))
    }

    /// `unary ((AND | nothing) unary)*`: an item right after another, with no operator between
    /// them, is joined by AND.
    fn and_expr(
        &self,
        i: &mut &'t str,
        items: Items,
        depth: usize,
        prev: Option<&'t str>,
    ) -> PResult<Expr> {
        let mut all_of = vec![self.unary(i, items, depth, prev)?];
        loop {
            let before = i.checkpoint();
            ws(i)?;
            if i.is_empty() || i.starts_with(')') || peek(opt(or_op)).parse_next(i)?.is_some() {
                i.reset(&before);
                break;
            }
            let op = opt(and_op.take()).parse_next(i)?;
            if op.is_some() {
                ws(i)?;
            }
            all_of.push(self.unary(i, items, depth, op.or(prev))?);
        }
        Ok(one_or(all_of, Expr::And))
    }

    /// `(NOT)* primary`; `NOT NOT x` is `x`.
    fn unary(
        &self,
        i: &mut &'t str,
        items: Items,
        depth: usize,
        mut prev: Option<&'t str>,
    ) -> PResult<Expr> {
        let mut negated = false;
        while let Some(op) = opt(not_op.take()).parse_next(i)? {
            negated = !negated;
            prev = Some(op);
            ws(i)?;
        }
        let expr = self.primary(i, items, depth, prev)?;
        Ok(if negated {
            Expr::Not(Box::new(expr))
        } else {
            expr
        })
    }

    /// `( or )`, a clause, or (in a value group) a value.
    fn primary(
        &self,
        i: &mut &'t str,
        items: Items,
        depth: usize,
        prev: Option<&'t str>,
    ) -> PResult<Expr> {
        if i.starts_with('(') {
            return self.group(i, items, depth);
        }
        let missing = |i: &&'t str, what: &str| {
            let after = match prev {
                Some(token) => format!("after '{token}'"),
                None => "at the start of the query".to_owned(),
            };
            self.cut(i, format!("expected {what} {after}{}", found(i)))
        };
        let at_operator = peek(opt(alt((or_op, and_op)))).parse_next(i)?.is_some();
        match items {
            Items::Clauses => {
                if at_operator || i.is_empty() || i.starts_with(')') {
                    return Err(missing(i, "a field:value clause"));
                }
                self.clause(i, depth)
            }
            Items::ValuesOf(field) => {
                let what = format!("a value for '{}'", field.as_str());
                if at_operator {
                    return Err(missing(i, &what));
                }
                match self.value(i)? {
                    Some(value) => Ok(Expr::Clause { field, value }),
                    None => Err(missing(i, &what)),
                }
            }
        }
    }

    /// `( … )` of clauses or of one field's values, one level deeper.
    fn group(&self, i: &mut &'t str, items: Items, depth: usize) -> PResult<Expr> {
        let open = *i;
        if depth >= MAX_DEPTH {
            return Err(self.cut(
                i,
                format!("parentheses nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        '('.parse_next(i)?;
        ws(i)?;
        let inner = self.or_expr(i, items, depth + 1, Some("("))?;
        ws(i)?;
        if opt(')').parse_next(i)?.is_none() {
            return Err(self.cut(
                i,
                format!(
                    "expected ')' to close the '(' at position {}{}",
                    self.pos(open),
                    found(i)
                ),
            ));
        }
        Ok(inner)
    }

    /// `field:value` or `field:( values )`.
    fn clause(&self, i: &mut &'t str, depth: usize) -> PResult<Expr> {
        let start = *i;
        let Some(name) = opt(terminated(take_while(1.., is_field_char), ':')).parse_next(i)? else {
            let word = alt((
                ('"', take_while(0.., |c| c != '"'), opt('"')).take(),
                take_while(1.., |c: char| !is_separator(c)),
            ))
            .parse_next(i)?;
            return Err(self.cut(
                start,
                format!(
                    "'{word}' has no field: write field:value, with one of the fields {}",
                    KNOWN_FIELDS.join(", ")
                ),
            ));
        };
        let Some(field) = Field::from_name(name) else {
            return Err(self.cut(
                start,
                format!(
                    "unknown field '{name}'; the fields are {}",
                    KNOWN_FIELDS.join(", ")
                ),
            ));
        };
        if i.starts_with('(') {
            return self.group(i, Items::ValuesOf(field), depth);
        }
        match self.value(i)? {
            Some(value) => Ok(Expr::Clause { field, value }),
            None => Err(self.cut(i, format!("expected a value after '{name}:'{}", found(i)))),
        }
    }

    /// A range, a comparison, a quoted phrase or a term; `None` when none starts here.
    fn value(&self, i: &mut &'t str) -> PResult<Option<Value>> {
        let at = self.pos(i);
        match peek(opt(any)).parse_next(i)? {
            Some('[' | '{') => self.range(i).map(Some),
            Some('>' | '<') => self.comparison(i).map(Some),
            Some('"') => self.phrase(i).map(|p| Some(Value::Phrase(p))),
            _ => Ok(opt(|i: &mut &'t str| self.term(i, is_separator))
                .parse_next(i)?
                .map(|items| Value::Term { items, at })),
        }
    }

    /// `[a TO b]`, `{a TO b}` or a mix; `*` for an open end.
    fn range(&self, i: &mut &'t str) -> PResult<Value> {
        let lower_inclusive = alt(('['.value(true), '{'.value(false))).parse_next(i)?;
        ws(i)?;
        let lower = self.range_end(i, "the range's lower end after '['")?;
        let spaced = opt(ws1).parse_next(i)?.is_some();
        if !spaced || opt("TO").parse_next(i)?.is_none() {
            return Err(self.cut(
                i,
                format!("expected ' TO ' after the range's lower end{}", found(i)),
            ));
        }
        if opt(ws1).parse_next(i)?.is_none() {
            let message = if i.is_empty() {
                "expected the range's upper end after 'TO'".to_owned()
            } else {
                format!("expected a space after 'TO'{}", found(i))
            };
            return Err(self.cut(i, message));
        }
        let upper = self.range_end(i, "the range's upper end after 'TO'")?;
        ws(i)?;
        let Some(upper_inclusive) = opt(alt((']'.value(true), '}'.value(false)))).parse_next(i)?
        else {
            return Err(self.cut(
                i,
                format!("expected ']' or '}}' to close the range{}", found(i)),
            ));
        };
        let bound = |end: Option<Literal>, inclusive: bool| match end {
            None => Bound::Unbounded,
            Some(l) if inclusive => Bound::Included(l),
            Some(l) => Bound::Excluded(l),
        };
        Ok(Value::Range {
            lower: bound(lower, lower_inclusive),
            upper: bound(upper, upper_inclusive),
        })
    }

    /// One end of a range: `None` for `*`.
    fn range_end(&self, i: &mut &'t str, what: &str) -> PResult<Option<Literal>> {
        let at = self.pos(i);
        if i.starts_with('"') {
            return self.phrase(i).map(Some);
        }
        match opt(|i: &mut &'t str| self.term(i, is_range_separator)).parse_next(i)? {
            Some(items) if items == [GlobItem::Many] => Ok(None),
            Some(items) => Ok(Some(Literal {
                text: literal_text(&items),
                at,
            })),
            None => Err(self.cut(i, format!("expected {what}{}", found(i)))),
        }
    }

    /// `>x`, `>=x`, `<x`, `<=x`.
    fn comparison(&self, i: &mut &'t str) -> PResult<Value> {
        let op = alt((">=", ">", "<=", "<")).parse_next(i)?;
        ws(i)?;
        let at = self.pos(i);
        let operand = if i.starts_with('"') {
            self.phrase(i)?
        } else {
            match opt(|i: &mut &'t str| self.term(i, is_separator)).parse_next(i)? {
                Some(items) => Literal {
                    text: literal_text(&items),
                    at,
                },
                None => {
                    return Err(self.cut(i, format!("expected a value after '{op}'{}", found(i))))
                }
            }
        };
        let (lower, upper) = match op {
            ">=" => (Bound::Included(operand), Bound::Unbounded),
            ">" => (Bound::Excluded(operand), Bound::Unbounded),
            "<=" => (Bound::Unbounded, Bound::Included(operand)),
            _ => (Bound::Unbounded, Bound::Excluded(operand)),
        };
        Ok(Value::Range { lower, upper })
    }

    /// `"…"` with `\"` and `\\` (a backslash takes any next character as it is).
    fn phrase(&self, i: &mut &'t str) -> PResult<Literal> {
        let open = *i;
        '"'.parse_next(i)?;
        let text: String = repeat(
            0..,
            alt((
                preceded('\\', |i: &mut &'t str| self.escaped(i)),
                none_of(['"', '\\']),
            )),
        )
        .parse_next(i)?;
        if opt('"').parse_next(i)?.is_none() {
            return Err(self.cut(
                i,
                format!(
                    "expected '\"' to close the phrase opened at position {}",
                    self.pos(open)
                ),
            ));
        }
        Ok(Literal {
            text,
            at: self.pos(open),
        })
    }

    /// An unquoted value up to a character `stop` says ends it: `*` and `?` are wildcards,
    /// `\` makes the next character plain. Fails (backtracks) when empty.
    fn term(&self, i: &mut &'t str, stop: fn(char) -> bool) -> PResult<Vec<GlobItem>> {
        repeat(
            1..,
            alt((
                preceded('\\', |i: &mut &'t str| self.escaped(i)).map(GlobItem::Char),
                '*'.value(GlobItem::Many),
                '?'.value(GlobItem::One),
                none_of(move |c: char| c == '\\' || stop(c)).map(GlobItem::Char),
            )),
        )
        .parse_next(i)
    }

    /// The character after a `\`.
    fn escaped(&self, i: &mut &'t str) -> PResult<char> {
        match opt(any).parse_next(i)? {
            Some(c) => Ok(c),
            None => Err(self.cut(i, "expected a character after '\\'".to_owned())),
        }
    }
}

/// `Expr::Or` / `Expr::And` of `items`, or the item alone.
fn one_or(mut items: Vec<Expr>, join: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return only;
        }
    }
    join(items)
}

/// The characters of `items` with wildcards as plain `*` and `?`.
pub(super) fn literal_text(items: &[GlobItem]) -> String {
    items
        .iter()
        .map(|item| match item {
            GlobItem::Char(c) => *c,
            GlobItem::One => '?',
            GlobItem::Many => '*',
        })
        .collect()
}

/// `, found X` for messages, or nothing at the end of the query.
fn found(rest: &str) -> String {
    if rest.is_empty() {
        String::new()
    } else {
        format!(", found {}", describe_next(rest))
    }
}

/// The next token of `rest`, quoted, for messages: a symbol operator or a word (at most 20
/// characters).
fn describe_next(rest: &str) -> String {
    for op in ["&&", "||", "!", "(", ")"] {
        if rest.starts_with(op) {
            return format!("'{op}'");
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| !is_separator(*c))
        .take(20)
        .collect();
    match rest.chars().next() {
        _ if !word.is_empty() => format!("'{word}'"),
        Some(c) if c.is_whitespace() => "a space".to_owned(),
        Some(c) => format!("'{c}'"),
        None => "the end of the query".to_owned(),
    }
}

fn ws(i: &mut &str) -> PResult<()> {
    take_while(0.., char::is_whitespace).void().parse_next(i)
}

fn ws1(i: &mut &str) -> PResult<()> {
    take_while(1.., char::is_whitespace).void().parse_next(i)
}

/// A word operator: the word followed by a space, a parenthesis, a quote or the end (so
/// `ANDROID` and `OR:` are not operators).
fn keyword<'t>(word: &'static str) -> impl Parser<&'t str, (), ErrMode<Failure>> {
    terminated(
        word,
        not(one_of(|c: char| {
            !(c.is_whitespace() || matches!(c, '(' | ')' | '"'))
        })),
    )
    .void()
}

fn or_op(i: &mut &str) -> PResult<()> {
    alt((keyword("OR"), "||".void())).parse_next(i)
}

fn and_op(i: &mut &str) -> PResult<()> {
    alt((keyword("AND"), "&&".void())).parse_next(i)
}

fn not_op(i: &mut &str) -> PResult<()> {
    alt((keyword("NOT"), "!".void())).parse_next(i)
}

/// A character of a field name.
fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A character that ends an unquoted value.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

/// A character that ends an unquoted range end.
fn is_range_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, ']' | '}' | '"')
}
