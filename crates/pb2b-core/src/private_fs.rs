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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
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
