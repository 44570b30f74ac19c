//! How much memory training a UNet config will take, estimated before anything is allocated,
//! so that a config or batch that cannot fit is refused with a message instead of aborting the
//! process when an allocation fails (issue #18 item 6).
//!
//! The estimate is a shape walk calibrated by measurement (peak RSS of `train --steps 2` on
//! MNIST, December 2026, batches 16 and 128): per image, the canonical config took 5.8 MB on
//! the native engine and 6.6 MB on burn's Flex autodiff, the tiny one 2.8 MB, which is 2.7–3.6
//! floats per element of the activation walk below. [`ACTIVATION_FACTOR`] rounds that up, so
//! the estimate errs on the large side of both engines.

use super::UNetConfig;

/// Floats held per element of the activation walk, per image (calibrated on peak RSS; see the
/// module's note).
const ACTIVATION_FACTOR: f64 = 4.0;
/// Floats held per parameter: weights, gradients, Adam's two moments, the EMA copy, and the
/// native engine's packed copies.
const PARAM_FACTOR: f64 = 8.0;
/// What the process takes before any model: the binary, the data set, the allocator's slack
/// (measured about 150 MB).
const BASE_BYTES: f64 = 200e6;

/// An estimate of training memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryEstimate {
    /// Parameters, counted from the config as `init` lays the network out.
    pub params: f64,
    /// Bytes that do not grow with the batch.
    pub fixed_bytes: f64,
    /// Bytes per image of the batch.
    pub per_image_bytes: f64,
}

impl MemoryEstimate {
    /// Bytes for a batch of `batch` images.
    pub fn bytes(&self, batch: usize) -> f64 {
        self.fixed_bytes + self.per_image_bytes * batch as f64
    }

    /// The largest batch that fits in `limit` bytes (0 if not even the weights fit).
    pub fn largest_batch(&self, limit: f64) -> usize {
        let room = limit - self.fixed_bytes;
        if room < self.per_image_bytes {
            0
        } else {
            (room / self.per_image_bytes).floor().min(1e12) as usize
        }
    }
}

impl UNetConfig {
    /// Estimates the memory of training this config, without building it: the parameters are
    /// counted exactly as `init` lays the network out, the activations by the same walk. All
    /// arithmetic is in f64, so absurd configs give huge numbers rather than overflowing.
    pub fn train_memory(&self) -> MemoryEstimate {
        let f = |n: usize| n as f64;
        let temb = f(self.time_embed_dim);
        let conv3 = |a: f64, b: f64| 9.0 * a * b + b;
        let linear = |a: f64, b: f64| a * b + b;
        let res = |a: f64, b: f64| {
            2.0 * a
                + conv3(a, b)
                + linear(temb, b)
                + 2.0 * b
                + conv3(b, b)
                + if a == b { 0.0 } else { a * b + b }
        };
        let attn = |c: f64| 2.0 * c + linear(c, 3.0 * c) + linear(c, c);
        // Per image: each residual block keeps about its input and output planes, attention its
        // q, k, v planes and the HW × HW scores (with softmax and gradients).
        let res_act = |a: f64, b: f64, r: f64| (a + 2.0 * b) * r * r;
        let attn_act = |c: f64, r: f64| 4.0 * c * r * r + 3.0 * r.powi(4) / ACTIVATION_FACTOR;
        let chans: Vec<f64> = self
            .channel_mults
            .iter()
            .map(|&m| f(m) * f(self.base_channels))
            .collect();
        let res_at = |level: usize| f(self.image_size) / f64::powi(2.0, level as i32);
        let attn_at = |level: usize| {
            level < usize::BITS as usize
                && self
                    .attention_resolutions
                    .contains(&(self.image_size >> level))
        };
        let mut params = 0.0;
        let mut act = 0.0;
        let mut ch = f(self.base_channels);
        let mut skips = Vec::new();
        for (level, &out) in chans.iter().enumerate() {
            let r = res_at(level);
            for _ in 0..self.res_blocks.min(MAX_WALK) {
                params += res(ch, out);
                act += res_act(ch, out, r);
                if attn_at(level) {
                    params += attn(out);
                    act += attn_act(out, r);
                }
                ch = out;
                skips.push(ch);
            }
            if level + 1 < chans.len() {
                params += conv3(ch, ch);
                act += ch * r * r / 4.0;
            }
        }
        let r = res_at(chans.len().saturating_sub(1));
        params += 2.0 * res(ch, ch) + attn(ch);
        act += 2.0 * res_act(ch, ch, r) + attn_act(ch, r);
        for (level, &out) in chans.iter().enumerate().rev() {
            let r = res_at(level);
            for _ in 0..self.res_blocks.min(MAX_WALK) {
                let skip = skips.pop().unwrap_or(0.0);
                params += res(ch + skip, out);
                act += res_act(ch + skip, out, r);
                if attn_at(level) {
                    params += attn(out);
                    act += attn_act(out, r);
                }
                ch = out;
            }
            if level > 0 {
                params += conv3(ch, ch);
                act += ch * res_at(level - 1).powi(2);
            }
        }
        let c0 = f(self.base_channels);
        let img = f(self.image_channels);
        params += linear(c0, temb) + linear(temb, temb) + conv3(img, c0) + 2.0 * ch;
        params += conv3(ch, img);
        if self.num_classes > 0 {
            params += (f(self.num_classes) + 1.0) * temb;
        }
        act += 2.0 * ch * f(self.image_size).powi(2);
        // Configs past the walk's cap are already far beyond any memory; scale them up.
        let scale = f(self.res_blocks) / f(self.res_blocks.clamp(1, MAX_WALK));
        MemoryEstimate {
            params: params * scale,
            fixed_bytes: BASE_BYTES + PARAM_FACTOR * 4.0 * params * scale,
            per_image_bytes: ACTIVATION_FACTOR * 4.0 * act * scale,
        }
    }
}

/// The most residual blocks per level walked one by one (the rest are scaled).
const MAX_WALK: usize = 64;

/// The memory the system can give this process now, from `/proc/meminfo`'s `MemAvailable`
/// (None where that is not known, e.g. on another OS).
pub fn available_memory() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// Formats bytes as MB or GB for messages.
pub fn human_bytes(b: f64) -> String {
    if b >= 1e12 {
        format!("{:.3e} bytes", b)
    } else if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else {
        format!("{:.0} MB", b / 1e6)
    }
}

/// Refuses a training setup that would not fit: `cap` bytes when given (a config's cap),
/// otherwise the memory available now. The message gives the estimate and the largest batch
/// that fits.
pub fn check_train_memory(
    config: &UNetConfig,
    batch: usize,
    cap: Option<f64>,
) -> Result<MemoryEstimate, String> {
    let est = config.train_memory();
    let (limit, what) = match cap {
        Some(c) => (c, "the memory cap (train.memory_cap_mb)"),
        None => match available_memory() {
            Some(a) => (a, "the memory available now"),
            None => return Ok(est),
        },
    };
    let need = est.bytes(batch);
    if need <= limit {
        return Ok(est);
    }
    let fit = est.largest_batch(limit);
    let advice = if fit == 0 {
        "not even the weights fit: make the model smaller (base_channels, channel_mults, \
         res_blocks, time_embed_dim)"
            .to_string()
    } else {
        format!("the largest batch that fits is about {fit}")
    };
    Err(format!(
        "training this model at batch {batch} needs about {} (about {:.2} million parameters), \
         more than {what}, {}; {advice}",
        human_bytes(need),
        est.params / 1e6,
        human_bytes(limit),
    ))
}
