//! The json writers: one JSON array of objects (aggregate exports) or one object per line
//! (JSON Lines, raw log exports). Objects are keyed by [`Column::name`], in column order.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::ser::{Serialize, SerializeMap, Serializer};
use statport_core::table::{Cell, Column};

use super::{
    check_row, owned_columns, Contents, FileFormat, OutputError, RowKind, RowWriter, Target,
};

/// json is written front to back: it streams.
pub(super) const FORMAT: FileFormat = FileFormat {
    streams: true,
    open,
};

fn open<'a>(
    target: Target<'a>,
    contents: Contents<'_>,
) -> Result<Box<dyn RowWriter + Send + 'a>, OutputError> {
    let lines = contents.rows == RowKind::LogLines;
    match target {
        Target::File(path) => json_to(BufWriter::new(File::create(path)?), contents.columns, lines),
        Target::Stream(out) => json_to(out, contents.columns, lines),
        Target::BudgetedFile { path, disk } => {
            json_to(super::create_within(path, disk)?, contents.columns, lines)
        }
    }
}

/// One JSON array (`lines` false) or JSON Lines into `out`.
fn json_to<'a, W: Write + Send + 'a>(
    mut out: W,
    columns: &[Column],
    lines: bool,
) -> Result<Box<dyn RowWriter + Send + 'a>, OutputError> {
    let columns = owned_columns(columns)?;
    if !lines {
        out.write_all(b"[")?;
    }
    Ok(Box::new(JsonWriter {
        out,
        columns,
        rows: 0,
        lines,
    }))
}

/// Creates (or truncates) a json file at `path` holding one JSON array of objects, one object
/// per row, keyed by [`Column::name`] in column order.
///
/// The array is written incrementally: `[`, the objects one per line separated by `,`, then `]`
/// at [`RowWriter::finish`]. An empty export is exactly `[]`. Counts are JSON integers (exact,
/// even above 2^53; readers that parse numbers as doubles may round those), texts are strings.
pub fn json_writer(
    path: &Path,
    columns: &[Column],
) -> Result<Box<dyn RowWriter + Send>, OutputError> {
    json_to(BufWriter::new(File::create(path)?), columns, false)
}

/// Creates (or truncates) a JSON Lines file at `path`: one object per row, each on its own
/// line ending in `\n`, keyed by [`Column::name`] in column order. An empty export is an empty
/// file.
pub fn json_lines_writer(
    path: &Path,
    columns: &[Column],
) -> Result<Box<dyn RowWriter + Send>, OutputError> {
    json_lines_writer_to(BufWriter::new(File::create(path)?), columns)
}

/// [`json_lines_writer`] into any byte sink `out` (a file, a streaming upload);
/// [`RowWriter::finish`] flushes `out` and drops it.
pub fn json_lines_writer_to<'a, W: Write + Send + 'a>(
    out: W,
    columns: &[Column],
) -> Result<Box<dyn RowWriter + Send + 'a>, OutputError> {
    json_to(out, columns, true)
}

/// Streams row objects into a json array or a JSON Lines file.
struct JsonWriter<W: Write> {
    out: W,
    columns: Vec<Column>,
    rows: u64,
    /// JSON Lines rather than one array.
    lines: bool,
}

impl<W: Write> RowWriter for JsonWriter<W> {
    fn write_row(&mut self, row: &[Cell]) -> Result<(), OutputError> {
        check_row(&self.columns, row)?;
        if !self.lines {
            self.out
                .write_all(if self.rows == 0 { b"\n" } else { b",\n" })?;
        }
        let object = RowObject {
            columns: &self.columns,
            row,
        };
        serde_json::to_writer(&mut self.out, &object)?;
        if self.lines {
            self.out.write_all(b"\n")?;
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, OutputError> {
        if !self.lines {
            self.out
                .write_all(if self.rows == 0 { b"]" } else { b"\n]" })?;
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

/// One row as a JSON object, keys in column order.
struct RowObject<'a> {
    columns: &'a [Column],
    row: &'a [Cell],
}

impl Serialize for RowObject<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.columns.len()))?;
        for (column, cell) in self.columns.iter().zip(self.row) {
            map.serialize_entry(column.name(), &CellValue(cell))?;
        }
        map.end()
    }
}

/// A cell as a JSON value: a count is a number, a text a string.
struct CellValue<'a>(&'a Cell);

impl Serialize for CellValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Cell::Text(text) => serializer.serialize_str(text),
            Cell::Count(count) => serializer.serialize_u64(*count),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::output::test_support::TempPath;

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    type Constructor = fn(&Path, &[Column]) -> Result<Box<dyn RowWriter + Send>, OutputError>;

    /// Writes `rows` with `make` and returns the file's text and the writer's row count.
    fn write(make: Constructor, columns: &[Column], rows: &[Vec<Cell>]) -> (String, u64) {
        let tmp = TempPath::new("json");
        let mut writer = make(tmp.path(), columns).expect("create");
        for row in rows {
            writer.write_row(row).expect("write row");
        }
        let written = writer.finish().expect("finish");
        let text = std::fs::read_to_string(tmp.path()).expect("read back utf-8");
        (text, written)
    }

    fn sample() -> (Vec<Column>, Vec<Vec<Cell>>) {
        let columns = vec![Column::Time, Column::Domain, Column::Flux, Column::ReqNum];
        let rows = vec![
            vec![
                text("2024-01-01T00:00:00+08:00"),
                text("例子.中国"),
                Cell::Count(0),
                Cell::Count(3),
            ],
            vec![
                text("2024-01-01T00:05:00+08:00"),
                text("quote\" back\\slash\nnewline 😀"),
                Cell::Count(u64::MAX),
                Cell::Count(9_007_199_254_740_993),
            ],
        ];
        (columns, rows)
    }

    #[test]
    fn empty_array_is_exactly_brackets() {
        let (text, written) = write(json_writer, &[Column::Time, Column::Uv], &[]);
        assert_eq!(written, 0);
        assert_eq!(text, "[]");
        assert_eq!(
            serde_json::from_str::<Value>(&text).expect("valid json"),
            json!([])
        );
    }

    #[test]
    fn array_of_objects_round_trips() {
        let (columns, rows) = sample();
        let (text, written) = write(json_writer, &columns, &rows);
        assert_eq!(written, 2);
        let parsed: Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(
            parsed,
            json!([
                {
                    "time": "2024-01-01T00:00:00+08:00",
                    "domain": "例子.中国",
                    "flux": 0,
                    "req_num": 3
                },
                {
                    "time": "2024-01-01T00:05:00+08:00",
                    "domain": "quote\" back\\slash\nnewline 😀",
                    "flux": u64::MAX,
                    "req_num": 9_007_199_254_740_993_u64
                }
            ])
        );
        assert_eq!(parsed[1]["flux"].as_u64(), Some(u64::MAX));
    }

    #[test]
    fn array_layout_and_key_order() {
        let columns = [Column::Time, Column::Isp, Column::Flux, Column::ReqNum];
        let rows = vec![
            vec![text("t1"), text("电信"), Cell::Count(10), Cell::Count(1)],
            vec![text("t2"), text("联通"), Cell::Count(20), Cell::Count(2)],
        ];
        let (text, _) = write(json_writer, &columns, &rows);
        assert_eq!(
            text,
            "[\n\
             {\"time\":\"t1\",\"isp\":\"电信\",\"flux\":10,\"req_num\":1},\n\
             {\"time\":\"t2\",\"isp\":\"联通\",\"flux\":20,\"req_num\":2}\n\
             ]"
        );
    }

    #[test]
    fn json_lines_one_object_per_line() {
        let (columns, rows) = sample();
        let (text, written) = write(json_lines_writer, &columns, &rows);
        assert_eq!(written, 2);
        assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("{\"time\":"), "keys in column order");
        let parsed: Vec<Value> = lines
            .iter()
            .map(|line| serde_json::from_str(line).expect("each line is json"))
            .collect();
        assert_eq!(
            parsed,
            vec![
                json!({
                    "time": "2024-01-01T00:00:00+08:00",
                    "domain": "例子.中国",
                    "flux": 0,
                    "req_num": 3
                }),
                json!({
                    "time": "2024-01-01T00:05:00+08:00",
                    "domain": "quote\" back\\slash\nnewline 😀",
                    "flux": u64::MAX,
                    "req_num": 9_007_199_254_740_993_u64
                }),
            ]
        );
    }

    #[test]
    fn empty_json_lines_is_an_empty_file() {
        let (text, written) = write(json_lines_writer, &[Column::Ip], &[]);
        assert_eq!(written, 0);
        assert_eq!(text, "");
    }

    #[test]
    fn row_length_mismatch_is_an_error() {
        for make in [json_writer as Constructor, json_lines_writer] {
            let tmp = TempPath::new("json");
            let mut writer = make(tmp.path(), &[Column::Time, Column::Flux]).expect("create");
            assert!(matches!(
                writer.write_row(&[text("t")]),
                Err(OutputError::RowLength {
                    expected: 2,
                    actual: 1
                })
            ));
            writer
                .write_row(&[text("t"), Cell::Count(1)])
                .expect("a good row still writes");
            assert_eq!(writer.finish().expect("finish"), 1);
            let body = std::fs::read_to_string(tmp.path()).expect("read back");
            assert!(serde_json::Deserializer::from_str(&body)
                .into_iter::<Value>()
                .all(|value| value.is_ok()));
        }
    }
}
