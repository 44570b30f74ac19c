//! Seed 000's Folder_3 (#14 §3): the additional layer on a frozen log-SNR v-objective UNet,
//! its training, files and class maps, and the chains of `sample_new_v1` / `sample_new_v2`
//! with real networks; and continuous-time training resuming exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::tensor::Device;
use diffusion_lab::config::seed000::LayerTrain;
use diffusion_lab::config::{DataSpec, RunConfig, Target, TimeInputKind};
use diffusion_lab::diffusion::seed000::Chain000;
use diffusion_lab::diffusion::{LossWeighting, Rng, ScheduleKind, ScheduleSpec};
use diffusion_lab::model::{AddLayer, CpuUNet};
use diffusion_lab::sampling::seed000::{ChainSpec, Nets, run_chain};
use diffusion_lab::train::add_layer::train_add_layer;

/// A Folder_2-like run: tiny, log-SNR input, v-objective, continuous time, seed 000's schedule.
fn folder2_run(steps: usize) -> RunConfig {
    let mut run = crate::train::tiny_run(steps);
    run.schedule = ScheduleSpec::new(ScheduleKind::VDiffusion, 100);
    run.time_input = TimeInputKind::LogSnr;
    run.train.target = Target::V;
    run.train.continuous_time = true;
    run.train.loss_weighting = LossWeighting::TruncatedSnr;
    run
}

#[test]
fn continuous_time_log_snr_training_resumes_exactly() {
    let _serial = crate::train::serial();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let cpu = crate::train::cpu();
    let mut full = diffusion_lab::train::Trainer::new(folder2_run(6), cpu.clone()).unwrap();
    let want: Vec<f32> = (0..6).map(|_| full.step().unwrap().loss).collect();
    assert!(want.iter().all(|l| l.is_finite()), "{want:?}");
    let mut a = diffusion_lab::train::Trainer::new(folder2_run(6), cpu.clone()).unwrap();
    let mut got: Vec<f32> = (0..3).map(|_| a.step().unwrap().loss).collect();
    diffusion_lab::train::save_checkpoint(&a, &ck).unwrap();
    let mut b = diffusion_lab::train::load_checkpoint(&ck, cpu).unwrap();
    got.extend((0..3).map(|_| b.step().unwrap().loss));
    assert_eq!(
        got, want,
        "a resumed continuous-time run draws the same t and ε"
    );
    // The checkpoint keeps the log-SNR input: the reloaded network reads λ(t).
    let (config, _) = diffusion_lab::store::read_info(&ck).unwrap();
    assert_eq!(config.time_input, TimeInputKind::LogSnr);
}

/// 256 labelled MNIST digits, spread over the set (so every class is there).
fn digits() -> diffusion_lab::data::Dataset {
    DataSpec::Bundled {
        name: "mnist".into(),
        limit: 256,
    }
    .load()
    .unwrap()
}

#[test]
fn the_layer_learns_over_a_frozen_unet_and_round_trips() {
    let mut run = folder2_run(1);
    run.data = DataSpec::Bundled {
        name: "mnist".into(),
        limit: 256,
    };
    let data = digits();
    let classes: std::collections::BTreeSet<u32> = data.labels().unwrap().iter().copied().collect();
    assert_eq!(
        classes.len(),
        10,
        "`limit` keeps every class of the sorted set"
    );
    let unet_cfg = run.unet(1, 28);
    let unet = unet_cfg.init_seeded(&Device::flex(), 3);
    let cfg = LayerTrain {
        steps: 60,
        batch: 16,
        lr: 3e-3,
        width: 8,
        seed: 4,
    };
    let layer = train_add_layer(&unet, &run, "random", 0, &data, &cfg, &mut |_, _, l| {
        assert!(l.is_finite());
        true
    })
    .unwrap();
    let info = &layer.info;
    assert_eq!((info.classes, info.shape), (10, [1, 28, 28]));
    assert!(
        info.held_out_loss < info.unet_loss,
        "the layer lowers the frozen UNet's held-out v-loss: {} vs {}",
        info.held_out_loss,
        info.unet_loss
    );
    // The files round-trip, and each sample takes its own class's map.
    let dir = tempfile::tempdir().unwrap();
    layer.save(dir.path()).unwrap();
    let back = AddLayer::open(dir.path()).unwrap();
    let v = Rng::seed(5).normal_vec::<f32>(784);
    let twice: Vec<f32> = v.iter().chain(&v).copied().collect();
    let out = back.apply(&twice, &[3, 3]);
    assert!(
        out == layer.apply(&twice, &[3, 3]),
        "the saved layer gives the same output"
    );
    assert!(out[..784] == out[784..], "same v and class, same output");
    let other = back.apply(&twice, &[3, 7]);
    assert!(other[..784] != other[784..], "another class, another map");
    assert!(
        other[..784] == out[..784],
        "a sample's output depends on its class only"
    );
    // A truncated weights file is refused with its name.
    let w = dir.path().join("add_layer.weights.bpk");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
    let e = AddLayer::open(dir.path()).unwrap_err();
    assert!(e.contains("weights.bpk"), "{e}");
    // A step-conditioned ε model is refused: the layer steers velocities.
    let mut eps_run = run.clone();
    eps_run.train.target = Target::Eps;
    let e =
        train_add_layer(&unet, &eps_run, "eps", 0, &data, &cfg, &mut |_, _, _| true).unwrap_err();
    assert!(e.contains("not v"), "{e}");
}

#[test]
fn the_chains_fan_out_as_planned_with_real_networks() {
    let run = folder2_run(1);
    let table = run.schedule.table().unwrap();
    let unet = CpuUNet::from_unet(&run.unet(1, 28).init_seeded(&Device::flex(), 6));
    let layer = AddLayer {
        net: diffusion_lab::model::AddLayerNet::new([1, 28, 28], 10, 4, &AddLayer::device()),
        info: diffusion_lab::model::AddLayerInfo {
            shape: [1, 28, 28],
            classes: 10,
            width: 4,
            data: "mnist".into(),
            unet: "random".into(),
            unet_step: 0,
            train_steps: 0,
            held_out_loss: 0.0,
            unet_loss: 0.0,
            seed: 0,
        },
    };
    let nets = Nets {
        unet: &unet,
        layer: Some(&layer),
        table: &table,
        shape: [1, 28, 28],
        classes: 10,
    };
    let spec = |chain, images, steps, seed| ChainSpec {
        chain,
        images,
        steps,
        eta: 0.0,
        noise_degree: 0.01,
        seed,
        chunk: 16,
    };
    for chain in [Chain000::Folder2, Chain000::V1, Chain000::V2] {
        let out = run_chain(&nets, &spec(chain, 60, 4, 1), &|| false).unwrap();
        let x = out.images;
        assert_eq!(x.len(), 60 * 784, "{chain:?}");
        // Six of each class; v2's fan-outs tile the batch, so its classes interleave.
        let mut per_class = [0usize; 10];
        out.labels.iter().for_each(|&c| per_class[c] += 1);
        assert_eq!(
            per_class,
            if chain == Chain000::Folder2 {
                [0; 10]
            } else {
                [6; 10]
            }
        );
        if chain == Chain000::V2 {
            assert_eq!(out.labels[..12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        }
        assert!(x.iter().all(|v| v.is_finite()), "{chain:?}");
        // Seeded: the same chain again gives the same images.
        let again = run_chain(&nets, &spec(chain, 60, 4, 1), &|| false)
            .unwrap()
            .images;
        assert!(x == again, "{chain:?} is not reproducible");
    }
    // v2 starts from one noise image, fans it out to the 10 classes, then ×3 (N/10 = 3): the
    // first tile keeps the UNet's v, the two copies take layer(v + w·z), as the seed's code
    // does. With w = 0 the two copies of a class are the same image; the first tile is not.
    // (This layer is untrained: every class map is still the identity, so classes agree.)
    let mut s = spec(Chain000::V2, 30, 3, 2);
    s.noise_degree = 0.0;
    let x = run_chain(&nets, &s, &|| false).unwrap().images;
    let img = |i: usize| &x[i * 784..(i + 1) * 784];
    assert!(img(10) == img(20), "class 0's two copies");
    assert!(img(0) != img(10), "class 0's first tile and its copy");
    // Too few steps for v2's fan-out, and a cancelled chain.
    let e = run_chain(&nets, &spec(Chain000::V2, 1000, 4, 0), &|| false).unwrap_err();
    assert!(e.contains("more than 4 steps"), "{e}");
    let e = run_chain(&nets, &spec(Chain000::Folder2, 10, 3, 0), &|| true).unwrap_err();
    assert_eq!(e, "cancelled");
}
