//! Noising one image: the shared ε, the closed form q(x_t | x₀) and the step-by-step chain.
//!
//! Closed form [digest eq. 2]: x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε.
//! Chain [eq. 1]: x_t = √α_t·x_{t−1} + √β_t·z_t with a fresh z_t per step.
//! Both give the same distribution of x_t (`tests/forward_explore.rs` checks it), but not the same
//! pixels: the chain's t noises sum to one Gaussian that is not ε.

use super::ExploreError;
use crate::data::Dataset;
use crate::diffusion::process::forward_step;
use crate::diffusion::{Rng, ScheduleTable};
use std::sync::Arc;
use std::time::Instant;

/// Mixed into the seed of the chain's per-step noises, so they differ from ε.
const CHAIN_SALT: u64 = 0xC4A1_5EED_0000_0001;
/// Largest grid side of a batch shown as one image.
pub const MAX_GRID: usize = 8;

/// One image, C×H×W channel-major, values in [−1, 1] for data.
#[derive(Clone, Debug, PartialEq)]
pub struct Planar {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// 1 or 3.
    pub channels: usize,
    /// C·H·W values.
    pub data: Vec<f32>,
}

impl Planar {
    /// Images `index .. index + g²` of `dataset` laid out as one g×g image (row-major, no gap).
    /// Past the end of the dataset, cells stay at −1 (black).
    pub fn grid(dataset: &Dataset, index: usize, g: usize) -> Result<Self, ExploreError> {
        let len = dataset.len();
        if index >= len {
            return Err(ExploreError::InvalidParameter {
                name: "--index",
                reason: format!("must be below the dataset's {len} images, got {index}"),
            });
        }
        if !(1..=MAX_GRID).contains(&g) {
            return Err(ExploreError::InvalidParameter {
                name: "--grid",
                reason: format!("must be between 1 and {MAX_GRID}, got {g}"),
            });
        }
        let (w, h, c) = (dataset.width(), dataset.height(), dataset.channels());
        let (gw, gh) = (w * g, h * g);
        let mut data = vec![-1.0f32; c * gw * gh];
        for cell in 0..g * g {
            let Some(img) = dataset.get(index + cell) else {
                break;
            };
            let (ox, oy) = ((cell % g) * w, (cell / g) * h);
            for ch in 0..c {
                for y in 0..h {
                    let src = &img[ch * w * h + y * w..ch * w * h + (y + 1) * w];
                    let dst = ch * gw * gh + (oy + y) * gw + ox;
                    data[dst..dst + w].copy_from_slice(src);
                }
            }
        }
        Ok(Self {
            width: gw,
            height: gh,
            channels: c,
            data,
        })
    }

    /// C·H·W.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the image has no pixels (never, for a loaded image).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The flat index of pixel (x, y) in channel c.
    pub fn index(&self, x: usize, y: usize, c: usize) -> usize {
        c * self.width * self.height + y * self.width + x
    }
}

/// Splits a g×g grid image back into its g² cells, each C×h×w, concatenated (for .npy export).
pub fn split_grid(
    values: &[f32],
    width: usize,
    height: usize,
    channels: usize,
    g: usize,
) -> Vec<f32> {
    if g <= 1 {
        return values.to_vec();
    }
    let (w, h) = (width / g, height / g);
    let mut out = Vec::with_capacity(values.len());
    for cell in 0..g * g {
        let (ox, oy) = ((cell % g) * w, (cell / g) * h);
        for ch in 0..channels {
            for y in 0..h {
                let src = ch * width * height + (oy + y) * width + ox;
                out.extend_from_slice(&values[src..src + w]);
            }
        }
    }
    out
}

/// The noise stream of schedule `i`: 0 for all when the noise is shared, else `i`.
pub fn noise_stream(schedule: usize, same_noise: bool) -> u64 {
    if same_noise { 0 } else { schedule as u64 }
}

/// ε for `n` values from stream `stream` of `seed` (standard normal, reproducible).
pub fn epsilon(seed: u64, stream: u64, n: usize) -> Vec<f32> {
    Rng::stream(seed, stream).normal_vec(n)
}

/// √ᾱ_t and √(1 − ᾱ_t) as f32, the coefficients the tiles use.
pub fn rates_f32(table: &ScheduleTable, t: usize) -> (f32, f32) {
    let t = t.min(table.steps());
    (
        table.alpha_bar_at(t).sqrt() as f32,
        table.one_minus_alpha_bar_at(t).sqrt() as f32,
    )
}

/// The closed form x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε, in f32 exactly as the tiles compute it.
/// `t` is clamped to 0..=T.
pub fn forward(table: &ScheduleTable, t: usize, x0: &[f32], eps: &[f32]) -> Vec<f32> {
    let (a, b) = rates_f32(table, t);
    x0.iter().zip(eps).map(|(&x, &e)| a * x + b * e).collect()
}

/// The noise z_s of chain step `s` for noise stream `stream`.
fn chain_noise(seed: u64, stream: u64, s: usize, out: &mut [f32]) {
    let id = ((s as u64) << 8) | (stream & 0xFF);
    Rng::stream(seed ^ CHAIN_SALT, id).fill_normal(out);
}

/// The step-by-step chain for one schedule, with checkpoints so that any t can be reached
/// quickly (at most `stride − 1` steps from a checkpoint).
#[derive(Clone, Debug)]
struct ChainState {
    table: Arc<ScheduleTable>,
    stream: u64,
    t: usize,
    x: Vec<f32>,
    /// x at t = k·stride for k = 0, 1, … as far as the chain has been.
    checkpoints: Vec<Vec<f32>>,
}

/// The step-by-step forward chain of several schedules from one x₀, advanced within a time
/// budget so that a UI frame never waits for it.
///
/// Schedules that share a noise stream get the same z_t at every step.
#[derive(Clone, Debug)]
pub struct Chain {
    seed: u64,
    stride: usize,
    states: Vec<ChainState>,
}

impl Chain {
    /// A chain at t = 0 for every schedule. `streams[i]` is schedule i's noise stream (see
    /// [`noise_stream`]); `max_bytes` bounds the memory of the checkpoints.
    pub fn new(
        x0: &[f32],
        tables: &[Arc<ScheduleTable>],
        streams: &[u64],
        seed: u64,
        max_bytes: usize,
    ) -> Self {
        let max_t = tables.iter().map(|t| t.steps()).max().unwrap_or(1);
        let per = (x0.len() * 4 * tables.len().max(1)).max(1);
        let budget_checkpoints = (max_bytes / per).max(2);
        let stride = max_t.div_ceil(budget_checkpoints).max(8);
        let states = tables
            .iter()
            .zip(streams)
            .map(|(table, &stream)| ChainState {
                table: table.clone(),
                stream,
                t: 0,
                x: x0.to_vec(),
                checkpoints: vec![x0.to_vec()],
            })
            .collect();
        Self {
            seed,
            stride,
            states,
        }
    }

    /// The distance between checkpoints.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The step each schedule's chain is at.
    pub fn t(&self, schedule: usize) -> Option<usize> {
        self.states.get(schedule).map(|s| s.t)
    }

    /// x at the current step of schedule `schedule`.
    pub fn x(&self, schedule: usize) -> Option<&[f32]> {
        self.states.get(schedule).map(|s| s.x.as_slice())
    }

    /// Moves every schedule's chain towards `target` (clamped to its T), stopping early at
    /// `deadline`. Returns true when every chain is at its target.
    pub fn advance(&mut self, target: usize, deadline: Option<Instant>) -> bool {
        // Going back: restart from the last checkpoint at or before the target.
        for st in &mut self.states {
            let goal = target.min(st.table.steps());
            if goal < st.t {
                let k = (goal / self.stride).min(st.checkpoints.len() - 1);
                st.x.clone_from(&st.checkpoints[k]);
                st.t = k * self.stride;
            }
        }
        let n = self.states.first().map_or(0, |s| s.x.len());
        let mut z = vec![0.0f32; n];
        let mut next = vec![0.0f32; n];
        loop {
            // The next step s due anywhere; schedules at s − 1 with the same stream share z_s.
            let Some(s) = self
                .states
                .iter()
                .filter(|st| st.t < target.min(st.table.steps()))
                .map(|st| st.t + 1)
                .min()
            else {
                return true;
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            let mut made: Option<u64> = None;
            for st in &mut self.states {
                if st.t + 1 != s || st.t >= target.min(st.table.steps()) {
                    continue;
                }
                if made != Some(st.stream) {
                    chain_noise(self.seed, st.stream, s, &mut z);
                    made = Some(st.stream);
                }
                forward_step(&st.table, s, &st.x, &z, &mut next);
                std::mem::swap(&mut st.x, &mut next);
                st.t = s;
                if s.is_multiple_of(self.stride) && s / self.stride == st.checkpoints.len() {
                    st.checkpoints.push(st.x.clone());
                }
            }
        }
    }
}

/// x_t of the chain for one schedule, computed to the end (for the CLI and tests).
pub fn chain_to(
    x0: &[f32],
    table: &Arc<ScheduleTable>,
    stream: u64,
    seed: u64,
    t: usize,
) -> Vec<f32> {
    let mut chain = Chain::new(x0, std::slice::from_ref(table), &[stream], seed, 0);
    chain.advance(t, None);
    chain.x(0).map(<[f32]>::to_vec).unwrap_or_default()
}

/// What one pixel of x_t is made of.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelParts {
    /// x₀.
    pub x0: f32,
    /// x_t.
    pub xt: f32,
    /// √ᾱ_t·x₀, the signal part.
    pub signal: f32,
    /// x_t − √ᾱ_t·x₀, the noise part (√(1 − ᾱ_t)·ε in closed form).
    pub noise: f32,
}

/// Splits pixel `i` of x_t into its signal and noise parts.
pub fn pixel_parts(
    table: &ScheduleTable,
    t: usize,
    x0: &[f32],
    xt: &[f32],
    i: usize,
) -> Option<PixelParts> {
    let (&x0v, &xtv) = (x0.get(i)?, xt.get(i)?);
    let (a, _) = rates_f32(table, t);
    let signal = a * x0v;
    Some(PixelParts {
        x0: x0v,
        xt: xtv,
        signal,
        noise: xtv - signal,
    })
}
