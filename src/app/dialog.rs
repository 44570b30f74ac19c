//! File dialogs (rfd, on the UI thread only), behind one switch: tests and the UI soak turn
//! them off, so a click on "Export…" or "Open…" never blocks waiting for a desktop portal.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// A file dialog with rfd's builder methods; a no-op returning None when dialogs are off.
pub struct FileDialog(Option<rfd::FileDialog>);

impl FileDialog {
    /// A new dialog (or the no-op one).
    pub fn new() -> Self {
        Self((!DISABLED.load(Ordering::SeqCst)).then(rfd::FileDialog::new))
    }

    /// The dialog's title.
    pub fn set_title(self, title: impl Into<String>) -> Self {
        Self(self.0.map(|d| d.set_title(title)))
    }

    /// The file name proposed for saving.
    pub fn set_file_name(self, name: impl Into<String>) -> Self {
        Self(self.0.map(|d| d.set_file_name(name)))
    }

    /// A filter of file extensions.
    pub fn add_filter(self, name: impl Into<String>, extensions: &[impl ToString]) -> Self {
        Self(self.0.map(|d| d.add_filter(name, extensions)))
    }

    /// Asks for a path to save to.
    pub fn save_file(self) -> Option<PathBuf> {
        self.0?.save_file()
    }

    /// Asks for a path to save to, telling a cancel from a dialog that could not open (no
    /// desktop portal or zenity, as on many lab machines: rfd then returns at once), so the
    /// caller can offer an in-app path field instead of doing nothing (#20 item 2).
    pub fn save_file_or_unavailable(self) -> Picked {
        let Some(d) = self.0 else {
            return Picked::Unavailable;
        };
        let start = std::time::Instant::now();
        match d.save_file() {
            Some(p) => Picked::Path(p),
            None if start.elapsed() < std::time::Duration::from_millis(150) => Picked::Unavailable,
            None => Picked::Cancelled,
        }
    }

    /// As [`save_file_or_unavailable`](Self::save_file_or_unavailable), for a folder.
    pub fn pick_folder_or_unavailable(self) -> Picked {
        let Some(d) = self.0 else {
            return Picked::Unavailable;
        };
        let start = std::time::Instant::now();
        match d.pick_folder() {
            Some(p) => Picked::Path(p),
            None if start.elapsed() < std::time::Duration::from_millis(150) => Picked::Unavailable,
            None => Picked::Cancelled,
        }
    }

    /// Asks for one file.
    pub fn pick_file(self) -> Option<PathBuf> {
        self.0?.pick_file()
    }

    /// Asks for a folder.
    pub fn pick_folder(self) -> Option<PathBuf> {
        self.0?.pick_folder()
    }
}

impl Default for FileDialog {
    fn default() -> Self {
        Self::new()
    }
}
