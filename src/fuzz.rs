//! The fuzz targets (#18): one function per loader that reads what a user can hand the app.
//! Each takes arbitrary bytes and must return, whatever they are: an error is fine, a panic,
//! an abort or a hang is a bug. The coverage-guided fuzzer (`tests/fuzz/`, libFuzzer) calls
//! them, and the core tests replay the committed corpus through them (`tests/core/fuzz.rs`).
//!
//! Loaders that take a path get the bytes through a scratch folder of this process.

use crate::config::Preset;
use crate::diffusion::SamplerPlan;
use crate::diffusion::schedule::CustomExpr;
use std::path::{Path, PathBuf};

/// A fuzz target: takes any bytes, must return.
pub type Target = fn(&[u8]);

/// The targets, by name (the fuzzer's binaries and the corpus folders use these names).
pub const TARGETS: &[(&str, Target)] = &[
    ("preset", preset),
    ("checkpoint", checkpoint),
    ("npy", npy),
    ("image", image),
    ("run_card", run_card),
    ("expr", expr),
];

/// A scratch folder of this process (and thread), created once.
fn scratch() -> PathBuf {
    std::thread_local! {
        static DIR: PathBuf = {
            let d = std::env::temp_dir().join(format!(
                "diffusion-lab-fuzz-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::create_dir_all(&d);
            d
        };
    }
    DIR.with(Clone::clone)
}

fn put(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    let _ = std::fs::write(&p, data);
    p
}

/// A preset file: parsed, validated, turned into a run config, and its shown schedules'
/// tables built.
pub fn preset(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = Preset::from_toml(text) else {
        return;
    };
    let _ = p.validate();
    for s in p.shown_schedules() {
        let _ = s.table();
    }
    let config = p.run_config();
    let _ = config.train.validate();
    let _ = config.schedule.table();
}

/// A checkpoint folder (the bundled tiny model's) with one file replaced by the bytes after
/// the first: `config.json`, `state.json` or the weights (`model.bpk` and `ema.bpk`), picked
/// by the first byte.
pub fn checkpoint(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let dir = scratch().join("checkpoint");
    if tiny_checkpoint(&dir).is_none() {
        return;
    }
    match which % 3 {
        0 => {
            put(&dir, "config.json", rest);
        }
        1 => {
            put(&dir, "state.json", rest);
        }
        _ => {
            put(&dir, "model.bpk", rest);
            put(&dir, "ema.bpk", rest);
        }
    }
    if crate::store::checkpoint::read_info(&dir).is_err() {
        return;
    }
    let pick = crate::model::pick_device(crate::model::DeviceChoice::Cpu);
    let _ = crate::store::load_for_inference(&dir, &pick.device);
}

/// Copies the bundled tiny model's files into `dir` (every run starts from the good files).
fn tiny_checkpoint(dir: &Path) -> Option<()> {
    let src = crate::store::bundled_dir("mnist-tiny")?;
    std::fs::create_dir_all(dir).ok()?;
    for name in ["config.json", "state.json", "model.bpk", "ema.bpk"] {
        let from = src.join(name);
        if from.is_file() {
            std::fs::copy(from, dir.join(name)).ok()?;
        }
    }
    Some(())
}

/// A `.npy` file, read as a data set and as a file of samples.
pub fn npy(data: &[u8]) {
    let p = put(&scratch(), "x.npy", data);
    let _ = crate::data::read_npy(&p);
    let _ = crate::data::read_npy_samples(&p);
}

/// An image file, and a folder holding it beside a good image, loaded as 28×28 data.
pub fn image(data: &[u8]) {
    use crate::data::{ColorMode, load_images};
    let dir = scratch().join("images");
    let _ = std::fs::create_dir_all(&dir);
    let p = put(&dir, "b.png", data);
    let _ = load_images(&[&p], 28, ColorMode::Gray);
    let _ = load_images(&[&p], 8, ColorMode::Rgb);
    let good = dir.join("a.png");
    if !good.is_file() {
        let img = image::RgbImage::from_pixel(4, 3, image::Rgb([200, 10, 10]));
        let _ = img.save(&good);
    }
    let _ = load_images(&[&dir], 16, ColorMode::Gray);
}

/// A run card: read, then its schedule's table and its sampler's plan built.
pub fn run_card(data: &[u8]) {
    let p = put(&scratch(), "card.json", data);
    let Ok(card) = crate::sampling::export::RunCard::read(&p) else {
        return;
    };
    if let Ok(table) = card.schedule.table() {
        let _ = SamplerPlan::new(&table, card.sampler);
    }
}

/// A custom β(u) expression: parsed, then evaluated over u ∈ [0, 1].
pub fn expr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(e) = CustomExpr::parse(text) else {
        return;
    };
    for k in 0..=16 {
        let _ = e.eval(f64::from(k) / 16.0);
    }
}
