//! Headless mode: the engine with no console, for a service manager or a
//! quick run. One line per event on stderr, SIGHUP reloads, SIGINT/SIGTERM
//! stop every FFmpeg gracefully and exit 0.

use crate::clock::local_hms;
use crate::engine::{Command, Engine, EngineTask, LogEntry};
use crate::signals::{Signal, Signals, say};

/// Prints engine events until a stop signal, then shuts the engine down.
pub async fn run(engine: Engine, task: EngineTask) -> std::io::Result<()> {
    let mut signals = Signals::new()?;
    let mut snapshots = engine.subscribe();
    let mut printed = 0u64;
    let mut stopping = false;
    loop {
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = snapshots.borrow_and_update().clone();
                for entry in &snapshot.log {
                    if entry.seq > printed {
                        say(&format_entry(entry));
                        printed = entry.seq;
                    }
                }
            }
            signal = signals.next() => match signal {
                Signal::Reload => engine.send(Command::Reload),
                Signal::Stop if !stopping => {
                    stopping = true;
                    engine.send(Command::Shutdown);
                }
                Signal::Stop => {}
            },
        }
    }
    task.wait().await;
    Ok(())
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
