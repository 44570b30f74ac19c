//! The reverse-chain player: pure noise becomes a digit one step at a time, with x̂₀, ε̂ and
//! the added noise beside each x_t; A/B panes from the same x_T, branching, noise-then-denoise
//! and exports. Sampling and exports run on background threads; the UI only draws.

use crate::diffusion::{SamplerPlan, Spacing, Step, Update};
use crate::explore::tiles::diverging_rgb;
use crate::jobs::BgJob;
use crate::sampling::export::{
    self, RunCard, Weights, grid_cols, sampler_label, upscale, with_label, write_png,
};
use crate::sampling::job::{ChainJob, LoadedModel, push_step};
use crate::sampling::{
    ChainRecord, ChainSpec, FRAME_BUDGET_BYTES, QFrame, Reconstruction, SamplerChoice, auto_stride,
    noise_then_denoise, noise_then_denoise_steps, run_chain,
};
use egui::{Color32, RichText};

mod guidance;
mod live;
mod tools;
use egui_plot::{Legend, Line, PlotPoints, VLine};
pub use guidance::{CFG_FORMULA, CG_FORMULA, ClassPick, GuidanceState, guidance_formulas};
pub use live::{LiveFollow, StripEntry};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// Where the player's weights come from.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    /// A model shipped with the app (`crate::store::BUNDLED_MODELS`), by name.
    Bundled(&'static str),
    /// A checkpoint folder the user picked.
    Checkpoint(PathBuf),
    /// Snapshots of the model training right now.
    Live,
}

/// The pairs the A/B panes offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComparePair {
    /// DDPM (σ² = β̃) vs DDIM.
    DdpmVsDdim,
    /// DDIM η = 0 vs η = 1.
    Eta0VsEta1,
    /// DDIM with 1000 vs 50 steps.
    Steps1000Vs50,
    /// EMA vs raw weights.
    EmaVsRaw,
    /// Two checkpoints (B uses the second model).
    TwoCheckpoints,
    /// Two classifier-free guidance weights (w = 0 vs w = 4) of a class-conditional model.
    GuidanceWeights,
}

impl ComparePair {
    /// Every pair, in menu order.
    pub const ALL: [ComparePair; 6] = [
        ComparePair::DdpmVsDdim,
        ComparePair::Eta0VsEta1,
        ComparePair::Steps1000Vs50,
        ComparePair::EmaVsRaw,
        ComparePair::TwoCheckpoints,
        ComparePair::GuidanceWeights,
    ];

    /// The menu label.
    pub fn label(self) -> &'static str {
        match self {
            ComparePair::DdpmVsDdim => "DDPM vs DDIM",
            ComparePair::Eta0VsEta1 => "η = 0 vs η = 1",
            ComparePair::Steps1000Vs50 => "1000 vs 50 steps",
            ComparePair::EmaVsRaw => "EMA vs raw weights",
            ComparePair::TwoCheckpoints => "two checkpoints",
            ComparePair::GuidanceWeights => "guidance w = 0 vs w = 4",
        }
    }
}

/// The sampler settings of one pane.
#[derive(Clone, Debug, PartialEq)]
pub struct PaneSettings {
    /// The sampler.
    pub sampler: SamplerChoice,
    /// S (DDIM) or K (iDDPM).
    pub steps: usize,
    /// DDIM's η.
    pub eta: f64,
    /// DDIM's spacing.
    pub spacing: Spacing,
    /// EMA or raw weights.
    pub weights: Weights,
    /// Sample with the second model (two-checkpoint comparison).
    pub second_model: bool,
    /// Classifier-free guidance weight w of a class-conditional model.
    pub cfg_w: f64,
}

impl Default for PaneSettings {
    fn default() -> Self {
        Self {
            sampler: SamplerChoice::Ddim,
            steps: 50,
            eta: 0.0,
            spacing: Spacing::Trailing,
            weights: Weights::Ema,
            second_model: false,
            cfg_w: 2.0,
        }
    }
}

impl PaneSettings {
    /// The core sampler these settings describe.
    pub fn kind(&self) -> crate::diffusion::SamplerKind {
        self.sampler.kind(self.steps, self.eta, self.spacing)
    }
}

/// One chain on screen: its settings, its sampling job and its frames.
#[derive(Default)]
pub struct Pane {
    /// The sampler settings.
    pub settings: PaneSettings,
    job: Option<ChainJob>,
    record: Arc<Mutex<ChainRecord>>,
    x0: Option<Vec<f32>>,
    /// What went wrong last.
    pub error: Option<String>,
    tex: Option<(usize, usize, [egui::TextureHandle; 4])>,
    generation: usize,
    label: String,
    finished: bool,
}

impl Pane {
    fn lock(&self) -> std::sync::MutexGuard<'_, ChainRecord> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Frames recorded so far.
    pub fn frames(&self) -> usize {
        self.lock().frames.len()
    }

    /// x_T (the first frame's x_t bytes), to check that panes share their noise.
    pub fn first_xt(&self) -> Option<QFrame> {
        self.lock().frames.first().map(|f| f.xt.clone())
    }

    /// The samples at x₀ once the chain has finished.
    pub fn final_x0(&self) -> Option<&[f32]> {
        self.x0.as_deref()
    }

    /// Whether the chain reached x₀.
    pub fn is_complete(&self) -> bool {
        self.lock().is_complete()
    }

    /// Whether a sampling job is running, or has ended but its x₀ is not taken yet (the next
    /// frame's poll takes it), so "not sampling" always means the result is in.
    pub fn is_sampling(&self) -> bool {
        self.job.is_some()
    }

    /// The index of the frame whose t is closest to `t` (ties: the later frame).
    fn frame_for_t(&self, t: usize) -> Option<usize> {
        let rec = self.lock();
        (0..rec.frames.len()).min_by_key(|&i| (rec.frames[i].t.abs_diff(t), usize::MAX - i))
    }

    fn poll(&mut self) {
        if let Some(job) = &mut self.job
            && let Some(result) = job.take_x0()
        {
            self.x0 = result;
            self.job = None;
            self.finished = true;
        }
    }
}

/// Which of a sample's four pictures.
const PICTURES: [&str; 4] = [
    "x_t",
    "x̂₀ (predicted clean image)",
    "ε̂ (predicted noise)",
    "σ·z (noise added)",
];

/// The noise-then-denoise experiment's state.
pub struct NoiseDenoise {
    /// Index of the dataset image.
    pub index: usize,
    /// How many t0 values between T/10 and T.
    pub points: usize,
    job: Option<BgJob<Result<Option<Vec<Reconstruction>>, String>>>,
    /// The last results.
    pub results: Vec<Reconstruction>,
    /// What went wrong last.
    pub error: Option<String>,
    tex: Option<(egui::TextureHandle, egui::TextureHandle)>,
}

impl Default for NoiseDenoise {
    fn default() -> Self {
        Self {
            index: 0,
            points: 8,
            job: None,
            results: Vec::new(),
            error: None,
            tex: None,
        }
    }
}

/// "Score these samples": the quality table of pane A's samples.
#[derive(Default)]
pub struct SampleScore {
    job: Option<BgJob<Result<crate::metrics::ScoreReport, String>>>,
    /// The last table.
    pub report: Option<crate::metrics::ScoreReport>,
    /// What went wrong last.
    pub error: Option<String>,
}

/// A running or finished export.
struct ExportState {
    what: String,
    job: BgJob<Result<String, String>>,
}

/// The player's state.
pub struct PlayerView {
    /// Where the weights come from.
    pub source: ModelSource,
    model: Option<LoadedModel>,
    second: Option<LoadedModel>,
    live: Option<LoadedModel>,
    /// The last model-loading error.
    pub model_error: Option<String>,
    /// Re-sample whenever training sends new weights (live source).
    pub follow_live: bool,
    /// Samples in the grid (1..=256).
    pub n: usize,
    /// Seed of x_T (shared by both panes).
    pub seed: u64,
    /// Clip x̂₀ to [−1, 1].
    pub clip: bool,
    /// Record every k-th step (0: automatic, within 64 MiB).
    pub stride: usize,
    /// Pane A (always shown).
    pub a: Pane,
    /// Pane B (shown when comparing).
    pub b: Pane,
    /// Branches forked from a step of pane A.
    pub branches: Pane,
    /// Show pane B.
    pub compare: bool,
    /// The A/B pair.
    pub pair: ComparePair,
    /// Continuations to fork.
    pub fork_k: usize,
    /// DDIM's η for the continuations when pane A is deterministic (η = 0 adds no noise, so
    /// its branches would all be the same image).
    pub branch_eta: f64,
    frame: usize,
    playing: bool,
    /// Playback speed in frames per second.
    pub speed: f32,
    clock: f64,
    /// The sample whose pixels and branches are shown.
    pub selected: usize,
    /// Picked pixels (flat [C, H, W] indices of the selected sample) for trajectories.
    pub pixels: Vec<usize>,
    /// Label exported grids and frames with t and the sampler.
    pub label_exports: bool,
    /// The noise-then-denoise experiment.
    pub ntd: NoiseDenoise,
    /// The quality of pane A's samples.
    pub score: SampleScore,
    export: Option<ExportState>,
    /// The last export's outcome.
    pub export_message: Option<String>,
    /// The folder of the last export ("Open folder").
    export_folder: Option<PathBuf>,
    /// No dialog could open: the export waits for a path typed in the app.
    pub export_fallback: Option<(ExportKind, String)>,
    wake: Option<Arc<dyn Fn() + Send + Sync>>,
    branch_seed: u64,
    started: bool,
    pending_live: bool,
    following: bool,
    /// Where to stop when a chain finishes (fraction of the chain; None: at x₀). The
    /// screenshot mode shows a frame mid-chain, where x̂₀ and ε̂ are most telling.
    pub settle_at: Option<f32>,
    pending_t: Option<usize>,
    loader: Option<BgJob<Result<LoadedModel, String>>>,
    sample_after_load: bool,
    /// Show the sampler controls and the side sections (hidden in the presenter layout).
    pub show_controls: bool,
    /// The class asked of a class-conditional model, and the w sweep.
    pub guidance: GuidanceState,
    /// The live run followed beside training: its cadence and the "step N" strip.
    pub live_follow: LiveFollow,
}

impl Default for PlayerView {
    fn default() -> Self {
        Self {
            source: ModelSource::Bundled(crate::store::DEFAULT_MODEL),
            model: None,
            second: None,
            live: None,
            model_error: None,
            follow_live: true,
            n: 16,
            seed: 0,
            clip: true,
            stride: 0,
            a: Pane::default(),
            b: Pane {
                settings: PaneSettings {
                    sampler: SamplerChoice::DdpmTilde,
                    ..PaneSettings::default()
                },
                ..Pane::default()
            },
            branches: Pane::default(),
            compare: false,
            pair: ComparePair::DdpmVsDdim,
            fork_k: 4,
            branch_eta: 1.0,
            frame: 0,
            playing: false,
            speed: 12.0,
            clock: 0.0,
            selected: 0,
            pixels: Vec::new(),
            label_exports: true,
            ntd: NoiseDenoise::default(),
            score: SampleScore::default(),
            export: None,
            export_message: None,
            export_folder: None,
            export_fallback: None,
            wake: None,
            branch_seed: 1,
            started: false,
            pending_live: false,
            following: true,
            settle_at: None,
            pending_t: None,
            loader: None,
            sample_after_load: false,
            show_controls: true,
            guidance: GuidanceState::default(),
            live_follow: LiveFollow::default(),
        }
    }
}

impl PlayerView {
    /// Play/pause (keyboard: space).
    pub fn toggle_play(&mut self) {
        self.playing = !self.playing;
        self.following = false;
        if self.playing && self.frame + 1 >= self.a.frames() && !self.a.is_sampling() {
            self.frame = 0;
        }
    }

    /// Whether the chain is playing.
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Steps the chain by `delta` frames (keyboard: ←/→); pauses playback.
    pub fn step_by(&mut self, delta: isize) {
        self.playing = false;
        self.following = false;
        let last = self.a.frames().saturating_sub(1);
        self.frame = self.frame.saturating_add_signed(delta).min(last);
    }

    /// The frame on screen (of pane A).
    pub fn frame(&self) -> usize {
        self.frame
    }

    /// Jumps to frame `i` of pane A (clamped).
    pub fn seek(&mut self, i: usize) {
        self.following = false;
        self.frame = i.min(self.a.frames().saturating_sub(1));
    }

    /// Shows the frame whose t is closest to `t` (now, or once the chain is sampled).
    pub fn seek_t(&mut self, t: usize) {
        self.playing = false;
        self.following = false;
        match self.a.frame_for_t(t) {
            Some(i) if self.a.is_complete() => self.frame = i,
            _ => self.pending_t = Some(t),
        }
    }

    /// Takes a preset's `[sampler]` table: pane A's sampler, the grid size, the seed and the
    /// clip; re-samples if a chain was already drawn.
    pub fn apply_sampler(&mut self, spec: &crate::config::SamplerSpec) {
        use crate::config::SamplerName;
        self.a.settings.sampler = match spec.kind {
            SamplerName::Ddpm => SamplerChoice::Ddpm,
            SamplerName::DdpmTilde => SamplerChoice::DdpmTilde,
            SamplerName::Ddim => SamplerChoice::Ddim,
            SamplerName::Iddpm => SamplerChoice::Iddpm,
        };
        self.a.settings.steps = spec.steps;
        self.a.settings.eta = spec.eta;
        self.a.settings.spacing = spec.spacing;
        self.n = spec.n.clamp(1, 256);
        self.seed = spec.seed;
        self.clip = spec.clip;
        if let Some(m) = spec
            .model
            .as_deref()
            .and_then(crate::store::bundled_model)
            .filter(|m| self.source != ModelSource::Bundled(m.name))
        {
            self.source = ModelSource::Bundled(m.name);
            self.load_model();
            self.sample_after_load = true;
            return;
        }
        if self.started {
            self.sample_all();
        }
    }

    /// Frames recorded in pane A.
    pub fn frames(&self) -> usize {
        self.a.frames()
    }

    /// The timestep on screen in pane A.
    pub fn current_t(&self) -> Option<usize> {
        self.a.lock().frames.get(self.frame).map(|f| f.t)
    }

    /// Whether any sampling job is running.
    pub fn is_busy(&self) -> bool {
        self.loader.is_some()
            || self.a.is_sampling()
            || self.b.is_sampling()
            || self.branches.is_sampling()
            || self.ntd.job.as_ref().is_some_and(|j| !j.is_finished())
            || self.score.job.as_ref().is_some_and(|j| !j.is_finished())
            || self.guidance.is_sweeping()
            || self.export.as_ref().is_some_and(|e| !e.job.is_finished())
    }

    /// The model in use, if loaded.
    pub fn model(&self) -> Option<&LoadedModel> {
        match self.source {
            ModelSource::Live => self.live.as_ref(),
            _ => self.model.as_ref(),
        }
    }

    /// Takes new weights from a running training (pane(s) re-sample when following).
    pub fn set_live(&mut self, model: LoadedModel) {
        self.live = Some(model);
        if self.follow_live && matches!(self.source, ModelSource::Bundled(_)) {
            self.source = ModelSource::Live;
        }
        if self.source == ModelSource::Live && self.follow_live {
            // The same x_T each time, so the viewer watches the chain sharpen as the loss falls;
            // started by `live_logic` when the duty cycle allows.
            self.pending_live = true;
            if let Some(w) = &self.wake {
                w();
            }
        }
    }

    /// Loads the model of the current source (the bundled one by default).
    pub fn load_model(&mut self) {
        let (dir, name) = match &self.source {
            ModelSource::Bundled(name) => match crate::store::bundled_dir(name) {
                Some(d) => (d, "bundled"),
                None => {
                    self.model_error = Some(format!(
                        "the bundled model {name} could not be unpacked (is the cache folder \
                         writable?)"
                    ));
                    return;
                }
            },
            ModelSource::Checkpoint(d) => (d.clone(), "checkpoint"),
            ModelSource::Live => return,
        };
        // Reading the weights and probing for a GPU take a moment: off the UI thread.
        self.model = None;
        self.model_error = None;
        let name = name.to_owned();
        match BgJob::spawn("model-loader", self.wake(), move |_| {
            LoadedModel::load(&dir, &name)
        }) {
            Ok(job) => self.loader = Some(job),
            Err(e) => self.model_error = Some(format!("cannot start the loader thread: {e}")),
        }
    }

    /// Collects a finished model load; samples if that was waiting for it.
    fn poll_loader(&mut self) {
        let Some(result) = self.loader.as_mut().and_then(BgJob::take) else {
            return;
        };
        self.loader = None;
        match result {
            Some(Ok(m)) => self.model = Some(m),
            Some(Err(e)) => self.model_error = Some(e),
            None => self.model_error = Some("loading the model failed unexpectedly".into()),
        }
        if self.guidance.pick == ClassPick::Rows {
            // A class-conditional model opens on its square grid, one row per class.
            self.set_class_pick(ClassPick::Rows);
        }
        if std::mem::take(&mut self.sample_after_load) && self.model.is_some() {
            self.sample_all();
        }
    }

    fn wake(&self) -> Arc<dyn Fn() + Send + Sync> {
        self.wake.clone().unwrap_or_else(|| Arc::new(|| {}))
    }

    fn stride_for(&self, plan: &SamplerPlan, n: usize, model: &LoadedModel) -> usize {
        if self.stride > 0 {
            self.stride
        } else {
            let pixels: usize = model.shape.iter().product();
            auto_stride(n, pixels, plan.steps.len(), FRAME_BUDGET_BYTES)
        }
    }

    fn start_pane(&mut self, which: char) {
        let (settings, n, seed, clip) = {
            let p = if which == 'a' { &self.a } else { &self.b };
            (p.settings.clone(), self.n, self.seed, self.clip)
        };
        let model = if settings.second_model && which == 'b' {
            self.second.clone()
        } else {
            self.job_model()
        };
        let wake = self.wake();
        let Some(model) = model else {
            let pane = if which == 'a' {
                &mut self.a
            } else {
                &mut self.b
            };
            pane.error = Some(if settings.second_model {
                "pick a second checkpoint for pane B".into()
            } else {
                "no model loaded".into()
            });
            return;
        };
        let guidance = self.guidance_for(self.model_classes(), settings.cfg_w, n);
        let result = SamplerPlan::new(&model.table, settings.kind()).map(|plan| {
            let stride = self.stride_for(&plan, n, &model);
            let mut spec = ChainSpec::new(plan, n, seed, clip);
            spec.stride = stride;
            spec.guidance = guidance.clone();
            spec
        });
        let mut label = format!("{} · {}", sampler_label(&settings.kind()), model.label);
        if let Some(g) = &guidance {
            label.push_str(&format!(" · w = {}", g.w));
        }
        let pane = if which == 'a' {
            &mut self.a
        } else {
            &mut self.b
        };
        pane.error = None;
        pane.x0 = None;
        pane.label = label;
        match result {
            Ok(spec) => match ChainJob::spawn(model, settings.weights, spec, wake) {
                Ok(job) => {
                    pane.record = job.record.clone();
                    pane.job = Some(job);
                    pane.generation += 1;
                    pane.tex = None;
                }
                Err(e) => pane.error = Some(format!("cannot start the sampler thread: {e}")),
            },
            Err(e) => pane.error = Some(e.to_string()),
        }
    }

    /// Samples pane A (and B when comparing) from the same x_T.
    pub fn sample_all(&mut self) {
        if self.model().is_none() && self.source != ModelSource::Live {
            if self.loader.is_none() {
                self.load_model();
            }
            self.sample_after_load = true;
            return;
        }
        self.start_pane('a');
        if self.compare {
            self.start_pane('b');
        }
        self.frame = 0;
        self.following = true;
        if self.pixels.is_empty()
            && let Some(m) = self.model()
        {
            // Two pixels to follow from the start: the centre and a point left of it.
            let [_, h, w] = m.shape;
            self.pixels = vec![(h / 2) * w + w / 2, (h / 2) * w + w / 4];
        }
        self.branches = Pane::default();
    }

    /// Sets pane B (and A) for one of the comparison pairs.
    pub fn apply_pair(&mut self, pair: ComparePair) {
        self.pair = pair;
        let (mut a, mut b) = (PaneSettings::default(), PaneSettings::default());
        match pair {
            ComparePair::DdpmVsDdim => b.sampler = SamplerChoice::DdpmTilde,
            ComparePair::Eta0VsEta1 => b.eta = 1.0,
            ComparePair::Steps1000Vs50 => {
                a.steps = 1000;
                b.steps = 50;
            }
            ComparePair::EmaVsRaw => b.weights = Weights::Raw,
            ComparePair::TwoCheckpoints => b.second_model = true,
            ComparePair::GuidanceWeights => {
                a.cfg_w = 0.0;
                b.cfg_w = 4.0;
            }
        }
        self.a.settings = a;
        self.b.settings = b;
    }

    /// Forks `fork_k` continuations of the selected sample from the frame on screen, with
    /// fresh noise.
    pub fn fork(&mut self) {
        let Some(model) = self.job_model() else {
            return;
        };
        let (index, n_total) = {
            let rec = self.a.lock();
            match rec.frames.get(self.frame) {
                Some(f) if f.step.is_some() => (f.index, rec.n),
                _ => {
                    drop(rec);
                    self.branches.error = Some("pick a step before the end of the chain".into());
                    return;
                }
            }
        };
        let settings = self.a.settings.clone();
        let Ok(plan) = SamplerPlan::new(&model.table, settings.kind()) else {
            return;
        };
        let sample = self.selected.min(n_total.saturating_sub(1));
        let (k, seed, clip) = (self.fork_k.clamp(1, 64), self.seed, self.clip);
        self.branch_seed += 1;
        let fresh = self.seed.wrapping_add(1_000_003 * self.branch_seed);
        // A deterministic DDIM chain continues with η = `branch_eta` over the same timesteps,
        // so the branches get fresh noise; the other samplers are stochastic already.
        let rest_kind = match settings.kind() {
            crate::diffusion::SamplerKind::Ddim {
                steps,
                eta: 0.0,
                spacing,
            } => crate::diffusion::SamplerKind::Ddim {
                steps,
                eta: self.branch_eta.clamp(0.0, 1.0),
                spacing,
            },
            other => other,
        };
        let Ok(rest_plan) = SamplerPlan::new(&model.table, rest_kind) else {
            return;
        };
        let rest = SamplerPlan {
            steps: rest_plan.steps[index.min(rest_plan.steps.len())..].to_vec(),
        };
        let stride = self.stride_for(&rest, k, &model);
        let record = Arc::new(Mutex::new(ChainRecord {
            n: k,
            shape: model.shape,
            total_steps: rest.steps.len(),
            ..ChainRecord::default()
        }));
        let weights = settings.weights;
        let prefix = SamplerPlan {
            steps: plan.steps[..index].to_vec(),
        };
        // The branches ask for the selected sample's class, as its chain did.
        let guidance = self
            .guidance_for(self.model_classes(), settings.cfg_w, self.n)
            .map(|g| crate::sampling::Guidance {
                labels: vec![g.label(sample)],
                ..g
            });
        let job = ChainJob::custom(record.clone(), "branches", self.wake(), move |ctx, rec| {
            ctx.set_total(prefix.steps.len() + rest.steps.len());
            let den = model.denoiser(weights);
            // Re-run the chosen sample alone up to the fork: its own noise streams make this
            // the same x_t as in the grid.
            let mut head = ChainSpec::new(prefix, 1, seed, clip);
            head.first_index = sample;
            head.stride = usize::MAX;
            head.guidance = guidance.clone();
            let mut done = 0;
            let x = run_chain(&den, &head, ctx.cancel_flag(), |_, _| {
                done += 1;
                ctx.set_done(done);
            })?;
            let mut tail = ChainSpec::new(rest, k, seed, clip);
            tail.noise_seed = fresh;
            tail.stride = stride;
            tail.start = Some(x.repeat(k));
            tail.guidance = guidance;
            run_chain(&den, &tail, ctx.cancel_flag(), |stat, frame| {
                push_step(rec, stat, frame);
                done += 1;
                ctx.set_done(done);
            })
        });
        self.branches = Pane {
            settings,
            record,
            label: format!(
                "{k} branches of sample {sample} from t = {}",
                self.current_t().unwrap_or(0)
            ),
            ..Pane::default()
        };
        match job {
            Ok(job) => self.branches.job = Some(job),
            Err(e) => self.branches.error = Some(format!("cannot start: {e}")),
        }
    }
}

/// What an export writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// The selected sample at the frame on screen (x_t beside x̂₀), scaled up, as PNG.
    SamplePng,
    /// The x_t grid of the frame on screen as PNG (optionally labelled).
    GridPng,
    /// The chain as an animated GIF: an x_t row over an x̂₀ row.
    Gif,
    /// The chain as numbered PNG frames in a folder.
    Frames,
    /// x₀ as .npy (N×C×H×W float32).
    Npy,
    /// The run card (JSON) that regenerates these exports with `sample --from-card`.
    Card,
}

impl ExportKind {
    /// Every export, in menu order.
    pub const ALL: [ExportKind; 6] = [
        ExportKind::SamplePng,
        ExportKind::GridPng,
        ExportKind::Gif,
        ExportKind::Frames,
        ExportKind::Npy,
        ExportKind::Card,
    ];

    /// The button label.
    pub fn label(self) -> &'static str {
        match self {
            ExportKind::SamplePng => "Selected sample (PNG)…",
            ExportKind::GridPng => "Grid of this frame (PNG)…",
            ExportKind::Gif => "Chain animation (GIF)…",
            ExportKind::Frames => "Chain frames (PNG folder)…",
            ExportKind::Npy => "x₀ (.npy)…",
            ExportKind::Card => "Run card (JSON)…",
        }
    }

    fn default_name(self) -> &'static str {
        match self {
            ExportKind::SamplePng => "sample.png",
            ExportKind::GridPng => "grid.png",
            ExportKind::Gif => "chain.gif",
            ExportKind::Frames => "frames",
            ExportKind::Npy => "x0.npy",
            ExportKind::Card => "run-card.json",
        }
    }

    fn extension(self) -> Option<(&'static str, &'static str)> {
        match self {
            ExportKind::SamplePng | ExportKind::GridPng => Some(("PNG image", "png")),
            ExportKind::Gif => Some(("GIF animation", "gif")),
            ExportKind::Npy => Some(("NumPy array", "npy")),
            ExportKind::Card => Some(("JSON", "json")),
            ExportKind::Frames => None,
        }
    }
}

/// Lays out the n images of a frame as a near-square grid with 1-px gaps.
fn grid_color(q: &QFrame, n: usize, shape: [usize; 3], diverging: bool) -> egui::ColorImage {
    let [c, h, w] = shape;
    let cols = grid_cols(n);
    let rows = n.div_ceil(cols).max(1);
    let (gw, gh) = (cols * (w + 1) + 1, rows * (h + 1) + 1);
    let mut px = vec![Color32::from_gray(45); gw * gh];
    let plane = h * w;
    // ε̂ and σ·z are N(0, 1)-sized and σ·z is small: scale the diverging map to the frame.
    let range = q.lo.abs().max(q.hi.abs()).max(1e-6);
    for i in 0..n {
        let (ox, oy) = (1 + (i % cols) * (w + 1), 1 + (i / cols) * (h + 1));
        let base = i * c * plane;
        for y in 0..h {
            for x in 0..w {
                let v = |ch: usize| q.value(base + ch * plane + y * w + x);
                let color = if diverging {
                    let s = if c == 3 {
                        (v(0) + v(1) + v(2)) / 3f32.sqrt()
                    } else {
                        v(0)
                    };
                    let [r, g, b] = diverging_rgb(s, range);
                    Color32::from_rgb(r, g, b)
                } else if c == 3 {
                    let b = |ch| crate::data::unit_to_u8(v(ch));
                    Color32::from_rgb(b(0), b(1), b(2))
                } else {
                    Color32::from_gray(crate::data::unit_to_u8(v(0)))
                };
                px[(oy + y) * gw + ox + x] = color;
            }
        }
    }
    egui::ColorImage::new([gw, gh], px)
}

/// The update of `step` written out with its numbers.
pub fn equation_lines(step: &Step, beta: f64) -> Vec<String> {
    let (a, s) = (step.sqrt_alpha_bar, step.sqrt_one_minus_alpha_bar);
    let mut lines = vec![
        format!("t = {}  →  t′ = {}", step.t, step.t_prev),
        format!("√ᾱ_t = {a:.4}   √(1−ᾱ_t) = {s:.4}   β_t = {beta:.5}"),
        format!("ᾱ_t′ = {:.4}   σ = {:.4}", step.alpha_bar_prev, step.sigma),
        format!("x̂₀ = (x_t − {s:.4}·ε̂) / {a:.4}"),
    ];
    match step.update {
        Update::Posterior { coef_x0, coef_xt } => {
            lines.push("x_t′ = c₀·x̂₀ + c_t·x_t + σ·z   (posterior mean + noise)".into());
            lines.push(format!(
                "x_t′ = {coef_x0:.4}·x̂₀ + {coef_xt:.4}·x_t + {:.4}·z",
                step.sigma
            ));
        }
        Update::Ddim { coef_x0, coef_eps } => {
            lines.push("x_t′ = √ᾱ_t′·x̂₀ + √(1−ᾱ_t′−σ²)·ε̂ + σ·z   (DDIM)".into());
            lines.push(format!(
                "x_t′ = {coef_x0:.4}·x̂₀ + {coef_eps:.4}·ε̂ + {:.4}·z",
                step.sigma
            ));
        }
    }
    lines
}

impl PlayerView {
    /// Per-frame work: collect finished jobs, advance playback, keep the wake-up hook.
    pub fn logic(&mut self, ctx: &egui::Context) {
        if self.wake.is_none() {
            let c = ctx.clone();
            self.wake = Some(Arc::new(move || c.request_repaint()));
        }
        self.poll_loader();
        self.a.poll();
        self.b.poll();
        self.live_logic(ctx);
        self.branches.poll();
        if let Some(job) = &mut self.ntd.job
            && let Some(result) = job.take()
        {
            match result {
                Some(Ok(Some(r))) => {
                    self.ntd.results = r;
                    self.ntd.tex = None;
                }
                Some(Ok(None)) => self.ntd.error = Some("cancelled".into()),
                Some(Err(e)) => self.ntd.error = Some(e),
                None => self.ntd.error = Some("the experiment failed unexpectedly".into()),
            }
            self.ntd.job = None;
        }
        self.poll_guidance();
        if let Some(job) = &mut self.score.job
            && let Some(result) = job.take()
        {
            match result {
                Some(Ok(r)) => self.score.report = Some(r),
                Some(Err(e)) => self.score.error = Some(e),
                None => self.score.error = Some("scoring failed unexpectedly".into()),
            }
            self.score.job = None;
        }
        if let Some(ex) = &mut self.export
            && let Some(result) = ex.job.take()
        {
            self.export_message = Some(match result {
                Some(Ok(msg)) => msg,
                Some(Err(e)) => format!("{} failed: {e}", ex.what),
                None => format!("{} failed unexpectedly", ex.what),
            });
            self.export = None;
        }
        let frames = self.a.frames();
        if self.a.finished
            && let Some(t) = self.pending_t.take()
            && let Some(i) = self.a.frame_for_t(t)
        {
            self.frame = i;
        }
        if std::mem::take(&mut self.a.finished) && !self.playing && self.following {
            let last = frames.saturating_sub(1);
            self.frame = match self.settle_at {
                Some(f) => (f * last as f32).round() as usize,
                None => last,
            };
        }
        if self.playing {
            let dt = f64::from(ctx.input(|i| i.stable_dt).min(0.1));
            self.clock += dt * f64::from(self.speed);
            while self.clock >= 1.0 {
                self.clock -= 1.0;
                if self.frame + 1 < frames {
                    self.frame += 1;
                } else if !self.a.is_sampling() {
                    self.playing = false;
                    break;
                }
            }
            ctx.request_repaint();
        } else if self.a.is_sampling() && self.following && frames > 0 {
            // Follow the chain as it is computed, until the user scrubs.
            self.frame = frames - 1;
        }
        if !self.started && self.source != ModelSource::Live {
            self.started = true;
            self.sample_all();
        }
    }

    fn textures(
        &mut self,
        ctx: &egui::Context,
        which: char,
        frame: usize,
    ) -> Option<[egui::TextureHandle; 4]> {
        let pane = match which {
            'a' => &mut self.a,
            'b' => &mut self.b,
            _ => &mut self.branches,
        };
        if let Some((f, g, tex)) = &pane.tex
            && *f == frame
            && *g == pane.generation
        {
            return Some(tex.clone());
        }
        let rec = pane.record.lock().unwrap_or_else(PoisonError::into_inner);
        let fr = rec.frames.get(frame)?;
        let (n, shape) = (rec.n, rec.shape);
        let opts = egui::TextureOptions::NEAREST;
        let name = |k: usize| format!("player_{which}_{k}");
        let tex = [
            ctx.load_texture(name(0), grid_color(&fr.xt, n, shape, false), opts),
            ctx.load_texture(name(1), grid_color(&fr.x0, n, shape, false), opts),
            ctx.load_texture(name(2), grid_color(&fr.eps, n, shape, true), opts),
            ctx.load_texture(name(3), grid_color(&fr.noise, n, shape, true), opts),
        ];
        drop(rec);
        pane.tex = Some((frame, pane.generation, tex.clone()));
        Some(tex)
    }

    /// The frame of pane `which` shown with pane A's frame (synchronised by t).
    fn synced_frame(&self, which: char) -> Option<usize> {
        let t = self.current_t()?;
        match which {
            'a' => Some(self.frame),
            'b' => self.b.frame_for_t(t),
            _ => self.branches.frame_for_t(t),
        }
    }

    /// Draws the view. Without controls (the presenter layout) only the transport, the panes
    /// and the equation are shown.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if self.show_controls {
            egui::Panel::top("player_controls")
                .frame(super::panel_frame(ui))
                .show(ui, |ui| self.controls_ui(ui));
        }
        egui::Panel::bottom("player_transport")
            .frame(super::panel_frame(ui))
            .show(ui, |ui| self.transport_ui(ui));
        egui::Panel::right("player_side")
            .frame(super::panel_frame(ui))
            .default_size(420.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    if self.show_controls {
                        self.side_ui(ui);
                    } else {
                        self.equation_ui(ui);
                    }
                });
            });
        egui::CentralPanel::default()
            .frame(super::central_frame(ui))
            .show(ui, |ui| self.panes_ui(ui, true));
    }

    /// A compact player for beside the training plots: pane A's x_t and x̂₀ with transport.
    pub fn compact_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Reverse chain");
        ui.horizontal_wrapped(|ui| {
            let live = self.live.is_some();
            ui.add_enabled_ui(live, |ui| {
                if ui
                    .selectable_label(self.source == ModelSource::Live, "Live weights")
                    .on_hover_text("Sample from the model being trained (snapshot of its weights)")
                    .clicked()
                {
                    self.source = ModelSource::Live;
                    self.sample_all();
                }
            });
            // The bundled model stays one click away from the live run (#19).
            if ui
                .selectable_label(
                    matches!(self.source, ModelSource::Bundled(_)),
                    "Bundled model",
                )
                .on_hover_text("Sample the bundled MNIST model instead of the run being trained")
                .clicked()
                && !matches!(self.source, ModelSource::Bundled(_))
            {
                self.source = ModelSource::Bundled(crate::store::DEFAULT_MODEL);
                self.load_model();
                self.sample_after_load = true;
            }
            ui.checkbox(&mut self.follow_live, "Re-sample as it trains");
        });
        if self.source == ModelSource::Live {
            self.live_ui(ui);
        } else {
            ui.label(format!(
                "Weights: {}",
                self.model.as_ref().map_or("—", |m| m.label.as_str())
            ));
        }
        self.transport_ui(ui);
        self.panes_ui(ui, false);
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            let model_label = ui.label("Model:");
            let mut reload = false;
            egui::ComboBox::from_id_salt("player_source")
                .selected_text(match &self.source {
                    ModelSource::Bundled(name) => crate::store::bundled_model(name)
                        .map_or_else(|| (*name).to_owned(), |m| m.title.to_owned()),
                    ModelSource::Checkpoint(p) => p
                        .file_name()
                        .map_or("checkpoint".into(), |s| s.to_string_lossy().into_owned()),
                    ModelSource::Live => "Live training run".to_owned(),
                })
                .show_ui(ui, |ui| {
                    for m in crate::store::BUNDLED_MODELS {
                        if ui
                            .selectable_label(self.source == ModelSource::Bundled(m.name), m.title)
                            .clicked()
                        {
                            self.source = ModelSource::Bundled(m.name);
                            reload = true;
                        }
                    }
                    if ui
                        .selectable_label(
                            matches!(self.source, ModelSource::Checkpoint(_)),
                            "Checkpoint folder…",
                        )
                        .clicked()
                        && let Some(dir) = crate::app::dialog::FileDialog::new()
                            .set_title("Pick a checkpoint folder")
                            .pick_folder()
                    {
                        self.source = ModelSource::Checkpoint(dir);
                        reload = true;
                    }
                    if ui
                        .add_enabled(
                            self.live.is_some(),
                            egui::Button::selectable(
                                self.source == ModelSource::Live,
                                "Live training run",
                            ),
                        )
                        .on_disabled_hover_text(
                            "Start a run in the Training tab; its weights arrive with each preview",
                        )
                        .clicked()
                    {
                        self.source = ModelSource::Live;
                    }
                })
                .response
                .labelled_by(model_label.id);
            if reload {
                self.load_model();
                self.sample_after_load = true;
            }
            if let Some(m) = self.model() {
                ui.label(RichText::new(&m.label).weak());
            }
            ui.separator();
            let l = ui.label("Samples");
            ui.add(egui::DragValue::new(&mut self.n).range(1..=256))
                .labelled_by(l.id);
            let l = ui.label("Seed");
            ui.add(egui::DragValue::new(&mut self.seed))
                .labelled_by(l.id);
            ui.checkbox(&mut self.clip, "Clip x̂₀")
                .on_hover_text("Clip the predicted clean image to [−1, 1] before each update");
            let l = ui.label("Stride");
            ui.add(egui::DragValue::new(&mut self.stride).range(0..=1000))
                .labelled_by(l.id)
                .on_hover_text("Record every k-th step (0: automatic, frames within 64 MiB)");
            self.class_picker_ui(ui);
            ui.separator();
            if self.a.is_sampling() || self.b.is_sampling() {
                let (d, t) = self.a.job.as_ref().map_or((0, 0), ChainJob::progress);
                ui.add(
                    egui::ProgressBar::new(if t == 0 { 0.0 } else { d as f32 / t as f32 })
                        .desired_width(140.0)
                        .text(format!("step {d}/{t}")),
                );
                if ui.button("Cancel").clicked() {
                    for p in [&self.a, &self.b] {
                        if let Some(j) = &p.job {
                            j.cancel();
                        }
                    }
                }
            } else if ui.button(RichText::new("Sample").strong()).clicked() {
                self.sample_all();
            }
        });
        if let Some(e) = &self.model_error {
            ui.colored_label(Color32::LIGHT_RED, e);
        }
        ui.horizontal_wrapped(|ui| {
            let caps = self.pane_caps();
            pane_settings_ui(ui, "a", &mut self.a.settings, caps);
            ui.separator();
            if ui.checkbox(&mut self.compare, "Compare A/B").changed()
                && self.compare
                && self.a.frames() > 0
            {
                self.start_pane('b');
            }
            if self.compare {
                let mut pair = self.pair;
                let l = ui.label("pair");
                egui::ComboBox::from_id_salt("player_pair")
                    .selected_text(pair.label())
                    .show_ui(ui, |ui| {
                        for p in ComparePair::ALL {
                            ui.selectable_value(&mut pair, p, p.label());
                        }
                    })
                    .response
                    .labelled_by(l.id);
                if pair != self.pair {
                    self.apply_pair(pair);
                }
            }
        });
        if self.compare {
            ui.horizontal_wrapped(|ui| {
                let caps = self.pane_caps();
                pane_settings_ui(ui, "b", &mut self.b.settings, caps);
                if self.b.settings.second_model {
                    let name = self
                        .second
                        .as_ref()
                        .map_or("pick…".to_owned(), |m| m.label.clone());
                    if ui.button(format!("Second checkpoint: {name}")).clicked()
                        && let Some(dir) = crate::app::dialog::FileDialog::new().pick_folder()
                    {
                        self.set_second(dir);
                    }
                }
            });
        }
    }

    fn pane_caps(&self) -> PaneCaps {
        PaneCaps {
            conditional: self.model_is_conditional(),
            has_raw: self.model().is_none_or(|m| m.has_raw),
        }
    }

    /// Loads the checkpoint pane B samples from in the two-checkpoint comparison.
    pub fn set_second(&mut self, dir: PathBuf) {
        match LoadedModel::load(&dir, "second checkpoint") {
            Ok(m) => self.second = Some(m),
            Err(e) => self.b.error = Some(e),
        }
    }

    fn transport_ui(&mut self, ui: &mut egui::Ui) {
        let frames = self.a.frames();
        ui.horizontal(|ui| {
            if ui.button("|<").on_hover_text("First step (x_T)").clicked() {
                self.seek(0);
                self.playing = false;
            }
            if ui.button("<").on_hover_text("Step back (←)").clicked() {
                self.step_by(-1);
            }
            let play = if self.playing { "Pause" } else { "Play" };
            if ui
                .button(play)
                .on_hover_text("Play / pause (space)")
                .clicked()
            {
                self.toggle_play();
            }
            if ui.button(">").on_hover_text("Step forward (→)").clicked() {
                self.step_by(1);
            }
            if ui.button(">|").on_hover_text("Last step (x₀)").clicked() {
                self.seek(usize::MAX);
                self.playing = false;
            }
            let mut f = self.frame;
            let last = frames.saturating_sub(1);
            let w = (ui.available_width() - 260.0).max(80.0);
            ui.spacing_mut().slider_width = w;
            let l = ui.label("chain");
            if ui
                .add_enabled(
                    frames > 1,
                    egui::Slider::new(&mut f, 0..=last).show_value(false),
                )
                .on_hover_text("Scrub over the recorded chain")
                .labelled_by(l.id)
                .changed()
            {
                self.frame = f;
                self.following = false;
                self.playing = false;
            }
            let t = self.current_t().map_or("—".into(), |t| t.to_string());
            ui.label(RichText::new(format!("t = {t}")).monospace().strong());
            let l = ui.label("speed");
            ui.add(
                egui::DragValue::new(&mut self.speed)
                    .range(1.0..=120.0)
                    .suffix(" fps"),
            )
            .labelled_by(l.id);
        });
    }

    fn panes_ui(&mut self, ui: &mut egui::Ui, full: bool) {
        let mut rows: Vec<char> = vec!['a'];
        if full && self.compare {
            rows.push('b');
        }
        if full && self.branches.frames() > 0 {
            rows.push('r');
        }
        let cols = if full { 4 } else { 2 };
        let avail = ui.available_size();
        let caption = 22.0;
        let size = ((avail.x - 12.0 * cols as f32) / cols as f32)
            .min(avail.y / rows.len() as f32 - caption * 2.0)
            .max(48.0);
        for which in rows {
            let pane = match which {
                'a' => &self.a,
                'b' => &self.b,
                _ => &self.branches,
            };
            let title = match which {
                'a' if full && self.compare => format!("A · {}", pane.label),
                'b' => format!("B · {}", pane.label),
                'r' => pane.label.clone(),
                _ => pane.label.clone(),
            };
            if let Some(e) = &pane.error {
                ui.colored_label(Color32::LIGHT_RED, e);
            }
            ui.label(RichText::new(title).strong());
            let Some(frame) = self.synced_frame(which) else {
                if which == 'a' {
                    ui.label(if self.loader.is_some() {
                        "Loading the model…"
                    } else if self.a.is_sampling() {
                        "Sampling…"
                    } else {
                        "Press Sample to draw a chain."
                    });
                }
                continue;
            };
            let Some(tex) = self.textures(ui.ctx(), which, frame) else {
                continue;
            };
            let (n, shape) = {
                let r = match which {
                    'a' => self.a.lock(),
                    'b' => self.b.lock(),
                    _ => self.branches.lock(),
                };
                (r.n, r.shape)
            };
            ui.horizontal(|ui| {
                for (k, t) in tex.iter().enumerate().take(cols) {
                    ui.vertical(|ui| {
                        ui.label(PICTURES[k]);
                        let img_size = t.size_vec2();
                        let scale = size / img_size.x.max(img_size.y);
                        let resp = ui.add(
                            egui::Image::new((t.id(), img_size * scale))
                                .sense(egui::Sense::click()),
                        );
                        self.grid_overlay(ui, &resp, n, shape, which == 'a');
                    });
                }
            });
        }
    }

    /// Outlines the selected sample and picks sample/pixel on click.
    fn grid_overlay(
        &mut self,
        ui: &egui::Ui,
        resp: &egui::Response,
        n: usize,
        shape: [usize; 3],
        pickable: bool,
    ) {
        let [_, h, w] = shape;
        let cols = grid_cols(n);
        let rows = n.div_ceil(cols).max(1);
        let (gw, gh) = ((cols * (w + 1) + 1) as f32, (rows * (h + 1) + 1) as f32);
        let rect = resp.rect;
        let sx = rect.width() / gw;
        let sy = rect.height() / gh;
        if n > 1 && self.selected < n {
            let i = self.selected;
            let (ox, oy) = (
                (1 + (i % cols) * (w + 1)) as f32,
                (1 + (i / cols) * (h + 1)) as f32,
            );
            let r = egui::Rect::from_min_size(
                rect.min + egui::vec2(ox * sx, oy * sy),
                egui::vec2(w as f32 * sx, h as f32 * sy),
            );
            ui.painter().rect_stroke(
                r,
                0.0,
                egui::Stroke::new(2.0, Color32::from_rgb(255, 200, 0)),
                egui::StrokeKind::Outside,
            );
        }
        if pickable
            && resp.clicked()
            && let Some(pos) = resp.interact_pointer_pos()
        {
            let gx = ((pos.x - rect.min.x) / sx) as usize;
            let gy = ((pos.y - rect.min.y) / sy) as usize;
            let (col, row) = (gx / (w + 1), gy / (h + 1));
            let (px, py) = (
                (gx % (w + 1)).saturating_sub(1),
                (gy % (h + 1)).saturating_sub(1),
            );
            let i = row * cols + col;
            if i < n {
                if i != self.selected {
                    self.pixels.clear();
                }
                self.selected = i;
                let p = py.min(h - 1) * w + px.min(w - 1);
                if let Some(k) = self.pixels.iter().position(|&q| q == p) {
                    self.pixels.remove(k);
                } else if self.pixels.len() < 8 {
                    self.pixels.push(p);
                }
            }
        }
    }
}

/// What the loaded model offers a pane's settings.
#[derive(Clone, Copy)]
struct PaneCaps {
    /// The model is class-conditional (the w slider).
    conditional: bool,
    /// The model has raw weights of its own (not only EMA).
    has_raw: bool,
}

fn pane_settings_ui(ui: &mut egui::Ui, id: &str, s: &mut PaneSettings, caps: PaneCaps) {
    let l = ui.label(RichText::new(id.to_uppercase()).strong());
    egui::ComboBox::from_id_salt(format!("sampler_{id}"))
        .selected_text(s.sampler.label())
        .show_ui(ui, |ui| {
            for c in SamplerChoice::ALL {
                ui.selectable_value(&mut s.sampler, c, c.label());
            }
        })
        .response
        .labelled_by(l.id);
    match s.sampler {
        SamplerChoice::Ddim => {
            let l = ui.label("S");
            ui.add(egui::DragValue::new(&mut s.steps).range(1..=1000))
                .labelled_by(l.id);
            let l = ui.label("η");
            ui.add(egui::Slider::new(&mut s.eta, 0.0..=1.0).fixed_decimals(2))
                .labelled_by(l.id);
            let l = ui.label("spacing");
            egui::ComboBox::from_id_salt(format!("spacing_{id}"))
                .selected_text(s.spacing.name())
                .show_ui(ui, |ui| {
                    for sp in Spacing::ALL {
                        ui.selectable_value(&mut s.spacing, sp, sp.name());
                    }
                })
                .response
                .labelled_by(l.id);
        }
        SamplerChoice::Iddpm => {
            let l = ui.label("K");
            ui.add(egui::DragValue::new(&mut s.steps).range(1..=1000))
                .labelled_by(l.id);
        }
        SamplerChoice::Ddpm | SamplerChoice::DdpmTilde => {
            ui.label("all T steps");
        }
    }
    ui.selectable_value(&mut s.weights, Weights::Ema, "EMA");
    if caps.has_raw {
        ui.selectable_value(&mut s.weights, Weights::Raw, "raw");
    } else {
        s.weights = Weights::Ema;
        ui.add_enabled(false, egui::Button::selectable(false, "raw"))
            .on_disabled_hover_text(
                "This model ships only its EMA weights: raw would sample the same weights",
            );
    }
    if caps.conditional {
        let l = ui.label("w");
        ui.add(egui::Slider::new(&mut s.cfg_w, 0.0..=10.0).fixed_decimals(1))
            .labelled_by(l.id)
            .on_hover_text(
                "Classifier-free guidance weight: ε_w = (1 + w)·ε(x, y) − w·ε(x, null); 0 is the \
                 conditional model alone",
            );
    }
}

impl PlayerView {
    fn side_ui(&mut self, ui: &mut egui::Ui) {
        egui::CollapsingHeader::new(RichText::new("Equation").strong())
            .default_open(true)
            .show(ui, |ui| self.equation_ui(ui));
        // Open for a model (or classifier) that can be asked for a class; its own open state.
        let can_ask = self.model_classes() > 0;
        egui::CollapsingHeader::new(RichText::new("Guidance").strong())
            .id_salt(("player_guidance", can_ask))
            .default_open(can_ask)
            .show(ui, |ui| self.guidance_ui(ui));
        egui::CollapsingHeader::new(RichText::new("Quality").strong())
            .default_open(true)
            .show(ui, |ui| self.score_ui(ui));
        egui::CollapsingHeader::new(RichText::new("Trajectories").strong())
            .default_open(true)
            .show(ui, |ui| self.trajectories_ui(ui));
        egui::CollapsingHeader::new(RichText::new("Branch").strong())
            .default_open(false)
            .show(ui, |ui| self.branch_ui(ui));
        egui::CollapsingHeader::new(RichText::new("Noise, then denoise").strong())
            .default_open(false)
            .show(ui, |ui| self.ntd_ui(ui));
        egui::CollapsingHeader::new(RichText::new("Export").strong())
            .default_open(false)
            .show(ui, |ui| self.export_ui(ui));
    }

    fn equation_ui(&mut self, ui: &mut egui::Ui) {
        let step = {
            let rec = self.a.lock();
            rec.frames.get(self.frame).map(|f| (f.t, f.step))
        };
        let beta = |t: usize| {
            self.model()
                .and_then(|m| m.table.beta.get(t.wrapping_sub(1)).copied())
                .unwrap_or(f64::NAN)
        };
        match step {
            Some((_, Some(step))) => {
                for line in equation_lines(&step, beta(step.t)) {
                    ui.label(RichText::new(line).monospace());
                }
            }
            Some((_, None)) => {
                ui.label(RichText::new("t = 0: the chain's output x₀.").monospace());
            }
            None => {
                ui.label("No chain yet.");
            }
        }
    }

    fn trajectories_ui(&mut self, ui: &mut egui::Ui) {
        let rec = self.a.lock();
        let pixels = rec.pixels();
        let sel = self.selected.min(rec.n.saturating_sub(1));
        let current = rec.frames.get(self.frame).map(|f| f.t as f64);
        ui.label(format!(
            "Sample {sel}: click pixels in its x_t to follow them ({} picked).",
            self.pixels.len()
        ));
        crate::app::plot("player_pixels")
            .height(150.0)
            .legend(Legend::default())
            .x_axis_label("t (the chain runs from T down to 0)")
            .y_axis_label("pixel value")
            .show(ui, |plot| {
                for &p in &self.pixels {
                    let pts: PlotPoints = rec
                        .frames
                        .iter()
                        .map(|f| [f.t as f64, f64::from(f.xt.value(sel * pixels + p))])
                        .collect();
                    let (y, x) = (p / rec.shape[2].max(1), p % rec.shape[2].max(1));
                    plot.line(Line::new(format!("pixel ({x}, {y})"), pts));
                }
                if let Some(t) = current {
                    plot.vline(VLine::new("now", t).color(Color32::GRAY));
                }
            });
        let var0 = self.model().and_then(|m| m.data_variance);
        ui.label(match var0 {
            Some(v) => format!(
                "Variance of x_t across the grid vs the forward process's ᾱ_t·Var(x₀) + 1 − ᾱ_t \
                 (Var(x₀) = {v:.3}, measured on the data set):"
            ),
            None => "Variance of x_t across the grid:".to_owned(),
        });
        crate::app::plot("player_variance")
            .height(150.0)
            .legend(Legend::default())
            .x_axis_label("t")
            .show(ui, |plot| {
                let var: PlotPoints = rec.stats.iter().map(|s| [s.t as f64, s.var_xt]).collect();
                plot.line(Line::new("Var(x_t) across samples", var));
                if let Some(v0) = var0 {
                    let fwd: PlotPoints = rec
                        .stats
                        .iter()
                        .map(|s| {
                            let om = s.one_minus_alpha_bar;
                            [s.t as f64, (1.0 - om) * v0 + om]
                        })
                        .collect();
                    plot.line(Line::new("ᾱ_t·Var(x₀) + 1 − ᾱ_t (forward)", fwd));
                }
                if let Some(t) = current {
                    plot.vline(VLine::new("now", t).color(Color32::GRAY));
                }
            });
    }

    fn branch_ui(&mut self, ui: &mut egui::Ui) {
        ui.label("Fork the selected sample from the step on screen into k continuations with fresh noise.");
        if matches!(
            self.a.settings.kind(),
            crate::diffusion::SamplerKind::Ddim { eta, .. } if eta == 0.0
        ) {
            ui.horizontal(|ui| {
                let l = ui.label("continuations' η");
                ui.add(egui::Slider::new(&mut self.branch_eta, 0.0..=1.0))
                    .labelled_by(l.id)
                    .on_hover_text(
                        "Pane A's DDIM with η = 0 adds no noise; the branches continue with this η",
                    );
            });
            if self.branch_eta == 0.0 {
                ui.colored_label(
                    Color32::LIGHT_RED,
                    "η = 0 adds no noise: the k continuations will be the same image",
                );
            }
        }
        ui.horizontal(|ui| {
            let l = ui.label("k");
            ui.add(egui::DragValue::new(&mut self.fork_k).range(1..=64))
                .labelled_by(l.id);
            let busy = self.branches.is_sampling();
            if ui
                .add_enabled(!busy && self.a.frames() > 0, egui::Button::new("Fork here"))
                .clicked()
            {
                self.fork();
            }
            if busy {
                if let Some(j) = &self.branches.job {
                    let (d, t) = j.progress();
                    ui.add(
                        egui::ProgressBar::new(if t == 0 { 0.0 } else { d as f32 / t as f32 })
                            .desired_width(100.0),
                    );
                }
                if ui.button("Cancel").clicked()
                    && let Some(j) = &self.branches.job
                {
                    j.cancel();
                }
            }
        });
        if self.branches.frames() > 0 {
            ui.label("The branches play in sync below the main chain.");
        }
    }
}

/// One row of images (e.g. x_t at several t) from a [k, C, H, W] frame.
fn strip_color(q: &QFrame, k: usize, shape: [usize; 3]) -> egui::ColorImage {
    let [c, h, w] = shape;
    let gw = k * (w + 1) + 1;
    let mut px = vec![Color32::from_gray(45); gw * (h + 2)];
    let plane = h * w;
    for i in 0..k {
        for y in 0..h {
            for x in 0..w {
                let v = |ch: usize| {
                    crate::data::unit_to_u8(q.value(i * c * plane + ch * plane + y * w + x))
                };
                px[(y + 1) * gw + 1 + i * (w + 1) + x] = if c == 3 {
                    Color32::from_rgb(v(0), v(1), v(2))
                } else {
                    Color32::from_gray(v(0))
                };
            }
        }
    }
    egui::ColorImage::new([gw, h + 2], px)
}
