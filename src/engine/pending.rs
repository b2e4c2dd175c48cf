//! Key changes on their way into `streams.toml`. A change the file cannot
//! take right now (it does not parse mid-edit, the disk is full, the
//! directory is read-only) is kept, stays in force over every reload, is
//! shown as not yet written, and is tried again on each reload and every
//! few seconds until it is written: an operator's key press is never lost.

use super::journal::{Journal, Level};
use crate::config::{self, Change, Config, WriteBackError};
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

/// How often kept changes are tried again without a reload.
const RETRY_EVERY: Duration = Duration::from_secs(10);

/// The kept changes of one config file.
pub(crate) struct PendingWrites {
    path: PathBuf,
    kept: Vec<(String, Change)>,
    /// Why the last try failed, so the log says it once, not every retry.
    last_failure: Option<String>,
    next_try: Option<Instant>,
}

impl PendingWrites {
    pub(crate) fn new(path: PathBuf) -> PendingWrites {
        PendingWrites {
            path,
            kept: Vec::new(),
            last_failure: None,
            next_try: None,
        }
    }

    /// Writes a key's change into the file, or keeps it.
    pub(crate) async fn write(&mut self, journal: &Journal, name: &str, change: Change) {
        match self.try_write(name, &change).await {
            Ok(()) => {}
            Err(WriteBackError::NoSuchStream(_)) => journal.record(
                Level::Warn,
                Some(name),
                format!("not written to streams.toml: the file has no stream `{name}` any more"),
            ),
            Err(error) => {
                let why = kept_because(&error);
                journal.record(Level::Warn, Some(name), why.clone());
                self.last_failure = Some(why);
                self.kept
                    .retain(|(n, c)| !(n == name && same_kind(c, &change)));
                self.kept.push((name.to_string(), change));
                self.next_try = Some(Instant::now() + RETRY_EVERY);
            }
        }
    }

    /// Tries every kept change again; what still fails stays kept.
    pub(crate) async fn flush(&mut self, journal: &Journal) {
        let kept = std::mem::take(&mut self.kept);
        let mut failure = None;
        for (name, change) in kept {
            match self.try_write(&name, &change).await {
                Ok(()) => journal.record(
                    Level::Info,
                    Some(&name),
                    format!(
                        "wrote the kept change to streams.toml: {}",
                        describe(&(name.clone(), change))
                    ),
                ),
                Err(WriteBackError::NoSuchStream(_)) => journal.record(
                    Level::Warn,
                    Some(&name),
                    "dropped a kept change: streams.toml has no such stream any more",
                ),
                Err(error) => {
                    failure = Some(kept_because(&error));
                    self.kept.push((name, change));
                }
            }
        }
        if let Some(why) = &failure
            && self.last_failure.as_ref() != Some(why)
        {
            journal.record(Level::Warn, None, why.clone());
        }
        self.last_failure = failure;
        self.next_try = (!self.kept.is_empty()).then(|| Instant::now() + RETRY_EVERY);
    }

    /// When the kept changes are next tried without a reload.
    pub(crate) fn next_try(&self) -> Option<Instant> {
        self.next_try
    }

    /// True when nothing waits to be written.
    pub(crate) fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Puts the kept changes in force on a freshly loaded config.
    pub(crate) fn apply_to(&self, config: &mut Config) {
        for (name, change) in &self.kept {
            if let Some(spec) = config.streams.iter_mut().find(|s| &s.name == name) {
                change.apply_to(spec);
            }
        }
    }

    /// The kept changes, as the header lists them.
    pub(crate) fn described(&self) -> Vec<String> {
        self.kept.iter().map(describe).collect()
    }

    async fn try_write(&self, name: &str, change: &Change) -> Result<(), WriteBackError> {
        let path = self.path.clone();
        let (name, change) = (name.to_string(), change.clone());
        tokio::task::spawn_blocking(move || config::write_change(&path, &name, &change).map(|_| ()))
            .await
            .unwrap_or_else(|e| {
                Err(WriteBackError::Io {
                    path: String::new(),
                    source: std::io::Error::other(e.to_string()),
                })
            })
    }
}

fn kept_because(error: &WriteBackError) -> String {
    match error {
        WriteBackError::Unparsable(why) => format!(
            "streams.toml cannot be parsed right now ({why}): the change is kept and will be written once the file is valid"
        ),
        other => format!(
            "{other}: the change is kept, in force, and written on the next reload (tried again every {} s)",
            RETRY_EVERY.as_secs()
        ),
    }
}

fn same_kind(a: &Change, b: &Change) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn describe((name, change): &(String, Change)) -> String {
    match change {
        Change::Enabled(true) => format!("{name}: enabled = true"),
        Change::Enabled(false) => format!("{name}: enabled = false"),
        Change::Profile(p) => format!("{name}: profile = \"{p}\""),
    }
}
