//! The review: before anything is sent, every row of an import is classified against the
//! workspace's leads as the local mirror has them, for the import mode the user chose.
//!
//! | the mirror has the row's e-mail | create (default) | upsert | update |
//! |---|---|---|---|
//! | no lead | `create` | `create` | `skipped_missing` |
//! | one lead, some field sent differs (`custom_fields` counts whole, as it is written) | `skipped_exists` | `update` (old → new per field) | `update` |
//! | one lead, every field sent is equal | `skipped_exists` | `unchanged` | `unchanged` |
//! | two or more leads | `skipped_exists` | `ambiguous` (the server answers 409) | `ambiguous` |
//!
//! Rows the staging refused keep their class: `invalid` (the field and why) and `duplicate`
//! (an earlier row of the file has that e-mail). E-mails match as the server matches them:
//! trimmed (the staging trims) and without regard to case. A review of
//! [`KNOWN_EMAILS_FROM_ROWS`] rows or more first reads the hashes of the mirror's e-mails with
//! their rowids ([`known_emails`], 18 bytes per lead); a row whose hash is absent has no lead,
//! and the leads of the others are read by rowid, a chunk of rows at a time in rowid order
//! ([`Reviewer::classify_all`]).
//!
//! Only `create` and `update` rows are sent. The review of an import is stored per row in the
//! narrow table `import_row_reviews` (class, matched lead, changes; read by the senders,
//! [`review_rows`] and [`write_review`]), not in the journal's `import_rows`: a review that
//! rewrote the journal rows it decides (a quarter of a file, spread through it) pushed nearly
//! every page of a large import through the WAL. It can be run again (another mode, a fresher
//! mirror) until the first row is sent. A row it does not send is settled later:
//!
//! | a row the review does not send (`unchanged`, `skipped_*`, `ambiguous`) | its journal row |
//! |---|---|
//! | reviewed | stays `pending`, untouched; `import_jobs.review_unsettled` counts it, and [`journal::counts`] reads it as skipped |
//! | a sender reaches it (per row or bulk) | journalled `skipped` with the class's code ([`row_codes`](super::row_codes)) and why, in the transaction that claims the rows around it ([`settle`]), so the error report lists it with why |
//! | the import is cancelled, or its error report written, first | all such rows settled at once ([`settle_all`]) |
//! | reviewed again | back to `pending` where an earlier review's settlement made it `skipped` (an import reviewed by an older version has those), so the new review decides |
//!
//! An `unchanged` row is not sent: the server would change nothing.
//!
//! How rows go out per mode: `create` as POST `/leads`, `upsert` as POST `/leads/upsert`, and
//! `update` as PATCH `/leads/{id}` of the lead the review matched (so "update existing only"
//! never creates one: a lead deleted since the review answers 404 and the row fails with why).
//! The server's answer is the final word; where it disagrees with the review (someone changed
//! the lead meanwhile), the row's `note` says so, and the success file shows it
//! ([`disagreement`]).
//!
//! The mirror is synced first when it is empty, its last sync ended more than
//! [`MIRROR_MAX_AGE`] ago, or an import of the workspace sent rows since ([`mirror_needs_sync`]); the fronts run that sync their own way (the
//! app through its one sync job, the CLI as `pb2b sync`), and the review says how fresh the
//! mirror was ([`MirrorFreshness`]).

use std::path::Path;

use csv::ByteRecord;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use super::journal::{self, state, status, store_err};
use super::mapping::{self, ColumnTarget, Mapping};
use super::reader::TableReader;
use super::{email_hash, empty_file, row_codes, ReadProgress};
use crate::api::{Lead, NewLead, UpsertResult};
use crate::error::{Code, ErrorReport};
use crate::store::Store;
use crate::sync::{formula_safe, SyncStatus};

/// How old the mirror's last sync may be for a review to use it without syncing first.
pub const MIRROR_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// What an import does with rows whose e-mail the workspace already has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "ImportMode.ts")]
pub enum ImportMode {
    /// "Create new leads only": rows whose e-mail exists are skipped (a re-import never
    /// duplicates).
    #[default]
    Create,
    /// "Create and update".
    Upsert,
    /// "Update existing only": rows whose e-mail is not in the workspace are skipped.
    Update,
}

impl ImportMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMode::Create => "create",
            ImportMode::Upsert => "upsert",
            ImportMode::Update => "update",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "create" => Some(ImportMode::Create),
            "upsert" => Some(ImportMode::Upsert),
            "update" => Some(ImportMode::Update),
            _ => None,
        }
    }
}

/// The class of one row in the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "ReviewClass.ts")]
pub enum ReviewClass {
    Create,
    Update,
    Unchanged,
    SkippedExists,
    SkippedMissing,
    Ambiguous,
    Invalid,
    Duplicate,
}

impl ReviewClass {
    pub const ALL: [ReviewClass; 8] = [
        ReviewClass::Create,
        ReviewClass::Update,
        ReviewClass::Unchanged,
        ReviewClass::SkippedExists,
        ReviewClass::SkippedMissing,
        ReviewClass::Ambiguous,
        ReviewClass::Invalid,
        ReviewClass::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewClass::Create => "create",
            ReviewClass::Update => "update",
            ReviewClass::Unchanged => "unchanged",
            ReviewClass::SkippedExists => "skipped_exists",
            ReviewClass::SkippedMissing => "skipped_missing",
            ReviewClass::Ambiguous => "ambiguous",
            ReviewClass::Invalid => "invalid",
            ReviewClass::Duplicate => "duplicate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// How a person reads the class (the CLI's counts; the app has the same words).
    pub fn label(self) -> &'static str {
        match self {
            ReviewClass::Create => "create",
            ReviewClass::Update => "update",
            ReviewClass::Unchanged => "unchanged",
            ReviewClass::SkippedExists => "skipped (exists)",
            ReviewClass::SkippedMissing => "skipped (not in the workspace)",
            ReviewClass::Ambiguous => "skipped (several leads have the e-mail)",
            ReviewClass::Invalid => "invalid",
            ReviewClass::Duplicate => "duplicate within the file",
        }
    }

    /// Whether rows of this class are sent.
    pub fn is_sent(self) -> bool {
        matches!(self, ReviewClass::Create | ReviewClass::Update)
    }

    /// Whether a row of this class is left `pending` by the review for a sender to settle (see
    /// the module doc): not sent, and not refused by the staging (those are `skipped` already).
    pub fn settles_later(self) -> bool {
        !self.is_sent() && !matches!(self, ReviewClass::Invalid | ReviewClass::Duplicate)
    }

    /// The journal's code of a row of this class that is not sent, and why, for the error report.
    fn skip(self, email: &str) -> Option<(&'static str, String)> {
        match self {
            ReviewClass::Unchanged => Some((
                row_codes::UNCHANGED,
                format!("the lead with the e-mail {email} already holds these values"),
            )),
            ReviewClass::SkippedExists => Some((
                row_codes::EXISTS,
                format!("the workspace already has a lead with the e-mail {email} (mode: create new leads only)"),
            )),
            ReviewClass::SkippedMissing => Some((
                row_codes::NOT_IN_WORKSPACE,
                format!("the workspace has no lead with the e-mail {email} (mode: update existing only)"),
            )),
            ReviewClass::Ambiguous => Some((
                row_codes::AMBIGUOUS,
                format!("the workspace has several leads with the e-mail {email}; edit one of them by hand"),
            )),
            _ => None,
        }
    }
}

/// One field the row would change (`field` is `company_name`, or `custom_fields.<key>`): its
/// value in the workspace and in the file. The same type as a lead edit's change.
pub use crate::leads::FieldChange;

fn describe_change(c: &FieldChange) -> String {
    let show = |v: &Option<String>| {
        v.as_deref()
            .map_or("(empty)".to_owned(), |v| format!("“{v}”"))
    };
    format!("{}: {} → {}", c.field, show(&c.old), show(&c.new))
}

/// Counts per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "ReviewCounts.ts")]
pub struct ReviewCounts {
    #[ts(type = "number")]
    pub create: u64,
    #[ts(type = "number")]
    pub update: u64,
    #[ts(type = "number")]
    pub unchanged: u64,
    #[ts(type = "number")]
    pub skipped_exists: u64,
    #[ts(type = "number")]
    pub skipped_missing: u64,
    #[ts(type = "number")]
    pub ambiguous: u64,
    #[ts(type = "number")]
    pub invalid: u64,
    #[ts(type = "number")]
    pub duplicate: u64,
}

impl ReviewCounts {
    fn add(&mut self, class: ReviewClass) {
        *self.get_mut(class) += 1;
    }

    fn get_mut(&mut self, class: ReviewClass) -> &mut u64 {
        match class {
            ReviewClass::Create => &mut self.create,
            ReviewClass::Update => &mut self.update,
            ReviewClass::Unchanged => &mut self.unchanged,
            ReviewClass::SkippedExists => &mut self.skipped_exists,
            ReviewClass::SkippedMissing => &mut self.skipped_missing,
            ReviewClass::Ambiguous => &mut self.ambiguous,
            ReviewClass::Invalid => &mut self.invalid,
            ReviewClass::Duplicate => &mut self.duplicate,
        }
    }

    pub fn get(&self, class: ReviewClass) -> u64 {
        let mut c = *self;
        *c.get_mut(class)
    }

    /// Rows the import will send.
    pub fn to_send(&self) -> u64 {
        self.create + self.update
    }
}

/// How fresh the mirror the review used was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "MirrorFreshness.ts")]
pub struct MirrorFreshness {
    /// When its last sync ended (`null`: never synced).
    pub synced_at: Option<String>,
    #[ts(type = "number")]
    pub leads: u64,
    /// The review synced it first (it was empty or older than five minutes).
    pub synced_now: bool,
}

/// The review of an import, or of a file (`import_id` null: `--dry-run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export_to = "ImportReview.ts")]
pub struct ImportReview {
    pub import_id: Option<String>,
    pub mode: ImportMode,
    pub counts: ReviewCounts,
    pub mirror: MirrorFreshness,
    /// The review stopped when cancelled (a `--dry-run`): counts cover the rows read so far.
    pub cancelled: bool,
}

/// One row of the review's table.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "ReviewRow.ts")]
pub struct ReviewRow {
    #[ts(type = "number")]
    pub row_number: u64,
    pub email: String,
    pub class: ReviewClass,
    /// The workspace's lead the row matched.
    pub lead_id: Option<String>,
    pub changes: Vec<FieldChange>,
    /// Why the row is skipped or invalid; empty otherwise.
    pub reason: String,
}

/// A page of the review's rows.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "ReviewPage.ts")]
pub struct ReviewPage {
    pub rows: Vec<ReviewRow>,
    /// Rows of the class asked (all when none).
    #[ts(type = "number")]
    pub total: u64,
    #[ts(type = "number")]
    pub offset: u64,
}

/// Why the mirror must be synced before a review, or `None` when it is fresh enough.
/// `last_import_sent_at`: when an import of this workspace last sent rows
/// ([`last_import_sent_at`]); the leads it made are not in the mirror until a sync reads them.
pub fn mirror_needs_sync(
    status: &SyncStatus,
    now_ms: i64,
    last_import_sent_at: Option<&str>,
) -> Option<&'static str> {
    let Some(ended) = status
        .last_finished_at
        .as_deref()
        .and_then(crate::sync::parse_timestamp)
    else {
        return Some("it has never been synced");
    };
    if status.total_leads == 0 {
        return Some("it is empty");
    }
    if status.interrupted {
        return Some("its last sync did not finish");
    }
    if now_ms - ended > MIRROR_MAX_AGE.as_millis() as i64 {
        return Some("its last sync is more than five minutes old");
    }
    if last_import_sent_at
        .and_then(crate::sync::parse_timestamp)
        .is_some_and(|sent| sent >= ended)
    {
        return Some("an import sent leads since its last sync");
    }
    None
}

/// When an import of workspace `workspace_id` last sent rows (its journal's last change while
/// running, paused, completed or cancelled), if one ever did.
pub fn last_import_sent_at(
    store: &Store,
    workspace_id: &str,
) -> Result<Option<String>, ErrorReport> {
    journal::migrate(store)?;
    store
        .with_conn(|c| {
            c.query_row(
                "SELECT max(updated_at) FROM import_jobs
                 WHERE workspace_id = ?1 AND status IN ('running', 'paused', 'completed', 'cancelled')",
                [workspace_id],
                |r| r.get(0),
            )
        })
        .map_err(store_err)
}

/// The verdict on one valid row.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub class: ReviewClass,
    pub lead_id: Option<String>,
    pub lead_updated_at: Option<String>,
    pub changes: Vec<FieldChange>,
}

/// Classifies rows against one workspace's mirror (see the module docs' table). Holds a
/// connection to the store the mirror is in.
pub struct Reviewer<'c> {
    conn: &'c Connection,
    mirror: &'c str,
    mode: ImportMode,
    /// [`known_emails`] of the mirror, when loaded: a row whose e-mail is not among them has no
    /// lead, and one whose e-mail is among them is read by rowid, without the e-mail lookup.
    known: Option<&'c KnownEmails>,
}

/// How many rows a review must have before it loads [`known_emails`] (one pass over the
/// mirror's e-mail index) to skip the lookups of e-mails the mirror lacks.
pub const KNOWN_EMAILS_FROM_ROWS: u64 = 8192;

/// The hash of an e-mail as the mirror's lookup matches it (`COLLATE NOCASE`: ASCII case
/// folded, nothing else), for [`known_emails`].
fn folded_hash(email: &str, buf: &mut String) -> u64 {
    buf.clear();
    buf.push_str(email);
    buf.make_ascii_lowercase();
    email_hash(buf)
}

/// The mirror's e-mails as a review looks them up ([`known_emails`]): per lead the
/// [`folded_hash`] of its e-mail and its rowid, sorted, with an index on the hashes' top bits
/// (18 bytes per lead). Equal e-mails under `NOCASE` have equal hashes, so a row whose hash is
/// absent has no lead, and the leads a row may match are the few with its hash: read by rowid,
/// their e-mail compared as `NOCASE` compares.
pub struct KnownEmails {
    /// (hash, rowid), sorted.
    entries: Vec<(u64, i64)>,
    /// `starts[b]`: the first entry whose hash's top bits are `b` or more (one more than buckets).
    starts: Vec<usize>,
    /// 64 minus the bits of a bucket number (33..=64).
    shift: u32,
    /// [`folded_hash`] (a test's degenerate hash makes every lead a candidate of every row).
    hash: fn(&str, &mut String) -> u64,
}

impl KnownEmails {
    fn new(mut entries: Vec<(u64, i64)>, hash: fn(&str, &mut String) -> u64) -> Self {
        entries.sort_unstable();
        // About four entries per bucket: one cache line to scan after one index read.
        let bits = (entries.len() / 4).max(1).ilog2().min(31);
        let shift = 64 - bits;
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        let mut i = 0usize;
        for b in 0..=(1u64 << bits) {
            while i < entries.len() && Self::bucket_of(entries[i].0, shift) < b {
                i += 1;
            }
            starts.push(i);
        }
        KnownEmails {
            entries,
            starts,
            shift,
            hash,
        }
    }

    /// The bucket of hash `h` (`shift` may be 64: no bits, one bucket).
    fn bucket_of(h: u64, shift: u32) -> u64 {
        h.checked_shr(shift).unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries of hash `h`'s bucket, as a range.
    fn bucket(&self, h: u64) -> (usize, usize) {
        let b = Self::bucket_of(h, self.shift) as usize;
        (self.starts[b], self.starts[b + 1])
    }

    /// The entries whose hash is `h`, of its [`bucket`](Self::bucket) `(from, to)`.
    fn with_hash(&self, (from, to): (usize, usize), h: u64) -> &[(u64, i64)] {
        let bucket = &self.entries[from..to];
        let from = bucket.partition_point(|e| e.0 < h);
        let to = from + bucket[from..].partition_point(|e| e.0 == h);
        &bucket[from..to]
    }
}

/// The [`KnownEmails`] of the mirror `mirror`: one pass over its e-mail index.
pub fn known_emails(conn: &Connection, mirror: &str) -> rusqlite::Result<KnownEmails> {
    known_emails_by(conn, mirror, folded_hash)
}

/// [`known_emails`] with the hash given.
fn known_emails_by(
    conn: &Connection,
    mirror: &str,
    hash: fn(&str, &mut String) -> u64,
) -> rusqlite::Result<KnownEmails> {
    let mut buf = String::new();
    let mut st = conn.prepare("SELECT rid, email FROM sync_leads WHERE mirror = ?1")?;
    let mut out = Vec::new();
    let mut rows = st.query([mirror])?;
    while let Some(r) = rows.next()? {
        if let Ok(e) = r.get_ref(1)?.as_str() {
            out.push((hash(e, &mut buf), r.get(0)?));
        }
    }
    Ok(KnownEmails::new(out, hash))
}

/// The lookup of [`Reviewer::classify`], built once.
static LOOKUP_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {} FROM sync_leads WHERE mirror = ?1 AND email = ?2 COLLATE NOCASE LIMIT 2",
        crate::sync::LEAD_FIELDS.join(", ")
    )
});

/// The read of a lead by rowid for [`Reviewer::classify_all`]: its e-mail (compared there) and
/// the columns the mode needs. A create-only review needs the lead's id and version only.
static BY_ROWID_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {} FROM sync_leads WHERE rid = ?1 AND mirror = ?2",
        crate::sync::LEAD_FIELDS.join(", ")
    )
});
const BY_ROWID_CREATE_SQL: &str =
    "SELECT id, email, updated_at FROM sync_leads WHERE rid = ?1 AND mirror = ?2";

impl<'c> Reviewer<'c> {
    pub fn new(conn: &'c Connection, mirror: &'c str, mode: ImportMode) -> Self {
        Reviewer {
            conn,
            mirror,
            mode,
            known: None,
        }
    }

    /// The same reviewer, looking leads up through `known` ([`known_emails`] of the same mirror).
    pub fn with_known(mut self, known: Option<&'c KnownEmails>) -> Self {
        self.known = known;
        self
    }

    /// The class of a valid row, first of its e-mail in the file.
    pub fn classify(&self, lead: &NewLead) -> rusqlite::Result<Verdict> {
        if self.known.is_some() {
            let mut v = self.classify_all(std::slice::from_ref(lead))?;
            return Ok(v.pop().expect("one verdict per row"));
        }
        let email = lead.email.trim();
        let mut st = self.conn.prepare_cached(&LOOKUP_SQL)?;
        let found: Vec<Lead> = st
            .query_map(params![self.mirror, email], |r| {
                crate::sync::lead_from_offset(r, 0)
            })?
            .collect::<Result<_, _>>()?;
        let mut matched = Matched::Nothing;
        for one in &found {
            matched.add(
                self.mode,
                lead,
                || Ok(Existing::of(one)),
                &one.id,
                &one.updated_at,
            )?;
        }
        Ok(matched.verdict(self.mode))
    }

    /// The classes of valid rows, each first of its e-mail in the file, in their order. With
    /// [`known_emails`], the leads the rows may match are read by rowid in rowid order (one
    /// forward pass over the table instead of an index seek and a table seek per row), and
    /// kept where their e-mail equals the row's as `NOCASE` compares (ASCII case folded):
    /// the verdicts are [`classify`](Self::classify)'s without them.
    pub fn classify_all<L: std::borrow::Borrow<NewLead>>(
        &self,
        leads: &[L],
    ) -> rusqlite::Result<Vec<Verdict>> {
        let Some(known) = self.known else {
            return leads.iter().map(|l| self.classify(l.borrow())).collect();
        };
        let mut buf = String::new();
        // (rowid, row) of every lead a row may match. In passes (hashes, buckets, entries), so
        // the reads of the hash index, which miss the CPU's caches, are independent of each
        // other and overlap.
        let hashes: Vec<u64> = leads
            .iter()
            .map(|l| (known.hash)(l.borrow().email.trim(), &mut buf))
            .collect();
        let buckets: Vec<(usize, usize)> = hashes.iter().map(|&h| known.bucket(h)).collect();
        let mut wanted: Vec<(i64, u32)> = Vec::new();
        for (i, (&h, &bucket)) in hashes.iter().zip(&buckets).enumerate() {
            wanted.extend(
                known
                    .with_hash(bucket, h)
                    .iter()
                    .map(|&(_, rid)| (rid, i as u32)),
            );
        }
        wanted.sort_unstable();
        let mut matched: Vec<Matched> = Vec::new();
        matched.resize_with(leads.len(), || Matched::Nothing);
        if !wanted.is_empty() {
            let create = self.mode == ImportMode::Create;
            let mut st = self.conn.prepare_cached(if create {
                BY_ROWID_CREATE_SQL
            } else {
                &BY_ROWID_SQL
            })?;
            // Columns of the lead in the two reads.
            let (email_col, updated_col) = if create { (1, 2) } else { (1, 14) };
            let mut at = 0;
            while at < wanted.len() {
                let rid = wanted[at].0;
                let same = wanted[at..].partition_point(|w| w.0 == rid);
                let rows = &wanted[at..at + same];
                at += same;
                let mut q = st.query(params![rid, self.mirror])?;
                let Some(r) = q.next()? else { continue };
                let Ok(email) = r.get_ref(email_col)?.as_str() else {
                    continue;
                };
                for &(_, i) in rows {
                    let lead = leads[i as usize].borrow();
                    if !email.eq_ignore_ascii_case(lead.email.trim()) {
                        continue;
                    }
                    matched[i as usize].add(
                        self.mode,
                        lead,
                        || Existing::of_row(r, lead.custom_fields.is_some()),
                        text(r, 0)?.unwrap_or_default(),
                        text(r, updated_col)?.unwrap_or_default(),
                    )?;
                }
            }
        }
        Ok(matched.into_iter().map(|m| m.verdict(self.mode)).collect())
    }
}

/// What a row matched in the mirror, as the verdict needs it.
enum Matched {
    Nothing,
    /// One lead: its id and version, and for a mode that may update it, the changes.
    One {
        id: String,
        updated_at: String,
        changes: Vec<FieldChange>,
    },
    Several,
}

impl Matched {
    /// Counts one more lead with the row's e-mail (`existing`: its values, read only when
    /// the changes are needed).
    fn add<'a>(
        &mut self,
        mode: ImportMode,
        lead: &NewLead,
        existing: impl FnOnce() -> rusqlite::Result<Existing<'a>>,
        id: &str,
        updated_at: &str,
    ) -> rusqlite::Result<()> {
        *self = match self {
            Matched::Nothing => Matched::One {
                id: id.to_owned(),
                updated_at: updated_at.to_owned(),
                changes: if mode == ImportMode::Create {
                    Vec::new()
                } else {
                    diff_existing(lead, &existing()?)
                },
            },
            _ => Matched::Several,
        };
        Ok(())
    }

    /// The verdict (see the module docs' table).
    fn verdict(self, mode: ImportMode) -> Verdict {
        let verdict = |class, lead_id, lead_updated_at, changes| Verdict {
            class,
            lead_id,
            lead_updated_at,
            changes,
        };
        match (self, mode) {
            (Matched::Nothing, ImportMode::Update) => {
                verdict(ReviewClass::SkippedMissing, None, None, vec![])
            }
            (Matched::Nothing, _) => verdict(ReviewClass::Create, None, None, vec![]),
            (Matched::One { id, updated_at, .. }, ImportMode::Create) => verdict(
                ReviewClass::SkippedExists,
                Some(id),
                Some(updated_at),
                vec![],
            ),
            (
                Matched::One {
                    id,
                    updated_at,
                    changes,
                },
                _,
            ) => {
                let class = if changes.is_empty() {
                    ReviewClass::Unchanged
                } else {
                    ReviewClass::Update
                };
                verdict(class, Some(id), Some(updated_at), changes)
            }
            (Matched::Several, ImportMode::Create) => {
                verdict(ReviewClass::SkippedExists, None, None, vec![])
            }
            (Matched::Several, _) => verdict(ReviewClass::Ambiguous, None, None, vec![]),
        }
    }
}

/// Column `i` of `r` as text (`None`: NULL), borrowed; the same values `r.get::<_, Option<String>>`
/// reads.
fn text<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<&'r str>> {
    use rusqlite::types::{FromSqlError, ValueRef};
    match r.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t).map(Some).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                i,
                rusqlite::types::Type::Text,
                Box::new(FromSqlError::Other(Box::new(e))),
            )
        }),
        other => Err(rusqlite::Error::InvalidColumnType(
            i,
            LEAD_COLUMN_NAMES.get(i).copied().unwrap_or("?").to_owned(),
            other.data_type(),
        )),
    }
}

const LEAD_COLUMN_NAMES: [&str; 15] = crate::sync::LEAD_FIELDS;

/// A lead's values as [`diff`] compares them, borrowed from a [`Lead`] or from a mirror row.
struct Existing<'a> {
    full_name: Option<&'a str>,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    phone: Option<&'a str>,
    job_title: Option<&'a str>,
    company_name: Option<&'a str>,
    company_domain: Option<&'a str>,
    linkedin_url: Option<&'a str>,
    status: &'a str,
    source: &'a str,
    custom_fields: std::borrow::Cow<'a, serde_json::Map<String, Value>>,
}

impl<'a> Existing<'a> {
    fn of(l: &'a Lead) -> Self {
        Existing {
            full_name: l.full_name.as_deref(),
            first_name: l.first_name.as_deref(),
            last_name: l.last_name.as_deref(),
            phone: l.phone.as_deref(),
            job_title: l.job_title.as_deref(),
            company_name: l.company_name.as_deref(),
            company_domain: l.company_domain.as_deref(),
            linkedin_url: l.linkedin_url.as_deref(),
            status: &l.status,
            source: &l.source,
            custom_fields: std::borrow::Cow::Borrowed(&l.custom_fields),
        }
    }

    /// The values of a row read with [`crate::sync::LEAD_FIELDS`] (as
    /// [`crate::sync::lead_from_offset`] reads them); its custom fields only if `custom` (the
    /// diff reads them only for a row that sends custom fields).
    fn of_row(r: &'a rusqlite::Row<'_>, custom: bool) -> rusqlite::Result<Self> {
        let required = |i| {
            text(r, i)?.ok_or(rusqlite::Error::InvalidColumnType(
                i,
                LEAD_COLUMN_NAMES[i].to_owned(),
                rusqlite::types::Type::Null,
            ))
        };
        Ok(Existing {
            full_name: text(r, 2)?,
            first_name: text(r, 3)?,
            last_name: text(r, 4)?,
            phone: text(r, 5)?,
            job_title: text(r, 6)?,
            company_name: text(r, 7)?,
            company_domain: text(r, 8)?,
            linkedin_url: text(r, 9)?,
            status: required(10)?,
            source: required(11)?,
            custom_fields: std::borrow::Cow::Owned(if custom {
                crate::sync::custom_fields_of(required(12)?)
            } else {
                serde_json::Map::new()
            }),
        })
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The fields `lead` sends that `existing` holds otherwise (an upsert writes only the fields
/// present, and never the e-mail).
pub fn diff(lead: &NewLead, existing: &Lead) -> Vec<FieldChange> {
    diff_existing(lead, &Existing::of(existing))
}

/// [`diff`] against borrowed values.
fn diff_existing(lead: &NewLead, existing: &Existing<'_>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut field = |name: &str, new: &Option<String>, old: Option<&str>| {
        if let Some(new) = new {
            if old != Some(new.as_str()) {
                out.push(FieldChange {
                    field: name.to_owned(),
                    old: old.map(str::to_owned),
                    new: Some(new.clone()),
                });
            }
        }
    };
    field("full_name", &lead.full_name, existing.full_name);
    field("first_name", &lead.first_name, existing.first_name);
    field("last_name", &lead.last_name, existing.last_name);
    field("phone", &lead.phone, existing.phone);
    field("job_title", &lead.job_title, existing.job_title);
    field("company_name", &lead.company_name, existing.company_name);
    field(
        "company_domain",
        &lead.company_domain,
        existing.company_domain,
    );
    field("linkedin_url", &lead.linkedin_url, existing.linkedin_url);
    field("status", &lead.status, Some(existing.status));
    field("source", &lead.source, Some(existing.source));
    // `custom_fields` is written whole: a key the row lacks is removed from the lead.
    if let Some(custom) = &lead.custom_fields {
        for (k, v) in custom {
            let old = existing.custom_fields.get(k);
            if old != Some(v) {
                out.push(FieldChange {
                    field: format!("custom_fields.{k}"),
                    old: old.and_then(value_text),
                    new: value_text(v),
                });
            }
        }
        for (k, v) in existing.custom_fields.iter() {
            if !custom.contains_key(k) {
                out.push(FieldChange {
                    field: format!("custom_fields.{k}"),
                    old: value_text(v),
                    new: None,
                });
            }
        }
    }
    out
}

/// What the server did against what the review expected, for the row's note (`None`: they
/// agree).
pub fn disagreement(review: Option<ReviewClass>, server: UpsertResult) -> Option<&'static str> {
    match (review?, server) {
        (ReviewClass::Create, UpsertResult::Updated) => Some(
            "the server already had a lead with this e-mail (added after the review) and updated it",
        ),
        (ReviewClass::Create, UpsertResult::Unchanged) => Some(
            "the server already had a lead with this e-mail (added after the review) holding these values",
        ),
        (ReviewClass::Update, UpsertResult::Unchanged) => Some(
            "the lead already held these values on the server (changed after the review)",
        ),
        (ReviewClass::Update, UpsertResult::Created) => Some(
            "the lead the review found was gone from the server (deleted after the review): a new one was created",
        ),
        _ => None,
    }
}

/// A staged row as the review reads it.
struct StagedRow {
    row: i64,
    /// The class the staging gave it (invalid, duplicate).
    staged: Option<ReviewClass>,
    /// Its state, error code and message in the journal now: a review writes them back to
    /// `pending` only where an earlier review's rows were settled (see the module doc).
    journal: (String, Option<String>, Option<String>),
    /// Counted in `review_unsettled` by the review before this one.
    was_unsettled: bool,
}

/// The most rows one transaction settles: a sender passing a long run of rows the review does
/// not send, or [`settle_all`], commits every this many, so the write lock another process may
/// be waiting for (the app and `pb2b` share the database) is held for milliseconds, not the
/// seconds a million rows take.
pub(super) const SETTLE_ROWS: usize = 8192;

/// The review's class in column `i` of a journal row read with `import_row_reviews` joined
/// (`None`: the row was never reviewed).
pub(super) fn class_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<ReviewClass>> {
    Ok(r.get_ref(i)?.as_str_or_null()?.and_then(ReviewClass::parse))
}

/// The code and why a reviewed row is journalled `skipped` with when it is settled: `None` for
/// a row that is sent, or that no review classified. `payload` is the row's as journalled.
pub(super) fn not_sent(
    class: Option<ReviewClass>,
    payload: Option<&str>,
) -> Option<(&'static str, String)> {
    let class = class.filter(|c| c.settles_later())?;
    #[derive(Deserialize)]
    struct Email<'a> {
        #[serde(borrow)]
        email: std::borrow::Cow<'a, str>,
    }
    let email = payload
        .and_then(|p| serde_json::from_str::<Email>(p).ok())
        .map(|e| e.email.into_owned())
        .unwrap_or_default();
    class.skip(&email)
}

/// Journals reviewed rows a sender reached and does not send as `skipped` with their code and
/// why (from [`not_sent`]), in the sender's transaction, and counts them settled.
pub(super) fn settle(
    tx: &Connection,
    import_id: &str,
    rows: &[(i64, &'static str, String)],
) -> rusqlite::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut st = tx.prepare_cached(
        "UPDATE import_rows SET state = 'skipped', error_code = ?3, error_message = ?4
         WHERE import_id = ?1 AND row_number = ?2 AND state = 'pending'",
    )?;
    let mut n = 0;
    for (row, code, why) in rows {
        n += st.execute(params![import_id, row, code, why])?;
    }
    tx.execute(
        "UPDATE import_jobs SET review_unsettled = max(review_unsettled - ?2, 0) WHERE id = ?1",
        params![import_id, n as i64],
    )?;
    Ok(())
}

/// Settles every reviewed row of the import no sender reached yet that it would not send (before
/// a cancel or an error report, which read the journal's state of every row), committing every
/// [`SETTLE_ROWS`].
pub(super) fn settle_all(store: &Store, import_id: &str) -> Result<(), ErrorReport> {
    let unsettled: i64 = store
        .with_conn(|c| {
            c.query_row(
                "SELECT review_unsettled FROM import_jobs WHERE id = ?1",
                [import_id],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(store_err)?
        .unwrap_or(0);
    if unsettled == 0 {
        return Ok(());
    }
    let classes = ReviewClass::ALL
        .into_iter()
        .filter(|c| c.settles_later())
        .map(|c| format!("'{}'", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let select = format!(
        "SELECT r.row_number, d.payload, v.class FROM import_rows r
         JOIN import_row_reviews v ON v.import_id = r.import_id AND v.row_number = r.row_number
         LEFT JOIN import_row_data d ON d.import_id = r.import_id AND d.row_number = r.row_number
         WHERE r.import_id = ?1 AND r.state = 'pending' AND r.row_number > ?2 AND v.class IN ({classes})
         ORDER BY r.row_number LIMIT ?3"
    );
    let mut after = -1i64;
    loop {
        let done = store
            .with_conn(|c| {
                let tx = c.transaction()?;
                let rows = {
                    let mut s = tx.prepare_cached(&select)?;
                    let mut q = s.query(params![import_id, after, SETTLE_ROWS as i64])?;
                    let mut rows = Vec::new();
                    while let Some(r) = q.next()? {
                        let row: i64 = r.get(0)?;
                        after = row;
                        let class = text(r, 2)?.and_then(ReviewClass::parse);
                        if let Some((code, why)) = not_sent(class, text(r, 1)?) {
                            rows.push((row, code, why));
                        }
                    }
                    rows
                };
                settle(&tx, import_id, &rows)?;
                let done = rows.len() < SETTLE_ROWS;
                if done {
                    // None is left, whatever the count said.
                    tx.execute(
                        "UPDATE import_jobs SET review_unsettled = 0 WHERE id = ?1",
                        [import_id],
                    )?;
                }
                tx.commit()?;
                Ok(done)
            })
            .map_err(store_err)?;
        if done {
            return Ok(());
        }
    }
}

fn not_reviewable(message: String) -> ErrorReport {
    ErrorReport::local(Code::InvalidInput, message, false)
}

/// Reviews the staged import `import_id` against the mirror `mirror` for `mode` (see the module
/// docs), storing each row's class and the mode; the import must not have sent a row yet.
pub fn review_import(
    store: &Store,
    mirror: &str,
    import_id: &str,
    mode: ImportMode,
    freshness: MirrorFreshness,
    cancel: &CancellationToken,
) -> Result<ImportReview, ErrorReport> {
    let job = journal::get_import(store, import_id)?;
    let c = &job.counts;
    if job.status == status::STAGING {
        return Err(not_reviewable(format!(
            "Import {import_id} is still being read from its file; review it once it is ready."
        )));
    }
    if c.created + c.failed + c.in_flight > 0 || !matches!(job.status.as_str(), status::READY) {
        return Err(not_reviewable(format!(
            "Import {import_id} has already started sending ({}), so its mode can no longer change. Resume it, or start a new import of the file.",
            job.status
        )));
    }
    let mut counts = ReviewCounts::default();
    let mut after: i64 = -1;
    let known = if c.total >= KNOWN_EMAILS_FROM_ROWS {
        Some(
            store
                .with_conn(|conn| known_emails(conn, mirror))
                .map_err(store_err)?,
        )
    } else {
        None
    };
    loop {
        if cancel.is_cancelled() {
            return Err(ErrorReport::local(
                Code::Cancelled,
                "The review was cancelled; nothing was sent.",
                true,
            ));
        }
        let done = store
            .with_conn(|conn| {
                let tx = conn.transaction()?;
                let n = {
                    // The rows the staging refused keep their class; the others are classified
                    // together (see `Reviewer::classify_all`), their payloads read in place.
                    let mut rows: Vec<StagedRow> = Vec::with_capacity(8192);
                    let mut leads: Vec<NewLead> = Vec::with_capacity(8192);
                    {
                        let mut st = tx.prepare_cached(
                            "SELECT r.row_number, d.payload, r.state, r.error_code, r.error_message, v.class
                             FROM import_rows r LEFT JOIN import_row_data d ON d.import_id = r.import_id AND d.row_number = r.row_number
                             LEFT JOIN import_row_reviews v ON v.import_id = r.import_id AND v.row_number = r.row_number
                             WHERE r.import_id = ?1 AND r.row_number > ?2 ORDER BY r.row_number LIMIT 8192",
                        )?;
                        let mut q = st.query(params![import_id, after])?;
                        while let Some(r) = q.next()? {
                            let code: Option<&str> = text(r, 3)?;
                            let staged = match code {
                                Some(row_codes::INVALID_ROW) => Some(ReviewClass::Invalid),
                                Some(row_codes::DUPLICATE_EMAIL) => Some(ReviewClass::Duplicate),
                                _ => None,
                            };
                            if staged.is_none() {
                                leads.push(
                                    text(r, 1)?
                                        .and_then(|p| serde_json::from_str(p).ok())
                                        .unwrap_or_default(),
                                );
                            }
                            rows.push(StagedRow {
                                row: r.get(0)?,
                                staged,
                                journal: (
                                    text(r, 2)?.unwrap_or_default().to_owned(),
                                    code.map(str::to_owned),
                                    text(r, 4)?.map(str::to_owned),
                                ),
                                was_unsettled: text(r, 2)? == Some(state::PENDING)
                                    && text(r, 5)?
                                        .and_then(ReviewClass::parse)
                                        .is_some_and(ReviewClass::settles_later),
                            });
                        }
                    }
                    if let Some(last) = rows.last() {
                        after = last.row;
                    }
                    let reviewer = Reviewer::new(&tx, mirror, mode).with_known(known.as_ref());
                    let mut verdicts = reviewer.classify_all(&leads)?.into_iter();
                    // Every row's result goes to the narrow table (replacing an earlier
                    // review's); a journal row only where an earlier review's settlement made
                    // it `skipped`, so a first review leaves the journal's pages alone.
                    let mut put = tx.prepare_cached(
                        "INSERT OR REPLACE INTO import_row_reviews (import_id, row_number, class, match_id, match_updated_at, changes)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?;
                    // A row to send or to settle later is `pending` without an error; only a
                    // row an earlier review's settlement made `skipped` is written back.
                    let mut set = tx.prepare_cached(
                        "UPDATE import_rows SET state = 'pending', error_code = NULL, error_message = NULL
                         WHERE import_id = ?1 AND row_number = ?2",
                    )?;
                    // The change in the rows left for a sender to settle (`review_unsettled`).
                    let mut unsettled: i64 = 0;
                    for StagedRow {
                        row,
                        staged,
                        journal,
                        was_unsettled,
                    } in &rows
                    {
                        unsettled -= i64::from(*was_unsettled);
                        if let Some(class) = staged {
                            counts.add(*class);
                            put.execute(params![
                                import_id,
                                row,
                                class.as_str(),
                                None::<&str>,
                                None::<&str>,
                                None::<&str>
                            ])?;
                            continue;
                        }
                        let v = verdicts.next().expect("a verdict per valid row");
                        counts.add(v.class);
                        let changes = (!v.changes.is_empty())
                            .then(|| serde_json::to_string(&v.changes).unwrap_or_default());
                        put.execute(params![
                            import_id,
                            row,
                            v.class.as_str(),
                            v.lead_id,
                            v.lead_updated_at,
                            changes,
                        ])?;
                        unsettled += i64::from(v.class.settles_later());
                        if (
                            journal.0.as_str(),
                            journal.1.as_deref(),
                            journal.2.as_deref(),
                        ) != (state::PENDING, None, None)
                        {
                            set.execute(params![import_id, row])?;
                        }
                    }
                    if unsettled != 0 {
                        tx.execute(
                            "UPDATE import_jobs SET review_unsettled = review_unsettled + ?2 WHERE id = ?1",
                            params![import_id, unsettled],
                        )?;
                    }
                    rows.len()
                };
                tx.commit()?;
                Ok(n < 8192)
            })
            .map_err(store_err)?;
        if done {
            break;
        }
    }
    let review = ImportReview {
        import_id: Some(import_id.to_owned()),
        mode,
        counts,
        mirror: freshness,
        cancelled: false,
    };
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE import_jobs SET mode = ?2, review_json = ?3 WHERE id = ?1",
                params![
                    import_id,
                    mode.as_str(),
                    serde_json::to_string(&review).unwrap_or_default()
                ],
            )
        })
        .map_err(store_err)?;
    Ok(review)
}

/// The last review of an import (`None` before one).
pub fn stored_review(store: &Store, import_id: &str) -> Result<Option<ImportReview>, ErrorReport> {
    journal::migrate(store)?;
    let json: Option<Option<String>> = store
        .with_conn(|c| {
            c.query_row(
                "SELECT review_json FROM import_jobs WHERE id = ?1",
                [import_id],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(store_err)?;
    Ok(json.flatten().and_then(|j| serde_json::from_str(&j).ok()))
}

/// The row's e-mail as sent, or for an invalid row the e-mail cell as read (`email_column`, from
/// the import's mapping), even when it is not an address: the table shows what the file holds.
fn row_email(payload: Option<&str>, original: &str, email_column: Option<usize>) -> String {
    payload
        .and_then(|p| serde_json::from_str::<NewLead>(p).ok())
        .map(|l| l.email)
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| {
            let cells = serde_json::from_str::<Vec<String>>(original).unwrap_or_default();
            match email_column {
                Some(i) => cells
                    .get(i)
                    .map(|c| c.trim().to_owned())
                    .unwrap_or_default(),
                None => cells
                    .into_iter()
                    .find(|c| c.contains('@'))
                    .unwrap_or_default(),
            }
        })
}

type RawReviewRow = (
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn to_review_row(r: RawReviewRow, email_column: Option<usize>) -> ReviewRow {
    let (row_number, payload, original, class, lead_id, changes, message) = r;
    let class = class.as_deref().and_then(ReviewClass::parse);
    // A row no sender settled yet has no message in the journal: its class says why.
    let message = message.or_else(|| not_sent(class, payload.as_deref()).map(|(_, why)| why));
    ReviewRow {
        row_number: row_number as u64,
        email: row_email(payload.as_deref(), &original, email_column),
        class: class.unwrap_or(ReviewClass::Create),
        lead_id,
        changes: changes
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default(),
        reason: message.unwrap_or_default(),
    }
}

/// A page of the reviewed rows, of one class or all, in file order.
pub fn review_rows(
    store: &Store,
    import_id: &str,
    class: Option<ReviewClass>,
    offset: u64,
    limit: u32,
) -> Result<ReviewPage, ErrorReport> {
    journal::migrate(store)?;
    let email_column = journal::get_import(store, import_id)?
        .mapping
        .columns
        .iter()
        .find(|c| matches!(&c.target, ColumnTarget::Field { field } if field == "email"))
        .map(|c| c.index as usize);
    let class = class.map(ReviewClass::as_str);
    store
        .with_conn(|c| {
            let total: i64 = c.query_row(
                "SELECT count(*) FROM import_row_reviews WHERE import_id = ?1 AND (?2 IS NULL OR class = ?2)",
                params![import_id, class],
                |r| r.get(0),
            )?;
            let rows = c
                .prepare(
                    "SELECT v.row_number, d.payload, d.original, v.class, v.match_id, v.changes, r.error_message
                     FROM import_row_reviews v JOIN import_rows r ON r.import_id = v.import_id AND r.row_number = v.row_number
                     JOIN import_row_data d ON d.import_id = v.import_id AND d.row_number = v.row_number
                     WHERE v.import_id = ?1 AND (?2 IS NULL OR v.class = ?2)
                     ORDER BY v.row_number LIMIT ?3 OFFSET ?4",
                )?
                .query_map(
                    params![import_id, class, i64::from(limit.clamp(1, 1000)), offset.min(i64::MAX as u64) as i64],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
                )?
                .map(|r| r.map(|r| to_review_row(r, email_column)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ReviewPage {
                rows,
                total: total.max(0) as u64,
                offset,
            })
        })
        .map_err(store_err)
}

/// The columns of the saved review.
pub const REVIEW_COLUMNS: [&str; 6] = [
    "row_number",
    "class",
    "email",
    "lead_id",
    "changes",
    "reason",
];

/// Saves the review of an import as a CSV (UTF-8 with a BOM, every cell formula-safe, written
/// whole or not at all): one line per row with its class, the matched lead, the changes
/// `field: “old” → “new”` joined by `; `, and why a row is skipped. Returns the rows written.
pub fn write_review(store: &Store, import_id: &str, dest: &Path) -> Result<u64, ErrorReport> {
    journal::get_import(store, import_id)?;
    let io = |e: &dyn std::fmt::Display| {
        ErrorReport::local(
            Code::IoError,
            format!("Could not write {}: {e}", dest.display()),
            true,
        )
    };
    crate::saved_files::write_atomically(dest, |buf| {
        use std::io::Write;
        buf.write_all(b"\xEF\xBB\xBF").map_err(|e| io(&e))?;
        let mut w = csv::Writer::from_writer(buf);
        w.write_record(REVIEW_COLUMNS).map_err(|e| io(&e))?;
        let mut n = 0u64;
        let mut offset = 0u64;
        loop {
            let page = review_rows(store, import_id, None, offset, 1000)?;
            for r in &page.rows {
                let changes = r
                    .changes
                    .iter()
                    .map(describe_change)
                    .collect::<Vec<_>>()
                    .join("; ");
                let cells = [
                    r.row_number.to_string(),
                    r.class.as_str().to_owned(),
                    r.email.clone(),
                    r.lead_id.clone().unwrap_or_default(),
                    changes,
                    r.reason.clone(),
                ];
                w.write_record(cells.iter().map(|c| formula_safe(c).into_owned()))
                    .map_err(|e| io(&e))?;
                n += 1;
            }
            if page.rows.len() < 1000 {
                break;
            }
            offset += page.rows.len() as u64;
        }
        w.flush().map_err(|e| io(&e))?;
        Ok(n)
    })
}

/// The review of a file without staging it (`pb2b import FILE --dry-run`): the same classes,
/// counted in one streaming pass; nothing is stored or sent. Memory: 8 bytes per row (the
/// duplicate check), 18 per mirror lead ([`known_emails`]) and a chunk of 8,192 mapped rows.
#[allow(clippy::too_many_arguments)]
pub fn review_file(
    store: &Store,
    mirror: &str,
    path: &Path,
    sheet: Option<&str>,
    mapping: &Mapping,
    mode: ImportMode,
    freshness: MirrorFreshness,
    progress: &dyn Fn(&ReadProgress),
    cancel: &CancellationToken,
) -> Result<ImportReview, ErrorReport> {
    let mut r = TableReader::open_sheet(path, sheet)?;
    if r.headers().is_empty() {
        return Err(empty_file(path, r.headers()));
    }
    let problems = mapping.problems();
    if !problems.is_empty() {
        return Err(super::bad_mapping(&problems));
    }
    let size = r.size.unwrap_or(0);
    let mut counts = ReviewCounts::default();
    let mut seen = std::collections::HashSet::new();
    let mut rec = ByteRecord::new();
    let mut rows = 0u64;
    let mut cancelled = false;
    // Read a chunk, then look its rows up in one lock of the store (other users of the store
    // wait for a chunk at most, not for the whole file). Each row of a chunk is mapped by its
    // own mapper, kept from chunk to chunk, so its strings keep their capacity.
    let mut mappers: Vec<mapping::RowMapper> = Vec::new();
    let mut chunk = 0usize;
    let mut ended = false;
    let mut known: Option<KnownEmails> = None;
    while !ended {
        while chunk < 8192 {
            if r.read_row(&mut rec)?.is_none() {
                ended = true;
                break;
            }
            rows += 1;
            if mappers.len() == chunk {
                mappers.push(mapping::RowMapper::new(mapping));
            }
            let m = mappers[chunk].map(&rec);
            if !m.errors.is_empty() {
                counts.add(ReviewClass::Invalid);
            } else if !seen.insert(email_hash(&m.email_key)) {
                counts.add(ReviewClass::Duplicate);
            } else {
                chunk += 1;
            }
        }
        store
            .with_conn(|conn| {
                // A file of more than a chunk: one pass over the mirror's e-mails spares the
                // lookups of the rows it lacks.
                // One read transaction per chunk: its statements share one lock and snapshot.
                let tx = conn.transaction()?;
                if known.is_none() && rows >= KNOWN_EMAILS_FROM_ROWS && !ended {
                    known = Some(known_emails(&tx, mirror)?);
                }
                let reviewer = Reviewer::new(&tx, mirror, mode).with_known(known.as_ref());
                let leads: Vec<&NewLead> = mappers[..chunk].iter().map(|m| &m.row().lead).collect();
                for v in reviewer.classify_all(&leads)? {
                    counts.add(v.class);
                }
                chunk = 0;
                tx.commit()
            })
            .map_err(store_err)?;
        let st = r.stats();
        progress(&ReadProgress {
            rows,
            bytes_read: st.bytes_read,
            file_size: size,
        });
        if !ended && cancel.is_cancelled() {
            cancelled = true;
            break;
        }
    }
    if rows == 0 && !cancelled {
        return Err(empty_file(path, r.headers()));
    }
    Ok(ImportReview {
        import_id: None,
        mode,
        counts,
        mirror: freshness,
        cancelled,
    })
}

/// The freshness of the mirror now, from its status.
pub fn freshness(status: &SyncStatus, synced_now: bool) -> MirrorFreshness {
    MirrorFreshness {
        synced_at: status.last_finished_at.clone(),
        leads: status.total_leads,
        synced_now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(total: u64, finished: Option<&str>, interrupted: bool) -> SyncStatus {
        SyncStatus {
            total_leads: total,
            interrupted,
            last_finished_at: finished.map(str::to_owned),
            ..SyncStatus::default()
        }
    }

    #[test]
    fn when_the_mirror_is_synced_before_a_review() {
        let ended = "2026-11-30T12:00:00.000Z";
        let t = |s: &str| crate::sync::parse_timestamp(s).unwrap();
        let now = t("2026-11-30T12:04:59.000Z");
        let fresh = status(10, Some(ended), false);
        assert_eq!(mirror_needs_sync(&fresh, now, None), None);
        assert_eq!(
            mirror_needs_sync(&fresh, now, Some("2026-11-30T11:59:00.000Z")),
            None,
            "an import before the sync is in the mirror"
        );
        assert_eq!(
            mirror_needs_sync(&fresh, now, Some("2026-11-30T12:01:00.000Z")),
            Some("an import sent leads since its last sync")
        );
        assert_eq!(
            mirror_needs_sync(&fresh, t("2026-11-30T12:05:01.000Z"), None),
            Some("its last sync is more than five minutes old")
        );
        assert_eq!(
            mirror_needs_sync(&status(0, Some(ended), false), now, None),
            Some("it is empty")
        );
        assert_eq!(
            mirror_needs_sync(&status(10, None, false), now, None),
            Some("it has never been synced")
        );
        assert_eq!(
            mirror_needs_sync(&status(10, Some(ended), true), now, None),
            Some("its last sync did not finish")
        );
    }

    #[test]
    fn a_change_lists_custom_fields_as_written_whole() {
        let mut existing = Lead {
            id: "lead_1".into(),
            email: "a@example.com".into(),
            full_name: Some("Ada".into()),
            first_name: None,
            last_name: None,
            phone: None,
            job_title: Some("Engineer".into()),
            company_name: None,
            company_domain: None,
            linkedin_url: None,
            status: "new".into(),
            source: "import".into(),
            custom_fields: Default::default(),
            created_at: String::new(),
            updated_at: String::new(),
        };
        existing
            .custom_fields
            .insert("tier".into(), Value::String("gold".into()));
        existing
            .custom_fields
            .insert("score".into(), Value::from(7));
        let mut row = NewLead {
            email: "A@example.com".into(),
            full_name: Some("Ada".into()),
            phone: Some("+1 555".into()),
            ..Default::default()
        };
        assert_eq!(
            diff(&row, &existing),
            vec![FieldChange {
                field: "phone".into(),
                old: None,
                new: Some("+1 555".into())
            }],
            "fields the row lacks are left alone"
        );
        let mut custom = serde_json::Map::new();
        custom.insert("tier".into(), Value::String("gold".into()));
        row.custom_fields = Some(custom);
        let changes = diff(&row, &existing);
        assert_eq!(
            changes[1],
            FieldChange {
                field: "custom_fields.score".into(),
                old: Some("7".into()),
                new: None
            },
            "a custom field the row lacks is removed by the write"
        );
        assert_eq!(changes.len(), 2);
    }

    fn lead(id: &str, email: &str, title: &str) -> Lead {
        Lead {
            id: id.into(),
            email: email.into(),
            full_name: Some("Ada".into()),
            first_name: None,
            last_name: None,
            phone: None,
            job_title: Some(title.into()),
            company_name: None,
            company_domain: None,
            linkedin_url: None,
            status: "new".into(),
            source: "api".into(),
            custom_fields: Default::default(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn the_batched_lookup_by_rowid_gives_the_per_row_verdicts() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
        let m = crate::sync::Mirror::open(store.clone(), "ws_a", "default").unwrap();
        let mut custom = lead("l4", "Custom@Example.com", "CTO");
        custom
            .custom_fields
            .insert("tier".into(), Value::String("gold".into()));
        for l in [
            lead("l1", "Ada@Example.com", "CTO"),
            lead("l2", "dup@example.com", "X"),
            lead("l3", "DUP@example.com", "Y"),
            custom,
            lead("l5", "grace@example.com", "CEO"),
        ] {
            m.put_lead(&l).unwrap();
        }
        let other = crate::sync::Mirror::open(store.clone(), "ws_b", "other").unwrap();
        other
            .put_lead(&lead("o1", "bob@example.com", "CTO"))
            .unwrap();
        let gold = |tier: &str| {
            let mut c = serde_json::Map::new();
            c.insert("tier".into(), Value::String(tier.into()));
            Some(c)
        };
        let row = |email: &str, title: Option<&str>, custom| NewLead {
            email: email.into(),
            job_title: title.map(str::to_owned),
            custom_fields: custom,
            ..Default::default()
        };
        let rows = vec![
            row("ada@example.COM", Some("CTO"), None),
            row("  ada@example.com ", Some("CEO"), None),
            row("dup@EXAMPLE.com", Some("X"), None),
            row("bob@example.com", Some("CTO"), None),
            row("nobody@example.com", Some("CTO"), None),
            row("custom@example.com", None, gold("gold")),
            row("CUSTOM@example.com", None, gold("silver")),
            // No custom fields sent: the lead's are not compared.
            row("custom@example.com", Some("CTO"), None),
            row("grace@example.com", None, None),
            row("grace@example.co", Some("CEO"), None),
        ];
        store
            .with_conn(|c| {
                let known = known_emails(c, "ws_a")?;
                // Every lead shares one hash: every lead is a candidate of every row, and the
                // e-mail comparison alone decides.
                let same_hash = known_emails_by(c, "ws_a", |_, _| 7)?;
                for mode in [ImportMode::Create, ImportMode::Upsert, ImportMode::Update] {
                    let plain = Reviewer::new(c, "ws_a", mode);
                    let expected = rows
                        .iter()
                        .map(|l| plain.classify(l))
                        .collect::<Result<Vec<_>, _>>()?;
                    assert_eq!(plain.classify_all(&rows)?, expected, "{mode:?}");
                    for k in [&known, &same_hash] {
                        let fast = Reviewer::new(c, "ws_a", mode).with_known(Some(k));
                        assert_eq!(fast.classify_all(&rows)?, expected, "{mode:?}");
                        let refs: Vec<&NewLead> = rows.iter().collect();
                        assert_eq!(fast.classify_all(&refs)?, expected, "{mode:?}");
                    }
                }
                let upsert = Reviewer::new(c, "ws_a", ImportMode::Upsert)
                    .with_known(Some(&same_hash))
                    .classify_all(&rows)?;
                let classes: Vec<_> = upsert.iter().map(|v| v.class).collect();
                use ReviewClass::*;
                assert_eq!(
                    classes,
                    [
                        Unchanged, Update, Ambiguous, Create, Create, Unchanged, Update, Unchanged,
                        Unchanged, Create
                    ]
                );
                assert_eq!(upsert[6].changes[0].old.as_deref(), Some("gold"));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn the_known_emails_skip_lookups_without_changing_a_verdict() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
        let m = crate::sync::Mirror::open(store.clone(), "ws_a", "default").unwrap();
        m.put_lead(&lead("l1", "Ada@Example.com", "CTO")).unwrap();
        m.put_lead(&lead("l2", "dup@example.com", "X")).unwrap();
        m.put_lead(&lead("l3", "DUP@example.com", "Y")).unwrap();
        // Another workspace's mirror is not this one's.
        let other = crate::sync::Mirror::open(store.clone(), "ws_b", "other").unwrap();
        other
            .put_lead(&lead("o1", "bob@example.com", "CTO"))
            .unwrap();
        let rows = [
            ("ada@example.COM", "CTO"),
            ("  ada@example.com ", "CEO"),
            ("dup@EXAMPLE.com", "X"),
            ("bob@example.com", "CTO"),
            ("nobody@example.com", "CTO"),
            ("ada@example.co", "CTO"),
        ];
        store
            .with_conn(|c| {
                let known = known_emails(c, "ws_a")?;
                assert_eq!(known.len(), 3);
                for mode in [ImportMode::Create, ImportMode::Upsert, ImportMode::Update] {
                    let plain = Reviewer::new(c, "ws_a", mode);
                    let fast = Reviewer::new(c, "ws_a", mode).with_known(Some(&known));
                    for (email, title) in rows {
                        let l = NewLead {
                            email: email.into(),
                            job_title: Some(title.into()),
                            ..Default::default()
                        };
                        assert_eq!(plain.classify(&l)?, fast.classify(&l)?, "{email} {mode:?}");
                    }
                }
                let fast = Reviewer::new(c, "ws_a", ImportMode::Upsert).with_known(Some(&known));
                let class = |e: &str| {
                    fast.classify(&NewLead {
                        email: e.into(),
                        job_title: Some("CTO".into()),
                        ..Default::default()
                    })
                    .map(|v| v.class)
                };
                assert_eq!(class("ADA@example.com")?, ReviewClass::Unchanged);
                assert_eq!(class("dup@example.com")?, ReviewClass::Ambiguous);
                assert_eq!(class("bob@example.com")?, ReviewClass::Create);
                Ok(())
            })
            .unwrap();
    }
}
