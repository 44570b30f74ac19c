//! Pictures and plots that offer *Copy* and *Save* on right-click (#17).
//!
//! Every texture a view shows is loaded through [`load_picture`] (or updated through
//! [`set_picture`]), which keeps the pixels beside the texture, so that [`picture_menu`] can
//! copy or save exactly what is on screen. Plots get [`plot_menu`]: *Save plot as PNG…* (the
//! window's pixels under the plot, from a screenshot) and *Copy data as CSV*.
//!
//! The menus are drawn deep inside the views' widgets, so a save is queued in the egui
//! context ([`take_save_requests`]) and the app runs it like a view's command: it asks where
//! (the dialog opens on the UI thread, in the app, never in a view) and writes the PNG
//! atomically.

use egui::{ColorImage, Context, Id, Rect, Response, TextureHandle, TextureId, TextureOptions};
use std::collections::VecDeque;
use std::sync::Arc;

/// How many pictures keep their pixels for the menus (the newest; a player at full speed
/// reloads a few textures a frame).
const KEPT: usize = 96;

#[derive(Clone, Default)]
struct Pictures(VecDeque<(TextureId, Arc<ColorImage>)>);

fn pictures_id() -> Id {
    Id::unique("diffusion-lab-pictures")
}

fn remember(ctx: &Context, id: TextureId, image: Arc<ColorImage>) {
    ctx.data_mut(|d| {
        let p = d.get_temp_mut_or_default::<Pictures>(pictures_id());
        p.0.retain(|(t, _)| *t != id);
        p.0.push_back((id, image));
        while p.0.len() > KEPT {
            p.0.pop_front();
        }
    });
}

/// The pixels of a texture loaded with [`load_picture`] or [`set_picture`], if still kept.
pub fn picture_pixels(ctx: &Context, id: TextureId) -> Option<Arc<ColorImage>> {
    ctx.data(|d| {
        d.get_temp::<Pictures>(pictures_id())
            .and_then(|p| p.0.iter().find(|(t, _)| *t == id).map(|(_, i)| i.clone()))
    })
}

/// `ctx.load_texture`, keeping the pixels for the right-click menu.
pub fn load_picture(
    ctx: &Context,
    name: impl Into<String>,
    image: ColorImage,
    options: TextureOptions,
) -> TextureHandle {
    let image = Arc::new(image);
    let tex = ctx.load_texture(name, image.clone(), options);
    remember(ctx, tex.id(), image);
    tex
}

/// `texture.set`, keeping the pixels for the right-click menu.
pub fn set_picture(
    ctx: &Context,
    texture: &mut TextureHandle,
    image: ColorImage,
    options: TextureOptions,
) {
    let image = Arc::new(image);
    texture.set(image.clone(), options);
    remember(ctx, texture.id(), image);
}

/// What a picture's or plot's menu asks of the app.
#[derive(Clone, Debug)]
pub enum SaveRequest {
    /// Ask where, then write this picture as a PNG.
    Picture {
        /// The proposed file name.
        name: String,
        /// The pixels.
        image: Arc<ColorImage>,
    },
    /// Ask where, then write the window's pixels inside `rect` (points) as a PNG.
    Region {
        /// The proposed file name.
        name: String,
        /// The plot's rectangle.
        rect: Rect,
    },
}

#[derive(Clone, Default)]
struct Requests(Vec<SaveRequest>);

fn requests_id() -> Id {
    Id::unique("diffusion-lab-save-requests")
}

fn request(ctx: &Context, r: SaveRequest) {
    ctx.data_mut(|d| {
        d.get_temp_mut_or_default::<Requests>(requests_id())
            .0
            .push(r);
    });
}

/// The saves asked for since the last call (the app runs them; tests read them).
pub fn take_save_requests(ctx: &Context) -> Vec<SaveRequest> {
    ctx.data_mut(|d| std::mem::take(&mut d.get_temp_mut_or_default::<Requests>(requests_id()).0))
}

/// A file name from a label: letters, digits and dashes, ending in `.png`.
pub fn png_name(label: &str) -> String {
    let mut s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-');
    format!("{}.png", if s.is_empty() { "picture" } else { s })
}

/// The right-click menu of a picture drawn from `texture`: *Copy image* and *Save as PNG…*.
/// `response` should sense clicks (`egui::Image::sense(Sense::click())`).
pub fn picture_menu(response: &Response, texture: TextureId, name: &str) {
    response.context_menu(|ui| {
        let pixels = picture_pixels(ui.ctx(), texture);
        let Some(image) = pixels else {
            ui.label("This picture is being redrawn; try again");
            return;
        };
        if ui
            .button("Copy image")
            .on_hover_text("Put the picture on the clipboard at its own resolution")
            .clicked()
        {
            ui.ctx().copy_image((*image).clone());
            ui.close();
        }
        if ui
            .button("Save as PNG…")
            .on_hover_text("Write the picture as a PNG file at its own resolution")
            .clicked()
        {
            request(
                ui.ctx(),
                SaveRequest::Picture {
                    name: png_name(name),
                    image,
                },
            );
            ui.close();
        }
    });
}

/// The right-click menu of a plot: *Save plot as PNG…* (the window's pixels in `region`: the
/// plot with its axes) and *Copy data as CSV* (`csv` builds the text when asked).
pub fn plot_menu(response: &Response, region: Rect, name: &str, csv: impl FnOnce() -> String) {
    response.context_menu(|ui| {
        if ui
            .button("Save plot as PNG…")
            .on_hover_text("Write the plot as it is on screen to a PNG file")
            .clicked()
        {
            request(
                ui.ctx(),
                SaveRequest::Region {
                    name: png_name(name),
                    rect: region,
                },
            );
            ui.close();
        }
        if ui
            .button("Copy data as CSV")
            .on_hover_text("Put the plotted numbers on the clipboard, one row per point")
            .clicked()
        {
            ui.ctx().copy_text(csv());
            ui.close();
        }
    });
}

/// Plotted series as CSV in long form: `series,x,y`, one row per point. Names are quoted when
/// they hold a comma or a quote.
pub fn series_csv<'a>(
    x_name: &str,
    y_name: &str,
    series: impl IntoIterator<Item = (&'a str, &'a [[f64; 2]])>,
) -> String {
    let mut out = format!("series,{},{}\n", csv_field(x_name), csv_field(y_name));
    for (name, points) in series {
        let name = csv_field(name);
        for [x, y] in points {
            out.push_str(&format!("{name},{x},{y}\n"));
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The part of a screenshot inside `rect` (points; `pixels_per_point` converts), clamped to
/// the image. None if nothing of it is inside.
pub fn crop(image: &ColorImage, rect: Rect, pixels_per_point: f32) -> Option<ColorImage> {
    let [w, h] = image.size;
    let x0 = ((rect.min.x * pixels_per_point).floor().max(0.0) as usize).min(w);
    let y0 = ((rect.min.y * pixels_per_point).floor().max(0.0) as usize).min(h);
    let x1 = ((rect.max.x * pixels_per_point).ceil().max(0.0) as usize).min(w);
    let y1 = ((rect.max.y * pixels_per_point).ceil().max(0.0) as usize).min(h);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let mut pixels = Vec::with_capacity((x1 - x0) * (y1 - y0));
    for y in y0..y1 {
        pixels.extend_from_slice(&image.pixels[y * w + x0..y * w + x1]);
    }
    Some(ColorImage::new([x1 - x0, y1 - y0], pixels))
}

/// Draws `texture` at `size`, with the right-click menu of [`picture_menu`].
pub fn picture(ui: &mut egui::Ui, texture: TextureId, size: egui::Vec2, name: &str) -> Response {
    let r = ui.add(
        egui::Image::new((texture, size))
            .sense(egui::Sense::click())
            .alt_text(name),
    );
    picture_menu(&r, texture, name);
    r
}

/// The named series of one plot.
type Series = Vec<(String, Vec<[f64; 2]>)>;

std::thread_local! {
    /// The series of the plots being drawn (a stack: one entry per [`PlotMenu::show_menu`]).
    static RECORDING: std::cell::RefCell<Vec<Series>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn record(name: &str, points: &egui_plot::PlotPoints<'_>) {
    let pts: Vec<[f64; 2]> = points.points().iter().map(|p| [p.x, p.y]).collect();
    record_series(name, pts);
}

/// Records a series for the *Copy data as CSV* of the plot being drawn (for items that are not
/// drawn with [`line`] or [`points`], such as a heatmap's rows).
pub fn record_series(name: &str, points: Vec<[f64; 2]>) {
    RECORDING.with(|r| {
        if let Some(top) = r.borrow_mut().last_mut() {
            top.push((name.to_owned(), points));
        }
    });
}

/// `egui_plot::Line::new` that also records the points for the plot's *Copy data as CSV*.
pub fn line<'a>(
    name: impl Into<String>,
    series: impl Into<egui_plot::PlotPoints<'a>>,
) -> egui_plot::Line<'a> {
    let (name, series) = (name.into(), series.into());
    record(&name, &series);
    egui_plot::Line::new(name, series)
}

/// `egui_plot::Points::new` that also records the points for *Copy data as CSV*.
pub fn points<'a>(
    name: impl Into<String>,
    series: impl Into<egui_plot::PlotPoints<'a>>,
) -> egui_plot::Points<'a> {
    let (name, series) = (name.into(), series.into());
    record(&name, &series);
    egui_plot::Points::new(name, series)
}

/// A plot shown with the right-click menu of [`plot_menu`]: the series drawn with [`line`] and
/// [`points`] are what *Copy data as CSV* copies.
pub trait PlotMenu<'a> {
    /// `Plot::show`, plus the menu; `name` names the PNG.
    fn show_menu<R>(
        self,
        name: &str,
        ui: &mut egui::Ui,
        build: impl FnOnce(&mut egui_plot::PlotUi<'a>) -> R + 'a,
    ) -> egui_plot::PlotResponse<R>;
}

impl<'a> PlotMenu<'a> for egui_plot::Plot<'a> {
    fn show_menu<R>(
        self,
        name: &str,
        ui: &mut egui::Ui,
        build: impl FnOnce(&mut egui_plot::PlotUi<'a>) -> R + 'a,
    ) -> egui_plot::PlotResponse<R> {
        RECORDING.with(|r| r.borrow_mut().push(Vec::new()));
        // The scope's rectangle holds the axes and their labels too. Its id comes from the
        // name, so the plot keeps its zoom when widgets above it come and go.
        let scope = egui::UiBuilder::new().id_salt(("plot-menu", name));
        let shown = ui.scope_builder(scope, |ui| self.show(ui, build));
        let (region, resp) = (shown.response.rect, shown.inner);
        let series = RECORDING.with(|r| r.borrow_mut().pop()).unwrap_or_default();
        plot_menu(&resp.response, region, name, || {
            series_csv(
                "x",
                "y",
                series.iter().map(|(n, p)| (n.as_str(), p.as_slice())),
            )
        });
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::Color32;

    #[test]
    fn crop_takes_the_pixels_under_a_rect_in_points() {
        // 4×3 pixels numbered by position; at 2 pixels per point a 1×1-point rect at (1, 0)
        // is pixels x 2..4, y 0..2.
        let px: Vec<Color32> = (0..12).map(|i| Color32::from_gray(i as u8)).collect();
        let img = ColorImage::new([4, 3], px);
        let rect = Rect::from_min_size(egui::pos2(1.0, 0.0), egui::vec2(1.0, 1.0));
        let out = crop(&img, rect, 2.0).expect("inside");
        assert_eq!(out.size, [2, 2]);
        let grey: Vec<u8> = out.pixels.iter().map(|c| c.r()).collect();
        assert_eq!(grey, vec![2, 3, 6, 7]);
        // Clamped at the edges; nothing inside gives None.
        let past = Rect::from_min_size(egui::pos2(1.5, 1.0), egui::vec2(10.0, 10.0));
        assert_eq!(crop(&img, past, 2.0).expect("clamped").size, [1, 1]);
        let outside = Rect::from_min_size(egui::pos2(5.0, 5.0), egui::vec2(1.0, 1.0));
        assert!(crop(&img, outside, 2.0).is_none());
    }

    #[test]
    fn series_csv_is_long_form_with_quoted_names() {
        let a = [[0.0, 1.0], [1.0, 0.5]];
        let b = [[2.0, -1.0]];
        let csv = series_csv("t", "loss", [("train", &a[..]), ("val, mean", &b[..])]);
        assert_eq!(
            csv,
            "series,t,loss\ntrain,0,1\ntrain,1,0.5\n\"val, mean\",2,-1\n"
        );
    }

    #[test]
    fn png_names_are_safe_file_names() {
        assert_eq!(png_name("Pane A: x̂₀ (t = 5)"), "pane-a-x-t-5.png");
        assert_eq!(png_name("???"), "picture.png");
    }
}
