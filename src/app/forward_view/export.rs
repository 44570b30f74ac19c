//! Exports of the forward explorer: strip and comparison sheets (PNG) and x_t (.npy), written
//! in the background.

use super::*;

impl ForwardView {
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

    pub(super) fn spawn_export<F>(&mut self, what: &str, work: F)
    where
        F: FnOnce() -> Result<String, String> + Send + 'static,
    {
        // The view polls every 50 ms while an export runs, so the job needs no wake-up.
        let (job, launch) = BgJob::prepare("forward-export", Arc::new(|| {}), move |_| work());
        self.out.start(launch);
        self.export = Some(Export { job });
        self.message = Some((format!("writing {what}…"), false));
    }

    pub(super) fn export_png(
        &mut self,
        sheet: Result<image::RgbaImage, ExploreError>,
        default_name: &str,
    ) {
        let sheet = match sheet {
            Ok(s) => s,
            Err(e) => {
                self.message = Some((e.to_string(), true));
                return;
            }
        };
        let dialog = crate::app::dialog::FileDialog::new()
            .add_filter("PNG image", &["png"])
            .set_file_name(default_name);
        self.out
            .pick(dialog, PickMode::Save, move |v: &mut Self, path| {
                v.spawn_export("the PNG", move || {
                    write_png(&path, &sheet)
                        .map(|()| format!("wrote {}", path.display()))
                        .map_err(|e| e.to_string())
                });
            });
    }

    pub(super) fn export_npy(&mut self) {
        let (shape, data) = match self.xt_array() {
            Ok(v) => v,
            Err(e) => {
                self.message = Some((e.to_string(), true));
                return;
            }
        };
        let dialog = crate::app::dialog::FileDialog::new()
            .add_filter("NumPy array", &["npy"])
            .set_file_name(format!("xt_t{}.npy", self.t));
        self.out
            .pick(dialog, PickMode::Save, move |v: &mut Self, path| {
                v.spawn_export("the .npy file", move || {
                    crate::data::write_npy(&path, &shape, &data)
                        .map(|()| format!("wrote {} ({:?})", path.display(), shape))
                        .map_err(|e| e.to_string())
                });
            });
    }
}
