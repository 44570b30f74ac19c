//! The forward-process explorer: watch an image dissolve into noise under up to four schedules
//! driven by the same ε, with strips, synchronised curves, a histogram and a pixel readout.
//!
//! Per frame the view only does work when something changed: x_t is recomputed when t, the
//! image, a schedule or ε changes, the tiles (noising + colour map) run on the GPU when eframe's
//! wgpu device is attached (else on the CPU), and textures are updated in place. Loading and
//! exporting run on named worker threads; the step-by-step chain advances within a per-frame
//! time budget.

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
use egui::{Color32, RichText, Sense, TextureHandle, TextureOptions};
use egui_plot::{Legend, Line, LineStyle, PlotPoint, PlotPoints, VLine};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// The most schedules compared side by side.
pub const MAX_SCHEDULES: usize = 4;
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
            s.texture.set(image, TextureOptions::NEAREST);
            s.width = width;
            s.height = height;
            s.rgba = rgba;
        }
        None => {
            *slot = Some(TileSlot {
                width,
                height,
                rgba,
                texture: ctx.load_texture(name, image, TextureOptions::NEAREST),
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

struct Loader {
    source: Source,
    label: String,
    rx: mpsc::Receiver<Result<Dataset, String>>,
}

/// A file export that a worker thread is writing.
struct Export {
    rx: mpsc::Receiver<Result<String, String>>,
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
    /// "Use in the schedule lab" was clicked; the app copies the schedules over (#20 item 8).
    pub send_to_lab: bool,
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
            send_to_lab: false,
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
        let (tx, rx) = mpsc::sync_channel(1);
        let job = source.clone();
        let repaint = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("forward-loader".into())
            .spawn(move || {
                let result = job.load().map_err(|e| e.to_string());
                let _ = tx.send(result);
                repaint.request_repaint();
            });
        self.load_started = true;
        match spawned {
            Ok(_) => self.loader = Some(Loader { source, label, rx }),
            Err(e) => self.load_error = Some(format!("could not start the loader: {e}")),
        }
    }

    fn poll_loader(&mut self) {
        let Some(loader) = &self.loader else { return };
        let result = match loader.rx.try_recv() {
            Ok(r) => r,
            Err(mpsc::TryRecvError::Empty) => return,
            Err(mpsc::TryRecvError::Disconnected) => Err("the loader stopped unexpectedly".into()),
        };
        let Some(loader) = self.loader.take() else {
            return;
        };
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
        let Some(export) = &self.export else { return };
        match export.rx.try_recv() {
            Ok(Ok(msg)) => {
                self.message = Some((msg, false));
                self.export = None;
            }
            Ok(Err(msg)) => {
                self.message = Some((msg, true));
                self.export = None;
            }
            Err(mpsc::TryRecvError::Empty) => {}
            Err(mpsc::TryRecvError::Disconnected) => {
                self.message = Some(("the export stopped unexpectedly".into(), true));
                self.export = None;
            }
        }
    }

    // ------------------------------------------------------------------ the scene

    /// Brings x₀, ε, x_t, the tiles and the strips up to date with the inputs. Cheap when
    /// nothing changed.
    fn update_scene(&mut self, ctx: &egui::Context) {
        // The editor may already have revalidated a schedule, so compare the parameters
        // themselves to see whether anything changed.
        for s in &mut self.schedules {
            s.refresh();
        }
        if self.schedules.len() != self.scene.specs_seen.len()
            || self
                .schedules
                .iter()
                .zip(&self.scene.specs_seen)
                .any(|(s, seen)| s.spec != *seen)
        {
            self.sched_gen += 1;
            self.scene.specs_seen = self.schedules.iter().map(|s| s.spec.clone()).collect();
        }
        self.collect_gpu(ctx);
        let Some(ds) = self.dataset.clone() else {
            return;
        };
        self.index = self.index.min(ds.len().saturating_sub(1));
        self.grid = self.grid.clamp(1, MAX_GRID);
        let key = (self.data_gen, self.index, self.grid);
        if self.scene.x0_key != Some(key) {
            match Planar::grid(&ds, self.index, self.grid) {
                Ok(p) => {
                    self.scene.hist_x0 =
                        Some(Histogram::new(&p.data, -HIST_RANGE, HIST_RANGE, HIST_BINS));
                    self.scene.x0_plane = Arc::new(p.data.clone());
                    self.scene.x0 = Some(Arc::new(p));
                    self.scene.x0_gen += 1;
                    self.scene.x0_key = Some(key);
                }
                Err(e) => {
                    self.message = Some((e.to_string(), true));
                    return;
                }
            }
        }
        let Some(x0) = self.scene.x0.clone() else {
            return;
        };
        let n_s = self.schedules.len();
        let ekey = (x0.len(), self.seed, self.same_noise, n_s);
        if self.scene.eps_key != Some(ekey) {
            let mut made: HashMap<u64, Arc<Vec<f32>>> = HashMap::new();
            self.scene.eps = (0..n_s)
                .map(|i| {
                    let stream = noise_stream(i, self.same_noise);
                    made.entry(stream)
                        .or_insert_with(|| Arc::new(epsilon(self.seed, stream, x0.len())))
                        .clone()
                })
                .collect();
            self.scene.eps_gen += 1;
            self.scene.eps_key = Some(ekey);
        }
        self.t = self.t.min(self.t_max());
        self.update_xt(ctx, &x0);
        self.update_strips(ctx, &x0);
    }

    fn update_xt(&mut self, ctx: &egui::Context, x0: &Planar) {
        let n_s = self.schedules.len();
        if self.mode == NoiseMode::Chain {
            let ckey = (self.scene.x0_gen, self.scene.eps_gen, self.sched_gen);
            if self.scene.chain_key != Some(ckey) || self.scene.chain.is_none() {
                let rows: Vec<usize> = (0..n_s)
                    .filter(|&i| self.schedules[i].table().is_some())
                    .collect();
                let tables: Vec<Arc<ScheduleTable>> = rows
                    .iter()
                    .filter_map(|&i| self.schedules[i].table().cloned())
                    .collect();
                let streams: Vec<u64> = rows
                    .iter()
                    .map(|&i| noise_stream(i, self.same_noise))
                    .collect();
                self.scene.chain = Some(Chain::new(
                    &x0.data,
                    &tables,
                    &streams,
                    self.seed,
                    CHAIN_CHECKPOINT_BYTES,
                ));
                self.scene.chain_rows = rows;
                self.scene.chain_key = Some(ckey);
            }
            if let Some(chain) = &mut self.scene.chain {
                let done = chain.advance(self.t, Some(Instant::now() + CHAIN_FRAME_BUDGET));
                self.scene.chain_done = done;
                if !done {
                    ctx.request_repaint();
                }
            }
        } else {
            self.scene.chain = None;
            self.scene.chain_key = None;
            self.scene.chain_done = true;
        }
        let mut shown = vec![0usize; n_s];
        for (i, s) in self.schedules.iter().enumerate() {
            if let Some(table) = s.table() {
                shown[i] = self.t.min(table.steps());
            }
        }
        if let Some(chain) = &self.scene.chain {
            for (j, &i) in self.scene.chain_rows.iter().enumerate() {
                shown[i] = chain.t(j).unwrap_or(0);
            }
        }
        let key = XtKey {
            x0_gen: self.scene.x0_gen,
            eps_gen: self.scene.eps_gen,
            sched_gen: self.sched_gen,
            t: self.t,
            mode: self.mode,
            reached: shown.clone(),
        };
        if self.scene.xt_key.as_ref() == Some(&key) {
            return;
        }
        let mut xt = vec![Vec::new(); n_s];
        match &self.scene.chain {
            Some(chain) => {
                for (j, &i) in self.scene.chain_rows.iter().enumerate() {
                    xt[i] = chain.x(j).map(<[f32]>::to_vec).unwrap_or_default();
                }
            }
            None => {
                for (i, s) in self.schedules.iter().enumerate() {
                    if let (Some(table), Some(eps)) = (s.table(), self.scene.eps.get(i)) {
                        xt[i] = forward(table, shown[i], &x0.data, eps);
                    }
                }
            }
        }
        self.scene.hist_xt = xt
            .iter()
            .map(|v| (!v.is_empty()).then(|| Histogram::new(v, -HIST_RANGE, HIST_RANGE, HIST_BINS)))
            .collect();
        let job = self.tile_job(x0, &xt, &shown);
        self.scene.xt = xt;
        self.scene.shown_t = shown;
        self.scene.xt_key = Some(key);
        self.scene.tiles.retain(|(_, i), _| *i < n_s);
        self.render_tiles(ctx, job);
    }

    /// The tiles on screen for the current x_t: x₀, then per schedule ε, x_t and the noise part.
    fn tile_job(
        &self,
        x0: &Planar,
        xt: &[Vec<f32>],
        shown: &[usize],
    ) -> (TileJob, Vec<(TileKind, usize)>) {
        let mut planes = vec![self.scene.x0_plane.clone()];
        let mut tiles = vec![TileSpec {
            a: 1.0,
            a_plane: 0,
            b: 0.0,
            b_plane: 0,
            map: ColorMap::Data,
        }];
        let mut order = vec![(TileKind::X0, 0)];
        let div = ColorMap::Diverging { range: EPS_RANGE };
        for (i, s) in self.schedules.iter().enumerate() {
            let (Some(table), Some(eps)) = (s.table(), self.scene.eps.get(i)) else {
                continue;
            };
            // A shared ε is uploaded once.
            let e = match planes.iter().position(|p| Arc::ptr_eq(p, eps)) {
                Some(k) => k as u32,
                None => {
                    planes.push(eps.clone());
                    (planes.len() - 1) as u32
                }
            };
            let (a, b) = rates_f32(table, shown[i]);
            tiles.push(TileSpec {
                a: 1.0,
                a_plane: e,
                b: 0.0,
                b_plane: e,
                map: div,
            });
            order.push((TileKind::Eps, i));
            if self.mode == NoiseMode::Chain {
                let p = planes.len() as u32;
                planes.push(Arc::new(xt[i].clone()));
                tiles.push(TileSpec {
                    a: 1.0,
                    a_plane: p,
                    b: 0.0,
                    b_plane: p,
                    map: ColorMap::Data,
                });
                tiles.push(TileSpec {
                    a: 1.0,
                    a_plane: p,
                    b: -a,
                    b_plane: 0,
                    map: div,
                });
            } else {
                tiles.push(TileSpec {
                    a,
                    a_plane: 0,
                    b,
                    b_plane: e,
                    map: ColorMap::Data,
                });
                tiles.push(TileSpec {
                    a: 0.0,
                    a_plane: 0,
                    b,
                    b_plane: e,
                    map: div,
                });
            }
            order.push((TileKind::Xt, i));
            order.push((TileKind::Noise, i));
        }
        let job = TileJob {
            width: x0.width,
            height: x0.height,
            channels: x0.channels,
            planes,
            tiles,
        };
        (job, order)
    }

    fn render_tiles(
        &mut self,
        ctx: &egui::Context,
        (job, order): (TileJob, Vec<(TileKind, usize)>),
    ) {
        let (w, h) = (job.width, job.height);
        if self.use_gpu
            && let Some(gpu) = &mut self.gpu
        {
            self.scene.job_seq += 1;
            let seq = self.scene.job_seq;
            match gpu.submit(seq, job.clone()) {
                Ok(()) => {
                    self.scene.gpu_orders.push((seq, order));
                    ctx.request_repaint();
                    return;
                }
                Err(e) => {
                    self.gpu = None;
                    self.gpu_note = format!("CPU (GPU failed: {e})");
                }
            }
        }
        match render_tiles_cpu(&job) {
            Ok(outs) => {
                for (out, key) in outs.into_iter().zip(order) {
                    let slot = self.scene.tiles.entry(key).or_insert(None);
                    upload(ctx, slot, &tile_name(key), w, h, out.rgba);
                }
            }
            Err(e) => self.message = Some((format!("internal error: {e}"), true)),
        }
    }

    /// Uploads a finished GPU job, if any.
    fn collect_gpu(&mut self, ctx: &egui::Context) {
        let Some(gpu) = &mut self.gpu else { return };
        if gpu.busy() {
            ctx.request_repaint();
        }
        let Some(result) = gpu.poll() else { return };
        match result {
            Ok((key, outs)) => {
                let Some(pos) = self.scene.gpu_orders.iter().position(|(k, _)| *k == key) else {
                    return;
                };
                let (_, order) = self.scene.gpu_orders.remove(pos);
                self.scene.gpu_orders.retain(|(k, _)| *k > key);
                if key < self.scene.shown_job {
                    return;
                }
                self.scene.shown_job = key;
                let Some(x0) = &self.scene.x0 else { return };
                let (w, h) = (x0.width, x0.height);
                for (out, tk) in outs.into_iter().zip(order) {
                    if out.rgba.len() != w * h * 4 {
                        continue;
                    }
                    let slot = self.scene.tiles.entry(tk).or_insert(None);
                    upload(ctx, slot, &tile_name(tk), w, h, out.rgba);
                }
            }
            Err(e) => {
                self.gpu = None;
                self.gpu_note = format!("CPU (GPU failed: {e})");
                self.scene.xt_key = None;
            }
        }
    }

    fn update_strips(&mut self, ctx: &egui::Context, x0: &Planar) {
        let key = (
            self.scene.x0_gen,
            self.scene.eps_gen,
            self.sched_gen,
            self.strip_columns,
            self.strip_spacing,
        );
        if self.scene.strip_key == Some(key) {
            return;
        }
        self.scene.strip_key = Some(key);
        let valid: Vec<usize> = (0..self.schedules.len())
            .filter(|&i| self.schedules[i].table().is_some())
            .collect();
        let tables: Vec<&ScheduleTable> = valid
            .iter()
            .filter_map(|&i| self.schedules[i].table().map(|t| t.as_ref()))
            .collect();
        let columns = strip_timesteps(&tables, self.strip_columns, self.strip_spacing);
        self.scene.strip_levels = if self.strip_spacing == StripSpacing::EqualLogSnr {
            crate::explore::strip::log_snr_levels(&tables, self.strip_columns)
        } else {
            Vec::new()
        };
        let mut old = std::mem::take(&mut self.scene.strips);
        for ((&i, table), ts) in valid.iter().zip(&tables).zip(columns) {
            let Some(eps) = self.scene.eps.get(i) else {
                continue;
            };
            let mut cells: Vec<Option<TileSlot>> = old
                .iter_mut()
                .find(|r| r.schedule == i)
                .map(|r| std::mem::take(&mut r.cells))
                .unwrap_or_default();
            cells.resize_with(ts.len(), || None);
            cells.truncate(ts.len());
            for (k, &t) in ts.iter().enumerate() {
                let xt = forward(table, t, &x0.data, eps);
                let rgba = colorize(&xt, x0.width, x0.height, x0.channels, ColorMap::Data);
                upload(
                    ctx,
                    &mut cells[k],
                    &format!("forward-strip-{i}-{k}"),
                    x0.width,
                    x0.height,
                    rgba,
                );
            }
            self.scene.strips.push(StripRow {
                schedule: i,
                ts,
                cells,
            });
        }
    }

    // ------------------------------------------------------------------ export

    /// The strips as one sheet: a row per schedule, a column per t.
    pub fn strip_sheet(&self) -> Result<image::RgbaImage, ExploreError> {
        let x0 = self.scene.x0.as_ref().ok_or_else(no_image)?;
        let rows: Vec<&StripRow> = self.scene.strips.iter().collect();
        let cols = rows.first().map_or(0, |r| r.cells.len());
        let mut tiles: Vec<&[u8]> = Vec::new();
        for r in &rows {
            for c in &r.cells {
                tiles.push(c.as_ref().map_or(&[][..], |s| s.rgba.as_slice()));
            }
        }
        compose_sheet(
            SheetLayout {
                rows: rows.len() as u32,
                cols: cols as u32,
                tile_w: x0.width as u32,
                tile_h: x0.height as u32,
                scale: export_scale(x0),
            },
            &tiles,
        )
    }

    /// The comparison at the current t as one sheet: per schedule a row of x₀, ε, x_t and the
    /// noise part.
    pub fn comparison_sheet(&self) -> Result<image::RgbaImage, ExploreError> {
        let x0 = self.scene.x0.as_ref().ok_or_else(no_image)?;
        let mut tiles: Vec<&[u8]> = Vec::new();
        let mut rows = 0;
        for i in 0..self.schedules.len() {
            let row: Vec<Option<&[u8]>> = [
                self.tile_rgba(TileKind::X0, 0),
                self.tile_rgba(TileKind::Eps, i),
                self.tile_rgba(TileKind::Xt, i),
                self.tile_rgba(TileKind::Noise, i),
            ]
            .into();
            if row.iter().all(Option::is_some) {
                tiles.extend(row.into_iter().flatten());
                rows += 1;
            }
        }
        compose_sheet(
            SheetLayout {
                rows,
                cols: 4,
                tile_w: x0.width as u32,
                tile_h: x0.height as u32,
                scale: export_scale(x0),
            },
            &tiles,
        )
    }

    /// x_t of every valid schedule at the current t, as (shape, values): (S·G²)×C×H×W.
    pub fn xt_array(&self) -> Result<([usize; 4], Vec<f32>), ExploreError> {
        let x0 = self.scene.x0.as_ref().ok_or_else(no_image)?;
        let g = self.grid.max(1);
        let mut data = Vec::new();
        let mut n = 0;
        for xt in self.scene.xt.iter().filter(|v| !v.is_empty()) {
            data.extend(split_grid(xt, x0.width, x0.height, x0.channels, g));
            n += g * g;
        }
        if n == 0 {
            return Err(ExploreError::InvalidParameter {
                name: "schedules",
                reason: "are all invalid; there is no x_t to export".into(),
            });
        }
        Ok(([n, x0.channels, x0.height / g, x0.width / g], data))
    }

    fn spawn_export<F>(&mut self, what: &str, work: F)
    where
        F: FnOnce() -> Result<String, String> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("forward-export".into())
            .spawn(move || {
                let _ = tx.send(work());
            });
        match spawned {
            Ok(_) => {
                self.export = Some(Export { rx });
                self.message = Some((format!("writing {what}…"), false));
            }
            Err(e) => self.message = Some((format!("could not start the export: {e}"), true)),
        }
    }

    fn export_png(&mut self, sheet: Result<image::RgbaImage, ExploreError>, default_name: &str) {
        let sheet = match sheet {
            Ok(s) => s,
            Err(e) => {
                self.message = Some((e.to_string(), true));
                return;
            }
        };
        let Some(path) = crate::app::dialog::FileDialog::new()
            .add_filter("PNG image", &["png"])
            .set_file_name(default_name)
            .save_file()
        else {
            return;
        };
        self.spawn_export("the PNG", move || {
            write_png(&path, &sheet)
                .map(|()| format!("wrote {}", path.display()))
                .map_err(|e| e.to_string())
        });
    }

    fn export_npy(&mut self) {
        let (shape, data) = match self.xt_array() {
            Ok(v) => v,
            Err(e) => {
                self.message = Some((e.to_string(), true));
                return;
            }
        };
        let Some(path) = crate::app::dialog::FileDialog::new()
            .add_filter("NumPy array", &["npy"])
            .set_file_name(format!("xt_t{}.npy", self.t))
            .save_file()
        else {
            return;
        };
        self.spawn_export("the .npy file", move || {
            crate::data::write_npy(&path, &shape, &data)
                .map(|()| format!("wrote {} ({:?})", path.display(), shape))
                .map_err(|e| e.to_string())
        });
    }

    // ------------------------------------------------------------------ drawing

    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll_loader();
        self.poll_export();
        if self.dataset.is_none() && self.loader.is_none() && !self.load_started {
            let label = self.source.label();
            self.start_load(&ctx, self.source.clone(), label);
        }
        if self.loader.is_some() || self.export.is_some() {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        let mut action = None;
        if self.show_controls {
            egui::Panel::left("forward_side")
                .frame(super::panel_frame(ui))
                .resizable(true)
                .default_size(300.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        action = self.side_ui(ui);
                    });
                });
        }
        if let Some(a) = action {
            self.apply(&ctx, a);
        }
        egui::CentralPanel::default()
            .frame(super::central_frame(ui))
            .show(ui, |ui| {
                self.time_row_ui(ui);
                self.advance_play(ui);
                self.update_scene(&ctx);
                let view_h = ui.available_height();
                egui::ScrollArea::vertical()
                    .auto_shrink([false, false])
                    .show(ui, |ui| self.main_ui(ui, view_h));
            });
    }

    fn apply(&mut self, ctx: &egui::Context, action: Action) {
        match action {
            Action::Load(source, label) => self.start_load(ctx, source, label),
            Action::OpenImage => {
                if let Some(p) = crate::app::dialog::FileDialog::new()
                    .add_filter(
                        "Images",
                        &[
                            "png", "jpg", "jpeg", "bmp", "webp", "gif", "PNG", "JPG", "JPEG",
                        ],
                    )
                    .pick_file()
                {
                    self.load_user(ctx, p);
                }
            }
            Action::OpenFolder => {
                if let Some(p) = crate::app::dialog::FileDialog::new().pick_folder() {
                    self.load_user(ctx, p);
                }
            }
            Action::OpenNpy => {
                if let Some(p) = crate::app::dialog::FileDialog::new()
                    .add_filter("NumPy array", &["npy"])
                    .pick_file()
                {
                    let label = file_label(&p);
                    self.start_load(ctx, Source::Npy(p), label);
                }
            }
            Action::Add(kind) => {
                let steps = self.schedules.last().map_or(1000, |s| s.spec.steps);
                self.add_schedule(ScheduleSpec::new(kind, steps));
            }
            Action::Remove(i) => {
                if self.schedules.len() > 1 && i < self.schedules.len() {
                    self.schedules.remove(i);
                    self.sched_gen += 1;
                }
            }
            Action::Reseed => self.reseed(),
            Action::ExportStrip => self.export_png(self.strip_sheet(), "forward-strip.png"),
            Action::ExportComparison => {
                let name = format!("forward-t{}.png", self.t);
                self.export_png(self.comparison_sheet(), &name);
            }
            Action::ExportNpy => self.export_npy(),
        }
    }

    fn load_user(&mut self, ctx: &egui::Context, path: PathBuf) {
        let label = file_label(&path);
        let source = Source::Images {
            paths: vec![path],
            size: self.image_size,
            color: self.image_color,
        };
        self.start_load(ctx, source, label);
    }

    fn advance_play(&mut self, ui: &egui::Ui) {
        if !self.playing {
            self.play_carry = 0.0;
            return;
        }
        let dt = f64::from(ui.input(|i| i.stable_dt).clamp(0.0, 0.1));
        self.play_carry += f64::from(self.speed) * dt;
        let steps = self.play_carry.floor();
        self.play_carry -= steps;
        let t_max = self.t_max();
        self.t += steps as usize;
        if self.t > t_max {
            self.t = 0;
        }
        ui.ctx().request_repaint();
    }

    fn time_row_ui(&mut self, ui: &mut egui::Ui) {
        let t_max = self.t_max();
        ui.horizontal(|ui| {
            let label = ui.label("Time step t");
            let width = (ui.available_width() - 330.0).max(120.0);
            ui.spacing_mut().slider_width = width;
            ui.add(egui::Slider::new(&mut self.t, 0..=t_max))
                .labelled_by(label.id);
            let play = if self.playing { "Pause" } else { "Play" };
            if ui
                .button(play)
                .on_hover_text("Advance t by itself (loops at T)")
                .clicked()
            {
                self.playing = !self.playing;
            }
            let sl = ui.label("speed");
            ui.add(
                egui::DragValue::new(&mut self.speed)
                    .range(1.0..=5000.0)
                    .speed(5.0)
                    .suffix(" steps/s"),
            )
            .labelled_by(sl.id);
        });
    }

    fn side_ui(&mut self, ui: &mut egui::Ui) -> Option<Action> {
        let mut action = None;
        ui.heading("Data");
        let loading = self.loader.as_ref().map(|l| l.label.clone());
        let shown = loading
            .clone()
            .unwrap_or_else(|| self.dataset_label.clone());
        ui.horizontal(|ui| {
            let l = ui.label("Data set");
            egui::ComboBox::from_id_salt("forward_data")
                .selected_text(&shown)
                .width(170.0)
                .show_ui(ui, |ui| {
                    for (label, source) in menu_sources() {
                        if ui.selectable_label(shown == label, label).clicked() {
                            action = Some(Action::Load(source, label.to_owned()));
                        }
                    }
                })
                .response
                .labelled_by(l.id);
        });
        ui.horizontal_wrapped(|ui| {
            if ui
                .button("Open image…")
                .on_hover_text("One image file: centre-cropped and resized")
                .clicked()
            {
                action = Some(Action::OpenImage);
            }
            if ui
                .button("Open folder…")
                .on_hover_text("Every image directly inside a folder")
                .clicked()
            {
                action = Some(Action::OpenFolder);
            }
            if ui
                .button("Open .npy…")
                .on_hover_text("N×H×W or N×C×H×W, values in [0, 1] or [−1, 1], or uint8")
                .clicked()
            {
                action = Some(Action::OpenNpy);
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Your images: side");
            ui.add(egui::DragValue::new(&mut self.image_size).range(4..=256))
                .labelled_by(l.id);
            ui.radio_value(&mut self.image_color, ColorMode::Gray, "gray");
            ui.radio_value(&mut self.image_color, ColorMode::Rgb, "RGB");
        });
        if let Some(label) = &loading {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Loading {label}…"));
            });
        }
        if let Some(e) = &self.load_error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        let len = self.dataset.as_ref().map_or(1, |d| d.len());
        ui.horizontal(|ui| {
            let l = ui.label("Image");
            ui.add(
                egui::DragValue::new(&mut self.index)
                    .range(0..=len.saturating_sub(1))
                    .speed(0.2),
            )
            .labelled_by(l.id);
            ui.label(format!("of {len}"));
            let gl = ui.label("grid");
            egui::ComboBox::from_id_salt("forward_grid")
                .selected_text(format!("{0}×{0}", self.grid))
                .width(56.0)
                .show_ui(ui, |ui| {
                    for g in 1..=MAX_GRID {
                        ui.selectable_value(&mut self.grid, g, format!("{g}×{g}"));
                    }
                })
                .response
                .labelled_by(gl.id);
        });
        if let (Some(ds), Some(label)) = (
            self.dataset.as_ref(),
            self.dataset
                .as_ref()
                .and_then(|d| d.class_name(self.index.min(d.len().saturating_sub(1)))),
        ) {
            ui.label(
                RichText::new(format!(
                    "{}×{}×{}, class \"{label}\"",
                    ds.channels(),
                    ds.height(),
                    ds.width()
                ))
                .small(),
            );
        }

        ui.separator();
        ui.heading("Schedules");
        let can_remove = self.schedules.len() > 1;
        for i in 0..self.schedules.len() {
            ui.push_id(("forward_schedule", i), |ui| {
                if schedule_editor_ui(ui, &mut self.schedules[i], can_remove) {
                    action = Some(Action::Remove(i));
                }
            });
        }
        ui.horizontal(|ui| {
            if self.schedules.len() < MAX_SCHEDULES
                && let Some(kind) = super::schedule_lab::add_schedule_menu(ui)
            {
                action = Some(Action::Add(kind));
            }
            if ui
                .button("Use in the schedule lab")
                .on_hover_text("Plot β, ᾱ and SNR of these schedules in the schedule lab")
                .clicked()
            {
                self.send_to_lab = true;
            }
        });

        ui.separator();
        ui.heading("Noise");
        ui.checkbox(&mut self.same_noise, "Same ε for every schedule")
            .on_hover_text("Lock: every schedule noises with one ε, so only the schedule differs");
        ui.horizontal(|ui| {
            if ui
                .button("Reseed")
                .on_hover_text("Draw a new ε (the next seed)")
                .clicked()
            {
                action = Some(Action::Reseed);
            }
            let l = ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.seed).speed(0.2))
                .labelled_by(l.id);
        });
        ui.radio_value(
            &mut self.mode,
            NoiseMode::ClosedForm,
            "Closed form q(x_t | x₀)",
        );
        ui.radio_value(
            &mut self.mode,
            NoiseMode::Chain,
            "Step by step: x_t = √α_t·x_(t−1) + √β_t·z",
        );
        ui.label(
            RichText::new(
                "Both give x_t the same distribution N(√ᾱ_t·x₀, (1 − ᾱ_t)·I). The chain draws t \
                 fresh noises z, so its pixels differ from the closed form's single ε; the \
                 strips always use the closed form.",
            )
            .small(),
        );
        let gpu_ok = self.gpu.is_some();
        ui.add_enabled(
            gpu_ok,
            egui::Checkbox::new(&mut self.use_gpu, "Tiles on the GPU (wgpu compute)"),
        )
        .on_disabled_hover_text(self.gpu_note.clone());

        ui.separator();
        ui.heading("Strips");
        ui.horizontal(|ui| {
            let l = ui.label("columns");
            ui.add(egui::DragValue::new(&mut self.strip_columns).range(2..=16))
                .labelled_by(l.id);
            ui.radio_value(&mut self.strip_spacing, StripSpacing::EqualT, "equal t");
            ui.radio_value(
                &mut self.strip_spacing,
                StripSpacing::EqualLogSnr,
                "equal log-SNR",
            );
        });

        ui.separator();
        ui.heading("Export");
        ui.horizontal_wrapped(|ui| {
            if ui.button("Strip PNG…").clicked() {
                action = Some(Action::ExportStrip);
            }
            if ui
                .button("Comparison PNG…")
                .on_hover_text("x₀, ε, x_t and the noise part of each schedule at this t")
                .clicked()
            {
                action = Some(Action::ExportComparison);
            }
            if ui
                .button("x_t as .npy…")
                .on_hover_text("(schedules · grid cells) × C × H × W, float32")
                .clicked()
            {
                action = Some(Action::ExportNpy);
            }
        });
        if let Some((msg, is_err)) = &self.message {
            if *is_err {
                ui.colored_label(ui.visuals().error_fg_color, msg);
            } else {
                ui.label(msg);
            }
        }
        action
    }

    fn main_ui(&mut self, ui: &mut egui::Ui, view_h: f32) {
        let Some(x0) = self.scene.x0.clone() else {
            ui.centered_and_justified(|ui| {
                if let Some(e) = &self.load_error {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                } else {
                    ui.spinner();
                }
            });
            return;
        };
        // Sizes: fit the tiles, the readout, the curves and the strips into the window (four
        // schedules may scroll a little).
        let full = ui.available_width();
        let spacing = ui.spacing().item_spacing;
        let n_s = self.schedules.len();
        let aspect = x0.height as f32 / x0.width as f32;
        let cols = self.strip_columns.max(2) as f32;
        let rows = self.scene.strips.len().clamp(1, MAX_SCHEDULES) as f32;
        let readout_h = 15.0 * (1 + n_s) as f32;
        let curves_h = (view_h * 0.19).clamp(120.0, 220.0);
        let fixed = curves_h + 20.0 + readout_h + 40.0 + 20.0 + 6.0 * spacing.y;
        let strip_row = |cell: f32| cell * aspect + 18.0 + spacing.y;
        let cell_w =
            ((full - STRIP_CAPTION_W - spacing.x * (cols + 1.0)) / cols).clamp(24.0, 128.0);
        // The tiles get what is left after small strips (64 points for two rows, 40 for more);
        // the strips then take what the tiles leave.
        let reserved = rows.min(2.0) * strip_row(cell_w.min(64.0))
            + (rows - 2.0).max(0.0) * strip_row(cell_w.min(40.0));
        let tiles_h = view_h - fixed - reserved;
        let tiles_w = (full * 0.56).max(260.0);
        let tile_px = ((tiles_w - spacing.x * n_s as f32) / (n_s + 1) as f32)
            .min(tiles_h / (2.0 * aspect))
            .clamp(48.0, 220.0);
        let strips_h = view_h - fixed - 2.0 * tile_px * aspect;
        let cell = ((strips_h / rows - 18.0 - spacing.y) / aspect).clamp(32.0, cell_w.max(32.0));
        let mut hover = None;
        ui.horizontal_top(|ui| {
            let r = ui.vertical(|ui| {
                ui.horizontal_top(|ui| {
                    hover = self.tiles_ui(ui, &x0, tile_px);
                });
                ui.vertical(|ui| {
                    ui.set_min_height(readout_h);
                    self.readout_ui(ui, &x0);
                });
            });
            let h = r.response.rect.height();
            self.histogram_ui(ui, h.max(160.0));
        });
        self.hover = hover;
        self.curves_ui(ui, curves_h);
        self.strips_ui(ui, &x0, cell);
    }

    /// The tile grid; returns the hovered pixel.
    fn tiles_ui(&mut self, ui: &mut egui::Ui, x0: &Planar, tile_px: f32) -> Option<(usize, usize)> {
        let aspect = x0.height as f32 / x0.width as f32;
        let size = egui::vec2(tile_px, tile_px * aspect);
        let mut hover = None;
        let prev = self.hover.filter(|&(x, y)| x < x0.width && y < x0.height);
        let mut image = |ui: &mut egui::Ui, key: (TileKind, usize), alt: String| {
            let slot = self.scene.tiles.get(&key).and_then(Option::as_ref);
            let Some(slot) = slot else {
                ui.allocate_exact_size(size, Sense::hover());
                return;
            };
            let resp = ui.add(
                egui::Image::from_texture((slot.texture.id(), size))
                    .sense(Sense::hover())
                    .alt_text(alt),
            );
            if let Some(pos) = resp.hover_pos() {
                let rel = (pos - resp.rect.min) / resp.rect.size();
                let px = ((rel.x * slot.width as f32) as usize).min(slot.width - 1);
                let py = ((rel.y * slot.height as f32) as usize).min(slot.height - 1);
                hover = Some((px, py));
            }
            if let Some((px, py)) = prev {
                let cell = resp.rect.size() / egui::vec2(slot.width as f32, slot.height as f32);
                let min = resp.rect.min + egui::vec2(px as f32, py as f32) * cell;
                ui.painter().rect_stroke(
                    egui::Rect::from_min_size(min, cell).expand(1.0),
                    0.0,
                    egui::Stroke::new(1.5, Color32::from_rgb(255, 200, 0)),
                    egui::StrokeKind::Outside,
                );
            }
        };
        let small = |s: String| RichText::new(s).small();
        ui.vertical(|ui| {
            ui.set_width(tile_px);
            ui.label(RichText::new("data x₀").strong());
            ui.label(small(format!("image #{}", self.index)));
            image(ui, (TileKind::X0, 0), "x₀".into());
            ui.label(small(if self.same_noise {
                "ε (shared)".into()
            } else {
                "ε of schedule 1".into()
            }));
            image(ui, (TileKind::Eps, 0), "ε".into());
        });
        for (i, s) in self.schedules.iter().enumerate() {
            ui.vertical(|ui| {
                ui.set_width(tile_px);
                ui.add(
                    egui::Label::new(RichText::new(s.spec.kind.name()).strong().color(s.color))
                        .truncate(),
                );
                let Some(table) = s.table() else {
                    ui.colored_label(ui.visuals().error_fg_color, "invalid");
                    return;
                };
                let t = self.scene.shown_t.get(i).copied().unwrap_or(0);
                let ab = table.alpha_bar_at(t);
                ui.add(egui::Label::new(small(format!("t = {t} · ᾱ = {ab:.3}"))).truncate());
                image(ui, (TileKind::Xt, i), format!("x_t, schedule {}", i + 1));
                ui.label(small("noise part".into()));
                image(
                    ui,
                    (TileKind::Noise, i),
                    format!("noise part, schedule {}", i + 1),
                );
            });
        }
        hover
    }

    fn readout_ui(&self, ui: &mut egui::Ui, x0: &Planar) {
        let mono = |s: String| RichText::new(s).monospace().small();
        let Some((px, py)) = self.hover.filter(|&(x, y)| x < x0.width && y < x0.height) else {
            ui.label(
                RichText::new(
                    "Hover a pixel to read x₀, x_t, √ᾱ·x₀ and the noise part x_t − √ᾱ·x₀",
                )
                .small(),
            );
            return;
        };
        let fmt = |vals: &[f32]| -> String {
            match vals {
                [v] => format!("{v:+.3}"),
                _ => format!(
                    "({})",
                    vals.iter()
                        .map(|v| format!("{v:+.2}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        };
        let chans: Vec<usize> = (0..x0.channels).map(|c| x0.index(px, py, c)).collect();
        let x0v: Vec<f32> = chans.iter().map(|&i| x0.data[i]).collect();
        ui.label(mono(format!("pixel ({px}, {py}): x₀ = {}", fmt(&x0v))));
        for (i, s) in self.schedules.iter().enumerate() {
            let (Some(table), Some(xt)) = (s.table(), self.xt(i)) else {
                continue;
            };
            let t = self.scene.shown_t.get(i).copied().unwrap_or(0);
            let parts: Vec<_> = chans
                .iter()
                .filter_map(|&k| pixel_parts(table, t, &x0.data, xt, k))
                .collect();
            let pick = |f: &dyn Fn(&crate::explore::noising::PixelParts) -> f32| -> Vec<f32> {
                parts.iter().map(f).collect()
            };
            ui.label(
                mono(format!(
                    "{}: x_t = {}, √ᾱ·x₀ = {}, noise = {}",
                    s.spec.kind.name(),
                    fmt(&pick(&|p| p.xt)),
                    fmt(&pick(&|p| p.signal)),
                    fmt(&pick(&|p| p.noise)),
                ))
                .color(s.color),
            );
        }
    }

    fn histogram_ui(&self, ui: &mut egui::Ui, height: f32) {
        let width = ui.available_width().max(160.0);
        ui.vertical(|ui| {
            ui.label(RichText::new("Pixel values of x_t against N(0, 1)").strong());
            let mut y_max: f64 = 0.45;
            for h in self.scene.hist_xt.iter().flatten() {
                y_max = y_max.max(h.density.iter().copied().fold(0.0, f64::max));
            }
            let y_max = (y_max * 1.1).min(2.5);
            crate::app::plot("forward_histogram")
                .width(width)
                .height(height - 24.0)
                .legend(Legend::default())
                .allow_drag(false)
                .allow_zoom(false)
                .allow_scroll(false)
                .allow_boxed_zoom(false)
                .allow_double_click_reset(false)
                .x_axis_label("pixel value")
                .show(ui, |plot_ui| {
                    plot_ui.set_plot_bounds_x(-HIST_RANGE..=HIST_RANGE);
                    plot_ui.set_plot_bounds_y(0.0..=y_max);
                    if let Some(h) = &self.scene.hist_x0 {
                        plot_ui.line(
                            Line::new("data x₀", PlotPoints::from(h.polygon_points()))
                                .color(Color32::from_gray(150))
                                .fill(0.0)
                                .fill_alpha(0.25),
                        );
                    }
                    plot_ui.line(
                        Line::new(
                            "N(0, 1)",
                            PlotPoints::from(normal_curve(-HIST_RANGE, HIST_RANGE, 161)),
                        )
                        .color(ui_text_color(plot_ui.ctx()))
                        .style(LineStyle::dashed_loose())
                        .width(1.5),
                    );
                    for (s, h) in self.schedules.iter().zip(&self.scene.hist_xt) {
                        if let Some(h) = h {
                            plot_ui.line(
                                Line::new(
                                    format!("x_t {}", s.spec.kind.name()),
                                    PlotPoints::from(h.polygon_points()),
                                )
                                .color(s.color)
                                .width(1.5),
                            );
                        }
                    }
                });
        });
    }

    fn curves_ui(&mut self, ui: &mut egui::Ui, h: f32) {
        let spacing = ui.spacing().item_spacing.x;
        let w = ((ui.available_width() - 2.0 * spacing) / 3.0).max(120.0);
        let t_now = self.t as f64;
        let t_max = self.t_max() as f64;
        let mut clicked_t = None;
        ui.horizontal_top(|ui| {
            for (id, title) in [
                ("forward_alpha_bar", "ᾱ_t"),
                ("forward_rates", "√ᾱ_t (solid) and √(1 − ᾱ_t) (dashed)"),
                ("forward_snr", "SNR_t (log axis)"),
            ] {
                ui.vertical(|ui| {
                    ui.set_width(w);
                    ui.label(RichText::new(title).small().strong());
                    let mut plot = crate::app::plot(id)
                        .width(w)
                        .height(h)
                        .allow_drag(false)
                        .allow_zoom(false)
                        .allow_scroll(false)
                        .allow_boxed_zoom(false)
                        .allow_double_click_reset(false)
                        .x_axis_label("t")
                        .x_grid_spacer(nice_spacer(w, 70.0, false));
                    if id == "forward_snr" {
                        plot = plot
                            .y_grid_spacer(nice_spacer(h, 24.0, true))
                            .y_axis_formatter(|mark, _| log10_tick(mark.value));
                    }
                    plot.show(ui, |plot_ui| {
                        plot_ui.set_plot_bounds_x(0.0..=t_max);
                        if id != "forward_snr" {
                            plot_ui.set_plot_bounds_y(-0.03..=1.03);
                        }
                        for s in &self.schedules {
                            let Some(c) = s.curves() else { continue };
                            let name = s.spec.kind.name();
                            match id {
                                "forward_alpha_bar" => plot_ui.line(
                                    Line::new(name, PlotPoints::Borrowed(&c.alpha_bar))
                                        .color(s.color)
                                        .width(1.5),
                                ),
                                "forward_rates" => {
                                    plot_ui.line(
                                        Line::new(name, PlotPoints::Borrowed(&c.signal))
                                            .color(s.color)
                                            .width(1.5),
                                    );
                                    plot_ui.line(
                                        Line::new(name, PlotPoints::Borrowed(&c.noise))
                                            .color(s.color)
                                            .style(LineStyle::dashed_loose())
                                            .width(1.5),
                                    );
                                }
                                _ => plot_ui.line(
                                    Line::new(name, PlotPoints::Borrowed(&c.log10_snr))
                                        .color(s.color)
                                        .width(1.5),
                                ),
                            }
                        }
                        plot_ui.vline(
                            VLine::new("t", t_now)
                                .color(ui_text_color(plot_ui.ctx()))
                                .width(1.0),
                        );
                        let r = plot_ui.response();
                        if (r.clicked() || r.dragged())
                            && let Some(p) = plot_ui.pointer_coordinate()
                        {
                            clicked_t = Some(p.x.round().clamp(0.0, t_max) as usize);
                        }
                    });
                });
            }
        });
        if let Some(t) = clicked_t {
            self.t = t;
        }
    }

    fn strips_ui(&self, ui: &mut egui::Ui, x0: &Planar, cell: f32) {
        let heading = match self.strip_spacing {
            StripSpacing::EqualT => "Strips: x_t at equal steps of t".to_owned(),
            StripSpacing::EqualLogSnr => {
                let levels: Vec<String> = self
                    .scene
                    .strip_levels
                    .iter()
                    .map(|l| format!("{l:.1}"))
                    .collect();
                format!(
                    "Strips: x_t at equal steps of log-SNR (shared by the rows: {})",
                    levels.join(", ")
                )
            }
        };
        ui.label(RichText::new(heading).strong());
        let caption_w = STRIP_CAPTION_W;
        let aspect = x0.height as f32 / x0.width as f32;
        for row in &self.scene.strips {
            let Some(s) = self.schedules.get(row.schedule) else {
                continue;
            };
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(caption_w);
                    ui.add(
                        egui::Label::new(RichText::new(s.spec.kind.name()).color(s.color).strong())
                            .truncate(),
                    );
                    ui.add(
                        egui::Label::new(RichText::new(format!("T = {}", s.spec.steps)).small())
                            .truncate(),
                    );
                });
                for (k, (slot, t)) in row.cells.iter().zip(&row.ts).enumerate() {
                    let Some(slot) = slot else { continue };
                    ui.vertical(|ui| {
                        ui.set_width(cell);
                        ui.add(
                            egui::Image::from_texture((
                                slot.texture.id(),
                                egui::vec2(cell, cell * aspect),
                            ))
                            .alt_text(format!("strip {} column {k}", row.schedule + 1)),
                        );
                        ui.label(RichText::new(format!("t={t}")).small());
                    });
                }
            });
        }
    }
}

/// Draws one schedule's compact editor; returns true if "Remove" was clicked.
fn schedule_editor_ui(ui: &mut egui::Ui, s: &mut ForwardSchedule, can_remove: bool) -> bool {
    let mut remove = false;
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), Sense::hover());
        ui.painter().rect_filled(rect, 2.0, s.color);
        let kl = ui.label("kind");
        egui::ComboBox::from_id_salt("kind")
            .selected_text(s.spec.kind.name())
            .width(100.0)
            .show_ui(ui, |ui| {
                for kind in ScheduleKind::ALL {
                    ui.selectable_value(&mut s.spec.kind, kind, kind.name());
                }
            })
            .response
            .labelled_by(kl.id);
        let tl = ui.label("T");
        ui.add(
            egui::DragValue::new(&mut s.spec.steps)
                .range(1..=MAX_STEPS)
                .speed(5.0),
        )
        .labelled_by(tl.id);
        if can_remove && ui.button("Remove").clicked() {
            remove = true;
        }
    });
    let spec = &mut s.spec;
    let kind = spec.kind;
    ui.horizontal_wrapped(|ui| {
        let drag = |ui: &mut egui::Ui, text: &str, v: &mut f64, speed: f64| {
            let l = ui.label(text);
            ui.add(egui::DragValue::new(v).speed(speed).max_decimals(6))
                .labelled_by(l.id);
        };
        if kind.uses(Param::BetaStart) {
            drag(ui, "β₁", &mut spec.beta_start, 1e-5);
            drag(ui, "β_T", &mut spec.beta_end, 1e-4);
        }
        if kind.uses(Param::CosineS) {
            drag(ui, "s", &mut spec.cosine_s, 1e-4);
            drag(ui, "max β", &mut spec.max_beta, 1e-3);
        }
        if kind.uses(Param::Power) {
            drag(ui, "p", &mut spec.power, 0.05);
        }
        if kind.uses(Param::Waves) {
            let l = ui.label("k");
            ui.add(egui::DragValue::new(&mut spec.waves).range(1..=1000))
                .labelled_by(l.id);
        }
        if kind.uses(Param::Expr) {
            let l = ui.label("β(u) =");
            ui.add(egui::TextEdit::singleline(&mut spec.expr).desired_width(170.0))
                .labelled_by(l.id);
        }
    });
    s.refresh();
    if let Some(e) = s.error() {
        ui.colored_label(ui.visuals().error_fg_color, e.to_string());
    }
    remove
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
