//! The live chain beside training (#19): from Start, pane A samples the run being trained,
//! first the untrained network (noise that stays noise), then again from the same x_T each
//! time a snapshot of the weights arrives, no more often than a duty cycle allows, so the
//! sampling takes at most [`DEFAULT_DUTY`] of the time and the trainer keeps the cores. A strip
//! keeps the last few snapshots' x̂₀ side by side, so the class sees one sample sharpen.

use super::guidance::image_color;
use super::{ModelSource, Pane, PlayerView};
use crate::sampling::QFrame;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Snapshots kept in the "step N" strip.
pub const STRIP_LEN: usize = 6;
/// The share of wall-clock time live chains may take: after a chain of d seconds the next one
/// waits d·(1/duty − 1).
pub const DEFAULT_DUTY: f64 = 0.10;

/// What the player knows about the live run it follows.
pub struct LiveFollow {
    /// The run's name ("" until a run starts).
    pub run: String,
    /// The share of time live chains may take (see [`DEFAULT_DUTY`]).
    pub duty: f64,
    /// When the running live chain started and the step of its weights.
    running: Option<(Instant, usize)>,
    /// The step of the weights of the chain on screen.
    shown_step: Option<usize>,
    /// How long the last live chain took, and when it ended.
    last: Option<(f64, Instant)>,
    /// The last snapshots' chains, oldest first.
    strip: VecDeque<StripEntry>,
    textures: Vec<(usize, egui::TextureHandle)>,
    strip_dirty: bool,
    /// Live chains finished since the run started.
    chains: usize,
}

/// One finished live chain in the strip.
pub struct StripEntry {
    /// The step of its weights.
    pub step: usize,
    /// x̂₀ of sample 1 at the end of the chain, [C, H, W].
    pub x0: Vec<f32>,
    /// The chain's x_T (all samples), to show that every snapshot starts from the same noise.
    pub x_t: QFrame,
    image: egui::ColorImage,
}

impl Default for LiveFollow {
    fn default() -> Self {
        Self {
            run: String::new(),
            duty: DEFAULT_DUTY,
            running: None,
            shown_step: None,
            last: None,
            strip: VecDeque::new(),
            textures: Vec::new(),
            strip_dirty: false,
            chains: 0,
        }
    }
}

impl LiveFollow {
    /// How long until the next live chain may start (zero: now).
    fn wait(&self) -> Duration {
        let Some((secs, ended)) = self.last else {
            return Duration::ZERO;
        };
        let gap = secs * (1.0 / self.duty.clamp(0.01, 1.0) - 1.0);
        Duration::from_secs_f64(gap).saturating_sub(ended.elapsed())
    }
}

impl PlayerView {
    /// A run was started in the Training view: pane A follows it from its first snapshot
    /// (step 0, the untrained network), and the strip starts empty.
    pub fn follow_new_run(&mut self, run: &str) {
        let duty = self.live_follow.duty;
        self.live_follow = LiveFollow {
            run: run.to_owned(),
            duty,
            ..LiveFollow::default()
        };
        self.live = None;
        self.source = ModelSource::Live;
        self.follow_live = true;
        self.pending_live = false;
        self.a = Pane {
            settings: self.a.settings.clone(),
            ..Pane::default()
        };
        self.frame = 0;
    }

    /// The followed run continues (Continue after Stop): the pane follows it again, keeping
    /// its chain and strip.
    pub fn follow_continued_run(&mut self) {
        self.source = ModelSource::Live;
        self.follow_live = true;
    }

    /// The steps of the snapshots in the strip, oldest first.
    pub fn live_strip_steps(&self) -> Vec<usize> {
        self.live_follow.strip.iter().map(|e| e.step).collect()
    }

    /// Live chains finished since the run started.
    pub fn live_chains(&self) -> usize {
        self.live_follow.chains
    }

    /// The strip's chains, oldest first.
    pub fn live_strip(&self) -> impl Iterator<Item = &StripEntry> {
        self.live_follow.strip.iter()
    }

    /// The step of the weights whose chain pane A shows (live source only).
    pub fn live_shown_step(&self) -> Option<usize> {
        (self.source == ModelSource::Live)
            .then_some(self.live_follow.shown_step)
            .flatten()
    }

    /// Whether the live strip has fewer than `n` chains yet (live source only); the screenshot
    /// mode waits for a few.
    pub fn live_strip_short_of(&self, n: usize) -> bool {
        self.source == ModelSource::Live && self.live_follow.strip.len() < n
    }

    /// The duty cycle of live chains (1: re-sample as soon as a snapshot arrives; tests).
    pub fn set_live_duty(&mut self, duty: f64) {
        self.live_follow.duty = duty.clamp(0.01, 1.0);
    }

    /// Once per frame, after the panes polled: starts a pending live chain when the duty cycle
    /// allows, and files a finished one into the strip.
    pub(super) fn live_logic(&mut self, ctx: &egui::Context) {
        if let Some((started, step)) = self.live_follow.running
            && !self.a.is_sampling()
        {
            self.live_follow.running = None;
            self.live_follow.chains += 1;
            self.live_follow.last = Some((started.elapsed().as_secs_f64(), Instant::now()));
            if let (Some(x0), Some(x_t), Some(m)) =
                (self.a.final_x0(), self.a.first_xt(), self.live.as_ref())
            {
                let per: usize = m.shape.iter().product();
                if x0.len() >= per {
                    self.live_follow.strip.push_back(StripEntry {
                        step,
                        x0: x0[..per].to_vec(),
                        x_t,
                        image: image_color(&x0[..per], m.shape),
                    });
                    while self.live_follow.strip.len() > STRIP_LEN {
                        self.live_follow.strip.pop_front();
                    }
                    self.live_follow.strip_dirty = true;
                }
            }
        }
        if !self.pending_live || self.a.is_sampling() {
            return;
        }
        let wait = self.live_follow.wait();
        if !wait.is_zero() {
            ctx.request_repaint_after(wait);
            return;
        }
        self.pending_live = false;
        self.sample_all();
        if self.source == ModelSource::Live
            && let Some(m) = &self.live
        {
            self.live_follow.running = Some((Instant::now(), m.step));
            self.live_follow.shown_step = Some(m.step);
        }
    }

    /// The run's name and step, the strip, and "Open in the player", for the compact player.
    pub(super) fn live_ui(&mut self, ui: &mut egui::Ui) {
        if self.source != ModelSource::Live {
            return;
        }
        let f = &mut self.live_follow;
        match (f.shown_step, self.live.as_ref()) {
            (Some(step), Some(m)) => {
                ui.label(format!("Live run '{}' · chain at step {step}", f.run));
                if m.step > step {
                    ui.small(format!("newest weights: step {}", m.step));
                }
            }
            (None, Some(m)) => {
                ui.label(format!("Live run '{}' · step {}", f.run, m.step));
            }
            (_, None) => {
                ui.label(format!(
                    "Live run '{}' · waiting for the first snapshot of the weights…",
                    f.run
                ));
            }
        }
        if f.strip_dirty {
            f.textures = f
                .strip
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let tex = crate::app::widgets::load_picture(
                        ui.ctx(),
                        format!("live-strip-{i}"),
                        e.image.clone(),
                        egui::TextureOptions::NEAREST,
                    );
                    (e.step, tex)
                })
                .collect();
            f.strip_dirty = false;
        }
        if !f.textures.is_empty() {
            ui.horizontal_wrapped(|ui| {
                for (step, tex) in &f.textures {
                    ui.vertical(|ui| {
                        let name = format!("live x0 step {step}");
                        crate::app::widgets::picture(ui, tex.id(), egui::vec2(48.0, 48.0), &name)
                            .on_hover_text(format!(
                                "x̂₀ of sample 1 from the same x_T with the weights of step {step}"
                            ));
                        ui.small(format!("step {step}"));
                    });
                }
            });
        }
        if f.shown_step.is_some()
            && ui
                .button("Open in the player")
                .on_hover_text("The full player on this run's weights: A/B, branches, exports")
                .clicked()
        {
            self.out.app(crate::app::command::AppCommand::Switch(
                crate::config::View::Player,
            ));
        }
    }
}
