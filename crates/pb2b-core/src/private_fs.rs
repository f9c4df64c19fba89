//! The data folder is its user's alone: folders are created `0700` and files `0600` on Unix
//! (the request log, the journals, the mirror, the profiles file hold personal data), whatever
//! the umask. Elsewhere the per-user application-data folder's own permissions apply.

use std::fs::File;
use std::io;
use std::path::Path;

/// Creates `path` and its missing parents, each new folder `0700`.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Creates (or truncates) the file at `path` for writing, `0600` when new.
pub fn create_file(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Makes an existing file `0600` (a database SQLite created; its `-wal` and `-shm` files then
/// take the same mode).
pub fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes an existing folder `0700` (one an older version created with the umask's mode).
pub fn restrict_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes sure the file at `path` is the user's alone before another component writes it in
/// place (tauri-plugin-store's `preferences.json`, the sandbox's SQLite file): a missing file
/// is created `0600` holding `initial`; an existing one (never truncated) is made `0600`.
pub fn ensure_private_file(path: &Path, initial: &[u8]) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => std::io::Write::write_all(&mut file, initial),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => restrict(path),
        Err(e) => Err(e),
    }
}

/// [`ensure_private_file`] for a SQLite database another component opens: the file (empty when
/// new: SQLite makes it a database) and any `-wal`/`-shm` beside it are `0600`; SQLite gives new
/// `-wal`/`-shm` files the database's mode.
pub fn ensure_private_database(path: &Path) -> io::Result<()> {
    ensure_private_file(path, b"")?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = std::path::PathBuf::from(side);
        if side.exists() {
            restrict(&side)?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_other_components_write_are_made_the_users_alone_under_a_permissive_umask() {
        // What the process would otherwise give new files: rw for everyone.
        let old = rustix::process::umask(rustix::fs::Mode::empty());
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // preferences.json before tauri-plugin-store writes it in place: created with content.
        let prefs = d.join("preferences.json");
        ensure_private_file(&prefs, b"{}").unwrap();
        assert_eq!(mode(&prefs), 0o600);
        assert_eq!(std::fs::read(&prefs).unwrap(), b"{}");
        // An existing one (an older version's) keeps its content and becomes 0600.
        std::fs::write(&prefs, br#"{"sync_interval_minutes":5}"#).unwrap();
        std::fs::set_permissions(&prefs, std::fs::Permissions::from_mode(0o666)).unwrap();
        ensure_private_file(&prefs, b"{}").unwrap();
        assert_eq!(mode(&prefs), 0o600);
        assert_eq!(
            std::fs::read(&prefs).unwrap(),
            br#"{"sync_interval_minutes":5}"#
        );
        // The sandbox's database, then SQLite's own -wal and -shm beside it.
        let db = d.join("sandbox.sqlite");
        ensure_private_database(&db).unwrap();
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);",
        )
        .unwrap();
        for name in ["sandbox.sqlite", "sandbox.sqlite-wal", "sandbox.sqlite-shm"] {
            assert_eq!(mode(&d.join(name)), 0o600, "{name}");
        }
        drop(conn);
        // Left by an older version: every file is made 0600.
        for name in ["sandbox.sqlite", "sandbox.sqlite-wal", "sandbox.sqlite-shm"] {
            std::fs::write(d.join(name), b"").ok();
            std::fs::set_permissions(d.join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        ensure_private_database(&db).unwrap();
        for name in ["sandbox.sqlite", "sandbox.sqlite-wal", "sandbox.sqlite-shm"] {
            assert_eq!(mode(&d.join(name)), 0o600, "{name}");
        }
        // A folder an older version created (the log folder).
        let logs = d.join("logs");
        std::fs::create_dir(&logs).unwrap();
        assert_eq!(mode(&logs), 0o777);
        restrict_dir(&logs).unwrap();
        assert_eq!(mode(&logs), 0o700);
        // The files the core writes itself (reports, the mirror's export) stay 0600 too.
        drop(create_file(&d.join("errors.csv")).unwrap());
        assert_eq!(mode(&d.join("errors.csv")), 0o600);
        rustix::process::umask(old);
    }

    #[test]
    fn folders_and_files_are_the_users_alone() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        create_dir_all(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        let f = data.join("settings.json");
        drop(create_file(&f).unwrap());
        assert_eq!(mode(&f), 0o600);
        // The database, its WAL and shared memory, and the profiles file the core writes.
        let store = crate::store::Store::open(&data.join("pb2b.sqlite")).unwrap();
        store
            .with_conn(|c| c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);"))
            .unwrap();
        for name in ["pb2b.sqlite", "pb2b.sqlite-wal", "pb2b.sqlite-shm"] {
            assert_eq!(mode(&data.join(name)), 0o600, "{name}");
        }
        let profiles = crate::profiles::JsonFileSettings::new(data.join("profiles.json"));
        profiles.update(|_| Ok(())).unwrap();
        assert_eq!(mode(&data.join("profiles.json")), 0o600);
    }
}
