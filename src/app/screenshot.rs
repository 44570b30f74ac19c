//! `--screenshot`: let the first frames settle, grab the window as a PNG, write it atomically, exit.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Frames drawn before the screenshot is requested (layout, fonts and plots settle).
const SETTLE_FRAMES: u32 = 12;
/// Frames after which a screenshot that never arrived counts as failed.
const GIVE_UP_FRAMES: u32 = 600;

/// The shared result of a screenshot: `None` until done.
pub type Outcome = Arc<Mutex<Option<Result<(), String>>>>;

/// A pending screenshot.
pub struct ScreenshotJob {
    path: PathBuf,
    frames: u32,
    requested: bool,
    outcome: Outcome,
}

impl ScreenshotJob {
    /// A job writing to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            frames: 0,
            requested: false,
            outcome: Arc::new(Mutex::new(None)),
        }
    }

    /// A handle to read the outcome after the window closes.
    pub fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }

    /// Turns the outcome into the process result.
    pub fn finish(outcome: &Outcome) -> anyhow::Result<()> {
        let result = outcome.lock().map(|g| g.clone()).unwrap_or(None);
        match result {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(anyhow::anyhow!(e)),
            None => Err(anyhow::anyhow!(
                "the window closed before the screenshot was taken"
            )),
        }
    }

    /// Called every frame: counts frames, requests the grab, closes the window when done.
    pub fn logic(&mut self, ctx: &egui::Context) {
        self.frames += 1;
        let done = self.outcome.lock().map(|g| g.is_some()).unwrap_or(true);
        if done {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if self.frames >= SETTLE_FRAMES && !self.requested {
            self.requested = true;
            let path = self.path.clone();
            let outcome = self.outcome.clone();
            let repaint = ctx.clone();
            ctx.request_screenshot(move |image| {
                let result = save_color_image(&image, &path);
                if let Ok(mut g) = outcome.lock() {
                    *g = Some(result);
                }
                repaint.request_repaint();
            });
        }
        if self.frames >= GIVE_UP_FRAMES
            && let Ok(mut g) = self.outcome.lock()
        {
            *g = Some(Err("no screenshot arrived from the renderer".into()));
        }
        ctx.request_repaint();
    }
}

/// Writes an egui image as PNG via a temporary file and a rename.
pub fn save_color_image(image: &egui::ColorImage, path: &std::path::Path) -> Result<(), String> {
    let [w, h] = image.size;
    let rgba: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let Some(buf) = image::RgbaImage::from_raw(w as u32, h as u32, rgba) else {
        return Err("the screenshot had an unexpected size".into());
    };
    crate::fs::write_atomic(path, |file| {
        buf.write_to(file, image::ImageFormat::Png)
            .map_err(std::io::Error::other)
    })
    .map_err(|e| format!("could not write the screenshot: {e}: {}", path.display()))
}
