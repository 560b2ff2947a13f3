//! `recorder`: parse the command line, set up logging, map errors to an exit code.

use std::process::ExitCode;

use clap::Parser;
use sonde_recorder::app;
use sonde_recorder::cli::{Cli, Command};
use sonde_recorder::report;

/// See [`sonde_recorder::allocator`].
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sonde_recorder::allocator::keep_freed_memory();
    let cli = Cli::parse();
    cli.log.init(&[
        "info,librdkafka=warn,tokio_postgres=warn",
        "debug,librdkafka=info",
        "trace",
    ]);

    let config = match cli.load_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("recorder: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("recorder: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        if let Some(Command::Report(args)) = &cli.command {
            let w = report::write(&config, args).await?;
            println!(
                "recorder: report written to {} ({} KiB, {} hosts, {} HTTP checks; queries {} ms, rendering {} ms)",
                args.out.display(),
                w.bytes.div_ceil(1024),
                w.hosts,
                w.checks,
                w.query_ms,
                w.render_ms
            );
            return Ok(());
        }
        if cli.check_config {
            let line = sonde_recorder::check::run(&config).await?;
            println!("recorder: {line}");
            return Ok(());
        }
        app::run(config, app::shutdown_on_signals()?).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recorder: {e:#}");
            ExitCode::FAILURE
        }
    }
}
