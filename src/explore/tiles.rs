//! Tiles: `value = a·A + b·B` per pixel followed by a colour map, on the CPU.
//!
//! This is the CPU twin of `shaders/forward_tiles.wgsl`; both compute in f32 with the same
//! formulas, so they agree to rounding (see `tests/forward_gpu.rs`).

use std::sync::Arc;

/// The grey level of the diverging map's centre (ε = 0).
const DIV_WHITE: [f32; 3] = [247.0, 247.0, 247.0];
/// The diverging map's negative end (blue).
const DIV_NEG: [f32; 3] = [33.0, 102.0, 172.0];
/// The diverging map's positive end (red).
const DIV_POS: [f32; 3] = [178.0, 24.0, 43.0];
/// 1/√3: an RGB pixel's channel sum times this has unit variance when the channels are white noise.
const INV_SQRT3: f32 = 0.577_350_26;

/// How a tile's values become colours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColorMap {
    /// Data colours: [−1, 1] → [0, 255] per channel (gray images stay gray), clamped.
    Data,
    /// A diverging blue–white–red map of one scalar per pixel on [−range, range]: the value
    /// (one channel) or the channel sum / √3 (three channels). For ε and noise.
    Diverging {
        /// The value mapped to full blue / red.
        range: f32,
    },
}

impl ColorMap {
    /// The shader's code for this map and its range.
    pub(crate) fn code(self) -> (u32, f32) {
        match self {
            Self::Data => (0, 1.0),
            Self::Diverging { range } => (1, range),
        }
    }
}

/// One tile: `a·planes[a_plane] + b·planes[b_plane]`, coloured by `map`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TileSpec {
    /// The coefficient of plane `a_plane`.
    pub a: f32,
    /// The first input plane.
    pub a_plane: u32,
    /// The coefficient of plane `b_plane`.
    pub b: f32,
    /// The second input plane.
    pub b_plane: u32,
    /// The colour map.
    pub map: ColorMap,
}

/// A batch of tiles over the same image size.
#[derive(Clone, Debug)]
pub struct TileJob {
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// 1 or 3 channels.
    pub channels: usize,
    /// Input planes, each `channels·height·width` floats, channel-major.
    pub planes: Vec<Arc<Vec<f32>>>,
    /// The tiles to compute.
    pub tiles: Vec<TileSpec>,
}

/// A computed tile.
#[derive(Clone, Debug, PartialEq)]
pub struct TileOutput {
    /// The values, C×H×W.
    pub values: Vec<f32>,
    /// The colours, RGBA8 row-major (4 bytes per pixel, alpha 255).
    pub rgba: Vec<u8>,
}

impl TileJob {
    /// Floats per plane.
    pub fn plane_len(&self) -> usize {
        self.width * self.height * self.channels
    }

    /// Checks that the sizes fit together; the GPU path relies on it.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.plane_len();
        if n == 0 || !(self.channels == 1 || self.channels == 3) {
            return Err(format!(
                "bad tile size {}×{}×{}",
                self.channels, self.height, self.width
            ));
        }
        if let Some(p) = self.planes.iter().find(|p| p.len() != n) {
            return Err(format!("a plane holds {} values, expected {n}", p.len()));
        }
        let count = self.planes.len() as u32;
        if self
            .tiles
            .iter()
            .any(|t| t.a_plane >= count || t.b_plane >= count)
        {
            return Err("a tile names a plane that does not exist".into());
        }
        Ok(())
    }
}

/// `round half up` to a byte, as the shader's `to_byte`. The sum is at least 0.5, so the
/// truncating cast is the floor, without a call to libm's `floorf` per channel.
fn to_byte(v: f32) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5) as u8
}

/// A data value in [−1, 1] as a byte, as the shader's `data_byte`.
pub fn data_byte(v: f32) -> u8 {
    to_byte((v + 1.0) * 127.5)
}

/// The diverging colour of the scalar `s` on [−range, range].
pub fn diverging_rgb(s: f32, range: f32) -> [u8; 3] {
    let u = (s / range).clamp(-1.0, 1.0);
    let end = if u < 0.0 { DIV_NEG } else { DIV_POS };
    let au = u.abs();
    [0, 1, 2].map(|c| to_byte(DIV_WHITE[c] + au * (end[c] - DIV_WHITE[c])))
}

/// Colours one pixel whose channel values are `v[..channels]`.
pub fn color_pixel(v: [f32; 3], channels: usize, map: ColorMap) -> [u8; 4] {
    match map {
        ColorMap::Data => {
            if channels == 1 {
                let g = data_byte(v[0]);
                [g, g, g, 255]
            } else {
                [data_byte(v[0]), data_byte(v[1]), data_byte(v[2]), 255]
            }
        }
        ColorMap::Diverging { range } => {
            let s = if channels == 1 {
                v[0]
            } else {
                (v[0] + v[1] + v[2]) * INV_SQRT3
            };
            let [r, g, b] = diverging_rgb(s, range);
            [r, g, b, 255]
        }
    }
}

/// Colours a C×H×W image.
pub fn colorize(
    values: &[f32],
    width: usize,
    height: usize,
    channels: usize,
    map: ColorMap,
) -> Vec<u8> {
    let plane = width * height;
    let mut out = Vec::with_capacity(plane * 4);
    for p in 0..plane {
        let mut v = [0.0f32; 3];
        for (c, slot) in v.iter_mut().enumerate().take(channels) {
            *slot = values[c * plane + p];
        }
        out.extend_from_slice(&color_pixel(v, channels, map));
    }
    out
}

/// Computes every tile of `job` on the CPU. Fails only when the job is malformed.
pub fn render_tiles_cpu(job: &TileJob) -> Result<Vec<TileOutput>, String> {
    job.validate()?;
    let out = job
        .tiles
        .iter()
        .map(|tile| {
            let a_in = &job.planes[tile.a_plane as usize];
            let b_in = &job.planes[tile.b_plane as usize];
            let values: Vec<f32> = a_in
                .iter()
                .zip(b_in.iter())
                .map(|(&x, &y)| tile.a * x + tile.b * y)
                .collect();
            let rgba = colorize(&values, job.width, job.height, job.channels, tile.map);
            TileOutput { values, rgba }
        })
        .collect();
    Ok(out)
}
