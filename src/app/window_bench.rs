//! `diffusion-lab bench window`: end-to-end frame times of a real window, renderer included
//! (the numbers a user sees), while a view animates as when the slider is dragged or the
//! chain plays.

use super::DiffusionApp;
use super::RendererArg;
use crate::config::View;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct WindowBench {
    /// The view: forward (the explorer's benchmark scene, t moving 7 steps a frame), presenter
    /// (the forward lesson's linear-vs-cosine step in the presenter, t moving the same way),
    /// player (the chain playing) or any other (redrawn continuously).
    pub view: View,
    /// The renderer.
    pub renderer: RendererArg,
    /// Frames to time after 30 warm-up frames.
    pub frames: usize,
    /// The window's inner size.
    pub size: [u32; 2],
}

struct BenchApp {
    inner: DiffusionApp,
    spec: WindowBench,
    times: Arc<Mutex<Vec<f64>>>,
    last: Option<Instant>,
    k: usize,
}

const WARM_UP: usize = 30;

impl eframe::App for BenchApp {
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        eframe::App::clear_color(&self.inner, visuals)
    }

    fn persist_egui_memory(&self) -> bool {
        false
    }

    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        eframe::App::logic(&mut self.inner, ctx, frame);
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let now = Instant::now();
        if let Some(last) = self.last
            && self.k > WARM_UP
        {
            let dt = (now - last).as_secs_f64() * 1e3;
            self.times
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(dt);
        }
        self.last = Some(now);
        self.k += 1;
        match self.spec.view {
            View::Forward | View::Presenter => {
                self.inner.forward.t = (250 + 7 * self.k) % 1001;
            }
            View::Player if !self.inner.player.is_busy() && !self.inner.player.is_playing() => {
                self.inner.player.speed = 120.0;
                self.inner.player.toggle_play();
            }
            _ => {}
        }
        eframe::App::ui(&mut self.inner, ui, frame);
        ui.ctx().request_repaint();
        if self.k > WARM_UP + self.spec.frames {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

/// Opens a window, animates `spec.view`, and returns the frame intervals in milliseconds.
pub fn run_window_bench(spec: WindowBench) -> anyhow::Result<Vec<f64>> {
    let [w, h] = spec.size;
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Diffusion Lab · bench")
            .with_inner_size([w as f32, h as f32]),
        renderer: spec.renderer.into(),
        // A stored window size would override `spec.size`, and the bench must not touch the
        // user's stored settings.
        persist_window: false,
        persistence_path: Some(
            std::env::temp_dir().join(format!("diffusion-lab-bench-{}.ron", std::process::id())),
        ),
        ..Default::default()
    };
    let times = Arc::new(Mutex::new(Vec::new()));
    let out = times.clone();
    eframe::run_native(
        "Diffusion Lab bench",
        native,
        Box::new(move |cc| {
            let mut inner = DiffusionApp::new(spec.view);
            if spec.view == View::Forward {
                inner.forward = super::bench_view()
                    .map_err(|e| anyhow::anyhow!("cannot build the benchmark scene: {e}"))?;
            }
            if spec.view == View::Presenter {
                // What a class sees: the forward lesson's comparison step, t moving.
                inner.presenter.select("lesson-forward");
                inner.set_presenter(true);
                inner.apply_lesson_setup();
                inner.jump_to_step(6);
            }
            if let Some(rs) = cc.wgpu_render_state.as_ref() {
                inner.forward.attach_gpu(rs);
            }
            Ok(Box::new(BenchApp {
                inner,
                spec,
                times: out,
                last: None,
                k: 0,
            }))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))?;
    let v = std::mem::take(&mut *times.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(v)
}
