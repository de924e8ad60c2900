//! The csv writer: UTF-8, RFC 4180 (CRLF record ends, fields quoted by the csv crate when they
//! hold a comma, a quote or a line break), a header row in the export's language, and (unless
//! the tenant turned it off) text cells that would run as a spreadsheet formula neutralized.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use ::csv::{Terminator, WriterBuilder};
use statport_core::table::{Cell, Column, Language};

use super::{check_row, owned_columns, Contents, FileFormat, OutputError, RowWriter, Target};

/// csv is written front to back: it streams.
pub(super) const FORMAT: FileFormat = FileFormat {
    streams: true,
    open,
};

fn open<'a>(
    target: Target<'a>,
    contents: Contents<'_>,
) -> Result<Box<dyn RowWriter + Send + 'a>, OutputError> {
    match target {
        Target::File(path) => writer(
            BufWriter::new(File::create(path)?),
            contents.columns,
            contents.language,
            contents.escape_formulas,
        ),
        Target::Stream(out) => writer(
            out,
            contents.columns,
            contents.language,
            contents.escape_formulas,
        ),
        Target::BudgetedFile { path, disk } => writer(
            super::create_within(path, disk)?,
            contents.columns,
            contents.language,
            contents.escape_formulas,
        ),
    }
}

/// The UTF-8 byte order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Creates (or truncates) a csv file at `path` and writes its header row: each column's
/// [`Column::header`] in `language`.
///
/// For [`Language::Zh`] the file starts with a UTF-8 byte order mark, because Excel opens a csv
/// without one in the system's legacy code page and garbles the Chinese headers; `en` files,
/// pure ASCII in their header, have no BOM. Counts are written as decimal integers, texts as
/// they are (quoted where RFC 4180 requires).
pub fn csv_writer(
    path: &Path,
    columns: &[Column],
    language: Language,
) -> Result<Box<dyn RowWriter + Send>, OutputError> {
    csv_writer_to(BufWriter::new(File::create(path)?), columns, language)
}

/// [`csv_writer`] into any byte sink `out` (a file, a streaming upload); [`RowWriter::finish`]
/// flushes `out` and drops it. Formula-like text cells are neutralized.
pub fn csv_writer_to<'a, W: Write + Send + 'a>(
    out: W,
    columns: &[Column],
    language: Language,
) -> Result<Box<dyn RowWriter + Send + 'a>, OutputError> {
    writer(out, columns, language, true)
}

/// The characters a spreadsheet (Excel, LibreOffice, Google Sheets) starts a formula with, as
/// OWASP lists them for CSV injection (CWE-1236).
const FORMULA_STARTS: &[u8] = b"=+-@\t\r";

/// `text` as a csv cell a spreadsheet shows as text: with a leading `'` when it starts like a
/// formula (`=HYPERLINK(…)` in a user agent, referer, path or query is the attack). A lone `-`,
/// the logs' mark of an absent value, is no formula and stays as it is.
pub fn escape_formula(text: &str) -> std::borrow::Cow<'_, str> {
    match text.as_bytes().first() {
        Some(first) if FORMULA_STARTS.contains(first) && text != "-" => {
            std::borrow::Cow::Owned(format!("'{text}"))
        }
        _ => std::borrow::Cow::Borrowed(text),
    }
}

fn writer<'a, W: Write + Send + 'a>(
    mut out: W,
    columns: &[Column],
    language: Language,
    escape_formulas: bool,
) -> Result<Box<dyn RowWriter + Send + 'a>, OutputError> {
    let columns = owned_columns(columns)?;
    if language == Language::Zh {
        out.write_all(UTF8_BOM)?;
    }
    let mut out = WriterBuilder::new()
        .terminator(Terminator::CRLF)
        .from_writer(out);
    out.write_record(columns.iter().map(|column| column.header(language)))?;
    Ok(Box::new(CsvRowWriter {
        out,
        columns,
        rows: 0,
        number: String::new(),
        escape_formulas,
    }))
}

/// Streams rows into a csv file.
struct CsvRowWriter<W: Write> {
    out: ::csv::Writer<W>,
    columns: Vec<Column>,
    rows: u64,
    /// Scratch space for formatting counts, reused across cells.
    number: String,
    /// Whether formula-like text cells get a leading `'` ([`escape_formula`]).
    escape_formulas: bool,
}

impl<W: Write> RowWriter for CsvRowWriter<W> {
    fn write_row(&mut self, row: &[Cell]) -> Result<(), OutputError> {
        check_row(&self.columns, row)?;
        for cell in row {
            match cell {
                Cell::Text(text) if self.escape_formulas => {
                    self.out.write_field(escape_formula(text).as_bytes())?;
                }
                Cell::Text(text) => self.out.write_field(text)?,
                Cell::Count(count) => {
                    self.number.clear();
                    // Writing into a String cannot fail.
                    let _ = write!(self.number, "{count}");
                    self.out.write_field(&self.number)?;
                }
            }
        }
        // An empty record ends the one whose fields were just written.
        self.out.write_record(None::<&[u8]>)?;
        self.rows += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        let rows = self.rows;
        let file = self
            .out
            .into_inner()
            .map_err(|error| OutputError::Io(error.into_error()))?;
        let mut out = file;
        out.flush()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::test_support::TempPath;

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    /// Writes `rows` and returns the file's bytes and the writer's row count.
    fn write(columns: &[Column], language: Language, rows: &[Vec<Cell>]) -> (Vec<u8>, u64) {
        let tmp = TempPath::new("csv");
        let mut writer = csv_writer(tmp.path(), columns, language).expect("create csv");
        for row in rows {
            writer.write_row(row).expect("write row");
        }
        let written = writer.finish().expect("finish");
        (std::fs::read(tmp.path()).expect("read back"), written)
    }

    /// Parses csv bytes into records of strings, with the csv crate.
    fn parse(bytes: &[u8]) -> Vec<Vec<String>> {
        ::csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes)
            .records()
            .map(|record| {
                record
                    .expect("valid csv record")
                    .iter()
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    }

    fn strings(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|field| (*field).to_owned()).collect()
    }

    #[test]
    fn en_has_machine_headers_and_no_bom() {
        let columns = [Column::Time, Column::Domain, Column::Flux, Column::ReqNum];
        let rows = vec![
            vec![
                text("2024-01-01T00:00:00+08:00"),
                text("a.example.com"),
                Cell::Count(123),
                Cell::Count(0),
            ],
            vec![
                text("2024-01-01T00:05:00+08:00"),
                text("b.example.com"),
                Cell::Count(u64::MAX),
                Cell::Count(7),
            ],
        ];
        let (bytes, written) = write(&columns, Language::En, &rows);
        assert_eq!(written, 2);
        assert!(!bytes.starts_with(UTF8_BOM));
        assert_eq!(
            parse(&bytes),
            vec![
                strings(&["time", "domain", "flux", "req_num"]),
                strings(&["2024-01-01T00:00:00+08:00", "a.example.com", "123", "0"]),
                strings(&[
                    "2024-01-01T00:05:00+08:00",
                    "b.example.com",
                    "18446744073709551615",
                    "7"
                ]),
            ]
        );
    }

    #[test]
    fn zh_starts_with_bom_and_has_chinese_headers() {
        let columns = [Column::Time, Column::Domain, Column::OriginFlux];
        let rows = vec![vec![
            text("2024-01-01T00:00:00Z"),
            text("例子.中国"),
            Cell::Count(42),
        ]];
        let (bytes, written) = write(&columns, Language::Zh, &rows);
        assert_eq!(written, 1);
        let body = bytes
            .strip_prefix(UTF8_BOM)
            .expect("zh csv starts with a BOM");
        assert!(!body.starts_with(UTF8_BOM), "exactly one BOM");
        assert_eq!(
            std::str::from_utf8(body).expect("utf-8"),
            "时间,域名,回源流量(Byte)\r\n2024-01-01T00:00:00Z,例子.中国,42\r\n"
        );
        assert_eq!(
            parse(body),
            vec![
                strings(&["时间", "域名", "回源流量(Byte)"]),
                strings(&["2024-01-01T00:00:00Z", "例子.中国", "42"]),
            ]
        );
    }

    #[test]
    fn quotes_commas_quotes_and_line_breaks() {
        let columns = [Column::Url, Column::Ua, Column::Referer, Column::ReqNum];
        let tricky = [
            "/a?x=1,2",
            "Mozilla \"quoted\" agent",
            "line1\nline2\r\nline3",
            "",
        ];
        let rows = vec![vec![
            text(tricky[0]),
            text(tricky[1]),
            text(tricky[2]),
            Cell::Count(5),
        ]];
        let (bytes, _) = write(&columns, Language::En, &rows);
        assert_eq!(
            std::str::from_utf8(&bytes).expect("utf-8"),
            "url,ua,referer,req_num\r\n\
             \"/a?x=1,2\",\"Mozilla \"\"quoted\"\" agent\",\"line1\nline2\r\nline3\",5\r\n"
        );
        assert_eq!(
            parse(&bytes),
            vec![
                strings(&["url", "ua", "referer", "req_num"]),
                strings(&[tricky[0], tricky[1], tricky[2], "5"]),
            ]
        );
        // An empty text stays an empty field.
        let (bytes, _) = write(
            &[Column::Domain, Column::Flux],
            Language::En,
            &[vec![text(tricky[3]), Cell::Count(1)]],
        );
        assert_eq!(parse(&bytes)[1], strings(&["", "1"]));
    }

    #[test]
    fn empty_export_is_the_header_row() {
        let (bytes, written) = write(&[Column::Ip, Column::Flux], Language::En, &[]);
        assert_eq!(written, 0);
        assert_eq!(bytes, b"ip,flux\r\n");
    }

    #[test]
    fn row_length_mismatch_is_an_error() {
        let tmp = TempPath::new("csv");
        let mut writer =
            csv_writer(tmp.path(), &[Column::Time, Column::Flux], Language::En).expect("create");
        let error = writer
            .write_row(&[Cell::Count(1), Cell::Count(2), Cell::Count(3)])
            .expect_err("three cells for two columns");
        assert!(matches!(
            error,
            OutputError::RowLength {
                expected: 2,
                actual: 3
            }
        ));
        writer
            .write_row(&[text("t"), Cell::Count(2)])
            .expect("a good row still writes");
        assert_eq!(writer.finish().expect("finish"), 1);
    }

    #[test]
    fn no_columns_is_an_error() {
        let tmp = TempPath::new("csv");
        assert!(matches!(
            csv_writer(tmp.path(), &[], Language::En),
            Err(OutputError::NoColumns)
        ));
    }
}
