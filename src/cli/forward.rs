//! `diffusion-lab forward`: noise one image (or a grid of a batch) under one or more schedules
//! and write the strip of x_t as PNG, and optionally x_t as .npy.

use super::CliError;
use super::args::{KindArg, ScheduleFlags};
use crate::data::ColorMode;
use crate::diffusion::{ScheduleSpec, ScheduleTable};
use crate::explore::noising::{Chain, Planar, epsilon, forward, noise_stream, split_grid};
use crate::explore::source::Source;
use crate::explore::strip::{SheetLayout, StripSpacing, compose_sheet, strip_timesteps, write_png};
use crate::explore::tiles::{ColorMap, colorize};
use crate::explore::{ExploreError, noising};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// The most columns a strip may have.
pub const MAX_COLUMNS: usize = 64;
/// The largest magnification of the PNG.
pub const MAX_SCALE: u32 = 16;

/// How `--columns` are spread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StripSpacingArg {
    /// t = round(k·T/(n − 1)).
    EqualT,
    /// Equal steps of log-SNR, shared by every row (t = 0 first).
    LogSnr,
}

impl From<StripSpacingArg> for StripSpacing {
    fn from(s: StripSpacingArg) -> Self {
        match s {
            StripSpacingArg::EqualT => StripSpacing::EqualT,
            StripSpacingArg::LogSnr => StripSpacing::EqualLogSnr,
        }
    }
}

/// The colour of the user's images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// One gray channel.
    Gray,
    /// Three channels.
    Rgb,
}

impl From<ColorArg> for ColorMode {
    fn from(c: ColorArg) -> Self {
        match c {
            ColorArg::Gray => ColorMode::Gray,
            ColorArg::Rgb => ColorMode::Rgb,
        }
    }
}

/// `diffusion-lab forward`.
#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// The images: mnist, fashion-mnist, sklearn-digits, twemoji-32, triangles-direct,
    /// triangles-down, triangles-binary, or a PATH to an image file, a folder of images or a
    /// .npy file (H×W, N×H×W or N×C×H×W).
    #[arg(long, value_name = "SET|PATH")]
    pub data: String,
    /// The image (0-based); with --grid G, the first of G² images.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub index: usize,
    /// The schedule of the first row.
    #[command(flatten)]
    pub schedule: ScheduleFlags,
    /// The timesteps of the columns, comma-separated, each in 0..=T (0 is the data itself).
    #[arg(
        long = "t",
        value_name = "T1[,T2,…]",
        value_delimiter = ',',
        allow_negative_numbers = true,
        required_unless_present = "columns",
        conflicts_with = "columns"
    )]
    pub t: Vec<usize>,
    /// Instead of --t: this many columns (2..=64) from t = 0 to T, spread by --spacing.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub columns: Option<usize>,
    /// How --columns are spread.
    #[arg(long, value_enum, default_value_t = StripSpacingArg::EqualT)]
    pub spacing: StripSpacingArg,
    /// More rows: schedules of these kinds with default parameters and the same T,
    /// e.g. --also cosine,sigmoid (at most 3).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub also: Vec<KindArg>,
    /// The noise seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Give every row its own ε (by default all rows share one ε, so only the schedule differs).
    #[arg(long)]
    pub independent_noise: bool,
    /// Run the step-by-step chain x_t = √α_t·x_{t−1} + √β_t·z instead of the closed form.
    #[arg(long)]
    pub chain: bool,
    /// Show a G×G grid of the batch starting at --index (1..=8).
    #[arg(
        long,
        value_name = "G",
        default_value_t = 1,
        allow_negative_numbers = true
    )]
    pub grid: usize,
    /// Magnify each pixel this many times in the PNG (1..=16).
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub scale: u32,
    /// The side of user images after centre-crop and resize (default 64), or of triangles
    /// (default 32).
    #[arg(long, allow_negative_numbers = true)]
    pub size: Option<u32>,
    /// The colour of user images.
    #[arg(long, value_enum, default_value_t = ColorArg::Rgb)]
    pub color: ColorArg,
    /// Where to write the strip PNG.
    #[arg(long, value_name = "OUT.png")]
    pub out: PathBuf,
    /// Also write x_t as a float32 .npy of shape (rows·columns·G²)×C×H×W, row by row.
    #[arg(long, value_name = "XT.npy")]
    pub npy: Option<PathBuf>,
}

fn usage(e: ExploreError) -> CliError {
    match e {
        ExploreError::Data(d) => CliError::usage(format!("--data: {d}")),
        other => CliError::usage(other),
    }
}

/// Runs `diffusion-lab forward`, printing a summary to `out`.
pub fn run_forward(args: &ForwardArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if !(1..=MAX_SCALE).contains(&args.scale) {
        return Err(CliError::usage(format!(
            "--scale must be between 1 and {MAX_SCALE}, got {}",
            args.scale
        )));
    }
    if !(1..=noising::MAX_GRID).contains(&args.grid) {
        return Err(CliError::usage(format!(
            "--grid must be between 1 and {}, got {}",
            noising::MAX_GRID,
            args.grid
        )));
    }
    if args.also.len() > 3 {
        return Err(CliError::usage(format!(
            "--also takes at most 3 kinds (4 rows in all), got {}",
            args.also.len()
        )));
    }
    let primary = args.schedule.spec();
    let mut specs = vec![primary.clone()];
    specs.extend(
        args.also
            .iter()
            .map(|&k| ScheduleSpec::new(k.into(), primary.steps)),
    );
    let tables: Vec<Arc<ScheduleTable>> = specs
        .iter()
        .map(|s| s.table().map(Arc::new))
        .collect::<Result<_, _>>()
        .map_err(CliError::usage)?;
    let big_t = primary.steps;
    let columns: Vec<Vec<usize>> = if let Some(n) = args.columns {
        if !(2..=MAX_COLUMNS).contains(&n) {
            return Err(CliError::usage(format!(
                "--columns must be between 2 and {MAX_COLUMNS}, got {n}"
            )));
        }
        let refs: Vec<&ScheduleTable> = tables.iter().map(|t| t.as_ref()).collect();
        strip_timesteps(&refs, n, args.spacing.into())
    } else {
        if args.t.is_empty() || args.t.len() > MAX_COLUMNS {
            return Err(CliError::usage(format!(
                "--t takes 1 to {MAX_COLUMNS} timesteps, got {}",
                args.t.len()
            )));
        }
        if let Some(bad) = args.t.iter().find(|&&t| t > big_t) {
            return Err(CliError::usage(format!(
                "--t {bad} is past the last step T = {big_t} (use 0..={big_t})"
            )));
        }
        vec![args.t.clone(); tables.len()]
    };

    let source = Source::parse(&args.data, args.size, args.color.into()).map_err(usage)?;
    let g = args.grid;
    let batch = source.load_range(args.index, g * g).map_err(usage)?;
    for w in batch.warnings() {
        eprintln!("warning: --data: {w}");
    }
    if batch.len() < g * g {
        // Padding is said out loud, never silent (#18 item 9).
        eprintln!(
            "warning: --grid {g} has {} cells but the data has only {} image(s) from --index {}; \
             the other {} cell(s) are black",
            g * g,
            batch.len(),
            args.index,
            g * g - batch.len()
        );
    }
    let x0 = Planar::grid(&batch, 0, g).map_err(usage)?;

    let mut tiles_rgba: Vec<Vec<u8>> = Vec::new();
    let mut xt_all: Vec<f32> = Vec::new();
    for (i, (table, ts)) in tables.iter().zip(&columns).enumerate() {
        let stream = noise_stream(i, !args.independent_noise);
        let rows: Vec<Vec<f32>> = if args.chain {
            chain_at(&x0.data, table, stream, args.seed, ts)
        } else {
            let eps = epsilon(args.seed, stream, x0.len());
            ts.iter()
                .map(|&t| forward(table, t, &x0.data, &eps))
                .collect()
        };
        for xt in rows {
            tiles_rgba.push(colorize(
                &xt,
                x0.width,
                x0.height,
                x0.channels,
                ColorMap::Data,
            ));
            xt_all.extend(split_grid(&xt, x0.width, x0.height, x0.channels, g));
        }
    }
    let n_cols = columns.first().map_or(0, Vec::len);
    let layout = SheetLayout {
        rows: tables.len() as u32,
        cols: n_cols as u32,
        tile_w: x0.width as u32,
        tile_h: x0.height as u32,
        scale: args.scale,
    };
    let refs: Vec<&[u8]> = tiles_rgba.iter().map(Vec::as_slice).collect();
    let sheet = compose_sheet(layout, &refs).map_err(usage)?;
    write_png(&args.out, &sheet).map_err(CliError::failure)?;
    let io = |e: std::io::Error| CliError::failure(format!("could not write the summary: {e}"));
    writeln!(
        out,
        "wrote {} ({}×{} pixels): {} row(s) × {n_cols} column(s) of {}×{} tiles, {} noise{}",
        args.out.display(),
        sheet.width(),
        sheet.height(),
        tables.len(),
        x0.width,
        x0.height,
        if args.chain {
            "step-by-step chain"
        } else {
            "closed form"
        },
        if args.independent_noise {
            ", independent ε per row"
        } else {
            ", one shared ε"
        }
    )
    .map_err(io)?;
    for (spec, ts) in specs.iter().zip(&columns) {
        let list: Vec<String> = ts.iter().map(usize::to_string).collect();
        writeln!(out, "{}: t = {}", spec.label(), list.join(", ")).map_err(io)?;
    }
    if let Some(npy) = &args.npy {
        let (c, h, w) = (x0.channels, x0.height / g, x0.width / g);
        let shape = [tables.len() * n_cols * g * g, c, h, w];
        crate::data::write_npy(npy, &shape, &xt_all).map_err(CliError::failure)?;
        writeln!(
            out,
            "wrote {}: shape {}×{c}×{h}×{w} (rows·columns·grid cells, C, H, W)",
            npy.display(),
            shape[0]
        )
        .map_err(io)?;
    }
    Ok(())
}

/// x_t of the chain at each of `ts` (any order), one pass per increasing run.
fn chain_at(
    x0: &[f32],
    table: &Arc<ScheduleTable>,
    stream: u64,
    seed: u64,
    ts: &[usize],
) -> Vec<Vec<f32>> {
    let mut order: Vec<usize> = (0..ts.len()).collect();
    order.sort_by_key(|&k| ts[k]);
    let mut chain = Chain::new(x0, std::slice::from_ref(table), &[stream], seed, 64 << 20);
    let mut out = vec![Vec::new(); ts.len()];
    for k in order {
        chain.advance(ts[k], None);
        out[k] = chain.x(0).map(<[f32]>::to_vec).unwrap_or_default();
    }
    out
}
