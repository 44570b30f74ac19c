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
