//! 2-D points as CSV: a header `x,y`, then one `x,y` row per point.
//!
//! Numbers are written in their shortest round-trip form (`{:?}`), so reading a file back gives
//! the exact f64s. Reading trims spaces, skips blank lines and accepts CRLF line ends.

use crate::fs::write_atomic;
use std::io::{BufRead, Write};
use std::path::Path;

/// The header line of a points CSV.
pub const HEADER: &str = "x,y";

/// Why points cannot be written or read as CSV.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file has no header line.
    #[error("the CSV is empty; expected the header `x,y` on line 1")]
    Empty,
    /// The first line is not `x,y`.
    #[error("line 1: expected the header `x,y`, found `{found}`")]
    Header {
        /// The first line as read.
        found: String,
    },
    /// A row that is not two finite numbers.
    #[error("line {line}: {message}")]
    Row {
        /// The 1-based line number (the header is line 1).
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// Flattened points with an odd number of values.
    #[error("{0} values do not split into (x, y) pairs")]
    OddLength(usize),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Writes flattened (x, y) pairs as CSV to any writer.
pub fn write_points(w: &mut impl Write, points: &[f64]) -> Result<(), CsvError> {
    if !points.len().is_multiple_of(2) {
        return Err(CsvError::OddLength(points.len()));
    }
    writeln!(w, "{HEADER}")?;
    for p in points.chunks_exact(2) {
        // `{:?}` prints the shortest string that parses back to the same f64.
        writeln!(w, "{:?},{:?}", p[0], p[1])?;
    }
    Ok(())
}

/// Writes flattened (x, y) pairs as a CSV file, atomically (see [`write_atomic`]).
pub fn save_points(path: &Path, points: &[f64]) -> Result<(), CsvError> {
    if !points.len().is_multiple_of(2) {
        return Err(CsvError::OddLength(points.len()));
    }
    write_atomic(path, |w| {
        write_points(w, points).map_err(|e| match e {
            CsvError::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        })
    })?;
    Ok(())
}

fn parse_field(field: Option<&str>, name: &str, line: usize) -> Result<f64, CsvError> {
    let row = |message: String| CsvError::Row { line, message };
    let text = field
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| row(format!("missing {name}")))?;
    let v: f64 = text
        .parse()
        .map_err(|_| row(format!("{name} `{text}` is not a number")))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(row(format!("{name} `{text}` is not finite")))
    }
}

/// Reads a points CSV from any reader into flattened (x, y) pairs.
pub fn read_points(r: impl BufRead) -> Result<Vec<f64>, CsvError> {
    let mut lines = r.lines();
    let header = lines.next().ok_or(CsvError::Empty)??;
    let header = header.trim().trim_start_matches('\u{feff}');
    if header.replace(' ', "") != HEADER {
        return Err(CsvError::Header {
            found: header.to_owned(),
        });
    }
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        let line = line?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let mut fields = text.split(',');
        let x = parse_field(fields.next(), "x", line_no)?;
        let y = parse_field(fields.next(), "y", line_no)?;
        let extra = fields.count();
        if extra > 0 {
            return Err(CsvError::Row {
                line: line_no,
                message: format!("expected 2 values, found {}", 2 + extra),
            });
        }
        out.extend([x, y]);
    }
    Ok(out)
}

/// Reads a points CSV file into flattened (x, y) pairs.
pub fn load_points(path: &Path) -> Result<Vec<f64>, CsvError> {
    let file = std::fs::File::open(path)?;
    read_points(std::io::BufReader::new(file))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(s: &str) -> Result<Vec<f64>, CsvError> {
        read_points(s.as_bytes())
    }

    #[test]
    fn writes_shortest_round_trip() {
        let mut buf = Vec::new();
        write_points(&mut buf, &[0.1, -2.0, 1e-20, 1.0 / 3.0]).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text, "x,y\n0.1,-2.0\n1e-20,0.3333333333333333\n");
        assert_eq!(read(&text).unwrap(), vec![0.1, -2.0, 1e-20, 1.0 / 3.0]);
        assert!(matches!(
            write_points(&mut Vec::new(), &[1.0]),
            Err(CsvError::OddLength(1))
        ));
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let msg = |s: &str| read(s).unwrap_err().to_string();
        assert_eq!(
            msg(""),
            "the CSV is empty; expected the header `x,y` on line 1"
        );
        assert_eq!(
            msg("a,b\n1,2\n"),
            "line 1: expected the header `x,y`, found `a,b`"
        );
        assert_eq!(msg("x,y\n1,2\n\n3\n"), "line 4: missing y");
        assert_eq!(msg("x,y\n1,2\nfoo,2\n"), "line 3: x `foo` is not a number");
        assert_eq!(msg("x,y\n1,2,3\n"), "line 2: expected 2 values, found 3");
        assert_eq!(msg("x,y\n1,inf\n"), "line 2: y `inf` is not finite");
        assert_eq!(msg("x,y\n,1\n"), "line 2: missing x");
        assert_eq!(
            read("\u{feff}x, y\r\n 1 , 2 \r\n\r\n").unwrap(),
            vec![1.0, 2.0]
        );
        assert_eq!(read("x,y\n").unwrap(), Vec::<f64>::new());
    }
}
