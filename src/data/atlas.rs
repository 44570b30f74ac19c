//! Atlas datasets: one PNG holding every image as a tile, plus a `meta.json`.
//!
//! The four bundled sets (`assets/<name>/`) are embedded into the binary with `include_bytes!`,
//! so the app finds them from any working directory. The same format can be loaded from a
//! folder on disk with [`load_atlas_dir`].
//!
//! Layout (see `assets/*/meta.json`): tile `i` sits at `x = (i % columns) · tile_w`,
//! `y = (i / columns) · tile_h`; the atlas is exactly `columns · tile_w` wide and
//! `rows · tile_h` high. Gray sets (`channels` = 1) are 8-bit gray with 0 = background;
//! `twemoji-32` (`channels` = 3) is RGB on white.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{DataError, Dataset};

/// The names of the bundled datasets, for [`bundled`].
pub const BUNDLED: &[&str] = &["mnist", "fashion-mnist", "sklearn-digits", "twemoji-32"];

/// The embedded files of one bundled dataset.
struct Embedded {
    name: &'static str,
    atlas: &'static [u8],
    meta: &'static [u8],
    attribution: &'static str,
}

macro_rules! embedded {
    ($name:literal) => {
        Embedded {
            name: $name,
            atlas: include_bytes!(concat!("../../assets/", $name, "/atlas.png")),
            meta: include_bytes!(concat!("../../assets/", $name, "/meta.json")),
            attribution: include_str!(concat!("../../assets/", $name, "/ATTRIBUTION.txt")),
        }
    };
}

static EMBEDDED: [Embedded; 4] = [
    embedded!("mnist"),
    embedded!("fashion-mnist"),
    embedded!("sklearn-digits"),
    embedded!("twemoji-32"),
];

/// The contents of an atlas's `meta.json`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AtlasMeta {
    /// Tile width in pixels.
    pub tile_w: usize,
    /// Tile height in pixels.
    pub tile_h: usize,
    /// Number of images.
    pub count: usize,
    /// Tiles per atlas row.
    pub columns: usize,
    /// Tile rows in the atlas.
    pub rows: usize,
    /// 1 (8-bit gray) or 3 (8-bit RGB).
    pub channels: usize,
    /// Dataset name.
    pub name: String,
    /// One class id per image.
    #[serde(default)]
    pub labels: Option<Vec<u32>>,
    /// Class names, indexed by class id.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// A per-image name (twemoji short names).
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// How the pixel values are to be read.
    #[serde(default)]
    pub pixel: Option<String>,
    /// The order of the images.
    #[serde(default)]
    pub order: Option<String>,
    /// Where the data comes from.
    #[serde(default)]
    pub source: Option<String>,
    /// The data's licence.
    #[serde(default)]
    pub license: Option<String>,
    /// twemoji: the first `base_count` tiles are base emoji, the rest skin-tone variants.
    #[serde(default)]
    pub base_count: Option<usize>,
    /// twemoji: the background colour the emoji were composited on.
    #[serde(default)]
    pub background: Option<Vec<u8>>,
}

fn embedded(name: &str) -> Result<&'static Embedded, DataError> {
    EMBEDDED
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| DataError::UnknownDataset { name: name.into() })
}

fn pseudo_path(name: &str, file: &str) -> PathBuf {
    PathBuf::from(format!("<bundled>/{name}/{file}"))
}

/// Loads a bundled dataset by name (one of [`BUNDLED`]) from the copy inside the binary.
pub fn bundled(name: &str) -> Result<Dataset, DataError> {
    let e = embedded(name)?;
    load_atlas_bytes(
        e.atlas,
        e.meta,
        &pseudo_path(name, "atlas.png"),
        &pseudo_path(name, "meta.json"),
    )
}

/// The parsed `meta.json` of a bundled dataset (licence, source, emoji names …).
pub fn bundled_meta(name: &str) -> Result<AtlasMeta, DataError> {
    let e = embedded(name)?;
    parse_meta(e.meta, &pseudo_path(name, "meta.json"))
}

/// The `ATTRIBUTION.txt` of a bundled dataset, to show in an About screen.
pub fn bundled_attribution(name: &str) -> Result<&'static str, DataError> {
    Ok(embedded(name)?.attribution)
}

/// Loads an atlas dataset from a folder holding `atlas.png` and `meta.json`.
///
/// Errors name the file at fault: unreadable or truncated PNG, malformed JSON, a `count` the
/// atlas cannot hold, a channel count that differs from the PNG's colour type, labels of the
/// wrong length.
pub fn load_atlas_dir(dir: &Path) -> Result<Dataset, DataError> {
    let png_path = dir.join("atlas.png");
    let meta_path = dir.join("meta.json");
    let meta = std::fs::read(&meta_path).map_err(|source| DataError::Read {
        path: meta_path.clone(),
        source,
    })?;
    let png = std::fs::read(&png_path).map_err(|source| DataError::Read {
        path: png_path.clone(),
        source,
    })?;
    load_atlas_bytes(&png, &meta, &png_path, &meta_path)
}

fn parse_meta(bytes: &[u8], path: &Path) -> Result<AtlasMeta, DataError> {
    let meta: AtlasMeta = serde_json::from_slice(bytes).map_err(|e| DataError::Meta {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let bad = |reason: String| DataError::Meta {
        path: path.to_path_buf(),
        reason,
    };
    if meta.tile_w == 0 || meta.tile_h == 0 || meta.columns == 0 || meta.rows == 0 {
        return Err(bad(format!(
            "tile_w ({}), tile_h ({}), columns ({}) and rows ({}) must all be positive",
            meta.tile_w, meta.tile_h, meta.columns, meta.rows
        )));
    }
    if meta.channels != 1 && meta.channels != 3 {
        return Err(bad(format!(
            "channels must be 1 or 3, got {}",
            meta.channels
        )));
    }
    if meta.count == 0 {
        return Err(bad("count must be positive".into()));
    }
    if meta.count > meta.columns.saturating_mul(meta.rows) {
        return Err(bad(format!(
            "count {} exceeds the {}×{} = {} tiles of the atlas grid",
            meta.count,
            meta.columns,
            meta.rows,
            meta.columns.saturating_mul(meta.rows)
        )));
    }
    if let Some(labels) = &meta.labels {
        if labels.len() != meta.count {
            return Err(bad(format!(
                "{} labels for count {}",
                labels.len(),
                meta.count
            )));
        }
        if let Some(classes) = &meta.classes
            && let Some(l) = labels.iter().find(|&&l| l as usize >= classes.len())
        {
            return Err(bad(format!(
                "label {l} has no entry in classes ({} names)",
                classes.len()
            )));
        }
    }
    Ok(meta)
}

/// Loads an atlas from bytes; `png_path` and `meta_path` only name the files in errors.
fn load_atlas_bytes(
    png: &[u8],
    meta_json: &[u8],
    png_path: &Path,
    meta_path: &Path,
) -> Result<Dataset, DataError> {
    let meta = parse_meta(meta_json, meta_path)?;
    let atlas_err = |reason: String| DataError::Atlas {
        path: png_path.to_path_buf(),
        reason,
    };
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).map_err(|e| {
        DataError::Decode {
            path: png_path.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    let has_color = img.color().has_color();
    if has_color != (meta.channels == 3) {
        return Err(atlas_err(format!(
            "meta.json says {} channel(s) but the PNG is {:?}",
            meta.channels,
            img.color()
        )));
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (need_w, need_h) = (meta.columns * meta.tile_w, meta.rows * meta.tile_h);
    if (w, h) != (need_w, need_h) {
        return Err(atlas_err(format!(
            "the PNG is {w}×{h} but {} columns × {} px and {} rows × {} px need {need_w}×{need_h}",
            meta.columns, meta.tile_w, meta.rows, meta.tile_h
        )));
    }
    let (tw, th, c) = (meta.tile_w, meta.tile_h, meta.channels);
    // Interleaved 8-bit pixels, then each tile is cut out channel-major.
    let raw: Vec<u8> = if c == 1 {
        img.into_luma8().into_raw()
    } else {
        img.into_rgb8().into_raw()
    };
    let mut data =
        crate::mem::try_with_capacity(meta.count * c * th * tw, "the data set's images")?;
    for i in 0..meta.count {
        let (x0, y0) = ((i % meta.columns) * tw, (i / meta.columns) * th);
        for ch in 0..c {
            for y in 0..th {
                let row = ((y0 + y) * w + x0) * c;
                data.extend(
                    raw[row..row + tw * c]
                        .iter()
                        .skip(ch)
                        .step_by(c)
                        .map(|&v| super::u8_to_unit(v)),
                );
            }
        }
    }
    let ds = Dataset::new(meta.name.clone(), tw, th, c, data)?;
    match meta.labels {
        Some(labels) => ds.with_labels(labels, meta.classes),
        None => Ok(ds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_name_has_meta_and_attribution() {
        for name in BUNDLED {
            let meta = bundled_meta(name).expect("meta parses");
            assert_eq!(meta.name, *name);
            assert!(meta.license.is_some());
            assert!(!bundled_attribution(name).expect("known").is_empty());
        }
        assert!(matches!(
            bundled("cifar"),
            Err(DataError::UnknownDataset { .. })
        ));
    }

    #[test]
    fn sklearn_digits_tiles_are_cut_right() {
        let d = bundled("sklearn-digits").expect("loads");
        assert_eq!(
            (d.len(), d.width(), d.height(), d.channels()),
            (1797, 8, 8, 1)
        );
        // Tile 101 is at column 1, row 1 of the atlas: compare with a direct crop.
        let e = embedded("sklearn-digits").expect("known");
        let atlas = image::load_from_memory(e.atlas).expect("png").into_luma8();
        let tile = d.image(101);
        for y in 0..8 {
            for x in 0..8 {
                let v = atlas.get_pixel(8 + x, 8 + y).0[0];
                assert_eq!(tile[(y * 8 + x) as usize], crate::data::u8_to_unit(v));
            }
        }
    }
}
