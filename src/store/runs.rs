//! The runs folder: every training run gets a folder `runs/<timestamp>-<name>/`, which is its
//! checkpoint folder (config, loss history with validation, weights; see [`super::checkpoint`]).
//! Studies write a folder holding `study.json`, their summary files and one run folder per
//! trained run; [`list_runs`] looks inside them too.
//!
//! [`list_runs`] reads them all, newest first, and names every folder it had to skip and why.

use super::checkpoint::{CheckpointInfo, read_info};
use crate::config::RunConfig;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The runs folder's name inside the per-user data folder (and the last-resort fallback,
/// relative to the working folder).
pub const RUNS_DIR: &str = "runs";

/// The default runs folder: a per-user data folder, so that the app finds its runs whatever
/// folder it was started from. Linux and other Unixes: `$XDG_DATA_HOME/diffusion-lab/runs`,
/// else `~/.local/share/diffusion-lab/runs`; macOS: `~/Library/Application
/// Support/diffusion-lab/runs`; Windows: `%APPDATA%\diffusion-lab\runs`. `./runs` only when
/// no home folder is known. `--runs-dir` and the app's settings change it.
pub fn default_runs_dir() -> PathBuf {
    runs_dir_for(std::env::consts::OS, |k| std::env::var_os(k))
}

/// [`default_runs_dir`] for operating system `os` (as `std::env::consts::OS` names it) and the
/// environment `env`.
pub fn runs_dir_for(os: &str, env: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let absolute = |k: &str| env(k).map(PathBuf::from).filter(|p| p.is_absolute());
    let base = match os {
        "windows" => absolute("APPDATA"),
        "macos" => absolute("HOME").map(|h| h.join("Library").join("Application Support")),
        _ => absolute("XDG_DATA_HOME")
            .or_else(|| absolute("HOME").map(|h| h.join(".local").join("share"))),
    };
    match base {
        Some(b) => b.join("diffusion-lab").join(RUNS_DIR),
        None => PathBuf::from(RUNS_DIR),
    }
}

/// The marker file of a study folder.
pub const STUDY_MARKER: &str = "study.json";

/// One run found in the runs folder.
#[derive(Clone, Debug)]
pub struct RunEntry {
    /// Its folder (a checkpoint folder).
    pub dir: PathBuf,
    /// The run's name (from its config).
    pub name: String,
    /// The study it belongs to (the study folder's name), if any.
    pub study: Option<String>,
    /// The full configuration.
    pub config: RunConfig,
    /// Step, image shape, loss history.
    pub info: CheckpointInfo,
    /// When the run was created, in seconds since 1970 (from the folder name, else the files).
    pub created: u64,
}

impl RunEntry {
    /// The schedule's short label.
    pub fn schedule_label(&self) -> String {
        self.config.schedule.label()
    }

    /// The data's short label.
    pub fn data_label(&self) -> String {
        self.config.data.label()
    }

    /// Steps trained.
    pub fn steps(&self) -> usize {
        self.info.step
    }

    /// The mean of the last (up to) 50 training losses; NaN when there are none.
    pub fn final_loss(&self) -> f64 {
        let h = &self.info.history.train;
        let tail = &h[h.len().saturating_sub(50)..];
        if tail.is_empty() {
            return f64::NAN;
        }
        tail.iter().map(|&(_, l)| f64::from(l)).sum::<f64>() / tail.len() as f64
    }

    /// The creation time as `YYYY-MM-DD HH:MM` (UTC).
    pub fn date(&self) -> String {
        let [y, mo, d, h, mi, _] = civil(self.created);
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")
    }

    /// A label that tells runs of one study apart: `study/name` or `name`.
    pub fn label(&self) -> String {
        match &self.study {
            Some(s) => format!("{s}/{}", folder_name(&self.dir)),
            None => folder_name(&self.dir),
        }
    }
}

/// A folder that looked like a run but could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct SkippedRun {
    /// The folder.
    pub dir: PathBuf,
    /// Why it was skipped.
    pub reason: String,
}

/// The contents of a runs folder.
#[derive(Clone, Debug, Default)]
pub struct RunList {
    /// Readable runs, newest first.
    pub runs: Vec<RunEntry>,
    /// Folders skipped, with the reason.
    pub skipped: Vec<SkippedRun>,
}

fn folder_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// UTC calendar fields [year, month, day, hour, minute, second] of `secs` since 1970.
fn civil(secs: u64) -> [u64; 6] {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    [
        y.max(0) as u64,
        m as u64,
        d as u64,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
    ]
}

/// Seconds since 1970 of a UTC `YYYYMMDD-HHMMSS` stamp.
fn parse_stamp(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 15
        || b[8] != b'-'
        || !s[..8]
            .bytes()
            .chain(s[9..15].bytes())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se).ok()
}

/// The `YYYYMMDD-HHMMSS` stamp (UTC) of `time`.
pub fn timestamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let [y, mo, d, h, mi, s] = civil(secs);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}

/// A name made safe for a folder: letters, digits, `-`, `_` and `.` kept, the rest `-`.
pub fn sanitize(name: &str) -> String {
    let s: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    // A folder name stays far below the file systems' 255-byte limit, timestamp included.
    let s: String = s.trim_matches(['-', '.']).chars().take(80).collect();
    let s = s.trim_end_matches(['-', '.']).to_owned();
    if s.is_empty() { "run".into() } else { s }
}

/// A fresh folder path `<runs_dir>/<timestamp>-<name>` for a run starting now (not created; a
/// `-2`, `-3`… suffix keeps it unique).
pub fn new_run_dir(runs_dir: &Path, name: &str) -> PathBuf {
    let base = format!("{}-{}", timestamp(SystemTime::now()), sanitize(name));
    let mut dir = runs_dir.join(&base);
    let mut k = 2;
    while dir.exists() {
        dir = runs_dir.join(format!("{base}-{k}"));
        k += 1;
    }
    dir
}

fn created_of(dir: &Path) -> u64 {
    let name = folder_name(dir);
    parse_stamp(&name).unwrap_or_else(|| {
        std::fs::metadata(dir.join("state.json"))
            .or_else(|_| std::fs::metadata(dir))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs())
    })
}

fn read_run(dir: &Path, study: Option<String>) -> Result<RunEntry, String> {
    let (config, info) = read_info(dir).map_err(|e| e.to_string())?;
    Ok(RunEntry {
        dir: dir.to_path_buf(),
        name: config.name.clone(),
        study,
        config,
        info,
        created: created_of(dir),
    })
}

fn is_hidden_or_temp(name: &str) -> bool {
    name.starts_with('.') || name.contains(".old-") || name.ends_with(".tmp")
}

/// Every run in `dir` (and in the study folders in it), newest first. Folders that cannot be read
/// are listed in [`RunList::skipped`] with the reason; temporary folders of a save in progress
/// are ignored. A missing `dir` is an empty list.
pub fn list_runs(dir: &Path) -> RunList {
    let mut list = RunList::default();
    scan(dir, None, &mut list);
    list.runs.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then_with(|| folder_name(&b.dir).cmp(&folder_name(&a.dir)))
    });
    list
}

fn scan(dir: &Path, study: Option<String>, list: &mut RunList) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !is_hidden_or_temp(&folder_name(p)))
        .collect();
    dirs.sort();
    for d in dirs {
        if study.is_none() && d.join(STUDY_MARKER).is_file() {
            scan(&d, Some(folder_name(&d)), list);
            continue;
        }
        let looks_like_run = d.join("config.json").exists() || d.join("state.json").exists();
        if !looks_like_run {
            // A study's plot folder and the like are not runs; only report top-level folders.
            if study.is_none() {
                list.skipped.push(SkippedRun {
                    dir: d,
                    reason: "not a run folder: no config.json or state.json".into(),
                });
            }
            continue;
        }
        match read_run(&d, study.clone()) {
            Ok(r) => list.runs.push(r),
            Err(reason) => list.skipped.push(SkippedRun { dir: d, reason }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        for secs in [
            0u64,
            951_782_400,
            1_700_000_000,
            1_795_000_000,
            4_102_444_799,
        ] {
            let t = UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let s = timestamp(t);
            assert_eq!(parse_stamp(&s), Some(secs), "{s}");
        }
        assert_eq!(timestamp(UNIX_EPOCH), "19700101-000000");
        assert_eq!(parse_stamp("20260230-99"), None);
        assert_eq!(parse_stamp("not-a-stamp-at-all"), None);
    }

    #[test]
    fn names_are_sanitized() {
        assert_eq!(sanitize("mnist tiny/../x"), "mnist-tiny-..-x");
        assert_eq!(sanitize("  "), "run");
        assert_eq!(sanitize("a_b-1.5"), "a_b-1.5");
    }
}
