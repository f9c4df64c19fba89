//! Which processes have the data folder's database open, so that "the local database is busy"
//! can say who holds it (the app, `pb2b sync` from a cron job, ...).
//!
//! | rule | how |
//! | --- | --- |
//! | a process says it is here | at [`crate::store::Store::open`], two files in `<db>.processes/`: `<pid>-<n>.json` (what it is) and `<pid>-<n>.lock`, locked exclusively for as long as the store is open |
//! | a process leaves | the store's drop deletes both files; a killed process leaves them, but its lock is gone with it |
//! | who is still here | a `.lock` file that cannot be locked belongs to a live process; one that can is stale and is deleted |
//! | what a process is called | [`set_label`] (the CLI: `pb2b sync`; the app: its name), else the executable's name |
//!
//! The lock is the OS's advisory file lock (`std::fs::File::try_lock`): it dies with the process
//! on every platform, which a PID check does not do portably.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

static LABEL: OnceLock<String> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Names this process in other processes' "busy" messages (call once, early).
pub fn set_label(label: impl Into<String>) {
    let _ = LABEL.set(label.into());
}

fn label() -> String {
    LABEL.get().cloned().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "a program".to_owned())
    })
}

/// One process that has the database open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: u32,
    /// `pb2b sync`, `ProspectB2B Desktop`, ...
    pub label: String,
    /// When it opened the database (RFC 3339).
    pub since: String,
}

impl std::fmt::Display for ProcessInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (process {}, open since {})",
            self.label, self.pid, self.since
        )
    }
}

/// This process's registration; dropping it removes it.
#[derive(Debug)]
pub struct Presence {
    info: PathBuf,
    lock: PathBuf,
    _held: File,
}

fn folder(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".processes");
    db.with_file_name(name)
}

impl Presence {
    /// Registers this process as a user of the database at `db`. `None` when the folder cannot
    /// be written (the database still works; busy messages then name no one).
    pub fn register(db: &Path) -> Option<Presence> {
        let dir = folder(db);
        crate::private_fs::create_dir_all(&dir).ok()?;
        let stem = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let lock = dir.join(format!("{stem}.lock"));
        let info = dir.join(format!("{stem}.json"));
        let held = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .ok()?;
        held.try_lock().ok()?;
        let me = ProcessInfo {
            pid: std::process::id(),
            label: label(),
            since: crate::api::observer::now_utc_ms(),
        };
        std::io::Write::write_all(
            &mut crate::private_fs::create_file(&info).ok()?,
            &serde_json::to_vec(&me).ok()?,
        )
        .ok()?;
        Some(Presence {
            info,
            lock,
            _held: held,
        })
    }

    /// The other live processes that have the database at `db` open (stale entries of killed
    /// processes are removed on the way).
    pub fn others(db: &Path) -> Vec<ProcessInfo> {
        let dir = folder(db);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let me = std::process::id();
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("lock") {
                continue;
            }
            let info_path = path.with_extension("json");
            let alive = match File::open(&path) {
                Ok(f) => match f.try_lock() {
                    Ok(()) => false,
                    Err(std::fs::TryLockError::WouldBlock) => true,
                    Err(std::fs::TryLockError::Error(_)) => true,
                },
                Err(_) => continue,
            };
            let info: Option<ProcessInfo> = std::fs::read(&info_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            if !alive {
                let _ = std::fs::remove_file(&info_path);
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if let Some(info) = info.filter(|i| i.pid != me) {
                found.push(info);
            }
        }
        found.sort_by(|a, b| a.since.cmp(&b.since));
        found
    }
}

/// A lock on a named resource of the database (`sync-<workspace>`: one sync of a mirror at a
/// time across processes), held until dropped; the OS lets it go if the process dies.
#[derive(Debug)]
pub struct NamedLock {
    _held: File,
}

impl NamedLock {
    fn open(db: &Path, name: &str) -> std::io::Result<File> {
        let dir = folder(db);
        crate::private_fs::create_dir_all(&dir)?;
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{safe}.resource")))
    }

    /// Takes the lock `name` of the database at `db` if it is free; `None` when another process
    /// holds it. `name` is made of letters, digits, `_` and `-` (others are replaced).
    pub fn try_take(db: &Path, name: &str) -> std::io::Result<Option<NamedLock>> {
        let file = Self::open(db, name)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(NamedLock { _held: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Waits for the lock `name` on a thread of its own; the receiver resolves when it is held.
    /// The OS hands a released lock to a process already waiting for it, so a waiter is served
    /// before a process that only starts asking later (a cron job's next `pb2b sync` does not
    /// starve the app). Dropping the receiver first gives the lock back as soon as the thread
    /// gets it.
    pub fn take(
        db: &Path,
        name: &str,
    ) -> std::io::Result<tokio::sync::oneshot::Receiver<NamedLock>> {
        let file = Self::open(db, name)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            if file.lock().is_ok() {
                // Nobody waits any more: the lock is released as the refused value drops.
                let _ = tx.send(NamedLock { _held: file });
            }
        });
        Ok(rx)
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.info);
        let _ = std::fs::remove_file(&self.lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_registration_is_seen_and_a_dropped_one_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("pb2b.sqlite");
        let a = Presence::register(&db).expect("registered");
        // Our own pid is never "another" process: read the files as another process would.
        let lock = std::fs::read_dir(folder(&db))
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().and_then(|x| x.to_str()) == Some("lock"))
            .count();
        assert_eq!(lock, 1);
        // The lock is held: another open of the file cannot take it.
        let f = File::open(&a.lock).unwrap();
        assert!(matches!(
            f.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(f);
        assert!(Presence::others(&db).is_empty(), "own process excluded");
        drop(a);
        assert_eq!(std::fs::read_dir(folder(&db)).unwrap().count(), 0);
    }

    #[test]
    fn a_named_lock_is_held_until_dropped_and_a_waiter_gets_it_then() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("pb2b.sqlite");
        let held = NamedLock::try_take(&db, "sync-ws_a")
            .unwrap()
            .expect("free");
        assert!(NamedLock::try_take(&db, "sync-ws_a").unwrap().is_none());
        assert!(NamedLock::try_take(&db, "sync-ws_b").unwrap().is_some());
        let mut waiting = NamedLock::take(&db, "sync-ws_a").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(waiting.try_recv().is_err(), "still held");
        drop(held);
        let got = waiting.blocking_recv().expect("handed over");
        assert!(NamedLock::try_take(&db, "sync-ws_a").unwrap().is_none());
        drop(got);
        assert!(NamedLock::try_take(&db, "sync-ws_a").unwrap().is_some());
    }

    #[test]
    fn a_stale_entry_of_a_killed_process_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("pb2b.sqlite");
        let d = folder(&db);
        std::fs::create_dir_all(&d).unwrap();
        // What a SIGKILLed process leaves: both files, no lock held.
        std::fs::write(d.join("999999-0.lock"), b"").unwrap();
        std::fs::write(
            d.join("999999-0.json"),
            serde_json::to_vec(&ProcessInfo {
                pid: 999_999,
                label: "pb2b sync".into(),
                since: "2026-01-01T00:00:00.000Z".into(),
            })
            .unwrap(),
        )
        .unwrap();
        assert!(Presence::others(&db).is_empty());
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
    }
}
