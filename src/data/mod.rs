//! Datasets: the bundled image sets, synthetic triangles, user images and .npy arrays.
//!
//! Every source produces a [`Dataset`]: equally sized images stored as `f32` in [−1, 1],
//! channel-major (C×H×W) per image, in one vector. 8-bit values map by `v / 127.5 − 1`.
//! - [`bundled`]: MNIST, Fashion-MNIST, scikit-learn digits and Twemoji, embedded in the binary
//!   (names in [`BUNDLED`]); [`load_atlas_dir`] reads the same atlas format from disk.
//! - [`triangles`]: seed 003's synthetic triangles in its three preparations.
//! - [`load_images`]: the user's own PNG/JPEG/BMP/WebP/GIF files.
//! - [`read_npy`] / [`write_npy`]: NumPy arrays (seed 003's "array format").
//!
//! No function here panics on bad input; everything fails with a [`DataError`] whose message
//! names the file last.

mod atlas;
mod dataset;
mod error;
mod images;
mod npy;
mod triangles;

pub use atlas::{AtlasMeta, BUNDLED, bundled, bundled_attribution, bundled_meta, load_atlas_dir};
pub use dataset::{Dataset, u8_to_unit, unit_to_u8};
pub use error::DataError;
pub use images::{
    ColorMode, LoadReport, MAX_OUTPUT_SIZE, MAX_PIXELS, MAX_SIDE, Skipped, image_dimensions,
    load_images,
};
pub use npy::{read_npy, read_npy_samples, write_dataset_npy, write_npy};
pub use triangles::{
    BOUNDARY_MARGIN, GREY_EPS, HIGH_RES, MIN_AREA_FRACTION, Triangle, TriangleConfig, TrianglePrep,
    grey_pixel_count, sample_grey_fractions, stray_grey_pixels, triangles,
};
