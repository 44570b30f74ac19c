//! `diffusion-lab sample`: the player's exports without a window. Deterministic for a fixed
//! seed: the same command writes byte-identical files.

use super::CliError;
use super::args::{DdimSpacingArg, StrideRuleArg, check_learned_sampler};
use crate::data::unit_to_u8;
use crate::diffusion::guidance::{check_class, check_weight};
use crate::diffusion::{SamplerPlan, Spacing};
use crate::sampling::export::{
    RunCard, Weights, grid_rgb, grid_rgb_cols, sampler_label, upscale, with_label,
    write_chain_frames, write_chain_gif, write_png,
};
use crate::sampling::job::LoadedModel;
use crate::sampling::{
    ChainSpec, Engine, FRAME_BUDGET_BYTES, Guidance, SamplerChoice, auto_stride, record_chain,
};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// The sampler names on the command line (the same list as the player's menu).
pub type SamplerArg = SamplerChoice;

/// `diffusion-lab sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The checkpoint folder (default: the bundled MNIST model).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Regenerate from a run card written by the player or by `--card` (its settings replace
    /// the sampler flags; outputs are still chosen here).
    #[arg(long, value_name = "card.json", conflicts_with_all = ["checkpoint", "sampler", "steps", "eta", "spacing", "n", "seed", "raw", "no_clip", "stride"])]
    pub from_card: Option<PathBuf>,
    /// The sampler.
    #[arg(long, value_enum, default_value_t = SamplerArg::Ddim)]
    pub sampler: SamplerArg,
    /// Sampling steps S (DDIM; the Karras grid points of euler-karras, heun-karras and
    /// dpmpp-2m) or K (the strided samplers) [default: 50]; DDPM always runs all T, so `--steps` is refused
    /// with `--sampler ddpm|ddpm-tilde` (use `iddpm` for a strided DDPM chain).
    #[arg(long, allow_negative_numbers = true)]
    pub steps: Option<usize>,
    /// DDIM's η, 0..=1 (0: deterministic; 1: DDPM-like noise). Larger values break
    /// σ² ≤ 1 − ᾱ_{t′} (erratum E004-4) and are refused.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub eta: f64,
    /// DDIM's timestep spacing.
    #[arg(long, value_enum, default_value_t = DdimSpacingArg::Trailing)]
    pub spacing: DdimSpacingArg,
    /// How the strided samplers (iddpm, iddpm-learned) round their K steps.
    #[arg(long, value_enum, default_value_t = StrideRuleArg::Floor)]
    pub stride_rule: StrideRuleArg,
    /// Number of samples (1..=10000; 1..=256 with --gif or --frames) [default: 16, or
    /// 8 per class with --class all].
    #[arg(long, allow_negative_numbers = true)]
    pub n: Option<usize>,
    /// Ask a class-conditional model for a class: a class index (e.g. 3) or `all` (a grid with
    /// one row per class). Refused for an unconditional model.
    #[arg(long, value_name = "CLASS|all")]
    pub class: Option<ClassArg>,
    /// Classifier-free guidance weight w ≥ 0 with --class: ε̃ = (1 + w)·ε(x, y) − w·ε(x, ∅)
    /// (seed 004's convention; the "guidance scale" of diffusers is 1 + w) [default: 2].
    #[arg(
        long,
        value_name = "W",
        allow_negative_numbers = true,
        requires = "class"
    )]
    pub cfg_scale: Option<f64>,
    /// Classifier guidance (seed 001 Alg. 4): a noisy-classifier folder written by
    /// `classifier train-noisy`, or `bundled:mnist-noisy`, steering any model (conditional or
    /// not) towards --class.
    #[arg(long, value_name = "DIR", requires = "class")]
    pub classifier: Option<PathBuf>,
    /// Classifier-guidance scale γ ≥ 0 with --classifier: ε̂ = ε − γ·√(1 − ᾱ_t)·∇ log p_φ(y | x_t)
    /// [default: 1].
    #[arg(
        long,
        value_name = "GAMMA",
        allow_negative_numbers = true,
        requires = "classifier"
    )]
    pub gamma: Option<f64>,
    /// Seed of x_T and of the sampler's noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sample with the raw weights instead of the EMA.
    #[arg(long)]
    pub raw: bool,
    /// Don't clip x̂₀ to [−1, 1].
    #[arg(long)]
    pub no_clip: bool,
    /// Record a chain frame every this many steps (default: the smallest stride whose frames
    /// fit in 64 MiB).
    #[arg(long)]
    pub stride: Option<usize>,
    /// Write a grid of the samples as PNG.
    #[arg(long, value_name = "out.png")]
    pub grid: Option<PathBuf>,
    /// Write one sample (see --index) as PNG, scaled up 4×.
    #[arg(long, value_name = "one.png")]
    pub one: Option<PathBuf>,
    /// The sample --one writes.
    #[arg(long, default_value_t = 0)]
    pub index: usize,
    /// Label the grid and the chain frames with t and the sampler.
    #[arg(long)]
    pub label: bool,
    /// Write the chain as an animated GIF (x_t row over x̂₀ row).
    #[arg(long, value_name = "chain.gif")]
    pub gif: Option<PathBuf>,
    /// Write the chain as numbered PNG frames into this folder.
    #[arg(long, value_name = "DIR")]
    pub frames: Option<PathBuf>,
    /// Write x₀ as .npy (N×C×H×W, float32).
    #[arg(long, value_name = "x0.npy")]
    pub npy: Option<PathBuf>,
    /// Write the run card (JSON) that regenerates these outputs with --from-card.
    #[arg(long, value_name = "card.json")]
    pub card: Option<PathBuf>,
    /// Which forward pass evaluates the network: auto (the dedicated CPU path on the CPU, burn
    /// on a GPU) or burn (always burn, for comparison; agrees to about 1e-6).
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    pub engine: Engine,
}

/// `--class`: one class, or every class in rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassArg {
    /// One class for the whole grid.
    One(usize),
    /// One row per class.
    All,
}

impl std::str::FromStr for ClassArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(Self::All);
        }
        s.trim()
            .parse()
            .map(Self::One)
            .map_err(|_| format!("expected a class index (0, 1, …) or `all`, got '{s}'"))
    }
}

/// Samples per class row of `--class all` when --n is not given.
const PER_CLASS: usize = 8;

/// The guidance `a` asks of a model with `classes` labels, and the grid's column count.
fn guidance_for(
    a: &SampleArgs,
    classes: usize,
    n: usize,
) -> Result<(Option<Guidance>, Option<usize>), CliError> {
    let Some(class) = a.class else {
        return Ok((None, None));
    };
    let w = check_weight("w (--cfg-scale)", a.cfg_scale.unwrap_or(2.0)).map_err(CliError::usage)?;
    let gamma = match a.classifier {
        Some(_) => check_weight("γ (--gamma)", a.gamma.unwrap_or(1.0)).map_err(CliError::usage)?,
        None => 0.0,
    };
    let with_gamma = |mut g: Guidance| {
        g.gamma = gamma;
        g
    };
    match class {
        ClassArg::One(c) => {
            check_class(c, classes).map_err(CliError::usage)?;
            Ok((Some(with_gamma(Guidance::class(c, w))), None))
        }
        ClassArg::All => {
            check_class(0, classes).map_err(CliError::usage)?;
            if !n.is_multiple_of(classes) {
                return Err(CliError::usage(format!(
                    "--class all draws one row per class: --n must be a multiple of {classes}, got {n}"
                )));
            }
            let cols = n / classes;
            Ok((
                Some(with_gamma(Guidance::rows_of_classes(n, cols, classes, w))),
                Some(cols),
            ))
        }
    }
}

/// The run card these arguments describe (before the checkpoint is opened).
fn card_from_args(a: &SampleArgs) -> Result<RunCard, CliError> {
    if let Some(p) = &a.from_card {
        return RunCard::read(p).map_err(CliError::usage);
    }
    if !(a.eta.is_finite() && (0.0..=1.0).contains(&a.eta)) {
        return Err(CliError::usage(format!(
            "--eta must be in 0..=1, got {} (η > 1 gives a noise variance above 1 − ᾱ_t′, \
             erratum E004-4)",
            a.eta
        )));
    }
    if let (Some(s), SamplerArg::Ddpm | SamplerArg::DdpmTilde | SamplerArg::DdpmLearned) =
        (a.steps, a.sampler)
    {
        return Err(CliError::usage(format!(
            "--steps {s}: DDPM always runs all T steps of the schedule; for fewer steps use \
             --sampler iddpm (strided DDPM, fixed Σ), iddpm-learned, ddim, euler-karras, heun-karras or dpmpp-2m"
        )));
    }
    let checkpoint = match &a.checkpoint {
        Some(p) => p.clone(),
        None => crate::store::bundled_model_dir().ok_or_else(|| {
            CliError::usage(
                "no --checkpoint given and the bundled model could not be unpacked (is the cache folder writable?)",
            )
        })?,
    };
    Ok(RunCard {
        generator: format!("diffusion-lab {}", env!("CARGO_PKG_VERSION")),
        checkpoint,
        checkpoint_step: 0,
        weights: if a.raw { Weights::Raw } else { Weights::Ema },
        schedule: crate::diffusion::ScheduleSpec::default(),
        sampler: a.sampler.kind_with_rule(
            a.steps.unwrap_or(50),
            a.eta,
            Spacing::from(a.spacing),
            a.stride_rule.into(),
        ),
        n: a.n.unwrap_or(if a.class == Some(ClassArg::All) {
            10 * PER_CLASS
        } else {
            16
        }),
        seed: a.seed,
        clip: !a.no_clip,
        stride: a.stride.unwrap_or(0),
        guidance: None,
        classifier: a.classifier.clone(),
    })
}

/// Runs `diffusion-lab sample`.
pub fn run_sample(a: &SampleArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut card = card_from_args(a)?;
    // The chain exports keep frames of every sample; up to 10,000 samples are drawn in batches
    // with bounded memory when only the end result is written.
    let chain_export = a.gif.is_some() || a.frames.is_some();
    let max_n = if chain_export { 256 } else { 10_000 };
    if !(1..=max_n).contains(&card.n) {
        return Err(CliError::usage(format!(
            "--n must be 1..={max_n}{}, got {}",
            if chain_export {
                " with --gif or --frames (they record every sample's chain)"
            } else {
                ""
            },
            card.n
        )));
    }
    if a.index >= card.n {
        return Err(CliError::usage(format!(
            "--index must be below --n = {}, got {}",
            card.n, a.index
        )));
    }
    let mut model = LoadedModel::load(&card.checkpoint, "checkpoint").map_err(CliError::usage)?;
    if let Some(dir) = &card.classifier {
        let c = crate::model::NoisyClassifier::open(dir).map_err(CliError::usage)?;
        if c.info.shape != model.shape {
            return Err(CliError::usage(format!(
                "the noisy classifier in {} takes {:?} images, the model makes {:?}",
                dir.display(),
                c.info.shape,
                model.shape
            )));
        }
        model.classifier = Some(std::sync::Arc::new(c));
    }
    // A conditional model's classes, else the classifier's (classifier guidance).
    let classes = match (model.ema.num_classes(), &model.classifier) {
        (0, Some(c)) => c.info.classes.len(),
        (k, _) => k,
    };
    let mut grid_cols = None;
    if a.from_card.is_none() {
        if a.class == Some(ClassArg::All) && a.n.is_none() && classes > 0 {
            card.n = classes * PER_CLASS;
        }
        let (g, cols) = guidance_for(a, classes, card.n)?;
        card.guidance = g;
        grid_cols = cols;
    } else if let Some(g) = &card.guidance {
        for &c in &g.labels {
            check_class(c, classes).map_err(CliError::usage)?;
        }
        check_weight("w", g.w).map_err(CliError::usage)?;
        if g.labels.len() == card.n && classes > 0 && card.n.is_multiple_of(classes) {
            grid_cols = Some(card.n / classes);
        }
    }
    if a.from_card.is_some() {
        // A card regenerates its samples only with the model it was made with (#18 item 9).
        if card.schedule != model.config.schedule {
            return Err(CliError::usage(format!(
                "--from-card: the card's schedule ({}) is not the checkpoint's ({}) in {}; the \
                 card was made with another model",
                card.schedule.label(),
                model.config.schedule.label(),
                card.checkpoint.display()
            )));
        }
        if card.checkpoint_step != model.step {
            eprintln!(
                "warning: --from-card: the card was made at step {}, the checkpoint in {} is at \
                 step {}; the samples will differ from the card's",
                card.checkpoint_step,
                card.checkpoint.display(),
                model.step
            );
        }
    }
    card.checkpoint_step = model.step;
    card.schedule = model.config.schedule.clone();
    let plan = SamplerPlan::new(&model.table, card.sampler).map_err(CliError::usage)?;
    check_learned_sampler(&plan, &model.ema, &card.checkpoint)?;
    let shape = model.shape;
    let pixels: usize = shape.iter().product();
    if card.stride == 0 {
        card.stride = auto_stride(card.n, pixels, plan.steps.len(), FRAME_BUDGET_BYTES);
    }
    let mut spec = ChainSpec::new(plan, card.n, card.seed, card.clip);
    spec.stride = card.stride;
    spec.guidance = card.guidance.clone();
    let start = Instant::now();
    let denoiser = model.denoiser(card.weights).with_engine(a.engine);
    let engine = if denoiser.uses_cpu_path() {
        "CPU path"
    } else {
        "burn"
    };
    let (x0, chain) = if chain_export || card.n <= 256 {
        record_chain(&denoiser, &spec)
    } else {
        let never = std::sync::atomic::AtomicBool::new(false);
        let x0 = crate::sampling::sample_batched(
            &denoiser,
            &spec,
            256,
            &never,
            &mut super::score::progress_line("sampling"),
        )
        .unwrap_or_default();
        let chain = crate::sampling::ChainRecord {
            n: card.n,
            shape,
            total_steps: spec.plan.steps.len(),
            steps_done: spec.plan.steps.len(),
            ..crate::sampling::ChainRecord::default()
        };
        (x0, chain)
    };
    if let Some(bad) = x0.iter().position(|v| !v.is_finite()) {
        return Err(CliError::failure(format!(
            "the model's output is not finite ({} at pixel {bad}); nothing written. The \
             checkpoint's weights are probably broken: {}",
            x0[bad],
            card.checkpoint.display()
        )));
    }
    let secs = start.elapsed().as_secs_f64();
    let steps = chain.total_steps;
    let label_text = sampler_label(&card.sampler);
    let label = a.label.then_some(label_text.as_str());
    let final_u8: Vec<u8> = x0.iter().map(|&v| unit_to_u8(v)).collect();
    let fail = |e: crate::sampling::export::ExportError| CliError::failure(e.to_string());
    if let Some(p) = &a.grid {
        let img = match grid_cols {
            Some(cols) => grid_rgb_cols(&final_u8, card.n, shape, cols),
            None => grid_rgb(&final_u8, card.n, shape),
        };
        let img = match label {
            Some(l) => with_label(&upscale(&img, 2), &format!("t=0 {l}")),
            None => img,
        };
        write_png(p, &img).map_err(fail)?;
    }
    if let Some(p) = &a.one {
        let one = &final_u8[a.index * pixels..(a.index + 1) * pixels];
        write_png(p, &upscale(&grid_rgb(one, 1, shape), 4)).map_err(fail)?;
    }
    if let Some(p) = &a.npy {
        let [c, h, w] = shape;
        crate::data::write_npy(p, &[card.n, c, h, w], &x0).map_err(CliError::failure)?;
    }
    let mut quiet = |_: usize, _: usize| true;
    if let Some(dir) = &a.frames {
        write_chain_frames(dir, &chain, label, &mut quiet).map_err(fail)?;
    }
    if let Some(p) = &a.gif {
        write_chain_gif(p, &chain, label, 80, &mut quiet).map_err(fail)?;
    }
    if let Some(p) = &a.card {
        card.write(p).map_err(fail)?;
    }
    writeln!(
        out,
        "{} samples, {label_text}, {steps} steps, {} frames ({:.1} MiB), {:.2} s ({:.1} steps/s, {:.1} images/s) on {} ({engine})",
        card.n,
        chain.frames.len(),
        chain.bytes() as f64 / (1 << 20) as f64,
        secs,
        steps as f64 / secs,
        card.n as f64 / secs,
        model.device_label
    )
    .map_err(|e| CliError::failure(e.to_string()))
}
