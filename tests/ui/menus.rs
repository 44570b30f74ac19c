//! Right-click menus on pictures and plots (#17), and the views' commands (#16): a view queues
//! what leaves it (jobs, dialogs, other views) and the app runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffusion_lab::app::command::{AppCommand, Command, HasOutbox, Outbox, PickMode};
use diffusion_lab::app::dialog::{FileDialog, Picked, disable_file_dialogs};
use diffusion_lab::app::widgets::{self, PlotMenu, SaveRequest};
use diffusion_lab::app::{ForwardView, RunsView};
use diffusion_lab::config::View;
use diffusion_lab::jobs::BgJob;
use egui::{Color32, ColorImage, OutputCommand, PointerButton};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::sync::Arc;

fn right_click(h: &mut Harness<'_, impl Sized>, pos: egui::Pos2) {
    h.hover_at(pos);
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button: PointerButton::Secondary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    h.run();
}

/// What the last frames put on the clipboard.
fn copied(h: &Harness<'_, impl Sized>) -> Vec<OutputCommand> {
    h.output().platform_output.commands.clone()
}

#[test]
fn a_plot_offers_save_as_png_and_copy_data_as_csv() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(400.0, 300.0))
        .build_ui(|ui| {
            diffusion_lab::app::plot("menu_plot")
                .height(200.0)
                .show_menu("Loss by step", ui, |p| {
                    p.line(widgets::line("train", vec![[0.0, 1.0], [1.0, 0.5]]));
                    p.points(widgets::points("val", vec![[1.0, 0.75]]));
                });
        });
    h.run();
    right_click(&mut h, egui::pos2(200.0, 100.0));
    h.get_by_label("Copy data as CSV").click();
    h.step();
    let csv = copied(&h)
        .into_iter()
        .find_map(|c| match c {
            OutputCommand::CopyText(t) => Some(t),
            _ => None,
        })
        .expect("the plot's data was copied");
    assert_eq!(csv, "series,x,y\ntrain,0,1\ntrain,1,0.5\nval,1,0.75\n");

    right_click(&mut h, egui::pos2(200.0, 100.0));
    h.get_by_label("Save plot as PNG…").click();
    h.run();
    let requests = widgets::take_save_requests(&h.ctx);
    match requests.as_slice() {
        [SaveRequest::Region { name, rect }] => {
            assert_eq!(name, "loss-by-step.png");
            assert!(rect.contains(egui::pos2(200.0, 100.0)), "{rect:?}");
            // The plot with its axes: the full 200 px asked for, and the y axis' labels.
            assert!(rect.height() >= 199.0 && rect.min.x < 20.0, "{rect:?}");
        }
        other => panic!("expected one region to save, got {other:?}"),
    }
}

#[test]
fn a_picture_offers_copy_image_and_save_as_png_at_its_own_size() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(300.0, 200.0))
        .build_ui_state(
            |ui, tex: &mut Option<egui::TextureHandle>| {
                let t = tex.get_or_insert_with(|| {
                    let px = (0..6).map(|i| Color32::from_gray(40 * i)).collect();
                    let img = ColorImage::new([3, 2], px);
                    widgets::load_picture(ui.ctx(), "pic", img, egui::TextureOptions::NEAREST)
                });
                widgets::picture(ui, t.id(), egui::vec2(150.0, 100.0), "Digit grid");
            },
            None,
        );
    h.run();
    right_click(&mut h, egui::pos2(60.0, 40.0));
    h.get_by_label("Copy image").click();
    h.step();
    let image = copied(&h)
        .into_iter()
        .find_map(|c| match c {
            OutputCommand::CopyImage(i) => Some(i),
            _ => None,
        })
        .expect("the picture was copied");
    assert_eq!(image.size, [3, 2], "copied at the picture's own resolution");
    assert_eq!(image.pixels[5], Color32::from_gray(200));

    right_click(&mut h, egui::pos2(60.0, 40.0));
    h.get_by_label("Save as PNG…").click();
    h.run();
    match widgets::take_save_requests(&h.ctx).as_slice() {
        [SaveRequest::Picture { name, image }] => {
            assert_eq!(name, "digit-grid.png");
            assert_eq!(image.size, [3, 2]);
        }
        other => panic!("expected one picture to save, got {other:?}"),
    }
}

/// A view with nothing but an outbox, to drive the command runner.
#[derive(Default)]
struct Probe {
    out: Outbox<Probe>,
    answers: Vec<Picked>,
    job: Option<BgJob<u32>>,
}

impl HasOutbox for Probe {
    fn outbox(&mut self) -> &mut Outbox<Self> {
        &mut self.out
    }
}

#[test]
fn the_runner_answers_dialogs_starts_jobs_and_returns_the_apps_commands() {
    disable_file_dialogs();
    let mut v = Probe::default();
    // A dialog whose answer queues a job: the runner runs what the answer queued.
    v.out.pick_answer(
        FileDialog::new(),
        PickMode::SaveOrUnavailable,
        |v: &mut Probe, picked| {
            v.answers.push(picked);
            let (job, launch) = BgJob::prepare("probe", Arc::new(|| {}), |_| 41 + 1);
            v.out.start(launch);
            v.job = Some(job);
        },
    );
    // `pick` only answers a picked path; a dialog that cannot open is not one.
    v.out
        .pick(FileDialog::new(), PickMode::File, |v: &mut Probe, _| {
            v.answers.push(Picked::Cancelled);
        });
    v.out.app(AppCommand::Switch(View::Player));
    let commands = v.out.take();
    assert_eq!(commands.as_slice().len(), 3);
    assert!(
        v.job.is_none(),
        "nothing runs before the app runs the commands"
    );
    let app = commands.run(&mut v);
    assert_eq!(app, vec![AppCommand::Switch(View::Player)]);
    assert_eq!(v.answers, vec![Picked::Unavailable]);
    assert_eq!(v.job.take().expect("queued by the answer").wait(), Some(42));
}

fn starts<V>(c: &[Command<V>]) -> usize {
    c.iter().filter(|c| matches!(c, Command::Start(_))).count()
}

#[test]
fn views_queue_their_jobs_instead_of_starting_them() {
    // The forward view's first frame loads its data set, the runs view's reads the folder:
    // both come back as a Start command, and nothing runs until the commands are run.
    let dir = std::env::temp_dir().join(format!("dl-menus-runs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ctx = egui::Context::default();
    let mut fwd = ForwardView::default();
    let mut runs = RunsView::new(dir.clone());
    let mut kept = None;
    let mut counts = Vec::new();
    let mut out = ctx.run_ui(egui::RawInput::default(), |ui| {
        let c = fwd.ui(ui);
        counts.push(starts(c.as_slice()));
        kept.get_or_insert(c);
        let c = runs.ui(ui);
        counts.push(starts(c.as_slice()));
    });
    out.textures_delta.clear();
    // (egui may run a second pass of the first frame; the jobs were queued once.)
    assert_eq!(counts[..2], [1, 1], "one job each, queued: {counts:?}");
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(fwd.busy(), "the loader waits for its launch");
    assert!(fwd.load_error.is_none() && fwd.dataset_len().is_none());
    // Run by the app, the load happens.
    let app = kept.take().expect("commands").run(&mut fwd);
    assert!(app.is_empty());
    let start = std::time::Instant::now();
    while fwd.dataset_len().is_none() && start.elapsed().as_secs() < 60 {
        let mut out = ctx.run_ui(egui::RawInput::default(), |ui| {
            let c = fwd.ui(ui);
            let _ = c.run(&mut fwd);
        });
        out.textures_delta.clear();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        fwd.dataset_len().is_some_and(|n| n > 0),
        "{:?}",
        fwd.load_error
    );

    // Commands dropped unrun end their jobs without running them, and the view says so.
    let mut fwd = ForwardView::default();
    for _ in 0..2 {
        let mut out = ctx.run_ui(egui::RawInput::default(), |ui| drop(fwd.ui(ui)));
        out.textures_delta.clear();
    }
    assert!(
        fwd.load_error.is_some(),
        "the view reports the load that never ran"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
