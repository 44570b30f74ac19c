//! The UNet's training pass on the CPU: a forward pass that keeps what the backward pass needs,
//! and a hand-written backward pass, on the channels-last buffers of [`CpuUNet`](super::CpuUNet).
//!
//! Why: burn's Flex backend trains the canonical UNet at about a quarter of PyTorch's speed on
//! this machine, because its convolutions and their backward passes reach 16–29 GFLOP/s
//! (BENCHMARKS.md, "Native training"). Here every heavy operation is a `gemm` product:
//!
//! - A 3×3, stride-1 convolution of a whole batch is three products over strided views of one
//!   padded copy of the batch (see [`pad`]: each image (h + 1)×(w + 1), neighbouring rows and
//!   images sharing one zero row or column): output row r = n·P + y·(w + 1) + x reads input
//!   rows r + ky·(w + 1) + kx, so the patch matrix of kernel row ky is the padded copy viewed
//!   with row stride `cin`. The rows that fall on padding are computed and dropped. Its weight gradient is the same view,
//!   transposed, times the output gradient laid out the same way (zero on the padding), and
//!   its input gradient is the same convolution of the padded output gradient with the
//!   kernel flipped and transposed.
//! - Strided and 1×1 convolutions use im2col (kept from the forward pass for dW).
//! - GroupNorm and SiLU are fused, forward and backward; attention's backward is the usual
//!   softmax Jacobian-vector product.
//! - Every reduction over the batch (weight gradients, norm affine gradients) is split into
//!   fixed chunks summed in order, so a step gives the same bits on any thread count, and a
//!   resumed run repeats an uninterrupted one exactly.
//!
//! Every buffer that grows with the batch or the model (activations, the kept inputs, the
//! padded and im2col copies, weight copies and gradients) is allocated fallibly
//! ([`crate::mem`]): a step that does not fit in memory fails with an [`AllocError`].
//!
//! The checkpoints stay burn's: [`TrainNet::params_mut`] exposes every parameter in place with
//! burn's id and its layout against burn's ([`Layout`]), so the trainer's own Adam and EMA
//! (`crate::train`) update the weights between steps and write burn's model, EMA and optimiser
//! record when a checkpoint needs them.

use super::{
    Act, Conv, Lin, Mat, add_into, channel_sums, channels_first, channels_last, matmul, silu,
};
use crate::diffusion::Rng;
use crate::mem::{self, AllocError};
use crate::model::unet::{Attention, ResBlock, UNet};
use burn::module::ParamId;
use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, Linear};
use burn::tensor::Tensor;
use rayon::prelude::*;

mod kernels;
mod net;
mod params;
mod probe;

use kernels::*;
pub use net::TrainNet;
pub use params::{Layout, ParamMut};
pub use probe::{LayerProfile, LayerSpec, LayerTimes, canonical_layers, profile_layer};

/// One gradient in burn's layout: the parameter, its shape, its values.
pub type ParamGrad = (ParamId, Vec<usize>, Vec<f32>);

/// What a convolution's forward pass keeps.
enum ConvCache {
    /// The padded batch (3×3, stride 1).
    Shifted { xpad: Vec<f32>, shape: [usize; 4] },
    /// The patch matrix [b·ho·wo, k·k·cin] and the input's shape.
    Cols { cols: Vec<f32>, shape: [usize; 4] },
    /// A 1×1 convolution whose input (its own patch matrix) another layer keeps: handed back
    /// to [`TConv::backward_shared`].
    Shared { shape: [usize; 4] },
}

/// A convolution with its gradients.
struct TConv {
    conv: Conv,
    wid: ParamId,
    bid: Option<ParamId>,
    dw: Vec<f32>,
    db: Vec<f32>,
    cache: Option<ConvCache>,
}

impl TConv {
    fn from(c: &Conv2d) -> Result<Self, AllocError> {
        let conv = Conv::from(c)?;
        Ok(Self {
            dw: mem::try_zeroed(conv.w.len(), "weight gradients")?,
            db: vec![0.0; conv.cout],
            conv,
            wid: c.weight.id,
            bid: c.bias.as_ref().map(|b| b.id),
            cache: None,
        })
    }

    fn forward(
        &mut self,
        x: &Act,
        extra: Option<&[f32]>,
        residual: Option<&Act>,
    ) -> Result<Act, AllocError> {
        self.forward_impl(x, extra, residual, false)
    }

    /// A 1×1, stride-1 convolution that keeps no copy of `x`: its owner hands it back to
    /// [`Self::backward_shared`].
    fn forward_shared(&mut self, x: &Act) -> Result<Act, AllocError> {
        assert!(
            self.conv.k == 1 && self.conv.stride == 1,
            "only a 1×1, stride-1 convolution reads its input as its patches"
        );
        self.forward_impl(x, None, None, true)
    }

    fn forward_impl(
        &mut self,
        x: &Act,
        extra: Option<&[f32]>,
        residual: Option<&Act>,
        shared: bool,
    ) -> Result<Act, AllocError> {
        let c = &self.conv;
        assert_eq!(x.c, c.cin, "convolution input channels");
        if c.k == 3 && c.stride == 1 {
            let wp = x.w + 1;
            let rows = x.b * (x.h + 1) * wp;
            let xpad = pad(x)?;
            let opad = shifted(&xpad, c.cin, &c.w, c.cout, rows, wp)?;
            let y = unpad(
                &opad,
                [x.b, x.h, x.w, c.cout],
                Some(&c.bias),
                extra,
                residual,
            )?;
            super::recycle(opad);
            self.cache = Some(ConvCache::Shifted {
                xpad,
                shape: [x.b, x.h, x.w, x.c],
            });
            return Ok(y);
        }
        let pad = c.k / 2;
        let ho = (x.h + 2 * pad - c.k) / c.stride + 1;
        let wo = (x.w + 2 * pad - c.k) / c.stride + 1;
        let (kdim, cout, per_image) = (c.k * c.k * c.cin, c.cout, ho * wo);
        let owned: Option<Vec<f32>> = if shared {
            None
        } else if c.k == 1 && c.stride == 1 {
            Some(par_copy(&x.data)?)
        } else {
            // A pooled buffer: `gather` writes every element, the padding's zeros too.
            let mut cols = super::buffer(x.b * per_image * kdim)?;
            cols.par_chunks_mut(BLOCK * kdim)
                .enumerate()
                .for_each(|(i, blk)| c.gather(x, [ho, wo], i * BLOCK, blk));
            Some(cols)
        };
        let cols: &[f32] = owned.as_deref().unwrap_or(&x.data);
        let mut out = Act::scratch(x.b, ho, wo, cout)?;
        out.data
            .par_chunks_mut(BLOCK * cout)
            .enumerate()
            .for_each(|(i, dst)| {
                let (r0, m) = (i * BLOCK, dst.len() / cout);
                for (r, row) in dst.chunks_exact_mut(cout).enumerate() {
                    let p = r0 + r;
                    row.copy_from_slice(&c.bias);
                    if let Some(e) = extra {
                        add_into(row, &e[(p / per_image) * cout..][..cout]);
                    }
                    if let Some(res) = residual {
                        add_into(row, &res.data[p * cout..][..cout]);
                    }
                }
                matmul(
                    dst,
                    Mat::rows(&cols[r0 * kdim..], kdim),
                    Mat::rows(&c.w, cout),
                    [m, kdim, cout],
                    true,
                );
            });
        let shape = [x.b, x.h, x.w, x.c];
        self.cache = Some(match owned {
            Some(cols) => ConvCache::Cols { cols, shape },
            None => ConvCache::Shared { shape },
        });
        Ok(out)
    }

    /// Accumulates dW and db for the output gradient `dy`; returns the input gradient when
    /// `need_dx`.
    fn backward(&mut self, dy: &Act, need_dx: bool) -> Result<Option<Act>, AllocError> {
        let cache = self
            .cache
            .take()
            .expect("convolution backward before forward");
        let c = &self.conv;
        let (cin, cout) = (c.cin, c.cout);
        let db = column_sums(&dy.data, cout)?;
        add_into(&mut self.db, &db);
        super::recycle(db);
        match cache {
            ConvCache::Shifted { xpad, shape } => {
                let [b, h, w, _] = shape;
                let wp = w + 1;
                let rows = b * (h + 1) * wp;
                let g = pad(dy)?;
                let dw = shifted_dw(&xpad, cin, &g[(wp + 1) * cout..], cout, rows, wp)?;
                add_into(&mut self.dw, &dw);
                super::recycle(dw);
                // Back to the pool, not to the allocator: the next step asks for the same
                // sizes, and a fresh buffer costs a fill and page faults.
                super::recycle(xpad);
                if !need_dx {
                    super::recycle(g);
                    return Ok(None);
                }
                let wf = flip(&c.w, cin, cout)?;
                let dpad = shifted(&g, cout, &wf, cin, rows, wp)?;
                super::recycle(wf);
                super::recycle(g);
                let dx = unpad(&dpad, [b, h, w, cin], None, None, None)?;
                super::recycle(dpad);
                Ok(Some(dx))
            }
            ConvCache::Cols { cols, shape } => {
                let dx = self.patches_backward(&cols, shape, dy, need_dx);
                super::recycle(cols);
                dx
            }
            ConvCache::Shared { .. } => {
                panic!("a convolution with a shared input goes back through backward_shared")
            }
        }
    }

    /// The backward pass of [`Self::forward_shared`], with the input it was given.
    fn backward_shared(&mut self, dy: &Act, x: &Act) -> Result<Act, AllocError> {
        let Some(ConvCache::Shared { shape }) = self.cache.take() else {
            panic!("backward_shared without forward_shared");
        };
        assert_eq!(
            shape,
            [x.b, x.h, x.w, x.c],
            "the shared input changed shape"
        );
        let db = column_sums(&dy.data, self.conv.cout)?;
        add_into(&mut self.db, &db);
        super::recycle(db);
        Ok(self
            .patches_backward(&x.data, shape, dy, true)?
            .expect("input gradient requested"))
    }

    /// dW from the patch matrix `cols` and `dy`; the input gradient (col2im) when `need_dx`.
    fn patches_backward(
        &mut self,
        cols: &[f32],
        shape: [usize; 4],
        dy: &Act,
        need_dx: bool,
    ) -> Result<Option<Act>, AllocError> {
        let c = &self.conv;
        let (cin, cout, k) = (c.cin, c.cout, c.k);
        let [b, h, w, _] = shape;
        let kdim = k * k * cin;
        let rows = dy.b * dy.pixels();
        let dw = chunked_sum(rows, kdim * cout, |r0, r1, acc| {
            let colst = Mat {
                data: &cols[r0 * kdim..],
                rs: 1,
                cs: kdim,
            };
            let d = Mat::rows(&dy.data[r0 * cout..], cout);
            matmul(acc, colst, d, [kdim, r1 - r0, cout], true);
        })?;
        add_into(&mut self.dw, &dw);
        super::recycle(dw);
        if !need_dx {
            return Ok(None);
        }
        // dcols = dy · Wᵀ.
        let wt = Mat {
            data: &c.w,
            rs: 1,
            cs: cout,
        };
        // Stale values are fine: the product overwrites every element.
        let mut dcols = super::buffer(rows * kdim)?;
        dcols
            .par_chunks_mut(BLOCK * kdim)
            .enumerate()
            .for_each(|(i, dst)| {
                let (r0, m) = (i * BLOCK, dst.len() / kdim);
                let d = Mat::rows(&dy.data[r0 * cout..], cout);
                matmul(dst, d, wt, [m, cout, kdim], false);
            });
        if k == 1 && c.stride == 1 {
            return Ok(Some(Act {
                b,
                h,
                w,
                c: cin,
                data: dcols,
            }));
        }
        // col2im: each image's patches scatter back into that image only.
        let (ho, wo, stride, padding) = (dy.h, dy.w, c.stride, k / 2);
        let mut dx = Act::scratch(b, h, w, cin)?;
        dx.data
            .par_chunks_mut(h * w * cin)
            .enumerate()
            .for_each(|(n, img)| {
                img.fill(0.0);
                for oy in 0..ho {
                    for ox in 0..wo {
                        let row = &dcols[((n * ho + oy) * wo + ox) * kdim..][..kdim];
                        for ky in 0..k {
                            let Some(iy) =
                                (oy * stride + ky).checked_sub(padding).filter(|&y| y < h)
                            else {
                                continue;
                            };
                            for kx in 0..k {
                                let Some(ix) =
                                    (ox * stride + kx).checked_sub(padding).filter(|&x| x < w)
                                else {
                                    continue;
                                };
                                add_into(
                                    &mut img[(iy * w + ix) * cin..][..cin],
                                    &row[(ky * k + kx) * cin..][..cin],
                                );
                            }
                        }
                    }
                }
            });
        super::recycle(dcols);
        Ok(Some(dx))
    }
}

/// Nearest ×2 upsampling followed by a 3×3 convolution, computed as the sampling path's
/// [`UpConv`](super::UpConv) does: each output phase (dy, dx) is a 2×2 convolution of the
/// small input with summed weights, 16 instead of 36 multiply-adds per input pixel and
/// channel pair, forward and backward. Here each phase is two products over the padded batch
/// of [`pad`] (kernel row a starts (dy + a)·wp + dx rows on), so nothing is gathered.
struct TUp {
    conv: TConv,
    /// Per phase dy·2 + dx: weights [4·cin, cout], row (a·2 + b)·cin + ci.
    phases: [Vec<f32>; 4],
    /// The padded input and its shape [b, h, w, c].
    cache: Option<(Vec<f32>, [usize; 4])>,
}

impl TUp {
    fn from(c: &Conv2d) -> Result<Self, AllocError> {
        let conv = TConv::from(c)?;
        let phases = super::UpConv::from(&conv.conv)?.phases;
        Ok(Self {
            conv,
            phases,
            cache: None,
        })
    }

    fn forward(&mut self, x: &Act) -> Result<Act, AllocError> {
        let (b, h, w, cin) = (x.b, x.h, x.w, x.c);
        let cout = self.conv.conv.cout;
        let (wp, p) = (w + 1, (h + 1) * (w + 1));
        let rows = b * p;
        let xpad = pad(x)?;
        let half = 2 * cin * cout;
        let mut out = Act::scratch(b, 2 * h, 2 * w, cout)?;
        for (phase, wts) in self.phases.iter().enumerate() {
            let (dy, dx) = (phase / 2, phase % 2);
            let taps = [
                (dy * wp + dx, &wts[..half]),
                ((dy + 1) * wp + dx, &wts[half..]),
            ];
            let o = taps_conv(&xpad, cin, &taps, 2, cout, rows)?;
            let bias = &self.conv.conv.bias;
            out.data
                .par_chunks_mut(4 * h * w * cout)
                .enumerate()
                .for_each(|(n, img)| {
                    for i in 0..h {
                        for j in 0..w {
                            let src = &o[(n * p + i * wp + j) * cout..][..cout];
                            let dst =
                                &mut img[((2 * i + dy) * 2 * w + 2 * j + dx) * cout..][..cout];
                            for ((d, &v), &bb) in dst.iter_mut().zip(src).zip(bias) {
                                *d = v + bb;
                            }
                        }
                    }
                });
            super::recycle(o);
        }
        self.cache = Some((xpad, [b, h, w, cin]));
        Ok(out)
    }

    fn backward(&mut self, dy_full: &Act) -> Result<Act, AllocError> {
        let (xpad, [b, h, w, cin]) = self.cache.take().expect("upsample backward before forward");
        let cout = self.conv.conv.cout;
        let (wp, p) = (w + 1, (h + 1) * (w + 1));
        let rows = b * p;
        let db = column_sums(&dy_full.data, cout)?;
        add_into(&mut self.conv.db, &db);
        super::recycle(db);
        // The input gradient in the padded layout: the first phase's part, then the sum.
        let mut dxo: Option<Vec<f32>> = None;
        for (phase, wts) in self.phases.iter().enumerate() {
            let (dy, dx) = (phase / 2, phase % 2);
            // This phase's output gradient, [b, h, w, cout], then in the padded layout.
            let mut dyp = Act::scratch(b, h, w, cout)?;
            dyp.data
                .par_chunks_mut(h * w * cout)
                .enumerate()
                .for_each(|(n, img)| {
                    for i in 0..h {
                        for j in 0..w {
                            img[(i * w + j) * cout..][..cout].copy_from_slice(
                                &dy_full.data
                                    [((n * 2 * h + 2 * i + dy) * 2 * w + 2 * j + dx) * cout..]
                                    [..cout],
                            );
                        }
                    }
                });
            let g = pad(&dyp)?;
            drop(dyp);
            let dwp = taps_dw(
                &xpad,
                cin,
                &g[(wp + 1) * cout..],
                cout,
                rows,
                &[dy * wp + dx, (dy + 1) * wp + dx],
                2,
            )?;
            // Fold the phase's 2×2 gradient into the 3×3 kernel's taps.
            for a in 0..2 {
                for bb in 0..2 {
                    for &ky in super::UpConv::TAPS[dy][a] {
                        for &kx in super::UpConv::TAPS[dx][bb] {
                            for ci in 0..cin {
                                add_into(
                                    &mut self.conv.dw[((ky * 3 + kx) * cin + ci) * cout..][..cout],
                                    &dwp[((a * 2 + bb) * cin + ci) * cout..][..cout],
                                );
                            }
                        }
                    }
                }
            }
            super::recycle(dwp);
            // Input gradient: the same phase read backwards, kernel flipped and transposed.
            let mut flipped = [vec![0.0f32; 2 * cout * cin], vec![0.0f32; 2 * cout * cin]];
            for (a2, f) in flipped.iter_mut().enumerate() {
                for b2 in 0..2 {
                    let tap = (1 - a2) * 2 + (1 - b2);
                    for co in 0..cout {
                        for ci in 0..cin {
                            f[(b2 * cout + co) * cin + ci] = wts[(tap * cin + ci) * cout + co];
                        }
                    }
                }
            }
            let taps = [
                ((1 - dy) * wp + (1 - dx), flipped[0].as_slice()),
                ((2 - dy) * wp + (1 - dx), flipped[1].as_slice()),
            ];
            let part = taps_conv(&g, cout, &taps, 2, cin, rows)?;
            match &mut dxo {
                Some(sum) => {
                    par_add_into(sum, &part);
                    super::recycle(part);
                }
                None => dxo = Some(part),
            }
            super::recycle(g);
        }
        super::recycle(xpad);
        let dxo = dxo.expect("four phases");
        let dx = unpad(&dxo, [b, h, w, cin], None, None, None);
        super::recycle(dxo);
        dx
    }
}

/// A linear layer with its gradients; keeps its input for dW.
struct TLin {
    lin: Lin,
    wid: ParamId,
    bid: Option<ParamId>,
    dw: Vec<f32>,
    db: Vec<f32>,
    x: Vec<f32>,
}

impl TLin {
    fn from(l: &Linear) -> Result<Self, AllocError> {
        let lin = Lin::from(l);
        Ok(Self {
            dw: mem::try_zeroed(lin.w.len(), "weight gradients")?,
            db: vec![0.0; lin.dout],
            lin,
            wid: l.weight.id,
            bid: l.bias.as_ref().map(|b| b.id),
            x: Vec::new(),
        })
    }

    fn forward(&mut self, x: &[f32]) -> Vec<f32> {
        self.x = x.to_vec();
        self.lin.forward(x)
    }

    /// Accumulates dW, db for `dy` ([rows, dout]) at the kept input; adds the input gradient
    /// to `dx` when given.
    fn backward(&mut self, dy: &[f32], dx: Option<&mut [f32]>) -> Result<(), AllocError> {
        let (din, dout) = (self.lin.din, self.lin.dout);
        let x = std::mem::take(&mut self.x);
        self.accumulate(&x, dy)?;
        if let Some(dx) = dx {
            let rows = dy.len() / dout;
            let wt = Mat {
                data: &self.lin.w,
                rs: 1,
                cs: dout,
            };
            matmul(dx, Mat::rows(dy, dout), wt, [rows, dout, din], true);
        }
        Ok(())
    }

    /// dW += xᵀ·dy, db += Σ dy.
    fn accumulate(&mut self, x: &[f32], dy: &[f32]) -> Result<(), AllocError> {
        let (din, dout) = (self.lin.din, self.lin.dout);
        let rows = dy.len() / dout;
        let xt = Mat {
            data: x,
            rs: 1,
            cs: din,
        };
        matmul(
            &mut self.dw,
            xt,
            Mat::rows(dy, dout),
            [din, rows, dout],
            true,
        );
        let db = column_sums(dy, dout)?;
        add_into(&mut self.db, &db);
        super::recycle(db);
        Ok(())
    }
}

/// GroupNorm (then SiLU when `act`) with its gradients; keeps its input and statistics.
struct TNorm {
    groups: usize,
    eps: f64,
    act: bool,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    gid: Option<ParamId>,
    bid: Option<ParamId>,
    dg: Vec<f32>,
    db: Vec<f32>,
    /// Input, then per (image, channel) mean and 1/σ.
    cache: Option<(Act, Vec<f32>, Vec<f32>)>,
}

impl TNorm {
    fn from(n: &GroupNorm, act: bool) -> Self {
        let c = n.num_channels;
        let val = |p: Option<&burn::module::Param<Tensor<1>>>, d: f32| {
            p.map(super::param).unwrap_or_else(|| vec![d; c])
        };
        Self {
            groups: n.num_groups,
            eps: n.epsilon,
            act,
            gamma: val(n.gamma.as_ref(), 1.0),
            beta: val(n.beta.as_ref(), 0.0),
            gid: n.gamma.as_ref().map(|p| p.id),
            bid: n.beta.as_ref().map(|p| p.id),
            dg: vec![0.0; c],
            db: vec![0.0; c],
            cache: None,
        }
    }

    fn forward(&mut self, x: &Act) -> Result<Act, AllocError> {
        self.forward_owned(x.try_clone()?)
    }

    /// As [`Self::forward`], keeping `x` itself for the backward pass instead of a copy.
    fn forward_owned(&mut self, x: Act) -> Result<Act, AllocError> {
        let (c, g) = (x.c, self.groups);
        let cg = c / g;
        let per_image = x.pixels() * c;
        let mut out = Act::scratch(x.b, x.h, x.w, c)?;
        let mut mean = vec![0.0f32; x.b * c];
        let mut rstd = vec![0.0f32; x.b * c];
        out.data
            .par_chunks_mut(per_image)
            .zip(x.data.par_chunks(per_image))
            .zip(mean.par_chunks_mut(c).zip(rstd.par_chunks_mut(c)))
            .for_each(|((dst, img), (m_c, r_c))| {
                let n = (img.len() / c) as f32;
                let count = n * cg as f32;
                let shift0 = &img[..c];
                let (s1, s2) = channel_sums(img, shift0);
                for gi in 0..g {
                    let chans = gi * cg..(gi + 1) * cg;
                    let m = chans.clone().map(|ch| s1[ch] + n * shift0[ch]).sum::<f32>() / count;
                    let acc: f32 = chans
                        .clone()
                        .map(|ch| {
                            let d = m - shift0[ch];
                            s2[ch] - 2.0 * d * s1[ch] + n * d * d
                        })
                        .sum();
                    let r = (1.0 / (f64::from(acc / count) + self.eps).sqrt()) as f32;
                    for ch in chans {
                        m_c[ch] = m;
                        r_c[ch] = r;
                    }
                }
                norm_apply(dst, img, m_c, r_c, &self.gamma, &self.beta, self.act);
            });
        self.cache = Some((x, mean, rstd));
        Ok(out)
    }

    /// Accumulates dγ, dβ; returns the input gradient.
    fn backward(&mut self, d: &Act) -> Result<Act, AllocError> {
        let (x, mean, rstd) = self.cache.take().expect("norm backward before forward");
        let (c, g) = (x.c, self.groups);
        let cg = c / g;
        let per_image = x.pixels() * c;
        let mut dx = Act::scratch(x.b, x.h, x.w, c)?;
        let parts: Vec<(Vec<f32>, Vec<f32>)> = dx
            .data
            .par_chunks_mut(per_image)
            .zip(x.data.par_chunks(per_image))
            .zip(d.data.par_chunks(per_image))
            .zip(mean.par_chunks(c).zip(rstd.par_chunks(c)))
            .map(|(((dst, img), dimg), (m_c, r_c))| {
                let mut dg = vec![0.0f32; c];
                let mut db = vec![0.0f32; c];
                let mut s1 = vec![0.0f32; c];
                let mut s2 = vec![0.0f32; c];
                norm_back1(
                    dst,
                    img,
                    dimg,
                    m_c,
                    r_c,
                    &self.gamma,
                    &self.beta,
                    self.act,
                    &mut dg,
                    &mut db,
                    &mut s1,
                    &mut s2,
                );
                let count = ((img.len() / c) * cg) as f32;
                let mut a = vec![0.0f32; c];
                let mut bcoef = vec![0.0f32; c];
                for gi in 0..g {
                    let chans = gi * cg..(gi + 1) * cg;
                    let m1 = chans.clone().map(|ch| s1[ch]).sum::<f32>() / count;
                    let m2 = chans.clone().map(|ch| s2[ch]).sum::<f32>() / count;
                    for ch in chans {
                        a[ch] = m1;
                        bcoef[ch] = m2;
                    }
                }
                norm_back2(dst, img, m_c, r_c, &a, &bcoef);
                (dg, db)
            })
            .collect();
        for (dg, db) in &parts {
            add_into(&mut self.dg, dg);
            add_into(&mut self.db, db);
        }
        Ok(dx)
    }
}

vectorised! {
    /// dst = (SiLU of) (x − mean)·rstd·γ + β for one image [pixels, c], with per-channel mean
    /// and rstd.
    #[allow(clippy::too_many_arguments)]
    fn norm_apply(
        dst: &mut [f32],
        img: &[f32],
        mean: &[f32],
        rstd: &[f32],
        gamma: &[f32],
        beta: &[f32],
        act: bool
    ) {
        let c = mean.len();
        let scale: Vec<f32> = rstd.iter().zip(gamma).map(|(r, g)| r * g).collect();
        let shift: Vec<f32> = (0..c).map(|ch| beta[ch] - mean[ch] * scale[ch]).collect();
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

vectorised! {
    /// First pass of the norm's backward for one image: dst = dx̂ = dz·γ (dz through SiLU when
    /// `act`), and the per-channel sums dγ += Σ dz·x̂, dβ += Σ dz, s1 += Σ dx̂, s2 += Σ dx̂·x̂.
    /// Eight channels at a time, so the four sums live in registers across the pixels (indexed
    /// sums per channel went through memory, with bounds checks, at ~10 cycles an element).
    #[allow(clippy::too_many_arguments)]
    fn norm_back1(
        dst: &mut [f32],
        img: &[f32],
        d: &[f32],
        mean: &[f32],
        rstd: &[f32],
        gamma: &[f32],
        beta: &[f32],
        act: bool,
        dg: &mut [f32],
        db: &mut [f32],
        s1: &mut [f32],
        s2: &mut [f32]
    ) {
        let c = mean.len();
        // Blocks of eight channels, then one at a time for the rest.
        let c8 = c - c % 8;
        let blocks = (0..c8).step_by(8).map(|c0| (c0, 8)).chain((c8..c).map(|c0| (c0, 1)));
        for (c0, width) in blocks {
            let sums = if act {
                norm_back1_block::<true>(dst, img, d, c, c0, width, mean, rstd, gamma, beta)
            } else {
                norm_back1_block::<false>(dst, img, d, c, c0, width, mean, rstd, gamma, beta)
            };
            for l in 0..width {
                dg[c0 + l] += sums[0][l];
                db[c0 + l] += sums[1][l];
                s1[c0 + l] += sums[2][l];
                s2[c0 + l] += sums[3][l];
            }
        }
    }
}

/// [`norm_back1`] for channels c0..c0 + width (width 8, or 1 for the channels after the last
/// whole block of eight):
/// writes dx̂ and returns the block's sums of dz·x̂, dz, dx̂ and dx̂·x̂ per channel.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn norm_back1_block<const ACT: bool>(
    dst: &mut [f32],
    img: &[f32],
    d: &[f32],
    c: usize,
    c0: usize,
    width: usize,
    mean: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    beta: &[f32],
) -> [[f32; 8]; 4] {
    let lane =
        |v: &[f32]| -> [f32; 8] { std::array::from_fn(|l| v.get(c0 + l).copied().unwrap_or(0.0)) };
    let (m, r, ga, be) = (lane(mean), lane(rstd), lane(gamma), lane(beta));
    let mut acc = [[0.0f32; 8]; 4];
    if width == 8 {
        for ((o, px), dpx) in dst
            .chunks_exact_mut(c)
            .zip(img.chunks_exact(c))
            .zip(d.chunks_exact(c))
        {
            let (o, px, dpx) = (&mut o[c0..c0 + 8], &px[c0..c0 + 8], &dpx[c0..c0 + 8]);
            for l in 0..8 {
                let xh = (px[l] - m[l]) * r[l];
                let dz = if ACT {
                    dpx[l] * silu_grad(xh * ga[l] + be[l])
                } else {
                    dpx[l]
                };
                acc[0][l] += dz * xh;
                acc[1][l] += dz;
                let dxh = dz * ga[l];
                acc[2][l] += dxh;
                acc[3][l] += dxh * xh;
                o[l] = dxh;
            }
        }
    } else {
        for ((o, px), dpx) in dst
            .chunks_exact_mut(c)
            .zip(img.chunks_exact(c))
            .zip(d.chunks_exact(c))
        {
            let xh = (px[c0] - m[0]) * r[0];
            let dz = if ACT {
                dpx[c0] * silu_grad(xh * ga[0] + be[0])
            } else {
                dpx[c0]
            };
            acc[0][0] += dz * xh;
            acc[1][0] += dz;
            let dxh = dz * ga[0];
            acc[2][0] += dxh;
            acc[3][0] += dxh * xh;
            o[c0] = dxh;
        }
    }
    acc
}

vectorised! {
    /// Second pass: dst = rstd·(dx̂ − m1 − x̂·m2), with the group means m1 = E[dx̂] and
    /// m2 = E[dx̂·x̂] spread per channel.
    fn norm_back2(
        dst: &mut [f32],
        img: &[f32],
        mean: &[f32],
        rstd: &[f32],
        m1: &[f32],
        m2: &[f32]
    ) {
        let c = mean.len();
        for (o, px) in dst.chunks_exact_mut(c).zip(img.chunks_exact(c)) {
            for (((((o, &v), &mu), &r), &a), &b) in
                o.iter_mut().zip(px).zip(mean).zip(rstd).zip(m1).zip(m2)
            {
                let xh = (v - mu) * r;
                *o = r * (*o - a - xh * b);
            }
        }
    }
}

/// Per image: q|k|v, the softmax, the mix, the projected output.
type AttnImage = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

/// What attention keeps per image: q|k|v [hw, 3c], the softmax [hw, hw], the mix [hw, c].
struct AttnCache {
    qkv: Vec<Vec<f32>>,
    s: Vec<Vec<f32>>,
    o: Vec<Vec<f32>>,
    hn: Act,
}

/// Single-head self-attention with a residual connection, with its gradients.
struct TAttn {
    norm: TNorm,
    qkv: TLin,
    proj: TLin,
    cache: Option<AttnCache>,
}

impl TAttn {
    fn from(a: &Attention) -> Result<Self, AllocError> {
        Ok(Self {
            norm: TNorm::from(&a.norm, false),
            qkv: TLin::from(&a.qkv)?,
            proj: TLin::from(&a.proj)?,
            cache: None,
        })
    }

    fn forward(&mut self, x: &Act) -> Result<Act, AllocError> {
        let hn = self.norm.forward(x)?;
        let (c, hw) = (x.c, x.pixels());
        let scale = (c as f32).powf(-0.5);
        let (qkv_l, proj_l) = (&self.qkv.lin, &self.proj.lin);
        let per: Vec<AttnImage> = hn
            .data
            .par_chunks(hw * c)
            .map(|h| {
                let qkv = qkv_l.forward(h);
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
                    super::softmax_in_place(row, scale);
                }
                let mut o = vec![0.0f32; hw * c];
                let v = Mat {
                    data: &qkv[2 * c..],
                    rs: 3 * c,
                    cs: 1,
                };
                matmul(&mut o, Mat::rows(&s, hw), v, [hw, hw, c], false);
                let p = proj_l.forward(&o);
                (qkv, s, o, p)
            })
            .collect();
        let mut out = x.try_clone()?;
        let mut cache = AttnCache {
            qkv: Vec::with_capacity(x.b),
            s: Vec::with_capacity(x.b),
            o: Vec::with_capacity(x.b),
            hn,
        };
        for (dst, (qkv, s, o, p)) in out.data.chunks_mut(hw * c).zip(per) {
            add_into(dst, &p);
            cache.qkv.push(qkv);
            cache.s.push(s);
            cache.o.push(o);
        }
        self.cache = Some(cache);
        Ok(out)
    }

    fn backward(&mut self, dout: &Act) -> Result<Act, AllocError> {
        let cache = self
            .cache
            .take()
            .expect("attention backward before forward");
        let (c, hw) = (dout.c, dout.pixels());
        let scale = (c as f32).powf(-0.5);
        let (wq, wp) = (&self.qkv.lin.w, &self.proj.lin.w);
        // Per image: dqkv [hw, 3c] and dhn [hw, c].
        let per: Vec<(Vec<f32>, Vec<f32>)> = (0..dout.b)
            .into_par_iter()
            .map(|n| {
                let d = &dout.data[n * hw * c..][..hw * c];
                let (qkv, s) = (&cache.qkv[n], &cache.s[n]);
                // dO = dOut·Wpᵀ.
                let mut d_o = vec![0.0f32; hw * c];
                let wpt = Mat {
                    data: wp,
                    rs: 1,
                    cs: c,
                };
                matmul(&mut d_o, Mat::rows(d, c), wpt, [hw, c, c], false);
                // dS = dO·vᵀ, dv = Sᵀ·dO.
                let mut ds = vec![0.0f32; hw * hw];
                let vt = Mat {
                    data: &qkv[2 * c..],
                    rs: 1,
                    cs: 3 * c,
                };
                matmul(&mut ds, Mat::rows(&d_o, c), vt, [hw, c, hw], false);
                let mut dqkv = vec![0.0f32; hw * 3 * c];
                let mut dv = vec![0.0f32; hw * c];
                let st = Mat {
                    data: s,
                    rs: 1,
                    cs: hw,
                };
                matmul(&mut dv, st, Mat::rows(&d_o, c), [hw, hw, c], false);
                // The softmax's Jacobian: dL = S ⊙ (dS − rowsum(dS ⊙ S)), times the scale.
                for (drow, srow) in ds.chunks_mut(hw).zip(s.chunks(hw)) {
                    let dot: f32 = drow.iter().zip(srow).map(|(a, b)| a * b).sum();
                    for (dv, &sv) in drow.iter_mut().zip(srow) {
                        *dv = sv * (*dv - dot) * scale;
                    }
                }
                let mut dq = vec![0.0f32; hw * c];
                let k = Mat {
                    data: &qkv[c..],
                    rs: 3 * c,
                    cs: 1,
                };
                matmul(&mut dq, Mat::rows(&ds, hw), k, [hw, hw, c], false);
                let mut dk = vec![0.0f32; hw * c];
                let dst = Mat {
                    data: &ds,
                    rs: 1,
                    cs: hw,
                };
                let q = Mat {
                    data: qkv,
                    rs: 3 * c,
                    cs: 1,
                };
                matmul(&mut dk, dst, q, [hw, hw, c], false);
                for (i, row) in dqkv.chunks_exact_mut(3 * c).enumerate() {
                    row[..c].copy_from_slice(&dq[i * c..][..c]);
                    row[c..2 * c].copy_from_slice(&dk[i * c..][..c]);
                    row[2 * c..].copy_from_slice(&dv[i * c..][..c]);
                }
                // dhn = dqkv·Wqkvᵀ.
                let mut dhn = vec![0.0f32; hw * c];
                let wqt = Mat {
                    data: wq,
                    rs: 1,
                    cs: 3 * c,
                };
                matmul(
                    &mut dhn,
                    Mat::rows(&dqkv, 3 * c),
                    wqt,
                    [hw, 3 * c, c],
                    false,
                );
                (dqkv, dhn)
            })
            .collect();
        let mut dhn = Act::scratch(dout.b, dout.h, dout.w, c)?;
        for (n, (dqkv, dh)) in per.iter().enumerate() {
            let hn = &cache.hn.data[n * hw * c..][..hw * c];
            self.qkv.accumulate(hn, dqkv)?;
            self.proj
                .accumulate(&cache.o[n], &dout.data[n * hw * c..][..hw * c])?;
            dhn.data[n * hw * c..][..hw * c].copy_from_slice(dh);
        }
        let mut dx = self.norm.backward(&dhn)?;
        add_into(&mut dx.data, &dout.data);
        Ok(dx)
    }
}

/// A residual block with its gradients.
struct TRes {
    norm1: TNorm,
    conv1: TConv,
    temb: TLin,
    norm2: TNorm,
    conv2: TConv,
    skip: Option<TConv>,
    dropout: f32,
    mask: Option<Vec<f32>>,
}

impl TRes {
    fn from(r: &ResBlock) -> Result<Self, AllocError> {
        Ok(Self {
            norm1: TNorm::from(&r.norm1, true),
            conv1: TConv::from(&r.conv1)?,
            temb: TLin::from(&r.temb_proj)?,
            norm2: TNorm::from(&r.norm2, true),
            conv2: TConv::from(&r.conv2)?,
            skip: r.skip.as_ref().map(TConv::from).transpose()?,
            dropout: r.dropout.prob as f32,
            mask: None,
        })
    }

    /// The block's output for `x`, which the first norm keeps for the backward pass (and
    /// the skip and residual read from there): no copy of the input.
    fn forward(&mut self, x: Act, temb_act: &[f32], rng: &mut Rng) -> Result<Act, AllocError> {
        let t = self.temb.forward(temb_act); // [B, cout]
        let a1 = self.norm1.forward_owned(x)?;
        let h1 = self.conv1.forward(&a1, Some(&t), None)?;
        drop(a1);
        let mut a2 = self.norm2.forward_owned(h1)?;
        if self.dropout > 0.0 {
            let keep = 1.0 / (1.0 - self.dropout);
            let mut mask = mem::try_with_capacity(a2.data.len(), "dropout masks")?;
            mask.extend((0..a2.data.len()).map(|_| {
                if rng.uniform() < f64::from(self.dropout) {
                    0.0
                } else {
                    keep
                }
            }));
            for (v, m) in a2.data.iter_mut().zip(&mask) {
                *v *= m;
            }
            self.mask = Some(mask);
        }
        let x = &self
            .norm1
            .cache
            .as_ref()
            .expect("the first norm keeps the block's input")
            .0;
        let skip = match &mut self.skip {
            Some(s) => Some(s.forward_shared(x)?),
            None => None,
        };
        self.conv2
            .forward(&a2, None, Some(skip.as_ref().unwrap_or(x)))
    }

    fn backward(&mut self, dout: &Act, dtemb: &mut [f32]) -> Result<Act, AllocError> {
        let dx_skip = match &mut self.skip {
            Some(s) => {
                let x = &self
                    .norm1
                    .cache
                    .as_ref()
                    .expect("norm backward before forward")
                    .0;
                Some(s.backward_shared(dout, x)?)
            }
            None => None,
        };
        let mut da2 = self
            .conv2
            .backward(dout, true)?
            .expect("input gradient requested");
        if let Some(mask) = self.mask.take() {
            for (v, m) in da2.data.iter_mut().zip(&mask) {
                *v *= m;
            }
        }
        let dh1 = self.norm2.backward(&da2)?;
        drop(da2);
        // The time embedding is a per-image bias: its gradient sums over the pixels.
        let (c, px) = (dh1.c, dh1.pixels());
        let mut dt = vec![0.0f32; dh1.b * c];
        dt.par_chunks_mut(c)
            .zip(dh1.data.par_chunks(px * c))
            .for_each(|(d, img)| {
                for p in img.chunks_exact(c) {
                    add_into(d, p);
                }
            });
        self.temb.backward(&dt, Some(dtemb))?;
        let da1 = self
            .conv1
            .backward(&dh1, true)?
            .expect("input gradient requested");
        drop(dh1);
        let mut dx = self.norm1.backward(&da1)?;
        par_add_into(&mut dx.data, &dx_skip.as_ref().unwrap_or(dout).data);
        Ok(dx)
    }
}
