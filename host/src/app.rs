//! Wires the command line to the runtime and the output sink.

use crate::cli::Cli;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let _ = cli;
    anyhow::bail!("the probe runtime is not available in this build yet")
}
