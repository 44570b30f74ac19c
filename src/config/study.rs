//! A preset's description of a set of runs (`[study]`: schedules × data preparations × seeds)
//! and of a sampler sweep (`[grid]`: DDIM η × steps). The runner that trains a study lives in
//! the runs module; this file only holds the schema, so presets can be checked on load.

use super::run::{DataSpec, RunConfig};
use crate::diffusion::ScheduleSpec;
use serde::{Deserialize, Deserializer, Serialize};

/// `[study]`: every schedule × preparation × seed, trained in turn (seed 003 §5–6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Study {
    /// The schedules to compare, each a full `[schedule]` table (`kind`, `steps`, `beta_start`,
    /// …). Empty: the preset's own `[schedule]` only.
    pub schedules: Vec<ScheduleSpec>,
    /// The data variants: a triangle preparation ("direct", "downsampled", "binary"; the
    /// preset's triangle count, size and seed are kept), a bundled dataset name ("mnist"), or a
    /// full `[data]` table. Empty: the preset's own `[data]` only.
    pub preps: Vec<StudyData>,
    /// The training seeds, one run (and one strip row) each. Written as a list (`[0, 1, 2]`) or
    /// as a count (`5` means seeds 0..5).
    #[serde(deserialize_with = "seeds_list_or_count")]
    pub seeds: Vec<u64>,
    /// Epochs per run (one epoch is `steps_per_epoch` optimiser steps).
    pub epochs: usize,
    /// Steps per epoch; absent: one pass over the training split, ⌈n / batch⌉ steps.
    pub steps_per_epoch: Option<usize>,
    /// Columns of each run's reverse-chain strip (x_T … x₀); absent: the runner's default (10).
    pub strip_columns: Option<usize>,
    /// Steps of the strip's sampler (DDIM); absent: ancestral DDPM over all T, as seed 003.
    pub strip_steps: Option<usize>,
    /// Linear-schedule runs train `epochs` × this (seed 003: 190 epochs for linear, 100 for
    /// the others, so 1.9); absent: 1.
    pub linear_epoch_scale: Option<f64>,
}

impl Default for Study {
    fn default() -> Self {
        Self {
            schedules: Vec::new(),
            preps: Vec::new(),
            seeds: (0..5).collect(),
            epochs: 10,
            steps_per_epoch: None,
            strip_columns: None,
            strip_steps: None,
            linear_epoch_scale: None,
        }
    }
}

/// One entry of `study.preps`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StudyData {
    /// A triangle preparation or a bundled dataset, by name.
    Name(String),
    /// A full `[data]` table.
    Spec(DataSpec),
}

impl StudyData {
    /// The data this entry means, given the preset's own `[data]`.
    pub fn resolve(&self, base: &DataSpec) -> DataSpec {
        match self {
            StudyData::Spec(d) => d.clone(),
            StudyData::Name(n) if ["direct", "downsampled", "binary"].contains(&n.as_str()) => {
                match base {
                    DataSpec::Triangles {
                        count, size, seed, ..
                    } => DataSpec::Triangles {
                        prep: n.clone(),
                        count: *count,
                        size: *size,
                        seed: *seed,
                    },
                    _ => DataSpec::Triangles {
                        prep: n.clone(),
                        count: 10_000,
                        size: 32,
                        seed: 3,
                    },
                }
            }
            StudyData::Name(n) => DataSpec::Bundled {
                name: n.clone(),
                limit: 0,
            },
        }
    }
}

fn seeds_list_or_count<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seeds {
        Count(u64),
        List(Vec<u64>),
    }
    match Seeds::deserialize(d)? {
        Seeds::Count(n) => Ok((0..n).collect()),
        Seeds::List(v) => Ok(v),
    }
}

/// One run of a study: its label and complete config.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyRun {
    /// "schedule / data / seed N", for legends and folder names.
    pub label: String,
    /// The run's config (schedule, data and seed replaced; `name` extended by the label).
    pub config: RunConfig,
}

impl Study {
    /// Checks the study; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.seeds.is_empty() {
            return Err("study.seeds must list at least one seed".into());
        }
        if self.epochs == 0 {
            return Err("study.epochs must be ≥ 1".into());
        }
        for (i, s) in self.schedules.iter().enumerate() {
            s.table()
                .map_err(|e| format!("study.schedules[{}]: {e}", i + 1))?;
        }
        Ok(())
    }

    /// Every run of the study, schedules outermost, then data, then seeds.
    pub fn runs(&self, base: &RunConfig) -> Vec<StudyRun> {
        let schedules = if self.schedules.is_empty() {
            vec![base.schedule.clone()]
        } else {
            self.schedules.clone()
        };
        let data: Vec<DataSpec> = if self.preps.is_empty() {
            vec![base.data.clone()]
        } else {
            self.preps.iter().map(|p| p.resolve(&base.data)).collect()
        };
        let mut runs = Vec::new();
        for s in &schedules {
            for d in &data {
                for &seed in &self.seeds {
                    let label = format!("{} / {} / seed {seed}", schedule_label(s), d.label());
                    let mut config = base.clone();
                    config.schedule = s.clone();
                    config.data = d.clone();
                    config.train.seed = seed;
                    config.name = format!("{} · {label}", base.name);
                    runs.push(StudyRun { label, config });
                }
            }
        }
        runs
    }
}

/// A short name for a schedule: "linear", "power 1.5", "sine ×2", "cosine".
pub fn schedule_label(s: &ScheduleSpec) -> String {
    use crate::diffusion::ScheduleKind as K;
    match s.kind {
        K::Power => format!("power {}", s.power),
        K::Sine if s.waves > 1 => format!("sine ×{}", s.waves),
        K::Sine => "sine".into(),
        K::Linear => "linear".into(),
        K::ScaledLinear => "scaled-linear".into(),
        K::Cosine => "cosine".into(),
        K::Sigmoid => "sigmoid".into(),
        K::Custom => format!("custom {}", s.expr),
        K::VDiffusion => "v-diffusion".into(),
    }
}

/// `[grid]`: a DDIM η × steps sweep on one model, one sample-quality number per cell (the shape
/// of seed 001's FID table, Song et al. Table 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grid {
    /// The η values (rows); 0 is deterministic DDIM, 1 is DDPM-like.
    pub etas: Vec<f64>,
    /// The step counts S (columns).
    pub steps: Vec<usize>,
    /// Add the σ̂ row (strided DDPM with σ̂ = √(1 − ᾱ_t/ᾱ_{t′}), larger than η = 1).
    pub sigma_hat: bool,
    /// How every row picks its S timesteps.
    pub spacing: crate::diffusion::Spacing,
    /// Clip x̂₀ to [−1, 1] at every step.
    pub clip: bool,
}

impl Default for Grid {
    fn default() -> Self {
        Self {
            etas: vec![0.0, 0.2, 0.5, 1.0],
            steps: vec![10, 20, 50, 100],
            sigma_hat: false,
            spacing: crate::diffusion::Spacing::Trailing,
            clip: true,
        }
    }
}

impl Grid {
    /// Checks the grid; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if (self.etas.is_empty() && !self.sigma_hat) || self.steps.is_empty() {
            return Err("grid.etas (or grid.sigma_hat) and grid.steps must not be empty".into());
        }
        if let Some(e) = self.etas.iter().find(|e| !(e.is_finite() && **e >= 0.0)) {
            return Err(format!("grid.etas must be ≥ 0, got {e}"));
        }
        if self.steps.contains(&0) {
            return Err("grid.steps must be ≥ 1".into());
        }
        Ok(())
    }
}
