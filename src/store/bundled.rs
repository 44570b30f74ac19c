//! The models that ship with the app (`assets/models/`).

use std::path::{Path, PathBuf};

/// The bundled MNIST checkpoint, looked up next to the working folder and the source tree.
pub fn bundled_model_dir() -> Option<PathBuf> {
    let rel = Path::new("assets/models/mnist-tiny");
    [
        PathBuf::from(rel),
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel),
    ]
    .into_iter()
    .find(|p| p.join("state.json").is_file())
}
