//! `diffusion-lab schedule`: the table of a noise schedule as CSV or JSON.

use super::args::ScheduleFlags;
use super::{CliError, io_err};
use crate::diffusion::{ScheduleSpec, ScheduleTable};
use clap::{Args, ValueEnum};
use std::io::Write;

/// Output formats for tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object with the parameters, the badges and the rows.
    Json,
}

/// `diffusion-lab schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The schedule.
    #[command(flatten)]
    pub schedule: ScheduleFlags,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
}

pub(crate) fn run_schedule(args: &ScheduleArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let spec = args.schedule.spec();
    let table = spec.table().map_err(CliError::usage)?;
    match args.format {
        Format::Csv => write_csv(&table, out).map_err(io_err),
        Format::Json => {
            let doc = schedule_json(&spec, &table);
            serde_json::to_writer_pretty(&mut *out, &doc)
                .map_err(|e| CliError::failure(format!("could not write JSON: {e}")))?;
            writeln!(out).map_err(io_err)
        }
    }
}

/// The CSV header of `diffusion-lab schedule`.
pub const CSV_HEADER: &str = "t,beta,alpha,alpha_bar,beta_tilde,snr,log_snr";

/// Writes the schedule table as CSV, every number in shortest round-trip form.
pub fn write_csv(table: &ScheduleTable, out: &mut dyn Write) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(out);
    writeln!(w, "{CSV_HEADER}")?;
    for i in 0..table.steps() {
        // `{:?}` prints the shortest string that parses back to the same f64.
        writeln!(
            w,
            "{},{:?},{:?},{:?},{:?},{:?},{:?}",
            i + 1,
            table.beta[i],
            table.alpha[i],
            table.alpha_bar[i],
            table.beta_tilde[i],
            table.snr[i],
            table.log_snr[i]
        )?;
    }
    w.flush()
}

/// The JSON document of `diffusion-lab schedule --format json`.
pub fn schedule_json(spec: &ScheduleSpec, table: &ScheduleTable) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = (0..table.steps())
        .map(|i| {
            serde_json::json!({
                "t": i + 1,
                "beta": table.beta[i],
                "alpha": table.alpha[i],
                "alpha_bar": table.alpha_bar[i],
                "beta_tilde": table.beta_tilde[i],
                "snr": table.snr[i],
                "log_snr": table.log_snr[i],
            })
        })
        .collect();
    serde_json::json!({
        "schedule": spec,
        "badges": table.badges(),
        "rows": rows,
    })
}
