//! The engine process, `onair --headless CONFIG`: the streams, the HTTP
//! server, the reload watcher and the control socket consoles attach to.
//! One line per event on stderr (a service manager's journal, or
//! `logs/engine.log` when a console started it); SIGHUP reloads,
//! SIGINT/SIGTERM stop every FFmpeg gracefully and exit 0.
//!
//! Before anything else, it takes the config's lock: a second engine for
//! the same config is refused with the first one's pid before it reads the
//! config, opens a port or touches a directory of the running streams.

use crate::clock::local_hms;
use crate::config::{self, Config};
use crate::control::{ControlServer, EngineLock, Place, PlaceError};
use crate::engine::{Command, Engine, EngineOptions, EngineTask, LogEntry};
use crate::signals::{Signal, Signals, say};
use anyhow::Context;
use std::path::Path;

/// What every client is told when the engine ends.
pub const CLOSING: &str = "the engine stopped: every stream is off the air";

/// Runs the engine of `config_path` until a stop signal or a `Shutdown`
/// command from a console, then stops every FFmpeg and returns.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config_path = std::path::absolute(config_path).unwrap_or_else(|_| config_path.into());
    let place = match Place::for_config(&config_path) {
        Ok(place) => place,
        // The file cannot be found: say it the way the config loader does.
        Err(PlaceError::Config { .. }) => {
            load(&config_path)?;
            anyhow::bail!("cannot find {}", config_path.display());
        }
        Err(e) => return Err(e.into()),
    };
    place.prepare()?;
    let lock = EngineLock::acquire(&place)?;
    let config = load(&config_path)?;
    let _log = match crate::logging::init(&config.base_dir()) {
        Ok(guard) => Some(guard),
        Err(why) => {
            say(&format!("onair: {why}"));
            None
        }
    };
    for warning in &config.warnings {
        say(&format!("onair: warning: {warning}"));
    }
    let (engine, task) = Engine::start(config, EngineOptions::default())?;
    let server = match crate::server::start(engine.clone()).await {
        Ok(server) => server,
        Err(e) => {
            engine.send(Command::Shutdown);
            task.wait().await;
            return Err(e.into());
        }
    };
    let _watcher = match crate::reload::watch_config(&config_path, engine.clone()) {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            say(&format!("onair: {e}"));
            None
        }
    };
    let control = match ControlServer::bind(&place, &lock, engine.clone(), server.stats()) {
        Ok(control) => control,
        Err(e) => {
            engine.send(Command::Shutdown);
            task.wait().await;
            server.shutdown().await;
            return Err(anyhow::anyhow!(
                "cannot open the control socket {}: {e}",
                place.socket.display()
            ));
        }
    };
    say(&format!(
        "onair: engine pid {} for {}; screens on http://{}/; consoles attach with `onair {}`",
        std::process::id(),
        place.config.display(),
        server.local_addr(),
        config_path.display()
    ));
    let result = print_until_stopped(engine, task)
        .await
        .context("headless mode");
    let reason = match (&result, control.stopped_by()) {
        (Ok(Some(signal)), _) => format!("{CLOSING} (stopped by {signal})"),
        (_, Some(client)) => format!("{CLOSING} (stopped by {client})"),
        _ => CLOSING.to_string(),
    };
    control.close(reason).await;
    server.shutdown().await;
    // The socket is gone: only now may another engine take over.
    drop(lock);
    result.map(|_| ())
}

fn load(path: &Path) -> anyhow::Result<Config> {
    config::load_file(path).map_err(|e| {
        anyhow::anyhow!("{e}\nfix the file and start again (`onair check` validates it)")
    })
}

/// Prints engine events until a stop signal or a `Shutdown` from a
/// console, then waits for the engine to stop every stream. Says which
/// signal stopped it, if one did.
async fn print_until_stopped(
    engine: Engine,
    task: EngineTask,
) -> std::io::Result<Option<&'static str>> {
    let mut signals = Signals::new()?;
    let mut snapshots = engine.subscribe();
    let mut printed = 0u64;
    let mut stopped_by = None;
    loop {
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
                printed = print_new(&engine, printed);
            }
            signal = signals.next() => match signal {
                Signal::Reload => engine.send(Command::Reload),
                Signal::Stop if stopped_by.is_none() => {
                    stopped_by = Some("SIGTERM or SIGINT");
                    engine.send(Command::Shutdown);
                }
                Signal::Stop => {}
            },
        }
    }
    task.wait().await;
    print_new(&engine, printed);
    Ok(stopped_by)
}

/// Prints the log entries after `printed`; returns the newest one's number.
fn print_new(engine: &Engine, printed: u64) -> u64 {
    let mut newest = printed;
    for entry in engine.log_since(printed) {
        say(&format_entry(&entry));
        newest = entry.seq;
    }
    newest
}

/// `10:15:03 INFO  cam1: running: pid 4242`
pub fn format_entry(entry: &LogEntry) -> String {
    let level = entry.level.to_uppercase();
    match &entry.stream {
        Some(stream) => format!(
            "{} {level:<5} {stream}: {}",
            local_hms(entry.at),
            entry.text
        ),
        None => format!("{} {level:<5} {}", local_hms(entry.at), entry.text),
    }
}
