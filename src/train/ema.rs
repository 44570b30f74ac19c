//! The exponential moving average of the weights: ema ← d·ema + (1 − d)·θ, parameter by
//! parameter (matched by `ParamId`, which clones and `valid()` copies keep).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use std::collections::HashMap;

struct Collect(HashMap<ParamId, Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        self.0.insert(param.id, t.reshape([n]));
    }
}

struct Blend {
    live: HashMap<ParamId, Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(live) = self.live.remove(&param.id) else {
            return param;
        };
        let d = self.decay;
        param.map(|ema| {
            let dims = ema.dims();
            ema.mul_scalar(d) + live.reshape(dims).mul_scalar(1.0 - d)
        })
    }
}

/// One EMA update of `ema` towards `live` (both without autodiff), for any network (the UNet,
/// the 2-D lab's MLP).
pub fn ema_update<M: Module>(ema: M, live: &M, decay: f64) -> M {
    let mut collect = Collect(HashMap::new());
    live.visit(&mut collect);
    ema.map(&mut Blend {
        live: collect.0,
        decay,
    })
}

/// The decay of update number `step` (1-based): min(d, (1 + step)/(10 + step)), as common trainers do,
/// so the first few hundred updates are not dominated by the random initial weights (with
/// d = 0.995 and no warm-up, 0.995^200 ≈ 0.37 of them would still be in the average).
pub fn warmup_decay(decay: f64, step: usize) -> f64 {
    decay.min((1.0 + step as f64) / (10.0 + step as f64))
}

/// The learning rate of a cosine anneal from `from` (at step `start`) to `to` (at step `end`)
/// for the update that follows step `step`: from + (to − from)·(1 − cos(π·u))/2 with
/// u = (step + 1 − start)/(end − start), clamped to [0, 1]. `train --lr-final` uses it for the
/// last stretch of a long run, where a constant rate leaves the weights jittering around the
/// minimum (the EMA only partly averages that out).
pub fn cosine_anneal(from: f64, to: f64, start: usize, end: usize, step: usize) -> f64 {
    if end <= start {
        return to;
    }
    let u = ((step + 1).saturating_sub(start) as f64 / (end - start) as f64).clamp(0.0, 1.0);
    from + (to - from) * 0.5 * (1.0 - (std::f64::consts::PI * u).cos())
}
