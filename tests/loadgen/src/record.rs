//! What the generator published: one line per run the broker acknowledged, so a
//! consumer's result can be checked for gaps (a line with no row) and duplicates (a row
//! twice, or samples beyond the ones listed).
//!
//! Format: tab-separated `run_id  host  probe  samples`, one run per line, in the order
//! the acknowledgements came; loadable with PostgreSQL's `\copy ... FROM` as text.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use uuid::Uuid;

/// A run sent and not yet acknowledged (the delivery report's opaque value).
#[derive(Debug, Clone)]
pub struct Pending {
    pub run_id: Uuid,
    pub host: String,
    pub probe: &'static str,
    pub samples: u32,
}

/// Counts of acknowledged and failed runs, and the record file.
pub struct Tally {
    file: Option<BufWriter<File>>,
    pub acked_runs: u64,
    pub acked_samples: u64,
    pub failed_runs: u64,
    /// The first write error on the record file: a record with a hole is worthless.
    pub record_error: Option<std::io::Error>,
}

impl Tally {
    /// A tally writing its record to `path` (created or truncated), or none.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn new(path: Option<&Path>) -> std::io::Result<Tally> {
        let file = match path {
            Some(p) => Some(BufWriter::with_capacity(1 << 20, File::create(p)?)),
            None => None,
        };
        Ok(Tally {
            file,
            acked_runs: 0,
            acked_samples: 0,
            failed_runs: 0,
            record_error: None,
        })
    }

    pub fn acked(&mut self, run: &Pending) {
        self.acked_runs += 1;
        self.acked_samples += u64::from(run.samples);
        if let Some(file) = self.file.as_mut() {
            if let Err(e) = writeln!(
                file,
                "{}\t{}\t{}\t{}",
                run.run_id, run.host, run.probe, run.samples
            ) {
                self.record_error.get_or_insert(e);
            }
        }
    }

    pub fn failed(&mut self) {
        self.failed_runs += 1;
    }

    /// Flushes the record file.
    ///
    /// # Errors
    /// The first write error seen, or the flush's.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.record_error.take() {
            return Err(e);
        }
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// Reads a record file back: `(run_id, host, probe, samples)` per line.
///
/// # Errors
/// When the file cannot be read or a line is not in the format above (named by number).
pub fn read(path: &Path) -> anyhow::Result<Vec<(Uuid, String, String, u32)>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let mut fields = line.split('\t');
            let mut next = || {
                fields
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{}:{}: too few fields", path.display(), i + 1))
            };
            let run_id = Uuid::parse_str(next()?)?;
            let host = next()?.to_owned();
            let probe = next()?.to_owned();
            let samples = next()?.parse()?;
            Ok((run_id, host, probe, samples))
        })
        .collect()
}
