//! Bringing x₀, ε, x_t, the tiles and the strips up to date with the inputs.

use super::*;

impl ForwardView {
    /// Brings x₀, ε, x_t, the tiles and the strips up to date with the inputs. Cheap when
    /// nothing changed.
    pub(super) fn update_scene(&mut self, ctx: &egui::Context) {
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

    pub(super) fn update_xt(&mut self, ctx: &egui::Context, x0: &Planar) {
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
    pub(super) fn tile_job(
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

    pub(super) fn render_tiles(
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
    pub(super) fn collect_gpu(&mut self, ctx: &egui::Context) {
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

    pub(super) fn update_strips(&mut self, ctx: &egui::Context, x0: &Planar) {
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
}
