//! The tolerant, streaming table reader: encoding detection (UTF-8 ±BOM, UTF-16 LE/BE with BOM,
//! Windows-1252 when the bytes are not UTF-8), delimiter sniffing among `,` `;` tab `|`, RFC 4180
//! quoting (the `csv` crate), blank lines and ragged rows counted instead of failing.

use crate::error::Code;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use csv::ByteRecord;
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};
use encoding_rs_io::DecodeReaderBytesBuilder;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{codes, ErrorReport};

/// How many bytes of the head are used to detect the encoding and the delimiter.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// The delimiters the reader considers.
pub const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// What the reader found out about a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "FileFormat.ts")]
pub struct FileFormat {
    /// `UTF-8`, `UTF-16LE`, `UTF-16BE` or `windows-1252`.
    pub encoding: String,
    pub bom: bool,
    /// One of `,` `;` `\t` `|`; empty for a workbook.
    pub delimiter: String,
    /// The sheet read, for a workbook (`.xlsx`); `null` for text. Part of the import's
    /// identity: another sheet of the same file is another import.
    #[serde(default)]
    pub sheet: Option<String>,
    /// Every worksheet of the workbook (empty for text), for the sheet picker.
    #[serde(default)]
    pub sheets: Vec<String>,
}

/// Where one data row is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowInfo {
    /// The row number a spreadsheet shows for this record: the header is row 1, each record
    /// (a quoted field may span lines) is one row; empty lines are not rows. Shown to the user
    /// and written to the reports as `row_number`.
    pub line: u64,
    /// Whether the row has a different number of cells than the header.
    pub ragged: bool,
}

/// Counters the reader keeps while streaming.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "ReadStats.ts")]
pub struct ReadStats {
    #[ts(type = "number")]
    pub rows: u64,
    /// Rows whose cells are all empty (`;;;;` from Excel), and empty lines (counted when the
    /// end of the file is reached).
    #[ts(type = "number")]
    pub blank_lines: u64,
    /// Rows with more or fewer cells than the header (read anyway: missing cells are empty,
    /// extra cells ignored).
    #[ts(type = "number")]
    pub ragged_rows: u64,
    /// Bytes of the file read so far (for a progress bar).
    #[ts(type = "number")]
    pub bytes_read: u64,
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> ErrorReport {
    ErrorReport::local(
        Code::IoError,
        format!("Could not read {}: {e}", path.display()),
        false,
    )
}

/// Detects the encoding from the head of a file: `(encoding, bom length)`.
pub fn detect_encoding(head: &[u8]) -> (&'static Encoding, usize) {
    if let Some((enc, len)) = Encoding::for_bom(head) {
        return (enc, len);
    }
    match std::str::from_utf8(head) {
        Ok(_) => (UTF_8, 0),
        // An incomplete sequence at the very end of the head is still UTF-8.
        Err(e) if e.error_len().is_none() => (UTF_8, 0),
        Err(_) => (WINDOWS_1252, 0),
    }
}

/// Picks the delimiter whose first records have the most consistent number (> 1) of cells.
pub fn sniff_delimiter(text: &str, whole_file: bool) -> u8 {
    let mut best = (0.0f64, 0usize, b',');
    for &d in &DELIMITERS {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(d)
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut counts: Vec<usize> = Vec::new();
        let mut rec = ByteRecord::new();
        while counts.len() < 50 {
            match rdr.read_byte_record(&mut rec) {
                Ok(true) => {
                    if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                        continue;
                    }
                    counts.push(rec.len())
                }
                _ => break,
            }
        }
        // The last record of a cut head may be incomplete.
        if !whole_file && counts.len() > 2 {
            counts.pop();
        }
        let Some(&first) = counts.first() else {
            continue;
        };
        if first < 2 {
            continue;
        }
        let same = counts.iter().filter(|&&c| c == first).count() as f64 / counts.len() as f64;
        if (same, first) > (best.0, best.1) {
            best = (same, first, d);
        }
    }
    best.2
}

/// Excel's `sep=;` first line: the delimiter it names.
pub fn excel_sep_hint(text: &str) -> Option<u8> {
    let first = text.lines().next()?.trim_end();
    let d = first.strip_prefix("sep=")?;
    match d.as_bytes() {
        [c] if DELIMITERS.contains(c) => Some(*c),
        _ => None,
    }
}

/// Decodes the head for sniffing (the BOM removed).
fn decode_head(head: &[u8], enc: &'static Encoding, bom: usize) -> String {
    let body = &head[bom.min(head.len())..];
    let (text, _) = enc.decode_without_bom_handling(body);
    text.into_owned()
}

/// Detects the format of `path` from its head.
pub fn detect_format(path: &Path) -> Result<FileFormat, ErrorReport> {
    let mut f = File::open(path).map_err(|e| io_error(path, e))?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut f)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| io_error(path, e))?;
    let whole = (head.len() as u64) < SNIFF_BYTES as u64;
    Ok(format_of(&head, whole))
}

/// The format of a head of bytes (`whole` when it is the whole file).
pub fn format_of(head: &[u8], whole: bool) -> FileFormat {
    let (enc, bom) = detect_encoding(head);
    let text = decode_head(head, enc, bom);
    let d = excel_sep_hint(&text).unwrap_or_else(|| sniff_delimiter(&text, whole));
    FileFormat {
        encoding: enc.name().to_owned(),
        bom: bom > 0,
        delimiter: (d as char).to_string(),
        sheet: None,
        sheets: Vec::new(),
    }
}

/// The decoder's own buffer: the file is read in chunks of this size (the decoder's default,
/// 8 KiB, meant a read call per 8 KiB under a parser that asks for 256 KiB). The decoded text
/// does not depend on it.
const DECODE_BUFFER: usize = 256 * 1024;

/// Counts how many bytes the inner reader has given out (progress).
struct Counting<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// A UTF-8 source as it is, less a leading byte order mark.
///
/// Handing the bytes to the parser undecoded gives the same cells as decoding the stream first
/// (encoding_rs, which the other encodings still go through) and parsing the text: the parser's
/// structure bytes (delimiter, quote, CR, LF) are ASCII, an ASCII byte is never part of a
/// malformed UTF-8 sequence, so no replacement moves a cell boundary; and inside a cell,
/// `String::from_utf8_lossy` replaces the same maximal malformed subsequences with one U+FFFD each
/// as the WHATWG decoder does. One malformed case differs: a closing quote with more text after
/// it (`"\xEF"\x82`), where the parser drops the quote and joins the bytes either side of it,
/// which may then read as one U+FFFD (or even one character) where the decoder gave a U+FFFD per
/// side. `a_utf8_file_reads_as_the_stream_decoder_read_it` (that case included) and a property
/// test over well-formed files check it.
struct SkipBom<R> {
    inner: R,
    /// The first bytes read while looking for the mark, still to hand out.
    head: Vec<u8>,
    checked: bool,
}

impl<R: Read> SkipBom<R> {
    fn new(inner: R) -> Self {
        SkipBom {
            inner,
            head: Vec::new(),
            checked: false,
        }
    }
}

impl<R: Read> Read for SkipBom<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.checked {
            self.checked = true;
            let mut head = [0u8; 3];
            let mut n = 0;
            while n < head.len() {
                match self.inner.read(&mut head[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if head[..n] != [0xEF, 0xBB, 0xBF] {
                self.head = head[..n].to_vec();
            }
        }
        if !self.head.is_empty() {
            let n = self.head.len().min(buf.len());
            buf[..n].copy_from_slice(&self.head[..n]);
            self.head.drain(..n);
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Remembers the last byte the csv parser was given (does the text end with a newline?).
struct LastByte<R> {
    inner: R,
    last: std::sync::Arc<std::sync::atomic::AtomicU8>,
}

impl<R: Read> Read for LastByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last
                .store(buf[n - 1], std::sync::atomic::Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// The longest one row may be (decoded bytes). Real rows are a few hundred bytes; a row this
/// long is a quote that opened and never closed, and reading on would hold the rest of the file
/// in memory as one cell.
pub const MAX_ROW_BYTES: u64 = 8 * 1024 * 1024;

/// Counts the decoded bytes handed to the CSV parser and refuses to hand more than
/// [`MAX_ROW_BYTES`] past the start of the record being read (the parser's own read-ahead is a
/// few hundred KiB, far below it).
struct Bounded<R> {
    inner: R,
    delivered: u64,
    record_start: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// The error [`Bounded`] stops the parser with.
#[derive(Debug)]
struct RowTooLong;

impl std::fmt::Display for RowTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a row longer than {} MiB", MAX_ROW_BYTES / (1024 * 1024))
    }
}

impl std::error::Error for RowTooLong {}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = self.record_start.load(std::sync::atomic::Ordering::Relaxed);
        if self.delivered.saturating_sub(start) > MAX_ROW_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                RowTooLong,
            ));
        }
        let n = self.inner.read(buf)?;
        self.delivered += n as u64;
        Ok(n)
    }
}

/// A streaming reader of one table: the header, then one row at a time.
/// Where the rows come from.
enum Source {
    Csv(csv::Reader<Box<dyn Read + Send>>),
    Sheet(super::xlsx::SheetRows),
}

pub struct TableReader {
    source: Source,
    headers: Vec<String>,
    format: FileFormat,
    stats: ReadStats,
    /// Records read (header and blank-celled ones included).
    records: u64,
    /// Newlines inside quoted cells.
    embedded_newlines: u64,
    eof: bool,
    last: std::sync::Arc<std::sync::atomic::AtomicU8>,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Where the record being read starts, in decoded bytes (for [`Bounded`]).
    record_start: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Size of the source in bytes, when known.
    pub size: Option<u64>,
}

impl std::fmt::Debug for TableReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableReader")
            .field("format", &self.format)
            .field("headers", &self.headers)
            .finish()
    }
}

impl TableReader {
    /// Opens a file: detects its format, reads the header row.
    pub fn open(path: &Path) -> Result<Self, ErrorReport> {
        Self::open_sheet(path, None)
    }

    /// Opens a file, and for a workbook the named sheet (the first when `None`); text files
    /// refuse a sheet name. Spreadsheet formats other than `.xlsx` are refused with a remedy.
    pub fn open_sheet(path: &Path, sheet: Option<&str>) -> Result<Self, ErrorReport> {
        match super::xlsx::kind(path) {
            super::xlsx::Kind::Workbook => {
                let size = std::fs::metadata(path).ok().map(|m| m.len());
                return Self::from_sheet(super::xlsx::open(path, sheet)?, size);
            }
            super::xlsx::Kind::Unsupported(what) => {
                return Err(super::xlsx::unsupported(path, what))
            }
            super::xlsx::Kind::Text => {}
        }
        if let Some(name) = sheet {
            return Err(ErrorReport::local(
                Code::InvalidInput,
                format!(
                    "{} is a text file, which has no sheets (asked for sheet “{name}”). Leave the sheet out, or import the .xlsx workbook itself.",
                    path.display()
                ),
                false,
            ));
        }
        let mut f = File::open(path).map_err(|e| io_error(path, e))?;
        let size = f.metadata().ok().map(|m| m.len());
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        (&mut f)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(|e| io_error(path, e))?;
        let whole = head.len() < SNIFF_BYTES;
        let format = format_of(&head, whole);
        f.seek(SeekFrom::Start(0)).map_err(|e| io_error(path, e))?;
        Self::from_reader(Box::new(f), format, size).map_err(|e| io_error(path, e))
    }

    /// Reads bytes already in memory (tests, fuzzing, the preview of a pasted table).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ErrorReport> {
        let format = format_of(&bytes[..bytes.len().min(SNIFF_BYTES)], true);
        let size = Some(bytes.len() as u64);
        Self::from_reader(Box::new(std::io::Cursor::new(bytes)), format, size)
            .map_err(|e| ErrorReport::local(codes::INVALID_INPUT, e.to_string(), false))
    }

    /// Reads `source` in the given format.
    pub fn from_reader(
        source: Box<dyn Read + Send>,
        format: FileFormat,
        size: Option<u64>,
    ) -> Result<Self, csv::Error> {
        let enc = Encoding::for_label(format.encoding.as_bytes()).unwrap_or(UTF_8);
        let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Counting {
            inner: source,
            count: bytes.clone(),
        };
        let decoded: Box<dyn Read + Send> = if enc == UTF_8 {
            // UTF-8 goes to the parser as the file's bytes (the BOM removed), not through a
            // decoder that would check and copy every byte; invalid bytes later in the file
            // become U+FFFD per cell ([`cell`]), exactly as the decoder would have replaced them
            // (see [`SkipBom`]).
            Box::new(SkipBom::new(counted))
        } else {
            Box::new(
                DecodeReaderBytesBuilder::new()
                    .encoding(Some(enc))
                    .bom_override(enc == UTF_16LE || enc == UTF_16BE)
                    .strip_bom(true)
                    .build_with_buffer(counted, vec![0; DECODE_BUFFER])
                    .expect("a decode buffer of more than 4 bytes"),
            )
        };
        let last = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(b'\n'));
        let record_start = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let decoded: Box<dyn Read + Send> = Box::new(Bounded {
            inner: LastByte {
                inner: decoded,
                last: last.clone(),
            },
            delivered: 0,
            record_start: record_start.clone(),
        });
        let delimiter = format.delimiter.bytes().next().unwrap_or(b',');
        let csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(256 * 1024)
            .from_reader(decoded);
        let mut reader = TableReader {
            source: Source::Csv(csv),
            headers: Vec::new(),
            format,
            stats: ReadStats::default(),
            records: 0,
            embedded_newlines: 0,
            eof: false,
            last,
            bytes,
            record_start,
            size,
        };
        let mut rec = ByteRecord::new();
        let mut first = reader.next_nonblank(&mut rec)?;
        // Excel's `sep=;` line is not the header.
        if first.is_some() && rec.len() <= 2 && rec.get(0).is_some_and(|f| f.starts_with(b"sep=")) {
            let hint = rec
                .get(0)
                .map(|f| f.len() == 5 || (f.len() == 4 && rec.len() == 2));
            if hint == Some(true) {
                first = reader.next_nonblank(&mut rec)?;
            }
        }
        if first.is_some() {
            reader.headers = header_names(&rec);
        }
        reader.stats.rows = 0;
        Ok(reader)
    }

    /// Reads one sheet of a workbook (see [`super::xlsx`]): the first row with a value is the
    /// header.
    pub fn from_sheet(
        rows: super::xlsx::SheetRows,
        size: Option<u64>,
    ) -> Result<Self, ErrorReport> {
        let format = FileFormat {
            encoding: "xlsx".into(),
            bom: false,
            delimiter: String::new(),
            sheet: Some(rows.sheet.clone()),
            sheets: rows.sheets.clone(),
        };
        let mut reader = TableReader {
            source: Source::Sheet(rows),
            headers: Vec::new(),
            format,
            stats: ReadStats::default(),
            records: 0,
            embedded_newlines: 0,
            eof: false,
            last: std::sync::Arc::new(std::sync::atomic::AtomicU8::new(b'\n')),
            bytes: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
            record_start: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
            size,
        };
        let mut rec = ByteRecord::new();
        if reader.next_sheet_row(&mut rec)?.is_some() {
            reader.headers = header_names(&rec);
        }
        reader.stats.rows = 0;
        Ok(reader)
    }

    /// The next sheet row with a non-empty cell into `rec`: its row number.
    fn next_sheet_row(&mut self, rec: &mut ByteRecord) -> Result<Option<u64>, ErrorReport> {
        let Source::Sheet(rows) = &mut self.source else {
            return Ok(None);
        };
        loop {
            let Some((line, cells)) = rows.next_row()? else {
                if !self.eof {
                    self.eof = true;
                    // Rows with no cell at all between the last row read and the sheet's end.
                    self.stats.blank_lines += rows.last_row.saturating_sub(self.records);
                    if let Some(size) = self.size {
                        self.bytes.store(size, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                return Ok(None);
            };
            // Rows the sheet skips (no cell at all) are blank lines.
            self.stats.blank_lines += line.saturating_sub(self.records + 1);
            self.records = line;
            if let (Some(size), true) = (self.size, rows.last_row > 0) {
                let done = (size as f64 * line as f64 / rows.last_row as f64) as u64;
                self.bytes
                    .store(done.min(size), std::sync::atomic::Ordering::Relaxed);
            }
            rec.clear();
            for c in &cells {
                rec.push_field(c.as_bytes());
            }
            if cells.iter().all(|c| c.trim().is_empty()) {
                self.stats.blank_lines += 1;
                continue;
            }
            return Ok(Some(line));
        }
    }

    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    pub fn format(&self) -> &FileFormat {
        &self.format
    }

    pub fn stats(&self) -> ReadStats {
        let mut s = self.stats;
        s.bytes_read = self.bytes.load(std::sync::atomic::Ordering::Relaxed);
        s
    }

    /// The next record that has at least one non-empty cell.
    fn next_nonblank(&mut self, rec: &mut ByteRecord) -> Result<Option<u64>, csv::Error> {
        let Source::Csv(csv) = &mut self.source else {
            return Ok(None);
        };
        loop {
            self.record_start
                .store(csv.position().byte(), std::sync::atomic::Ordering::Relaxed);
            if self.eof || !csv.read_byte_record(rec)? {
                if !self.eof {
                    self.eof = true;
                    // Empty lines (the csv parser skips them): every newline not inside a cell
                    // nor ending a record.
                    let total_newlines = csv.position().line().saturating_sub(1);
                    let ends_with_newline =
                        self.last.load(std::sync::atomic::Ordering::Relaxed) == b'\n';
                    let terminated = if ends_with_newline || self.records == 0 {
                        self.records
                    } else {
                        self.records - 1
                    };
                    self.stats.blank_lines += total_newlines
                        .saturating_sub(self.embedded_newlines)
                        .saturating_sub(terminated);
                }
                return Ok(None);
            }
            self.records += 1;
            let line = self.records;
            // memchr's SIMD count: every record is looked through (no newline: 0).
            self.embedded_newlines += memchr::memchr_iter(b'\n', rec.as_slice()).count() as u64;
            if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                self.stats.blank_lines += 1;
                continue;
            }
            return Ok(Some(line));
        }
    }

    /// Reads the next data row into `rec`; `None` at the end. Fails on a read error of the
    /// source, and on a row longer than [`MAX_ROW_BYTES`] (a quote that never closes), which
    /// it names; memory stays bounded either way.
    pub fn read_row(&mut self, rec: &mut ByteRecord) -> Result<Option<RowInfo>, ErrorReport> {
        let line = if matches!(self.source, Source::Sheet(_)) {
            self.next_sheet_row(rec)?
        } else {
            self.next_nonblank(rec).map_err(|e| self.read_error(e))?
        };
        Ok(line.map(|line| {
            self.stats.rows += 1;
            let ragged = rec.len() != self.headers.len();
            if ragged {
                self.stats.ragged_rows += 1;
            }
            RowInfo { line, ragged }
        }))
    }
}

impl TableReader {
    fn read_error(&self, e: csv::Error) -> ErrorReport {
        let too_long = matches!(e.kind(), csv::ErrorKind::Io(io)
            if io.get_ref().is_some_and(|inner| inner.is::<RowTooLong>()));
        if too_long {
            return ErrorReport::local(
                Code::InvalidInput,
                format!(
                    "Row {} opens a quote that never closes: it runs on for more than {} MiB. Close the quote (or remove the stray \") in that row and try again.",
                    self.records + 1,
                    MAX_ROW_BYTES / (1024 * 1024)
                ),
                false,
            );
        }
        ErrorReport::local(Code::IoError, format!("Could not read: {e}"), false)
    }
}

/// The header names of a first row: trimmed, `Column N` for an empty one, `name (N)` for a
/// repeated one.
fn header_names(rec: &ByteRecord) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    rec.iter()
        .enumerate()
        .map(|(i, h)| {
            let h = String::from_utf8_lossy(h).trim().to_owned();
            let name = if h.is_empty() {
                format!("Column {}", i + 1)
            } else {
                h
            };
            if seen.insert(name.to_lowercase()) {
                name
            } else {
                format!("{name} ({})", i + 1)
            }
        })
        .collect()
}

/// The whole record as text when it is valid UTF-8: its cells are then slices of it
/// ([`cell_of`]), checked once per row instead of once per cell.
#[inline]
pub fn record_text(rec: &ByteRecord) -> Option<&str> {
    std::str::from_utf8(rec.as_slice()).ok()
}

/// [`cell`], given the record's [`record_text`].
#[inline]
pub fn cell_of<'r>(
    rec: &'r ByteRecord,
    text: Option<&'r str>,
    i: usize,
) -> std::borrow::Cow<'r, str> {
    // The record's bytes are its cells' contents concatenated (no delimiters), so valid text
    // can still have a character split between two cells: `str::get` refuses a range that is
    // not on character boundaries, and such a cell is decoded on its own, as `cell` does.
    match (text, rec.range(i)) {
        (Some(t), Some(r)) => match t.get(r) {
            Some(s) => std::borrow::Cow::Borrowed(crate::leads::trim_fast(s)),
            None => cell(rec, i),
        },
        _ => cell(rec, i),
    }
}

/// A cell as text (invalid UTF-8 replaced), trimmed.
#[inline]
pub fn cell(rec: &ByteRecord, i: usize) -> std::borrow::Cow<'_, str> {
    match rec.get(i) {
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => std::borrow::Cow::Borrowed(crate::leads::trim_fast(s)),
            Err(_) => std::borrow::Cow::Owned(String::from_utf8_lossy(b).trim().to_owned()),
        },
        None => std::borrow::Cow::Borrowed(""),
    }
}

/// Every cell of a record as text (untrimmed), for the reports.
pub fn cells(rec: &ByteRecord) -> Vec<String> {
    rec.iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect()
}

/// A whole table: headers, rows of cells, and what the reader counted.
pub type Table = (Vec<String>, Vec<Vec<String>>, ReadStats);

/// Reads a whole table from bytes. For tests, fuzzing and small files.
pub fn read_all(bytes: &[u8]) -> Result<Table, ErrorReport> {
    let mut r = TableReader::from_bytes(bytes.to_vec())?;
    let mut rows = Vec::new();
    let mut rec = ByteRecord::new();
    while r.read_row(&mut rec)?.is_some() {
        rows.push(cells(&rec));
    }
    Ok((r.headers.clone(), rows, r.stats()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_detected() {
        assert_eq!(detect_encoding(b"\xEF\xBB\xBFa,b").0, UTF_8);
        assert_eq!(detect_encoding(b"\xFF\xFEa\0").0, UTF_16LE);
        assert_eq!(detect_encoding(b"\xFE\xFF\0a").0, UTF_16BE);
        assert_eq!(detect_encoding(b"caf\xC3\xA9").0, UTF_8);
        assert_eq!(detect_encoding(b"caf\xE9;x").0, WINDOWS_1252);
        // Cut in the middle of a UTF-8 sequence.
        assert_eq!(detect_encoding(b"caf\xC3").0, UTF_8);
    }

    /// Every cell of `bytes` read as UTF-8 by the reader, and as the stream decoder would have
    /// given them: the whole file decoded (BOM removed, malformed bytes replaced), then parsed.
    fn both_ways(bytes: &[u8]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
        let format = FileFormat {
            encoding: "UTF-8".into(),
            bom: bytes.starts_with(b"\xEF\xBB\xBF"),
            delimiter: ",".into(),
            sheet: None,
            sheets: Vec::new(),
        };
        let cells_of = |rec: &ByteRecord| -> Vec<String> {
            (0..rec.len()).map(|i| cell(rec, i).into_owned()).collect()
        };
        let mut r =
            TableReader::from_reader(Box::new(std::io::Cursor::new(bytes.to_vec())), format, None)
                .unwrap();
        let mut ours = vec![r.headers().to_vec()];
        let mut rec = ByteRecord::new();
        while r.read_row(&mut rec).unwrap().is_some() {
            ours.push(cells_of(&rec));
        }
        let (text, _) = UTF_8.decode_with_bom_removal(bytes);
        let mut decoded = Vec::new();
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        for rec in csv.byte_records() {
            let rec = rec.unwrap();
            if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            decoded.push(if decoded.is_empty() {
                header_names(&rec)
            } else {
                cells_of(&rec)
            });
        }
        if decoded.is_empty() {
            decoded.push(Vec::new());
        }
        (ours, decoded)
    }

    #[test]
    fn a_utf8_file_reads_as_the_stream_decoder_read_it() {
        let files: [&[u8]; 6] = [
            b"\xEF\xBB\xBFname,email\nAda,ada@example.com\n",
            b"name,email\nAd\xFFa,x\xC3\n\xE2\x82,\xF0\x9F\x98\n",
            b"a,b\n\"q\xC3,\xA9\",\xED\xA0\x80z\n\xC0\xAF,\xF5\x80\n",
            b"\xEF\xBB",
            b"",
            b"x\r\n\xEF\xBB\xBFy,\x80\x80\x80\r\n",
        ];
        for bytes in files {
            let (ours, decoded) = both_ways(bytes);
            assert_eq!(ours, decoded, "{bytes:?}");
        }
        // The one difference: bad bytes either side of a closing quote that text follows.
        let (ours, decoded) = both_ways(b"a,\"\xEF\"\x82\n");
        assert_eq!(ours, [vec!["a".to_owned(), "\u{FFFD}".to_owned()]]);
        assert_eq!(
            decoded,
            [vec!["a".to_owned(), "\u{FFFD}\u{FFFD}".to_owned()]]
        );
    }

    /// A well-formed CSV of cells made of ASCII and bytes of (and around) multi-byte sequences,
    /// quoted or not, with an optional BOM.
    fn utf8ish_csv() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let byte = proptest::sample::select(vec![
            b'a', b'Z', b'0', b' ', b',', b'"', b'\n', b'\r', 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0,
            0x9F, 0x98, 0x80, 0xFF, 0xEF, 0xBB, 0xBF, 0xED, 0xA0, 0x97,
        ]);
        let cell = (any::<bool>(), proptest::collection::vec(byte, 0..8));
        let row = proptest::collection::vec(cell, 1..5);
        (
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(row, 0..8),
        )
            .prop_map(|(bom, crlf, rows)| {
                let mut out = if bom {
                    b"\xEF\xBB\xBF".to_vec()
                } else {
                    Vec::new()
                };
                for row in rows {
                    for (i, (quoted, content)) in row.into_iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        if quoted {
                            out.push(b'"');
                            for b in content {
                                out.extend_from_slice(if b == b'"' {
                                    b"\"\""
                                } else {
                                    std::slice::from_ref(&b)
                                });
                            }
                            out.push(b'"');
                        } else {
                            out.extend(content.into_iter().filter(|b| !b",\"\r\n".contains(b)));
                        }
                    }
                    out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                }
                out
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]
        #[test]
        fn a_well_formed_utf8ish_csv_reads_as_the_stream_decoder_read_it(bytes in utf8ish_csv()) {
            let (ours, decoded) = both_ways(&bytes);
            proptest::prop_assert_eq!(ours, decoded);
        }
    }

    #[test]
    fn delimiters_are_sniffed() {
        assert_eq!(sniff_delimiter("a;b;c\n1;2;3\n", true), b';');
        assert_eq!(sniff_delimiter("a\tb\n1\t2\n", true), b'\t');
        assert_eq!(sniff_delimiter("a|b\n1|2\n", true), b'|');
        assert_eq!(sniff_delimiter("a,b\n\"1;2\",3\n", true), b',');
        assert_eq!(sniff_delimiter("", true), b',');
    }
}
