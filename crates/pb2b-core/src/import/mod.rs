//! Import a CSV file: every valid row becomes exactly one lead, even across crashes.
//!
//! The steps, each one call (the sync ones read files or SQLite: call them from
//! `tokio::task::spawn_blocking` in the app):
//!
//! 1. [`preview`]`(store, path, mapping, rows)` → [`Preview`]: format (encoding, delimiter),
//!    headers, the suggested mapping (remembered for this header set, else [`auto_map`] with
//!    confidence), the first rows as mapped with their field errors and dropped values, and
//!    counts from the head of the file (fast for any size: it reads at most [`PREVIEW_BYTES`]).
//! 2. [`validate_file`]`(path, mapping, progress, cancel)` → [`ValidationSummary`]: a full
//!    streaming pass (required fields, e-mail syntax, lengths, duplicate e-mails within the
//!    file), memory bounded by 8 bytes per row. This is `pb2b import --dry-run`.
//! 3. [`stage`]`(store, owner, path, mapping, progress, cancel)` → [`ImportJob`]: saves the import
//!    (its id first), remembers the mapping, and writes every row to the journal as `pending`
//!    (or `skipped` with `invalid_row` / `duplicate_email`), each with its Idempotency-Key
//!    `imp-<import id>-<row number>-<hash of the normalised lead>`.
//! 4. [`run`]`(client, store, import_id, options, progress, cancel)` → [`ImportSummary`]
//!    (async): sends the pending rows with bounded concurrency that adapts to the rate limit.
//!    Cancelling the token pauses (status `paused`, in-flight requests finish and are recorded);
//!    calling [`run`] again resumes. After a crash or kill, rows left `in_flight` are sent again
//!    with the same key, so the server replays instead of duplicating. With
//!    [`RunOptions::bulk`] (the key has `leads.import`) rows of modes create and upsert go as
//!    import jobs of up to 1,000 rows instead, each journaled with its key before it is sent
//!    (see `bulk`).
//! 5. [`cancel_import`], [`retry_failed`], [`write_error_report`], [`write_success_file`],
//!    [`get_import`], [`list_imports`], [`unfinished_imports`] (offer "Resume" at start-up).
//!
//! | rule | where |
//! |---|---|
//! | A row is normalised and checked by the one rule set of the single-lead form | [`crate::leads::prepare`] via [`mapping::map_row`] |
//! | A bad optional value is left out, the row is still sent; the value and why are journaled (`dropped`) and written to both result files (`dropped_fields`) | `prepare`, [`stage`], `report` |
//! | A bad email or name makes the row invalid (`invalid_row`, never sent) | [`crate::leads::REQUIRED_FIELDS`] |
//! | Rows that lose a value are counted: [`ValidationCounts::with_dropped_fields`] (preview, `--dry-run`), [`RowCounts::with_dropped_fields`] (the import) | `tally`, [`validate_file`], [`stage`] |
//! | A file without rows (0 bytes, blank lines, or a header only) is refused with `empty_file` before anything is saved or sent | [`empty_file`] |
//!
//! Each step that reads the file has a `_sheet` form taking the sheet of an `.xlsx` workbook
//! (the first when `None`); the plain form reads the first sheet. A workbook's sheet is read
//! by [`xlsx`] into the same rows a CSV gives, and is kept in the import's
//! [`FileFormat::sheet`], so resuming re-reads the same sheet.
//!
//! The app and the CLI do not call these directly: they go through [`Imports`]
//! (`Workspace::imports()`), which records the workspace with every import, refuses another
//! workspace's import, and looks rows in flight up on the server before a rotated key (or a
//! key past the server's 24-hour idempotency window) sends them again.

mod bulk;
mod deliver;
pub mod journal;
pub mod mapping;
pub mod reader;
mod report;
pub mod review;
mod scoped;
pub mod xlsx;

use crate::error::Code;
use std::path::Path;

use csv::ByteRecord;
use rusqlite::params;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

/// The old name of [`crate::sync::formula_safe`], the one formula-injection guard of every CSV
/// the app writes.
pub use crate::sync::formula_safe as neutralize;
pub use deliver::{run, ImportProgress, ImportSummary, RunOptions};
pub use journal::{
    get_import, list_imports, remember_mapping, remembered_mapping, unfinished_imports, ImportJob,
    RowCounts,
};
pub use mapping::{auto_map, ColumnMapping, ColumnTarget, Mapping};
pub use reader::{FileFormat, ReadStats, TableReader};
pub use report::{write_error_report, write_success_file, ERROR_REPORT_COLUMNS};
pub use review::{ImportMode, ImportReview, ReviewClass, ReviewCounts};
pub use scoped::{Imports, UNASSIGNED_JOB};

/// Whether an import must be reviewed before it can send (see [`Imports::run`]).
pub fn needs_review(store: &Store, job: &ImportJob) -> Result<bool, ErrorReport> {
    scoped::needs_review(store, job)
}

use crate::api::NewLead;
use crate::error::{codes, ErrorReport};
use crate::leads::{DroppedField, FieldError};
use crate::store::Store;
use crate::workspace::Owner;
use journal::{state, status, store_err};

/// How much of the file the preview reads at most.
pub const PREVIEW_BYTES: u64 = 1024 * 1024;

/// How many rows of a workbook's sheet the preview reads at most (a sheet is not read by bytes).
pub const PREVIEW_SHEET_ROWS: u64 = 10_000;

/// Error codes of rows that are never sent.
pub mod row_codes {
    pub const INVALID_ROW: &str = "invalid_row";
    pub const DUPLICATE_EMAIL: &str = "duplicate_email";
    pub const CANCELLED: &str = "cancelled";
    /// A row sent without some optional values (a warning of `--dry-run`, not a skip).
    pub const DROPPED_FIELDS: &str = "dropped_fields";
    /// The review's skips ([`super::review`]): the workspace has the e-mail (mode create), has it
    /// not (mode update), has it several times, or the lead already holds the row's values.
    pub const EXISTS: &str = "exists";
    pub const NOT_IN_WORKSPACE: &str = "not_in_workspace";
    pub const AMBIGUOUS: &str = "ambiguous_match";
    pub const UNCHANGED: &str = "unchanged";
}

/// One row of the preview.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "PreviewRow.ts")]
pub struct PreviewRow {
    #[ts(type = "number")]
    pub row_number: u64,
    /// The lead as it would be sent.
    pub lead: NewLead,
    pub errors: Vec<FieldError>,
    /// Optional values the lead is sent without, with why.
    pub dropped: Vec<DroppedField>,
    /// An earlier row has the same e-mail (this one would be skipped).
    pub duplicate: bool,
}

/// Counts of a validation pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "ValidationCounts.ts")]
pub struct ValidationCounts {
    #[ts(type = "number")]
    pub rows: u64,
    #[ts(type = "number")]
    pub will_create: u64,
    #[ts(type = "number")]
    pub invalid: u64,
    #[ts(type = "number")]
    pub duplicate: u64,
    #[ts(type = "number")]
    pub blank_lines: u64,
    #[ts(type = "number")]
    pub ragged_rows: u64,
    /// Valid rows that will be sent without one or more optional values the contract would
    /// refuse (a later duplicate among them is skipped anyway).
    #[ts(type = "number")]
    pub with_dropped_fields: u64,
}

/// What the preview shows right after the drop.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "Preview.ts")]
pub struct Preview {
    pub format: FileFormat,
    pub headers: Vec<String>,
    pub mapping: Mapping,
    /// The mapping came from an earlier file with the same headers.
    pub remembered: bool,
    /// Problems with the mapping (no email column, a field twice); empty when usable.
    pub mapping_problems: Vec<String>,
    pub rows: Vec<PreviewRow>,
    /// Counts over the part of the file read (`complete` says whether that is all of it).
    pub counts: ValidationCounts,
    pub complete: bool,
    /// Rows in the file, estimated from the head when not complete.
    #[ts(type = "number")]
    pub estimated_rows: u64,
    #[ts(type = "number")]
    pub file_size: u64,
}

/// One row problem (the first ones of a full pass).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "RowIssue.ts")]
pub struct RowIssue {
    #[ts(type = "number")]
    pub row_number: u64,
    pub code: String,
    pub message: String,
}

/// The result of a full validation pass.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "ValidationSummary.ts")]
pub struct ValidationSummary {
    pub format: FileFormat,
    pub headers: Vec<String>,
    pub counts: ValidationCounts,
    /// The first 100 invalid or duplicate rows.
    pub issues: Vec<RowIssue>,
    /// The pass was cancelled: counts cover the rows read so far.
    pub cancelled: bool,
}

/// Progress of a pass over a file (validation, staging).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "ReadProgress.ts")]
pub struct ReadProgress {
    #[ts(type = "number")]
    pub rows: u64,
    #[ts(type = "number")]
    pub bytes_read: u64,
    #[ts(type = "number")]
    pub file_size: u64,
}

/// The error of a file without rows: `headers` empty means nothing at all was read (0 bytes,
/// blank lines only), else a header with nothing under it.
pub fn empty_file(path: &Path, headers: &[String]) -> ErrorReport {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let message = if headers.is_empty() {
        format!("The file is empty: {name} has no header and no rows. Choose the file that holds your leads (export it again if it should have some).")
    } else {
        format!("The file has a header but no rows: {name} has no leads under its column names. Add rows, or choose the file that holds your leads.")
    };
    ErrorReport::local(Code::EmptyFile, message, false)
}

pub(crate) fn bad_mapping(problems: &[String]) -> ErrorReport {
    ErrorReport::local(codes::INVALID_INPUT, problems.join(" "), false)
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_dropped(dropped: &[DroppedField]) -> String {
    dropped
        .iter()
        .map(DroppedField::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A 64-bit hash of a lower-cased e-mail, for the duplicate checks of one pass (never stored):
/// SipHash with fixed keys, several times faster than the SHA-256 it replaced and as good at
/// this (a collision among 1,000,000 e-mails has a chance of about 3 in 100 million).
pub(crate) fn email_hash(key: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(key.as_bytes());
    h.finish()
}

/// The suggested mapping for these headers: remembered, else automatic.
pub fn suggest_mapping(
    store: Option<&Store>,
    headers: &[String],
) -> Result<(Mapping, bool), ErrorReport> {
    if let Some(s) = store {
        if let Some(m) = remembered_mapping(s, headers)? {
            return Ok((m, true));
        }
    }
    Ok((auto_map(headers, true), false))
}

/// The preview of a file from its head (at most [`PREVIEW_BYTES`]): `mapping` `None` uses the
/// suggested one. Shows the first `rows` rows.
pub fn preview(
    store: Option<&Store>,
    path: &Path,
    mapping: Option<&Mapping>,
    rows: usize,
) -> Result<Preview, ErrorReport> {
    preview_sheet(store, path, None, mapping, rows)
}

/// [`preview`] of one sheet of a workbook (the first when `None`); reads at most
/// [`PREVIEW_SHEET_ROWS`] rows of it.
pub fn preview_sheet(
    store: Option<&Store>,
    path: &Path,
    sheet: Option<&str>,
    mapping: Option<&Mapping>,
    rows: usize,
) -> Result<Preview, ErrorReport> {
    let file_size = std::fs::metadata(path).map(|m| m.len()).map_err(|e| {
        ErrorReport::local(
            Code::IoError,
            format!("Could not read {}: {e}", path.display()),
            false,
        )
    })?;
    let workbook = xlsx::kind(path) != xlsx::Kind::Text;
    let (mut r, mut complete) = if workbook {
        (TableReader::open_sheet(path, sheet)?, true)
    } else {
        if sheet.is_some() {
            // The same refusal as a full read gives.
            TableReader::open_sheet(path, sheet)?;
        }
        let format = reader::detect_format(path)?;
        let file = std::fs::File::open(path)
            .map_err(|e| ErrorReport::local(Code::IoError, e.to_string(), false))?;
        let head = std::io::Read::take(file, PREVIEW_BYTES);
        let r = TableReader::from_reader(Box::new(head), format, Some(file_size))
            .map_err(|e| ErrorReport::local(Code::IoError, e.to_string(), false))?;
        (r, file_size <= PREVIEW_BYTES)
    };
    let format = r.format().clone();
    let headers = r.headers().to_vec();
    if headers.is_empty() {
        return Err(empty_file(path, &headers));
    }
    let (mapping, remembered) = match mapping {
        Some(m) => (m.clone(), false),
        None => suggest_mapping(store, &headers)?,
    };
    let mapping_problems = mapping.problems();
    let mut counts = ValidationCounts::default();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut rec = ByteRecord::new();
    let mut pending: Option<PreviewRow> = None;
    let mut last_line_bytes = 0u64;
    while let Some(info) = r.read_row(&mut rec)? {
        if workbook && r.stats().rows > PREVIEW_SHEET_ROWS {
            complete = false;
            break;
        }
        // The last row of a cut head may be incomplete: count rows one behind.
        if let Some(p) = pending.take() {
            tally(&mut counts, &p);
            if out.len() < rows {
                out.push(p);
            }
        }
        let m = mapping::map_row(&mapping, &rec);
        let duplicate = m.errors.is_empty() && !seen.insert(m.email_key.clone());
        pending = Some(PreviewRow {
            row_number: info.line,
            lead: m.lead,
            errors: m.errors,
            dropped: m.dropped,
            duplicate,
        });
        last_line_bytes = r.stats().bytes_read;
    }
    if let Some(p) = pending.take() {
        if complete || workbook {
            tally(&mut counts, &p);
            if out.len() < rows {
                out.push(p);
            }
        }
    }
    let st = r.stats();
    if complete && counts.rows == 0 {
        return Err(empty_file(path, &headers));
    }
    counts.blank_lines = st.blank_lines;
    counts.ragged_rows = st.ragged_rows;
    let estimated_rows = if complete || counts.rows == 0 {
        counts.rows
    } else {
        let per_row = last_line_bytes.max(1) as f64 / (counts.rows + 1) as f64;
        (file_size as f64 / per_row).round() as u64
    };
    Ok(Preview {
        format,
        headers,
        mapping,
        remembered,
        mapping_problems,
        rows: out,
        counts,
        complete,
        estimated_rows,
        file_size,
    })
}

fn tally(c: &mut ValidationCounts, p: &PreviewRow) {
    c.rows += 1;
    if p.errors.is_empty() && !p.dropped.is_empty() {
        c.with_dropped_fields += 1;
    }
    if !p.errors.is_empty() {
        c.invalid += 1;
    } else if p.duplicate {
        c.duplicate += 1;
    } else {
        c.will_create += 1;
    }
}

/// The full validation pass (`--dry-run`): nothing is sent or stored. `progress` is called
/// about every 64k rows; cancelling returns the counts so far with `cancelled: true`.
pub fn validate_file(
    path: &Path,
    mapping: &Mapping,
    progress: &dyn Fn(&ReadProgress),
    cancel: &CancellationToken,
) -> Result<ValidationSummary, ErrorReport> {
    validate_sheet(path, None, mapping, progress, cancel)
}

/// [`validate_file`] of one sheet of a workbook (the first when `None`).
pub fn validate_sheet(
    path: &Path,
    sheet: Option<&str>,
    mapping: &Mapping,
    progress: &dyn Fn(&ReadProgress),
    cancel: &CancellationToken,
) -> Result<ValidationSummary, ErrorReport> {
    let mut r = TableReader::open_sheet(path, sheet)?;
    if r.headers().is_empty() {
        return Err(empty_file(path, r.headers()));
    }
    let problems = mapping.problems();
    if !problems.is_empty() {
        return Err(bad_mapping(&problems));
    }
    let size = r.size.unwrap_or(0);
    let mut counts = ValidationCounts::default();
    let mut issues = Vec::new();
    // Duplicates: 8-byte hashes of valid e-mails, sorted at the end (memory: 8 bytes per row).
    let mut hashes: Vec<u64> = Vec::new();
    let mut rec = ByteRecord::new();
    let mut mapper = mapping::RowMapper::new(mapping);
    let mut cancelled = false;
    while let Some(info) = r.read_row(&mut rec)? {
        counts.rows += 1;
        if counts.rows % 65_536 == 0 {
            let st = r.stats();
            if hashes.capacity() < hashes.len() + 131_072 && st.bytes_read > 0 {
                // Grow to the estimated total at once instead of doubling (bounded memory).
                let est = (size as f64 / st.bytes_read as f64 * counts.rows as f64 * 1.1) as usize;
                hashes.reserve_exact(est.saturating_sub(hashes.len()).max(131_072));
            }
            progress(&ReadProgress {
                rows: counts.rows,
                bytes_read: st.bytes_read,
                file_size: size,
            });
            if cancel.is_cancelled() {
                cancelled = true;
                break;
            }
        }
        let m = mapper.map(&rec);
        if m.errors.is_empty() {
            hashes.push(email_hash(&m.email_key));
            if !m.dropped.is_empty() {
                counts.with_dropped_fields += 1;
                if issues.len() < 100 {
                    issues.push(RowIssue {
                        row_number: info.line,
                        code: row_codes::DROPPED_FIELDS.into(),
                        message: format!("sent without {}", describe_dropped(&m.dropped)),
                    });
                }
            }
        } else {
            counts.invalid += 1;
            if issues.len() < 100 {
                issues.push(RowIssue {
                    row_number: info.line,
                    code: row_codes::INVALID_ROW.into(),
                    message: describe(&m.errors),
                });
            }
        }
    }
    if counts.rows == 0 && !cancelled {
        return Err(empty_file(path, r.headers()));
    }
    let valid = hashes.len() as u64;
    hashes.sort_unstable();
    hashes.dedup();
    counts.duplicate = valid - hashes.len() as u64;
    counts.will_create = hashes.len() as u64;
    let st = r.stats();
    counts.blank_lines = st.blank_lines;
    counts.ragged_rows = st.ragged_rows;
    progress(&ReadProgress {
        rows: counts.rows,
        bytes_read: st.bytes_read,
        file_size: size,
    });
    Ok(ValidationSummary {
        format: r.format().clone(),
        headers: r.headers().to_vec(),
        counts,
        issues,
        cancelled,
    })
}

/// The Idempotency-Key of one row: the import id, the row's position and a hash of its
/// normalised lead, so a rerun of the same import replays and an edited file never reuses a key
/// for other content.
pub fn row_key(import_id: &str, row_number: u64, payload: &str) -> String {
    let d = Sha256::digest(payload.as_bytes());
    format!("imp-{import_id}-{row_number}-{}", hex::encode(&d[..8]))
}

/// Saves a new import and journals every row of the file (see the module docs). Rows the
/// mapping makes invalid, and later rows repeating an e-mail, are journaled `skipped`.
pub fn stage(
    store: &Store,
    owner: &Owner,
    path: &Path,
    mapping: &Mapping,
    progress: &dyn Fn(&ReadProgress),
    cancel: &CancellationToken,
) -> Result<ImportJob, ErrorReport> {
    stage_sheet(store, owner, path, None, mapping, progress, cancel)
}

/// [`stage`] of one sheet of a workbook (the first when `None`); the sheet is kept with the
/// import, so resuming reads the same one.
pub fn stage_sheet(
    store: &Store,
    owner: &Owner,
    path: &Path,
    sheet: Option<&str>,
    mapping: &Mapping,
    progress: &dyn Fn(&ReadProgress),
    cancel: &CancellationToken,
) -> Result<ImportJob, ErrorReport> {
    let mut r = TableReader::open_sheet(path, sheet)?;
    if r.headers().is_empty() {
        return Err(empty_file(path, r.headers()));
    }
    let problems = mapping.problems();
    if !problems.is_empty() {
        return Err(bad_mapping(&problems));
    }
    // Nothing is saved for a file without rows.
    if r.read_row(&mut ByteRecord::new())?.is_none() {
        return Err(empty_file(path, r.headers()));
    }
    journal::migrate(store)?;
    let id = format!("imp_{}", crate::leads::random_hex(8));
    let now = crate::api::observer::now_utc_ms();
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    store
        .with_conn(|c| {
            c.execute(
                "INSERT INTO import_jobs (id, file_path, file_name, file_size, headers_json, format_json, mapping_json, status, created_at, updated_at, workspace_id, workspace_name, key_prefix)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12)",
                params![
                    id,
                    abs.to_string_lossy(),
                    file_name,
                    r.size.unwrap_or(0) as i64,
                    serde_json::to_string(r.headers()).unwrap_or_default(),
                    serde_json::to_string(r.format()).unwrap_or_default(),
                    serde_json::to_string(mapping).unwrap_or_default(),
                    status::STAGING,
                    now,
                    owner.workspace_id,
                    owner.workspace_name,
                    owner.key_prefix
                ],
            )
        })
        .map_err(store_err)?;
    let _ = remember_mapping(store, r.headers(), mapping);
    let sheet = r.format().sheet.clone();
    drop(r);
    stage_rows(
        store,
        &id,
        path,
        sheet.as_deref(),
        mapping,
        progress,
        cancel,
    )?;
    get_import(store, &id)
}

/// A row on its way to the journal.
struct StagedRow {
    row: u64,
    state: &'static str,
    key: String,
    payload: String,
    original: String,
    error: Option<(String, String)>,
    /// JSON of the dropped values, when there are some.
    dropped: Option<String>,
}

/// (Re)writes the rows of a `staging` import; run again after a crash mid-way.
fn stage_rows(
    store: &Store,
    id: &str,
    path: &Path,
    sheet: Option<&str>,
    mapping: &Mapping,
    progress: &dyn Fn(&ReadProgress),
    cancel: &CancellationToken,
) -> Result<(), ErrorReport> {
    let mut r = TableReader::open_sheet(path, sheet)?;
    let size = r.size.unwrap_or(0);
    store
        .with_conn(|c| {
            c.execute("DELETE FROM import_rows WHERE import_id = ?1", [id])?;
            // A batch's range names rows by number: none may outlive the rows it named.
            c.execute("DELETE FROM import_batches WHERE import_id = ?1", [id])?;
            c.execute("DELETE FROM import_row_data WHERE import_id = ?1", [id])
        })
        .map_err(store_err)?;
    let mut seen = std::collections::HashSet::new();
    let mut rec = ByteRecord::new();
    let mut mapper = mapping::RowMapper::new(mapping);
    let mut dropped_rows = 0u64;
    let mut batch: Vec<StagedRow> = Vec::with_capacity(4096);
    let flush = |batch: &mut Vec<StagedRow>| -> Result<(), ErrorReport> {
        store
            .with_conn(|c| {
                let tx = c.transaction()?;
                {
                    let mut ins = tx.prepare_cached(
                        "INSERT INTO import_rows (import_id, row_number, state, idempotency_key, error_code, error_message, dropped)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?;
                    let mut data = tx.prepare_cached(
                        "INSERT INTO import_row_data (import_id, row_number, payload, original) VALUES (?1, ?2, ?3, ?4)",
                    )?;
                    for r in batch.drain(..) {
                        let (code, msg) = match r.error {
                            Some((c, m)) => (Some(c), Some(m)),
                            None => (None, None),
                        };
                        ins.execute(params![
                            id,
                            r.row as i64,
                            r.state,
                            r.key,
                            code,
                            msg,
                            r.dropped
                        ])?;
                        data.execute(params![id, r.row as i64, r.payload, r.original])?;
                    }
                }
                tx.commit()
            })
            .map_err(store_err)
    };
    while let Some(info) = r.read_row(&mut rec)? {
        if cancel.is_cancelled() {
            return Err(ErrorReport::local(
                Code::Cancelled,
                "The import was cancelled before it started.",
                false,
            ));
        }
        let original = serde_json::to_string(&reader::cells(&rec)).unwrap_or_default();
        let m = mapper.map(&rec);
        let payload = serde_json::to_string(&m.lead).unwrap_or_default();
        let key = row_key(id, info.line, &payload);
        let (st, err) = if !m.errors.is_empty() {
            (
                state::SKIPPED,
                Some((row_codes::INVALID_ROW.to_owned(), describe(&m.errors))),
            )
        } else if !seen.insert(email_hash(&m.email_key)) {
            (
                state::SKIPPED,
                Some((
                    row_codes::DUPLICATE_EMAIL.to_owned(),
                    format!("an earlier row has the e-mail {}", m.lead.email),
                )),
            )
        } else {
            (state::PENDING, None)
        };
        if st == state::PENDING && !m.dropped.is_empty() {
            dropped_rows += 1;
        }
        let dropped =
            (!m.dropped.is_empty()).then(|| serde_json::to_string(&m.dropped).unwrap_or_default());
        batch.push(StagedRow {
            row: info.line,
            state: st,
            key,
            payload,
            original,
            error: err,
            dropped,
        });
        if batch.len() >= 4096 {
            flush(&mut batch)?;
            let st = r.stats();
            progress(&ReadProgress {
                rows: st.rows,
                bytes_read: st.bytes_read,
                file_size: size,
            });
        }
    }
    flush(&mut batch)?;
    let st = r.stats();
    journal::set_read_stats(store, id, &st, dropped_rows)?;
    journal::set_status(store, id, status::READY)?;
    progress(&ReadProgress {
        rows: st.rows,
        bytes_read: st.bytes_read,
        file_size: size,
    });
    Ok(())
}

/// Finishes the staging of an import that was interrupted while staging (same id, same keys).
pub fn restage(
    store: &Store,
    import_id: &str,
    progress: &dyn Fn(&ReadProgress),
    cancel: &CancellationToken,
) -> Result<(), ErrorReport> {
    let job = get_import(store, import_id)?;
    if job.status != status::STAGING {
        return Ok(());
    }
    stage_rows(
        store,
        import_id,
        Path::new(&job.file_path),
        job.format.sheet.as_deref(),
        &job.mapping,
        progress,
        cancel,
    )
}

/// Cancels an import for good: rows not yet sent become `skipped` (`cancelled`). Cancel the
/// running [`run`]'s token first.
pub fn cancel_import(store: &Store, import_id: &str) -> Result<ImportJob, ErrorReport> {
    get_import(store, import_id)?;
    // Rows the review does not send keep their own reason, not "cancelled".
    review::settle_all(store, import_id)?;
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE import_rows SET state = ?2, error_code = ?3, error_message = ?4
                 WHERE import_id = ?1 AND state IN ('pending', 'in_flight')",
                params![
                    import_id,
                    state::SKIPPED,
                    row_codes::CANCELLED,
                    "the import was cancelled before this row was sent"
                ],
            )
        })
        .map_err(store_err)?;
    journal::set_status(store, import_id, status::CANCELLED)?;
    get_import(store, import_id)
}

/// "Retry failed rows": failed rows go back to `pending` (same keys: a row that was in fact
/// created is replayed, not duplicated); the import is ready to [`run`] again. Failed rows inside
/// the range of a bulk import job still in flight wait until it ends: a `pending` row there would
/// count as one of the job's (see `bulk`).
pub fn retry_failed(store: &Store, import_id: &str) -> Result<ImportJob, ErrorReport> {
    get_import(store, import_id)?;
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE import_rows SET state = 'pending', attempts = 0 WHERE import_id = ?1 AND state = 'failed'
                   AND NOT EXISTS (SELECT 1 FROM import_batches b WHERE b.import_id = import_rows.import_id
                     AND b.state IN ('open', 'accepted') AND import_rows.row_number BETWEEN b.first_row AND b.last_row)",
                [import_id],
            )
        })
        .map_err(store_err)?;
    journal::set_status(store, import_id, status::READY)?;
    get_import(store, import_id)
}

/// The fuzzing entry point (the cargo-fuzz target `reader` and the bounded random run in the
/// test suite call it): reads any bytes as a table, maps it automatically and maps every row.
/// Must never panic.
pub fn fuzz_entry(data: &[u8]) {
    let Ok(mut r) = TableReader::from_bytes(data.to_vec()) else {
        return;
    };
    let mapping = auto_map(r.headers(), true);
    let _ = mapping.problems();
    let mut rec = ByteRecord::new();
    let mut rows = 0;
    let mut mapper = mapping::RowMapper::new(&mapping);
    while let Ok(Some(_)) = r.read_row(&mut rec) {
        let m = mapper.map(&rec);
        // Reused buffers never leak one row into the next.
        assert_eq!(*m, mapping::map_row(&mapping, &rec));
        let _ = serde_json::to_string(&m.lead);
        for c in reader::cells(&rec) {
            let _ = neutralize(&c);
        }
        rows += 1;
        if rows > 100_000 {
            break;
        }
    }
    let _ = r.stats();
}
