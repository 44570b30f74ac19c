//! Seed 000's table (digest §1.1) on a bundled labelled data set: for each step count × image
//! count, the IS of the app's classifier and the seconds to generate the N images, for
//! Folder_1, Folder_2 and Folder_3's `sample_new_v1` and `sample_new_v2`, as mean ± std over
//! the seeds. The labelled chains also report how often the classifier sees the class asked
//! for (the seed's "label-faithful" remark).

use super::classifier::FeatureNet;
use super::stats::{inception_score, mean_std};
use crate::config::{RunConfig, Seed000Plan, Target};
use crate::diffusion::ScheduleTable;
use crate::diffusion::seed000::Chain000;
use crate::model::{AddLayer, CpuUNet};
use crate::sampling::seed000::{ChainOut, ChainSpec, Nets, run_chain};
use std::fmt::Write as _;
use std::time::Instant;

/// One chain of one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell000 {
    /// Steps.
    pub steps: usize,
    /// Images N.
    pub images: usize,
    /// The column.
    pub chain: Chain000,
    /// The seed.
    pub seed: u64,
    /// Inception score on the app's classifier.
    pub is: f64,
    /// Seconds to generate the N images.
    pub seconds: f64,
    /// Fraction classified as the class asked for (None for Folder_2, which asks for none).
    pub accuracy: Option<f64>,
}

impl Cell000 {
    /// One line for progress reports: "v1 S=10 N=500 seed 2: IS 6.78 in 4.3 s".
    pub fn summary(&self) -> String {
        format!(
            "{} S={} N={} seed {}: IS {:.2} in {:.1} s",
            self.chain.name(),
            self.steps,
            self.images,
            self.seed,
            self.is,
            self.seconds
        )
    }
}

/// One cell of the table: a column at one (steps, N), over the seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Row000 {
    /// Steps.
    pub steps: usize,
    /// Images N.
    pub images: usize,
    /// The column's file name (`folder1`, `folder2`, `v1`, `v2`).
    pub column: String,
    /// IS mean and sample std.
    pub is: (f64, f64),
    /// Seconds mean and sample std.
    pub seconds: (f64, f64),
    /// Mean label accuracy (NaN when not asked).
    pub accuracy: f64,
    /// Seeds averaged.
    pub seeds: usize,
}

/// The loaded models of a plan.
pub struct Models000 {
    folder1: CpuUNet,
    folder2: CpuUNet,
    layer: AddLayer,
    table1: ScheduleTable,
    table2: ScheduleTable,
    shape: [usize; 3],
    classifier: FeatureNet,
    /// The data set's name.
    pub data: String,
}

fn load_unet(
    spec: &str,
    role: &str,
) -> Result<(RunConfig, [usize; 3], CpuUNet, ScheduleTable), String> {
    let dir = crate::store::resolve_model_dir(spec)?;
    let (config, info, _raw, ema) =
        crate::store::load_for_inference(&dir, &burn::tensor::Device::flex())
            .map_err(|e| format!("seed000.{role}: {e}"))?;
    let table = config
        .schedule
        .table()
        .map_err(|e| format!("seed000.{role}: schedule: {e}"))?;
    if config.train.target != Target::V {
        return Err(format!(
            "seed000.{role} ({spec}) predicts {:?}; seed 000's loop reads a velocity v (train \
             with train.target = \"v\")",
            config.train.target
        ));
    }
    Ok((config, info.image_shape, CpuUNet::from_unet(&ema), table))
}

impl Models000 {
    /// Loads the plan's three models and the data set's classifier; the errors name the field.
    pub fn load(plan: &Seed000Plan) -> Result<Self, String> {
        let (c1, shape1, folder1, table1) = load_unet(&plan.folder1, "folder1")?;
        let (c2, shape2, folder2, table2) = load_unet(&plan.folder2, "folder2")?;
        let layer = crate::store::resolve_model_dir(&plan.layer)
            .and_then(|dir| AddLayer::open(&dir))
            .map_err(|e| format!("seed000.layer: {e}"))?;
        if shape1 != shape2 || layer.info.shape != shape2 {
            return Err(format!(
                "seed000: the models make different images: folder1 {shape1:?}, folder2 \
                 {shape2:?}, layer {:?}",
                layer.info.shape
            ));
        }
        if c1.num_classes != layer.info.classes || folder1.num_classes() != layer.info.classes {
            return Err(format!(
                "seed000.folder1 must be conditional on the layer's {} classes, it has {}",
                layer.info.classes,
                folder1.num_classes()
            ));
        }
        if folder2.num_classes() != 0 {
            return Err("seed000.folder2 must be unconditional (Folder_2)".into());
        }
        let data = match &c2.data {
            crate::config::DataSpec::Bundled { name, .. } => name.clone(),
            other => {
                return Err(format!(
                    "seed000 scores with a bundled data set's classifier; folder2 was trained on \
                     {}",
                    other.label()
                ));
            }
        };
        let classifier = FeatureNet::bundled(&data).map_err(|e| e.to_string())?;
        Ok(Self {
            folder1,
            folder2,
            layer,
            table1,
            table2,
            shape: shape2,
            classifier,
            data,
        })
    }

    /// Runs one chain and scores it; also returns the chain's images and classes.
    pub fn cell(
        &self,
        plan: &Seed000Plan,
        chain: Chain000,
        steps: usize,
        images: usize,
        seed: u64,
        cancel: &dyn Fn() -> bool,
    ) -> Result<(Cell000, ChainOut), String> {
        let classes = self.layer.info.classes;
        let (unet, table) = match chain {
            Chain000::Folder1 => (&self.folder1, &self.table1),
            _ => (&self.folder2, &self.table2),
        };
        let nets = Nets {
            unet,
            layer: Some(&self.layer),
            table,
            shape: self.shape,
            classes,
        };
        let spec = ChainSpec {
            chain,
            images,
            steps,
            eta: plan.eta,
            noise_degree: plan.noise_degree,
            seed,
            chunk: plan.chunk,
        };
        let t0 = Instant::now();
        let out = run_chain(&nets, &spec, cancel)?;
        let seconds = t0.elapsed().as_secs_f64();
        let (finite, _) = super::score::finite_images(&out.images, self.shape.iter().product());
        let emb = self
            .classifier
            .embed(&finite, self.shape, &mut |_, _| !cancel())
            .map_err(|e| e.to_string())?;
        let k = self.classifier.classes();
        let is = inception_score(&emb.probs, k);
        let accuracy = (!out.labels.is_empty() && emb.n == out.labels.len()).then(|| {
            let hits = emb
                .probs
                .chunks_exact(k)
                .zip(&out.labels)
                .filter(|&(row, &want)| {
                    let best = row
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map_or(usize::MAX, |(j, _)| j);
                    best == want
                })
                .count();
            hits as f64 / out.labels.len() as f64
        });
        Ok((
            Cell000 {
                steps,
                images,
                chain,
                seed,
                is,
                seconds,
                accuracy,
            },
            out,
        ))
    }

    /// [C, H, W] of the images.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }
}

/// A grid of a chain's images with one row per class asked for (10 columns; Folder_2's, which
/// asks for none, in the order made), at most 10 per class.
pub fn class_grid(out: &ChainOut, shape: [usize; 3], classes: usize) -> image::RgbImage {
    let pixels: usize = shape.iter().product();
    let n = out.images.len() / pixels.max(1);
    let mut order: Vec<usize> = Vec::new();
    if out.labels.len() == n && classes > 0 {
        for c in 0..classes {
            order.extend((0..n).filter(|&i| out.labels[i] == c).take(10));
        }
    } else {
        order.extend(0..n.min(10 * classes.max(1)));
    }
    let bytes: Vec<u8> = order
        .iter()
        .flat_map(|&i| out.images[i * pixels..(i + 1) * pixels].iter())
        .map(|&v| crate::data::unit_to_u8(v))
        .collect();
    crate::sampling::export::grid_rgb_cols(&bytes, order.len(), shape, 10)
}

/// The files [`run_table`] writes: every chain's figures, the table as CSV and as Markdown.
pub const CELLS_FILE: &str = "seed000-cells.csv";
/// The table as CSV (what the Runs view reads).
pub const TABLE_FILE: &str = "seed000.csv";
/// The table as Markdown.
pub const MARKDOWN_FILE: &str = "seed000.md";

/// Where the table's chains run: the CPU path of the UNet on rayon's threads, the layer on
/// burn's Flex backend.
pub fn device_label() -> String {
    format!("CPU ({} threads)", rayon::current_num_threads())
}

/// What [`run_table`] calls after each chain: (done, total, the chain's cell, every cell).
pub type OnCell<'a> = dyn FnMut(usize, usize, &Cell000, &[Cell000]) + 'a;

/// Runs the whole table of `plan` into `dir`: writes the study marker (the plan as JSON, so
/// the Runs view lists the folder) and, after every chain, [`CELLS_FILE`], [`TABLE_FILE`] and
/// [`MARKDOWN_FILE`], so a cancelled run keeps what it measured. The first seed's chains at
/// the smallest N also leave a grid each in `grids/<column>-S<steps>.png` (rows = classes). `on_cell(done, total, cell,
/// all)` follows each chain. Returns every cell and whether it was cancelled.
pub fn run_table(
    plan: &Seed000Plan,
    models: &Models000,
    dir: &std::path::Path,
    cancel: &dyn Fn() -> bool,
    on_cell: &mut OnCell<'_>,
) -> Result<(Vec<Cell000>, bool), String> {
    use std::io::Write as _;
    plan.validate()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        crate::fs::write_atomic(&p, |w| w.write_all(text.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    let marker = serde_json::json!({
        "kind": "seed000",
        "data": models.data,
        "device": device_label(),
        "plan": plan,
    });
    write(
        crate::store::runs::STUDY_MARKER,
        &serde_json::to_string_pretty(&marker).map_err(|e| e.to_string())?,
    )?;
    let order = cell_order(plan);
    let mut cells: Vec<Cell000> = Vec::new();
    let smallest = plan.images.iter().copied().min().unwrap_or(0);
    for (k, &(seed, steps, images, chain)) in order.iter().enumerate() {
        match models.cell(plan, chain, steps, images, seed, cancel) {
            Ok((c, out)) => {
                if seed == 0 && images == smallest {
                    let grids = dir.join("grids");
                    std::fs::create_dir_all(&grids)
                        .map_err(|e| format!("cannot create {}: {e}", grids.display()))?;
                    let img = class_grid(&out, models.shape(), models.layer.info.classes);
                    let p = grids.join(format!("{}-S{steps}.png", chain.name()));
                    crate::sampling::export::write_png(&p, &img).map_err(|e| e.to_string())?;
                }
                cells.push(c);
                let rows = summarize(&cells);
                write(CELLS_FILE, &cells_csv(&cells))?;
                write(TABLE_FILE, &summary_csv(&rows))?;
                write(MARKDOWN_FILE, &markdown(&rows))?;
                if let Some(c) = cells.last() {
                    on_cell(k + 1, order.len(), c, &cells);
                }
            }
            Err(_) if cancel() => return Ok((cells, true)),
            Err(e) => return Err(e),
        }
    }
    Ok((cells, false))
}

/// The cells of a plan in the order they run: seeds outermost, so a cancelled run still has
/// whole tables for the seeds it finished.
pub fn cell_order(plan: &Seed000Plan) -> Vec<(u64, usize, usize, Chain000)> {
    let mut out = Vec::new();
    for seed in 0..plan.seeds as u64 {
        for &steps in &plan.steps {
            for &images in &plan.images {
                for chain in Chain000::ALL {
                    out.push((seed, steps, images, chain));
                }
            }
        }
    }
    out
}

/// Averages the cells over seeds, in the plan's row order.
pub fn summarize(cells: &[Cell000]) -> Vec<Row000> {
    let mut keys: Vec<(usize, usize, Chain000)> = Vec::new();
    for c in cells {
        let k = (c.steps, c.images, c.chain);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort_by_key(|&(s, n, c)| (s, n, Chain000::ALL.iter().position(|x| *x == c)));
    keys.into_iter()
        .map(|(steps, images, chain)| {
            let of: Vec<&Cell000> = cells
                .iter()
                .filter(|c| (c.steps, c.images, c.chain) == (steps, images, chain))
                .collect();
            let is: Vec<f64> = of.iter().map(|c| c.is).collect();
            let secs: Vec<f64> = of.iter().map(|c| c.seconds).collect();
            let acc: Vec<f64> = of.iter().filter_map(|c| c.accuracy).collect();
            Row000 {
                steps,
                images,
                column: chain.name().to_owned(),
                is: mean_std(&is),
                seconds: mean_std(&secs),
                accuracy: if acc.is_empty() {
                    f64::NAN
                } else {
                    acc.iter().sum::<f64>() / acc.len() as f64
                },
                seeds: of.len(),
            }
        })
        .collect()
}

/// The CSV header of [`cells_csv`].
pub const CELLS_HEADER: &str = "steps,images,column,seed,is,seconds,accuracy";
/// The CSV header of [`summary_csv`].
pub const SUMMARY_HEADER: &str =
    "steps,images,column,is_mean,is_std,seconds_mean,seconds_std,accuracy,seeds";

/// Every chain's figures.
pub fn cells_csv(cells: &[Cell000]) -> String {
    let mut s = format!("{CELLS_HEADER}\n");
    for c in cells {
        let acc = c.accuracy.map_or(String::new(), |a| format!("{a:.4}"));
        let _ = writeln!(
            s,
            "{},{},{},{},{:.5},{:.4},{acc}",
            c.steps,
            c.images,
            c.chain.name(),
            c.seed,
            c.is,
            c.seconds
        );
    }
    s
}

/// The table as CSV (the Runs view reads it back with [`read_summary_csv`]).
pub fn summary_csv(rows: &[Row000]) -> String {
    let mut s = format!("{SUMMARY_HEADER}\n");
    for r in rows {
        let acc = if r.accuracy.is_nan() {
            String::new()
        } else {
            format!("{:.4}", r.accuracy)
        };
        let _ = writeln!(
            s,
            "{},{},{},{:.5},{:.5},{:.4},{:.4},{acc},{}",
            r.steps, r.images, r.column, r.is.0, r.is.1, r.seconds.0, r.seconds.1, r.seeds
        );
    }
    s
}

/// Parses [`summary_csv`]'s output; errors name the line.
pub fn read_summary_csv(text: &str) -> Result<Vec<Row000>, String> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(SUMMARY_HEADER) {
        return Err(format!(
            "not a seed-000 table: the header must be `{SUMMARY_HEADER}`"
        ));
    }
    lines
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let f: Vec<&str> = l.split(',').collect();
            let bad = || format!("line {}: `{l}` is not a row of the table", i + 2);
            if f.len() != 9 {
                return Err(bad());
            }
            let num = |s: &str| s.trim().parse::<f64>().map_err(|_| bad());
            let int = |s: &str| s.trim().parse::<usize>().map_err(|_| bad());
            Ok(Row000 {
                steps: int(f[0])?,
                images: int(f[1])?,
                column: f[2].trim().to_owned(),
                is: (num(f[3])?, num(f[4])?),
                seconds: (num(f[5])?, num(f[6])?),
                accuracy: if f[7].trim().is_empty() {
                    f64::NAN
                } else {
                    num(f[7])?
                },
                seeds: int(f[8])?,
            })
        })
        .collect()
}

/// The table as Markdown: one row per (steps, N), one "IS ± std · seconds" cell per column.
pub fn markdown(rows: &[Row000]) -> String {
    let mut s = String::from("| steps | N |");
    for c in Chain000::ALL {
        let _ = write!(s, " {} |", c.label());
    }
    s.push_str("\n|---|---|");
    for _ in Chain000::ALL {
        s.push_str("---|");
    }
    s.push('\n');
    let mut keys: Vec<(usize, usize)> = rows.iter().map(|r| (r.steps, r.images)).collect();
    keys.dedup();
    for (steps, images) in keys {
        let _ = write!(s, "| {steps} | {images} |");
        for c in Chain000::ALL {
            match rows
                .iter()
                .find(|r| r.steps == steps && r.images == images && r.column == c.name())
            {
                Some(r) => {
                    let _ = write!(s, " {:.2} ± {:.2} · {:.2} s |", r.is.0, r.is.1, r.seconds.0);
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cell(steps: usize, chain: Chain000, seed: u64, is: f64, seconds: f64) -> Cell000 {
        Cell000 {
            steps,
            images: 100,
            chain,
            seed,
            is,
            seconds,
            accuracy: (chain != Chain000::Folder2).then_some(0.5 + seed as f64 * 0.1),
        }
    }

    #[test]
    fn summary_averages_over_seeds_and_round_trips() {
        let cells = vec![
            cell(5, Chain000::V2, 0, 2.0, 1.0),
            cell(5, Chain000::Folder2, 0, 3.0, 2.0),
            cell(5, Chain000::V2, 1, 4.0, 3.0),
            cell(5, Chain000::Folder2, 1, 5.0, 2.0),
        ];
        let rows = summarize(&cells);
        // Column order is the table's: Folder_2 before v2.
        assert_eq!(rows[0].column, "folder2");
        assert_eq!(rows[0].is, (4.0, 2f64.sqrt()));
        assert!(rows[0].accuracy.is_nan());
        assert_eq!(rows[1].column, "v2");
        assert!((rows[1].accuracy - 0.55).abs() < 1e-12);
        assert_eq!(rows[1].seconds.0, 2.0);
        let back = read_summary_csv(&summary_csv(&rows)).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].is.0, 3.0);
        assert!(back[0].accuracy.is_nan());
        assert!(read_summary_csv("a,b\n").unwrap_err().contains("header"));
        assert!(
            read_summary_csv(&format!("{SUMMARY_HEADER}\n5,100,v1,x,1,1,1,,1\n"))
                .unwrap_err()
                .contains("line 2")
        );
        let md = markdown(&rows);
        assert!(
            md.contains("| 5 | 100 | – | 4.00 ± 1.41 · 2.00 s |"),
            "{md}"
        );
    }
}
