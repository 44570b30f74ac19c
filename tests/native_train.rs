//! The native CPU training pass (`TrainNet`) against burn's autodiff on the same weights:
//! every parameter's gradient and the input's.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor, TensorData};
use diffusion_lab::diffusion::Rng;
use diffusion_lab::model::{TrainNet, UNetConfig};
use std::collections::HashMap;

/// Relative L2 difference ‖a − b‖ / ‖a‖.
fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let (mut d, mut n) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        d += f64::from(x - y).powi(2);
        n += f64::from(x).powi(2);
    }
    (d / n.max(1e-30)).sqrt()
}

/// Collects every parameter's gradient from burn's autodiff.
struct Collect<'a> {
    grads: &'a burn::tensor::Gradients,
    out: HashMap<ParamId, Vec<f32>>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = param
            .val()
            .grad(self.grads)
            .map(|g| g.into_data().try_to_vec::<f32>().expect("f32"))
            .unwrap_or_default();
        self.out.insert(param.id, g);
    }
}

fn check(config: &UNetConfig, batch: usize, seed: u64) {
    let device = Device::flex().autodiff();
    let model = config.init_seeded(&device, seed);
    let shape = [config.image_channels, config.image_size, config.image_size];
    let n = batch * shape.iter().product::<usize>();
    let mut rng = Rng::seed(seed + 1);
    let x = rng.normal_vec::<f32>(n);
    // The loss Σ out ⊙ r has output gradient r.
    let r = rng.normal_vec::<f32>(n);
    let t: Vec<f32> = (0..batch).map(|i| (1 + 137 * i % 1000) as f32).collect();
    let [c, h, w] = shape;

    let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [batch, c, h, w]), &device)
        .require_grad();
    let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), [batch, c, h, w]), &device);
    let out = model.forward(xt.clone(), &t);
    let want_out = out
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32");
    let grads = (out * rt).sum().backward();
    let want_dx = xt
        .grad(&grads)
        .expect("input gradient")
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32");
    let mut collect = Collect {
        grads: &grads,
        out: HashMap::new(),
    };
    model.visit(&mut collect);

    let mut net = TrainNet::from_unet(&model);
    let got_out = net.forward(&x, shape, &t, &mut Rng::seed(0));
    let got_dx = net.backward(&r);
    let out_err = rel_l2(&want_out, &got_out);
    assert!(out_err < 1e-5, "{config:?}: output differs by {out_err:.2e}");
    let dx_err = rel_l2(&want_dx, &got_dx);
    eprintln!("{config:?}: output {out_err:.1e}, input gradient {dx_err:.1e}");
    assert!(dx_err < 1e-4, "input gradient differs by {dx_err:.2e}");
    let got = net.param_grads();
    assert_eq!(
        got.len(),
        collect.out.len(),
        "the native pass covers every parameter"
    );
    let mut worst = 0.0f64;
    for (i, (id, _shape, g)) in got.iter().enumerate() {
        let want = collect.out.get(id).expect("a parameter burn knows");
        let err = rel_l2(want, g);
        worst = worst.max(err);
        assert!(
            err < 1e-4,
            "{config:?}: gradient {i} ({} values) differs by {err:.2e}",
            g.len()
        );
    }
    eprintln!("  worst parameter gradient {worst:.1e} over {} tensors", got.len());
}

#[test]
fn tiny_gradients_match_burn_autodiff() {
    check(&UNetConfig::tiny(1, 28), 3, 5);
}

#[test]
fn canonical_gradients_match_burn_autodiff() {
    check(&UNetConfig::canonical(1, 28), 2, 7);
}

#[test]
fn rgb_attention_two_levels_two_blocks_gradients_match_burn_autodiff() {
    let config = UNetConfig {
        res_blocks: 2,
        attention_resolutions: vec![8, 4],
        ..UNetConfig::tiny(3, 16)
    };
    let config = UNetConfig {
        channel_mults: vec![1, 2, 2],
        ..config
    };
    check(&config, 2, 9);
}
