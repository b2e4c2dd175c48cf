//! Runs the engine and the HTTP server on a streams file, with no console
//! (saving the file applies it): what the benchmarks in `scripts/` measure.
//!
//! `cargo run --release --example serve -- streams.toml` — SIGINT or SIGTERM stops.

use anyhow::Context;
use onair::engine::{Command, Engine, EngineOptions};
use std::path::PathBuf;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let path = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "streams.toml".into()),
    );
    let config = onair::config::load_file(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let config_path = config.path.clone();
    let (engine, task) = Engine::start(config, EngineOptions { write_back: false })?;
    let _watcher = onair::reload::watch_config(&config_path, engine.clone())?;
    let server = onair::server::start(engine.clone()).await?;
    eprintln!("onair: serving on http://{}", server.local_addr());
    let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    server.shutdown().await;
    engine.send(Command::Shutdown);
    task.wait().await;
    Ok(())
}
