//! Seed 000 on the command line: `diffusion-lab add-layer` trains Folder_3's additional layer,
//! and `diffusion-lab study` on a preset with a `[seed000]` table runs the seed's table.

use super::{CliError, io_err};
use crate::cli::progress::Progress;
use crate::config::{Preset, Seed000Plan};
use crate::metrics::seed000::{self as table, Models000, cell_order, markdown, summarize};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `diffusion-lab add-layer`.
#[derive(Debug, Args)]
pub struct AddLayerArgs {
    /// A preset with a `[seed000]` table: its `folder2` is the frozen UNet, its
    /// `[seed000.layer_train]` the settings.
    #[arg(long, value_name = "presets/NAME.toml")]
    pub preset: PathBuf,
    /// The frozen UNet's folder (overrides `seed000.folder2`).
    #[arg(long, value_name = "DIR")]
    pub unet: Option<String>,
    /// The model folder to write `add_layer.weights.bpk` and `add_layer.info.json` into
    /// (default: the UNet's folder, unless it is a bundled model).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Optimiser steps (overrides the preset).
    #[arg(long)]
    pub steps: Option<usize>,
}

fn load_plan(path: &Path) -> Result<(Preset, Seed000Plan), CliError> {
    let preset = Preset::load(path).map_err(CliError::usage)?;
    let plan = preset.seed000.clone().ok_or_else(|| {
        CliError::usage(format!(
            "preset {} has no [seed000] table (see presets/seed000.toml)",
            path.display()
        ))
    })?;
    Ok((preset, plan))
}

/// Runs `diffusion-lab add-layer`.
pub fn run_add_layer(a: &AddLayerArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let (_, mut plan) = load_plan(&a.preset)?;
    if let Some(s) = a.steps {
        plan.layer_train.steps = s;
    }
    plan.validate().map_err(CliError::usage)?;
    let unet_spec = a.unet.clone().unwrap_or_else(|| plan.folder2.clone());
    let dest = match &a.out {
        Some(d) => d.clone(),
        None if unet_spec.starts_with("bundled:") => {
            return Err(CliError::usage(format!(
                "the UNet is the bundled model {unet_spec}; give --out DIR for the layer"
            )));
        }
        None => PathBuf::from(&unet_spec),
    };
    let dir = crate::store::resolve_model_dir(&unet_spec).map_err(CliError::usage)?;
    let (config, info, _raw, ema) =
        crate::store::load_for_inference(&dir, &burn::tensor::Device::flex())
            .map_err(|e| CliError::usage(e.to_string()))?;
    let data = config.data.load().map_err(CliError::usage)?;
    let mut bar = Progress::new("add-layer", "steps");
    let layer = crate::train::add_layer::train_add_layer(
        &ema,
        &config,
        &unet_spec,
        info.step,
        &data,
        &plan.layer_train,
        &mut |step, total, loss| {
            bar.update(step, total, &format!("loss {loss:.4}"));
            crate::signals::requested().is_none()
        },
    )
    .map_err(CliError::usage)?;
    bar.finish();
    if !dest.exists() {
        std::fs::create_dir_all(&dest)
            .map_err(|e| CliError::failure(format!("cannot create {}: {e}", dest.display())))?;
    }
    layer.save(&dest).map_err(CliError::failure)?;
    writeln!(
        out,
        "additional layer on {unet_spec} ({} classes, {} steps): held-out v-loss {:.4} (the \
         frozen UNet alone: {:.4}); written to {}",
        layer.info.classes,
        layer.info.train_steps,
        layer.info.held_out_loss,
        layer.info.unet_loss,
        dest.display()
    )
    .map_err(io_err)
}

/// Runs seed 000's table for `study --preset` on a preset with `[seed000]`; writes
/// `seed000-cells.csv`, `seed000.csv` and `seed000.md` into `dir` after every chain, so an
/// interrupted run keeps what it measured.
pub fn run_table(
    preset_path: &Path,
    seeds: Option<usize>,
    dir: &Path,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (_, mut plan) = load_plan(preset_path)?;
    if let Some(s) = seeds {
        plan.seeds = s;
    }
    plan.validate().map_err(CliError::usage)?;
    let models = Models000::load(&plan).map_err(CliError::usage)?;
    let order = cell_order(&plan);
    eprintln!(
        "seed 000's table on {}: steps {:?} × N {:?} × 4 columns × {} seeds = {} chains, on \
         the {}; into {}",
        models.data,
        plan.steps,
        plan.images,
        plan.seeds,
        order.len(),
        table::device_label(),
        dir.display()
    );
    crate::signals::install();
    let cancel = || crate::signals::requested().is_some();
    let mut bar = Progress::new("seed000", "chains");
    let (cells, cancelled) =
        table::run_table(&plan, &models, dir, &cancel, &mut |k, total, c, _| {
            bar.update(
                k,
                total,
                &format!(
                    "{} S={} N={} seed {}: IS {:.2}, {:.2} s",
                    c.chain.name(),
                    c.steps,
                    c.images,
                    c.seed,
                    c.is,
                    c.seconds
                ),
            );
        })
        .map_err(CliError::usage)?;
    if cancelled {
        let sig = crate::signals::requested().unwrap_or(2);
        return Err(CliError {
            code: crate::signals::exit_code(sig),
            message: format!(
                "stopped by {}; the {} chains measured so far are kept in {}",
                crate::signals::name(sig),
                cells.len(),
                dir.display()
            ),
        });
    }
    bar.finish();
    write!(out, "{}", markdown(&summarize(&cells))).map_err(io_err)?;
    writeln!(
        out,
        "IS on the app's {} classifier (not comparable with Inception IS); seconds to make the \
         N images on the {}. seed000.csv, seed000-cells.csv and seed000.md in {}",
        models.data,
        table::device_label(),
        dir.display()
    )
    .map_err(io_err)
}
