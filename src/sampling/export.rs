//! Exports of sampled images and chains: grids (optionally labelled), the chain as a GIF with
//! an x_t row over an x̂₀ row, numbered PNG frames, and the run card that regenerates them.
//! Every file is written atomically; long exports report progress and can be cancelled.

use super::font;
use super::{ChainFrame, ChainRecord};
use crate::diffusion::{SamplerKind, ScheduleSpec};
use crate::fs::write_atomic;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Lays out `n` images [C, H, W] (display u8) as a near-square RGB grid with 2-px gaps.
pub fn grid_rgb(images: &[u8], n: usize, shape: [usize; 3]) -> image::RgbImage {
    grid_rgb_cols(images, n, shape, grid_cols(n))
}

/// The same grid with `cols` columns (a class-per-row grid has one row per class).
pub fn grid_rgb_cols(images: &[u8], n: usize, shape: [usize; 3], cols: usize) -> image::RgbImage {
    let [c, h, w] = shape;
    let cols = cols.max(1);
    let rows = n.div_ceil(cols).max(1);
    let gap = 2;
    let mut img = image::RgbImage::from_pixel(
        (cols * (w + gap) + gap) as u32,
        (rows * (h + gap) + gap) as u32,
        image::Rgb([40, 40, 40]),
    );
    for i in 0..n {
        let (x0, y0) = (gap + (i % cols) * (w + gap), gap + (i / cols) * (h + gap));
        let base = i * c * h * w;
        for y in 0..h {
            for x in 0..w {
                let px = |ch: usize| {
                    images
                        .get(base + ch * h * w + y * w + x)
                        .copied()
                        .unwrap_or(0)
                };
                let rgb = if c == 3 {
                    [px(0), px(1), px(2)]
                } else {
                    [px(0); 3]
                };
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Rgb(rgb));
            }
        }
    }
    img
}

/// Columns of the near-square grid of `n` images.
pub fn grid_cols(n: usize) -> usize {
    (n as f64).sqrt().ceil().max(1.0) as usize
}

/// Scales `img` up by an integer factor (nearest neighbour), so small digits stay crisp.
pub fn upscale(img: &image::RgbImage, factor: u32) -> image::RgbImage {
    if factor <= 1 {
        return img.clone();
    }
    image::imageops::resize(
        img,
        img.width() * factor,
        img.height() * factor,
        image::imageops::FilterType::Nearest,
    )
}

/// Adds a dark band above `img` holding `text` (e.g. "t=250 DDIM eta=0").
pub fn with_label(img: &image::RgbImage, text: &str) -> image::RgbImage {
    let scale = if img.width() >= 240 { 2 } else { 1 };
    let band = font::line_height(scale) + 4;
    let width = img.width().max(font::text_width(text, scale) + 8);
    let mut out = image::RgbImage::from_pixel(width, img.height() + band, image::Rgb([20, 20, 20]));
    font::draw_text(&mut out, 4, 3, text, scale, [235, 235, 235]);
    image::imageops::replace(&mut out, img, 0, i64::from(band));
    out
}

/// Stacks images vertically (left-aligned, dark background).
pub fn stack(images: &[image::RgbImage]) -> image::RgbImage {
    let w = images.iter().map(image::RgbImage::width).max().unwrap_or(1);
    let h = images
        .iter()
        .map(image::RgbImage::height)
        .sum::<u32>()
        .max(1);
    let mut out = image::RgbImage::from_pixel(w, h, image::Rgb([20, 20, 20]));
    let mut y = 0i64;
    for im in images {
        image::imageops::replace(&mut out, im, 0, y);
        y += i64::from(im.height());
    }
    out
}

/// One frame of a chain as an image: the x_t grid over the x̂₀ grid, with an optional label.
pub fn chain_frame_rgb(
    frame: &ChainFrame,
    n: usize,
    shape: [usize; 3],
    label: Option<&str>,
) -> image::RgbImage {
    let top = grid_rgb(&frame.xt.display_u8(), n, shape);
    let bottom = grid_rgb(&frame.x0.display_u8(), n, shape);
    let both = stack(&[top, bottom]);
    match label {
        Some(text) => with_label(&both, text),
        None => both,
    }
}

/// How an export reports progress: called with (done, total); returns false to cancel.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize) -> bool;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The user cancelled; nothing was written (atomic writes leave no partial file).
    #[error("export cancelled; nothing was written")]
    Cancelled,
    /// The chain holds no frames yet.
    #[error("there is no chain to export yet: sample first")]
    Empty,
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| {
        if source.kind() == std::io::ErrorKind::Interrupted {
            ExportError::Cancelled
        } else {
            ExportError::Io {
                path: path.to_owned(),
                source,
            }
        }
    }
}

/// Writes `img` as PNG, atomically.
pub fn write_png(path: &Path, img: &image::RgbImage) -> Result<(), ExportError> {
    write_atomic(path, |f| {
        img.write_to(f, image::ImageFormat::Png)
            .map_err(std::io::Error::other)
    })
    .map_err(io_err(path))
}

/// The label of a frame, e.g. "T=250 DDIM S=50 ETA=0".
pub fn frame_label(frame: &ChainFrame, sampler: &str) -> String {
    format!("t={} {sampler}", frame.t)
}

/// Writes the recorded chain as an animated GIF (x_t row over x̂₀ row), atomically.
pub fn write_chain_gif(
    path: &Path,
    record: &ChainRecord,
    label: Option<&str>,
    delay_ms: u32,
    progress: Progress<'_>,
) -> Result<(), ExportError> {
    if record.frames.is_empty() {
        return Err(ExportError::Empty);
    }
    let total = record.frames.len();
    write_atomic(path, |file| {
        let mut enc = image::codecs::gif::GifEncoder::new_with_speed(file, 10);
        enc.set_repeat(image::codecs::gif::Repeat::Infinite)
            .map_err(std::io::Error::other)?;
        for (i, f) in record.frames.iter().enumerate() {
            if !progress(i, total) {
                return Err(std::io::Error::from(std::io::ErrorKind::Interrupted));
            }
            let text = label.map(|s| frame_label(f, s));
            let rgb = chain_frame_rgb(f, record.n, record.shape, text.as_deref());
            let rgba = image::DynamicImage::ImageRgb8(rgb).to_rgba8();
            // Hold the last frame so the result can be seen before the loop restarts.
            let ms = if i + 1 == total { 1500 } else { delay_ms };
            let frame =
                image::Frame::from_parts(rgba, 0, 0, image::Delay::from_numer_denom_ms(ms, 1));
            enc.encode_frame(frame).map_err(std::io::Error::other)?;
        }
        progress(total, total);
        Ok(())
    })
    .map_err(io_err(path))
}

/// Writes the recorded chain as numbered PNG frames `frame_0000.png`… into `dir`.
/// On cancel, the frames written so far are kept (each is complete) and the count returned
/// in the error message is not needed: the folder simply holds fewer frames.
pub fn write_chain_frames(
    dir: &Path,
    record: &ChainRecord,
    label: Option<&str>,
    progress: Progress<'_>,
) -> Result<usize, ExportError> {
    if record.frames.is_empty() {
        return Err(ExportError::Empty);
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let total = record.frames.len();
    for (i, f) in record.frames.iter().enumerate() {
        if !progress(i, total) {
            return Err(ExportError::Cancelled);
        }
        let text = label.map(|s| frame_label(f, s));
        let img = chain_frame_rgb(f, record.n, record.shape, text.as_deref());
        write_png(&dir.join(format!("frame_{i:04}.png")), &img)?;
    }
    progress(total, total);
    Ok(total)
}

/// Which weights drew the samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weights {
    /// The exponential moving average of the weights (the default for sampling).
    #[default]
    Ema,
    /// The raw training weights.
    Raw,
}

/// Everything needed to regenerate an export: `diffusion-lab sample --card card.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunCard {
    /// The program that wrote the card.
    pub generator: String,
    /// The checkpoint folder.
    pub checkpoint: PathBuf,
    /// The training step of the weights.
    pub checkpoint_step: usize,
    /// EMA or raw weights.
    pub weights: Weights,
    /// The schedule the checkpoint was trained with.
    pub schedule: ScheduleSpec,
    /// The sampler.
    pub sampler: SamplerKind,
    /// Samples in the grid.
    pub n: usize,
    /// Seed of x_T and of the fresh noise.
    pub seed: u64,
    /// Whether x̂₀ was clipped to [−1, 1].
    pub clip: bool,
    /// Frames were recorded every `stride` steps.
    pub stride: usize,
    /// The classes asked of a class-conditional model, and the guidance weight (absent:
    /// unconditional sampling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<crate::sampling::Guidance>,
    /// The noisy classifier of classifier guidance (when the guidance's γ > 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<PathBuf>,
}

impl RunCard {
    /// Writes the card as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<(), ExportError> {
        write_atomic(path, |f| {
            serde_json::to_writer_pretty(&mut *f, self).map_err(std::io::Error::other)?;
            std::io::Write::write_all(f, b"\n")
        })
        .map_err(io_err(path))
    }

    /// Reads a card, naming the file and the problem on failure.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the run card {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("the run card {} is not valid: {e}", path.display()))
    }
}

/// A short human name of a sampler, for labels: "DDPM", "DDPM-tilde", "DDIM S=50 eta=0",
/// "strided K=100 (fixed sigma)", "iDDPM K=100 (learned sigma)", "DPM++2M-Karras S=10".
pub fn sampler_label(kind: &SamplerKind) -> String {
    use crate::diffusion::DdpmVariance;
    match *kind {
        SamplerKind::Ddpm {
            variance: DdpmVariance::Beta,
        } => "DDPM".into(),
        SamplerKind::Ddpm {
            variance: DdpmVariance::BetaTilde,
        } => "DDPM-tilde".into(),
        SamplerKind::Ddim { steps, eta, .. } => format!("DDIM S={steps} eta={eta}"),
        SamplerKind::Ddpm {
            variance: DdpmVariance::Learned,
        } => "DDPM-learned-sigma".into(),
        SamplerKind::Iddpm {
            steps,
            variance,
            rule,
        } => {
            let name = if variance == DdpmVariance::Learned {
                "iDDPM"
            } else {
                "strided"
            };
            let rule = match rule {
                crate::diffusion::StrideRule::Floor => "",
                crate::diffusion::StrideRule::Round => " round",
            };
            let sigma = match variance {
                DdpmVariance::Learned => "learned sigma",
                DdpmVariance::Beta => "fixed beta",
                DdpmVariance::BetaTilde => "fixed sigma",
            };
            format!("{name} K={steps}{rule} ({sigma})")
        }
        SamplerKind::Karras { solver, steps } => {
            let name = match solver {
                crate::diffusion::KarrasSolver::Euler => "Euler-Karras",
                crate::diffusion::KarrasSolver::Heun => "Heun-Karras",
                crate::diffusion::KarrasSolver::DpmPp2m => "DPM++2M-Karras",
            };
            format!("{name} S={steps}")
        }
    }
}
