//! File I/O shared by the app and the CLI: atomic writes that never replace anything but a
//! regular file, and the exclusive lock of a run folder.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// How many symbolic links [`write_atomic`] follows before giving up (a loop).
const MAX_LINKS: usize = 40;

/// Where a write to `path` really goes: `path` itself, or the end of its chain of symbolic
/// links (a dangling link gives the path its target would have).
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&p)?;
                p = if link.is_absolute() {
                    link
                } else {
                    p.parent().unwrap_or(Path::new(".")).join(link)
                };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other(format!(
        "too many levels of symbolic links: {}",
        path.display()
    )))
}

/// What kind of thing an output path names, after following symbolic links.
enum Target {
    /// Nothing yet, or a regular file: written atomically.
    File,
    /// A FIFO or a character or block device: written straight into, never replaced.
    Stream,
}

fn target_kind(path: &Path) -> std::io::Result<Target> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Target::File),
        Err(e) => return Err(e),
    };
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(Target::File);
    }
    if ft.is_dir() {
        return Err(std::io::Error::other(format!(
            "is a folder, not a file: {}",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            return Ok(Target::Stream);
        }
    }
    Err(std::io::Error::other(format!(
        "not a regular file, FIFO or device; refusing to replace it: {}",
        path.display()
    )))
}

/// Writes a file safely. For a new path or a regular file: `write` fills a temporary file in
/// the same folder, which is then synced and renamed over the file, so on any error the
/// temporary file is removed and the file is left as it was. A symbolic link is followed and
/// its target replaced that way (the link stays a link). A FIFO or a device (`/dev/null`,
/// `/dev/stdout`) is written straight into and never replaced. A folder or a socket is
/// refused.
pub fn write_atomic<F>(path: &Path, write: F) -> std::io::Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
{
    let path = resolve_links(path)?;
    match target_kind(&path)? {
        Target::Stream => {
            let file = std::fs::OpenOptions::new().write(true).open(&path)?;
            let mut w = BufWriter::new(file);
            write(&mut w)?;
            w.flush()
        }
        Target::File => write_replacing(&path, write),
    }
}

fn write_replacing<F>(path: &Path, write: F) -> std::io::Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
{
    let tmp = temp_path(path);
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        w.flush()?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// The exclusive lock of a run folder, held while a process trains into it: the file
/// `.<folder>.lock` beside the folder (not inside it, since a save swaps the folder), holding
/// the owner's process id. The operating system drops the lock when the process ends, even on
/// a crash; the file itself is removed when the lock is released.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// The lock file of the run folder `dir`.
    pub fn lock_path(dir: &Path) -> PathBuf {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        dir.with_file_name(format!(".{name}.lock"))
    }

    /// Takes the lock of `dir` without waiting. The error says who holds it.
    pub fn acquire(dir: &Path) -> Result<Self, String> {
        let path = Self::lock_path(dir);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create the folder {}: {e}", parent.display()))?;
        }
        let cannot = |e: std::io::Error| format!("cannot lock {}: {e}", path.display());
        // A holder removes the file as it lets go; a lock taken on a file that was removed
        // meanwhile is worthless, so try again on the new one.
        for _ in 0..10 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(cannot)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder = match holder.trim() {
                        "" => "another process".to_string(),
                        pid => format!("process {pid}"),
                    };
                    return Err(format!(
                        "{} is in use by another training run ({holder}, lock file {})",
                        dir.display(),
                        path.display()
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(cannot(e)),
            }
            if !same_file(&file, &path) {
                continue;
            }
            file.set_len(0).map_err(cannot)?;
            write!(file, "{}", std::process::id()).map_err(cannot)?;
            file.flush().map_err(cannot)?;
            return Ok(Self { file, path });
        }
        Err(format!("cannot lock {}: it keeps changing", path.display()))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked, so no one else can lock this file after it is gone.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &File, path: &Path) -> bool {
    path.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.txt");
        write_atomic(&p, |w| w.write_all(b"one")).expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"one");
        let err = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&p).expect("read"), b"one", "old content kept");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn unwritable_folder_gives_error() {
        let p = Path::new("/nonexistent-folder-for-test/x.png");
        assert!(write_atomic(p, |w| w.write_all(b"x")).is_err());
    }
}
