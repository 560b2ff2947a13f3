//! `recorder`: parse the command line, set up logging, map errors to an exit code.

use std::process::ExitCode;

use clap::Parser;

/// Consume Sonde messages from Kafka into PostgreSQL over SSL.
#[derive(Debug, Parser)]
#[command(name = "recorder", version, about)]
struct Cli {
    /// recorder.ini ([recorder] section; [writer] accepted).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = cli.config;
    eprintln!("recorder: not implemented yet");
    ExitCode::FAILURE
}
