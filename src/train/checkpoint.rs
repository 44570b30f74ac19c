//! Saving and resuming checkpoints: one folder with the full config, the weights, the EMA
//! weights, the optimiser state, the RNG state and the loss history (the layout is in
//! [`crate::store::checkpoint`], which reads them). Saved atomically: written to a sibling
//! temporary folder, then swapped in by renames, so a crash never leaves a half-written
//! checkpoint.

use super::trainer::{TrainError, Trainer, adam};
use crate::model::{DevicePick, UNet};
use crate::store::checkpoint::{
    CheckpointInfo, FORMAT_VERSION, LossHistory, load_weights, read, read_info,
};
use burn::module::Module;
use burn::tensor::Bytes;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

fn ck_err(what: &str, path: &Path, e: impl std::fmt::Display) -> TrainError {
    crate::store::checkpoint::ck_err(what, path, e).into()
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), TrainError> {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).map_err(|e| ck_err("cannot create", &p, e))?;
    f.write_all(bytes)
        .map_err(|e| ck_err("cannot write", &p, e))?;
    f.sync_all().map_err(|e| ck_err("cannot sync", &p, e))
}

fn losses_csv(h: &LossHistory) -> String {
    let mut s = String::from("step,loss,val_loss\n");
    let mut vals = h.val.iter().peekable();
    for &(step, loss) in &h.train {
        let mut val = String::new();
        while let Some(v) = vals.peek() {
            if v.step < step {
                vals.next();
            } else {
                if v.step == step {
                    val = format!("{:?}", v.mean);
                }
                break;
            }
        }
        s.push_str(&format!("{step},{loss:?},{val}\n"));
    }
    s
}

/// Saves `trainer` into the folder `dir`, atomically: refused (the checkpoint already there is
/// kept) when a weight, raw or EMA, is not finite; the new folder's `config.json` and
/// `state.json` are read back before it replaces the old one; and only a checkpoint folder or
/// an empty one is ever replaced.
pub fn save_checkpoint(trainer: &Trainer, dir: &Path) -> Result<(), TrainError> {
    let raw = trainer.raw_snapshot();
    let ema = trainer.ema_snapshot();
    for (what, ok) in [
        ("weights", crate::model::weights_finite(&raw)),
        ("EMA weights", crate::model::weights_finite(&ema)),
    ] {
        if !ok {
            return Err(TrainError::Checkpoint(format!(
                "the {what} are not finite (NaN or inf) at step {}; not saved, the last good \
                 checkpoint (if any) is kept: {}",
                trainer.step,
                dir.display()
            )));
        }
    }
    crate::store::checkpoint::check_out_dir(dir).map_err(TrainError::Checkpoint)?;
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| ck_err("cannot create folder", parent, e))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| ck_err("cannot create folder", &tmp, e))?;
    let result = (|| {
        write_file(&tmp, "config.json", to_json(&trainer.config)?.as_bytes())?;
        let info = CheckpointInfo {
            format_version: FORMAT_VERSION,
            step: trainer.step,
            image_shape: trainer.image_shape(),
            rng: trainer.rng.clone(),
            lr_override: trainer.lr_override,
            history: trainer.history.clone(),
            device: trainer.pick.label.clone(),
            t_sampler: trainer.t_sampler.clone(),
        };
        write_file(&tmp, "state.json", to_json(&info)?.as_bytes())?;
        let rec = |m: UNet, what: &str| {
            m.into_record()
                .into_bytes()
                .map_err(|e| ck_err(&format!("cannot encode {what}"), &tmp, e))
        };
        write_file(&tmp, "model.bpk", &rec(raw, "weights")?)?;
        write_file(&tmp, "ema.bpk", &rec(ema, "EMA weights")?)?;
        let optim = trainer
            .optim_snapshot()
            .into_bytes()
            .map_err(|e| ck_err("cannot encode optimiser", &tmp, e))?;
        write_file(&tmp, "optim.bpk", &optim)?;
        write_file(&tmp, "losses.csv", losses_csv(&trainer.history).as_bytes())?;
        // Never swap in a checkpoint that cannot be read back.
        read_info(&tmp).map_err(|e| {
            TrainError::Checkpoint(format!(
                "the new checkpoint does not read back ({e}); the old one is kept: {}",
                dir.display()
            ))
        })?;
        swap_in(&tmp, dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Replaces `dir` by `tmp`: the old checkpoint is kept until the new one is in place.
fn swap_in(tmp: &Path, dir: &Path) -> Result<(), TrainError> {
    let old: PathBuf = dir.with_extension(format!("old-{}", std::process::id()));
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &old)
            .map_err(|e| ck_err("cannot move the old checkpoint aside", dir, e))?;
    }
    if let Err(e) = std::fs::rename(tmp, dir) {
        if had_old {
            let _ = std::fs::rename(&old, dir);
        }
        return Err(ck_err("cannot move the new checkpoint in place", dir, e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

fn to_json<T: Serialize>(v: &T) -> Result<String, TrainError> {
    serde_json::to_string_pretty(v)
        .map_err(|e| TrainError::Checkpoint(format!("cannot encode JSON: {e}")))
}

/// Loads a checkpoint to resume training on `pick`'s device, with the engine it was saved
/// with.
pub fn load_checkpoint(dir: &Path, pick: DevicePick) -> Result<Trainer, TrainError> {
    load_checkpoint_with(dir, pick, None)
}

/// Loads a checkpoint to resume training on `pick`'s device, on `engine` when given (a run
/// saved by one engine continues on the other: the weights and Adam's state are burn's on
/// both).
pub fn load_checkpoint_with(
    dir: &Path,
    pick: DevicePick,
    engine: Option<crate::model::TrainEngine>,
) -> Result<Trainer, TrainError> {
    let (mut config, info) = read_info(dir)?;
    if let Some(e) = engine {
        config.train.engine = e;
    }
    let mut trainer = Trainer::new(config, pick)?;
    if trainer.image_shape() != info.image_shape {
        return Err(ck_err(
            "the data no longer matches the checkpoint",
            dir,
            format!(
                "images are {:?}, the checkpoint has {:?}",
                trainer.image_shape(),
                info.image_shape
            ),
        ));
    }
    // The native engine's state was built from the weights being replaced.
    trainer.native_state = None;
    trainer.model = load_weights(trainer.model.clone(), dir, "model.bpk")?;
    trainer.ema = load_weights(trainer.ema.clone(), dir, "ema.bpk")?;
    for (name, ok) in [
        (
            "model.bpk",
            crate::model::weights_finite(&trainer.model.valid()),
        ),
        ("ema.bpk", crate::model::weights_finite(&trainer.ema)),
    ] {
        if !ok {
            return Err(ck_err(
                "cannot resume",
                &dir.join(name),
                "the weights hold NaN or inf",
            ));
        }
    }
    let optim_bytes = Bytes::from_bytes_vec(read(dir, "optim.bpk")?);
    trainer.optim = adam(&trainer.config)
        .init()
        .from_bytes(optim_bytes)
        .map_err(|e| {
            ck_err(
                "optim.bpk is corrupt or truncated",
                &dir.join("optim.bpk"),
                e,
            )
        })?;
    trainer.step = info.step;
    trainer.rng = info.rng;
    trainer.lr_override = info.lr_override;
    trainer.history = info.history;
    if trainer.t_sampler.is_some() {
        // A history that does not fit the schedule starts again (uniform until it fills).
        if let Some(s) = info
            .t_sampler
            .filter(|s| s.is_valid_for(trainer.table.steps()))
        {
            trainer.t_sampler = Some(s);
        }
    }
    Ok(trainer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::{DataSpec, ModelSize, RunConfig, TrainConfig};
    use crate::diffusion::ScheduleSpec;
    use crate::model::{DeviceChoice, pick_device, weights_finite};
    use burn::module::{ModuleMapper, Param};
    use burn::tensor::Tensor;

    struct Poison;

    impl ModuleMapper for Poison {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.mul_scalar(f32::NAN))
        }
    }

    fn tiny_trainer() -> Trainer {
        let config = RunConfig {
            name: "test".into(),
            data: DataSpec::Triangles {
                prep: "binary".into(),
                count: 16,
                size: 16,
                seed: 1,
            },
            schedule: ScheduleSpec {
                steps: 50,
                ..ScheduleSpec::default()
            },
            model_size: ModelSize::Tiny,
            model: None,
            num_classes: 0,
            rescale_timesteps: Some(true),
            time_input: Default::default(),
            train: TrainConfig {
                steps: 1,
                batch: 2,
                val_every: 0,
                preview_every: 0,
                checkpoint_every: 0,
                device: DeviceChoice::Cpu,
                ..TrainConfig::default()
            },
        };
        Trainer::new(config, pick_device(DeviceChoice::Cpu)).expect("tiny trainer")
    }

    #[test]
    fn non_finite_weights_are_never_saved_and_the_last_good_checkpoint_stays() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let mut trainer = tiny_trainer();
        save_checkpoint(&trainer, &out).unwrap();
        let good = std::fs::read(out.join("ema.bpk")).unwrap();
        trainer.step = 5;

        let ema = trainer.ema.clone();
        trainer.ema = trainer.ema.clone().map(&mut Poison);
        let err = save_checkpoint(&trainer, &out).unwrap_err().to_string();
        assert!(err.contains("EMA weights are not finite"), "{err}");
        assert!(err.contains(&out.display().to_string()), "{err}");

        trainer.ema = ema;
        trainer.model = trainer.model.clone().map(&mut Poison);
        let err = save_checkpoint(&trainer, &out).unwrap_err().to_string();
        assert!(err.contains("weights are not finite"), "{err}");

        let (_, info) = read_info(&out).unwrap();
        assert_eq!(info.step, 0, "the good checkpoint is kept");
        assert_eq!(std::fs::read(out.join("ema.bpk")).unwrap(), good);
        let device = burn::tensor::Device::default();
        let (_, _, raw, ema) = crate::store::load_for_inference(&out, &device).unwrap();
        assert!(weights_finite(&raw) && weights_finite(&ema));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary folder left behind");
    }

    #[test]
    fn save_never_replaces_a_folder_that_is_not_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mine");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let err = save_checkpoint(&tiny_trainer(), &out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a checkpoint folder"), "{err}");
        assert_eq!(
            std::fs::read_to_string(out.join("notes.txt")).unwrap(),
            "mine"
        );
    }
}
