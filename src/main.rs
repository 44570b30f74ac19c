//! The `diffusion-lab` binary: parses the command line and hands over to the library.

use clap::Parser;
use diffusion_lab::app::{self, AppOptions};
use diffusion_lab::cli::{Cli, EXIT_FAILURE, run_command};
use std::process::ExitCode;

fn main() -> ExitCode {
    tune_allocator();
    // Warnings of eframe, wgpu and burn reach stderr; RUST_LOG picks other levels (#17).
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .init();
    let cli = Cli::parse();
    if let Some(command) = &cli.command {
        quiet_vulkan_device_select();
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        return match run_command(command, &mut out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", e.message);
                ExitCode::from(e.code)
            }
        };
    }
    let options = AppOptions {
        view: cli.view,
        size: cli.size.unwrap_or(AppOptions::default().size),
        size_given: cli.size.is_some(),
        screenshot: cli.screenshot,
        renderer: cli.renderer,
        preset: cli.preset.clone(),
        train: cli.train,
        runs_dir: cli.runs_dir.clone(),
        lesson_step: cli.lesson_step,
    };
    match app::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Stops glibc from handing freed memory back to the kernel after every frame.
///
/// By default glibc trims the top of the heap as soon as 128 KiB there is free. The renderer
/// (egui's vertex buffers, and Mesa's llvmpipe when there is no GPU) frees and re-allocates
/// several MiB every frame, so each frame page-faulted that memory back in: about 7 ms of a
/// 1280×800 frame on the 2-core machine in BENCHMARKS.md (forward explorer 43 → 67 fps).
/// A 64 MiB trim threshold keeps it; allocations from 32 MiB up are still mapped separately
/// and returned when freed, so large tensors do not pin memory.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    // SAFETY: `mallopt` only sets allocator parameters; it is called once, before any other
    // thread exists. A rejected value (return 0) leaves glibc's defaults, which is harmless.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// Keeps Mesa's Vulkan device-select layer out of the headless subcommands (#15).
///
/// When the subcommands probe for a GPU, that layer opens a Wayland connection to learn
/// which GPU drives the display. Without `XDG_RUNTIME_DIR` (ssh, cron, CI) libwayland then
/// prints "error: XDG_RUNTIME_DIR is invalid…" once per probe, although nothing failed.
/// A headless command has no display to match, so the layer has nothing to choose; wgpu
/// still lists every adapter and picks as before. `NODEVICE_SELECT` is Mesa's documented
/// switch for it; a value the user set is kept.
#[allow(unsafe_code)]
fn quiet_vulkan_device_select() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: called from `main` before any thread is started (the logger and the
        // allocator settings start none), so nothing reads the environment concurrently.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}
