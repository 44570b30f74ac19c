//! The native engine's state between steps: the network with its weights in place, and Adam's
//! moments and the EMA weights beside them, in the engine's layout. One fused, parallel loop
//! per step does gradient clipping, weight decay, Adam and the EMA, with the arithmetic of
//! burn's `Adam` (so the two engines still take the same steps), instead of copying the weights
//! into burn's model and the gradients out to burn's optimiser every step.
//!
//! burn's model, EMA and optimiser stay the format of a checkpoint: [`NativeState::from_burn`]
//! reads them (a resumed run, or one that switched engines) and [`NativeState::weights_into`],
//! [`NativeState::ema_into`] and [`NativeState::optimizer_into`] write them back when a snapshot
//! or a checkpoint needs them. The optimiser's record is reached through burn's public API
//! only: a stand-in optimiser with burn's `AdamState` type is stepped once to hand the moments
//! over (see [`Inject`] and [`Extract`]).

use super::TrainError;
use crate::mem;
use crate::model::{Layout, ParamMut, TrainNet, UNet};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{
    AdamState, AdaptiveMomentumState, GradientsParams, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Mutex;

/// Adam's settings as burn's `AdamConfig` holds them (β₁, β₂ and ε are burn's defaults, which
/// the trainer's `adam()` keeps).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamSettings {
    /// β₁.
    pub beta_1: f32,
    /// β₂.
    pub beta_2: f32,
    /// ε.
    pub epsilon: f32,
    /// The L2 penalty added to the gradient (burn's `WeightDecay`), if any.
    pub weight_decay: Option<f32>,
    /// The largest L2 norm of each parameter's gradient (burn's `GradientClipping::Norm`,
    /// applied tensor by tensor), if any.
    pub clip_norm: Option<f32>,
}

impl AdamSettings {
    /// burn's defaults with the given decay and clipping.
    pub fn new(weight_decay: Option<f32>, clip_norm: Option<f32>) -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-5,
            weight_decay,
            clip_norm,
        }
    }
}

/// Adam's moments and the EMA of one parameter, in the engine's layout.
struct Slot {
    id: ParamId,
    layout: Layout,
    m: Vec<f32>,
    v: Vec<f32>,
    /// Adam's step count for this parameter (0: no state yet).
    time: usize,
    ema: Vec<f32>,
}

/// The native engine's network, optimiser state and EMA, kept from step to step.
pub struct NativeState {
    /// Behind a lock only so that read-only views of the trainer (snapshots, checkpoints) can
    /// read the weights in place; the training step itself uses `get_mut`, which never locks.
    net: Mutex<TrainNet>,
    slots: Vec<Slot>,
}

/// Every parameter's values by id, in burn's layout (None where a tensor does not read back
/// as f32).
struct Collect(HashMap<ParamId, Option<Vec<f32>>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let v = param.val().into_data().try_to_vec::<f32>().ok();
        self.0.insert(param.id, v);
    }
}

fn collect<M: Module>(m: &M) -> HashMap<ParamId, Option<Vec<f32>>> {
    let mut c = Collect(HashMap::new());
    m.visit(&mut c);
    c.0
}

/// Replaces the values of the parameters it holds (burn's layout), keeping ids and devices.
struct Replace(HashMap<ParamId, Vec<f32>>);

impl ModuleMapper for Replace {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(v) = self.0.remove(&param.id) else {
            return param;
        };
        param.map(|t| {
            let (dims, device) = (t.dims(), t.device());
            Tensor::from_data(TensorData::new(v, dims), &device)
        })
    }
}

/// A stand-in optimiser that writes burn's Adam state: its step is handed the first moment as
/// the parameter and the second as the gradient, and keeps them as `AdamState` at `time`.
#[derive(Clone)]
struct Inject {
    time: usize,
}

impl Optimizer for Inject {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        _lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        _state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let momentum = AdaptiveMomentumState::new(self.time, tensor.clone(), grad);
        (tensor, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamState::new(state.momentum.to_device(device))
    }
}

/// What [`Extract`] returns in place of a parameter.
#[derive(Clone, Copy)]
enum Part {
    Moment1,
    Moment2,
    Time,
}

/// A stand-in optimiser that reads burn's Adam state: its step returns one part of the state
/// (zero where a parameter has none) as the parameter's new value.
#[derive(Clone)]
struct Extract(Part);

impl Optimizer for Extract {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        _lr: LearningRate,
        tensor: Tensor<D>,
        _grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let out = match (&state, self.0) {
            (None, _) => tensor.zeros_like(),
            (Some(s), Part::Moment1) => s.momentum.moment_1.clone(),
            (Some(s), Part::Moment2) => s.momentum.moment_2.clone(),
            // Exact in f32 for fewer than 2²⁴ steps.
            (Some(s), Part::Time) => tensor.ones_like().mul_scalar(s.momentum.time as f32),
        };
        (out, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamState::new(state.momentum.to_device(device))
    }
}

/// Registers `v` (burn's layout) as the gradient of parameter `id` of shape `shape`.
fn register(grads: &mut GradientsParams, id: ParamId, shape: &[usize], v: Vec<f32>, d: &Device) {
    match *shape {
        [a] => grads.register(id, Tensor::<1>::from_data(TensorData::new(v, [a]), d)),
        [a, b] => grads.register(id, Tensor::<2>::from_data(TensorData::new(v, [a, b]), d)),
        [a, b, c] => grads.register(id, Tensor::<3>::from_data(TensorData::new(v, [a, b, c]), d)),
        [a, b, c, e] => grads.register(
            id,
            Tensor::<4>::from_data(TensorData::new(v, [a, b, c, e]), d),
        ),
        _ => unreachable!("the UNet's parameters have rank 1 to 4, got {shape:?}"),
    }
}

/// One part of `optim`'s Adam state for every parameter of `model` listed in `shapes` (burn's
/// layout; zeros where a parameter has no state yet).
fn extract(
    optim: &ModuleOptimizer,
    model: &UNet,
    shapes: &[(ParamId, Vec<usize>)],
    part: Part,
    grad_device: &Device,
) -> HashMap<ParamId, Option<Vec<f32>>> {
    let mut grads = GradientsParams::new();
    for (id, shape) in shapes {
        let zeros = vec![0.0; shape.iter().product()];
        register(&mut grads, *id, shape, zeros, grad_device);
    }
    let mut reader = ModuleOptimizer::from(Extract(part)).load_record(optim.to_record());
    collect(&reader.step(0.0, model.clone(), grads))
}

impl NativeState {
    /// The state of a run whose weights, EMA and optimiser are `model`, `ema` and `optim`
    /// (fresh or loaded from a checkpoint of either engine). `grad_device` is the device
    /// burn's optimiser takes gradients on (the model's, without autodiff).
    ///
    /// Fails when a buffer cannot be allocated, or when the EMA or the optimiser's state does
    /// not fit the model (a parameter missing, or of another size): never silently zeroed.
    pub fn from_burn(
        model: &UNet,
        ema: &UNet,
        optim: &ModuleOptimizer,
        grad_device: &Device,
    ) -> Result<Self, TrainError> {
        let mut net = TrainNet::from_unet(model)?;
        let ema_values = collect(ema);
        let shapes: Vec<(ParamId, Vec<usize>)> = net
            .params_mut()
            .iter()
            .map(|p| (p.id, p.layout.burn_shape()))
            .collect();
        let parts: Vec<_> = [Part::Moment1, Part::Moment2, Part::Time]
            .into_iter()
            .map(|part| extract(optim, model, &shapes, part, grad_device))
            .collect();
        // Extract gives every parameter a value (zeros where it has no state yet: Adam's
        // start); a missing or mis-sized one means the state does not fit this model.
        let here = |layout: &Layout, burn: Option<&Option<Vec<f32>>>, what: &str| {
            let mut v = mem::try_zeroed(layout.len(), "optimiser state")?;
            match burn {
                Some(Some(b)) if b.len() == v.len() => layout.from_burn(b, &mut v),
                _ => {
                    return Err(TrainError::Checkpoint(format!(
                        "the {what} do not fit the model (a parameter of shape {:?} is missing \
                         or has another size)",
                        layout.burn_shape()
                    )));
                }
            }
            Ok(v)
        };
        let mut slots = Vec::new();
        for p in net.params_mut() {
            let time = match parts[2].get(&p.id) {
                Some(Some(t)) => t.first().map_or(0, |&t| t.max(0.0) as usize),
                _ => 0,
            };
            slots.push(Slot {
                id: p.id,
                m: here(&p.layout, parts[0].get(&p.id), "optimiser's moments")?,
                v: here(&p.layout, parts[1].get(&p.id), "optimiser's moments")?,
                ema: here(&p.layout, ema_values.get(&p.id), "EMA weights")?,
                layout: p.layout,
                time,
            });
        }
        Ok(Self {
            net: Mutex::new(net),
            slots,
        })
    }

    /// The network, for the step's forward and backward passes.
    pub fn net(&mut self) -> &mut TrainNet {
        self.net.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// One optimiser step on the gradients the last backward pass left in the network, at
    /// learning rate `lr`, then the EMA update with `ema_decay`; and the network is made
    /// ready for its next forward pass. Allocates nothing and cannot fail.
    pub fn update(&mut self, s: &AdamSettings, lr: f64, ema_decay: f64) {
        let net = self.net.get_mut().unwrap_or_else(|e| e.into_inner());
        let params = net.params_mut();
        assert_eq!(params.len(), self.slots.len(), "parameters of the network");
        params
            .into_par_iter()
            .zip(self.slots.par_iter_mut())
            .for_each(|(p, slot)| adam_ema(p, slot, s, lr, ema_decay));
        net.weights_changed();
    }

    /// burn's model `template` (raw weights, any device) with this state's weights.
    pub fn weights_into(&self, template: UNet) -> UNet {
        let net = &mut *self.net.lock().unwrap_or_else(|e| e.into_inner());
        let values = net
            .params_mut()
            .into_iter()
            .map(|p| {
                let mut b = vec![0.0; p.layout.len()];
                p.layout.to_burn(p.value, &mut b);
                (p.id, b)
            })
            .collect();
        template.map(&mut Replace(values))
    }

    /// burn's model `template` with this state's EMA weights.
    pub fn ema_into(&self, template: UNet) -> UNet {
        template.map(&mut Replace(self.burn_values(|s| &s.ema)))
    }

    fn burn_values(&self, part: impl Fn(&Slot) -> &Vec<f32>) -> HashMap<ParamId, Vec<f32>> {
        self.slots
            .iter()
            .map(|s| {
                let mut b = vec![0.0; s.layout.len()];
                s.layout.to_burn(part(s), &mut b);
                (s.id, b)
            })
            .collect()
    }

    /// burn's optimiser `fresh` (configured as the run's, without state) holding this state's
    /// Adam moments. `model` is the run's burn model (its ids and devices are used, not its
    /// values); `grad_device` as for [`Self::from_burn`]. Parameters without a step yet get no
    /// state, as in burn. Adam's step count is per parameter, as in burn: the parameters are
    /// grouped by it, one stand-in optimiser per count, so a run resumed from a record where
    /// some parameters had fewer steps keeps their counts.
    pub fn optimizer_into(
        &self,
        fresh: ModuleOptimizer,
        model: &UNet,
        grad_device: &Device,
    ) -> ModuleOptimizer {
        let mut by_time: Vec<(usize, Vec<ParamId>)> = Vec::new();
        let mut grads = GradientsParams::new();
        for s in self.slots.iter().filter(|s| s.time > 0) {
            let mut v = vec![0.0; s.layout.len()];
            s.layout.to_burn(&s.v, &mut v);
            register(&mut grads, s.id, &s.layout.burn_shape(), v, grad_device);
            match by_time.iter_mut().find(|(t, _)| *t == s.time) {
                Some((_, ids)) => ids.push(s.id),
                None => by_time.push((s.time, vec![s.id])),
            }
        }
        let Some(((first, _), rest)) = by_time.split_first() else {
            return fresh;
        };
        let mut writer = ModuleOptimizer::from(Inject { time: *first });
        for (time, ids) in rest {
            writer = writer.with_group(
                ParamGroup::from_ids(ids.clone()),
                Inject { time: *time },
                None,
            );
        }
        let moments = model.clone().map(&mut Replace(self.burn_values(|s| &s.m)));
        let _ = writer.step(0.0, moments, grads);
        fresh.load_record(writer.to_record())
    }
}

/// burn's Adam (weight decay, moments, bias correction: the same f32 operations in the same
/// order; the clipping norm is summed in f64 where burn sums in f32, so its coefficient can
/// differ in the last bits) and the EMA update, for one parameter.
fn adam_ema(p: ParamMut<'_>, slot: &mut Slot, s: &AdamSettings, lr: f64, decay: f64) {
    assert_eq!(p.id, slot.id, "parameter order");
    let coef = match s.clip_norm {
        Some(max) => {
            let sq: f64 = p.grad.iter().map(|&g| f64::from(g) * f64::from(g)).sum();
            let norm = sq.sqrt() as f32;
            (max / (norm + f32::MIN_POSITIVE)).min(1.0)
        }
        None => 1.0,
    };
    slot.time += 1;
    let time = slot.time as i32;
    let (b1, b2) = (s.beta_1, s.beta_2);
    let bc2 = (1.0 - b2.powi(time)).sqrt();
    let factor = bc2 / (1.0 - b1.powi(time));
    let denom_eps = s.epsilon * bc2;
    let lr = lr as f32;
    let (d, keep) = (decay as f32, (1.0 - decay) as f32);
    for ((((w, g), m), v), e) in p
        .value
        .iter_mut()
        .zip(p.grad.iter())
        .zip(slot.m.iter_mut())
        .zip(slot.v.iter_mut())
        .zip(slot.ema.iter_mut())
    {
        let mut g = if s.clip_norm.is_some() { g * coef } else { *g };
        if let Some(penalty) = s.weight_decay {
            g += *w * penalty;
        }
        *m = *m * b1 + g * (1.0 - b1);
        *v = *v * b2 + g * g * (1.0 - b2);
        let step = *m * factor / (v.sqrt() + denom_eps);
        *w -= step * lr;
        *e = *e * d + *w * keep;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::UNetConfig;

    /// Every parameter's id, shape and values.
    fn shapes(m: &UNet) -> Vec<(ParamId, Vec<usize>, Vec<f32>)> {
        struct V(Vec<(ParamId, Vec<usize>, Vec<f32>)>);
        impl ModuleVisitor for V {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                let v = p.val().into_data().try_to_vec::<f32>().unwrap();
                self.0.push((p.id, p.val().dims().to_vec(), v));
            }
        }
        let mut v = V(Vec::new());
        m.visit(&mut v);
        v.0
    }

    /// Adam's state survives the trip through the native buffers and back to burn's record,
    /// per parameter, when the parameters have taken different numbers of steps.
    #[test]
    fn optimiser_state_round_trips_with_unequal_step_counts() {
        let flex = Device::flex();
        let device = flex.clone().autodiff();
        let mut model = UNetConfig::tiny(1, 16).init_seeded(&device, 3);
        let params = shapes(&model);
        let mut optim = crate::train::trainer::adam_for_tests().init();
        // Two steps for every parameter, then a third for every other one.
        for round in 0..3 {
            let mut grads = GradientsParams::new();
            for (i, (id, shape, v)) in params.iter().enumerate() {
                if round < 2 || i % 2 == 0 {
                    let g = v.iter().map(|x| x * 0.5 + 0.01 * round as f32).collect();
                    register(&mut grads, *id, shape, g, &flex);
                }
            }
            model = optim.step(1e-3, model, grads);
        }
        let ema = model.valid();
        let state = NativeState::from_burn(&model, &ema, &optim, &flex).unwrap();
        let times: Vec<usize> = state.slots.iter().map(|s| s.time).collect();
        assert!(times.contains(&2) && times.contains(&3), "{times:?}");
        let back = state.optimizer_into(
            crate::train::trainer::adam_for_tests().init(),
            &model,
            &flex,
        );
        let ids: Vec<(ParamId, Vec<usize>)> =
            params.iter().map(|(id, s, _)| (*id, s.clone())).collect();
        for part in [Part::Moment1, Part::Moment2, Part::Time] {
            let (want, got) = (
                extract(&optim, &model, &ids, part, &flex),
                extract(&back, &model, &ids, part, &flex),
            );
            for (id, _) in &ids {
                let (w, g) = (want[id].as_ref().unwrap(), got[id].as_ref().unwrap());
                assert_eq!(w, g, "parameter {id:?}");
            }
        }
    }
}
