//! The UNet ε-predictor for images of 1 or 3 channels and 16 to 64 px.
//!
//! The canonical small config equals the PyTorch reference in `../shared/bench/ddpm_ref_bench.py`
//! layer for layer (793 697 parameters at 28×28×1, 794 851 at 32×32×3), so benchmarks compare
//! like with like. Shapes are noted as [batch, channels, height, width].

use super::{TimeInput, TimeMap};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, GroupNorm, GroupNormConfig, Linear,
    LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

mod cpu;
mod memory;
pub use cpu::{
    CpuUNet, LayerProfile, LayerSpec, LayerTimes, Layout, ParamGrad, ParamMut, TrainNet,
    canonical_layers, profile_layer,
};
pub use memory::{MemoryEstimate, available_memory, check_train_memory, human_bytes};

/// Everything that shapes a UNet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UNetConfig {
    /// Image channels: 1 (grey) or 3 (RGB).
    pub image_channels: usize,
    /// Image side in pixels (16..=64, divisible by 2^(levels−1)).
    pub image_size: usize,
    /// Channels of the first level; also the width of the sinusoidal time embedding.
    pub base_channels: usize,
    /// Channel multiplier of each level (one level per entry).
    pub channel_mults: Vec<usize>,
    /// Residual blocks per level, on the way down and on the way up.
    pub res_blocks: usize,
    /// Resolutions (in pixels) with self-attention after each residual block; the middle
    /// block always has one.
    pub attention_resolutions: Vec<usize>,
    /// Width of the time embedding after its MLP.
    pub time_embed_dim: usize,
    /// Dropout inside residual blocks.
    pub dropout: f64,
    /// GroupNorm groups.
    pub groups: usize,
    /// Class labels the model is conditioned on (0: unconditional). A conditional model adds a
    /// learned embedding of the label (or of the extra "null" label, index `num_classes`) to
    /// its time embedding, so one network gives both ε(x, y) and ε(x, ∅) for classifier-free
    /// guidance.
    pub num_classes: usize,
    /// t enters the sinusoidal embedding as `time_scale`·t. 1 (the default, and every
    /// checkpoint written before #15) feeds the raw t; a run with `rescale_timesteps` uses
    /// 1000/T (set by [`crate::config::RunConfig::unet`]).
    pub time_scale: f64,
    /// What the time embedding reads: the step t (every checkpoint written before #14 §3) or
    /// the schedule's log-SNR λ(t) (seed 000). Set from the run's `time_input` by
    /// [`crate::config::RunConfig::unet`].
    pub time_input: TimeInput,
    /// The network also outputs v for a learned variance Σ_θ (improved DDPM; 2·C output
    /// channels: the prediction, then o with v = (o + 1)/2). False in every checkpoint written
    /// before #15, which keep their fixed variance. Set from `train.loss` by
    /// [`crate::config::RunConfig::unet`].
    pub learn_sigma: bool,
}

impl Default for UNetConfig {
    fn default() -> Self {
        Self::canonical(1, 28)
    }
}

/// Why a UNet config is unusable.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum UNetConfigError {
    /// A field outside its range, with the reason.
    #[error("model.{field}: {reason}")]
    Invalid {
        /// The config field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The most class labels a conditional UNet takes.
pub const MAX_CLASSES: usize = 1000;

/// Sane bounds on a config (issue #18 item 6): far above anything that trains on a desktop,
/// low enough that the memory estimate, not an allocation failure, speaks for what is left.
pub const MAX_BASE_CHANNELS: usize = 1024;
/// The largest channel multiplier of a level.
pub const MAX_MULT: usize = 64;
/// The most resolution levels.
pub const MAX_LEVELS: usize = 8;
/// The most residual blocks per level.
pub const MAX_RES_BLOCKS: usize = 32;
/// The largest time-embedding width.
pub const MAX_TIME_EMBED: usize = 8192;

/// The class table enters the time embedding as `LABEL_SCALE · E[y]`, with E initialised at
/// N(0, 1/LABEL_SCALE²) (so the product starts at N(0, 1), as an ordinary embedding would).
/// Adam moves every parameter by about lr per step whatever its gradient's scale, so this
/// gives the table a LABEL_SCALE× larger effective learning rate than the rest of the network.
/// Measured: fine-tuning the unconditional canonical model at lr 2e-4 without it, 2,500 steps
/// left the labels changing ε̂ by under 1% and the classifier found the asked-for digit at
/// chance (11%).
pub const LABEL_SCALE: f32 = 20.0;

impl UNetConfig {
    /// The canonical small config of the benchmark reference: base 32, mults (1, 2, 2),
    /// one residual block per level, attention only in the middle, time embedding 128.
    pub fn canonical(image_channels: usize, image_size: usize) -> Self {
        Self {
            image_channels,
            image_size,
            base_channels: 32,
            channel_mults: vec![1, 2, 2],
            res_blocks: 1,
            attention_resolutions: vec![],
            time_embed_dim: 128,
            dropout: 0.0,
            groups: 8,
            num_classes: 0,
            time_scale: 1.0,
            time_input: TimeInput::Step,
            learn_sigma: false,
        }
    }

    /// A tiny config that trains quickly on a CPU.
    pub fn tiny(image_channels: usize, image_size: usize) -> Self {
        Self {
            base_channels: 16,
            channel_mults: vec![1, 2],
            time_embed_dim: 64,
            groups: 4,
            ..Self::canonical(image_channels, image_size)
        }
    }

    /// A larger config for a GPU.
    pub fn larger(image_channels: usize, image_size: usize) -> Self {
        Self {
            base_channels: 64,
            channel_mults: vec![1, 2, 2, 2],
            res_blocks: 2,
            attention_resolutions: vec![image_size / 4],
            time_embed_dim: 256,
            dropout: 0.1,
            ..Self::canonical(image_channels, image_size)
        }
    }

    /// Checks the config against the image it will see.
    pub fn validate(&self) -> Result<(), UNetConfigError> {
        let bad = |field, reason: String| Err(UNetConfigError::Invalid { field, reason });
        if !matches!(self.image_channels, 1 | 3) {
            return bad(
                "image_channels",
                format!("must be 1 or 3, got {}", self.image_channels),
            );
        }
        if !(8..=128).contains(&self.image_size) {
            return bad(
                "image_size",
                format!("must be 8..=128 px, got {}", self.image_size),
            );
        }
        if self.channel_mults.is_empty() || self.channel_mults.contains(&0) {
            return bad(
                "channel_mults",
                "needs at least one level, each multiplier ≥ 1".into(),
            );
        }
        let div = 1usize << (self.channel_mults.len() - 1);
        if !self.image_size.is_multiple_of(div) {
            return bad(
                "channel_mults",
                format!(
                    "{} levels need an image size divisible by {div}, got {}",
                    self.channel_mults.len(),
                    self.image_size
                ),
            );
        }
        if self.channel_mults.len() > MAX_LEVELS {
            return bad(
                "channel_mults",
                format!(
                    "at most {MAX_LEVELS} levels, got {}",
                    self.channel_mults.len()
                ),
            );
        }
        if let Some(m) = self.channel_mults.iter().find(|&&m| m > MAX_MULT) {
            return bad(
                "channel_mults",
                format!("each multiplier must be 1..={MAX_MULT}, got {m}"),
            );
        }
        if !(1..=MAX_RES_BLOCKS).contains(&self.res_blocks) {
            return bad(
                "res_blocks",
                format!("must be 1..={MAX_RES_BLOCKS}, got {}", self.res_blocks),
            );
        }
        if self.groups == 0 {
            return bad("groups", "must be ≥ 1".into());
        }
        for ch in self.level_channels() {
            if !ch.is_multiple_of(self.groups) {
                return bad(
                    "groups",
                    format!("{} groups do not divide {ch} channels", self.groups),
                );
            }
        }
        if self.base_channels < 4
            || self.base_channels > MAX_BASE_CHANNELS
            || !self.base_channels.is_multiple_of(2)
        {
            return bad(
                "base_channels",
                format!(
                    "must be even and 4..={MAX_BASE_CHANNELS}, got {}",
                    self.base_channels
                ),
            );
        }
        if self.num_classes > MAX_CLASSES {
            return bad(
                "num_classes",
                format!("must be ≤ {MAX_CLASSES}, got {}", self.num_classes),
            );
        }
        if !(1..=MAX_TIME_EMBED).contains(&self.time_embed_dim) {
            return bad(
                "time_embed_dim",
                format!("must be 1..={MAX_TIME_EMBED}, got {}", self.time_embed_dim),
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(
                "dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            );
        }
        if let Err(reason) = TimeMap::new(&self.time_input, self.time_scale) {
            return bad("time_input", reason);
        }
        Ok(())
    }

    fn level_channels(&self) -> Vec<usize> {
        self.channel_mults
            .iter()
            .map(|m| m * self.base_channels)
            .collect()
    }

    /// Builds the model with weights drawn from `seed` (reproducible across threads).
    pub fn init_seeded(&self, device: &Device, seed: u64) -> UNet {
        super::init_seeded(device, seed, || self.init(device))
    }

    /// Builds the model with freshly initialised weights (from the device's RNG).
    pub fn init(&self, device: &Device) -> UNet {
        let temb = self.time_embed_dim;
        let chans = self.level_channels();
        let n_levels = chans.len();
        let conv3 = |cin, cout| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let res = |cin, cout| ResBlock::new(cin, cout, temb, self.groups, self.dropout, device);
        let attn_at = |level: usize| {
            self.attention_resolutions
                .contains(&(self.image_size >> level))
        };

        let mut down = Vec::new();
        let mut ch = self.base_channels;
        let mut skips = Vec::new();
        for (level, &out) in chans.iter().enumerate() {
            for _ in 0..self.res_blocks {
                down.push(DownItem::block(
                    res(ch, out),
                    attn_at(level).then(|| Attention::new(out, self.groups, device)),
                ));
                ch = out;
                skips.push(ch);
            }
            if level + 1 < n_levels {
                down.push(DownItem::downsample(
                    Conv2dConfig::new([ch, ch], [3, 3])
                        .with_stride([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device),
                ));
            }
        }
        // The middle sits at the lowest resolution, with the deepest channel count.
        let (mid1, mid_attn, mid2) = (
            res(ch, ch),
            Attention::new(ch, self.groups, device),
            res(ch, ch),
        );
        let mut up = Vec::new();
        for (level, &out) in chans.iter().enumerate().rev() {
            for _ in 0..self.res_blocks {
                let skip = skips.pop().unwrap_or(0);
                up.push(UpItem::block(
                    res(ch + skip, out),
                    attn_at(level).then(|| Attention::new(out, self.groups, device)),
                ));
                ch = out;
            }
            if level > 0 {
                up.push(UpItem::upsample(conv3(ch, ch)));
            }
        }
        // Drawn last, so an unconditional config gets the same weights as before labels existed.
        let time_in = LinearConfig::new(self.base_channels, temb).init(device);
        let time_out = LinearConfig::new(temb, temb).init(device);
        let conv_in = conv3(self.image_channels, self.base_channels);
        let norm_out = GroupNormConfig::new(self.groups, ch).init(device);
        let conv_out = conv3(
            ch,
            self.image_channels * if self.learn_sigma { 2 } else { 1 },
        );
        let label_emb = (self.num_classes > 0).then(|| {
            EmbeddingConfig::new(self.num_classes + 1, temb)
                .with_initializer(burn::nn::Initializer::Normal {
                    mean: 0.0,
                    std: 1.0 / f64::from(LABEL_SCALE),
                })
                .init(device)
        });
        UNet {
            time_in,
            time_out,
            label_emb,
            conv_in,
            down,
            mid1,
            mid_attn,
            mid2,
            up,
            norm_out,
            conv_out,
            sinusoid_dim: self.base_channels,
            // `validate` refuses a log-SNR input whose schedule does not build.
            time_map: TimeMap::new(&self.time_input, self.time_scale).unwrap_or_default(),
        }
    }
}

/// The UNet.
#[derive(Module, Debug)]
pub struct UNet {
    time_in: Linear,
    time_out: Linear,
    /// The class embedding [num_classes + 1, temb] of a conditional model; the last row is the
    /// null label.
    label_emb: Option<Embedding>,
    conv_in: Conv2d,
    down: Vec<DownItem>,
    mid1: ResBlock,
    mid_attn: Attention,
    mid2: ResBlock,
    up: Vec<UpItem>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    sinusoid_dim: usize,
    /// What the sinusoidal embedding reads (`UNetConfig::time_scale` and `time_input`).
    #[module(skip)]
    time_map: TimeMap,
}

/// One element of the down path: a residual block (maybe with attention) or a downsampler.
#[derive(Module, Debug)]
struct DownItem {
    block: Option<ResBlock>,
    attn: Option<Attention>,
    downsample: Option<Conv2d>,
}

impl DownItem {
    fn block(block: ResBlock, attn: Option<Attention>) -> Self {
        Self {
            block: Some(block),
            attn,
            downsample: None,
        }
    }
    fn downsample(conv: Conv2d) -> Self {
        Self {
            block: None,
            attn: None,
            downsample: Some(conv),
        }
    }
}

/// One element of the up path: a residual block on [current, skip] (maybe with attention),
/// or a nearest ×2 upsampler followed by a 3×3 convolution.
#[derive(Module, Debug)]
struct UpItem {
    block: Option<ResBlock>,
    attn: Option<Attention>,
    upsample: Option<Conv2d>,
}

impl UpItem {
    fn block(block: ResBlock, attn: Option<Attention>) -> Self {
        Self {
            block: Some(block),
            attn,
            upsample: None,
        }
    }
    fn upsample(conv: Conv2d) -> Self {
        Self {
            block: None,
            attn: None,
            upsample: Some(conv),
        }
    }
}

impl UNet {
    /// Predicts ε (or v, or x₀, depending on how it was trained) for x_t [B, C, H, W] at the
    /// timesteps `t` (one per sample, 1-based).
    /// A conditional model predicts with the null label (unconditionally).
    pub fn forward(&self, x: Tensor<4>, t: &[f32]) -> Tensor<4> {
        self.forward_labeled(x, t, None)
    }

    /// The class labels a conditional model takes (0: unconditional); label `num_classes()`
    /// is the null label.
    pub fn num_classes(&self) -> usize {
        self.label_emb
            .as_ref()
            .map_or(0, |e| e.weight.val().dims()[0] - 1)
    }

    /// Output channels: C, or 2·C for a learned-Σ model (see [`UNetConfig::learn_sigma`]).
    pub fn out_channels(&self) -> usize {
        self.conv_out.weight.val().dims()[0]
    }

    /// Input (image) channels.
    pub fn in_channels(&self) -> usize {
        self.conv_in.weight.val().dims()[1]
    }

    /// Whether the network outputs v for a learned Σ_θ (twice the image channels).
    pub fn learns_sigma(&self) -> bool {
        self.out_channels() == 2 * self.in_channels()
    }

    /// Whether `self` and `other` have the same class table (both none, or equal values).
    pub fn same_class_table(&self, other: &UNet) -> bool {
        match (&self.label_emb, &other.label_emb) {
            (None, None) => true,
            (Some(a), Some(b)) => a
                .weight
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .ok()
                .zip(b.weight.val().into_data().try_to_vec::<f32>().ok())
                .is_some_and(|(x, y)| x == y),
            _ => false,
        }
    }

    /// The same model with its class table set to zero: every label then predicts what the
    /// unconditional part alone predicts (the starting point for fine-tuning an unconditional
    /// model into a conditional one).
    pub fn zero_class_table(mut self) -> Self {
        if let Some(e) = self.label_emb.take() {
            let w = e.weight.map(|t| t.zeros_like());
            self.label_emb = Some(Embedding { weight: w });
        }
        self
    }

    /// As [`Self::forward`], conditioned on one label per sample (`num_classes()` or beyond:
    /// the null label). An unconditional model ignores the labels.
    pub fn forward_labeled(&self, x: Tensor<4>, t: &[f32], labels: Option<&[usize]>) -> Tensor<4> {
        let device = x.device();
        let [b, _, _, _] = x.dims();
        let table = self.time_map.embedding(t, self.sinusoid_dim);
        let emb = Tensor::<2>::from_data(TensorData::new(table, [b, self.sinusoid_dim]), &device); // [B, base]
        let mut temb = self.time_out.forward(silu(self.time_in.forward(emb))); // [B, temb]
        if let Some(label_emb) = &self.label_emb {
            // One-hot rows times the table: the same as a lookup, with an ordinary matmul
            // gradient for autodiff.
            let k = self.num_classes();
            let mut onehot = vec![0f32; b * (k + 1)];
            for i in 0..b {
                let y = labels.and_then(|l| l.get(i)).copied().unwrap_or(k).min(k);
                onehot[i * (k + 1) + y] = 1.0;
            }
            let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [b, k + 1]), &device);
            temb = temb
                + onehot
                    .matmul(label_emb.weight.val())
                    .mul_scalar(LABEL_SCALE); // [B, temb]
        }
        let temb = silu(temb); // every ResBlock projects SiLU(temb)

        let mut h = self.conv_in.forward(x); // [B, base, S, S]
        let mut skips = Vec::new();
        for item in &self.down {
            if let Some(block) = &item.block {
                h = block.forward(h, temb.clone());
                if let Some(attn) = &item.attn {
                    h = attn.forward(h);
                }
                skips.push(h.clone());
            } else if let Some(conv) = &item.downsample {
                h = conv.forward(h); // [B, C, S/2, S/2]
            }
        }
        h = self.mid1.forward(h, temb.clone());
        h = self.mid_attn.forward(h);
        h = self.mid2.forward(h, temb.clone());
        for item in &self.up {
            if let Some(block) = &item.block {
                let skip = skips.pop().unwrap_or_else(|| h.clone().mul_scalar(0.0));
                h = block.forward(Tensor::cat(vec![h, skip], 1), temb.clone()); // [current, skip]
                if let Some(attn) = &item.attn {
                    h = attn.forward(h);
                }
            } else if let Some(conv) = &item.upsample {
                let up = interpolate(
                    h,
                    InterpolateOptions::new(InterpolateMode::Nearest).with_scale_factor([2.0, 2.0]),
                );
                h = conv.forward(up); // [B, C, 2S, 2S]
            }
        }
        self.conv_out.forward(silu(self.norm_out.forward(h)))
    }
}

/// GroupNorm → SiLU → Conv3×3 (+ projected time embedding) → GroupNorm → SiLU → (dropout) →
/// Conv3×3, plus a 1×1 convolution on the skip when the channel count changes.
#[derive(Module, Debug)]
struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    temb_proj: Linear,
    norm2: GroupNorm,
    dropout: Dropout,
    conv2: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    fn new(
        cin: usize,
        cout: usize,
        temb: usize,
        groups: usize,
        dropout: f64,
        device: &Device,
    ) -> Self {
        let conv3 = |a, b| {
            Conv2dConfig::new([a, b], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            norm1: GroupNormConfig::new(groups, cin).init(device),
            conv1: conv3(cin, cout),
            temb_proj: LinearConfig::new(temb, cout).init(device),
            norm2: GroupNormConfig::new(groups, cout).init(device),
            dropout: DropoutConfig::new(dropout).init(),
            conv2: conv3(cout, cout),
            skip: (cin != cout).then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
        }
    }

    /// x [B, Cin, H, W], temb_act = SiLU(temb) [B, T] → [B, Cout, H, W].
    fn forward(&self, x: Tensor<4>, temb_act: Tensor<2>) -> Tensor<4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone()))); // [B, Cout, H, W]
        let [b, c] = [h.dims()[0], h.dims()[1]];
        let t = self.temb_proj.forward(temb_act).reshape([b, c, 1, 1]); // [B, Cout, 1, 1]
        let h = h + t;
        let h = self
            .conv2
            .forward(self.dropout.forward(silu(self.norm2.forward(h))));
        let skip = match &self.skip {
            Some(conv) => conv.forward(x),
            None => x,
        };
        h + skip
    }
}

/// Single-head self-attention over the H·W positions, with a residual connection.
#[derive(Module, Debug)]
struct Attention {
    norm: GroupNorm,
    qkv: Linear,
    proj: Linear,
}

impl Attention {
    fn new(c: usize, groups: usize, device: &Device) -> Self {
        Self {
            norm: GroupNormConfig::new(groups, c).init(device),
            qkv: LinearConfig::new(c, 3 * c).init(device),
            proj: LinearConfig::new(c, c).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, hh, ww] = x.dims();
        let h = self
            .norm
            .forward(x.clone())
            .reshape([b, c, hh * ww])
            .swap_dims(1, 2); // [B, HW, C]
        let qkv = self.qkv.forward(h).chunk(3, 2); // 3 × [B, HW, C]
        let [q, k, v]: [Tensor<3>; 3] = match qkv.try_into() {
            Ok(a) => a,
            Err(_) => unreachable!("chunk(3) gives three tensors"),
        };
        let scale = (c as f64).powf(-0.5);
        let a = softmax(q.matmul(k.swap_dims(1, 2)).mul_scalar(scale), 2); // [B, HW, HW]
        let o = self.proj.forward(a.matmul(v)); // [B, HW, C]
        x + o.swap_dims(1, 2).reshape([b, c, hh, ww])
    }
}
