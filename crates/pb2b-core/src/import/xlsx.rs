//! Excel workbooks (`.xlsx`, `.xlsm`): one sheet read as a table, each cell as the sheet shows
//! it, so the rest of the importer (mapping, preview, journal, resume, reports, delivery) sees
//! the same rows a CSV export of that sheet would give.
//!
//! The sheet is streamed (calamine's cell reader, in a thread that hands rows over a bounded
//! channel): memory holds the workbook's shared strings and styles, plus a few hundred rows,
//! never the whole sheet.
//!
//! | cell in the sheet | text the importer reads |
//! | --- | --- |
//! | text (shared or inline) | the text as typed: `00123` stays `00123`, `+44 20 7946 0000` stays as is |
//! | integer | its digits: `42` |
//! | number, format `General` or none | the shortest exact decimal, never an exponent: `44207946000`, `1.5` |
//! | number, format of `0`/`#` digits (`0`, `00000`, `0.00`, `#,##0`) | as that format shows it: zero-padded to the `0`s before the point, the `0`s after it as decimals; no thousands separator (it is not part of the value) |
//! | number, a percent format (`0%`, `0.00%`) | ×100 with the format's decimals and `%` |
//! | number, any other format (currency, fractions, text sections) | as `General` |
//! | date (a date format) | ISO date `2024-03-05` |
//! | date and time | ISO `2024-03-05T14:30:00` |
//! | time of day (a time format, no date) | `14:30:00` |
//! | duration (`[h]:mm`) | `h:mm:ss`, hours past 24 kept |
//! | date already stored as ISO text (strict OOXML) | that text |
//! | boolean | `TRUE` / `FALSE`, as Excel shows it |
//! | error (`#N/A`, `#DIV/0!`, …) | empty: a formula error is not a value, and a required field left empty makes the row invalid with a clear reason |
//! | empty, or missing from the sheet | empty |
//! | formula | its last computed value, by the rules above |
//!
//! Rows: the first row with a non-empty cell is the header; a row number is the one the sheet
//! shows (so reports point at the right row); a row whose cells are all empty counts as a blank
//! line, as in a CSV.
//!
//! | file | what happens |
//! | --- | --- |
//! | `.xlsx`, `.xlsm` | read; the first worksheet, or the one named (`--sheet`, the sheet picker) |
//! | `.xls`, `.xlsb`, `.ods`, `.numbers` | refused with a remedy: save it as `.xlsx` (or export the sheet as CSV) |
//! | password-protected `.xlsx` | refused: remove the password (File → Info → Protect Workbook) or export as CSV |
//! | a corrupt `.xlsx` | refused, naming what failed: open and save it again as `.xlsx`, or export as CSV |
//! | anything else | read as delimited text (see [`super::reader`]) |

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};

use calamine::{open_workbook, DataRef, Reader, SheetType, Xlsx, XlsxError};

use crate::error::{Code, ErrorReport};

/// Rows buffered between the reading thread and the importer.
const CHANNEL_ROWS: usize = 256;

/// How a file is read, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Delimited text (CSV, TSV, ...).
    Text,
    /// An `.xlsx` workbook.
    Workbook,
    /// A spreadsheet format this importer does not read.
    Unsupported(&'static str),
}

/// The kind of `path`, from its extension.
pub fn kind(path: &Path) -> Kind {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "xlsx" | "xlsm" => Kind::Workbook,
        "xls" => Kind::Unsupported("an Excel 97-2003 workbook (.xls)"),
        "xlsb" => Kind::Unsupported("an Excel binary workbook (.xlsb)"),
        "ods" => Kind::Unsupported("an OpenDocument spreadsheet (.ods)"),
        "numbers" => Kind::Unsupported("a Numbers spreadsheet"),
        _ => Kind::Text,
    }
}

/// The error for a spreadsheet format that is not read.
pub fn unsupported(path: &Path, what: &str) -> ErrorReport {
    ErrorReport::local(
        Code::InvalidInput,
        format!(
            "{} is {what}, which the importer does not read. Open it in your spreadsheet app and save it as an Excel workbook (.xlsx), or export the sheet as CSV, then import that file.",
            display_name(path)
        ),
        false,
    )
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn open_error(path: &Path, e: XlsxError) -> ErrorReport {
    let name = display_name(path);
    match e {
        XlsxError::Password => ErrorReport::local(
            Code::InvalidInput,
            format!("{name} is protected by a password. Open it in Excel, remove the password (File → Info → Protect Workbook → Encrypt with Password, empty), save, and import it again; or export the sheet as CSV."),
            false,
        ),
        XlsxError::Io(e) => ErrorReport::local(
            Code::IoError,
            format!("Could not read {}: {e}", path.display()),
            false,
        ),
        e => ErrorReport::local(
            Code::InvalidInput,
            format!("{name} is not a readable .xlsx workbook ({e}). Open it in your spreadsheet app and save it again as .xlsx, or export the sheet as CSV."),
            false,
        ),
    }
}

/// The worksheets of a workbook, in order (chart sheets left out).
pub fn sheet_names(path: &Path) -> Result<Vec<String>, ErrorReport> {
    let wb: Xlsx<BufReader<File>> = open_workbook(path).map_err(|e| open_error(path, e))?;
    Ok(worksheets(&wb))
}

fn worksheets(wb: &Xlsx<BufReader<File>>) -> Vec<String> {
    wb.sheets_metadata()
        .iter()
        .filter(|s| s.typ == SheetType::WorkSheet)
        .map(|s| s.name.clone())
        .collect()
}

enum Msg {
    /// The sheet's last row index (0-based), for progress.
    Start(u32),
    /// A row: its 0-based index in the sheet and its cells.
    Row(u32, Vec<String>),
    Failed(ErrorReport),
}

/// One sheet, streamed row by row.
pub struct SheetRows {
    rx: Receiver<Msg>,
    /// Every worksheet of the workbook.
    pub sheets: Vec<String>,
    /// The sheet being read.
    pub sheet: String,
    /// The sheet's last row number (as the sheet shows it), from its declared dimensions.
    pub last_row: u64,
}

impl std::fmt::Debug for SheetRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetRows")
            .field("sheet", &self.sheet)
            .finish()
    }
}

impl SheetRows {
    /// The next row that has cells: `(row number as the sheet shows it, cells)`.
    pub fn next_row(&mut self) -> Result<Option<(u64, Vec<String>)>, ErrorReport> {
        match self.rx.recv() {
            Ok(Msg::Row(r, cells)) => Ok(Some((u64::from(r) + 1, cells))),
            Ok(Msg::Failed(e)) => Err(e),
            Ok(Msg::Start(_)) | Err(_) => Ok(None),
        }
    }
}

/// Opens `sheet` (the first worksheet when `None`) of the workbook at `path`.
pub fn open(path: &Path, sheet: Option<&str>) -> Result<SheetRows, ErrorReport> {
    let mut wb: Xlsx<BufReader<File>> = open_workbook(path).map_err(|e| open_error(path, e))?;
    let sheets = worksheets(&wb);
    let name = match sheet {
        None => sheets.first().cloned().ok_or_else(|| {
            ErrorReport::local(
                Code::InvalidInput,
                format!(
                    "{} has no worksheet to import. Add the data to a sheet, or export it as CSV.",
                    display_name(path)
                ),
                false,
            )
        })?,
        Some(want) => sheets
            .iter()
            .find(|s| s.as_str() == want)
            .or_else(|| sheets.iter().find(|s| s.eq_ignore_ascii_case(want)))
            .cloned()
            .ok_or_else(|| {
                ErrorReport::local(
                    Code::InvalidInput,
                    format!(
                        "{} has no sheet named “{want}”. Its sheets: {}.",
                        display_name(path),
                        sheets
                            .iter()
                            .map(|s| format!("“{s}”"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    false,
                )
            })?,
    };
    let (tx, rx) = sync_channel(CHANNEL_ROWS);
    let thread_name = name.clone();
    let path_owned = path.to_owned();
    std::thread::Builder::new()
        .name("xlsx-reader".into())
        .spawn(move || {
            let path = path_owned;
            let mut cells = match wb.worksheet_cells_reader(&thread_name) {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Msg::Failed(open_error(&path, e)));
                    return;
                }
            };
            let formats: Vec<Option<String>> = cells
                .styles()
                .iter()
                .map(|s| s.number_format.as_ref().map(|n| n.format_code.clone()))
                .collect();
            if tx.send(Msg::Start(cells.dimensions().end.0)).is_err() {
                return;
            }
            let mut row: Option<u32> = None;
            let mut values: Vec<String> = Vec::new();
            loop {
                match cells.next_cell_with_style_id() {
                    Ok(Some((cell, style))) => {
                        let (r, c) = cell.get_position();
                        if row != Some(r) {
                            if let Some(prev) = row {
                                if tx
                                    .send(Msg::Row(prev, std::mem::take(&mut values)))
                                    .is_err()
                                {
                                    return;
                                }
                            }
                            row = Some(r);
                        }
                        let format = formats.get(style).and_then(|f| f.as_deref());
                        let text = cell_text(cell.get_value(), format);
                        let c = c as usize;
                        if values.len() <= c {
                            if text.is_empty() {
                                continue;
                            }
                            values.resize(c + 1, String::new());
                        }
                        values[c] = text;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Msg::Failed(open_error(&path, e)));
                        return;
                    }
                }
            }
            if let Some(prev) = row {
                let _ = tx.send(Msg::Row(prev, values));
            }
        })
        .map_err(|e| ErrorReport::local(Code::IoError, e.to_string(), false))?;
    let last_row = match rx.recv() {
        Ok(Msg::Start(end)) => u64::from(end) + 1,
        Ok(Msg::Failed(e)) => return Err(e),
        _ => 0,
    };
    Ok(SheetRows {
        rx,
        sheets,
        sheet: name,
        last_row,
    })
}

/// The text of one cell as the sheet shows it (the module's rule table).
pub fn cell_text(value: &DataRef<'_>, format: Option<&str>) -> String {
    match value {
        DataRef::Empty | DataRef::Error(_) => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => number_text(*i as f64, format).unwrap_or_else(|| i.to_string()),
        DataRef::Float(f) => number_text(*f, format).unwrap_or_else(|| general(*f)),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        DataRef::DateTime(dt) => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            if dt.is_duration() {
                let secs = (dt.as_f64() * 86_400.0).round() as i64;
                format!("{}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
            } else if dt.as_f64() < 1.0 && dt.as_f64() >= 0.0 && dt.as_f64().fract() != 0.0 {
                format!("{h:02}:{mi:02}:{s:02}")
            } else if (h, mi, s) == (0, 0, 0) {
                format!("{y:04}-{mo:02}-{d:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
            }
        }
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
    }
}

/// A number the way `General` shows it for an importer: the shortest exact decimal, no exponent.
fn general(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e17 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// A number under a digit format (`0`, `00000`, `0.00`, `#,##0`, `0%`); `None` for formats
/// shown as `General`.
fn number_text(f: f64, format: Option<&str>) -> Option<String> {
    let code = format?.split(';').next()?.trim();
    let (body, percent) = match code.strip_suffix('%') {
        Some(b) => (b, true),
        None => (code, false),
    };
    if body.is_empty() || !body.chars().all(|c| matches!(c, '0' | '#' | ',' | '.')) {
        return None;
    }
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    let min_int = int_part.chars().filter(|&c| c == '0').count();
    let decimals = frac_part.chars().filter(|&c| c == '0' || c == '#').count();
    let v = if percent { f * 100.0 } else { f };
    let mut text = format!("{:.*}", decimals, v.abs());
    let int_len = text.find('.').unwrap_or(text.len());
    if int_len < min_int {
        text.insert_str(0, &"0".repeat(min_int - int_len));
    }
    if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        text.insert(0, '-');
    }
    if percent {
        text.push('%');
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_their_format() {
        assert_eq!(
            number_text(44207946000.0, Some("0")).unwrap(),
            "44207946000"
        );
        assert_eq!(number_text(123.0, Some("00000")).unwrap(), "00123");
        assert_eq!(number_text(1234.5, Some("#,##0.00")).unwrap(), "1234.50");
        assert_eq!(number_text(0.256, Some("0.0%")).unwrap(), "25.6%");
        assert_eq!(number_text(-2.0, Some("0.00")).unwrap(), "-2.00");
        assert_eq!(number_text(1.0, Some("General")), None);
        assert_eq!(number_text(1.0, Some("\"$\"#,##0")), None);
        assert_eq!(general(44207946000.0), "44207946000");
        assert_eq!(general(1.5), "1.5");
    }

    #[test]
    fn every_cell_type_has_its_rule() {
        use calamine::{CellErrorType, ExcelDateTime, ExcelDateTimeType};
        assert_eq!(cell_text(&DataRef::Empty, None), "");
        assert_eq!(cell_text(&DataRef::Error(CellErrorType::NA), None), "");
        assert_eq!(cell_text(&DataRef::SharedString("00123"), None), "00123");
        assert_eq!(cell_text(&DataRef::String(" x ".into()), None), " x ");
        assert_eq!(cell_text(&DataRef::Int(42), None), "42");
        assert_eq!(cell_text(&DataRef::Int(42), Some("00000")), "00042");
        assert_eq!(
            cell_text(&DataRef::Float(4.4207946e10), None),
            "44207946000"
        );
        assert_eq!(cell_text(&DataRef::Float(0.1), Some("General")), "0.1");
        assert_eq!(cell_text(&DataRef::Bool(true), None), "TRUE");
        let dt = |v: f64, t| DataRef::DateTime(ExcelDateTime::new(v, t, false));
        assert_eq!(
            cell_text(&dt(45356.0, ExcelDateTimeType::DateTime), None),
            "2024-03-05"
        );
        assert_eq!(
            cell_text(&dt(45356.604166666664, ExcelDateTimeType::DateTime), None),
            "2024-03-05T14:30:00"
        );
        assert_eq!(
            cell_text(&dt(0.5, ExcelDateTimeType::DateTime), None),
            "12:00:00"
        );
        assert_eq!(
            cell_text(&dt(1.25, ExcelDateTimeType::TimeDelta), None),
            "30:00:00"
        );
        assert_eq!(
            cell_text(&DataRef::DateTimeIso("2024-03-05".into()), None),
            "2024-03-05"
        );
    }

    #[test]
    fn kinds_come_from_the_extension() {
        assert_eq!(kind(Path::new("a.XLSX")), Kind::Workbook);
        assert_eq!(kind(Path::new("a.csv")), Kind::Text);
        assert!(matches!(kind(Path::new("a.xls")), Kind::Unsupported(_)));
        assert!(matches!(kind(Path::new("a.ods")), Kind::Unsupported(_)));
    }
}
