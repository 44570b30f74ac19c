//! The reverse-chain player: pure noise becomes a digit one step at a time, with x̂₀, ε̂ and
//! the added noise beside each x_t; A/B panes from the same x_T, branching, noise-then-denoise
//! and exports. Sampling and exports run on background threads; the UI only draws.
//!
//! This file keeps the state, the chain and the per-frame logic; the rest is beside it:
//! `panels.rs` (controls, transport, panes), `side.rs` (the side panel: equation and
//! trajectories), `branch.rs`, `export.rs`, `tools.rs` (noise-then-denoise, scoring),
//! `guidance.rs` and `live.rs` (the live chain beside training).

use crate::app::command::{Commands, HasOutbox, Outbox, PickMode};
use crate::diffusion::{SamplerPlan, Spacing, StrideRule};
use crate::jobs::BgJob;
use crate::sampling::export::{Weights, grid_cols, sampler_label};
use crate::sampling::job::{ChainJob, LoadedModel};
use crate::sampling::{
    ChainRecord, ChainSpec, FRAME_BUDGET_BYTES, QFrame, Reconstruction, SamplerChoice, auto_stride,
    run_chain,
};
use egui::{Color32, RichText};

mod branch;
mod export;
mod guidance;
mod live;
mod panels;
mod side;
mod tools;
use egui_plot::PlotPoints;
pub use export::ExportKind;
pub use guidance::{CFG_FORMULA, CG_FORMULA, ClassPick, GuidanceState, guidance_formulas};
pub use live::{LiveFollow, StripEntry};
pub use side::equation_lines as player_equation_lines;
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
    /// S (DDIM, the Karras samplers) or K (the strided samplers).
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
    /// How the strided samplers round their K steps.
    pub stride_rule: crate::diffusion::StrideRule,
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
            stride_rule: crate::diffusion::StrideRule::Floor,
        }
    }
}

impl PaneSettings {
    /// The core sampler these settings describe.
    pub fn kind(&self) -> crate::diffusion::SamplerKind {
        self.sampler
            .kind_with_rule(self.steps, self.eta, self.spacing, self.stride_rule)
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
    /// What leaves the view (jobs, dialogs, switching to the player), run by the app.
    out: Outbox<Self>,
}

impl HasOutbox for PlayerView {
    fn outbox(&mut self) -> &mut Outbox<Self> {
        &mut self.out
    }
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
            out: Outbox::default(),
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
            SamplerName::IddpmLearned => SamplerChoice::IddpmLearned,
            SamplerName::DdpmLearned => SamplerChoice::DdpmLearned,
            SamplerName::EulerKarras => SamplerChoice::EulerKarras,
            SamplerName::HeunKarras => SamplerChoice::HeunKarras,
            SamplerName::DpmPp2m => SamplerChoice::DpmPp2m,
        };
        self.a.settings.steps = spec.steps;
        self.a.settings.eta = spec.eta;
        self.a.settings.spacing = spec.spacing;
        self.a.settings.stride_rule = spec.stride_rule;
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
        let (job, launch) = BgJob::prepare("model-loader", self.wake(), move |_| {
            LoadedModel::load(&dir, &name)
        });
        self.out.start(launch);
        self.loader = Some(job);
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

    /// Opens a run card (written by the player's export or `sample --card`): its checkpoint,
    /// sampler, weights, grid size, seed and clip, then samples once the model is loaded.
    /// Guidance settings on the card are not restored (the CLI's `--from-card` does that).
    pub fn open_card(&mut self, card: &crate::sampling::export::RunCard) {
        use crate::diffusion::SamplerKind;
        let s = &mut self.a.settings;
        s.sampler = SamplerChoice::of_kind(&card.sampler);
        match card.sampler {
            SamplerKind::Ddpm { .. } => {}
            SamplerKind::Ddim {
                steps,
                eta,
                spacing,
            } => {
                (s.steps, s.eta, s.spacing) = (steps, eta, spacing);
            }
            SamplerKind::Iddpm { steps, rule, .. } => {
                s.steps = steps;
                s.stride_rule = rule;
            }
            SamplerKind::Karras { steps, .. } => {
                s.steps = steps;
            }
        }
        s.weights = card.weights;
        self.n = card.n.clamp(1, 256);
        self.seed = card.seed;
        self.clip = card.clip;
        self.source = ModelSource::Checkpoint(card.checkpoint.clone());
        self.load_model();
        self.sample_after_load = true;
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
        let mut settings = settings;
        if settings.sampler.needs_learned_sigma() && !model.ema.learns_sigma() {
            // A preset's learned-Σ sampler on a fixed-variance model: its fixed-Σ twin, named
            // as such in the label, rather than a "learned" chain that is not.
            settings.sampler = settings.sampler.fixed_twin();
            if which == 'a' {
                self.a.settings.sampler = settings.sampler;
            } else {
                self.b.settings.sampler = settings.sampler;
            }
        }
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
            Ok(spec) => {
                let (job, launch) = ChainJob::prepare(model, settings.weights, spec, wake);
                self.out.start(launch);
                pane.record = job.record.clone();
                pane.job = Some(job);
                pane.generation += 1;
                pane.tex = None;
            }
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
        // A t asked for before the chain was drawn (a lesson step, a seek) wins over settling
        // on the last frame: "Sampling starts from pure noise" showed the finished digits.
        let mut sought = false;
        if self.a.finished
            && let Some(t) = self.pending_t.take()
            && let Some(i) = self.a.frame_for_t(t)
        {
            self.frame = i;
            sought = true;
        }
        if std::mem::take(&mut self.a.finished) && !self.playing && self.following && !sought {
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
}
