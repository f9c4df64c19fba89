//! Files the app makes for the user (issue 15, item 6): where the save dialog opens, the name it
//! proposes, the extension a chosen path gets, how the file is written, and which paths "Show in
//! folder" may reveal. The app asks with the native save dialog (the Tauri layer, thin); every
//! rule is here, plain Rust.
//!
//! | concern            | rule                                                                                   |
//! |--------------------|----------------------------------------------------------------------------------------|
//! | default folder     | the user's Downloads folder; the data folder's `exports/` on a platform without one    |
//! | proposed name      | `prospectb2b-leads-<date>.csv`/`.jsonl`, `<import file>-errors.csv`, `<import file>-created.csv`, `support-bundle-<request_id>.json`, made safe ([`sanitize_file_name`]) |
//! | extension          | the format's: another last extension, or none, gets it appended (`leads` → `leads.csv`, `leads.bat` → `leads.bat.csv`); a matching one is kept as typed |
//! | overwriting        | only a file the native dialog's own confirmation covered: when the extension rule changed the name and that name exists, the dialog asks again ([`Choice::AskAgain`]) |
//! | writing            | into `.<name>.save_<20 hex>.part` beside it (`0600` on Unix), flushed and synced, then renamed over the name: never half-written; removed on failure; a crash's leftover is removed like a download's ([`crate::exports::is_our_part_file`]) |
//! | cancel             | the dialog's Cancel makes no file and no error (`None` up to the UI)                   |
//! | Show in folder     | only a path this app made since it started ([`MadeFiles`]), still a plain file (not a link) with its format's extension; a downloaded export: [`crate::exports::openable_export`] |
//!
//! Server exports are not asked for: see `src-tauri/src/commands/exports.rs`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{codes, Code, ErrorReport};
use crate::exports::sanitize_file_name;
use crate::sync::ExportFormat;

/// The format of a file the app makes: its extension and the save dialog's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SavedFormat {
    Csv,
    Jsonl,
    Json,
}

impl SavedFormat {
    /// The extension every file of this format ends in.
    pub fn extension(self) -> &'static str {
        match self {
            SavedFormat::Csv => "csv",
            SavedFormat::Jsonl => "jsonl",
            SavedFormat::Json => "json",
        }
    }

    /// The save dialog's filter name.
    pub fn filter_name(self) -> &'static str {
        match self {
            SavedFormat::Csv => "CSV (spreadsheet)",
            SavedFormat::Jsonl => "JSON Lines",
            SavedFormat::Json => "JSON",
        }
    }
}

impl From<ExportFormat> for SavedFormat {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Csv => SavedFormat::Csv,
            ExportFormat::Jsonl => SavedFormat::Jsonl,
        }
    }
}

/// What the save dialog is opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveProposal {
    /// The dialog's title.
    pub title: String,
    /// The folder it opens in.
    pub dir: PathBuf,
    /// The name it proposes (ends in the format's extension).
    pub file_name: String,
    pub format: SavedFormat,
}

/// The user's Downloads folder, or `fallback()` when the platform has none: where the save
/// dialog opens (and server exports go).
pub fn default_dir(fallback: impl FnOnce() -> PathBuf) -> PathBuf {
    dirs::download_dir().unwrap_or_else(fallback)
}

fn proposal(
    title: &str,
    dir: PathBuf,
    stem: &str,
    fallback: &str,
    format: SavedFormat,
) -> SaveProposal {
    let ext = format.extension();
    // A separator in a name part (a request_id, an imported file's name) is not a folder.
    let stem = stem.replace(['/', '\\'], "_");
    let name = sanitize_file_name(&format!("{stem}.{ext}"), &format!("{fallback}.{ext}"));
    SaveProposal {
        title: title.to_owned(),
        dir,
        file_name: with_extension(Path::new(&name), format)
            .to_string_lossy()
            .into_owned(),
        format,
    }
}

/// The Leads screen's export of the mirror: `prospectb2b-leads-<YYYY-MM-DD>.<ext>`; `now` is an
/// RFC 3339 time (its date is used).
pub fn mirror_export_proposal(dir: PathBuf, format: ExportFormat, now: &str) -> SaveProposal {
    let date = now.get(..10).unwrap_or("export");
    proposal(
        "Export leads",
        dir,
        &format!("prospectb2b-leads-{date}"),
        "prospectb2b-leads",
        format.into(),
    )
}

/// Which results file of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "ResultsKind.ts")]
pub enum ResultsKind {
    /// The error report: every row not created, with why.
    Errors,
    /// The success file: every created row with its lead id.
    Success,
    /// The review: every row's class against the workspace, before sending.
    Review,
}

/// An import's error report, success file or review: `<imported file's name>-errors.csv`,
/// `-created.csv` or `-review.csv`.
pub fn import_results_proposal(dir: PathBuf, imported: &str, kind: ResultsKind) -> SaveProposal {
    let stem = Path::new(imported)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("import");
    let (title, suffix) = match kind {
        ResultsKind::Errors => ("Save the error report", "errors"),
        ResultsKind::Success => ("Save the success file", "created"),
        ResultsKind::Review => ("Save the review", "review"),
    };
    proposal(
        title,
        dir,
        &format!("{stem}-{suffix}"),
        &format!("import-{suffix}"),
        SavedFormat::Csv,
    )
}

/// One exchange's support bundle: `support-bundle-<request_id>.json` (the log row's id without
/// one).
pub fn support_bundle_proposal(dir: PathBuf, request_id: Option<&str>, id: i64) -> SaveProposal {
    let tag = request_id
        .filter(|r| !r.trim().is_empty())
        .map_or_else(|| id.to_string(), str::to_owned);
    proposal(
        "Save the support bundle",
        dir,
        &format!("support-bundle-{tag}"),
        "support-bundle",
        SavedFormat::Json,
    )
}

/// `path` ending in the format's extension: kept when it does (any case), else the extension is
/// appended.
pub fn with_extension(path: &Path, format: SavedFormat) -> PathBuf {
    let ext = format.extension();
    let matches = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext));
    if matches {
        return path.to_path_buf();
    }
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// What to do with the path the dialog answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Write here: either the name the dialog confirmed, or a new name nothing is at.
    Write(PathBuf),
    /// The extension rule changed the name and a file has that name: the dialog did not
    /// confirm overwriting it, so it asks again with that name proposed.
    AskAgain(SaveProposal),
}

/// The rule for a path chosen in the save dialog (the table above).
pub fn resolve_choice(proposal: &SaveProposal, chosen: &Path) -> Choice {
    let forced = with_extension(chosen, proposal.format);
    if forced == chosen || std::fs::symlink_metadata(&forced).is_err() {
        return Choice::Write(forced);
    }
    Choice::AskAgain(SaveProposal {
        title: proposal.title.clone(),
        dir: forced
            .parent()
            .map_or_else(|| proposal.dir.clone(), Path::to_path_buf),
        file_name: forced
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| proposal.file_name.clone()),
        format: proposal.format,
    })
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> ErrorReport {
    ErrorReport::local(
        Code::IoError,
        format!(
            "Could not write {}: {e}. Nothing was written there; choose another folder, or free \
             some space, and try again.",
            path.display()
        ),
        true,
    )
}

/// The temporary file a save writes first: `.<name>.save_<20 hex>.part` beside `dest`.
pub fn part_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tag = format!("{:016x}{:04x}", fastrand::u64(..), fastrand::u16(..));
    dest.with_file_name(format!(".{name}.save_{tag}.part"))
}

/// Writes `dest` all at once: `write` fills a temporary file beside it (`0600` on Unix), which is
/// synced and renamed over `dest`. On any failure the temporary file is removed and `dest` is
/// untouched (an existing file keeps its old content).
pub fn write_atomically<T>(
    dest: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<T, ErrorReport>,
) -> Result<T, ErrorReport> {
    let part = part_path(dest);
    let file = crate::private_fs::create_file(&part).map_err(|e| io_err(dest, e))?;
    let mut buf = std::io::BufWriter::with_capacity(256 * 1024, file);
    let result = write(&mut buf).and_then(|value| {
        buf.flush().map_err(|e| io_err(dest, e))?;
        let file = buf.into_inner().map_err(|e| io_err(dest, e.into_error()))?;
        file.sync_all().map_err(|e| io_err(dest, e))?;
        drop(file);
        std::fs::rename(&part, dest).map_err(|e| io_err(dest, e))?;
        Ok(value)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

/// The files this app made since it started, with their format: the only paths "Show in folder"
/// reveals (a path sent from the webview is never trusted as is).
#[derive(Debug, Default)]
pub struct MadeFiles {
    made: Mutex<HashMap<PathBuf, SavedFormat>>,
}

impl MadeFiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a file the app has just written.
    pub fn record(&self, path: &Path, format: SavedFormat) {
        if let Ok(mut made) = self.made.lock() {
            made.insert(path.to_path_buf(), format);
        }
    }

    /// The path "Show in folder" may reveal: one recorded here, still a plain file (not a link)
    /// with its format's extension. Anything else is refused with `invalid_input`.
    pub fn revealable(&self, path: &str) -> Result<PathBuf, ErrorReport> {
        let path = PathBuf::from(path);
        let refuse = |why: &str| {
            Err(ErrorReport::local(
                codes::INVALID_INPUT,
                format!(
                    "{} is not shown: {why}. Only files this app saved since it started are \
                     shown in their folder; open the folder yourself to find it.",
                    path.display()
                ),
                false,
            ))
        };
        let format = self.made.lock().ok().and_then(|m| m.get(&path).copied());
        let Some(format) = format else {
            return refuse("this app did not make it");
        };
        if with_extension(&path, format) != path {
            return refuse("it does not have its format's extension");
        }
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => Ok(path),
            Ok(_) => refuse("it is no longer a plain file"),
            Err(_) => refuse("the file is no longer there"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from("/home/u/Downloads")
    }

    #[test]
    fn proposals_open_in_the_given_folder_with_a_safe_name_in_the_formats_extension() {
        let p = mirror_export_proposal(dir(), ExportFormat::Csv, "2026-11-30T15:40:00.123Z");
        assert_eq!(p.dir, dir());
        assert_eq!(p.file_name, "prospectb2b-leads-2026-11-30.csv");
        assert_eq!(p.format, SavedFormat::Csv);
        let p = mirror_export_proposal(dir(), ExportFormat::Jsonl, "2026-11-30T15:40:00Z");
        assert_eq!(p.file_name, "prospectb2b-leads-2026-11-30.jsonl");

        let p = import_results_proposal(dir(), "Q3 leads.tsv", ResultsKind::Errors);
        assert_eq!(p.file_name, "Q3 leads-errors.csv");
        let p = import_results_proposal(dir(), "leads.csv", ResultsKind::Success);
        assert_eq!(p.file_name, "leads-created.csv");
        let p = import_results_proposal(dir(), "leads.csv", ResultsKind::Review);
        assert_eq!(p.file_name, "leads-review.csv");
        // A name from a file the user picked, or the server, is made safe.
        let p = import_results_proposal(dir(), "../x\u{202E}vsc.exe", ResultsKind::Errors);
        assert!(!p.file_name.contains('/') && !p.file_name.contains('\u{202E}'));
        assert!(p.file_name.ends_with("-errors.csv"), "{}", p.file_name);
        let p = import_results_proposal(dir(), "", ResultsKind::Errors);
        assert_eq!(p.file_name, "import-errors.csv");

        let p = support_bundle_proposal(dir(), Some("req_01HX"), 7);
        assert_eq!(p.file_name, "support-bundle-req_01HX.json");
        assert_eq!(p.format, SavedFormat::Json);
        let p = support_bundle_proposal(dir(), None, 7);
        assert_eq!(p.file_name, "support-bundle-7.json");
        let p = support_bundle_proposal(dir(), Some("a/b:c"), 7);
        assert_eq!(p.file_name, "support-bundle-a_b_c.json");
    }

    #[test]
    fn a_chosen_name_always_ends_in_the_formats_extension() {
        let csv = SavedFormat::Csv;
        for (typed, expected) in [
            ("/d/leads.csv", "/d/leads.csv"),
            ("/d/leads.CSV", "/d/leads.CSV"),
            ("/d/leads", "/d/leads.csv"),
            ("/d/leads.2026", "/d/leads.2026.csv"),
            ("/d/leads.bat", "/d/leads.bat.csv"),
            ("/d/leads.csv.desktop", "/d/leads.csv.desktop.csv"),
            ("/d/.hidden", "/d/.hidden.csv"),
        ] {
            assert_eq!(
                with_extension(Path::new(typed), csv),
                PathBuf::from(expected)
            );
        }
        assert_eq!(
            with_extension(Path::new("/d/x.json"), SavedFormat::Jsonl),
            PathBuf::from("/d/x.json.jsonl")
        );
    }

    #[test]
    fn overwriting_happens_only_where_the_dialog_confirmed_it() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let p = mirror_export_proposal(d.to_path_buf(), ExportFormat::Csv, "2026-11-30T00:00:00Z");
        // The exact name the dialog confirmed (it exists: the dialog asked): written.
        std::fs::write(d.join("old.csv"), "old").unwrap();
        assert_eq!(
            resolve_choice(&p, &d.join("old.csv")),
            Choice::Write(d.join("old.csv"))
        );
        // A new name the extension rule completes, nothing there: written.
        assert_eq!(
            resolve_choice(&p, &d.join("new")),
            Choice::Write(d.join("new.csv"))
        );
        // The completed name is taken: the dialog was about `old`, so it asks again for
        // `old.csv` in the same folder (where its own confirmation covers the overwrite).
        match resolve_choice(&p, &d.join("old")) {
            Choice::AskAgain(again) => {
                assert_eq!(again.dir, d);
                assert_eq!(again.file_name, "old.csv");
                assert_eq!(again.format, SavedFormat::Csv);
                assert_eq!(again.title, p.title);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_to_string(d.join("old.csv")).unwrap(), "old");
    }

    #[test]
    fn a_save_is_written_whole_or_not_at_all() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("leads.csv");
        std::fs::write(&dest, "the old content").unwrap();
        // A failing writer: the old file is untouched and no temporary file is left.
        let err = write_atomically(&dest, |w| {
            w.write_all(b"half of it").unwrap();
            Err::<(), _>(ErrorReport::local(Code::IoError, "disk full", true))
        })
        .unwrap_err();
        assert_eq!(err.message, "disk full");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "the old content");
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["leads.csv"]);
        // A successful one replaces it in one rename.
        let n = write_atomically(&dest, |w| {
            w.write_all(b"id\n1\n").map_err(|e| io_err(&dest, e))?;
            Ok(1)
        })
        .unwrap();
        assert_eq!(n, 1);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "id\n1\n");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
        // A folder that cannot be written: a clear error naming the file, nothing made.
        let missing = tmp.path().join("gone/leads.csv");
        let err = write_atomically(&missing, |_| Ok(())).unwrap_err();
        assert_eq!(err.code, Code::IoError);
        assert!(err.message.contains("gone/leads.csv"), "{}", err.message);
        assert!(err.message.contains("choose another folder"));
    }

    #[cfg(unix)]
    #[test]
    fn a_saved_file_is_the_users_alone() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("report.csv");
        write_atomically(&dest, |_| Ok(())).unwrap();
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn the_temporary_file_is_hidden_and_recognised_as_a_leftover() {
        let part = part_path(Path::new("/d/leads.csv"));
        let name = part.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(".leads.csv.save_") && name.ends_with(".part"),
            "{name}"
        );
        assert_eq!(part.parent(), Some(Path::new("/d")));
        assert!(crate::exports::is_our_part_file(name), "{name}");
    }

    #[test]
    fn only_files_the_app_made_are_revealed() {
        let tmp = tempfile::tempdir().unwrap();
        let made = MadeFiles::new();
        let ours = tmp.path().join("leads.csv");
        std::fs::write(&ours, "id\n").unwrap();
        let theirs = tmp.path().join("notes.csv");
        std::fs::write(&theirs, "x").unwrap();
        // Not recorded: refused, whatever it is.
        let err = made.revealable(ours.to_str().unwrap()).unwrap_err();
        assert_eq!(err.code, Code::InvalidInput);
        assert!(err.message.contains("did not make it"), "{}", err.message);
        made.record(&ours, SavedFormat::Csv);
        assert_eq!(made.revealable(ours.to_str().unwrap()).unwrap(), ours);
        assert!(made.revealable(theirs.to_str().unwrap()).is_err());
        assert!(made.revealable("/etc/passwd").is_err());
        // Recorded, then removed or replaced by a link: refused.
        std::fs::remove_file(&ours).unwrap();
        let err = made.revealable(ours.to_str().unwrap()).unwrap_err();
        assert!(err.message.contains("no longer there"), "{}", err.message);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&theirs, &ours).unwrap();
            let err = made.revealable(ours.to_str().unwrap()).unwrap_err();
            assert!(
                err.message.contains("no longer a plain file"),
                "{}",
                err.message
            );
        }
        // A record whose path lacks the format's extension is never revealed.
        let odd = tmp.path().join("odd.sh");
        std::fs::write(&odd, "").unwrap();
        made.record(&odd, SavedFormat::Csv);
        assert!(made.revealable(odd.to_str().unwrap()).is_err());
    }
}
