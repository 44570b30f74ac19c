//! The whole network for one training step: [`TrainNet`].

use super::*;

enum TStep {
    Block(Box<TRes>, Option<Box<TAttn>>),
    Down(TConv),
    Up(TUp),
}

/// The UNet for training on the CPU: built from a burn [`UNet`] (a copy of its weights, with
/// their parameter ids), run forward, then backward; then an optimiser updates its weights in
/// place ([`Self::params_mut`]) and it runs the next step, or its gradients go out in burn's
/// layout ([`Self::param_grads`]). Each of these fails with an [`AllocError`] when a buffer it
/// needs cannot be allocated (a batch or model too large for memory).
pub struct TrainNet {
    time_in: TLin,
    time_out: TLin,
    /// A conditional model's class table with its gradient.
    label_emb: Option<TTable>,
    conv_in: TConv,
    down: Vec<TStep>,
    mid1: TRes,
    mid_attn: TAttn,
    mid2: TRes,
    up: Vec<TStep>,
    norm_out: TNorm,
    conv_out: TConv,
    sinusoid_dim: usize,
    time_map: crate::model::TimeMap,
    /// Pre-activations of the time MLP and the input's shape [B, C, H, W].
    u1: Vec<f32>,
    u2: Vec<f32>,
    shape: [usize; 4],
    /// Output channels (C, or 2·C for a learned-Σ model).
    out_channels: usize,
    /// Channels of the up path before each up block's concatenation, in forward order.
    up_split: Vec<usize>,
}

impl TrainNet {
    /// Copies the weights of `model` (on any device).
    pub fn from_unet(model: &UNet) -> Result<Self, AllocError> {
        let block = |b: &ResBlock, a: &Option<Attention>| -> Result<TStep, AllocError> {
            Ok(TStep::Block(
                Box::new(TRes::from(b)?),
                a.as_ref().map(TAttn::from).transpose()?.map(Box::new),
            ))
        };
        let down = model
            .down
            .iter()
            .filter_map(|d| match (&d.block, &d.downsample) {
                (Some(b), _) => Some(block(b, &d.attn)),
                (None, Some(c)) => Some(TConv::from(c).map(TStep::Down)),
                (None, None) => None,
            })
            .collect::<Result<_, _>>()?;
        let up = model
            .up
            .iter()
            .filter_map(|u| match (&u.block, &u.upsample) {
                (Some(b), _) => Some(block(b, &u.attn)),
                (None, Some(c)) => Some(TUp::from(c).map(TStep::Up)),
                (None, None) => None,
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            time_in: TLin::from(&model.time_in)?,
            time_out: TLin::from(&model.time_out)?,
            label_emb: model.label_emb.as_ref().map(TTable::from).transpose()?,
            conv_in: TConv::from(&model.conv_in)?,
            down,
            mid1: TRes::from(&model.mid1)?,
            mid_attn: TAttn::from(&model.mid_attn)?,
            mid2: TRes::from(&model.mid2)?,
            up,
            norm_out: TNorm::from(&model.norm_out, true),
            conv_out: TConv::from(&model.conv_out)?,
            sinusoid_dim: model.sinusoid_dim,
            time_map: model.time_map.clone(),
            u1: Vec::new(),
            u2: Vec::new(),
            shape: [0; 4],
            out_channels: model.out_channels(),
            up_split: Vec::new(),
        })
    }

    /// The training-mode forward pass of `x` (flat [B, C, H, W]) at the 1-based timesteps
    /// `t`, keeping what [`Self::backward`] needs. Dropout masks come from `rng`. Returns the
    /// output, flat [B, C, H, W].
    pub fn forward(
        &mut self,
        x: &[f32],
        shape: [usize; 3],
        t: &[f32],
        rng: &mut Rng,
    ) -> Result<Vec<f32>, AllocError> {
        self.forward_labeled(x, shape, t, None, rng)
    }

    /// As [`Self::forward`], with one class label per sample for a conditional model
    /// (`num_classes` or a missing label: the null label).
    pub fn forward_labeled(
        &mut self,
        x: &[f32],
        [c, hh, ww]: [usize; 3],
        t: &[f32],
        labels: Option<&[usize]>,
        rng: &mut Rng,
    ) -> Result<Vec<f32>, AllocError> {
        let b = t.len();
        assert_eq!(x.len(), b * c * hh * ww, "input length against shape and t");
        self.shape = [b, c, hh, ww];
        self.up_split.clear();
        // The backward pass adds to the gradients: a net kept between steps starts each at 0.
        self.zero_grads();
        let emb = self.time_map.embedding(t, self.sinusoid_dim);
        self.u1 = self.time_in.forward(&emb);
        let s1: Vec<f32> = self.u1.iter().map(|&v| silu(v)).collect();
        self.u2 = self.time_out.forward(&s1);
        if let Some(table) = &mut self.label_emb {
            table.forward(&mut self.u2, labels);
        }
        let temb: Vec<f32> = self.u2.iter().map(|&v| silu(v)).collect();

        let input = channels_last(x, [b, c, hh, ww])?;
        let mut h = self.conv_in.forward(&input, None, None)?;
        drop(input);
        let mut skips = Vec::new();
        for step in &mut self.down {
            match step {
                TStep::Block(res, attn) => {
                    h = res.forward(h, &temb, rng)?;
                    if let Some(a) = attn {
                        h = a.forward(&h)?;
                    }
                    skips.push(h.try_clone()?);
                }
                TStep::Down(conv) => h = conv.forward(&h, None, None)?,
                TStep::Up(up) => h = up.forward(&h)?,
            }
        }
        h = self.mid1.forward(h, &temb, rng)?;
        h = self.mid_attn.forward(&h)?;
        h = self.mid2.forward(h, &temb, rng)?;
        for step in &mut self.up {
            match step {
                TStep::Block(res, attn) => {
                    self.up_split.push(h.c);
                    let joined = match skips.pop() {
                        Some(skip) => super::super::concat_channels(&h, &skip)?,
                        None => h,
                    };
                    h = res.forward(joined, &temb, rng)?;
                    if let Some(a) = attn {
                        h = a.forward(&h)?;
                    }
                }
                TStep::Up(up) => h = up.forward(&h)?,
                TStep::Down(conv) => h = conv.forward(&h, None, None)?,
            }
        }
        let a = self.norm_out.forward_owned(h)?;
        let out = self.conv_out.forward(&a, None, None)?;
        channels_first(&out)
    }

    /// The backward pass for the output gradient `dy` (flat [B, C′, H, W], C′ the output
    /// channels): accumulates every parameter's gradient and returns the input's, flat
    /// [B, C, H, W].
    pub fn backward(&mut self, dy: &[f32]) -> Result<Vec<f32>, AllocError> {
        Ok(self
            .backward_impl(dy, true)?
            .expect("input gradient requested"))
    }

    /// As [`Self::backward`] without the input's gradient, which training does not need (the
    /// first convolution then skips its input-gradient product).
    pub fn backward_weights(&mut self, dy: &[f32]) -> Result<(), AllocError> {
        self.backward_impl(dy, false).map(drop)
    }

    fn backward_impl(&mut self, dy: &[f32], need_dx: bool) -> Result<Option<Vec<f32>>, AllocError> {
        let [b, _, hh, ww] = self.shape;
        let oc = self.out_channels;
        assert_eq!(dy.len(), b * oc * hh * ww, "output gradient length");
        let g = channels_last(dy, [b, oc, hh, ww])?;
        let temb_dim = self.time_out.lin.dout;
        let mut dtemb = vec![0.0f32; b * temb_dim];
        let da = self
            .conv_out
            .backward(&g, true)?
            .expect("input gradient requested");
        let mut d = self.norm_out.backward(&da)?;
        // Gradients flowing into the skips, in the order the up path took them.
        let mut dskips: Vec<Act> = Vec::new();
        for step in self.up.iter_mut().rev() {
            match step {
                TStep::Block(res, attn) => {
                    if let Some(a) = attn {
                        d = a.backward(&d)?;
                    }
                    let dj = res.backward(&d, &mut dtemb)?;
                    let first = self.up_split.pop().unwrap_or(dj.c);
                    let (dh, dskip) = split_channels(&dj, first)?;
                    d = dh;
                    dskips.push(dskip);
                }
                TStep::Up(up) => d = up.backward(&d)?,
                TStep::Down(conv) => {
                    d = conv.backward(&d, true)?.expect("input gradient requested");
                }
            }
        }
        d = self.mid2.backward(&d, &mut dtemb)?;
        d = self.mid_attn.backward(&d)?;
        d = self.mid1.backward(&d, &mut dtemb)?;
        for step in self.down.iter_mut().rev() {
            match step {
                TStep::Block(res, attn) => {
                    // The up path took the skips last-in first-out: the deepest first.
                    if let Some(ds) = dskips.pop() {
                        super::kernels::par_add_into(&mut d.data, &ds.data);
                    }
                    if let Some(a) = attn {
                        d = a.backward(&d)?;
                    }
                    d = res.backward(&d, &mut dtemb)?;
                }
                TStep::Down(conv) => {
                    d = conv.backward(&d, true)?.expect("input gradient requested");
                }
                TStep::Up(up) => d = up.backward(&d)?,
            }
        }
        let dx = self.conv_in.backward(&d, need_dx)?;
        // The time MLP: temb = SiLU(u2), u2 = time_out(SiLU(u1)), u1 = time_in(emb).
        let du2: Vec<f32> = dtemb
            .iter()
            .zip(&self.u2)
            .map(|(d, &u)| d * silu_grad(u))
            .collect();
        if let Some(table) = &mut self.label_emb {
            table.backward(&du2);
        }
        let mut ds1 = vec![0.0f32; self.u1.len()];
        self.time_out.backward(&du2, Some(&mut ds1))?;
        let du1: Vec<f32> = ds1
            .iter()
            .zip(&self.u1)
            .map(|(d, &u)| d * silu_grad(u))
            .collect();
        self.time_in.backward(&du1, None)?;
        dx.as_ref().map(channels_first).transpose()
    }

    /// Every parameter in place, in a fixed order (the same on every call).
    pub fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut out = Vec::new();
        self.time_in.params(&mut out);
        self.time_out.params(&mut out);
        if let Some(t) = &mut self.label_emb {
            out.push(ParamMut {
                id: t.id,
                layout: Layout::Plain(vec![t.rows, t.dim]),
                value: &mut t.w,
                grad: &mut t.dw,
            });
        }
        self.conv_in.params(&mut out);
        step_params(&mut self.down, &mut out);
        self.mid1.params(&mut out);
        self.mid_attn.params(&mut out);
        self.mid2.params(&mut out);
        step_params(&mut self.up, &mut out);
        self.norm_out.params(&mut out);
        self.conv_out.params(&mut out);
        out
    }

    /// Sets every gradient to zero (the backward pass adds to them).
    pub fn zero_grads(&mut self) {
        self.params_mut()
            .into_par_iter()
            .for_each(|p| p.grad.fill(0.0));
    }

    /// Re-derives what the forward pass computes from the weights (the up-convolutions' phase
    /// weights, in place: this cannot fail), after the values of [`Self::params_mut`] changed.
    pub fn weights_changed(&mut self) {
        for s in self.up.iter_mut() {
            if let TStep::Up(u) = s {
                super::super::UpConv::fill_phases(&u.conv.conv, &mut u.phases);
            }
        }
    }

    /// Every parameter's gradient so far, in burn's layout and shape.
    pub fn param_grads(&mut self) -> Result<Vec<ParamGrad>, AllocError> {
        self.params_mut()
            .into_iter()
            .map(|p| {
                let mut g = mem::try_zeroed(p.grad.len(), "weight gradients")?;
                p.layout.to_burn(p.grad, &mut g);
                Ok((p.id, p.layout.burn_shape(), g))
            })
            .collect()
    }
}

/// The class table of a conditional model: row y is added to the time MLP's output for a
/// sample of label y (the last row for the null label); keeps the rows it used.
struct TTable {
    id: ParamId,
    rows: usize,
    dim: usize,
    w: Vec<f32>,
    dw: Vec<f32>,
    used: Vec<usize>,
}

impl TTable {
    fn from(e: &burn::nn::Embedding) -> Result<Self, AllocError> {
        let [rows, dim] = e.weight.val().dims();
        let w = super::super::param(&e.weight);
        Ok(Self {
            id: e.weight.id,
            rows,
            dim,
            dw: mem::try_zeroed(w.len(), "weight gradients")?,
            w,
            used: Vec::new(),
        })
    }

    /// Adds each sample's row to `u` ([B, dim]).
    fn forward(&mut self, u: &mut [f32], labels: Option<&[usize]>) {
        let null = self.rows - 1;
        self.used = (0..u.len() / self.dim)
            .map(|i| {
                labels
                    .and_then(|l| l.get(i))
                    .copied()
                    .unwrap_or(null)
                    .min(null)
            })
            .collect();
        for (row, &y) in u.chunks_exact_mut(self.dim).zip(&self.used) {
            for (r, &e) in row
                .iter_mut()
                .zip(&self.w[y * self.dim..(y + 1) * self.dim])
            {
                *r += crate::model::unet::LABEL_SCALE * e;
            }
        }
    }

    /// dW[y_i] += LABEL_SCALE·du[i], in sample order (the same bits on any thread count).
    fn backward(&mut self, du: &[f32]) {
        for (row, &y) in du.chunks_exact(self.dim).zip(&self.used) {
            let dst = &mut self.dw[y * self.dim..(y + 1) * self.dim];
            for (d, &g) in dst.iter_mut().zip(row) {
                *d += crate::model::unet::LABEL_SCALE * g;
            }
        }
    }
}

/// `x`'s first `first` channels and the rest, as two activations, split over the threads.
fn split_channels(x: &Act, first: usize) -> Result<(Act, Act), AllocError> {
    let (c, rest) = (x.c, x.c - first);
    let mut a = Act::scratch(x.b, x.h, x.w, first)?;
    let mut b = Act::scratch(x.b, x.h, x.w, rest)?;
    // Whole rows of pixels per task: 256 pixels at a time.
    const PX: usize = 256;
    x.data
        .par_chunks(PX * c)
        .zip(a.data.par_chunks_mut(PX * first))
        .zip(b.data.par_chunks_mut(PX * rest))
        .for_each(|((src, da), db)| {
            for ((px, da), db) in src
                .chunks_exact(c)
                .zip(da.chunks_exact_mut(first))
                .zip(db.chunks_exact_mut(rest))
            {
                da.copy_from_slice(&px[..first]);
                db.copy_from_slice(&px[first..]);
            }
        });
    Ok((a, b))
}

fn step_params<'a>(steps: &'a mut [TStep], out: &mut Vec<ParamMut<'a>>) {
    for s in steps {
        match s {
            TStep::Block(r, a) => {
                r.params(out);
                if let Some(a) = a {
                    a.params(out);
                }
            }
            TStep::Down(c) => c.params(out),
            TStep::Up(u) => u.conv.params(out),
        }
    }
}
