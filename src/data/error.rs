//! The error type of the data layer.
//!
//! Every message that concerns a file names that file *last*, e.g.
//! `unsupported dtype '<i8' in .npy file: /x/y.npy`, so the path is easy to spot in a log line
//! or a status bar.

use std::path::PathBuf;

/// Everything that can go wrong while loading, generating or saving a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read.
    #[error("cannot read ({source}): {}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write ({source}): {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An image file could not be decoded (corrupt, truncated or not an image).
    #[error("cannot decode image ({reason}): {}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// An image is larger than the loader accepts; it was refused before decoding.
    #[error(
        "image too large ({width}×{height}; the limit is {max_side} pixels per side and \
         {max_megapixels} megapixels): {}",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Width from the file header.
        width: u32,
        /// Height from the file header.
        height: u32,
        /// The per-side limit.
        max_side: u32,
        /// The area limit in megapixels.
        max_megapixels: u64,
    },
    /// A dataset's `meta.json` is malformed or inconsistent.
    #[error("invalid dataset metadata ({reason}): {}", path.display())]
    Meta {
        /// The `meta.json` file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An atlas image does not match its `meta.json`.
    #[error("atlas does not match its metadata ({reason}): {}", path.display())]
    Atlas {
        /// The atlas image.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `bundled` was asked for a name that is not in [`crate::data::BUNDLED`].
    #[error("unknown bundled dataset '{name}' (available: {})", crate::data::BUNDLED.join(", "))]
    UnknownDataset {
        /// The name asked for.
        name: String,
    },
    /// A `.npy` file has an unsupported element type.
    #[error("unsupported dtype '{dtype}' in .npy file (supported: '<f4', '<f8', '|u1', '|b1'): {}", path.display())]
    NpyDtype {
        /// The `descr` string of the header.
        dtype: String,
        /// The file.
        path: PathBuf,
    },
    /// A `.npy` file has a shape that is not an image stack.
    #[error(
        "unsupported shape {shape} in .npy file (expected H×W, N×H×W or N×C×H×W with C = 1 or 3, \
         all sizes > 0): {}",
        path.display()
    )]
    NpyShape {
        /// The shape, as written in the header.
        shape: String,
        /// The file.
        path: PathBuf,
    },
    /// A `.npy` file stores its array in Fortran (column-major) order.
    #[error(
        "Fortran-ordered .npy arrays are not supported (save a C-ordered array, e.g. \
         np.ascontiguousarray): {}",
        path.display()
    )]
    NpyFortranOrder {
        /// The file.
        path: PathBuf,
    },
    /// A `.npy` file has a bad magic string or an unreadable header.
    #[error("bad .npy header ({reason}): {}", path.display())]
    NpyHeader {
        /// What is wrong.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// A `.npy` file holds fewer or more data bytes than its header announces.
    #[error(
        "wrong .npy data size (the header announces {expected} bytes of data, the file holds \
         {found}): {}",
        path.display()
    )]
    NpySize {
        /// Bytes the shape and dtype require.
        expected: u64,
        /// Bytes present after the header.
        found: u64,
        /// The file.
        path: PathBuf,
    },
    /// Float data in a `.npy` file holds NaN or infinite values.
    #[error(
        "the .npy file holds {nan} NaN and {inf} infinite values (the first at index {first}); \
         float values must be finite, in [0, 1] or [-1, 1]: {}",
        path.display()
    )]
    NpyNotFinite {
        /// How many values are NaN.
        nan: usize,
        /// How many values are ±inf.
        inf: usize,
        /// The flat index of the first non-finite value.
        first: usize,
        /// The file.
        path: PathBuf,
    },
    /// Float data in a `.npy` file is neither in [0, 1] nor in [−1, 1].
    #[error(
        "float values must lie in [0, 1] or [-1, 1], the .npy file holds values in \
         [{min}, {max}]: {}",
        path.display()
    )]
    NpyRange {
        /// The smallest value seen.
        min: f64,
        /// The largest value seen.
        max: f64,
        /// The file.
        path: PathBuf,
    },
    /// A folder holds no files at all.
    #[error("the folder holds no files: {}", path.display())]
    EmptyFolder {
        /// The folder.
        path: PathBuf,
    },
    /// `load_images` was given no paths.
    #[error("no image files were given")]
    NoInput,
    /// Every candidate file was skipped.
    #[error("no image could be loaded; {skipped} file(s) skipped: {summary}")]
    NothingLoaded {
        /// How many files were skipped.
        skipped: usize,
        /// The first few `path: reason` pairs.
        summary: String,
    },
    /// A parameter is out of its range.
    #[error("invalid {name}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// Image data does not fit the declared shape.
    #[error("image data does not match its shape: {0}")]
    Shape(String),
    /// An image index past the end of a dataset.
    #[error("image index {index} is out of range for a dataset of {len} images")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The number of images.
        len: usize,
    },
    /// The images do not fit in memory.
    #[error("out of memory: {0}; use fewer or smaller images")]
    OutOfMemory(#[from] crate::mem::AllocError),
}
