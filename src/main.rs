//! The `onair` command: picks a mode, wires the parts, maps errors to exit codes.

use clap::{Parser, Subcommand};
use onair::config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Run every live stream of a venue from one terminal.
///
/// `onair [CONFIG]` opens a console on the engine of CONFIG, starting the
/// engine in the background when none runs. Leaving the console (q, then d)
/// leaves every stream running; `onair` again attaches again.
#[derive(Parser)]
#[command(name = "onair", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,
    /// Run the engine in the foreground, with no console (for a service
    /// manager): one line per event on stderr; SIGHUP reloads, SIGINT/SIGTERM
    /// stop every stream and exit. Consoles attach to it.
    #[arg(long)]
    headless: bool,
    /// The streams file.
    #[arg(default_value = "streams.toml")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Mode {
    /// Validate a streams file: every problem as FILE:LINE:COL, exit 1 if any.
    Check {
        /// The streams file.
        #[arg(default_value = "streams.toml")]
        config: PathBuf,
    },
    /// One line per stream of the running engine; exit 0 when every enabled
    /// stream runs, 1 otherwise, 2 when no engine runs.
    Status {
        /// The streams file.
        #[arg(default_value = "streams.toml")]
        config: PathBuf,
    },
    /// Stop every stream and the engine; returns once every FFmpeg is gone.
    Stop {
        /// The streams file.
        #[arg(default_value = "streams.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Mode::Check { config }) = &cli.command {
        return check(config);
    }
    // The engine runs the streams on two workers; a console, `status` and
    // `stop` are one small client each.
    let runtime = if cli.headless {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("onair: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match &cli.command {
            Some(Mode::Status { config }) => onair::cli::status(config).await,
            Some(Mode::Stop { config }) => onair::cli::stop(config).await,
            _ if cli.headless => match onair::headless::run(&cli.config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    onair::signals::say(&format!("onair: {e:#}"));
                    ExitCode::FAILURE
                }
            },
            _ => onair::cli::console(&cli.config).await,
        }
    })
}

fn check(path: &Path) -> ExitCode {
    match config::load_file(path) {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("{}: warning: {warning}", path.display());
            }
            println!(
                "{}: ok ({} streams, {} screens)",
                path.display(),
                config.streams.len(),
                config.screens.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
