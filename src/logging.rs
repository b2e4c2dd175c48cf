//! Logs go to a daily rolling file under `logs/` beside the config: the
//! console owns the terminal, and a live event needs a record afterwards.

use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Keeps the log writer alive; drop it last, so the final lines are flushed.
pub struct LogGuard {
    _guard: Option<WorkerGuard>,
    /// Where the log files are.
    pub dir: PathBuf,
}

/// Starts logging into `<config dir>/logs/onair.log.YYYY-MM-DD`. When the
/// directory cannot be made, logs are dropped and the returned message says
/// why, since nothing else may write into the console's terminal.
pub fn init(config_dir: &Path) -> Result<LogGuard, String> {
    let dir = config_dir.join("logs");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Err(format!(
            "cannot create {}: {e}; logging is off",
            dir.display()
        ));
    }
    let appender = tracing_appender::rolling::daily(&dir, "onair.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("ONAIR_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init();
    if installed.is_err() {
        return Err("a logger is already installed".to_string());
    }
    Ok(LogGuard {
        _guard: Some(guard),
        dir,
    })
}
