//! The parameters of a [`TrainNet`] in place: what an optimiser on the CPU updates between
//! steps (values and gradients in the engine's own layout), and the conversions between that
//! layout and burn's. A net kept from step to step then needs no copy of the weights in and of
//! the gradients out.

use super::*;

/// How a parameter's values are laid out in the engine, against burn's tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The same order as burn's tensor of this shape.
    Plain(Vec<usize>),
    /// A k×k convolution's weight: burn's [cout, cin, k, k]; here row (ky·k + kx)·cin + ci,
    /// column co.
    Conv {
        /// Output channels.
        cout: usize,
        /// Input channels.
        cin: usize,
        /// Kernel size.
        k: usize,
    },
}

impl Layout {
    /// burn's shape of the parameter.
    pub fn burn_shape(&self) -> Vec<usize> {
        match self {
            Layout::Plain(s) => s.clone(),
            &Layout::Conv { cout, cin, k } => vec![cout, cin, k, k],
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.burn_shape().iter().product()
    }

    /// Whether the parameter holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes `src` (this layout) into `dst` in burn's order.
    pub fn to_burn(&self, src: &[f32], dst: &mut [f32]) {
        assert_eq!(src.len(), dst.len(), "layout conversion lengths");
        match *self {
            Layout::Plain(_) => dst.copy_from_slice(src),
            Layout::Conv { cout, cin, k } => {
                dst.par_chunks_mut(cin * k * k)
                    .enumerate()
                    .for_each(|(co, per_out)| {
                        for ci in 0..cin {
                            for tap in 0..k * k {
                                per_out[ci * k * k + tap] = src[(tap * cin + ci) * cout + co];
                            }
                        }
                    });
            }
        }
    }

    /// Writes `src` (burn's order) into `dst` in this layout.
    pub fn from_burn(&self, src: &[f32], dst: &mut [f32]) {
        assert_eq!(src.len(), dst.len(), "layout conversion lengths");
        match *self {
            Layout::Plain(_) => dst.copy_from_slice(src),
            Layout::Conv { cout, cin, k } => {
                dst.par_chunks_mut(cout).enumerate().for_each(|(row, d)| {
                    let (tap, ci) = (row / cin, row % cin);
                    for (co, v) in d.iter_mut().enumerate() {
                        *v = src[(co * cin + ci) * k * k + tap];
                    }
                });
            }
        }
    }
}

/// One parameter of a [`TrainNet`], in place.
pub struct ParamMut<'a> {
    /// burn's id of the parameter.
    pub id: ParamId,
    /// How `value` and `grad` are laid out.
    pub layout: Layout,
    /// The values the next forward pass uses.
    pub value: &'a mut [f32],
    /// The gradient the last backward pass accumulated.
    pub grad: &'a mut [f32],
}

impl TConv {
    pub(super) fn params<'a>(&'a mut self, out: &mut Vec<ParamMut<'a>>) {
        let c = &mut self.conv;
        out.push(ParamMut {
            id: self.wid,
            layout: Layout::Conv {
                cout: c.cout,
                cin: c.cin,
                k: c.k,
            },
            value: &mut c.w,
            grad: &mut self.dw,
        });
        if let Some(id) = self.bid {
            out.push(ParamMut {
                id,
                layout: Layout::Plain(vec![c.cout]),
                value: &mut c.bias,
                grad: &mut self.db,
            });
        }
    }
}

impl TLin {
    pub(super) fn params<'a>(&'a mut self, out: &mut Vec<ParamMut<'a>>) {
        let l = &mut self.lin;
        out.push(ParamMut {
            id: self.wid,
            layout: Layout::Plain(vec![l.din, l.dout]),
            value: &mut l.w,
            grad: &mut self.dw,
        });
        if let Some(id) = self.bid {
            out.push(ParamMut {
                id,
                layout: Layout::Plain(vec![l.dout]),
                value: &mut l.bias,
                grad: &mut self.db,
            });
        }
    }
}

impl TNorm {
    pub(super) fn params<'a>(&'a mut self, out: &mut Vec<ParamMut<'a>>) {
        let c = self.gamma.len();
        if let Some(id) = self.gid {
            out.push(ParamMut {
                id,
                layout: Layout::Plain(vec![c]),
                value: &mut self.gamma,
                grad: &mut self.dg,
            });
        }
        if let Some(id) = self.bid {
            out.push(ParamMut {
                id,
                layout: Layout::Plain(vec![c]),
                value: &mut self.beta,
                grad: &mut self.db,
            });
        }
    }
}

impl TAttn {
    pub(super) fn params<'a>(&'a mut self, out: &mut Vec<ParamMut<'a>>) {
        self.norm.params(out);
        self.qkv.params(out);
        self.proj.params(out);
    }
}

impl TRes {
    pub(super) fn params<'a>(&'a mut self, out: &mut Vec<ParamMut<'a>>) {
        self.norm1.params(out);
        self.conv1.params(out);
        self.temb.params(out);
        self.norm2.params(out);
        self.conv2.params(out);
        if let Some(s) = &mut self.skip {
            s.params(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Layout;

    #[test]
    fn a_convolution_layout_round_trips_and_matches_the_index_formula() {
        let (cout, cin, k) = (3, 2, 3);
        let layout = Layout::Conv { cout, cin, k };
        assert_eq!(layout.burn_shape(), vec![3, 2, 3, 3]);
        let burn: Vec<f32> = (0..layout.len()).map(|i| i as f32).collect();
        let mut here = vec![0.0; burn.len()];
        layout.from_burn(&burn, &mut here);
        for co in 0..cout {
            for ci in 0..cin {
                for ky in 0..k {
                    for kx in 0..k {
                        let b = ((co * cin + ci) * k + ky) * k + kx;
                        let h = ((ky * k + kx) * cin + ci) * cout + co;
                        assert_eq!(here[h], burn[b], "co {co} ci {ci} ky {ky} kx {kx}");
                    }
                }
            }
        }
        let mut back = vec![0.0; burn.len()];
        layout.to_burn(&here, &mut back);
        assert_eq!(back, burn);
        let plain = Layout::Plain(vec![4, 5]);
        let mut out = vec![0.0; 20];
        plain.to_burn(&burn[..20], &mut out);
        assert_eq!(out, burn[..20]);
    }
}
