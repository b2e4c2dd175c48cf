//! Hot reload: watches the directory of `streams.toml` and asks the engine
//! to reload when the file is saved.
//!
//! The directory is watched, not the file, because editors save by writing a
//! new file and renaming it over the old one (vim, nano, `sed -i`): a watch
//! on the old file's inode would go silent after the first save.

use crate::engine::{Command, Engine};
use notify::RecursiveMode;
use notify::event::EventKind;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

/// How long the file must be quiet before a reload: editors write in bursts.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Keeps the watch alive; dropping it stops watching.
pub struct ConfigWatcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// Why the file cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path} for changes: {source} (edits will need `kill -HUP`)")]
pub struct WatchError {
    path: String,
    source: notify::Error,
}

/// Starts watching `config_path`; each save sends [`Command::Reload`].
pub fn watch_config(config_path: &Path, engine: Engine) -> Result<ConfigWatcher, WatchError> {
    let error = |source| WatchError {
        path: config_path.display().to_string(),
        source,
    };
    let file_name: OsString = config_path
        .file_name()
        .map(OsString::from)
        .unwrap_or_else(|| OsString::from("streams.toml"));
    let dir = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut debouncer = new_debouncer(
        DEBOUNCE,
        Some(Duration::from_millis(30)),
        move |result: DebounceEventResult| {
            let Ok(events) = result else {
                return;
            };
            let touches_config = events.iter().any(|event| {
                !matches!(event.kind, EventKind::Access(_))
                    && event
                        .paths
                        .iter()
                        .any(|p| p.file_name() == Some(file_name.as_os_str()))
            });
            if touches_config {
                engine.send(Command::Reload);
            }
        },
    )
    .map_err(error)?;
    debouncer
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(error)?;
    Ok(ConfigWatcher {
        _debouncer: debouncer,
    })
}
