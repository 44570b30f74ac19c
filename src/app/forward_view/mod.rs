//! The forward-process explorer: watch an image dissolve into noise under up to four schedules
//! driven by the same ε, with strips, synchronised curves, a histogram and a pixel readout.
//!
//! Per frame the view only does work when something changed: x_t is recomputed when t, the
//! image, a schedule or ε changes, the tiles (noising + colour map) run on the GPU when eframe's
//! wgpu device is attached (else on the CPU), and textures are updated in place. Loading and
//! exporting run on named worker threads; the step-by-step chain advances within a per-frame
//! time budget.

use crate::app::command::{AppCommand, Commands, HasOutbox, Outbox, PickMode};
use crate::data::{ColorMode, Dataset, TrianglePrep};
use crate::diffusion::{
    MAX_STEPS, Param, ScheduleError, ScheduleKind, ScheduleSpec, ScheduleTable,
};
use crate::explore::histogram::{Histogram, normal_curve};
use crate::explore::noising::{
    Chain, MAX_GRID, Planar, epsilon, forward, noise_stream, pixel_parts, rates_f32, split_grid,
};
use crate::explore::source::{DEFAULT_IMAGE_SIZE, Source, TRIANGLE_SIZE};
use crate::explore::strip::{SheetLayout, StripSpacing, compose_sheet, strip_timesteps, write_png};
use crate::explore::tiles::{ColorMap, TileJob, TileSpec, colorize, render_tiles_cpu};
use crate::explore::{ExploreError, GpuTiler};
use crate::jobs::BgJob;
use egui::{Color32, RichText, Sense, TextureHandle, TextureOptions};
use egui_plot::{Legend, LineStyle, PlotPoint, PlotPoints, VLine};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most schedules compared side by side.
pub const MAX_SCHEDULES: usize = crate::config::MAX_LESSON_SCHEDULES;
/// ε and noise are coloured on [−EPS_RANGE, EPS_RANGE].
const EPS_RANGE: f32 = 3.0;
/// Time the step-by-step chain may take per frame.
const CHAIN_FRAME_BUDGET: Duration = Duration::from_millis(6);
/// Memory for the chain's checkpoints.
const CHAIN_CHECKPOINT_BYTES: usize = 48 << 20;
/// Histogram range and bins.
const HIST_RANGE: f64 = 4.0;
const HIST_BINS: usize = 64;
/// The width of the strips' captions.
const STRIP_CAPTION_W: f32 = 90.0;
/// Curves are thinned to about this many points.
const MAX_CURVE_POINTS: usize = 200;

use super::PALETTE;

mod export;
mod panels;
mod plots;
mod scene;

/// The data sets offered in the menu: (label, source).
fn menu_sources() -> Vec<(&'static str, Source)> {
    let tri = |prep| Source::Triangles {
        prep,
        size: TRIANGLE_SIZE,
    };
    vec![
        ("MNIST", Source::Bundled("mnist".into())),
        ("Fashion-MNIST", Source::Bundled("fashion-mnist".into())),
        ("sklearn digits", Source::Bundled("sklearn-digits".into())),
        ("Twemoji", Source::Bundled("twemoji-32".into())),
        ("triangles (direct)", tri(TrianglePrep::Direct)),
        ("triangles (downsampled)", tri(TrianglePrep::Downsampled)),
        ("triangles (binary)", tri(TrianglePrep::Binary)),
    ]
}

/// How x_t is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseMode {
    /// q(x_t | x₀) in one step: √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε.
    ClosedForm,
    /// t steps of x_t = √α_t·x_{t−1} + √β_t·z.
    Chain,
}

/// A kind of tile on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileKind {
    /// The data x₀.
    X0,
    /// A schedule's ε (diverging map).
    Eps,
    /// A schedule's x_t.
    Xt,
    /// A schedule's noise part x_t − √ᾱ·x₀ (diverging map).
    Noise,
}

/// ᾱ, the rates and log₁₀ SNR against t, thinned for drawing.
struct Curves {
    alpha_bar: Vec<PlotPoint>,
    signal: Vec<PlotPoint>,
    noise: Vec<PlotPoint>,
    log10_snr: Vec<PlotPoint>,
}

impl Curves {
    fn new(table: &ScheduleTable) -> Self {
        let n = table.steps();
        let stride = n.div_ceil(MAX_CURVE_POINTS).max(1);
        let mut ts: Vec<usize> = (0..=n).step_by(stride).collect();
        if ts.last() != Some(&n) {
            ts.push(n);
        }
        let pts = |f: &dyn Fn(usize) -> f64, from: usize| -> Vec<PlotPoint> {
            ts.iter()
                .filter(|&&t| t >= from)
                .map(|&t| PlotPoint::new(t as f64, f(t)))
                .collect()
        };
        Self {
            alpha_bar: pts(&|t| table.alpha_bar_at(t), 0),
            signal: pts(&|t| table.alpha_bar_at(t).sqrt(), 0),
            noise: pts(&|t| table.one_minus_alpha_bar_at(t).sqrt(), 0),
            log10_snr: pts(&|t| table.log_snr[t - 1] / std::f64::consts::LN_10, 1),
        }
    }
}

/// One schedule of the comparison.
pub struct ForwardSchedule {
    /// The parameters.
    pub spec: ScheduleSpec,
    /// The colour of its curves and captions.
    pub color: Color32,
    computed_for: Option<ScheduleSpec>,
    result: Result<(Arc<ScheduleTable>, Arc<Curves>), ScheduleError>,
}

impl ForwardSchedule {
    /// A schedule, validated at once.
    pub fn new(spec: ScheduleSpec, color: Color32) -> Self {
        let mut s = Self {
            spec,
            color,
            computed_for: None,
            result: Err(ScheduleError::StepsOutOfRange(0)),
        };
        s.refresh();
        s
    }

    /// Recomputes the table if the parameters changed.
    fn refresh(&mut self) {
        if self.computed_for.as_ref() == Some(&self.spec) {
            return;
        }
        self.result = self.spec.table().map(|t| {
            let curves = Arc::new(Curves::new(&t));
            (Arc::new(t), curves)
        });
        self.computed_for = Some(self.spec.clone());
    }

    /// The table, if the parameters are valid.
    pub fn table(&self) -> Option<&Arc<ScheduleTable>> {
        self.result.as_ref().ok().map(|(t, _)| t)
    }

    /// The validation error, if any.
    pub fn error(&self) -> Option<&ScheduleError> {
        self.result.as_ref().err()
    }

    fn curves(&self) -> Option<&Curves> {
        self.result.as_ref().ok().map(|(_, c)| c.as_ref())
    }
}

/// A texture and the pixels it shows.
struct TileSlot {
    width: usize,
    height: usize,
    rgba: Vec<u8>,
    texture: TextureHandle,
}

fn upload(
    ctx: &egui::Context,
    slot: &mut Option<TileSlot>,
    name: &str,
    width: usize,
    height: usize,
    rgba: Vec<u8>,
) {
    let image = egui::ColorImage::from_rgba_unmultiplied([width, height], &rgba);
    match slot {
        Some(s) => {
            crate::app::widgets::set_picture(ctx, &mut s.texture, image, TextureOptions::NEAREST);
            s.width = width;
            s.height = height;
            s.rgba = rgba;
        }
        None => {
            *slot = Some(TileSlot {
                width,
                height,
                rgba,
                texture: crate::app::widgets::load_picture(
                    ctx,
                    name,
                    image,
                    TextureOptions::NEAREST,
                ),
            });
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct XtKey {
    x0_gen: u64,
    eps_gen: u64,
    sched_gen: u64,
    t: usize,
    mode: NoiseMode,
    reached: Vec<usize>,
}

/// One strip: a schedule's x_t at several t.
struct StripRow {
    schedule: usize,
    ts: Vec<usize>,
    cells: Vec<Option<TileSlot>>,
}

/// Everything derived from the inputs, rebuilt only when they change.
#[derive(Default)]
struct Scene {
    specs_seen: Vec<ScheduleSpec>,
    x0_key: Option<(u64, usize, usize)>,
    x0: Option<Arc<Planar>>,
    x0_plane: Arc<Vec<f32>>,
    x0_gen: u64,
    hist_x0: Option<Histogram>,
    eps_key: Option<(usize, u64, bool, usize)>,
    eps: Vec<Arc<Vec<f32>>>,
    eps_gen: u64,
    chain_key: Option<(u64, u64, u64)>,
    chain: Option<Chain>,
    /// Schedule index of each chain row.
    chain_rows: Vec<usize>,
    chain_done: bool,
    xt_key: Option<XtKey>,
    /// x_t and the t it is at, per schedule (empty when the schedule is invalid).
    xt: Vec<Vec<f32>>,
    shown_t: Vec<usize>,
    hist_xt: Vec<Option<Histogram>>,
    job_seq: u64,
    shown_job: u64,
    gpu_orders: Vec<(u64, Vec<(TileKind, usize)>)>,
    tiles: HashMap<(TileKind, usize), Option<TileSlot>>,
    strip_key: Option<(u64, u64, u64, usize, StripSpacing)>,
    strips: Vec<StripRow>,
    strip_levels: Vec<f64>,
}

/// A data set being loaded in the background (a [`BgJob`]: dropping it joins the thread).
struct Loader {
    source: Source,
    label: String,
    job: BgJob<Result<Dataset, String>>,
}

/// A file export being written in the background. Dropping it (closing the app) waits for the
/// file, which is written atomically, so no half-written export is left behind.
struct Export {
    job: BgJob<Result<String, String>>,
}

/// What the side panel asked for; applied after drawing.
enum Action {
    Load(Source, String),
    OpenImage,
    OpenFolder,
    OpenNpy,
    Add(ScheduleKind),
    Remove(usize),
    Reseed,
    ExportStrip,
    ExportComparison,
    ExportNpy,
}

/// The forward-process explorer view.
pub struct ForwardView {
    /// Show the side panel of controls (hidden in the classroom presenter layout).
    pub show_controls: bool,
    /// The source of the loaded data set (or of the one being loaded, see [`Self::busy`]).
    pub source: Source,
    /// The side of the user's images after centre-crop and resize.
    pub image_size: u32,
    /// Gray or RGB for the user's images.
    pub image_color: ColorMode,
    dataset: Option<Arc<Dataset>>,
    dataset_label: String,
    data_gen: u64,
    loader: Option<Loader>,
    load_started: bool,
    /// The last loading error.
    pub load_error: Option<String>,
    /// The image shown (the first of the grid).
    pub index: usize,
    /// The grid side: 1 shows one image, g shows g×g images of the batch from `index` on.
    pub grid: usize,
    /// The schedules compared (1 to 4).
    pub schedules: Vec<ForwardSchedule>,
    /// What leaves the view (dialogs, jobs, schedules for the lab), run by the app.
    out: Outbox<Self>,
    sched_gen: u64,
    /// The noise seed.
    pub seed: u64,
    /// One ε for every schedule, so that only the schedule differs.
    pub same_noise: bool,
    /// Closed form or step-by-step chain.
    pub mode: NoiseMode,
    /// The slider's t (clamped to each schedule's T).
    pub t: usize,
    /// Whether t advances by itself.
    pub playing: bool,
    /// Playback speed in steps per second.
    pub speed: f32,
    play_carry: f64,
    /// Columns of the strips.
    pub strip_columns: usize,
    /// How strip columns are spread.
    pub strip_spacing: StripSpacing,
    /// Use the GPU for the tiles when available.
    pub use_gpu: bool,
    gpu: Option<GpuTiler>,
    gpu_note: String,
    scene: Scene,
    hover: Option<(usize, usize)>,
    export: Option<Export>,
    /// The last message for the user, and whether it is an error.
    pub message: Option<(String, bool)>,
}

impl Default for ForwardView {
    /// MNIST image 0, linear and cosine with T = 1000, t = 250, one shared ε (seed 0).
    fn default() -> Self {
        Self {
            show_controls: true,
            source: Source::default(),
            image_size: DEFAULT_IMAGE_SIZE,
            image_color: ColorMode::Rgb,
            dataset: None,
            dataset_label: "MNIST".into(),
            data_gen: 0,
            loader: None,
            load_started: false,
            load_error: None,
            index: 0,
            grid: 1,
            schedules: vec![
                ForwardSchedule::new(ScheduleSpec::new(ScheduleKind::Linear, 1000), PALETTE[0]),
                ForwardSchedule::new(ScheduleSpec::new(ScheduleKind::Cosine, 1000), PALETTE[1]),
            ],
            out: Outbox::default(),
            sched_gen: 1,
            seed: 0,
            same_noise: true,
            mode: NoiseMode::ClosedForm,
            t: 250,
            playing: false,
            speed: 200.0,
            play_carry: 0.0,
            strip_columns: 8,
            strip_spacing: StripSpacing::EqualT,
            use_gpu: true,
            gpu: None,
            gpu_note: "CPU (no wgpu device attached)".into(),
            scene: Scene::default(),
            hover: None,
            export: None,
            message: None,
        }
    }
}

impl HasOutbox for ForwardView {
    fn outbox(&mut self) -> &mut Outbox<Self> {
        &mut self.out
    }
}

impl ForwardView {
    /// A view on `dataset` (already loaded; nothing is loaded in the background).
    pub fn with_dataset(dataset: Dataset) -> Self {
        let label = dataset.name().to_owned();
        Self {
            dataset: Some(Arc::new(dataset)),
            dataset_label: label,
            data_gen: 1,
            load_started: true,
            ..Self::default()
        }
    }

    /// Takes over `old`'s GPU tiler (a reset keeps the device, not the state).
    pub fn take_gpu_from(&mut self, old: ForwardView) {
        let mut old = old;
        self.gpu = old.gpu.take();
        self.gpu_note = std::mem::take(&mut old.gpu_note);
    }

    /// Runs the tiles on a wgpu device (eframe's, when the wgpu renderer is active). On failure
    /// the view keeps the CPU path and says why in the status bar.
    pub fn attach_gpu(&mut self, rs: &eframe::egui_wgpu::RenderState) {
        let info = rs.adapter.get_info();
        match GpuTiler::new(
            &rs.device,
            &rs.queue,
            &rs.adapter.get_downlevel_capabilities(),
        ) {
            Ok(tiler) => {
                self.gpu = Some(tiler);
                self.gpu_note = format!("GPU ({}, {:?})", info.name, info.backend);
            }
            Err(e) => {
                self.gpu = None;
                self.gpu_note = format!("CPU ({e})");
            }
        }
    }

    /// Runs the tiles on an already built GPU tiler (benchmarks, tests); `note` names it.
    pub fn attach_tiler(&mut self, tiler: GpuTiler, note: String) {
        self.gpu = Some(tiler);
        self.gpu_note = note;
    }

    /// Where the tiles are computed now, e.g. "CPU" or "GPU (llvmpipe …)".
    pub fn tiles_path(&self) -> String {
        if self.use_gpu && self.gpu.is_some() {
            self.gpu_note.clone()
        } else if self.gpu.is_some() {
            "CPU (GPU off)".into()
        } else {
            self.gpu_note.clone()
        }
    }

    /// How many images the loaded data set has (None until one is loaded).
    pub fn dataset_len(&self) -> Option<usize> {
        self.dataset.as_ref().map(|d| d.len())
    }

    /// Whether work is under way: loading, the chain catching up, or a GPU job in flight.
    pub fn busy(&self) -> bool {
        self.loader.is_some()
            || (!self.load_started && self.dataset.is_none())
            || (self.mode == NoiseMode::Chain && !self.scene.chain_done)
            || self.gpu.as_ref().is_some_and(GpuTiler::busy)
            || self.export.is_some()
    }

    /// The loaded data set.
    pub fn dataset(&self) -> Option<&Dataset> {
        self.dataset.as_deref()
    }

    /// x₀ as shown (the image, or the grid of the batch).
    pub fn x0(&self) -> Option<&Planar> {
        self.scene.x0.as_deref()
    }

    /// Schedule `i`'s ε.
    pub fn eps(&self, i: usize) -> Option<&[f32]> {
        self.scene.eps.get(i).map(|e| e.as_slice())
    }

    /// Schedule `i`'s x_t as last computed.
    pub fn xt(&self, i: usize) -> Option<&[f32]> {
        self.scene
            .xt
            .get(i)
            .filter(|v| !v.is_empty())
            .map(Vec::as_slice)
    }

    /// The t of schedule `i`'s x_t on screen (the slider's t clamped to T, or where the chain is).
    pub fn shown_t(&self, i: usize) -> Option<usize> {
        self.scene.shown_t.get(i).copied()
    }

    /// The pixels of a tile as uploaded to its texture (RGBA8).
    pub fn tile_rgba(&self, kind: TileKind, schedule: usize) -> Option<&[u8]> {
        self.scene
            .tiles
            .get(&(kind, schedule))
            .and_then(Option::as_ref)
            .map(|s| s.rgba.as_slice())
    }

    /// The t of each strip column of schedule `i`.
    pub fn strip_ts(&self, i: usize) -> Option<&[usize]> {
        self.scene
            .strips
            .iter()
            .find(|r| r.schedule == i)
            .map(|r| r.ts.as_slice())
    }

    /// The largest T of the valid schedules (the slider's end).
    pub fn t_max(&self) -> usize {
        self.schedules
            .iter()
            .filter_map(|s| s.table().map(|t| t.steps()))
            .max()
            .unwrap_or(1000)
    }

    /// Replaces the schedules with the first [`MAX_SCHEDULES`] of `specs` (from the schedule
    /// lab); nothing changes when `specs` is empty.
    pub fn set_schedules(&mut self, specs: &[ScheduleSpec]) {
        if specs.is_empty() {
            return;
        }
        self.schedules.clear();
        for s in specs.iter().take(MAX_SCHEDULES) {
            self.add_schedule(s.clone());
        }
        self.sched_gen += 1;
    }

    /// Shows the data set of `source`, loading it in the background unless it is already shown
    /// or being loaded.
    pub fn show_source(&mut self, source: Source) {
        if self.source == source && (self.dataset.is_some() || self.loader.is_some()) {
            return;
        }
        self.source = source;
        self.dataset = None;
        self.loader = None;
        self.load_started = false;
        self.load_error = None;
        self.index = 0;
        self.data_gen += 1;
    }

    /// Adds a schedule (at most [`MAX_SCHEDULES`]) with the next free colour.
    pub fn add_schedule(&mut self, spec: ScheduleSpec) {
        if self.schedules.len() >= MAX_SCHEDULES {
            return;
        }
        let color = PALETTE
            .iter()
            .copied()
            .find(|c| self.schedules.iter().all(|s| s.color != *c))
            .unwrap_or(PALETTE[0]);
        self.schedules.push(ForwardSchedule::new(spec, color));
        self.sched_gen += 1;
    }

    /// A new noise seed (the next one).
    pub fn reseed(&mut self) {
        self.seed = self.seed.wrapping_add(1);
    }

    /// One line for the status bar.
    pub fn status_text(&self) -> String {
        let what = if self.loader.is_some() {
            "loading…".to_owned()
        } else {
            let g = if self.grid > 1 {
                format!(" (grid {0}×{0})", self.grid)
            } else {
                String::new()
            };
            format!("{} #{}{g}", self.dataset_label, self.index)
        };
        let n = self.schedules.len();
        let mode = match self.mode {
            NoiseMode::ClosedForm => "closed form",
            NoiseMode::Chain => "step-by-step chain",
        };
        let path = self.tiles_path();
        format!(
            "{what} · {n} schedule{} · t = {} · {mode} · tiles on {path}",
            if n == 1 { "" } else { "s" },
            self.t
        )
    }

    // ------------------------------------------------------------------ loading

    fn start_load(&mut self, ctx: &egui::Context, source: Source, label: String) {
        let job = source.clone();
        let repaint = ctx.clone();
        let wake = Arc::new(move || repaint.request_repaint());
        let (job, launch) = BgJob::prepare("forward-loader", wake, move |_| {
            job.load().map_err(|e| e.to_string())
        });
        self.load_started = true;
        self.out.start(launch);
        self.loader = Some(Loader { source, label, job });
    }

    fn poll_loader(&mut self) {
        let Some(loader) = &self.loader else { return };
        if !loader.job.is_finished() {
            return;
        }
        let Some(mut loader) = self.loader.take() else {
            return;
        };
        let result = loader
            .job
            .take()
            .flatten()
            .unwrap_or_else(|| Err("the loader crashed or could not start".into()));
        match result {
            Ok(ds) => {
                if !ds.warnings().is_empty() {
                    // e.g. undecodable or truncated files in a folder: say so, never silently.
                    let msg = format!("{}: {}", loader.label, ds.warnings().join("; "));
                    self.message = Some((msg, true));
                }
                self.index = self.index.min(ds.len().saturating_sub(1));
                self.dataset = Some(Arc::new(ds));
                self.dataset_label = loader.label;
                self.source = loader.source;
                self.data_gen += 1;
                self.load_error = None;
            }
            Err(e) => self.load_error = Some(e),
        }
    }

    fn poll_export(&mut self) {
        let Some(export) = &mut self.export else {
            return;
        };
        let Some(result) = export.job.take() else {
            return;
        };
        self.export = None;
        self.message = Some(match result {
            Some(Ok(msg)) => (msg, false),
            Some(Err(msg)) => (msg, true),
            None => ("the export crashed".into(), true),
        });
    }
}

fn tile_name((kind, i): (TileKind, usize)) -> String {
    format!("forward-{kind:?}-{i}")
}

fn ui_text_color(ctx: &egui::Context) -> Color32 {
    ctx.global_style().visuals.text_color()
}

fn no_image() -> ExploreError {
    ExploreError::InvalidParameter {
        name: "data",
        reason: "is not loaded yet".into(),
    }
}

/// Magnify small images so that a tile is at least 64 pixels wide.
fn export_scale(x0: &Planar) -> u32 {
    (64usize.div_ceil(x0.width.max(1))).clamp(1, 8) as u32
}

fn file_label(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Grid marks whose largest step is a 1-2-5 number at least `label_px` points apart on an
/// axis `len_px` long (so its tick labels show); `integer` keeps every step a whole number
/// (decades of a log₁₀ axis).
fn nice_spacer(
    len_px: f32,
    label_px: f64,
    integer: bool,
) -> impl Fn(egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let len_px = f64::from(len_px.max(1.0));
    egui_plot::uniform_grid_spacer(move |input| {
        let span = (input.bounds.1 - input.bounds.0).abs().max(1e-12);
        let want = label_px * span / len_px;
        let decade = 10f64.powf(want.log10().floor());
        let mut big = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|m| m * decade)
            .find(|&v| v >= want)
            .unwrap_or(10.0 * decade);
        if integer {
            big = big.max(1.0).round();
        }
        let mid = if integer {
            (big / 2.0).max(1.0)
        } else {
            big / 2.0
        };
        let small = if integer {
            (big / 10.0).max(1.0)
        } else {
            big / 10.0
        };
        [small, mid, big]
    })
}

/// "1e-3"-style labels for a log₁₀ axis.
fn log10_tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        match v.round() as i64 {
            0 => "1".into(),
            1 => "10".into(),
            k => format!("1e{k}"),
        }
    } else {
        String::new()
    }
}
