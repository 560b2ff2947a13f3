//! `log` (every contract version): probe messages go to the host's log, tagged with the
//! job, size- and count-capped per run so a chatty probe cannot flood the host's log.

use wasmtime::component::HasData;

use crate::runtime::bindings::wit_log::{self as wit, Level};

/// Longer messages are cut here (bytes, on a char boundary).
pub const MAX_LOG_MESSAGE_BYTES: usize = 2048;
/// Messages beyond this many in one run are counted, not logged.
pub const MAX_LOG_MESSAGES_PER_RUN: u32 = 100;

/// Per-instance log budget; reset at the start of each run.
#[derive(Debug, Default)]
pub struct LogBudget {
    pub used: u32,
    pub suppressed: u32,
}

pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What the `log` import sees of a store: the job's name and its log budget.
pub struct LogView<'a> {
    pub job: &'a str,
    pub budget: &'a mut LogBudget,
}

/// Selects [`LogView`] as the `log` implementation when linking.
pub struct HasLog;

impl HasData for HasLog {
    type Data<'a> = LogView<'a>;
}

impl wit::Host for LogView<'_> {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if self.budget.used >= MAX_LOG_MESSAGES_PER_RUN {
            self.budget.suppressed += 1;
            return Ok(());
        }
        self.budget.used += 1;
        let msg = truncate_utf8(&message, MAX_LOG_MESSAGE_BYTES);
        let job = self.job;
        match level {
            Level::Trace => tracing::trace!(job, "probe: {msg}"),
            Level::Debug => tracing::debug!(job, "probe: {msg}"),
            Level::Info => tracing::info!(job, "probe: {msg}"),
            Level::Warn => tracing::warn!(job, "probe: {msg}"),
            Level::Error => tracing::error!(job, "probe: {msg}"),
        }
        Ok(())
    }
}

/// `log` of `sonde:probe@0.1.0`: the same, with that version's `level`.
impl crate::runtime::bindings::v0_1::sonde::probe::log::Host for LogView<'_> {
    fn log(
        &mut self,
        level: crate::runtime::bindings::v0_1::sonde::probe::log::Level,
        message: String,
    ) -> wasmtime::Result<()> {
        use crate::runtime::bindings::v0_1::sonde::probe::log::Level as L;
        let level = match level {
            L::Trace => Level::Trace,
            L::Debug => Level::Debug,
            L::Info => Level::Info,
            L::Warn => Level::Warn,
            L::Error => Level::Error,
        };
        wit::Host::log(self, level, message)
    }
}
