//! Where the explorer's images come from: a bundled set, seed 003's triangles, the user's image
//! files or folder, or a .npy array. Every source ends as a [`Dataset`] in [−1, 1].

use super::ExploreError;
use crate::data::{
    BUNDLED, ColorMode, Dataset, Triangle, TriangleConfig, TrianglePrep, bundled, load_images,
    read_npy,
};
use std::path::{Path, PathBuf};

/// How many triangles the app generates for browsing (the CLI reaches any of
/// [`TRIANGLE_COUNT`] by rendering only the ones it needs).
pub const APP_TRIANGLES: usize = 256;
/// The size of seed 003's triangle set; valid indices are below it.
pub const TRIANGLE_COUNT: usize = 10_000;
/// Seed 003's canvas side.
pub const TRIANGLE_SIZE: usize = 32;
/// The seed of the triangle set (the data layer's default).
pub const TRIANGLE_SEED: u64 = 3;
/// The default side of the user's images after centre-crop and resize.
pub const DEFAULT_IMAGE_SIZE: u32 = 64;

/// The command-line names of the triangle preparations.
pub const TRIANGLE_NAMES: [(&str, TrianglePrep); 3] = [
    ("triangles-direct", TrianglePrep::Direct),
    ("triangles-down", TrianglePrep::Downsampled),
    ("triangles-binary", TrianglePrep::Binary),
];

/// A source of images.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A bundled dataset (one of [`BUNDLED`]).
    Bundled(String),
    /// Seed 003's triangles, `size`×`size`.
    Triangles {
        /// The preparation.
        prep: TrianglePrep,
        /// The canvas side (4..=720; the seed uses 32).
        size: usize,
    },
    /// The user's image files and folders, centre-cropped and resized to `size`.
    Images {
        /// Files or folders.
        paths: Vec<PathBuf>,
        /// The output side (1..=1024).
        size: u32,
        /// Gray or RGB.
        color: ColorMode,
    },
    /// A .npy array (H×W, N×H×W or N×C×H×W).
    Npy(PathBuf),
}

impl Default for Source {
    /// MNIST.
    fn default() -> Self {
        Self::Bundled("mnist".into())
    }
}

impl Source {
    /// The source a run's (or preset's) `[data]` table names, for the forward explorer. The
    /// explorer shows whole data sets, so a bundled set's `limit` and a triangle set's count and
    /// seed are not kept. None for an unknown triangle preparation.
    pub fn from_data_spec(spec: &crate::config::DataSpec) -> Option<Self> {
        use crate::config::DataSpec;
        Some(match spec {
            DataSpec::Bundled { name, .. } => Self::Bundled(name.clone()),
            DataSpec::Triangles { prep, size, .. } => Self::Triangles {
                prep: TrianglePrep::ALL.into_iter().find(|p| p.name() == prep)?,
                size: *size,
            },
            DataSpec::Folder { path, size, rgb } => Self::Images {
                paths: vec![path.clone()],
                size: *size,
                color: if *rgb {
                    ColorMode::Rgb
                } else {
                    ColorMode::Gray
                },
            },
            DataSpec::Npy { path } => Self::Npy(path.clone()),
        })
    }

    /// Parses the `--data` value: a bundled name, a triangles name, or a path (a `.npy` file,
    /// another file, or a folder). `size` is the side of user images or triangles (defaults
    /// 64 and 32).
    pub fn parse(spec: &str, size: Option<u32>, color: ColorMode) -> Result<Self, ExploreError> {
        if let Some(name) = BUNDLED.iter().find(|n| **n == spec) {
            return Ok(Self::Bundled((*name).to_owned()));
        }
        if let Some((_, prep)) = TRIANGLE_NAMES.iter().find(|(n, _)| *n == spec) {
            let size = size.map_or(TRIANGLE_SIZE, |s| s as usize);
            if !(4..=crate::data::HIGH_RES).contains(&size) {
                return Err(ExploreError::InvalidParameter {
                    name: "--size",
                    reason: format!(
                        "triangles need a side between 4 and {}, got {size}",
                        crate::data::HIGH_RES
                    ),
                });
            }
            return Ok(Self::Triangles { prep: *prep, size });
        }
        let path = PathBuf::from(spec);
        let meta = std::fs::metadata(&path).map_err(|e| ExploreError::InvalidParameter {
            name: "--data",
            reason: format!(
                "'{spec}' is neither a dataset ({}, {}) nor a readable file or folder ({e})",
                BUNDLED.join(", "),
                TRIANGLE_NAMES.map(|(n, _)| n).join(", ")
            ),
        })?;
        if meta.is_file() && is_npy(&path) {
            return Ok(Self::Npy(path));
        }
        let size = size.unwrap_or(DEFAULT_IMAGE_SIZE);
        if !(1..=crate::data::MAX_OUTPUT_SIZE).contains(&size) {
            return Err(ExploreError::InvalidParameter {
                name: "--size",
                reason: format!(
                    "must be between 1 and {}, got {size}",
                    crate::data::MAX_OUTPUT_SIZE
                ),
            });
        }
        Ok(Self::Images {
            paths: vec![path],
            size,
            color,
        })
    }

    /// A short name for labels and the status bar.
    pub fn label(&self) -> String {
        match self {
            Self::Bundled(name) => match name.as_str() {
                "mnist" => "MNIST".into(),
                "fashion-mnist" => "Fashion-MNIST".into(),
                "sklearn-digits" => "sklearn digits".into(),
                "twemoji-32" => "Twemoji".into(),
                other => other.into(),
            },
            Self::Triangles { prep, .. } => format!("triangles ({})", prep.name()),
            Self::Images { paths, .. } => match paths.as_slice() {
                [one] => file_name(one),
                _ => format!("{} paths", paths.len()),
            },
            Self::Npy(path) => file_name(path),
        }
    }

    /// Loads the whole source (triangles: the first [`APP_TRIANGLES`]). Slow for big folders:
    /// the app calls it on a worker thread.
    pub fn load(&self) -> Result<Dataset, ExploreError> {
        let data = match self {
            Self::Bundled(name) => bundled(name)?,
            Self::Triangles { prep, size } => crate::data::triangles(&TriangleConfig {
                count: APP_TRIANGLES,
                size: *size,
                seed: TRIANGLE_SEED,
                prep: *prep,
            })?,
            Self::Images { paths, size, color } => load_images(paths, *size, *color)?.0,
            Self::Npy(path) => read_npy(path)?,
        };
        Ok(data)
    }

    /// Loads the `count` images from `index` on (fewer at the end of the dataset). Triangles are
    /// rendered one by one, so any index below [`TRIANGLE_COUNT`] is cheap. Fails naming
    /// `--index` when `index` is past the end.
    pub fn load_range(&self, index: usize, count: usize) -> Result<Dataset, ExploreError> {
        if let Self::Triangles { prep, size } = self {
            if index >= TRIANGLE_COUNT {
                return Err(index_error(index, TRIANGLE_COUNT));
            }
            let end = (index + count.max(1)).min(TRIANGLE_COUNT);
            let mut data = Vec::with_capacity((end - index) * size * size);
            for k in index..end {
                data.extend(Triangle::random(TRIANGLE_SEED, k as u64, *size).render(*size, *prep));
            }
            let name = format!("triangles-{}-{size}", prep.name());
            return Ok(Dataset::new(name, *size, *size, 1, data)?);
        }
        let all = self.load()?;
        if index >= all.len() {
            return Err(index_error(index, all.len()));
        }
        let end = (index + count.max(1)).min(all.len());
        let indices: Vec<usize> = (index..end).collect();
        Ok(all.subset(&indices)?)
    }
}

fn index_error(index: usize, len: usize) -> ExploreError {
    ExploreError::InvalidParameter {
        name: "--index",
        reason: format!("must be below the dataset's {len} images, got {index}"),
    }
}

/// Whether a path names a .npy file (by extension, case-insensitive).
pub fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
