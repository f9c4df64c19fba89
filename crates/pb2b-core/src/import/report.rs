//! The result files: the error report (every original column plus `row_number`, `error_code`,
//! `error_message`, `request_id`, `dropped_fields`) and the success file (plus `row_number`,
//! `lead_id`, `request_id`, `dropped_fields`, `result`, `note`). Both are UTF-8 with a BOM so Excel opens them.
//!
//! `dropped_fields` lists each optional value the row was sent without because the contract
//! would refuse it (`crate::leads::prepare`), as `field "value" (why)`, joined by `; `: a bad
//! optional value never costs the lead, and is never lost silently either.
//!
//! Formula injection: every cell this app adds (the explanation columns, whose messages may come
//! from the server) is [`formula_safe`]. The error report keeps the original columns exactly as
//! they were read: it exists to be corrected and imported again, and a `'` added to `+44 20…`
//! or `=…` would be imported with it (a spreadsheet shows and saves the `'`). Those cells come
//! from the user's own file, which the spreadsheet already opened as they are. Importing the
//! report again ignores the explanation columns ([`ERROR_REPORT_COLUMNS`]). The success file is
//! only read, so all its cells are formula-safe.

use crate::error::Code;
use std::io::Write;
use std::path::Path;

use super::journal::{get_import, store_err};
use crate::error::ErrorReport;
use crate::leads::DroppedField;
use crate::store::Store;
use crate::sync::{formula_safe, CsvCells};

fn io_err(dest: &Path, e: impl std::fmt::Display) -> ErrorReport {
    ErrorReport::local(
        Code::IoError,
        format!("Could not write {}: {e}", dest.display()),
        true,
    )
}

type Extra = Vec<Option<String>>;

/// The columns the error report adds after the original ones (in this order); an import of a
/// corrected report ignores them.
pub const ERROR_REPORT_COLUMNS: [&str; 5] = [
    "row_number",
    "error_code",
    "error_message",
    "request_id",
    "dropped_fields",
];

/// The journal's `dropped` column (JSON of [`DroppedField`]s) as one cell.
fn dropped_cell(json: Option<String>) -> Option<String> {
    let list: Vec<DroppedField> = serde_json::from_str(json.as_deref()?).ok()?;
    Some(
        list.iter()
            .map(DroppedField::describe)
            .collect::<Vec<_>>()
            .join("; "),
    )
}

fn write_rows(
    store: &Store,
    import_id: &str,
    dest: &Path,
    states: &str,
    originals: CsvCells,
    extra_headers: &[&str],
    extra: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Extra>,
) -> Result<u64, ErrorReport> {
    // The added columns are the journal's columns of the same names.
    let select = extra_headers
        .iter()
        .map(|c| format!("r.{}", if *c == "dropped_fields" { "dropped" } else { c }))
        .collect::<Vec<_>>()
        .join(", ");
    let job = get_import(store, import_id)?;
    // Lead data: the user's alone (0600 on Unix), wherever it is written; written whole or not
    // at all (a failure leaves no half report, and an existing file its old content).
    crate::saved_files::write_atomically(dest, |buf| {
        buf.write_all(b"\xEF\xBB\xBF")
            .map_err(|e| io_err(dest, e))?;
        let mut w = csv::WriterBuilder::new().flexible(true).from_writer(buf);
        let width = job.headers.len();
        let original = |cell: &str| match originals {
            CsvCells::Spreadsheet => formula_safe(cell).into_owned(),
            CsvCells::Raw => cell.to_owned(),
        };
        let mut header: Vec<String> = job.headers.iter().map(|h| original(h)).collect();
        header.extend(extra_headers.iter().map(|s| s.to_string()));
        w.write_record(&header).map_err(|e| io_err(dest, e))?;
        let rows: Vec<(Vec<String>, Extra)> = store
        .with_conn(|c| {
            let mut s = c.prepare(&format!(
                "SELECT d.original, {select} FROM import_rows r JOIN import_row_data d ON d.import_id = r.import_id AND d.row_number = r.row_number
                 WHERE r.import_id = ?1 AND r.state IN ({states}) ORDER BY r.row_number"
            ))?;
            let v = s
                .query_map([import_id], |r| {
                    let original: String = r.get(0)?;
                    let cells: Vec<String> = serde_json::from_str(&original).unwrap_or_default();
                    Ok((cells, extra(r)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })
        .map_err(store_err)?;
        let mut n = 0;
        for (mut cells, extra) in rows {
            cells.resize(width, String::new());
            let mut out: Vec<String> = cells.iter().map(|c| original(c)).collect();
            out.extend(
                extra
                    .into_iter()
                    .map(|e| formula_safe(&e.unwrap_or_default()).into_owned()),
            );
            w.write_record(&out).map_err(|e| io_err(dest, e))?;
            n += 1;
        }
        w.flush().map_err(|e| io_err(dest, e))?;
        Ok(n)
    })
}

/// Writes the error report of an import: every row not created (invalid, duplicate, failed,
/// cancelled), its original cells as they were read (so that the corrected report imports the
/// same values) and the explanation columns formula-safe. Returns the number of rows written.
pub fn write_error_report(store: &Store, import_id: &str, dest: &Path) -> Result<u64, ErrorReport> {
    // Rows the review does not send are listed with why, whether or not a sender reached them.
    super::review::settle_all(store, import_id)?;
    write_rows(
        store,
        import_id,
        dest,
        "'failed', 'skipped'",
        CsvCells::Raw,
        &ERROR_REPORT_COLUMNS,
        |r| {
            Ok(vec![
                Some(r.get::<_, i64>(1)?.to_string()),
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                dropped_cell(r.get(5)?),
            ])
        },
    )
}

/// Writes the success file: every row the server accepted with its lead id, the values it was
/// sent without, what the server did (`result`: created, updated, unchanged) and, where that
/// is not what the review expected, why (`note`, see [`super::review::disagreement`]). Returns
/// the rows written.
pub fn write_success_file(store: &Store, import_id: &str, dest: &Path) -> Result<u64, ErrorReport> {
    write_rows(
        store,
        import_id,
        dest,
        "'created'",
        CsvCells::Spreadsheet,
        &[
            "row_number",
            "lead_id",
            "request_id",
            "dropped_fields",
            "result",
            "note",
        ],
        |r| {
            Ok(vec![
                Some(r.get::<_, i64>(1)?.to_string()),
                r.get(2)?,
                r.get(3)?,
                dropped_cell(r.get(4)?),
                Some(
                    r.get::<_, Option<String>>(5)?
                        .unwrap_or_else(|| "created".into()),
                ),
                r.get(6)?,
            ])
        },
    )
}
