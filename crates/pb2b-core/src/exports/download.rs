//! Step 4: the download. Streams the file into a temporary file, checks its size and record
//! count, and places it under a safe, never-clobbering name.

use crate::error::Code;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio_util::sync::CancellationToken;

use rusqlite::params;

use super::*;
use crate::api::{ApiError, ApiErrorKind, Client, ExportDownload};

/// Unicode format characters (general category Cf, Unicode 16): invisible, and some reorder
/// what is shown (U+202E RIGHT-TO-LEFT OVERRIDE makes `leads\u{202E}vsc.exe` show as
/// `leadsexe.csv`). The bidirectional controls (U+061C, U+200E/F, U+202A–E, U+2066–9) are all
/// in this set.
const FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a Unicode format character (category Cf, bidi controls included).
pub fn is_format_char(c: char) -> bool {
    FORMAT_CHARS.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// The extension of every export file: the export's format (POST /exports always asks for
/// [`EXPORT_FORMAT`]), whatever name the server suggests.
pub const EXPORT_EXTENSION: &str = super::EXPORT_FORMAT;

/// The name a downloaded export gets: the server's `file_name` made safe
/// ([`sanitize_file_name`]), `<export id>.csv` without one, and always ending in the format's
/// extension: a foreign last extension (`.bat`, `.desktop`, `.hta`, `.exe`...) is replaced, so
/// opening the file hands it to the spreadsheet, never runs it.
pub fn export_file_name(server_name: Option<&str>, export_id: &str) -> String {
    let fallback = format!("{export_id}.{EXPORT_EXTENSION}");
    let name = sanitize_file_name(server_name.unwrap_or(&fallback), &fallback);
    let stem = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            if ext.eq_ignore_ascii_case(EXPORT_EXTENSION) {
                return name;
            }
            stem
        }
        _ => name.as_str(),
    };
    format!("{stem}.{EXPORT_EXTENSION}")
}

/// Makes a server-provided file name safe to create inside the destination folder: no path
/// separators or parent references, no control, format (Cf, bidi) or reserved characters, no
/// leading dots or trailing dots/spaces, not a Windows device name, at most 180 bytes;
/// `fallback` when nothing is left.
pub fn sanitize_file_name(name: &str, fallback: &str) -> String {
    // Only the last path component counts.
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out: String = base
        .chars()
        .filter(|&c| !is_format_char(c))
        .map(|c| {
            if c.is_control() || matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    out = out
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
        .to_owned();
    if out.len() > 180 {
        let mut end = 180;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        // Keep the extension when there is a short one.
        let ext = Path::new(&out)
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 10)
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        let mut cut = end.saturating_sub(ext.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out = format!("{}{ext}", &out[..cut]);
    }
    let stem = out.split('.').next().unwrap_or("").to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        out = format!("_{out}");
    }
    if out.is_empty() {
        let fb = sanitize_file_name_simple(fallback);
        return if fb.is_empty() {
            "export.csv".into()
        } else {
            fb
        };
    }
    out
}

fn sanitize_file_name_simple(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned()
}

/// `name.csv` → `name (n).csv`.
fn with_suffix(name: &str, n: u32) -> String {
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{} ({n}){}", &name[..i], &name[i..]),
        _ => format!("{name} ({n})"),
    }
}

/// Counts CSV records (RFC 4180: quoted fields may hold line breaks) in a byte stream.
#[derive(Debug, Default, Clone)]
pub struct CsvRecordCounter {
    in_quotes: bool,
    newlines: u64,
    /// Bytes seen since the last record terminator (outside quotes).
    pending: bool,
}

impl CsvRecordCounter {
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'"' => {
                    self.in_quotes = !self.in_quotes;
                    self.pending = true;
                }
                b'\n' if !self.in_quotes => {
                    self.newlines += 1;
                    self.pending = false;
                }
                b'\r' if !self.in_quotes => {}
                _ => self.pending = true,
            }
        }
    }

    /// Records seen, the header line included (a last line without a line break counts).
    pub fn records(&self) -> u64 {
        self.newlines + u64::from(self.pending)
    }
}

/// An `AsyncWrite` that counts CSV records of what passes through.
struct Counting<W> {
    inner: W,
    counter: CsvRecordCounter,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.counter.feed(&buf[..n]);
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Exports {
    /// Step 4: downloads a completed export into the job's folder (probing for a fresh URL).
    pub async fn download(
        &self,
        client: &Client,
        id: &str,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        self.download_with(client, id, None, opts, cancel, on_event)
            .await
    }

    /// Step 4 with a probe answer already in hand (its URL is tried first; an expired one is
    /// re-probed). `dest_dir` of the job must exist or be creatable.
    pub async fn download_with(
        &self,
        client: &Client,
        id: &str,
        probe: Option<ExportDownload>,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        let job = self.get(id)?;
        let job_id = job.job_id.clone();
        let Some(export_id) = job.export_id.clone() else {
            return Err(ErrorReport::local(
                error_codes::EXPORT_NOT_READY,
                "The export has not been created on the server yet.",
                true,
            ));
        };
        let dir = PathBuf::from(&job.dest_dir);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_error("create the folder", &dir, &e))?;
        let mut probe = probe.filter(|p| p.download_ready && p.download_url.is_some());
        let attempts = opts.download_attempts.max(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if cancel.is_cancelled() {
                return Err(cancelled());
            }
            let p = match probe.take() {
                Some(p) => p,
                None => {
                    let resp = tokio::select! {
                        r = client.export_download_probe(&export_id) => r,
                        _ = cancel.cancelled() => return Err(cancelled()),
                    };
                    let resp = match resp {
                        Ok(r) => r,
                        Err(err) => {
                            self.add_request_id(&job_id, err.request_id.as_deref())?;
                            let report = ErrorReport::from(&err);
                            self.set_error(&job_id, Some(&report))?;
                            return Err(report);
                        }
                    };
                    self.apply_probe(&job_id, &resp.data, false)?;
                    self.add_request_id(&job_id, Some(&resp.request_id))?;
                    let job = self.get(&job_id)?;
                    if let Some(err) = Self::terminal_error(&job, Some(resp.request_id.clone())) {
                        self.set_error(&job_id, Some(&err))?;
                        self.set_polling(&job_id, PollingState::Done)?;
                        return Err(err);
                    }
                    if !resp.data.download_ready {
                        return Err(ErrorReport {
                            code: error_codes::EXPORT_NOT_READY,
                            message: format!(
                                "The export is not ready yet (status {}). Wait for it first.",
                                resp.data.status
                            ),
                            request_id: Some(resp.request_id),
                            retryable: true,
                        });
                    }
                    resp.data
                }
            };
            match self
                .fetch_file(client, &job_id, &dir, &p, cancel, on_event)
                .await
            {
                Ok(path) => {
                    let shown = path.to_string_lossy().into_owned();
                    self.update(&job_id, |c, now| {
                        c.execute(
                            "UPDATE export_jobs SET local_path = ?2, polling = 'done',
                                error_code = NULL, error_message = NULL, error_request_id = NULL,
                                error_retryable = NULL, updated_at = ?3 WHERE job_id = ?1",
                            params![job_id, shown, now],
                        )
                    })?;
                    let job = self.get(&job_id)?;
                    on_event(ExportEvent::Job {
                        job: Box::new(job.clone()),
                    });
                    return Ok(job);
                }
                Err(Fetch::Cancelled) => return Err(cancelled()),
                Err(Fetch::Fatal(report)) => {
                    self.set_error(&job_id, Some(&report))?;
                    return Err(report);
                }
                Err(Fetch::Retry(report)) => {
                    self.set_error(&job_id, Some(&report))?;
                    if attempt >= attempts {
                        return Err(report);
                    }
                    on_event(ExportEvent::LinkRefreshed {
                        job_id: job_id.clone(),
                        attempt,
                        reason: report,
                    });
                    // A broken transfer waits a little; an expired link is re-probed at once.
                    let wait = opts.schedule.backoff(attempt, fastrand::f64());
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return Err(cancelled()),
                    }
                }
            }
        }
    }

    /// Streams one download URL into `.<name>.<job>.part` and renames it into place.
    async fn fetch_file(
        &self,
        client: &Client,
        job_id: &str,
        dir: &Path,
        p: &ExportDownload,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<PathBuf, Fetch> {
        let Some(url) = p.download_url.as_deref() else {
            return Err(Fetch::Retry(ErrorReport::local(
                error_codes::EXPORT_NOT_READY,
                "The server gave no download link.",
                true,
            )));
        };
        // Refused before anything is created or sent (the client checks again when it sends).
        client
            .check_download_url(url)
            .map_err(|e| Fetch::Fatal(e.into()))?;
        let name = export_file_name(p.file_name.as_deref(), &p.id);
        let part = dir.join(format!(".{name}.{job_id}.part"));
        // Lead data: the user's alone (0600 on Unix); the hard link or rename keeps the mode.
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600);
        let file = options
            .open(&part)
            .await
            .map_err(|e| Fetch::Fatal(io_error("create", &part, &e)))?;
        let mut out = Counting {
            inner: tokio::io::BufWriter::with_capacity(256 * 1024, file),
            counter: CsvRecordCounter::default(),
        };
        let mut last_sent = 0u64;
        let progress = |bytes: u64, total: Option<u64>| {
            let done = total.is_some_and(|t| bytes >= t);
            if bytes == 0 || done || bytes - last_sent >= 256 * 1024 {
                last_sent = bytes;
                on_event(ExportEvent::Downloading {
                    job_id: job_id.to_owned(),
                    bytes,
                    total,
                });
            }
        };
        let result = tokio::select! {
            r = client.download_file(url, &mut out, progress) => Some(r),
            _ = cancel.cancelled() => None,
        };
        let cleanup = || async {
            let _ = tokio::fs::remove_file(&part).await;
        };
        let written = match result {
            None => {
                drop(out);
                cleanup().await;
                return Err(Fetch::Cancelled);
            }
            Some(Err(err)) => {
                drop(out);
                cleanup().await;
                let _ = self.add_request_id(job_id, err.request_id.as_deref());
                let retry = matches!(
                    err.kind,
                    ApiErrorKind::DownloadLinkExpired
                        | ApiErrorKind::ConnectionLost
                        | ApiErrorKind::Timeout
                        | ApiErrorKind::Unreachable
                        | ApiErrorKind::Server
                        | ApiErrorKind::RateLimited
                ) || err.status == Some(409);
                return Err(if retry {
                    Fetch::Retry(link_error(&err))
                } else {
                    Fetch::Fatal(err.into())
                });
            }
            Some(Ok(n)) => n,
        };
        let records = out.counter.records();
        let file = out.inner.into_inner();
        if let Err(e) = file.sync_all().await {
            cleanup().await;
            return Err(Fetch::Fatal(io_error("write", &part, &e)));
        }
        drop(file);
        let rows = records.saturating_sub(1);
        let mismatch = if p.byte_size.is_some_and(|b| b >= 0 && b as u64 != written) {
            Some(format!(
                "{written} bytes arrived but the server announced {}",
                p.byte_size.unwrap_or_default()
            ))
        } else if p.row_count.is_some_and(|r| r >= 0 && r as u64 != rows) {
            Some(format!(
                "the file holds {rows} rows but the server announced {}",
                p.row_count.unwrap_or_default()
            ))
        } else {
            None
        };
        if let Some(what) = mismatch {
            cleanup().await;
            return Err(Fetch::Retry(ErrorReport::local(
                error_codes::DOWNLOAD_MISMATCH,
                format!("The downloaded file is incomplete: {what}. It was discarded; downloading again."),
                true,
            )));
        }
        let path = place_file(&part, dir, &name).await.map_err(Fetch::Fatal)?;
        if let Err(err) = mark_from_internet(&path) {
            // A file system without the mark (FAT, a network share) still gets the file.
            tracing::warn!(path = %path.display(), error = %err, "could not mark the export as downloaded from the internet");
        }
        Ok(path)
    }
}

/// Marks a downloaded file as coming from the internet, as browsers do, so the OS warns before
/// anything in it is run: Mark-of-the-Web on Windows (the `Zone.Identifier` stream, zone 3:
/// Internet), the quarantine attribute on macOS. No URL is recorded (the link is signed, a
/// secret). Elsewhere there is no such mark.
pub fn mark_from_internet(path: &Path) -> std::io::Result<()> {
    #[cfg(windows)]
    {
        let mut stream = path.as_os_str().to_owned();
        stream.push(":Zone.Identifier");
        std::fs::write(stream, "[ZoneTransfer]\r\nZoneId=3\r\n")?;
    }
    #[cfg(target_os = "macos")]
    {
        // `flags;hex time;agent;event id`: 0083 is what Safari writes for a download.
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let value = format!("0083;{secs:08x};ProspectB2B Desktop;");
        rustix::fs::setxattr(
            path,
            "com.apple.quarantine",
            value.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )?;
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    let _ = path;
    Ok(())
}

/// The file "Open" may hand to the OS for a job: its downloaded file, only if it still is a
/// regular file (not a link) with the export format's extension, directly inside the job's
/// destination folder. Anything else (a job saved by an older version under a server-chosen
/// name, a path edited in the database, a file replaced by a link) is refused unopened, with
/// `unsafe_download`.
pub fn openable_export(job: &ExportJob) -> Result<PathBuf, ErrorReport> {
    let Some(local) = job.local_path.as_deref() else {
        return Err(ErrorReport::local(
            crate::error::codes::INVALID_INPUT,
            "This export has not been downloaded yet.",
            false,
        ));
    };
    let path = PathBuf::from(local);
    let refuse = |why: &str| {
        Err(ErrorReport::local(
            Code::UnsafeDownload,
            format!(
                "{} was not opened: {why}. Only .{EXPORT_EXTENSION} files this app downloaded \
                 into {} are opened; download the export again, or open the file yourself \
                 from its folder if you trust it.",
                path.display(),
                job.dest_dir
            ),
            false,
        ))
    };
    let ext_ok = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(EXPORT_EXTENSION));
    if !ext_ok {
        return refuse(&format!("it is not a .{EXPORT_EXTENSION} file"));
    }
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return refuse("it is no longer a plain file"),
        Err(_) => return refuse("the file is no longer there"),
    }
    let parent = path.parent().map(std::fs::canonicalize);
    let dest = std::fs::canonicalize(&job.dest_dir);
    match (parent, dest) {
        (Some(Ok(parent)), Ok(dest)) if parent == dest => Ok(path),
        _ => refuse("it is not in the export's folder"),
    }
}

/// How long a temporary download file must have been left untouched to count as left over (a
/// download in progress, in this or another process, writes to it all the time).
pub const LEFTOVER_AFTER: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Whether `name` is a temporary file of this app: `.<name>.job_<20 hex>.part`, the name
/// `fetch_file` gives a download, or `.<name>.save_<20 hex>.part`, a file being saved
/// ([`crate::saved_files::write_atomically`]). Nothing else (a user's own `.part` file) ever
/// matches.
pub fn is_our_part_file(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some(rest) = rest.strip_suffix(".part") else {
        return false;
    };
    let Some((stem, job)) = rest.rsplit_once('.') else {
        return false;
    };
    let Some(hex) = job
        .strip_prefix("job_")
        .or_else(|| job.strip_prefix("save_"))
    else {
        return false;
    };
    !stem.is_empty()
        && hex.len() == 20
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Removes this app's temporary download files (lead data) left in `dirs` by a crash or a kill
/// ([`is_our_part_file`], untouched for `older_than`); a download resumes from a fresh link, so
/// nothing is lost. Other files are never touched, links never followed. Returns what was
/// removed.
pub fn remove_leftover_parts(
    dirs: impl IntoIterator<Item = PathBuf>,
    older_than: std::time::Duration,
) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for dir in dirs {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let ours = entry.file_name().to_str().is_some_and(is_our_part_file);
            let Ok(meta) = entry.metadata() else { continue };
            let stale = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age >= older_than);
            if ours && meta.is_file() && stale && std::fs::remove_file(entry.path()).is_ok() {
                removed.push(entry.path());
            }
        }
    }
    removed
}

impl Exports {
    /// [`remove_leftover_parts`] in every folder an export job of this database downloads to
    /// (all workspaces) and in `extra` (the Downloads folder). At the app's start and before the
    /// CLI's export commands.
    pub fn remove_leftover_parts(&self, extra: &[PathBuf]) -> Vec<PathBuf> {
        let dirs: Vec<PathBuf> = self
            .store
            .with_conn(|c| {
                let mut st = c.prepare("SELECT DISTINCT dest_dir FROM export_jobs")?;
                let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect();
        let removed = remove_leftover_parts(
            dirs.into_iter().chain(extra.iter().cloned()),
            LEFTOVER_AFTER,
        );
        for path in &removed {
            tracing::info!(path = %path.display(), "removed a download left over by a crash");
        }
        removed
    }
}

enum Fetch {
    Cancelled,
    /// Worth a fresh probe and another try.
    Retry(ErrorReport),
    Fatal(ErrorReport),
}

fn link_error(err: &ApiError) -> ErrorReport {
    ErrorReport::from(err)
}

async fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (tokio::fs::metadata(a).await, tokio::fs::metadata(b).await) else {
        return false;
    };
    if ma.len() != mb.len() || !mb.is_file() {
        return false;
    }
    let (Ok(mut fa), Ok(mut fb)) = (
        tokio::fs::File::open(a).await,
        tokio::fs::File::open(b).await,
    ) else {
        return false;
    };
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let n = match fa.read(&mut ba).await {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 {
            return true;
        }
        if fb.read_exact(&mut bb[..n]).await.is_err() || ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// Moves the finished temp file to `dir/name`, never over a different file: an identical file
/// already there (a crash after the rename) is kept; otherwise `name (1).csv`, `name (2).csv`...
async fn place_file(part: &Path, dir: &Path, name: &str) -> Result<PathBuf, ErrorReport> {
    for n in 0..1000u32 {
        let candidate = dir.join(if n == 0 {
            name.to_owned()
        } else {
            with_suffix(name, n)
        });
        if tokio::fs::symlink_metadata(&candidate).await.is_ok() {
            if same_content(part, &candidate).await {
                let _ = tokio::fs::remove_file(part).await;
                return Ok(candidate);
            }
            continue;
        }
        // A hard link fails if the name appeared meanwhile (no clobbering); file systems
        // without hard links fall back to a rename after the existence check above.
        match tokio::fs::hard_link(part, &candidate).await {
            Ok(()) => {
                let _ = tokio::fs::remove_file(part).await;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                return match tokio::fs::rename(part, &candidate).await {
                    Ok(()) => Ok(candidate),
                    Err(e) => Err(io_error("move the file to", &candidate, &e)),
                };
            }
        }
    }
    Err(ErrorReport::local(
        Code::IoError,
        format!("Too many files named like {name} in {}.", dir.display()),
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sanitized_names_stay_in_the_folder(name in ".{0,300}") {
            let out = sanitize_file_name(&name, "exp_1.csv");
            prop_assert!(!out.is_empty());
            prop_assert!(!out.contains('/') && !out.contains('\\') && !out.contains('\0'));
            prop_assert!(out != "." && out != ".." && !out.starts_with('.'));
            prop_assert!(out.len() <= 190);
            let p = Path::new("/dest").join(&out);
            prop_assert_eq!(p.parent(), Some(Path::new("/dest")));
        }

        #[test]
        fn record_counter_ignores_chunking(cells in proptest::collection::vec("[a-z\",\r\n]{0,8}", 0..20), cut in 0usize..200) {
            let mut csv = String::from("a,b\r\n");
            for c in &cells {
                csv.push('"');
                csv.push_str(&c.replace('"', "\"\""));
                csv.push_str("\",x\r\n");
            }
            let bytes = csv.as_bytes();
            let mut whole = CsvRecordCounter::default();
            whole.feed(bytes);
            let mut parts = CsvRecordCounter::default();
            let cut = cut.min(bytes.len());
            parts.feed(&bytes[..cut]);
            parts.feed(&bytes[cut..]);
            prop_assert_eq!(whole.records(), cells.len() as u64 + 1);
            prop_assert_eq!(parts.records(), whole.records());
        }
    }

    #[test]
    fn traversal_and_reserved_names_are_defused() {
        assert_eq!(sanitize_file_name("../../etc/passwd", "f.csv"), "passwd");
        assert_eq!(sanitize_file_name("..\\..\\boot.ini", "f.csv"), "boot.ini");
        assert_eq!(sanitize_file_name("..", "exp_1.csv"), "exp_1.csv");
        assert_eq!(sanitize_file_name("", "../x"), "x");
        assert_eq!(sanitize_file_name("CON.csv", "f.csv"), "_CON.csv");
        assert_eq!(sanitize_file_name("a:b?.csv", "f.csv"), "a_b_.csv");
        assert_eq!(sanitize_file_name("leads.csv", "f.csv"), "leads.csv");
        let long = format!("{}.csv", "é".repeat(200));
        let out = sanitize_file_name(&long, "f.csv");
        assert!(out.len() <= 180 && out.ends_with(".csv"), "{out}");
        assert_eq!(with_suffix("leads.csv", 2), "leads (2).csv");
        assert_eq!(with_suffix("leads", 1), "leads (1)");
    }

    #[test]
    fn export_names_always_end_in_the_formats_extension_without_format_characters() {
        // The right-to-left override that shows `leads\u{202E}vsc.exe` as `leadsexe.csv`.
        assert_eq!(
            export_file_name(Some("leads\u{202E}vsc.exe"), "exp_1"),
            "leadsvsc.csv"
        );
        assert_eq!(export_file_name(Some("run.bat"), "exp_1"), "run.csv");
        assert_eq!(export_file_name(Some("x.desktop"), "exp_1"), "x.csv");
        assert_eq!(export_file_name(Some("page.HTA"), "exp_1"), "page.csv");
        assert_eq!(
            export_file_name(Some("invoice.pdf.exe"), "exp_1"),
            "invoice.pdf.csv"
        );
        assert_eq!(export_file_name(Some("leads.CSV"), "exp_1"), "leads.CSV");
        assert_eq!(export_file_name(Some("leads"), "exp_1"), "leads.csv");
        assert_eq!(export_file_name(None, "exp_1"), "exp_1.csv");
        assert_eq!(export_file_name(Some(".bashrc"), "exp_1"), "bashrc.csv");
        assert_eq!(
            export_file_name(Some("\u{2066}\u{200F}"), "exp_1"),
            "exp_1.csv"
        );
        assert_eq!(
            export_file_name(Some("a\u{200B}b\u{FEFF}c\u{2067}.csv"), "exp_1"),
            "abc.csv"
        );
        for c in [
            '\u{202E}',
            '\u{202A}',
            '\u{2066}',
            '\u{2069}',
            '\u{200E}',
            '\u{061C}',
            '\u{E0041}',
        ] {
            assert!(is_format_char(c), "{c:?}");
        }
        for c in ['a', 'é', '日', ' ', '-', '\u{0300}'] {
            assert!(!is_format_char(c), "{c:?}");
        }
    }

    proptest! {
        #[test]
        fn export_names_are_csv_files_in_the_folder(name in "\\PC{0,200}", raw in ".{0,60}") {
            for n in [name.as_str(), raw.as_str()] {
                let out = export_file_name(Some(n), "exp_1");
                prop_assert!(out.ends_with(".csv") || out.ends_with(".CSV") || out.to_ascii_lowercase().ends_with(".csv"), "{}", out);
                prop_assert!(!out.chars().any(|c| is_format_char(c) || c.is_control()), "{:?}", out);
                prop_assert!(!out.starts_with('.') && !out.contains('/') && !out.contains('\\'));
                prop_assert!(out.len() <= 190);
                let p = Path::new("/dest").join(&out);
                prop_assert_eq!(p.parent(), Some(Path::new("/dest")));
                prop_assert_eq!(p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase), Some("csv".to_owned()));
            }
        }
    }

    fn job_with(dest: &Path, local: Option<&Path>) -> ExportJob {
        ExportJob {
            job_id: "job_1".into(),
            profile: "p".into(),
            export_id: Some("exp_1".into()),
            status: ExportStatus::Completed,
            idempotency_key: "k".into(),
            updated_after: None,
            fields: None,
            row_count: None,
            byte_size: None,
            file_name: None,
            server_error: None,
            expires_at: None,
            dest_dir: dest.display().to_string(),
            local_path: local.map(|p| p.display().to_string()),
            auto_download: true,
            polling: PollingState::Done,
            probe_count: 0,
            last_probe_at: None,
            request_ids: vec![],
            error: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn open_hands_over_only_csv_files_inside_the_exports_folder() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("Downloads");
        std::fs::create_dir(&dest).unwrap();
        let csv = dest.join("leads.csv");
        std::fs::write(&csv, "id\n").unwrap();
        assert_eq!(openable_export(&job_with(&dest, Some(&csv))).unwrap(), csv);
        // Not downloaded yet.
        assert_eq!(
            openable_export(&job_with(&dest, None)).unwrap_err().code,
            Code::InvalidInput
        );
        // Another type (an older version kept the server's `.desktop`), another folder, a
        // path climbing out of the folder, a missing file, a folder named like a CSV.
        let desktop = dest.join("run.desktop");
        std::fs::write(&desktop, "[Desktop Entry]").unwrap();
        let elsewhere = dir.path().join("other.csv");
        std::fs::write(&elsewhere, "id\n").unwrap();
        let climbing = dest.join("../other.csv");
        let dir_csv = dest.join("d.csv");
        std::fs::create_dir(&dir_csv).unwrap();
        for bad in [desktop, elsewhere, climbing, dest.join("gone.csv"), dir_csv] {
            let err = openable_export(&job_with(&dest, Some(&bad))).unwrap_err();
            assert_eq!(err.code, Code::UnsafeDownload, "{}", bad.display());
            assert!(err.message.contains("was not opened"), "{}", err.message);
        }
        #[cfg(unix)]
        {
            let link = dest.join("link.csv");
            std::os::unix::fs::symlink(dir.path().join("other.csv"), &link).unwrap();
            let err = openable_export(&job_with(&dest, Some(&link))).unwrap_err();
            assert_eq!(err.code, Code::UnsafeDownload);
        }
    }

    #[test]
    fn only_our_stale_part_files_are_removed() {
        assert!(is_our_part_file(".leads.csv.job_0123456789abcdef0123.part"));
        assert!(is_our_part_file(".a b.csv.job_0123456789abcdef0123.part"));
        // A file being saved (saved_files::write_atomically).
        assert!(is_our_part_file(
            ".leads.csv.save_0123456789abcdef0123.part"
        ));
        for other in [
            "leads.csv.job_0123456789abcdef0123.part",
            ".job_0123456789abcdef0123.part",
            ".leads.csv.job_0123.part",
            ".leads.csv.job_0123456789ABCDEF0123.part",
            ".leads.csv.job_0123456789abcdef0123.part.bak",
            ".movie.mkv.part",
            "notes.part",
            ".leads.csv.0123456789abcdef0123.part",
            ".leads.csv.saved_0123456789abcdef0123.part",
            ".leads.csv.save_0123.part",
        ] {
            assert!(!is_our_part_file(other), "{other}");
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let put = |name: &str, old: bool| {
            let p = d.join(name);
            std::fs::write(&p, "id,email\n1,a@example.com\n").unwrap();
            if old {
                std::fs::File::options()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_modified(hour_ago)
                    .unwrap();
            }
            p
        };
        let stale = put(".leads.csv.job_0123456789abcdef0123.part", true);
        let active = put(".leads.csv.job_aaaaaaaaaaaaaaaaaaaa.part", false);
        let users = put(".movie.mkv.part", true);
        let users2 = put("leads.csv.job_0123456789abcdef0123.part", true);
        let done = put("leads.csv", true);
        // A folder named like ours is not a file: left alone.
        std::fs::create_dir(d.join(".x.csv.job_bbbbbbbbbbbbbbbbbbbb.part")).unwrap();
        let removed = remove_leftover_parts(
            [d.to_path_buf(), d.to_path_buf(), d.join("missing")],
            LEFTOVER_AFTER,
        );
        assert_eq!(removed, vec![stale.clone()]);
        assert!(!stale.exists());
        for kept in [&active, &users, &users2, &done] {
            assert!(kept.exists(), "{}", kept.display());
        }
        assert!(d.join(".x.csv.job_bbbbbbbbbbbbbbbbbbbb.part").is_dir());
    }

    #[test]
    fn record_counter_counts_quoted_line_breaks_once() {
        let mut c = CsvRecordCounter::default();
        c.feed(b"id,note\r\n1,\"two\r\nlines\"\r\n2,plain");
        assert_eq!(c.records(), 3);
        let mut empty = CsvRecordCounter::default();
        empty.feed(b"");
        assert_eq!(empty.records(), 0);
    }
}
