//! The runs view's background jobs: one [`BgJob`] each for the listing, the comparison of the
//! picked runs, the study and the grid, reporting over a bounded channel that [`RunsView::logic`]
//! drains every frame.

use super::*;
use crate::jobs::{BgJob, Launch};
use crate::model::{DeviceChoice, pick_device};
use crate::store::load_for_inference;
use crate::train::grid_runner::GridResult;
use crate::train::study_runner::StudyEvent;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// What the background jobs report.
pub(super) enum Msg {
    Progress(usize, usize, String),
    Samples(SampleSet),
    Nll(RunNll),
    Study(StudyEvent),
    /// Seed 000's table so far.
    Seed000(Vec<crate::metrics::seed000::Row000>),
    StudyDone(Result<PathBuf, String>),
    Grid(Box<GridResult>),
    Listed(Box<RunList>),
    Error(String),
    Done,
}

/// Messages a job may queue before its thread waits for the view to drain them.
const JOB_QUEUE: usize = 64;

/// A background job ([`BgJob`]) that reports over a bounded channel. Progress messages are
/// dropped when the queue is full; the others wait for room. Dropping it closes the channel
/// (so a waiting send returns), cancels the job and joins its thread.
pub(super) struct Job {
    // Declared before `job`, so it is dropped first.
    rx: Receiver<Msg>,
    job: BgJob<()>,
    pub(super) cancelling: bool,
    pub(super) progress: (usize, usize, String),
}

impl Job {
    pub(super) fn prepare(
        name: &str,
        ctx: &egui::Context,
        body: impl FnOnce(&dyn Fn(Msg), &AtomicBool) + Send + 'static,
    ) -> (Self, Launch) {
        let (tx, rx): (SyncSender<Msg>, Receiver<Msg>) = sync_channel(JOB_QUEUE);
        let repaint = ctx.clone();
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || repaint.request_repaint());
        let ctx = ctx.clone();
        let (job, launch) = BgJob::prepare(name, wake, move |job| {
            let send = |m: Msg| {
                if matches!(m, Msg::Progress(..)) {
                    let _ = tx.try_send(m);
                } else {
                    let _ = tx.send(m);
                }
                ctx.request_repaint();
            };
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| body(&send, job.cancel_flag())));
            if r.is_err() {
                send(Msg::Error("the background job panicked".into()));
            }
            send(Msg::Done);
        });
        let job = Self {
            rx,
            job,
            cancelling: false,
            progress: (0, 0, String::new()),
        };
        (job, launch)
    }

    /// Asks the job to stop; it still reports `Done`.
    pub(super) fn cancel(&mut self) {
        self.cancelling = true;
        self.job.cancel();
    }
}

impl RunsView {
    /// Runs `work` on each picked run's EMA weights (loaded on the CPU) in turn, in the
    /// background job of the compare row: progress reads "`verb` LABEL", cancel stops between
    /// runs, and a run's error is reported with its label.
    pub(super) fn for_each_picked_run(
        &mut self,
        ctx: &egui::Context,
        name: &str,
        none_picked: &str,
        verb: &'static str,
        work: impl Fn(&str, &PickedRun, &AtomicBool) -> Result<Msg, String> + Send + 'static,
    ) {
        let runs: Vec<(String, PathBuf)> = self
            .picked_runs()
            .iter()
            .map(|r| (r.label(), r.dir.clone()))
            .collect();
        if runs.is_empty() {
            self.error = Some(none_picked.into());
            return;
        }
        self.error = None;
        let (job, launch) = Job::prepare(name, ctx, move |send, cancel| {
            let pick = pick_device(DeviceChoice::Cpu);
            let total = runs.len();
            for (i, (label, dir)) in runs.into_iter().enumerate() {
                if cancel.load(Ordering::SeqCst) {
                    return;
                }
                send(Msg::Progress(i, total, format!("{verb} {label}")));
                let result = load_for_inference(&dir, &pick.device)
                    .map_err(|e| e.to_string())
                    .and_then(|(config, info, _raw, ema)| {
                        let table = config.schedule.table().map_err(|e| e.to_string())?;
                        let run = PickedRun {
                            config,
                            shape: info.image_shape,
                            ema,
                            table,
                            device: pick.device.clone(),
                        };
                        work(&label, &run, cancel)
                    });
                send(result.unwrap_or_else(|e| Msg::Error(format!("{label}: {e}"))));
            }
            send(Msg::Progress(total, total, "done".into()));
        });
        self.out.start(launch);
        self.compare_job = Some(job);
    }

    /// Drains the background jobs' messages without blocking. Called by [`Self::ui`] every frame.
    pub fn logic(&mut self, ctx: &egui::Context) {
        for which in 0..4 {
            let slot = match which {
                0 => &mut self.compare_job,
                1 => &mut self.study_job,
                2 => &mut self.grid_job,
                _ => &mut self.list_job,
            };
            let Some(job) = slot else { continue };
            // Asked before draining: a job that ran always sends Done before its thread ends.
            let ended = job.job.is_finished();
            let mut msgs = Vec::new();
            while let Ok(m) = job.rx.try_recv() {
                if let Msg::Progress(d, t, s) = &m {
                    job.progress = (*d, *t, s.clone());
                }
                if let Msg::Study(StudyEvent::Step {
                    index, step, total, ..
                }) = &m
                {
                    job.progress.0 = *step;
                    job.progress.1 = *total;
                    let _ = index;
                }
                msgs.push(m);
            }
            let mut done = false;
            for m in msgs {
                match m {
                    Msg::Done => done = true,
                    other => self.apply(other, ctx),
                }
            }
            if ended && !done {
                // Its thread never started (the app reports why).
                done = true;
                self.error = Some("the background job did not run".into());
            }
            if done {
                match which {
                    0 => self.compare_job = None,
                    1 => {
                        self.study_job = None;
                        self.refresh(ctx);
                    }
                    2 => self.grid_job = None,
                    _ => {
                        self.list_job = None;
                        if std::mem::take(&mut self.refresh_again) {
                            self.refresh(ctx);
                        }
                    }
                }
            }
        }
    }

    fn apply(&mut self, m: Msg, ctx: &egui::Context) {
        match m {
            Msg::Progress(..) | Msg::Done => {}
            Msg::Samples(s) => {
                let img = crate::app::grid_image(&s.pixels, s.n, s.shape);
                let tex = crate::app::widgets::load_picture(
                    ctx,
                    format!("runs_samples_{}", self.samples.len()),
                    img,
                    egui::TextureOptions::NEAREST,
                );
                self.sample_tex.push(tex);
                self.samples.push(s);
            }
            Msg::Nll(r) => self.nll.push(r),
            Msg::Seed000(rows) => {
                if let Some(s) = &mut self.study {
                    s.seed000 = rows;
                }
            }
            Msg::Study(ev) => match ev {
                StudyEvent::RunStarted {
                    index,
                    total,
                    label,
                    ..
                } => {
                    if let Some(j) = &mut self.study_job {
                        j.progress.2 = format!("run {}/{total}: {label}", index + 1);
                    }
                }
                StudyEvent::Summary(rows) => {
                    if let Some(s) = &mut self.study {
                        s.rows = rows;
                    }
                }
                StudyEvent::Strip { .. } => {
                    self.strips_of = None;
                    // The report gains its row just before the strip is announced.
                    if let Some(st) = &mut self.study
                        && let Ok(rows) =
                            crate::train::study_runner::read_report_csv(&st.dir.join("report.csv"))
                    {
                        st.report = crate::train::study_runner::report_table(&rows);
                    }
                }
                StudyEvent::Step { .. } | StudyEvent::Epoch(_) => {}
            },
            Msg::StudyDone(r) => match r {
                Ok(dir) => {
                    self.strips_of = None;
                    self.show_study(&dir);
                }
                Err(e) => self.error = Some(format!("study: {e}")),
            },
            Msg::Grid(g) => {
                self.grid_table = g
                    .cells
                    .iter()
                    .map(|c| (c.row, c.steps, c.quality, c.fid))
                    .collect();
                self.grid_note = format!(
                    "bundled model, {} samples per cell from one x_T, {}. First FID ({}; real \
                     images score {}), then the energy distance ×1000 on pooled pixels (training \
                     data scores {:.1})",
                    g.plan.n,
                    g.plan.settings_text(),
                    crate::metrics::feature_note(&g.data),
                    g.fid_floor.map_or("–".into(), |f| format!("{f:.1}")),
                    g.data_floor * 1e3
                );
            }
            Msg::Listed(list) => self.apply_list(*list),
            Msg::Error(e) => self.error = Some(e),
        }
    }
}
