//! The `onair` command: picks a mode, wires the parts, maps errors to exit codes.

use anyhow::Context;
use clap::{Parser, Subcommand};
use onair::config::{self, Config};
use onair::engine::{Command, Engine, EngineOptions};
use onair::signals::{Signals, say};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Run every live stream of a venue from one terminal.
#[derive(Parser)]
#[command(name = "onair", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,
    /// Run without the console: one line per event on stderr; SIGHUP reloads,
    /// SIGINT/SIGTERM stop every stream and exit.
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Mode::Check { config }) = &cli.command {
        return check(config);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("onair: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("onair: {e:#}");
            ExitCode::FAILURE
        }
    }
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

fn load(path: &Path) -> anyhow::Result<Config> {
    config::load_file(path).map_err(|e| {
        anyhow::anyhow!("{e}\nfix the file and start again (`onair check` validates it)")
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if !cli.headless && !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the console needs a terminal: run `onair --headless` under a service manager or with output redirected"
        );
    }
    let config = load(&cli.config)?;
    let log = onair::logging::init(&config.base_dir());
    if let Err(why) = &log {
        eprintln!("onair: {why}");
    }
    for warning in &config.warnings {
        eprintln!("onair: warning: {warning}");
    }
    let config_path = config.path.clone();
    let (engine, task) = Engine::start(config, EngineOptions::default())?;
    let server = match onair::server::start(engine.clone()).await {
        Ok(server) => server,
        Err(e) => {
            engine.send(Command::Shutdown);
            task.wait().await;
            return Err(e.into());
        }
    };
    let _watcher = match onair::reload::watch_config(&config_path, engine.clone()) {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            eprintln!("onair: {e}");
            None
        }
    };
    if cli.headless {
        eprintln!("onair: screens on http://{}/", server.local_addr());
        let result = onair::headless::run(engine, task)
            .await
            .context("headless mode");
        server.shutdown().await;
        return result;
    }
    let console = onair::tui::run(engine.clone(), server.stats()).await;
    let result = match console {
        Ok(()) => {
            say("onair: stopping every stream…");
            engine.send(Command::Shutdown);
            task.wait().await;
            say("onair: all FFmpeg processes stopped");
            Ok(())
        }
        Err(e) => {
            // The terminal went away (an SSH drop): the event goes on, so the
            // streams do too, until a stop signal.
            tracing::warn!(
                "the console lost its terminal ({e}): streams keep running; stop them with `kill -TERM {}`",
                std::process::id()
            );
            run_without_terminal(engine, task).await
        }
    };
    server.shutdown().await;
    result
}

/// Keeps the engine running with no terminal: SIGHUP reloads, SIGINT or
/// SIGTERM stop every stream.
async fn run_without_terminal(
    engine: Engine,
    task: onair::engine::EngineTask,
) -> anyhow::Result<()> {
    Signals::new()?.reload_until_stop(&engine).await;
    engine.send(Command::Shutdown);
    task.wait().await;
    Ok(())
}
