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
use std::path::{Path, PathBuf};
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

/// Starts watching `config_path`; each save sends [`Command::Reload`]. A
/// config that is a symlink is watched at both ends: a save through the
/// link and an edit of the file it points to both reload.
pub fn watch_config(config_path: &Path, engine: Engine) -> Result<ConfigWatcher, WatchError> {
    let error = |source| WatchError {
        path: config_path.display().to_string(),
        source,
    };
    let mut places = vec![place_of(config_path)];
    if let Ok(target) = crate::config::real_file(config_path)
        && target != config_path
    {
        places.push(place_of(&target));
    }
    let wanted = places.clone();
    let mut debouncer = new_debouncer(
        DEBOUNCE,
        Some(Duration::from_millis(30)),
        move |result: DebounceEventResult| {
            let Ok(events) = result else {
                return;
            };
            let touches_config = events.iter().any(|event| {
                !matches!(event.kind, EventKind::Access(_))
                    && event.paths.iter().any(|p| {
                        wanted.iter().any(|(dir, name)| {
                            p.file_name() == Some(name.as_os_str())
                                && p.parent().is_none_or(|d| same_dir(d, dir))
                        })
                    })
            });
            if touches_config {
                engine.send(Command::Reload);
            }
        },
    )
    .map_err(error)?;
    let mut watched: Vec<PathBuf> = Vec::new();
    for (dir, _) in &places {
        if !watched.contains(dir) {
            debouncer
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(error)?;
            watched.push(dir.clone());
        }
    }
    Ok(ConfigWatcher {
        _debouncer: debouncer,
    })
}

/// The directory to watch and the file name to look for in it.
fn place_of(path: &Path) -> (PathBuf, OsString) {
    let name = path
        .file_name()
        .map(OsString::from)
        .unwrap_or_else(|| OsString::from("streams.toml"));
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    (dir, name)
}

/// Whether an event's directory is a watched one (as given, or resolved).
fn same_dir(event_dir: &Path, watched: &Path) -> bool {
    event_dir == watched
        || std::fs::canonicalize(event_dir)
            .ok()
            .zip(std::fs::canonicalize(watched).ok())
            .is_some_and(|(a, b)| a == b)
}
