//! Reading checkpoint folders: the run's config, its state (step, RNG, loss history) and its
//! weights for sampling. Writing them is training's job (`crate::train::save_checkpoint`).
//!
//! | file | content |
//! |---|---|
//! | `config.json` | the [`RunConfig`] |
//! | `state.json` | step, RNG, image shape, live lr, loss history |
//! | `model.bpk`, `ema.bpk` | raw and EMA weights (burnpack) |
//! | `optim.bpk` | Adam's moments |
//! | `losses.csv` | step, loss, validation loss where measured |

use crate::config::RunConfig;
use crate::diffusion::Rng;
use crate::model::UNet;
use burn::module::Module;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The layout version of a checkpoint folder this app writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// A checkpoint folder that cannot be read or written; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint: {0}")]
pub struct CheckpointError(pub String);

/// One validation measurement over the held-out split.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValPoint {
    /// The training step.
    pub step: usize,
    /// Mean of the per-batch losses.
    #[serde(with = "json_f32")]
    pub mean: f32,
    /// Smallest per-batch loss.
    #[serde(with = "json_f32")]
    pub min: f32,
    /// Largest per-batch loss.
    #[serde(with = "json_f32")]
    pub max: f32,
}

/// Every loss recorded so far. Non-finite values (an empty t bucket is NaN) are written as
/// the strings `"NaN"`, `"inf"` and `"-inf"`, so `state.json` always reads back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "HistoryJson", into = "HistoryJson")]
pub struct LossHistory {
    /// (step, training loss).
    pub train: Vec<(usize, f32)>,
    /// Validation points.
    pub val: Vec<ValPoint>,
    /// Mean loss per t bucket, one row per `bucket_every` steps: (step, losses per bucket).
    pub by_t: Vec<(usize, Vec<f32>)>,
}

/// JSON numbers for `f32` that survive NaN and ±inf: those are written as strings, and read
/// back from those strings, or from `null` (what older versions wrote for them) as NaN.
pub mod json_f32 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// An `f32` in JSON, non-finite values included.
    #[derive(Clone, Copy, Debug)]
    pub struct F(pub f32);

    impl Serialize for F {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize(&self.0, s)
        }
    }

    impl<'de> Deserialize<'de> for F {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d).map(F)
        }
    }

    /// Writes `v`: a number, or `"NaN"`, `"inf"`, `"-inf"`.
    pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v.is_infinite() {
            s.serialize_str(if *v > 0.0 { "inf" } else { "-inf" })
        } else {
            s.serialize_f32(*v)
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f32),
        Text(String),
        Null,
    }

    /// Reads a number, one of those strings, or `null` (NaN).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(v),
            Repr::Null => Ok(f32::NAN),
            Repr::Text(t) => match t.as_str() {
                "NaN" | "nan" => Ok(f32::NAN),
                "inf" | "+inf" | "Infinity" => Ok(f32::INFINITY),
                "-inf" | "-Infinity" => Ok(f32::NEG_INFINITY),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, \"NaN\", \"inf\" or \"-inf\", got \"{other}\""
                ))),
            },
        }
    }
}

/// [`LossHistory`] as written to JSON.
#[derive(Serialize, Deserialize)]
struct HistoryJson {
    train: Vec<(usize, json_f32::F)>,
    val: Vec<ValPoint>,
    by_t: Vec<(usize, Vec<json_f32::F>)>,
}

impl From<HistoryJson> for LossHistory {
    fn from(h: HistoryJson) -> Self {
        Self {
            train: h.train.into_iter().map(|(s, v)| (s, v.0)).collect(),
            val: h.val,
            by_t: h
                .by_t
                .into_iter()
                .map(|(s, row)| (s, row.into_iter().map(|v| v.0).collect()))
                .collect(),
        }
    }
}

impl From<LossHistory> for HistoryJson {
    fn from(h: LossHistory) -> Self {
        Self {
            train: h
                .train
                .into_iter()
                .map(|(s, v)| (s, json_f32::F(v)))
                .collect(),
            val: h.val,
            by_t: h
                .by_t
                .into_iter()
                .map(|(s, row)| (s, row.into_iter().map(json_f32::F).collect()))
                .collect(),
        }
    }
}

/// The non-weight state of a checkpoint (`state.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// Layout version of the folder.
    pub format_version: u32,
    /// Steps completed.
    pub step: usize,
    /// [C, H, W] of the training images.
    pub image_shape: [usize; 3],
    /// The batch RNG, so a resumed run draws the same batches.
    pub rng: Rng,
    /// The live learning rate, if the user changed it.
    pub lr_override: Option<f64>,
    /// Every loss so far.
    pub history: LossHistory,
    /// The device the run trained on (informational).
    pub device: String,
    /// The L_t history of importance-sampled t (`train.t_sampling = "importance"`), so a
    /// resumed run draws the same t.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_sampler: Option<crate::diffusion::ImportanceSampler>,
}

/// An error about `path`: what went wrong, why, then the path.
pub fn ck_err(what: &str, path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError(format!("{what}: {e}: {}", path.display()))
}

/// Whether `dir` is a checkpoint folder: a folder (not a link) with `config.json` and
/// `state.json`.
pub fn is_checkpoint_dir(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
        && dir.join("config.json").is_file()
        && dir.join("state.json").is_file()
}

/// What is at a path that training would write its checkpoint folder to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutDir {
    /// Nothing, or an empty folder: free to use.
    Free,
    /// A checkpoint folder: replaced only when the user asked for it.
    Checkpoint,
}

/// Checks that `dir` may take a checkpoint folder without losing anything that is not a
/// checkpoint: a new path, an empty folder or a checkpoint folder. Anything else (a file, a
/// link, a folder with other things in it) is refused with a message naming the path.
pub fn check_out_dir(dir: &Path) -> Result<OutDir, String> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OutDir::Free),
        Err(e) => return Err(format!("cannot inspect {}: {e}", dir.display())),
    };
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{} is a symbolic link; refusing to replace it with a checkpoint folder",
            dir.display()
        ));
    }
    if !meta.is_dir() {
        return Err(format!(
            "{} exists and is not a folder; refusing to replace it with a checkpoint folder",
            dir.display()
        ));
    }
    if is_checkpoint_dir(dir) {
        return Ok(OutDir::Checkpoint);
    }
    let empty = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .next()
        .is_none();
    if empty {
        Ok(OutDir::Free)
    } else {
        Err(format!(
            "{} exists and is not a checkpoint folder (no config.json and state.json); \
             refusing to replace it",
            dir.display()
        ))
    }
}

/// Reads the file `name` of the folder `dir`.
pub fn read(dir: &Path, name: &str) -> Result<Vec<u8>, CheckpointError> {
    let p = dir.join(name);
    std::fs::read(&p).map_err(|e| ck_err(&format!("cannot read {name}"), &p, e))
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<T, CheckpointError> {
    let p = dir.join(name);
    let bytes = read(dir, name)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ck_err(&format!("{name} is corrupt or truncated"), &p, e))
}

/// Reads the config and state of a checkpoint folder.
pub fn read_info(dir: &Path) -> Result<(RunConfig, CheckpointInfo), CheckpointError> {
    if !dir.is_dir() {
        return Err(ck_err("not a checkpoint folder", dir, "no such folder"));
    }
    let config: RunConfig = read_json(dir, "config.json")?;
    let info: CheckpointInfo = read_json(dir, "state.json")?;
    if info.format_version != FORMAT_VERSION {
        return Err(ck_err(
            "unsupported checkpoint version",
            dir,
            format!("{} (this app reads {FORMAT_VERSION})", info.format_version),
        ));
    }
    Ok((config, info))
}

/// Loads the weights file `name` of `dir` into `model`.
pub fn load_weights(model: UNet, dir: &Path, name: &str) -> Result<UNet, CheckpointError> {
    let p = dir.join(name);
    let bytes = Bytes::from_bytes_vec(read(dir, name)?);
    // A shipped model's weights are f16 (`to_half_precision`): cast them to the model's dtype.
    let record = burn::store::ModuleRecord::from_bytes(bytes)
        .map_err(|e| ck_err(&format!("{name} is corrupt or truncated"), &p, e))?
        .cast_to_module_dtype();
    let classes = model.num_classes();
    model.try_load_record(record).map_err(|e| {
        let text = e.to_string();
        // The class table is the only difference between the two kinds of model: name both.
        if text.contains("label_emb") {
            let (weights, config) = if classes == 0 {
                (
                    "a class-conditional model (it has a class embedding)".to_string(),
                    "an unconditional model (num_classes = 0)".to_string(),
                )
            } else {
                (
                    "an unconditional model (no class embedding)".to_string(),
                    format!("a class-conditional model (num_classes = {classes})"),
                )
            };
            return ck_err(
                &format!("{name} holds {weights}, but config.json describes {config}"),
                &p,
                text,
            );
        }
        ck_err(
            &format!("{name} does not match the model in config.json"),
            &p,
            text,
        )
    })
}

/// Loads the EMA weights of checkpoint `dir` into `model` for fine-tuning: the parameters
/// both have are copied (their shapes must agree), and a class table that the checkpoint
/// lacks (an unconditional model fine-tuned into a conditional one) starts at zero.
pub fn load_for_finetune(model: UNet, dir: &Path) -> Result<UNet, CheckpointError> {
    let name = "ema.bpk";
    let p = dir.join(name);
    let bytes = Bytes::from_bytes_vec(read(dir, name)?);
    let record = burn::store::ModuleRecord::from_bytes(bytes)
        .map_err(|e| ck_err(&format!("{name} is corrupt or truncated"), &p, e))?
        .cast_to_module_dtype()
        .allow_partial(true);
    let had_table = model.num_classes() > 0;
    let before = model.clone();
    let loaded = model.try_load_record(record).map_err(|e| {
        ck_err(
            &format!("{name} does not fit the model being trained (a different size?)"),
            &p,
            e,
        )
    })?;
    Ok(if had_table && loaded.same_class_table(&before) {
        loaded.zero_class_table()
    } else {
        loaded
    })
}

/// Rewrites checkpoint `dir`'s EMA weights (`ema.bpk`, what sampling uses) in half precision,
/// atomically: half the file, and the same samples to the eye and to the metrics (BENCHMARKS,
/// "f16 weights"). The raw weights and the optimiser state, which a resume needs, are left as
/// they are. Returns the file's size before and after.
pub fn write_ema_half(dir: &Path) -> Result<(u64, u64), CheckpointError> {
    let name = "ema.bpk";
    let p = dir.join(name);
    let before = std::fs::metadata(&p)
        .map_err(|e| ck_err(&format!("cannot read {name}"), &p, e))?
        .len();
    let (_, _, _, ema) = load_for_inference(dir, &Device::flex())?;
    let bytes = crate::model::to_half_precision(ema)
        .into_record()
        .into_bytes()
        .map_err(|e| ck_err("cannot encode the EMA weights", &p, e))?;
    crate::fs::write_atomic(&p, |w| std::io::Write::write_all(w, &bytes))
        .map_err(|e| ck_err(&format!("cannot write {name}"), &p, e))?;
    Ok((before, bytes.len() as u64))
}

/// Loads a checkpoint's weights for sampling only: (config, state, raw model, EMA model).
pub fn load_for_inference(
    dir: &Path,
    device: &Device,
) -> Result<(RunConfig, CheckpointInfo, UNet, UNet), CheckpointError> {
    let (config, info) = read_info(dir)?;
    let [c, h, _] = info.image_shape;
    let unet = config.unet(c, h);
    unet.validate()
        .map_err(|e| ck_err("config.json has an invalid model", dir, e))?;
    let ema = load_weights(unet.init(device), dir, "ema.bpk")?;
    // A shipped model may carry only its EMA weights; the raw weights are then the same.
    let raw = if dir.join("model.bpk").exists() {
        load_weights(unet.init(device), dir, "model.bpk")?
    } else {
        ema.clone()
    };
    Ok((config, info, raw, ema))
}
