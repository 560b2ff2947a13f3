//! `host`: parse the command line, set up logging, map errors to an exit code.

use std::process::ExitCode;

use clap::Parser;
use sonde_host::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init(&["info", "debug", "trace"]);
    sonde_host::kafka::spool::survive_file_size_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("host: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(sonde_host::app::run(cli));
    // Work still on the blocking pool (a DNS lookup of a run cut short) must not hold up
    // the exit; everything that had to finish was awaited inside `run`.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<sonde_host::validate::Invalid>() => {
            // The problems are printed already, one per line.
            eprintln!("host: {e}");
            ExitCode::from(sonde_host::validate::EX_CONFIG)
        }
        Err(e) => {
            // One line: what failed, and its causes.
            eprintln!("host: {e:#}");
            ExitCode::FAILURE
        }
    }
}
