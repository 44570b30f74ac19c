//! Progress of long CLI work on stderr (#17): on a terminal, one line rewritten in place with
//! a bar, the rate and the ETA; into a file or a pipe, a plain line every [`LOG_EVERY`] and at
//! the end, so no `\r` frames go into logs.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often a plain progress line is written when stderr is not a terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// How often the terminal line is redrawn.
const DRAW_EVERY: Duration = Duration::from_millis(100);

/// One task's progress.
pub struct Progress {
    what: String,
    unit: &'static str,
    tty: bool,
    start: Instant,
    start_done: Option<usize>,
    last: Option<Instant>,
    drew: bool,
}

impl Progress {
    /// Progress of `what`, counted in `unit`s (e.g. "steps"), on stderr.
    pub fn new(what: impl Into<String>, unit: &'static str) -> Self {
        Self::with_tty(what, unit, std::io::stderr().is_terminal())
    }

    /// As [`new`](Self::new), saying whether stderr is a terminal (tests).
    pub fn with_tty(what: impl Into<String>, unit: &'static str, tty: bool) -> Self {
        Self {
            what: what.into(),
            unit,
            tty,
            start: Instant::now(),
            start_done: None,
            last: None,
            drew: false,
        }
    }

    /// `done` of `total`, with `extra` (e.g. "loss 0.0213") after the counts.
    pub fn update(&mut self, done: usize, total: usize, extra: &str) {
        let first = *self.start_done.get_or_insert(done);
        let now = Instant::now();
        let every = if self.tty { DRAW_EVERY } else { LOG_EVERY };
        let due = self.last.is_none_or(|t| now - t >= every);
        if !due && done < total {
            return;
        }
        self.last = Some(now);
        let line = self.line(done, total, first, extra);
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r{line}   ");
            self.drew = true;
            if done >= total {
                let _ = writeln!(err);
                self.drew = false;
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Ends the terminal line (call when the task stops early).
    pub fn finish(&mut self) {
        if self.drew {
            eprintln!();
            self.drew = false;
        }
    }

    fn line(&self, done: usize, total: usize, first: usize, extra: &str) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        let rate = done.saturating_sub(first) as f64 / secs.max(1e-9);
        let eta = if rate > 0.0 && total >= done {
            format!("ETA {}", clock((total - done) as f64 / rate))
        } else {
            "ETA –".into()
        };
        let width = 30;
        let filled = (done * width)
            .checked_div(total)
            .unwrap_or(width)
            .min(width);
        let bar = if self.tty {
            format!("[{}{}] ", "#".repeat(filled), "-".repeat(width - filled))
        } else {
            String::new()
        };
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!("  {extra}")
        };
        let rate = if done > first {
            format!("{rate:.2} {}/s", self.unit)
        } else {
            format!("– {}/s", self.unit)
        };
        format!(
            "{}: {bar}{done}/{total} {}{extra}  {rate}  {eta}",
            self.what, self.unit
        )
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Seconds as "1 h 02 min", "3 min 05 s" or "42 s".
pub fn clock(secs: f64) -> String {
    if !secs.is_finite() {
        return "–".into();
    }
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_like_a_person_would_write_it() {
        assert_eq!(clock(42.4), "42 s");
        assert_eq!(clock(185.0), "3 min 05 s");
        assert_eq!(clock(3720.0), "1 h 02 min");
        assert_eq!(clock(f64::NAN), "–");
    }

    #[test]
    fn a_log_line_has_no_bar_and_counts_the_rate() {
        let p = Progress::with_tty("train", "steps", false);
        let line = p.line(50, 100, 0, "loss 0.5");
        assert!(
            line.starts_with("train: 50/100 steps  loss 0.5  "),
            "{line}"
        );
        assert!(!line.contains('[') && !line.contains('\r'), "{line}");
        let p = Progress::with_tty("train", "steps", true);
        assert!(
            p.line(15, 30, 0, "")
                .contains("[###############---------------]")
        );
    }
}
