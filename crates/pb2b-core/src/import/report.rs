//! The result files: the error report (every original column plus `row_number`, `error_code`,
//! `error_message`, `request_id`) and the success file (plus `row_number`, `lead_id`). Both are
//! UTF-8 with a BOM so Excel opens them, and safe against formula injection.

use crate::error::Code;
use std::io::Write;
use std::path::Path;

use super::journal::{get_import, store_err};
use crate::error::ErrorReport;
use crate::store::Store;
use crate::sync::formula_safe;

fn io_err(dest: &Path, e: impl std::fmt::Display) -> ErrorReport {
    ErrorReport::local(
        Code::IoError,
        format!("Could not write {}: {e}", dest.display()),
        true,
    )
}

type Extra = Vec<Option<String>>;

fn write_rows(
    store: &Store,
    import_id: &str,
    dest: &Path,
    states: &str,
    extra_headers: &[&str],
    extra: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Extra>,
    select: &str,
) -> Result<u64, ErrorReport> {
    let job = get_import(store, import_id)?;
    let file = std::fs::File::create(dest).map_err(|e| io_err(dest, e))?;
    let mut buf = std::io::BufWriter::new(file);
    buf.write_all(b"\xEF\xBB\xBF")
        .map_err(|e| io_err(dest, e))?;
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(buf);
    let width = job.headers.len();
    let mut header: Vec<String> = job
        .headers
        .iter()
        .map(|h| formula_safe(h).into_owned())
        .collect();
    header.extend(extra_headers.iter().map(|s| s.to_string()));
    w.write_record(&header).map_err(|e| io_err(dest, e))?;
    let rows: Vec<(Vec<String>, Extra)> = store
        .with_conn(|c| {
            let mut s = c.prepare(&format!(
                "SELECT original, {select} FROM import_rows WHERE import_id = ?1 AND state IN ({states}) ORDER BY row_number"
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
        let mut out: Vec<String> = cells.iter().map(|c| formula_safe(c).into_owned()).collect();
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
}

/// Writes the error report of an import: every row not created (invalid, duplicate, failed,
/// cancelled). Returns the number of rows written.
pub fn write_error_report(store: &Store, import_id: &str, dest: &Path) -> Result<u64, ErrorReport> {
    write_rows(
        store,
        import_id,
        dest,
        "'failed', 'skipped'",
        &["row_number", "error_code", "error_message", "request_id"],
        |r| {
            Ok(vec![
                Some(r.get::<_, i64>(1)?.to_string()),
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ])
        },
        "row_number, error_code, error_message, request_id",
    )
}

/// Writes the success file: every created row with its lead id. Returns the rows written.
pub fn write_success_file(store: &Store, import_id: &str, dest: &Path) -> Result<u64, ErrorReport> {
    write_rows(
        store,
        import_id,
        dest,
        "'created'",
        &["row_number", "lead_id", "request_id"],
        |r| {
            Ok(vec![
                Some(r.get::<_, i64>(1)?.to_string()),
                r.get(2)?,
                r.get(3)?,
            ])
        },
        "row_number, lead_id, request_id",
    )
}
