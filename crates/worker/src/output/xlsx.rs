//! The xlsx writer: rust_xlsxwriter worksheets in constant-memory mode, a bold header row in
//! the export's language, and a new worksheet whenever one is full.

use std::any::Any;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rust_xlsxwriter::{
    ColNum, DocProperties, ExcelDateTime, Format, RowNum, Workbook, Worksheet, XlsxError,
};
use statport_core::table::{Cell, Column, Language};

use super::{check_row, owned_columns, Contents, OutputError, RowWriter, Target};
use crate::temp_disk::{BudgetedWriter, Reservation};

/// xlsx, a zip archive written with seeks, needs a file: it does not stream.
pub(super) const FORMAT: super::FileFormat = super::FileFormat {
    streams: false,
    open,
};

fn open<'a>(
    target: Target<'a>,
    contents: Contents<'_>,
) -> Result<Box<dyn RowWriter + Send + 'a>, OutputError> {
    match target {
        Target::File(path) => xlsx_writer(path, contents.columns, contents.language),
        Target::BudgetedFile { path, disk } => Ok(Box::new(XlsxRowWriter::new(
            path,
            contents.columns,
            contents.language,
            DATA_ROWS_PER_SHEET,
            Some(disk),
        )?)),
        Target::Stream(_) => Err(OutputError::NeedsFile("xlsx")),
    }
}

/// Worksheet XML of one row besides its cells (`<row r="1048576" spans="1:13">`, `</row>`):
/// what a [`Target::BudgetedFile`] reserves per row, with [`CELL_XML_BYTES`] per cell.
const ROW_XML_BYTES: u64 = 40;

/// Worksheet XML of one cell besides its text, rounded up (`<c r="XFD1048576" s="1"
/// t="inlineStr"><is><t xml:space="preserve">`, `</t></is></c>`; a number and its digits fit
/// too).
const CELL_XML_BYTES: u64 = 72;

/// About the bytes `row` takes in a constant-memory worksheet's temporary file: the texts
/// (with the growth of `&`, `<`, `>` escaped) plus a fixed overhead per cell and per row.
fn row_xml_bytes(row: &[Cell]) -> u64 {
    row.iter().fold(ROW_XML_BYTES, |sum, cell| {
        let text = match cell {
            Cell::Text(text) => {
                let escaped = text
                    .bytes()
                    .filter(|b| matches!(b, b'&' | b'<' | b'>'))
                    .count();
                (text.len() as u64).saturating_add((escaped as u64).saturating_mul(4))
            }
            Cell::Count(_) => 0,
        };
        sum.saturating_add(CELL_XML_BYTES).saturating_add(text)
    })
}

/// Excel's rows per worksheet, header included.
const EXCEL_MAX_ROWS: RowNum = 1_048_576;

/// Data rows per worksheet: all of Excel's rows but the header.
const DATA_ROWS_PER_SHEET: RowNum = EXCEL_MAX_ROWS - 1;

/// The largest count written as a number: every integer up to 2^53 is exact in an f64.
const MAX_EXACT_COUNT: u64 = 1 << 53;

/// Excel's longest cell text, in UTF-16 code units.
const MAX_TEXT_UTF16: usize = 32_767;

/// Creates an xlsx writer whose workbook is saved to `path` by [`RowWriter::finish`] (nothing
/// is written to `path` before that).
///
/// Worksheets use rust_xlsxwriter's constant-memory mode: each finished row goes to a temporary
/// file, created in `path`'s directory (so a memory-backed `/tmp` does not hold the data), and
/// memory stays flat however many rows are written. Each worksheet starts with a bold header
/// row of [`Column::header`]s in `language`, frozen in place, and has column widths set for
/// readability.
///
/// Counts are numeric cells: Excel stores numbers as f64, which is exact for every integer up
/// to 2^53 (9,007,199,254,740,992); a larger count is written as a text cell of its decimal
/// digits rather than rounded. (Excel displays only 15 significant digits, so counts from 10^15
/// up show rounded on screen although the file holds them exactly.) Texts are text cells; an
/// empty text is an empty cell, and a text longer than Excel's limit of 32,767 UTF-16 units is
/// cut to that limit.
///
/// A worksheet holds Excel's maximum of 1,048,576 rows (the header and 1,048,575 data rows);
/// further rows continue on a new worksheet (`Sheet2`, `Sheet3`, …) that repeats the header.
///
/// Into a [`Target::BudgetedFile`], the worksheets' temporary files (unnamed, so never
/// measured) are counted by estimate: each row reserves about its XML (`row_xml_bytes`)
/// before it is written; the archive is saved through the budget, every byte reserved; once it
/// is saved and the temporary files are gone, the reservation is the file's size.
pub fn xlsx_writer(
    path: &Path,
    columns: &[Column],
    language: Language,
) -> Result<Box<dyn RowWriter + Send>, OutputError> {
    Ok(Box::new(XlsxRowWriter::new(
        path,
        columns,
        language,
        DATA_ROWS_PER_SHEET,
        None,
    )?))
}

/// Streams rows into a workbook of constant-memory worksheets.
struct XlsxRowWriter<'a> {
    workbook: Workbook,
    path: PathBuf,
    columns: Vec<Column>,
    language: Language,
    header_format: Format,
    /// Data rows a worksheet takes before the next one starts (at least 1).
    rows_per_sheet: RowNum,
    /// Index of the worksheet being written.
    sheet: usize,
    /// Data rows already in that worksheet.
    sheet_rows: RowNum,
    rows: u64,
    /// Set when rust_xlsxwriter panicked: the workbook is then unusable.
    aborted: Option<String>,
    /// Where the file's bytes are held, into a [`Target::BudgetedFile`].
    disk: Option<&'a mut Reservation>,
}

/// The creation time every xlsx file states (2000-01-01T00:00:00Z, seconds since the epoch):
/// fixed, so files are byte-identical run after run.
const FIXED_CREATION_TIMESTAMP: i64 = 946_684_800;

impl<'a> XlsxRowWriter<'a> {
    /// A writer with at most `rows_per_sheet` data rows per worksheet (the tests use a small
    /// limit; values above Excel's 1,048,575 are lowered to it, 0 is raised to 1), its bytes
    /// held in `disk` when there is one.
    fn new(
        path: &Path,
        columns: &[Column],
        language: Language,
        rows_per_sheet: RowNum,
        disk: Option<&'a mut Reservation>,
    ) -> Result<Self, OutputError> {
        let columns = owned_columns(columns)?;
        let mut workbook = Workbook::new();
        // A fixed creation time instead of the clock's: every run of a task writes the same
        // bytes (the file's properties would otherwise record the second it was written).
        workbook.set_properties(
            &DocProperties::new()
                .set_creation_datetime(&ExcelDateTime::from_timestamp(FIXED_CREATION_TIMESTAMP)?),
        );
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            workbook.set_tempdir(dir)?;
        }
        let mut writer = XlsxRowWriter {
            workbook,
            path: path.to_path_buf(),
            columns,
            language,
            header_format: Format::new().set_bold(),
            rows_per_sheet: rows_per_sheet.clamp(1, DATA_ROWS_PER_SHEET),
            sheet: 0,
            sheet_rows: 0,
            rows: 0,
            aborted: None,
            disk,
        };
        writer.guarded(Self::add_sheet)?;
        Ok(writer)
    }

    /// Adds a worksheet with widths, the header row and a frozen pane below it, and makes it the
    /// one being written.
    fn add_sheet(&mut self) -> Result<(), OutputError> {
        let worksheet = self.workbook.add_worksheet_with_constant_memory()?;
        for (index, column) in self.columns.iter().enumerate() {
            let col = col_num(index)?;
            worksheet.set_column_width(col, column_width(*column))?;
            worksheet.write_string_with_format(
                0,
                col,
                column.header(self.language),
                &self.header_format,
            )?;
        }
        worksheet.set_freeze_panes(1, 0)?;
        self.sheet = self.workbook.worksheets().len() - 1;
        self.sheet_rows = 0;
        Ok(())
    }

    /// Writes one checked row, starting a new worksheet first when the current one is full.
    fn put_row(&mut self, row: &[Cell]) -> Result<(), OutputError> {
        if self.sheet_rows >= self.rows_per_sheet {
            self.add_sheet()?;
        }
        let excel_row = self.sheet_rows + 1;
        let worksheet = self.workbook.worksheet_from_index(self.sheet)?;
        for (index, cell) in row.iter().enumerate() {
            write_cell(worksheet, excel_row, col_num(index)?, cell)?;
        }
        self.sheet_rows += 1;
        Ok(())
    }

    /// Runs `step`, turning a rust_xlsxwriter panic into [`OutputError::XlsxAborted`] and
    /// refusing all work after one.
    fn guarded<T>(
        &mut self,
        step: impl FnOnce(&mut Self) -> Result<T, OutputError>,
    ) -> Result<T, OutputError> {
        if let Some(message) = &self.aborted {
            return Err(OutputError::XlsxAborted(message.clone()));
        }
        match panic::catch_unwind(AssertUnwindSafe(|| step(&mut *self))) {
            Ok(result) => result,
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                self.aborted = Some(message.clone());
                Err(OutputError::XlsxAborted(message))
            }
        }
    }
}

impl RowWriter for XlsxRowWriter<'_> {
    fn write_row(&mut self, row: &[Cell]) -> Result<(), OutputError> {
        check_row(&self.columns, row)?;
        if let Some(disk) = self.disk.as_deref_mut() {
            disk.grow(row_xml_bytes(row))
                .map_err(|refused| OutputError::Io(refused.into()))?;
        }
        self.guarded(|writer| writer.put_row(row))?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, OutputError> {
        let Some(disk) = self.disk.take() else {
            self.guarded(|writer| Ok(writer.workbook.save(&writer.path)?))?;
            return Ok(self.rows);
        };
        let worksheets = disk.bytes();
        self.guarded(|writer| {
            let mut out =
                BufWriter::new(BudgetedWriter::new(File::create(&writer.path)?, &mut *disk));
            writer.workbook.save_to_writer(&mut out)?;
            out.flush()?;
            Ok(())
        })?;
        let archive = disk.bytes().saturating_sub(worksheets);
        let rows = self.rows;
        // The worksheets' temporary files go with the workbook: what is left is the archive.
        drop(self);
        disk.resize_to(archive)
            .map_err(|refused| OutputError::Io(refused.into()))?;
        Ok(rows)
    }
}

/// Writes one data cell: a count as a number when exact in an f64, else as text.
fn write_cell(
    worksheet: &mut Worksheet,
    row: RowNum,
    col: ColNum,
    cell: &Cell,
) -> Result<(), XlsxError> {
    match cell {
        Cell::Text(text) => worksheet.write_string(row, col, excel_text(text))?,
        // Exact: `count` is at most 2^53.
        Cell::Count(count) if *count <= MAX_EXACT_COUNT => {
            worksheet.write_number(row, col, *count as f64)?
        }
        Cell::Count(count) => worksheet.write_string(row, col, count.to_string())?,
    };
    Ok(())
}

/// `text` cut to Excel's cell limit of [`MAX_TEXT_UTF16`] UTF-16 units, at a char boundary.
fn excel_text(text: &str) -> &str {
    // A char never takes more UTF-16 units than UTF-8 bytes.
    if text.len() <= MAX_TEXT_UTF16 {
        return text;
    }
    let mut units = 0;
    for (at, c) in text.char_indices() {
        units += c.len_utf16();
        if units > MAX_TEXT_UTF16 {
            return &text[..at];
        }
    }
    text
}

/// The worksheet column number of the `index`th column.
fn col_num(index: usize) -> Result<ColNum, XlsxError> {
    ColNum::try_from(index).map_err(|_| XlsxError::RowColumnLimitError)
}

/// A readable width, in Excel character units, for `column` (zh headers fit too).
fn column_width(column: Column) -> f64 {
    match column {
        Column::Time => 26.0,
        Column::Domain => 30.0,
        Column::Flux | Column::OriginFlux => 18.0,
        Column::ReqNum | Column::Uv => 14.0,
        Column::Url | Column::Ua => 60.0,
        Column::Path | Column::Referer => 48.0,
        Column::Ip => 24.0,
        Column::Isp => 16.0,
        Column::Host => 30.0,
        Column::Query => 40.0,
        Column::Method | Column::Scheme | Column::Status | Column::Result => 10.0,
        Column::Bytes | Column::Edge => 14.0,
    }
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "rust_xlsxwriter panicked".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use calamine::{open_workbook, Data, Reader, Xlsx};

    use super::*;
    use crate::output::test_support::TempPath;

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    /// Writes `rows` with at most `rows_per_sheet` data rows per sheet; returns the row count.
    fn write(
        path: &Path,
        columns: &[Column],
        language: Language,
        rows_per_sheet: RowNum,
        rows: &[Vec<Cell>],
    ) -> u64 {
        let mut writer: Box<dyn RowWriter + Send> = Box::new(
            XlsxRowWriter::new(path, columns, language, rows_per_sheet, None).expect("create xlsx"),
        );
        for row in rows {
            writer.write_row(row).expect("write row");
        }
        writer.finish().expect("finish")
    }

    /// Every worksheet as (name, cells), cells read back with calamine over the used range
    /// from A1.
    fn read_back(path: &Path) -> Vec<(String, Vec<Vec<Data>>)> {
        let mut book: Xlsx<_> = open_workbook(path).expect("open with calamine");
        book.sheet_names()
            .into_iter()
            .map(|name| {
                let range = book.worksheet_range(&name).expect("worksheet");
                let (last_row, last_col) = range.end().unwrap_or((0, 0));
                let cells = (0..=last_row)
                    .map(|row| {
                        (0..=last_col)
                            .map(|col| range.get_value((row, col)).cloned().unwrap_or_default())
                            .collect()
                    })
                    .collect();
                (name, cells)
            })
            .collect()
    }

    fn s(value: &str) -> Data {
        Data::String(value.to_owned())
    }

    fn header(columns: &[Column], language: Language) -> Vec<Data> {
        columns.iter().map(|c| s(c.header(language))).collect()
    }

    #[test]
    fn cells_round_trip_through_calamine() {
        let tmp = TempPath::new("xlsx");
        let columns = [Column::Time, Column::Domain, Column::Flux, Column::ReqNum];
        let rows = vec![
            vec![
                text("2024-01-01T00:00:00+08:00"),
                text("例子.中国"),
                Cell::Count(0),
                Cell::Count(123_456_789),
            ],
            vec![
                text(" leading space, \"quotes\" & <tags>"),
                text("line1\nline2 😀"),
                Cell::Count(MAX_EXACT_COUNT),
                Cell::Count(MAX_EXACT_COUNT + 1),
            ],
            vec![
                text("=1+1"),
                text(""),
                Cell::Count(u64::MAX),
                Cell::Count(1),
            ],
        ];
        let written = write(
            tmp.path(),
            &columns,
            Language::Zh,
            DATA_ROWS_PER_SHEET,
            &rows,
        );
        assert_eq!(written, 3);
        let sheets = read_back(tmp.path());
        assert_eq!(
            sheets,
            vec![(
                "Sheet1".to_owned(),
                vec![
                    vec![s("时间"), s("域名"), s("流量(Byte)"), s("请求数")],
                    vec![
                        s("2024-01-01T00:00:00+08:00"),
                        s("例子.中国"),
                        Data::Float(0.0),
                        Data::Float(123_456_789.0),
                    ],
                    vec![
                        s(" leading space, \"quotes\" & <tags>"),
                        s("line1\nline2 😀"),
                        Data::Float(9_007_199_254_740_992.0),
                        s("9007199254740993"),
                    ],
                    vec![
                        s("=1+1"),
                        Data::Empty,
                        s("18446744073709551615"),
                        Data::Float(1.0)
                    ],
                ],
            )]
        );
    }

    #[test]
    fn en_header_is_bold_and_data_is_not() {
        let tmp = TempPath::new("xlsx");
        let columns = [Column::Ip, Column::Flux, Column::ReqNum];
        let rows = vec![vec![text("192.0.2.7"), Cell::Count(720), Cell::Count(1)]];
        write(
            tmp.path(),
            &columns,
            Language::En,
            DATA_ROWS_PER_SHEET,
            &rows,
        );
        let sheets = read_back(tmp.path());
        assert_eq!(
            sheets[0].1,
            vec![
                header(&columns, Language::En),
                vec![s("192.0.2.7"), Data::Float(720.0), Data::Float(1.0)],
            ]
        );
        let mut book: Xlsx<_> = open_workbook(tmp.path()).expect("open");
        let styles = book.worksheet_style("Sheet1").expect("styles");
        let bold = |pos| {
            styles
                .get(pos)
                .and_then(|style| style.font.as_ref())
                .is_some_and(|font| font.is_bold())
        };
        for col in 0..3 {
            assert!(bold((0, col)), "header cell {col} is bold");
            assert!(!bold((1, col)), "data cell {col} is not bold");
        }
    }

    #[test]
    fn empty_export_is_one_sheet_with_the_header() {
        let tmp = TempPath::new("xlsx");
        let columns = [Column::Time, Column::Uv];
        assert_eq!(
            write(tmp.path(), &columns, Language::Zh, DATA_ROWS_PER_SHEET, &[]),
            0
        );
        assert_eq!(
            read_back(tmp.path()),
            vec![("Sheet1".to_owned(), vec![header(&columns, Language::Zh)])]
        );
    }

    /// `n` rows of (time text, count n).
    fn numbered_rows(n: u64) -> Vec<Vec<Cell>> {
        (1..=n)
            .map(|i| vec![Cell::Text(format!("t{i}")), Cell::Count(i)])
            .collect()
    }

    fn numbered_sheet(
        name: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> (String, Vec<Vec<Data>>) {
        let mut cells = vec![header(&[Column::Time, Column::Flux], Language::En)];
        cells.extend(range.map(|i| vec![Data::String(format!("t{i}")), Data::Float(i as f64)]));
        (name.to_owned(), cells)
    }

    #[test]
    fn full_sheets_roll_over_with_the_header_repeated() {
        let tmp = TempPath::new("xlsx");
        let columns = [Column::Time, Column::Flux];
        let written = write(tmp.path(), &columns, Language::En, 3, &numbered_rows(7));
        assert_eq!(written, 7);
        assert_eq!(
            read_back(tmp.path()),
            vec![
                numbered_sheet("Sheet1", 1..=3),
                numbered_sheet("Sheet2", 4..=6),
                numbered_sheet("Sheet3", 7..=7),
            ]
        );
    }

    #[test]
    fn exactly_full_sheet_adds_no_empty_sheet() {
        let tmp = TempPath::new("xlsx");
        let columns = [Column::Time, Column::Flux];
        write(tmp.path(), &columns, Language::En, 3, &numbered_rows(6));
        assert_eq!(
            read_back(tmp.path()),
            vec![
                numbered_sheet("Sheet1", 1..=3),
                numbered_sheet("Sheet2", 4..=6),
            ]
        );
    }

    #[test]
    fn sheet_limit_is_clamped() {
        let tmp = TempPath::new("xlsx");
        let writer =
            XlsxRowWriter::new(tmp.path(), &[Column::Uv], Language::En, 0, None).expect("new");
        assert_eq!(writer.rows_per_sheet, 1);
        let writer = XlsxRowWriter::new(tmp.path(), &[Column::Uv], Language::En, RowNum::MAX, None)
            .expect("new");
        assert_eq!(writer.rows_per_sheet, EXCEL_MAX_ROWS - 1);
    }

    #[test]
    fn over_long_text_is_cut_to_excel_limit() {
        let tmp = TempPath::new("xlsx");
        let long = "é".repeat(40_000);
        // 1 + 2 * 16_384 = 32_769 UTF-16 units: the cut must not split an emoji.
        let emoji = format!("a{}", "😀".repeat(16_384));
        let rows = vec![vec![text(&long)], vec![text(&emoji)]];
        write(
            tmp.path(),
            &[Column::Ua],
            Language::En,
            DATA_ROWS_PER_SHEET,
            &rows,
        );
        let sheets = read_back(tmp.path());
        assert_eq!(
            sheets[0].1,
            vec![
                vec![s("ua")],
                vec![Data::String("é".repeat(MAX_TEXT_UTF16))],
                vec![Data::String(format!("a{}", "😀".repeat(16_383)))],
            ]
        );
    }

    #[test]
    fn excel_text_keeps_short_text() {
        assert_eq!(excel_text("abc"), "abc");
        let exact = "x".repeat(MAX_TEXT_UTF16);
        assert_eq!(excel_text(&exact), exact);
        let cjk = "中".repeat(MAX_TEXT_UTF16);
        assert_eq!(excel_text(&cjk), cjk, "3-byte chars are 1 UTF-16 unit");
    }

    #[test]
    fn row_length_mismatch_is_an_error() {
        let tmp = TempPath::new("xlsx");
        let mut writer =
            xlsx_writer(tmp.path(), &[Column::Time, Column::Flux], Language::En).expect("create");
        assert!(matches!(
            writer.write_row(&[]),
            Err(OutputError::RowLength {
                expected: 2,
                actual: 0
            })
        ));
        writer
            .write_row(&[text("t"), Cell::Count(2)])
            .expect("a good row still writes");
        assert_eq!(writer.finish().expect("finish"), 1);
        assert_eq!(
            read_back(tmp.path())[0].1,
            vec![
                header(&[Column::Time, Column::Flux], Language::En),
                vec![s("t"), Data::Float(2.0)],
            ]
        );
    }

    #[test]
    fn no_columns_is_an_error() {
        let tmp = TempPath::new("xlsx");
        assert!(matches!(
            xlsx_writer(tmp.path(), &[], Language::En),
            Err(OutputError::NoColumns)
        ));
    }

    #[test]
    fn panic_payloads_become_messages() {
        let caught = panic::catch_unwind(|| panic!("disk full")).expect_err("panicked");
        assert_eq!(panic_message(caught.as_ref()), "disk full");
        let caught = panic::catch_unwind(|| panic!("{} {}", "formatted", 1)).expect_err("panicked");
        assert_eq!(panic_message(caught.as_ref()), "formatted 1");
    }
}
