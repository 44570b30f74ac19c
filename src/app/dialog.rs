//! File dialogs (rfd, on the UI thread only), behind one switch: tests and the UI soak turn
//! them off, so a click on "Export…" or "Open…" never blocks waiting for a desktop portal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

static DISABLED: AtomicBool = AtomicBool::new(false);

/// Turns every file dialog off for this process: they then return None at once, as if the
/// user cancelled (tests, the UI soak).
pub fn disable_file_dialogs() {
    DISABLED.store(true, Ordering::SeqCst);
}

/// What a save dialog gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Picked {
    /// The user picked this path.
    Path(PathBuf),
    /// The user cancelled.
    Cancelled,
    /// No dialog could open (or dialogs are off).
    Unavailable,
}

/// Where an export goes when no dialog can open: the user's pictures folder
/// (`$XDG_PICTURES_DIR`, else `~/Pictures`), in a `diffusion-lab` folder, else the current one.
pub fn default_export_path(file_name: &str) -> PathBuf {
    let pictures = std::env::var_os("XDG_PICTURES_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Pictures")));
    match pictures {
        Some(p) => p.join("diffusion-lab").join(file_name),
        None => PathBuf::from(file_name),
    }
}

/// Opens `folder` in the system's file manager (detached; errors are returned as text).
pub fn open_folder(folder: &std::path::Path) -> Result<(), String> {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    std::process::Command::new(program)
        .arg(folder)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("could not run {program}: {e}"))
}

/// The folder each kind of file was last picked in (this session, and persisted with the
/// settings): a dialog opens there. The kind is the dialog's first filter ("PNG image",
/// "NumPy array", …) or "folder" for folder pickers.
static LAST_FOLDERS: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());

fn last_folders() -> std::sync::MutexGuard<'static, BTreeMap<String, PathBuf>> {
    LAST_FOLDERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records that a file of `kind` was picked at `path` (a file: its folder is kept; a folder:
/// the folder that holds it, so the next dialog shows it among its siblings).
pub fn remember(kind: &str, path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        last_folders().insert(kind.to_owned(), dir.to_path_buf());
    }
}

/// The folder a dialog for `kind` opens in, if one was remembered.
pub fn remembered_folder(kind: &str) -> Option<PathBuf> {
    last_folders().get(kind).cloned()
}

/// Every remembered folder, for the settings (kind → folder).
pub fn remembered_folders() -> BTreeMap<String, String> {
    last_folders()
        .iter()
        .map(|(k, v)| (k.clone(), v.display().to_string()))
        .collect()
}

/// Restores remembered folders from the settings: folders that no longer exist are dropped,
/// and a kind already picked in this session keeps this session's folder.
pub fn restore_folders(folders: &BTreeMap<String, String>) {
    let mut map = last_folders();
    for (k, v) in folders {
        let dir = PathBuf::from(v);
        if dir.is_dir() && !map.contains_key(k) {
            map.insert(k.clone(), dir);
        }
    }
}

/// A file dialog with rfd's builder methods; a no-op returning None when dialogs are off. It
/// opens in the folder where the same kind of file was last picked, unless told otherwise.
pub struct FileDialog {
    inner: Option<rfd::FileDialog>,
    kind: Option<String>,
    directory_set: bool,
}

impl FileDialog {
    /// A new dialog (or the no-op one).
    pub fn new() -> Self {
        Self {
            inner: (!DISABLED.load(Ordering::SeqCst)).then(rfd::FileDialog::new),
            kind: None,
            directory_set: false,
        }
    }

    fn map(mut self, f: impl FnOnce(rfd::FileDialog) -> rfd::FileDialog) -> Self {
        self.inner = self.inner.map(f);
        self
    }

    /// The dialog's title.
    pub fn set_title(self, title: impl Into<String>) -> Self {
        self.map(|d| d.set_title(title))
    }

    /// The file name proposed for saving.
    pub fn set_file_name(self, name: impl Into<String>) -> Self {
        self.map(|d| d.set_file_name(name))
    }

    /// The folder the dialog opens in (instead of the remembered one).
    pub fn set_directory(mut self, dir: impl AsRef<Path>) -> Self {
        self.directory_set = true;
        self.map(|d| d.set_directory(dir))
    }

    /// A filter of file extensions; the first one names the kind of file remembered.
    pub fn add_filter(mut self, name: impl Into<String>, extensions: &[impl ToString]) -> Self {
        let name = name.into();
        self.kind.get_or_insert_with(|| name.clone());
        self.map(|d| d.add_filter(name, extensions))
    }

    /// The rfd dialog, opening in the remembered folder of `kind` unless one was set; None when
    /// dialogs are off.
    fn start(self, fallback_kind: &str) -> Option<(rfd::FileDialog, String)> {
        let kind = self.kind.unwrap_or_else(|| fallback_kind.to_owned());
        let mut d = self.inner?;
        if !self.directory_set
            && let Some(dir) = remembered_folder(&kind)
        {
            d = d.set_directory(dir);
        }
        Some((d, kind))
    }

    /// Asks for a path to save to.
    pub fn save_file(self) -> Option<PathBuf> {
        let (d, kind) = self.start("file")?;
        let p = d.save_file()?;
        remember(&kind, &p);
        Some(p)
    }

    /// Asks for a path to save to, telling a cancel from a dialog that could not open (no
    /// desktop portal or zenity, as on many lab machines: rfd then returns at once), so the
    /// caller can offer an in-app path field instead of doing nothing (#20 item 2).
    pub fn save_file_or_unavailable(self) -> Picked {
        let Some((d, kind)) = self.start("file") else {
            return Picked::Unavailable;
        };
        timed(&kind, || d.save_file())
    }

    /// As [`save_file_or_unavailable`](Self::save_file_or_unavailable), for a folder.
    pub fn pick_folder_or_unavailable(self) -> Picked {
        let Some((d, kind)) = self.start("folder") else {
            return Picked::Unavailable;
        };
        timed(&kind, || d.pick_folder())
    }

    /// Asks for one file.
    pub fn pick_file(self) -> Option<PathBuf> {
        let (d, kind) = self.start("file")?;
        let p = d.pick_file()?;
        remember(&kind, &p);
        Some(p)
    }

    /// Asks for a folder.
    pub fn pick_folder(self) -> Option<PathBuf> {
        let (d, kind) = self.start("folder")?;
        let p = d.pick_folder()?;
        remember(&kind, &p);
        Some(p)
    }
}

/// Runs a dialog, telling a pick from a cancel from a dialog that returned at once (could not
/// open), and remembers the folder of a pick.
fn timed(kind: &str, ask: impl FnOnce() -> Option<PathBuf>) -> Picked {
    let start = std::time::Instant::now();
    match ask() {
        Some(p) => {
            remember(kind, &p);
            Picked::Path(p)
        }
        None if start.elapsed() < std::time::Duration::from_millis(150) => Picked::Unavailable,
        None => Picked::Cancelled,
    }
}

impl Default for FileDialog {
    fn default() -> Self {
        Self::new()
    }
}
