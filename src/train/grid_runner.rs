//! The DDIM η × S grid of seed 001's FID table (Fig. 5 / Table 1 of Song et al.), run on one
//! checkpoint: every cell samples from the same x_T and is scored with FID (when the data set
//! has a bundled classifier) and the energy distance to held-out images.

use crate::config::{Grid, RunConfig};
use crate::data::{Dataset, unit_to_u8};
use crate::diffusion::{Rng, SamplerKind, SamplerPlan, Spacing, energy_distance};
use crate::model::{DevicePick, pick_device};
use crate::sampling::{initial_noise, sample_images};
use crate::store::load_for_inference;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// The DDIM η × steps grid.

/// A row of the grid: DDIM with an η, or seed 001's σ̂ row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GridRow {
    /// DDIM with this η.
    Eta(f64),
    /// Strided DDPM with σ̂ = √(1 − ᾱ_t/ᾱ_{t′}) ([`SamplerPlan::sigma_hat`]).
    SigmaHat,
}

impl GridRow {
    /// The row's name in the CSV and on the command line: the η, or `sigma-hat`.
    pub fn csv_name(self) -> String {
        match self {
            GridRow::Eta(e) => format!("{e:?}"),
            GridRow::SigmaHat => "sigma-hat".into(),
        }
    }

    /// Reads [`Self::csv_name`] back.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "sigma-hat" | "σ̂" => Some(GridRow::SigmaHat),
            t => t.parse().ok().map(GridRow::Eta),
        }
    }

    /// The row's label in tables: the η, or σ̂.
    pub fn label(self) -> String {
        match self {
            GridRow::Eta(e) => format!("{e}"),
            GridRow::SigmaHat => "σ̂".into(),
        }
    }

    /// The sampler plan of this row at S steps.
    pub fn plan(
        self,
        table: &crate::diffusion::ScheduleTable,
        steps: usize,
        spacing: Spacing,
    ) -> Result<SamplerPlan, String> {
        match self {
            GridRow::Eta(eta) => SamplerPlan::new(
                table,
                SamplerKind::Ddim {
                    steps,
                    eta,
                    spacing,
                },
            ),
            GridRow::SigmaHat => SamplerPlan::sigma_hat(table, steps, spacing),
        }
        .map_err(|e| e.to_string())
    }
}

/// The η × S grid to run on a checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct GridPlan {
    /// The checkpoint folder.
    pub checkpoint: PathBuf,
    /// DDIM η values (rows).
    pub etas: Vec<f64>,
    /// Add seed 001's σ̂ row below the η rows.
    pub sigma_hat: bool,
    /// How every row picks its S timesteps.
    pub spacing: Spacing,
    /// Clip x̂₀ to [−1, 1] at every step (seed 001's table does not).
    pub clip: bool,
    /// Sampling steps S (columns).
    pub steps: Vec<usize>,
    /// Samples per cell (all cells start from the same x_T).
    pub n: usize,
    /// Seed of x_T and of the sampler noise.
    pub seed: u64,
    /// Held-out images compared against (at most).
    pub reference: usize,
}

/// One cell of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct GridCell {
    /// The row: η or σ̂.
    pub row: GridRow,
    /// S.
    pub steps: usize,
    /// Energy distance to the held-out draw (lower is better).
    pub quality: f64,
    /// FID on the data set's classifier features (None when no classifier is bundled for it).
    pub fid: Option<f64>,
    /// Seconds spent sampling.
    pub secs: f64,
    /// The samples as u8 [n, C, H, W].
    pub samples: Vec<u8>,
}

/// The whole grid.
#[derive(Clone, Debug, PartialEq)]
pub struct GridResult {
    /// Its plan.
    pub plan: GridPlan,
    /// [C, H, W].
    pub shape: [usize; 3],
    /// The data set's name (for the FID label).
    pub data: String,
    /// Row-major cells: η outer, S inner.
    pub cells: Vec<GridCell>,
    /// The energy distance of `n` training images to the reference: what a perfect sampler
    /// would score with this many samples.
    pub data_floor: f64,
    /// FID of `n` real held-out images: the floor of the FID column (None without a
    /// classifier).
    pub fid_floor: Option<f64>,
    /// The device used.
    pub device: String,
}

impl GridPlan {
    /// The rows in order: the η values, then σ̂ when asked for.
    pub fn rows(&self) -> Vec<GridRow> {
        let mut rows: Vec<GridRow> = self.etas.iter().map(|&e| GridRow::Eta(e)).collect();
        if self.sigma_hat {
            rows.push(GridRow::SigmaHat);
        }
        rows
    }

    /// "trailing spacing, x̂₀ clipped" for captions.
    pub fn settings_text(&self) -> String {
        format!(
            "{} spacing, x̂₀ {}",
            self.spacing.name(),
            if self.clip { "clipped" } else { "not clipped" }
        )
    }
}

impl GridResult {
    /// The cell for (row, S).
    pub fn cell(&self, row: GridRow, steps: usize) -> Option<&GridCell> {
        self.cells.iter().find(|c| c.row == row && c.steps == steps)
    }

    /// One table of `value` per cell, rows η (and σ̂), columns S, values with two decimals.
    fn table_of(&self, value: impl Fn(&GridCell) -> Option<f64>) -> String {
        let mut s = format!("{:>10}", "η \\ S");
        for st in &self.plan.steps {
            s.push_str(&format!("{st:>10}"));
        }
        s.push('\n');
        for row in self.plan.rows() {
            s.push_str(&format!("{:>10}", row.label()));
            for &st in &self.plan.steps {
                match self.cell(row, st).and_then(&value) {
                    Some(v) => s.push_str(&format!("{v:>10.2}")),
                    None => s.push_str(&format!("{:>10}", "–")),
                }
            }
            s.push('\n');
        }
        s
    }

    /// The table shaped like seed 001's FID table: rows η (and σ̂), columns S.
    pub fn table_text(&self) -> String {
        let mut s = format!("{}\n", self.plan.settings_text());
        if let Some(floor) = self.fid_floor {
            s += &format!(
                "FID ({}) of {} samples per cell; real images score {floor:.2}\n",
                crate::metrics::feature_note(&self.data),
                self.plan.n
            );
            s += &self.table_of(|c| c.fid);
        }
        s += &format!(
            "energy distance ×1000 to {} held-out images on 2×-pooled pixels (lower is better); \
             {} samples per cell from the same x_T (seed {}); training data scores {:.2}\n",
            self.plan.reference,
            self.plan.n,
            self.plan.seed,
            self.data_floor * 1e3
        );
        s += &self.table_of(|c| Some(c.quality * 1e3));
        s
    }

    /// The CSV: one row per cell (`eta` is the η, or `sigma-hat` for the σ̂ row).
    pub fn csv(&self) -> String {
        let mut s = String::from("eta,steps,energy_distance,sample_seconds,fid\n");
        for c in &self.cells {
            let fid = c.fid.map_or(String::new(), |f| format!("{f:?}"));
            s.push_str(&format!(
                "{},{},{:?},{:?},{fid}\n",
                c.row.csv_name(),
                c.steps,
                c.quality,
                c.secs
            ));
        }
        s
    }

    /// A mosaic: rows η, columns S, each cell the first (up to) 16 samples.
    pub fn mosaic(&self) -> image::RgbImage {
        let k = self.plan.n.min(16);
        let per = self.shape.iter().product::<usize>();
        let grids: Vec<image::RgbImage> = self
            .cells
            .iter()
            .map(|c| {
                crate::sampling::export::grid_rgb(
                    &c.samples[..(k * per).min(c.samples.len())],
                    k,
                    self.shape,
                )
            })
            .collect();
        let (gw, gh) = grids
            .first()
            .map_or((1, 1), |g| (g.width() as usize, g.height() as usize));
        let cols = self.plan.steps.len().max(1);
        let rows = self.plan.rows().len().max(1);
        let gap = 6;
        let mut img = image::RgbImage::from_pixel(
            (cols * (gw + gap) + gap) as u32,
            (rows * (gh + gap) + gap) as u32,
            image::Rgb([255, 255, 255]),
        );
        for (i, g) in grids.iter().enumerate() {
            let (r, c) = (i / cols, i % cols);
            image::imageops::overlay(
                &mut img,
                g,
                (gap + c * (gw + gap)) as i64,
                (gap + r * (gh + gap)) as i64,
            );
        }
        img
    }
}

/// The features the quality number compares: pixels average-pooled 2×2 (odd edges dropped), per
/// image, as f64.
pub fn quality_features(images: &[f32], n: usize, shape: [usize; 3]) -> Vec<f64> {
    let [c, h, w] = shape;
    let (ph, pw) = ((h / 2).max(1), (w / 2).max(1));
    let (fy, fx) = (if h >= 2 { 2 } else { 1 }, if w >= 2 { 2 } else { 1 });
    let mut out = Vec::with_capacity(n * c * ph * pw);
    for i in 0..n {
        let img = &images[i * c * h * w..(i + 1) * c * h * w];
        for ch in 0..c {
            for y in 0..ph {
                for x in 0..pw {
                    let mut s = 0.0;
                    for dy in 0..fy {
                        for dx in 0..fx {
                            s += f64::from(img[ch * h * w + (y * fy + dy) * w + x * fx + dx]);
                        }
                    }
                    out.push(s / (fy * fx) as f64);
                }
            }
        }
    }
    out
}

/// The sample-quality number: the energy distance between `samples` ([n, C, H, W], values in
/// [−1, 1]) and `reference` on [`quality_features`]. Lower is better; about 0 for samples from
/// the data distribution.
pub fn sample_quality(samples: &[f32], n: usize, reference: &Dataset) -> Result<f64, String> {
    let shape = [reference.channels(), reference.height(), reference.width()];
    let per: usize = shape.iter().product();
    if samples.len() != n * per {
        return Err(format!(
            "{} values are not {n} images of {:?}",
            samples.len(),
            shape
        ));
    }
    let a = quality_features(samples, n, shape);
    let b = quality_features(reference.data(), reference.len(), shape);
    let dim = a.len() / n.max(1);
    energy_distance(&a, &b, dim).map_err(|e| e.to_string())
}

/// A seeded draw of (at most `max`) images from the held-out split of a checkpoint's training
/// data (the split its trainer validated on), and a draw from its training split
/// of `draw_n` images: (held-out, training draw).
pub fn reference_split(
    config: &RunConfig,
    max: usize,
    draw_n: usize,
) -> Result<(Dataset, Dataset), String> {
    let data = config.data.load()?;
    let (train, val) = data
        .split(config.train.val_fraction, config.train.seed)
        .map_err(|e| e.to_string())?;
    // A seeded subsample, not the first images: bundled atlases are sorted by class.
    let mut rng = Rng::stream(0x6E1D, 0);
    let mut order: Vec<usize> = (0..val.len()).collect();
    let keep = max.clamp(2, val.len().max(2)).min(val.len());
    for k in 0..keep {
        let j = k + rng.below((order.len() - k) as u64) as usize;
        order.swap(k, j);
    }
    order.truncate(keep);
    order.sort_unstable();
    let val = val.subset(&order).map_err(|e| e.to_string())?;
    let idx: Vec<usize> = (0..draw_n.max(2))
        .map(|_| rng.below(train.len() as u64) as usize)
        .collect();
    let draw = train.subset(&idx).map_err(|e| e.to_string())?;
    Ok((val, draw))
}

/// Runs the η × S grid: for every cell, `n` DDIM samples of the checkpoint's EMA weights from the
/// same x_T, scored against the held-out data. `progress(done, total)` after each cell; `cancel`
/// stops between cells (an error saying so is returned).
pub fn eta_steps_grid(
    plan: &GridPlan,
    pick: Option<DevicePick>,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<GridResult, String> {
    if plan.rows().is_empty() || plan.steps.is_empty() {
        return Err("the grid needs at least one row (η or σ̂) and one step count".into());
    }
    if let Some(e) = plan.etas.iter().find(|e| !(e.is_finite() && **e >= 0.0)) {
        return Err(format!("η must be finite and ≥ 0, got {e}"));
    }
    if !(2..=1024).contains(&plan.n) {
        return Err(format!("n must be between 2 and 1024, got {}", plan.n));
    }
    let pick = pick.unwrap_or_else(|| pick_device(crate::model::DeviceChoice::Cpu));
    let (config, info, _raw, ema) =
        load_for_inference(&plan.checkpoint, &pick.device).map_err(|e| e.to_string())?;
    let table = config.schedule.table().map_err(|e| e.to_string())?;
    if let Some(s) = plan.steps.iter().find(|&&s| s == 0 || s > table.steps()) {
        return Err(format!(
            "steps must be between 1 and T = {}, got {s}",
            table.steps()
        ));
    }
    let (reference, draw) = reference_split(&config, plan.reference, plan.n)?;
    if [reference.channels(), reference.height(), reference.width()] != info.image_shape {
        return Err(format!(
            "the checkpoint's data now has images of {}×{}×{}, the model was trained on {:?}",
            reference.channels(),
            reference.height(),
            reference.width(),
            info.image_shape
        ));
    }
    let data_floor = sample_quality(draw.data(), draw.len(), &reference)?;
    // FID on the classifier's features when the data set has one (MNIST, Fashion-MNIST).
    let scorer = crate::metrics::classifier_for(&config.data)
        .ok()
        .filter(|net| net.info.shape == info.image_shape)
        .and_then(|net| {
            let rf = crate::metrics::Reference::new(&net).ok()?;
            Some((net, rf))
        });
    let fid_floor = match &scorer {
        Some((net, rf)) => crate::metrics::reference_rows(net, rf, plan.n, 1, plan.seed)
            .ok()
            .and_then(|rows| rows.first().map(|r| r.fid.mean)),
        None => None,
    };
    let total = plan.rows().len() * plan.steps.len();
    let mut cells = Vec::with_capacity(total);
    progress(0, total);
    for row in plan.rows() {
        for &steps in &plan.steps {
            if cancel.load(Ordering::SeqCst) {
                return Err("cancelled".into());
            }
            let sp = row.plan(&table, steps, plan.spacing)?;
            let t0 = Instant::now();
            let x = sample_images(
                &ema,
                &pick.device,
                &table,
                config.train.target,
                &sp,
                plan.n,
                info.image_shape,
                plan.seed,
                plan.clip,
            );
            let secs = t0.elapsed().as_secs_f64();
            let quality = sample_quality(&x, plan.n, &reference)?;
            let fid = scorer.as_ref().and_then(|(net, rf)| {
                let pixels: usize = info.image_shape.iter().product();
                let (kept, _) = crate::metrics::finite_images(&x, pixels);
                let emb = net.embed(&kept, info.image_shape, &mut |_, _| true).ok()?;
                (emb.n >= 2).then(|| {
                    crate::metrics::stats::fid(
                        &emb.features,
                        &rf.reference.features,
                        crate::metrics::FEATURES,
                    )
                })
            });
            cells.push(GridCell {
                row,
                steps,
                quality,
                fid,
                secs,
                samples: x.into_iter().map(unit_to_u8).collect(),
            });
            progress(cells.len(), total);
        }
    }
    Ok(GridResult {
        plan: GridPlan {
            reference: reference.len(),
            ..plan.clone()
        },
        shape: info.image_shape,
        data: config.data.label(),
        cells,
        data_floor,
        fid_floor,
        device: pick.label,
    })
}

/// Pure noise x_T as images, for comparisons: what a sampler that learned nothing would give.
pub fn noise_images(n: usize, shape: [usize; 3], seed: u64) -> Vec<f32> {
    initial_noise(n, shape.iter().product(), seed)
        .into_iter()
        .map(|v| v.clamp(-1.0, 1.0))
        .collect()
}

/// Reads a preset's `[grid]` table (missing keys get [`Grid`]'s defaults: seed 001's
/// η ∈ {0, 0.2, 0.5, 1} and S ∈ {10, 20, 50, 100}, trailing spacing, clipped).
pub fn grid_from_preset(text: &str) -> Result<Grid, String> {
    crate::config::Preset::from_toml(text)?
        .grid
        .ok_or_else(|| "this preset has no [grid] table".to_owned())
}
