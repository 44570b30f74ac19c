//! The UNet's forward pass on the CPU, for sampling: the same maths as [`UNet::forward`] on
//! plain `f32` buffers, without burn.
//!
//! Why a second forward pass: sampling evaluates the network thousands of times and needs no
//! gradients, and burn's Flex backend reaches 16–29 GFLOP/s on this model's small
//! convolutions (BENCHMARKS.md) while the machine's two cores peak at 234. Here:
//!
//! - Activations are channels-last ([batch, height, width, channels]) `f32` buffers, recycled
//!   from a per-thread pool instead of allocated and zeroed every step.
//! - A 3×3 convolution is matrix products with the `gemm` crate (AVX2/AVX-512 picked at run
//!   time). For a batch, each image's patch matrix is a strided view of a padded copy, so
//!   nothing is gathered (`Conv::forward_shifted`); small batches gather blocks of patches
//!   (im2col) so that both cores have work.
//! - Nearest ×2 upsampling followed by a 3×3 convolution is computed as four 2×2
//!   convolutions at the low resolution (`UpConv`): 16/36 of the multiply-adds.
//! - GroupNorm is fused with SiLU, the time embedding with the convolution's bias, the
//!   residual add with the output; the elementwise loops are compiled for AVX2 when the CPU
//!   has it, with a polynomial `exp`.
//! - Images, blocks and attention heads run in parallel with rayon.
//!
//! Training stays on burn (it needs autodiff); `tests/cpu_unet.rs` checks that both forward
//! passes agree.
//!
//! The activations and the weight matrices are allocated fallibly ([`crate::mem`]): a batch
//! too large for memory fails with an [`AllocError`] instead of aborting the process.

use super::{Attention, DownItem, ResBlock, UNet, UpItem};
use crate::mem::{self, AllocError};
use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, Linear};
use burn::tensor::Tensor;
use rayon::prelude::*;

mod pool;
use pool::{POOL, buffer, recycle};

/// Batches from this size run 3×3 convolutions one image per task without im2col
/// (`Conv::forward_shifted`); smaller ones split images into blocks so both cores work.
const SHIFTED_MIN_BATCH: usize = 4;

/// Output pixels per im2col block: 128 rows of up to 9·64 floats stay in L2.
const BLOCK_ROWS: usize = 128;

/// Activations [batch, height, width, channels], channels-last. Their buffers come from and
/// return to a per-thread pool (see [`buffer`]).
#[derive(Debug)]
struct Act {
    b: usize,
    h: usize,
    w: usize,
    c: usize,
    data: Vec<f32>,
}

impl Drop for Act {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.data));
    }
}

impl Act {
    /// An activation whose every element the caller overwrites: its buffer is recycled, so
    /// it holds stale values until then. Fails when it cannot be allocated (a shape whose
    /// size overflows fails too).
    fn scratch(b: usize, h: usize, w: usize, c: usize) -> Result<Self, AllocError> {
        Ok(Self {
            b,
            h,
            w,
            c,
            data: buffer(mem::elements(&[b, h, w, c]))?,
        })
    }

    /// A copy, in a pooled buffer, split over the threads.
    fn try_clone(&self) -> Result<Self, AllocError> {
        let mut a = Self::scratch(self.b, self.h, self.w, self.c)?;
        a.data
            .par_chunks_mut(1 << 14)
            .zip(self.data.par_chunks(1 << 14))
            .for_each(|(d, s)| d.copy_from_slice(s));
        Ok(a)
    }

    fn pixels(&self) -> usize {
        self.h * self.w
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

fn param<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    values(p.val())
}

/// A convolution with weights as a [k·k·cin, cout] matrix (row = (ky·k + kx)·cin + ci).
#[derive(Clone, Debug)]
struct Conv {
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    w: Vec<f32>,
    bias: Vec<f32>,
}

impl Conv {
    fn from(conv: &Conv2d) -> Result<Self, AllocError> {
        let [cout, cin, k, _] = conv.weight.val().dims();
        let src = param(&conv.weight); // [cout, cin, k, k]
        let mut w = mem::try_zeroed(k * k * cin * cout, "convolution weights")?;
        // Row (ky·k + kx)·cin + ci of w holds that tap's weights for every output channel.
        w.par_chunks_mut(cout).enumerate().for_each(|(row, dst)| {
            let (tap, ci) = (row / cin, row % cin);
            let (ky, kx) = (tap / k, tap % k);
            for (co, d) in dst.iter_mut().enumerate() {
                *d = src[((co * cin + ci) * k + ky) * k + kx];
            }
        });
        let bias = conv
            .bias
            .as_ref()
            .map(param)
            .unwrap_or_else(|| vec![0.0; cout]);
        Ok(Self {
            cin,
            cout,
            k,
            stride: conv.stride[0],
            w,
            bias,
        })
    }

    /// The convolution of `x` (padding k/2), plus `extra_bias` ([batch, cout], the ResBlock's
    /// time embedding) and `residual` (the output's shape) when given.
    fn forward(
        &self,
        x: &Act,
        extra_bias: Option<&[f32]>,
        residual: Option<&Act>,
    ) -> Result<Act, AllocError> {
        if self.k == 3 && self.stride == 1 && x.b >= SHIFTED_MIN_BATCH {
            self.forward_shifted(x, extra_bias, residual)
        } else {
            self.forward_im2col(x, extra_bias, residual)
        }
    }

    /// The general path: blocks of output pixels gathered into a patch matrix (im2col).
    fn forward_im2col(
        &self,
        x: &Act,
        extra_bias: Option<&[f32]>,
        residual: Option<&Act>,
    ) -> Result<Act, AllocError> {
        assert_eq!(x.c, self.cin, "convolution input channels");
        let pad = self.k / 2;
        let ho = (x.h + 2 * pad - self.k) / self.stride + 1;
        let wo = (x.w + 2 * pad - self.k) / self.stride + 1;
        let mut out = Act::scratch(x.b, ho, wo, self.cout)?;
        let kdim = self.k * self.k * self.cin;
        let per_image = ho * wo;
        let cout = self.cout;
        let direct = self.k == 1 && self.stride == 1;
        out.data
            .par_chunks_mut(BLOCK_ROWS * cout)
            .enumerate()
            .for_each_init(Vec::new, |cols: &mut Vec<f32>, (blk, dst)| {
                let first = blk * BLOCK_ROWS;
                let rows = dst.len() / cout;
                // The output starts as bias (+ time embedding) (+ residual); the product is
                // accumulated onto it.
                for (r, out_row) in dst.chunks_mut(cout).enumerate() {
                    let p = first + r;
                    out_row.copy_from_slice(&self.bias);
                    if let Some(e) = extra_bias {
                        add_into(out_row, &e[(p / per_image) * cout..][..cout]);
                    }
                    if let Some(res) = residual {
                        add_into(out_row, &res.data[p * cout..(p + 1) * cout]);
                    }
                }
                if !direct {
                    cols.resize(rows * kdim, 0.0);
                    self.gather(x, [ho, wo], first, &mut cols[..rows * kdim]);
                }
                let lhs = if direct {
                    &x.data[first * kdim..(first + rows) * kdim]
                } else {
                    &cols[..rows * kdim]
                };
                matmul(
                    dst,
                    Mat::rows(lhs, kdim),
                    Mat::rows(&self.w, cout),
                    [rows, kdim, cout],
                    true,
                );
            });
        Ok(out)
    }

    /// A 3×3, stride-1 convolution without im2col. In a copy of one image padded by one pixel
    /// (rows of w + 2 pixels), the 3·cin inputs that kernel row ky applies to at output pixel
    /// r = oy·(w + 2) + ox start at (ky·(w + 2) + r)·cin and are contiguous, so the whole
    /// image's patch matrix for ky is a strided view of the padded copy (row stride cin,
    /// rows overlapping) and three matrix products accumulate the output. The two padding
    /// columns of each output row are computed and dropped.
    fn forward_shifted(
        &self,
        x: &Act,
        extra_bias: Option<&[f32]>,
        residual: Option<&Act>,
    ) -> Result<Act, AllocError> {
        assert_eq!(x.c, self.cin, "convolution input channels");
        let (h, w, cin, cout) = (x.h, x.w, self.cin, self.cout);
        let wp = w + 2;
        let mut out = Act::scratch(x.b, h, w, cout)?;
        out.data
            .par_chunks_mut(h * w * cout)
            .enumerate()
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(xpad, opad): &mut (Vec<f32>, Vec<f32>), (n, dst)| {
                    // h + 2 padded rows and one more, which only the dropped columns read.
                    xpad.clear();
                    xpad.resize((h + 3) * wp * cin, 0.0);
                    for y in 0..h {
                        xpad[((y + 1) * wp + 1) * cin..][..w * cin]
                            .copy_from_slice(&x.data[(n * h + y) * w * cin..][..w * cin]);
                    }
                    opad.resize(h * wp * cout, 0.0);
                    for ky in 0..3 {
                        let patches = Mat {
                            data: &xpad[ky * wp * cin..],
                            rs: cin,
                            cs: 1,
                        };
                        let weights =
                            Mat::rows(&self.w[ky * 3 * cin * cout..][..3 * cin * cout], cout);
                        matmul(opad, patches, weights, [h * wp, 3 * cin, cout], ky > 0);
                    }
                    // Bias (+ this image's time embedding), tiled along one output row.
                    let mut row_bias: Vec<f32> = self.bias.repeat(w);
                    if let Some(e) = extra_bias {
                        for b in row_bias.chunks_exact_mut(cout) {
                            add_into(b, &e[n * cout..][..cout]);
                        }
                    }
                    for (oy, row) in dst.chunks_exact_mut(w * cout).enumerate() {
                        let src = &opad[oy * wp * cout..][..w * cout];
                        for ((o, &v), &b) in row.iter_mut().zip(src).zip(&row_bias) {
                            *o = v + b;
                        }
                        if let Some(res) = residual {
                            add_into(row, &res.data[(n * h + oy) * w * cout..][..w * cout]);
                        }
                    }
                },
            );
        Ok(out)
    }

    /// im2col: row r of `cols` gets the k×k neighbourhood (zero outside the image) of output
    /// pixel `first + r`, as k·k runs of `cin` channels. For stride 1 each kernel row is one
    /// copy of k·cin contiguous floats except at the image's left and right edges.
    fn gather(&self, x: &Act, [ho, wo]: [usize; 2], first: usize, cols: &mut [f32]) {
        let (k, cin, pad) = (self.k, self.cin, self.k / 2);
        let kdim = k * k * cin;
        let per_image = ho * wo;
        for (r, row) in cols.chunks_mut(kdim).enumerate() {
            let p = first + r;
            let (n, rem) = (p / per_image, p % per_image);
            let (oy, ox) = (rem / wo, rem % wo);
            for ky in 0..k {
                let run = &mut row[ky * k * cin..(ky + 1) * k * cin];
                let Some(iy) = (oy * self.stride + ky)
                    .checked_sub(pad)
                    .filter(|&iy| iy < x.h)
                else {
                    run.fill(0.0);
                    continue;
                };
                let line = &x.data[(n * x.h + iy) * x.w * cin..(n * x.h + iy + 1) * x.w * cin];
                let x0 = ox * self.stride;
                if x0 >= pad && x0 - pad + k <= x.w {
                    run.copy_from_slice(&line[(x0 - pad) * cin..(x0 - pad + k) * cin]);
                    continue;
                }
                for kx in 0..k {
                    let seg = &mut run[kx * cin..(kx + 1) * cin];
                    match (x0 + kx).checked_sub(pad).filter(|&ix| ix < x.w) {
                        Some(ix) => seg.copy_from_slice(&line[ix * cin..(ix + 1) * cin]),
                        None => seg.fill(0.0),
                    }
                }
            }
        }
    }
}

/// A 3×3 convolution (padding 1) of the nearest ×2 upsampled input, computed at the input's
/// resolution. Output pixel (2i + dy, 2j + dx) sees input rows i + dy − 1 + a for a ∈ {0, 1}
/// (and columns likewise): the kernel rows that land on the same input row add up. So each
/// of the four output phases (dy, dx) is a 2×2 convolution of the small input with summed
/// weights: 4·4 instead of 4·9 multiply-adds per input pixel and channel pair, and the
/// upsampled image is never built.
#[derive(Clone, Debug)]
struct UpConv {
    cin: usize,
    cout: usize,
    /// Per phase dy·2 + dx: weights [4·cin, cout], row (a·2 + b)·cin + ci.
    phases: [Vec<f32>; 4],
    bias: Vec<f32>,
}

impl UpConv {
    /// Kernel rows (or columns) of a 3×3 kernel that land on offset `a` for phase `d`.
    pub(super) const TAPS: [[&'static [usize]; 2]; 2] = [[&[0], &[1, 2]], [&[0, 1], &[2]]];

    fn from(conv: &Conv) -> Result<Self, AllocError> {
        assert_eq!(conv.k, 3, "upsampling convolutions are 3×3");
        let (cin, cout) = (conv.cin, conv.cout);
        let mut phases: [Vec<f32>; 4] = Default::default();
        for w in phases.iter_mut() {
            *w = mem::try_zeroed(4 * cin * cout, "convolution weights")?;
        }
        Self::fill_phases(conv, &mut phases);
        Ok(Self {
            cin,
            cout,
            phases,
            bias: conv.bias.clone(),
        })
    }

    /// Writes the four phases' summed 2×2 weights of the 3×3 `conv` into `phases` (each
    /// 4·cin·cout long), in place.
    pub(super) fn fill_phases(conv: &Conv, phases: &mut [Vec<f32>; 4]) {
        let (cin, cout) = (conv.cin, conv.cout);
        for (phase, w) in phases.iter_mut().enumerate() {
            let (dy, dx) = (phase / 2, phase % 2);
            assert_eq!(w.len(), 4 * cin * cout, "phase weights");
            w.fill(0.0);
            for a in 0..2 {
                for b in 0..2 {
                    for &ky in Self::TAPS[dy][a] {
                        for &kx in Self::TAPS[dx][b] {
                            for ci in 0..cin {
                                let src = &conv.w[((ky * 3 + kx) * cin + ci) * cout..][..cout];
                                let dst = &mut w[((a * 2 + b) * cin + ci) * cout..][..cout];
                                add_into(dst, src);
                            }
                        }
                    }
                }
            }
        }
    }

    fn forward(&self, x: &Act) -> Result<Act, AllocError> {
        assert_eq!(x.c, self.cin, "convolution input channels");
        let (cin, cout) = (self.cin, self.cout);
        let (h, w) = (x.h, x.w);
        let mut out = Act::scratch(x.b, 2 * h, 2 * w, cout)?;
        // One task per output row pair (input row i of image n): all four phases.
        out.data
            .par_chunks_mut(2 * 2 * w * cout)
            .enumerate()
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(cols, tmp): &mut (Vec<f32>, Vec<f32>), (row, dst)| {
                    let (n, i) = (row / h, row % h);
                    cols.resize(w * 4 * cin, 0.0);
                    tmp.resize(w * cout, 0.0);
                    for (phase, wts) in self.phases.iter().enumerate() {
                        let (dy, dx) = (phase / 2, phase % 2);
                        for (j, col) in cols.chunks_exact_mut(4 * cin).enumerate() {
                            for a in 0..2 {
                                let iy = (i + dy + a).checked_sub(1).filter(|&y| y < h);
                                for b in 0..2 {
                                    let seg = &mut col[(a * 2 + b) * cin..][..cin];
                                    let ix = (j + dx + b).checked_sub(1).filter(|&x| x < w);
                                    match (iy, ix) {
                                        (Some(iy), Some(ix)) => seg.copy_from_slice(
                                            &x.data[((n * h + iy) * w + ix) * cin..][..cin],
                                        ),
                                        _ => seg.fill(0.0),
                                    }
                                }
                            }
                        }
                        matmul(
                            tmp,
                            Mat::rows(cols, 4 * cin),
                            Mat::rows(wts, cout),
                            [w, 4 * cin, cout],
                            false,
                        );
                        // Output row 2i + dy, column 2j + dx.
                        let line = &mut dst[dy * 2 * w * cout..][..2 * w * cout];
                        for (j, vals) in tmp.chunks_exact(cout).enumerate() {
                            let o = &mut line[(2 * j + dx) * cout..][..cout];
                            for ((o, &v), &bias) in o.iter_mut().zip(vals).zip(&self.bias) {
                                *o = v + bias;
                            }
                        }
                    }
                },
            );
        Ok(out)
    }
}

/// `dst[i] += src[i]`.
fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// A linear layer y = x·W + b with W [din, dout] (burn's layout).
#[derive(Clone, Debug)]
struct Lin {
    din: usize,
    dout: usize,
    w: Vec<f32>,
    bias: Vec<f32>,
}

impl Lin {
    fn from(lin: &Linear) -> Self {
        let [din, dout] = lin.weight.val().dims();
        Self {
            din,
            dout,
            w: param(&lin.weight),
            bias: lin
                .bias
                .as_ref()
                .map(param)
                .unwrap_or_else(|| vec![0.0; dout]),
        }
    }

    /// `x` is [rows, din] with row stride `din`; returns [rows, dout].
    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let rows = x.len() / self.din;
        let mut out = vec![0.0; rows * self.dout];
        matmul(
            &mut out,
            Mat::rows(x, self.din),
            Mat::rows(&self.w, self.dout),
            [rows, self.din, self.dout],
            false,
        );
        for row in out.chunks_mut(self.dout) {
            for (o, b) in row.iter_mut().zip(&self.bias) {
                *o += b;
            }
        }
        out
    }
}

/// GroupNorm over (height, width, channels of the group), with burn's biased variance.
#[derive(Clone, Debug)]
struct Norm {
    groups: usize,
    eps: f64,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Norm {
    fn from(norm: &GroupNorm) -> Self {
        let c = norm.num_channels;
        Self {
            groups: norm.num_groups,
            eps: norm.epsilon,
            gamma: norm
                .gamma
                .as_ref()
                .map(param)
                .unwrap_or_else(|| vec![1.0; c]),
            beta: norm
                .beta
                .as_ref()
                .map(param)
                .unwrap_or_else(|| vec![0.0; c]),
        }
    }

    /// GroupNorm of `x`, followed by SiLU when `act`. Two passes per image (mean, then the
    /// centred variance) summed per channel, which vectorises across channels.
    fn forward(&self, x: &Act, act: bool) -> Result<Act, AllocError> {
        let (c, g) = (x.c, self.groups);
        let cg = c / g;
        let per_image = x.pixels() * c;
        let mut out = Act::scratch(x.b, x.h, x.w, c)?;
        out.data
            .par_chunks_mut(per_image)
            .zip(x.data.par_chunks(per_image))
            .for_each(|(dst, img)| {
                norm_image(dst, img, c, cg, &self.gamma, &self.beta, self.eps, act);
            });
        Ok(out)
    }
}

/// Defines `$name(&mut [f32], extra args)` that runs `$body` compiled for AVX2 and FMA when the
/// CPU has them (the loops then vectorise eight lanes wide instead of SSE2's four).
macro_rules! vectorised {
    ($(#[$doc:meta])* fn $name:ident($v:ident: &mut [f32] $(, $arg:ident: $ty:ty)*) $body:block) => {
        $(#[$doc])*
        fn $name($v: &mut [f32] $(, $arg: $ty)*) {
            #[inline(always)]
            fn body($v: &mut [f32] $(, $arg: $ty)*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($v: &mut [f32] $(, $arg: $ty)*) {
                    body($v $(, $arg)*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                    #[allow(unsafe_code)]
                    return unsafe { avx2($v $(, $arg)*) };
                }
            }
            body($v $(, $arg)*)
        }
    };
}

vectorised! {
    /// GroupNorm (then SiLU when `act`) of one image `img` [pixels, c] into `dst`, `cg`
    /// channels per group. Two passes (the mean, then the centred variance) summed per
    /// channel, which vectorises across channels.
    #[allow(clippy::too_many_arguments)]
    fn norm_image(
        dst: &mut [f32],
        img: &[f32],
        c: usize,
        cg: usize,
        gamma: &[f32],
        beta: &[f32],
        eps: f64,
        act: bool
    ) {
        let g = c / cg;
        let count = (img.len() / g) as f32;
        // One pass: per channel, sums of (v − s) and (v − s)² about the first pixel's value s
        // (the shift keeps E[d²] − E[d]² from cancelling); the group's centred sum of squares
        // follows exactly, channel by channel.
        let shift0 = &img[..c];
        let (s1, s2) = channel_sums(img, shift0);
        let n = (img.len() / c) as f32;
        let mean: Vec<f32> = (0..g)
            .map(|gi| {
                (gi * cg..(gi + 1) * cg)
                    .map(|ch| s1[ch] + n * shift0[ch])
                    .sum::<f32>()
                    / count
            })
            .collect();
        let acc: Vec<f32> = (0..c)
            .map(|ch| {
                let d = mean[ch / cg] - shift0[ch];
                s2[ch] - 2.0 * d * s1[ch] + n * d * d
            })
            .collect();
        let mut scale = vec![0.0f32; c];
        let mut shift = vec![0.0f32; c];
        for gi in 0..g {
            let var = acc[gi * cg..(gi + 1) * cg].iter().sum::<f32>() / count;
            let rstd = (1.0 / (f64::from(var) + eps).sqrt()) as f32;
            for ch in gi * cg..(gi + 1) * cg {
                scale[ch] = rstd * gamma[ch];
                shift[ch] = beta[ch] - mean[gi] * scale[ch];
            }
        }
        // The affine map and SiLU in one pass.
        for (o, px) in dst.chunks_exact_mut(c).zip(img.chunks_exact(c)) {
            if act {
                for (((o, &v), &a), &b) in o.iter_mut().zip(px).zip(&scale).zip(&shift) {
                    *o = silu(v * a + b);
                }
            } else {
                for (((o, &v), &a), &b) in o.iter_mut().zip(px).zip(&scale).zip(&shift) {
                    *o = v * a + b;
                }
            }
        }
    }
}

/// `v[i] = f(v[i])`, 32 elements at a time: four independent vectors in flight hide the
/// latency of `exp`'s polynomial and of the division in SiLU.
#[inline(always)]
fn map_in_place(v: &mut [f32], f: impl Fn(f32) -> f32) {
    let mut chunks = v.chunks_exact_mut(32);
    for ch in &mut chunks {
        let mut t = [0.0f32; 32];
        for (t, &x) in t.iter_mut().zip(ch.iter()) {
            *t = f(x);
        }
        ch.copy_from_slice(&t);
    }
    for x in chunks.into_remainder() {
        *x = f(*x);
    }
}

/// Per channel of `img` [pixels, c]: Σ (v − centre) and Σ (v − centre)², in one pass. Eight
/// channels at a time with four pixels in flight, so the sums live in registers instead of a
/// chain of stores and reloads through memory.
#[inline(always)]
fn channel_sums(img: &[f32], centre: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let c = centre.len();
    let mut s1 = vec![0.0f32; c];
    let mut s2 = vec![0.0f32; c];
    if !c.is_multiple_of(8) {
        for px in img.chunks_exact(c) {
            for (ch, (&v, &m)) in px.iter().zip(centre).enumerate() {
                let d = v - m;
                s1[ch] += d;
                s2[ch] += d * d;
            }
        }
        return (s1, s2);
    }
    for c0 in (0..c).step_by(8) {
        let mut l1 = [[0.0f32; 8]; 4];
        let mut l2 = [[0.0f32; 8]; 4];
        let m: [f32; 8] = std::array::from_fn(|l| centre[c0 + l]);
        let mut quads = img.chunks_exact(4 * c);
        for quad in &mut quads {
            for k in 0..4 {
                let px = &quad[k * c + c0..][..8];
                for l in 0..8 {
                    let d = px[l] - m[l];
                    l1[k][l] += d;
                    l2[k][l] += d * d;
                }
            }
        }
        for px in quads.remainder().chunks_exact(c) {
            for l in 0..8 {
                let d = px[c0 + l] - m[l];
                l1[0][l] += d;
                l2[0][l] += d * d;
            }
        }
        for l in 0..8 {
            s1[c0 + l] = l1.iter().map(|lane| lane[l]).sum();
            s2[c0 + l] = l2.iter().map(|lane| lane[l]).sum();
        }
    }
    (s1, s2)
}

vectorised! {
    /// softmax(scale · row), in place.
    fn softmax_in_place(row: &mut [f32], scale: f32) {
        // Eight running maxima vectorise; one would be a serial chain.
        let mut lanes = [f32::NEG_INFINITY; 8];
        let mut chunks = row.chunks_exact(8);
        for ch in &mut chunks {
            for (l, &v) in lanes.iter_mut().zip(ch) {
                *l = l.max(v);
            }
        }
        let m = chunks
            .remainder()
            .iter()
            .chain(&lanes)
            .fold(f32::NEG_INFINITY, |a, &v| a.max(v))
            * scale;
        map_in_place(row, |v| exp(v * scale - m));
        let inv = 1.0 / row.iter().sum::<f32>();
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

vectorised! {
    /// SiLU of every element.
    fn silu_in_place(v: &mut [f32]) {
        map_in_place(v, silu);
    }
}

/// e^x to about 2e-7 relative, as plain arithmetic the compiler can vectorise (libm's `expf`
/// is a call per element): 2^(x·log₂e) split into 2^i · 2^f with |f| ≤ ½, 2^f by its Taylor
/// series to degree 6.
#[inline]
fn exp(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5·2^23: adding and subtracting it rounds to an integer
    let z = x.clamp(-87.0, 88.0) * std::f32::consts::LOG2_E;
    let shifted = z + ROUND;
    let i = shifted - ROUND;
    // The integer sits in the low mantissa bits of `shifted`; integer arithmetic on the bits
    // vectorises where a float-to-int cast would not.
    let k = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let f = (z - i) * std::f32::consts::LN_2;
    // Degree 6: the next term, |f|⁷/7! with |f| ≤ ln2/2, is below 1.2e-7.
    let p = 1.0
        + f * (1.0
            + f * (0.5
                + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    f32::from_bits(k.wrapping_add(127) << 23) * p
}

#[inline]
fn silu(v: f32) -> f32 {
    v / (1.0 + exp(-v))
}

#[derive(Clone, Debug)]
struct Res {
    norm1: Norm,
    conv1: Conv,
    temb: Lin,
    norm2: Norm,
    conv2: Conv,
    skip: Option<Conv>,
}

impl Res {
    fn from(r: &ResBlock) -> Result<Self, AllocError> {
        Ok(Self {
            norm1: Norm::from(&r.norm1),
            conv1: Conv::from(&r.conv1)?,
            temb: Lin::from(&r.temb_proj),
            norm2: Norm::from(&r.norm2),
            conv2: Conv::from(&r.conv2)?,
            skip: r.skip.as_ref().map(Conv::from).transpose()?,
        })
    }

    /// `temb_act` is SiLU(time embedding), [batch, temb].
    fn forward(&self, x: &Act, temb_act: &[f32]) -> Result<Act, AllocError> {
        let t = self.temb.forward(temb_act); // [B, cout]
        let h = self
            .conv1
            .forward(&self.norm1.forward(x, true)?, Some(&t), None)?;
        let skip = match &self.skip {
            Some(s) => Some(s.forward(x, None, None)?),
            None => None,
        };
        self.conv2.forward(
            &self.norm2.forward(&h, true)?,
            None,
            Some(skip.as_ref().unwrap_or(x)),
        )
    }
}

#[derive(Clone, Debug)]
struct Attn {
    norm: Norm,
    qkv: Lin,
    proj: Lin,
}

impl Attn {
    fn from(a: &Attention) -> Self {
        Self {
            norm: Norm::from(&a.norm),
            qkv: Lin::from(&a.qkv),
            proj: Lin::from(&a.proj),
        }
    }

    fn forward(&self, x: &Act) -> Result<Act, AllocError> {
        let h = self.norm.forward(x, false)?;
        let (c, hw) = (x.c, x.pixels());
        let scale = (c as f32).powf(-0.5);
        let mut out = x.try_clone()?;
        out.data
            .par_chunks_mut(hw * c)
            .zip(h.data.par_chunks(hw * c))
            .for_each(|(dst, hn)| {
                let qkv = self.qkv.forward(hn); // [HW, 3C]: q | k | v
                let mut s = vec![0.0f32; hw * hw];
                let q = Mat {
                    data: &qkv,
                    rs: 3 * c,
                    cs: 1,
                };
                let kt = Mat {
                    data: &qkv[c..],
                    rs: 1,
                    cs: 3 * c,
                };
                matmul(&mut s, q, kt, [hw, c, hw], false);
                for row in s.chunks_mut(hw) {
                    softmax_in_place(row, scale);
                }
                let mut o = vec![0.0f32; hw * c];
                let v = Mat {
                    data: &qkv[2 * c..],
                    rs: 3 * c,
                    cs: 1,
                };
                matmul(&mut o, Mat::rows(&s, hw), v, [hw, hw, c], false);
                for (d, p) in dst.iter_mut().zip(self.proj.forward(&o)) {
                    *d += p;
                }
            });
        Ok(out)
    }
}

#[derive(Clone, Debug)]
enum Step {
    Block(Box<Res>, Option<Attn>),
    /// Nearest ×2 upsampling followed by a 3×3 convolution.
    Upsample(UpConv),
    Resample(Conv),
}

/// The UNet's weights, laid out for the CPU forward pass. Built from a burn [`UNet`] with
/// [`CpuUNet::from_unet`]; it holds its own copy, so training can go on changing the original.
#[derive(Clone, Debug)]
pub struct CpuUNet {
    time_in: Lin,
    time_out: Lin,
    /// A conditional model's class table, [num_classes + 1, temb] row-major (last row: null).
    label_emb: Option<Vec<f32>>,
    conv_in: Conv,
    down: Vec<Step>,
    mid1: Res,
    mid_attn: Attn,
    mid2: Res,
    up: Vec<Step>,
    norm_out: Norm,
    conv_out: Conv,
    sinusoid_dim: usize,
    time_map: crate::model::TimeMap,
}

impl Drop for CpuUNet {
    /// Frees the buffers the forward passes left in this thread's pool.
    fn drop(&mut self) {
        POOL.with_borrow_mut(Vec::clear);
    }
}

impl CpuUNet {
    /// Copies the weights of `model` (on any device).
    ///
    /// # Panics
    /// When the weight matrices cannot be allocated; [`Self::try_from_unet`] returns that as
    /// an error.
    pub fn from_unet(model: &UNet) -> Self {
        Self::try_from_unet(model).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Self::from_unet`], failing when the weight matrices cannot be allocated.
    pub fn try_from_unet(model: &UNet) -> Result<Self, AllocError> {
        let block = |b: &ResBlock, a: &Option<Attention>| -> Result<Step, AllocError> {
            Ok(Step::Block(
                Box::new(Res::from(b)?),
                a.as_ref().map(Attn::from),
            ))
        };
        let down = model
            .down
            .iter()
            .filter_map(|d: &DownItem| match (&d.block, &d.downsample) {
                (Some(b), _) => Some(block(b, &d.attn)),
                (None, Some(c)) => Some(Conv::from(c).map(Step::Resample)),
                (None, None) => None,
            })
            .collect::<Result<_, _>>()?;
        let up = model
            .up
            .iter()
            .filter_map(|u: &UpItem| match (&u.block, &u.upsample) {
                (Some(b), _) => Some(block(b, &u.attn)),
                (None, Some(c)) => Some(
                    Conv::from(c)
                        .and_then(|c| UpConv::from(&c))
                        .map(Step::Upsample),
                ),
                (None, None) => None,
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            time_in: Lin::from(&model.time_in),
            time_out: Lin::from(&model.time_out),
            label_emb: model.label_emb.as_ref().map(|e| param(&e.weight)),
            conv_in: Conv::from(&model.conv_in)?,
            down,
            mid1: Res::from(&model.mid1)?,
            mid_attn: Attn::from(&model.mid_attn),
            mid2: Res::from(&model.mid2)?,
            up,
            norm_out: Norm::from(&model.norm_out),
            conv_out: Conv::from(&model.conv_out)?,
            sinusoid_dim: model.sinusoid_dim,
            time_map: model.time_map.clone(),
        })
    }

    /// The network's output for `x` (flat [B, C, H, W], as `UNet::forward` takes it) at the
    /// 1-based timesteps `t` (one per sample), as a flat [B, C, H, W] vector.
    /// A conditional model predicts with the null label.
    pub fn forward(&self, x: &[f32], shape: [usize; 3], t: &[f32]) -> Vec<f32> {
        self.forward_labeled(x, shape, t, None)
    }

    /// The class labels of a conditional model (0: unconditional).
    pub fn num_classes(&self) -> usize {
        self.label_emb
            .as_ref()
            .map_or(0, |e| e.len() / self.time_out.dout - 1)
    }

    /// As [`Self::forward`], with one label per sample (`num_classes()` or beyond, or no
    /// labels: the null label), as `UNet::forward_labeled` takes them.
    ///
    /// # Panics
    /// When an activation cannot be allocated; [`Self::try_forward_labeled`] returns that as
    /// an error.
    pub fn forward_labeled(
        &self,
        x: &[f32],
        shape: [usize; 3],
        t: &[f32],
        labels: Option<&[usize]>,
    ) -> Vec<f32> {
        self.try_forward_labeled(x, shape, t, labels)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Self::forward_labeled`], failing when an activation cannot be allocated (a batch
    /// too large for memory).
    pub fn try_forward_labeled(
        &self,
        x: &[f32],
        shape: [usize; 3],
        t: &[f32],
        labels: Option<&[usize]>,
    ) -> Result<Vec<f32>, AllocError> {
        let [c, hh, ww] = shape;
        let b = t.len();
        assert_eq!(x.len(), b * c * hh * ww, "input length against shape and t");
        let emb = self.time_map.embedding(t, self.sinusoid_dim);
        let mut temb = self.time_in.forward(&emb);
        silu_in_place(&mut temb);
        let mut temb = self.time_out.forward(&temb);
        if let Some(table) = &self.label_emb {
            add_label_rows(&mut temb, table, self.num_classes(), labels);
        }
        silu_in_place(&mut temb);

        let input = channels_last(x, [b, c, hh, ww])?;
        let mut h = self.conv_in.forward(&input, None, None)?;
        let mut skips = Vec::new();
        for step in &self.down {
            match step {
                Step::Block(res, attn) => {
                    h = res.forward(&h, &temb)?;
                    if let Some(a) = attn {
                        h = a.forward(&h)?;
                    }
                    skips.push(h.try_clone()?);
                }
                Step::Resample(conv) => h = conv.forward(&h, None, None)?,
                Step::Upsample(up) => h = up.forward(&h)?,
            }
        }
        h = self.mid1.forward(&h, &temb)?;
        h = self.mid_attn.forward(&h)?;
        h = self.mid2.forward(&h, &temb)?;
        for step in &self.up {
            match step {
                Step::Block(res, attn) => {
                    let joined = match skips.pop() {
                        Some(skip) => concat_channels(&h, &skip)?,
                        None => h.try_clone()?,
                    };
                    h = res.forward(&joined, &temb)?;
                    if let Some(a) = attn {
                        h = a.forward(&h)?;
                    }
                }
                Step::Upsample(up) => h = up.forward(&h)?,
                Step::Resample(conv) => h = conv.forward(&h, None, None)?,
            }
        }
        let out = self
            .conv_out
            .forward(&self.norm_out.forward(&h, true)?, None, None)?;
        channels_first(&out)
    }
}

/// Adds row `labels[i]` of the class table (the null row `k` for a missing or out-of-range
/// label) to row i of `temb` ([B, dim]).
fn add_label_rows(temb: &mut [f32], table: &[f32], k: usize, labels: Option<&[usize]>) {
    let dim = table.len() / (k + 1);
    for (i, row) in temb.chunks_exact_mut(dim).enumerate() {
        let y = labels.and_then(|l| l.get(i)).copied().unwrap_or(k).min(k);
        for (r, &e) in row.iter_mut().zip(&table[y * dim..(y + 1) * dim]) {
            *r += super::LABEL_SCALE * e;
        }
    }
}

/// `x` (flat [B, C, H, W], burn's layout) as a channels-last activation.
fn channels_last(x: &[f32], [b, c, hh, ww]: [usize; 4]) -> Result<Act, AllocError> {
    let mut a = Act::scratch(b, hh, ww, c)?;
    for n in 0..b {
        for ch in 0..c {
            for p in 0..hh * ww {
                a.data[(n * hh * ww + p) * c + ch] = x[(n * c + ch) * hh * ww + p];
            }
        }
    }
    Ok(a)
}

/// A channels-last activation as flat [B, C, H, W] (burn's layout).
fn channels_first(a: &Act) -> Result<Vec<f32>, AllocError> {
    let (b, c, px) = (a.b, a.c, a.pixels());
    let mut y = mem::try_zeroed(b * c * px, "activations")?;
    for n in 0..b {
        for ch in 0..c {
            for p in 0..px {
                y[(n * c + ch) * px + p] = a.data[(n * px + p) * c + ch];
            }
        }
    }
    Ok(y)
}

/// [a, b] along channels (a's channels first, as `Tensor::cat(vec![a, b], 1)`).
fn concat_channels(a: &Act, b: &Act) -> Result<Act, AllocError> {
    assert_eq!(
        (a.b, a.h, a.w),
        (b.b, b.h, b.w),
        "concatenated activations differ in size"
    );
    let c = a.c + b.c;
    let mut out = Act::scratch(a.b, a.h, a.w, c)?;
    let px = a.pixels();
    out.data
        .par_chunks_mut(px * c)
        .zip(a.data.par_chunks(px * a.c).zip(b.data.par_chunks(px * b.c)))
        .for_each(|(dst, (x, y))| {
            for ((d, x), y) in dst
                .chunks_exact_mut(c)
                .zip(x.chunks_exact(a.c))
                .zip(y.chunks_exact(b.c))
            {
                d[..a.c].copy_from_slice(x);
                d[a.c..].copy_from_slice(y);
            }
        });
    Ok(out)
}

/// A read-only matrix view: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major with `cols` elements per row.
    fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// Whether every element of an r×c view lies inside `data` (false on overflow).
    fn covers(&self, r: usize, c: usize) -> bool {
        if r == 0 || c == 0 {
            return true;
        }
        (r - 1)
            .checked_mul(self.rs)
            .zip((c - 1).checked_mul(self.cs))
            .and_then(|(a, b)| a.checked_add(b))
            .is_some_and(|last| last < self.data.len())
    }
}

/// `dst` (m×n, row-major, contiguous) = `a` (m×k) · `b` (k×n), or += when `accumulate`.
fn matmul(dst: &mut [f32], a: Mat<'_>, b: Mat<'_>, [m, k, n]: [usize; 3], accumulate: bool) {
    assert!(dst.len() >= m * n, "matmul: destination too short");
    assert!(
        a.covers(m, k) && b.covers(k, n),
        "matmul: operand too short"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    let stride = |s: usize| isize::try_from(s).unwrap_or(isize::MAX);
    // SAFETY: the asserts above keep every element the kernel reads — (i, j) at
    // i·rs + j·cs for i < rows, j < cols — inside `a.data`, `b.data` and `dst`, which are live
    // borrows for the whole call; `dst` is exclusively borrowed, so it aliases neither
    // operand. `gemm` reads `dst` only when `read_dst` is true.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            stride(n),
            accumulate,
            a.data.as_ptr(),
            stride(a.cs),
            stride(a.rs),
            b.data.as_ptr(),
            stride(b.cs),
            stride(b.rs),
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

mod train;
pub use train::{
    LayerProfile, LayerSpec, LayerTimes, Layout, ParamGrad, ParamMut, TrainNet, canonical_layers,
    profile_layer,
};

#[cfg(test)]
mod tests;
