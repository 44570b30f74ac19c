//! Strips: the timesteps of each column (equal t or equal log-SNR) and contact sheets of tiles
//! written as PNG.

use super::ExploreError;
use crate::diffusion::ScheduleTable;
use std::path::Path;

/// The gap between tiles of a sheet, and around them, in output pixels.
pub const SHEET_GAP: u32 = 2;
/// The colour of the gaps (white).
pub const SHEET_BACKGROUND: [u8; 4] = [255, 255, 255, 255];
/// The largest side of a sheet in pixels.
pub const MAX_SHEET_SIDE: u64 = 16_384;

/// How the columns of a strip are spread over the diffusion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StripSpacing {
    /// t_k = round(k·T/(n − 1)), k = 0..n − 1 (seed 004 Fig. 5.1).
    #[default]
    EqualT,
    /// t₀ = 0, then the t where log-SNR crosses n − 1 evenly spaced levels; the levels are
    /// shared by every schedule, so a column shows every schedule at (about) the same SNR,
    /// and they span the log-SNR range that every schedule covers.
    EqualLogSnr,
}

/// The columns of a strip for each schedule: `result[i][k]` is schedule i's t in column k.
///
/// Equal t: t_k = round(k·T_i/(n − 1)), so schedules with different T line up by t/T.
/// Equal log-SNR: column 0 is t = 0 (the data); columns 1..n − 1 sit at the levels
/// λ_k = λ_hi + (k − 1)/(n − 2)·(λ_lo − λ_hi), where λ_hi is the smallest log-SNR at t = 1 and
/// λ_lo the largest at t = T over the schedules (the range they all cover); each schedule
/// takes the first t whose log-SNR is at or below the level (T if it never gets there).
/// `columns` is clamped to 2..=64. With 2 columns, or one schedule, the last column is
/// the last t of the schedule that ends at λ_lo.
pub fn strip_timesteps(
    tables: &[&ScheduleTable],
    columns: usize,
    spacing: StripSpacing,
) -> Vec<Vec<usize>> {
    let n = columns.clamp(2, 64);
    match spacing {
        StripSpacing::EqualT => tables
            .iter()
            .map(|tab| {
                let big_t = tab.steps() as f64;
                (0..n)
                    .map(|k| (k as f64 * big_t / (n - 1) as f64).round() as usize)
                    .collect()
            })
            .collect(),
        StripSpacing::EqualLogSnr => {
            let levels = log_snr_levels(tables, n);
            tables
                .iter()
                .map(|tab| {
                    std::iter::once(0)
                        .chain(levels.iter().map(|&l| tab.t_at_log_snr(l)))
                        .collect()
                })
                .collect()
        }
    }
}

/// The n − 1 shared log-SNR levels of an equal-log-SNR strip, from high (clean) to low (noisy).
pub fn log_snr_levels(tables: &[&ScheduleTable], columns: usize) -> Vec<f64> {
    let n = columns.clamp(2, 64);
    let hi = tables
        .iter()
        .filter_map(|t| t.log_snr.first().copied())
        .fold(f64::INFINITY, f64::min);
    let lo = tables
        .iter()
        .filter_map(|t| t.log_snr.last().copied())
        .fold(f64::NEG_INFINITY, f64::max);
    if !(hi.is_finite() && lo.is_finite()) {
        return Vec::new();
    }
    // Schedules whose ranges do not overlap: fall back to the union of the ranges.
    let (hi, lo) = if hi >= lo {
        (hi, lo)
    } else {
        let all_hi = tables
            .iter()
            .filter_map(|t| t.log_snr.first().copied())
            .fold(f64::NEG_INFINITY, f64::max);
        let all_lo = tables
            .iter()
            .filter_map(|t| t.log_snr.last().copied())
            .fold(f64::INFINITY, f64::min);
        (all_hi, all_lo)
    };
    if n == 2 {
        return vec![lo];
    }
    (1..n)
        .map(|k| hi + (k - 1) as f64 / (n - 2) as f64 * (lo - hi))
        .collect()
}

/// The layout of a contact sheet: `rows × cols` tiles of `tile_w × tile_h` pixels, each
/// magnified `scale` times (nearest neighbour), with [`SHEET_GAP`] pixels between and around.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SheetLayout {
    /// Rows of tiles.
    pub rows: u32,
    /// Columns of tiles.
    pub cols: u32,
    /// Tile width in source pixels.
    pub tile_w: u32,
    /// Tile height in source pixels.
    pub tile_h: u32,
    /// Magnification (1..=16).
    pub scale: u32,
}

impl SheetLayout {
    /// The sheet's size in pixels: cols·tile_w·scale + (cols + 1)·gap by
    /// rows·tile_h·scale + (rows + 1)·gap.
    pub fn size(&self) -> (u64, u64) {
        let g = u64::from(SHEET_GAP);
        let w = u64::from(self.cols) * u64::from(self.tile_w) * u64::from(self.scale)
            + (u64::from(self.cols) + 1) * g;
        let h = u64::from(self.rows) * u64::from(self.tile_h) * u64::from(self.scale)
            + (u64::from(self.rows) + 1) * g;
        (w, h)
    }
}

/// Composes RGBA8 tiles (row-major order: row 0's columns first) into one sheet.
pub fn compose_sheet(
    layout: SheetLayout,
    tiles: &[&[u8]],
) -> Result<image::RgbaImage, ExploreError> {
    let (w, h) = layout.size();
    if w > MAX_SHEET_SIDE || h > MAX_SHEET_SIDE {
        return Err(ExploreError::InvalidParameter {
            name: "--scale",
            reason: format!(
                "the sheet would be {w}×{h} pixels; the limit is {MAX_SHEET_SIDE} per side \
                 (use a smaller --scale or fewer columns)"
            ),
        });
    }
    let (tw, th) = (layout.tile_w as usize, layout.tile_h as usize);
    let expected = (layout.rows * layout.cols) as usize;
    if tiles.len() != expected || tiles.iter().any(|t| t.len() != tw * th * 4) {
        return Err(ExploreError::Internal(format!(
            "a sheet of {} tiles of {tw}×{th} was given {} tiles",
            expected,
            tiles.len()
        )));
    }
    let mut img = image::RgbaImage::from_pixel(w as u32, h as u32, image::Rgba(SHEET_BACKGROUND));
    let s = layout.scale;
    for (k, tile) in tiles.iter().enumerate() {
        let (row, col) = (k as u32 / layout.cols, k as u32 % layout.cols);
        let ox = SHEET_GAP + col * (layout.tile_w * s + SHEET_GAP);
        let oy = SHEET_GAP + row * (layout.tile_h * s + SHEET_GAP);
        for y in 0..th {
            for x in 0..tw {
                let p = (y * tw + x) * 4;
                let px = image::Rgba([tile[p], tile[p + 1], tile[p + 2], tile[p + 3]]);
                for dy in 0..s {
                    for dx in 0..s {
                        img.put_pixel(ox + x as u32 * s + dx, oy + y as u32 * s + dy, px);
                    }
                }
            }
        }
    }
    Ok(img)
}

/// Writes a PNG atomically (temporary file, then rename).
pub fn write_png(path: &Path, img: &image::RgbaImage) -> Result<(), ExploreError> {
    crate::fs::write_atomic(path, |w| {
        img.write_to(w, image::ImageFormat::Png)
            .map_err(std::io::Error::other)
    })
    .map_err(|source| ExploreError::Write {
        path: path.to_path_buf(),
        source,
    })
}
