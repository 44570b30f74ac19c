//! Improved DDPM's learned Σ (#15 §1) through the network: both training engines follow the same
//! L_hybrid and L_vlb gradients, importance-sampled t resumes exactly, and the learned-Σ samplers
//! and bound reduce to the fixed ones when the network's v is pinned at an end of its range.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::native_train::{params, rel_l2, run_on};
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor, TensorData};
use diffusion_lab::config::Target;
use diffusion_lab::diffusion::{
    DdpmVariance, LossKind, SamplerKind, SamplerPlan, ScheduleSpec, StrideRule, TSampling,
};
use diffusion_lab::metrics::{NllOptions, nll_bound, nll_bound_var};
use diffusion_lab::model::{TrainEngine, UNet, UNetConfig};
use diffusion_lab::sampling::{ChainSpec, Denoiser, record_chain};
use diffusion_lab::train::{Trainer, load_checkpoint_with, save_checkpoint};

fn learned_run(
    engine: TrainEngine,
    steps: usize,
    loss: LossKind,
) -> diffusion_lab::config::RunConfig {
    let mut c = run_on(engine, steps);
    c.train.loss = loss;
    c
}

#[test]
fn a_learned_sigma_loss_gives_the_unet_twice_the_channels() {
    let t = Trainer::new(
        learned_run(TrainEngine::Native, 1, LossKind::Hybrid),
        super::train::cpu(),
    )
    .unwrap();
    assert!(t.raw_snapshot().learns_sigma());
    let plain = Trainer::new(run_on(TrainEngine::Native, 1), super::train::cpu()).unwrap();
    assert!(!plain.raw_snapshot().learns_sigma());
    // importance-sampled t needs a loss that computes the bound's terms.
    let mut bad = run_on(TrainEngine::Native, 1);
    bad.train.t_sampling = TSampling::Importance;
    let e = Trainer::new(bad, super::train::cpu())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("t_sampling"), "{e}");
}

#[test]
fn both_engines_give_the_same_weights_with_learned_sigma() {
    let _serial = super::train::serial();
    for loss in [LossKind::Hybrid, LossKind::Vlb] {
        let mut native = Trainer::new(
            learned_run(TrainEngine::Native, 5, loss),
            super::train::cpu(),
        )
        .unwrap();
        let mut burn =
            Trainer::new(learned_run(TrainEngine::Burn, 5, loss), super::train::cpu()).unwrap();
        for _ in 0..5 {
            let (a, b) = (native.step().unwrap(), burn.step().unwrap());
            let rel = f64::from((a.loss - b.loss).abs() / b.loss.abs());
            assert!(
                rel < 1e-4,
                "{loss:?} step {}: {} vs {}",
                a.step,
                a.loss,
                b.loss
            );
        }
        let err = rel_l2(&params(&burn), &params(&native));
        eprintln!("{loss:?}: weights after 5 steps differ by {err:.1e}");
        assert!(err < 1e-4, "{loss:?}: weights differ by {err:.2e}");
    }
}

/// T = 10, so every t has its 10 values of L_t after about 13 steps of 8 images.
fn importance_run(steps: usize) -> diffusion_lab::config::RunConfig {
    let mut c = learned_run(TrainEngine::Native, steps, LossKind::Hybrid);
    c.train.t_sampling = TSampling::Importance;
    c.schedule = ScheduleSpec {
        steps: 10,
        ..ScheduleSpec::default()
    };
    c
}

#[test]
fn importance_sampled_runs_resume_exactly_after_warm_up() {
    let _serial = super::train::serial();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let mut full = Trainer::new(importance_run(40), super::train::cpu()).unwrap();
    let want: Vec<f32> = (0..40).map(|_| full.step().unwrap().loss).collect();
    let mut a = Trainer::new(importance_run(40), super::train::cpu()).unwrap();
    let mut got: Vec<f32> = (0..30).map(|_| a.step().unwrap().loss).collect();
    save_checkpoint(&a, &ck).unwrap();
    // By step 30 (240 draws over T = 10) every t has its 10 values: t is importance-sampled
    // from here on, and the saved history decides the draws after the resume.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ck.join("state.json")).unwrap()).unwrap();
    let history = state["t_sampler"]["history"]
        .as_array()
        .expect("the history is saved");
    assert_eq!(history.len(), 10);
    assert!(
        history
            .iter()
            .all(|h| h.as_array().map(Vec::len) == Some(10)),
        "warmed up: {history:?}"
    );
    let mut b = load_checkpoint_with(&ck, super::train::cpu(), None).unwrap();
    got.extend((0..10).map(|_| b.step().unwrap().loss));
    assert_eq!(
        got, want,
        "a resumed importance-sampled run repeats the uninterrupted one"
    );
    assert_eq!(params(&full), params(&b));
}

/// Pins the network's o at `o` everywhere: the v filters of the last convolution are zeroed and
/// their bias set to `o` (grey images: the output's second channel).
struct PinO(f32);

impl ModuleMapper for PinO {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let o = self.0;
        param.map(|t| {
            let dims = t.dims();
            if dims[0] != 2 || !(D == 4 || D == 1) {
                return t;
            }
            let device = t.device();
            let mut v = t.into_data().try_to_vec::<f32>().expect("f32");
            let half = v.len() / 2;
            if D == 1 {
                v[1] = o;
            } else {
                v[half..].iter_mut().for_each(|x| *x = 0.0);
            }
            Tensor::from_data(TensorData::new(v, dims), &device)
        })
    }
}

fn pinned_model(o: f32) -> UNet {
    let cfg = UNetConfig {
        learn_sigma: true,
        ..UNetConfig::tiny(1, 16)
    };
    cfg.init_seeded(&Device::flex(), 5).map(&mut PinO(o))
}

fn sample(
    model: &UNet,
    table: &diffusion_lab::diffusion::ScheduleTable,
    kind: SamplerKind,
) -> Vec<f32> {
    let device = Device::flex();
    let den = Denoiser::new(model, &device, table, Target::Eps, [1, 16, 16]);
    let plan = SamplerPlan::new(table, kind).unwrap();
    record_chain(&den, &ChainSpec::new(plan, 4, 9, true)).0
}

#[test]
fn learned_samplers_reduce_to_the_fixed_ones_at_the_ends_of_v() {
    let table = ScheduleSpec {
        steps: 100,
        ..ScheduleSpec::default()
    }
    .table()
    .unwrap();
    for rule in [StrideRule::Floor, StrideRule::Round] {
        // o = 1 (v = 1): Σ = β′; o = −1 (v = 0): Σ = β̃′.
        for (o, fixed) in [(1.0, DdpmVariance::Beta), (-1.0, DdpmVariance::BetaTilde)] {
            let model = pinned_model(o);
            assert!(model.learns_sigma());
            for (learned_kind, fixed_kind) in [
                (
                    SamplerKind::Iddpm {
                        steps: 10,
                        variance: DdpmVariance::Learned,
                        rule,
                    },
                    SamplerKind::Iddpm {
                        steps: 10,
                        variance: fixed,
                        rule,
                    },
                ),
                (
                    SamplerKind::Ddpm {
                        variance: DdpmVariance::Learned,
                    },
                    SamplerKind::Ddpm { variance: fixed },
                ),
            ] {
                let a = sample(&model, &table, learned_kind);
                let b = sample(&model, &table, fixed_kind);
                let err = rel_l2(&b, &a);
                assert!(err < 1e-5, "o = {o}, {learned_kind:?}: {err:.2e}");
            }
        }
    }
    // Between the ends the noise differs: v = 1/2 is neither.
    let model = pinned_model(0.0);
    let kind = |variance| SamplerKind::Iddpm {
        steps: 10,
        variance,
        rule: StrideRule::Floor,
    };
    let mid = sample(&model, &table, kind(DdpmVariance::Learned));
    for fixed in [DdpmVariance::Beta, DdpmVariance::BetaTilde] {
        assert!(rel_l2(&sample(&model, &table, kind(fixed)), &mid) > 1e-4);
    }
}

#[test]
fn the_learned_bound_with_v_at_one_is_the_beta_bound() {
    let table = ScheduleSpec {
        steps: 40,
        ..ScheduleSpec::default()
    }
    .table()
    .unwrap();
    let model = pinned_model(1.0);
    let device = Device::flex();
    let den = Denoiser::new(&model, &device, &table, Target::Eps, [1, 16, 16]);
    // Images on the 256-level grid.
    let images: Vec<f32> = (0..3 * 256)
        .map(|i| ((i * 37 % 256) as f32) / 127.5 - 1.0)
        .collect();
    let opts = |variance| NllOptions {
        variance,
        seed: 3,
        ..NllOptions::default()
    };
    let fixed = nll_bound(
        &table,
        &images,
        256,
        &opts(DdpmVariance::Beta),
        &mut |t, x, e| den.predict(t, x, e),
        &mut |_, _| true,
    )
    .unwrap();
    let learned = nll_bound_var(
        &table,
        &images,
        256,
        &opts(DdpmVariance::Learned),
        &mut |t, x, e, v| den.predict_var(t, x, e, Some(v)),
        &mut |_, _| true,
    )
    .unwrap();
    assert_eq!(learned.variance, "learned Σ");
    let d = (learned.bits_per_dim - fixed.bits_per_dim).abs();
    assert!(
        d < 1e-6 * fixed.bits_per_dim.abs().max(1.0),
        "{} vs {}",
        learned.bits_per_dim,
        fixed.bits_per_dim
    );
}

#[test]
fn hybrid_training_lowers_its_loss() {
    // 60 steps of L_hybrid (L_simple + λ·T·L_t): the mean loss of the last 20 steps is below
    // the first 20's. (The bound itself is measured by `bench iddpm`, not here.)
    let _serial = super::train::serial();
    let mut c = learned_run(TrainEngine::Native, 60, LossKind::Hybrid);
    c.train.lr = 2e-3;
    let mut t = Trainer::new(c, super::train::cpu()).unwrap();
    let losses: Vec<f32> = (0..60).map(|_| t.step().unwrap().loss).collect();
    let (first, last) = (
        losses[..20].iter().sum::<f32>() / 20.0,
        losses[40..].iter().sum::<f32>() / 20.0,
    );
    eprintln!("L_hybrid: first 20 steps {first:.4}, last 20 {last:.4}");
    assert!(last < first, "{first} → {last}");
}

#[test]
fn the_player_writes_a_learned_sigma_per_pixel() {
    let table = ScheduleSpec::default().table().unwrap();
    let kind = SamplerKind::Iddpm {
        steps: 10,
        variance: DdpmVariance::Learned,
        rule: StrideRule::Floor,
    };
    let plan = SamplerPlan::new(&table, kind).unwrap();
    let step = plan.steps[0];
    let lines = diffusion_lab::app::player_equation_lines(&step, table.beta[step.t - 1]);
    let text = lines.join("\n");
    assert!(text.contains("per pixel"), "{text}");
    // The range printed is √β̃′ … √β′ of the jump.
    let r = step.learned.unwrap();
    assert!(
        text.contains(&format!("{:.4}", (0.5 * r.max).exp())),
        "{text}"
    );
    assert!(text.contains("σ·z"), "{text}");
}
