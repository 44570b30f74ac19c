//! The GPU path of the tiles: `shaders/forward_tiles.wgsl` as a wgpu compute shader.
//!
//! The app runs it on eframe's own wgpu device when the wgpu renderer is active; tests and the
//! benchmark open a headless device with [`headless_device`]. A job is submitted without
//! waiting ([`GpuTiler::submit`]) and its result collected by a later [`GpuTiler::poll`], so
//! the UI thread never blocks on the GPU; [`GpuTiler::render_blocking`] waits (tests, CLI).
//! Every input is checked before it reaches wgpu, because wgpu's default error handler panics.

use super::tiles::{TileJob, TileOutput};
use std::sync::mpsc;
use wgpu::util::DeviceExt;

/// The WGSL source, shared with the tests.
pub const SHADER: &str = include_str!("../../shaders/forward_tiles.wgsl");
/// The shader's workgroup size per axis.
const WORKGROUP: u32 = 8;
/// Bytes of one `Tile` in the shader.
const TILE_BYTES: usize = 32;

/// Why the GPU path is not available or a job failed.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No adapter, or no device could be opened.
    #[error("no wgpu device: {0}")]
    NoDevice(String),
    /// The device cannot run this shader (downlevel limits, e.g. WebGL2-level GL).
    #[error("the wgpu device cannot run compute shaders here: {0}")]
    Unsupported(String),
    /// The job is malformed or too large for the device.
    #[error("tile job rejected: {0}")]
    BadJob(String),
    /// wgpu reported an error while creating or running the pipeline.
    #[error("wgpu error: {0}")]
    Wgpu(String),
}

/// A wgpu device and queue with a description of the adapter.
pub struct HeadlessDevice {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The adapter's name and backend, e.g. "llvmpipe (LLVM 15.0.6) on Vulkan".
    pub description: String,
    /// The adapter's downlevel capabilities.
    pub downlevel: wgpu::DownlevelCapabilities,
}

/// Opens a device without a window (instance → adapter → device), for tests and benchmarks.
pub fn headless_device() -> Result<HeadlessDevice, GpuError> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .map_err(|e| GpuError::NoDevice(e.to_string()))?;
    let info = adapter.get_info();
    let downlevel = adapter.get_downlevel_capabilities();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("diffusion-lab headless"),
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .map_err(|e| GpuError::NoDevice(e.to_string()))?;
    Ok(HeadlessDevice {
        device,
        queue,
        description: format!("{} on {:?}", info.name, info.backend),
        downlevel,
    })
}

struct Buffers {
    dims: wgpu::Buffer,
    tiles: wgpu::Buffer,
    planes: wgpu::Buffer,
    values: wgpu::Buffer,
    rgba: wgpu::Buffer,
    staging: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    /// Sizes in bytes of tiles, planes, values, rgba.
    sizes: [u64; 4],
}

struct InFlight {
    key: u64,
    n_tiles: usize,
    plane_len: usize,
    pixels: usize,
    rx: mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
}

/// Runs tile jobs on a wgpu device.
pub struct GpuTiler {
    device: wgpu::Device,
    queue: wgpu::Queue,
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
    buffers: Option<Buffers>,
    in_flight: Option<InFlight>,
    pending: Option<(u64, TileJob)>,
}

impl GpuTiler {
    /// Builds the pipeline on `device`. Fails (without panicking) when the device lacks compute
    /// shaders or storage buffers, or the shader does not compile.
    pub fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        downlevel: &wgpu::DownlevelCapabilities,
    ) -> Result<Self, GpuError> {
        if !downlevel
            .flags
            .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
        {
            return Err(GpuError::Unsupported("no compute shaders".into()));
        }
        let limits = device.limits();
        if limits.max_storage_buffers_per_shader_stage < 4
            || limits.max_compute_invocations_per_workgroup < WORKGROUP * WORKGROUP
            || limits.max_compute_workgroup_size_x < WORKGROUP
            || limits.max_compute_workgroup_size_y < WORKGROUP
        {
            return Err(GpuError::Unsupported(format!(
                "{} storage buffers per stage, {} invocations per workgroup",
                limits.max_storage_buffers_per_shader_stage,
                limits.max_compute_invocations_per_workgroup
            )));
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("forward_tiles.wgsl"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("forward_tiles layout"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                storage(1, true),
                storage(2, true),
                storage(3, false),
                storage(4, false),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("forward_tiles pipeline layout"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("forward_tiles"),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Wgpu(err.to_string()));
        }
        Ok(Self {
            device: device.clone(),
            queue: queue.clone(),
            layout,
            pipeline,
            buffers: None,
            in_flight: None,
            pending: None,
        })
    }

    /// Whether a job is running or waiting.
    pub fn busy(&self) -> bool {
        self.in_flight.is_some() || self.pending.is_some()
    }

    /// Queues `job` under `key`. If a job is running, this one waits and replaces any job that
    /// was already waiting (only the newest matters to a UI).
    pub fn submit(&mut self, key: u64, job: TileJob) -> Result<(), GpuError> {
        self.check(&job)?;
        if self.in_flight.is_some() {
            self.pending = Some((key, job));
            return Ok(());
        }
        self.dispatch(key, &job)
    }

    /// Collects a finished job without blocking: `Some((key, tiles))` when one is done.
    pub fn poll(&mut self) -> Option<Result<(u64, Vec<TileOutput>), GpuError>> {
        let flight = self.in_flight.as_ref()?;
        if let Err(e) = self.device.poll(wgpu::PollType::Poll) {
            self.in_flight = None;
            return Some(Err(GpuError::Wgpu(e.to_string())));
        }
        let status = match flight.rx.try_recv() {
            Ok(r) => r,
            Err(mpsc::TryRecvError::Empty) => return None,
            Err(mpsc::TryRecvError::Disconnected) => {
                self.in_flight = None;
                return Some(Err(GpuError::Wgpu("the map callback was dropped".into())));
            }
        };
        Some(self.finish(status))
    }

    /// Runs `job` and waits for it (tests, benchmarks, the CLI).
    pub fn render_blocking(&mut self, job: &TileJob) -> Result<Vec<TileOutput>, GpuError> {
        // Drain anything in flight first.
        while self.in_flight.is_some() {
            self.wait()?;
            let _ = self.poll();
        }
        self.pending = None;
        self.check(job)?;
        self.dispatch(0, job)?;
        loop {
            self.wait()?;
            if let Some(result) = self.poll() {
                return result.map(|(_, tiles)| tiles);
            }
        }
    }

    fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: Some(std::time::Duration::from_secs(30)),
            })
            .map(|_| ())
            .map_err(|e| GpuError::Wgpu(e.to_string()))
    }

    fn check(&self, job: &TileJob) -> Result<(), GpuError> {
        job.validate().map_err(GpuError::BadJob)?;
        if job.tiles.is_empty() {
            return Err(GpuError::BadJob("no tiles".into()));
        }
        let limits = self.device.limits();
        let biggest = (job.planes.len().max(job.tiles.len()) * job.plane_len() * 4) as u64;
        if biggest > limits.max_storage_buffer_binding_size || biggest > limits.max_buffer_size {
            return Err(GpuError::BadJob(format!(
                "{biggest} bytes exceed the device's buffer limits"
            )));
        }
        let groups = [
            (job.width as u32).div_ceil(WORKGROUP),
            (job.height as u32).div_ceil(WORKGROUP),
            job.tiles.len() as u32,
        ];
        if groups
            .iter()
            .any(|&g| g > limits.max_compute_workgroups_per_dimension)
        {
            return Err(GpuError::BadJob(format!(
                "{groups:?} workgroups exceed the device's limit"
            )));
        }
        Ok(())
    }

    fn ensure_buffers(&mut self, sizes: [u64; 4]) {
        if self
            .buffers
            .as_ref()
            .is_some_and(|b| b.sizes.iter().zip(&sizes).all(|(have, need)| have >= need))
        {
            return;
        }
        // Grow with some headroom so that a growing grid does not reallocate every frame.
        let sizes = sizes.map(|s| (s.max(16) * 5 / 4).next_multiple_of(16));
        let d = &self.device;
        let make = |label, size, usage| {
            d.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        use wgpu::BufferUsages as U;
        let dims = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("forward_tiles dims"),
            contents: &[0u8; 32],
            usage: U::UNIFORM | U::COPY_DST,
        });
        let tiles = make("forward_tiles tiles", sizes[0], U::STORAGE | U::COPY_DST);
        let planes = make("forward_tiles planes", sizes[1], U::STORAGE | U::COPY_DST);
        let values = make("forward_tiles values", sizes[2], U::STORAGE | U::COPY_SRC);
        let rgba = make("forward_tiles rgba", sizes[3], U::STORAGE | U::COPY_SRC);
        let staging = make(
            "forward_tiles staging",
            sizes[2] + sizes[3],
            U::MAP_READ | U::COPY_DST,
        );
        let bind_group = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("forward_tiles bind group"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: dims.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: tiles.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: planes.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: values.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: rgba.as_entire_binding(),
                },
            ],
        });
        self.buffers = Some(Buffers {
            dims,
            tiles,
            planes,
            values,
            rgba,
            staging,
            bind_group,
            sizes,
        });
    }

    fn dispatch(&mut self, key: u64, job: &TileJob) -> Result<(), GpuError> {
        let n = job.plane_len();
        let pixels = job.width * job.height;
        let n_tiles = job.tiles.len();
        let values_bytes = (n_tiles * n * 4) as u64;
        let rgba_bytes = (n_tiles * pixels * 4) as u64;
        self.ensure_buffers([
            (n_tiles * TILE_BYTES) as u64,
            (job.planes.len() * n * 4) as u64,
            values_bytes,
            rgba_bytes,
        ]);
        let Some(b) = &self.buffers else {
            return Err(GpuError::Wgpu("buffers missing".into()));
        };
        let mut dims = Vec::with_capacity(32);
        for v in [
            job.width as u32,
            job.height as u32,
            job.channels as u32,
            n as u32,
            n_tiles as u32,
            0,
            0,
            0,
        ] {
            dims.extend_from_slice(&v.to_le_bytes());
        }
        let mut tiles = Vec::with_capacity(n_tiles * TILE_BYTES);
        for t in &job.tiles {
            let (map, range) = t.map.code();
            tiles.extend_from_slice(&t.a.to_le_bytes());
            tiles.extend_from_slice(&t.b.to_le_bytes());
            tiles.extend_from_slice(&t.a_plane.to_le_bytes());
            tiles.extend_from_slice(&t.b_plane.to_le_bytes());
            tiles.extend_from_slice(&map.to_le_bytes());
            tiles.extend_from_slice(&range.to_le_bytes());
            tiles.extend_from_slice(&[0u8; 8]);
        }
        let mut planes = Vec::with_capacity(job.planes.len() * n * 4);
        for p in &job.planes {
            for v in p.iter() {
                planes.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.queue.write_buffer(&b.dims, 0, &dims);
        self.queue.write_buffer(&b.tiles, 0, &tiles);
        self.queue.write_buffer(&b.planes, 0, &planes);
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("forward_tiles"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("forward_tiles"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &b.bind_group, &[]);
            pass.dispatch_workgroups(
                (job.width as u32).div_ceil(WORKGROUP),
                (job.height as u32).div_ceil(WORKGROUP),
                n_tiles as u32,
            );
        }
        encoder.copy_buffer_to_buffer(&b.values, 0, &b.staging, 0, values_bytes);
        encoder.copy_buffer_to_buffer(&b.rgba, 0, &b.staging, values_bytes, rgba_bytes);
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = mpsc::channel();
        b.staging.map_async(
            wgpu::MapMode::Read,
            0..values_bytes + rgba_bytes,
            move |r| {
                let _ = tx.send(r);
            },
        );
        self.in_flight = Some(InFlight {
            key,
            n_tiles,
            plane_len: n,
            pixels,
            rx,
        });
        Ok(())
    }

    fn finish(
        &mut self,
        status: Result<(), wgpu::BufferAsyncError>,
    ) -> Result<(u64, Vec<TileOutput>), GpuError> {
        let Some(flight) = self.in_flight.take() else {
            return Err(GpuError::Wgpu("nothing in flight".into()));
        };
        let Some(b) = &self.buffers else {
            return Err(GpuError::Wgpu("buffers missing".into()));
        };
        status.map_err(|e| GpuError::Wgpu(e.to_string()))?;
        let values_bytes = (flight.n_tiles * flight.plane_len * 4) as u64;
        let rgba_bytes = (flight.n_tiles * flight.pixels * 4) as u64;
        let out = {
            let view = b
                .staging
                .get_mapped_range(0..values_bytes + rgba_bytes)
                .map_err(|e| GpuError::Wgpu(e.to_string()))?;
            let bytes: &[u8] = &view;
            let (vals, rgba) = bytes.split_at(values_bytes as usize);
            (0..flight.n_tiles)
                .map(|k| {
                    let v = &vals[k * flight.plane_len * 4..(k + 1) * flight.plane_len * 4];
                    let values = v
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    let rgba = rgba[k * flight.pixels * 4..(k + 1) * flight.pixels * 4].to_vec();
                    TileOutput { values, rgba }
                })
                .collect()
        };
        b.staging.unmap();
        if let Some((key, job)) = self.pending.take() {
            self.dispatch(key, &job)?;
        }
        Ok((flight.key, out))
    }
}
