//! The user's own images: PNG, JPEG, BMP, WebP and GIF (first frame).
//!
//! Each file is centre-cropped to a square and resized to `size`×`size` with a triangle
//! (bilinear, area-aware when shrinking) filter. Transparent pixels are composited onto white.
//! The format is recognised from the file's contents, not its extension. Files that cannot be
//! used are skipped and listed in the [`LoadReport`]; loading fails only when nothing loads.
//! Images larger than [`MAX_SIDE`] per side or [`MAX_PIXELS`] in area are refused from their
//! header, before any pixel is decoded, and the decoder runs under matching `image::Limits`.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader, Limits, RgbImage};

use super::{DataError, Dataset};

/// Largest accepted width or height of a user image.
pub const MAX_SIDE: u32 = 16_384;
/// Largest accepted area of a user image (64 megapixels).
pub const MAX_PIXELS: u64 = 64 * 1024 * 1024;
/// Largest accepted output size.
pub const MAX_OUTPUT_SIZE: u32 = 1024;
/// Memory the decoder may allocate for one image.
const MAX_ALLOC: u64 = 1 << 30;

/// Whether user images become one gray channel or three RGB channels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ColorMode {
    /// One channel (Rec. 709 luma).
    #[default]
    Gray,
    /// Three channels.
    Rgb,
}

impl ColorMode {
    /// 1 or 3.
    pub fn channels(self) -> usize {
        match self {
            Self::Gray => 1,
            Self::Rgb => 3,
        }
    }
}

/// A file that [`load_images`] skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped (the message of the [`DataError`]).
    pub reason: String,
}

/// What [`load_images`] did with each file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Files that became images, in dataset order.
    pub loaded: Vec<PathBuf>,
    /// Files that were skipped.
    pub skipped: Vec<Skipped>,
}

impl LoadReport {
    /// "skipped 2 of 5 files: …" with the first reasons, or None when nothing was skipped.
    pub fn warning(&self) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        let total = self.skipped.len() + self.loaded.len();
        let mut reasons: Vec<String> = self
            .skipped
            .iter()
            .take(3)
            .map(|s| s.reason.clone())
            .collect();
        if self.skipped.len() > 3 {
            reasons.push(format!("and {} more", self.skipped.len() - 3));
        }
        Some(format!(
            "skipped {} of {total} files: {}",
            self.skipped.len(),
            reasons.join("; ")
        ))
    }
}

/// Loads user images into a dataset of `size`×`size` images.
///
/// Every entry of `paths` is a file or a folder; a folder contributes the files directly inside
/// it (not its subfolders), sorted by file name. Fails when `paths` is empty, a given path
/// cannot be read, a given folder holds no files, `size` is outside 1..=1024, or no file
/// loads (the error counts the skipped files and gives the first reasons).
pub fn load_images<P: AsRef<Path>>(
    paths: &[P],
    size: u32,
    mode: ColorMode,
) -> Result<(Dataset, LoadReport), DataError> {
    if size == 0 || size > MAX_OUTPUT_SIZE {
        return Err(DataError::InvalidParameter {
            name: "image size",
            reason: format!("must be between 1 and {MAX_OUTPUT_SIZE}, got {size}"),
        });
    }
    if paths.is_empty() {
        return Err(DataError::NoInput);
    }
    let mut files = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let meta = std::fs::metadata(p).map_err(|source| DataError::Read {
            path: p.to_path_buf(),
            source,
        })?;
        if meta.is_dir() {
            files.extend(list_folder(p)?);
        } else {
            files.push(p.to_path_buf());
        }
    }

    let mut report = LoadReport::default();
    let mut data = Vec::new();
    for file in files {
        match load_one(&file, size, mode) {
            Ok(values) => {
                crate::mem::try_grow(&mut data, values.len(), "the data set's images")?;
                data.extend(values);
                report.loaded.push(file);
            }
            Err(e) => report.skipped.push(Skipped {
                path: file,
                reason: e.to_string(),
            }),
        }
    }
    if report.loaded.is_empty() {
        let mut summary: Vec<String> = report
            .skipped
            .iter()
            .take(3)
            .map(|s| s.reason.clone())
            .collect();
        if report.skipped.len() > 3 {
            summary.push(format!("and {} more", report.skipped.len() - 3));
        }
        return Err(DataError::NothingLoaded {
            skipped: report.skipped.len(),
            summary: summary.join("; "),
        });
    }
    let name = match paths {
        [one] => one
            .as_ref()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "images".into()),
        _ => "images".into(),
    };
    let s = size as usize;
    let mut ds = Dataset::new(name, s, s, mode.channels(), data)?;
    if let Some(w) = report.warning() {
        ds = ds.with_warning(w);
    }
    Ok((ds, report))
}

/// The files directly inside `dir`, sorted by file name.
fn list_folder(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let read_err = |source| DataError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let path = entry.path();
        // Follow symbolic links; skip folders (no recursion).
        if std::fs::metadata(&path)
            .map(|m| m.is_file())
            .unwrap_or(true)
        {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(DataError::EmptyFolder {
            path: dir.to_path_buf(),
        });
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

fn decode_err(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn open_reader(path: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>, DataError> {
    let read_err = |source| DataError::Read {
        path: path.to_path_buf(),
        source,
    };
    let reader = ImageReader::open(path)
        .map_err(read_err)?
        .with_guessed_format()
        .map_err(read_err)?;
    if reader.format().is_none() {
        return Err(decode_err(path, "not a recognised image format"));
    }
    Ok(reader)
}

/// Reads an image's dimensions from its header, without decoding pixels.
pub fn image_dimensions(path: &Path) -> Result<(u32, u32), DataError> {
    open_reader(path)?
        .into_dimensions()
        .map_err(|e| decode_err(path, e))
}

/// Decodes one user image (after the size check) into `size`×`size` C×H×W values.
fn load_one(path: &Path, size: u32, mode: ColorMode) -> Result<Vec<f32>, DataError> {
    let (w, h) = image_dimensions(path)?;
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            width: w,
            height: h,
            max_side: MAX_SIDE,
            max_megapixels: MAX_PIXELS / (1024 * 1024),
        });
    }
    if w == 0 || h == 0 {
        return Err(decode_err(path, format!("the image is {w}×{h}")));
    }
    let mut reader = open_reader(path)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let format = reader.format();
    let img = reader.decode().map_err(|e| decode_err(path, e))?;
    // The JPEG decoder fills the rows a truncated file lacks with flat grey and reports
    // success, so a file cut short (an interrupted download or copy) is caught here.
    if format == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(path)? {
        return Err(decode_err(
            path,
            "the JPEG is truncated (it has no end-of-image marker, so its missing rows would \
             load as flat grey)",
        ));
    }
    Ok(prepare(&img, size, mode))
}

/// Whether a JPEG file ends with its end-of-image marker (FF D9), allowing the padding some
/// writers append after it.
fn jpeg_is_complete(path: &Path) -> Result<bool, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let end = bytes
        .iter()
        .rposition(|&b| !matches!(b, 0 | b' ' | b'\n' | b'\r' | b'\t'))
        .map_or(0, |i| i + 1);
    Ok(bytes[..end].ends_with(&[0xFF, 0xD9]))
}

/// Composites onto white, centre-crops to a square, resizes and converts to C×H×W in [−1, 1].
fn prepare(img: &DynamicImage, size: u32, mode: ColorMode) -> Vec<f32> {
    let (w, h) = (img.width(), img.height());
    let side = w.min(h);
    let (x0, y0) = ((w - side) / 2, (h - side) / 2);
    let rgba = img.crop_imm(x0, y0, side, side).into_rgba8();
    let rgb = RgbImage::from_fn(side, side, |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| {
            let (c, a) = (u32::from(c), u32::from(a));
            ((c * a + 255 * (255 - a) + 127) / 255) as u8
        };
        image::Rgb([over(r), over(g), over(b)])
    });
    let resized = image::imageops::resize(&rgb, size, size, FilterType::Triangle);
    let plane = (size * size) as usize;
    match mode {
        ColorMode::Gray => DynamicImage::ImageRgb8(resized)
            .into_luma8()
            .into_raw()
            .into_iter()
            .map(super::u8_to_unit)
            .collect(),
        ColorMode::Rgb => {
            let raw = resized.into_raw();
            let mut out = Vec::with_capacity(plane * 3);
            for ch in 0..3 {
                out.extend(
                    raw.iter()
                        .skip(ch)
                        .step_by(3)
                        .map(|&v| super::u8_to_unit(v)),
                );
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparent_becomes_white_and_crop_is_centred() {
        // 4×2 RGBA: columns 0 and 3 red, columns 1 and 2 transparent → crop keeps 1..3.
        let img = image::RgbaImage::from_fn(4, 2, |x, _| {
            if x == 0 || x == 3 {
                image::Rgba([255, 0, 0, 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            }
        });
        let v = prepare(&DynamicImage::ImageRgba8(img), 2, ColorMode::Rgb);
        assert_eq!(v.len(), 12);
        assert!(v.iter().all(|&x| x == 1.0), "{v:?}");
    }
}
