//! The engine's event log: what happened to which stream, newest last.
//!
//! Every entry goes to the tracing log file too; the in-memory tail travels
//! in snapshots so that every UI can show it and headless mode can print it.

use super::snapshot::{LogEntry, now_millis};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How many entries a snapshot carries.
const KEPT: usize = 200;

/// A shared, bounded event log.
#[derive(Clone, Default)]
pub(crate) struct Journal {
    inner: Arc<Mutex<JournalInner>>,
}

#[derive(Default)]
struct JournalInner {
    next_seq: u64,
    entries: VecDeque<LogEntry>,
}

/// How much an entry matters.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Level {
    Info,
    Warn,
    Error,
}

impl Journal {
    /// Records an entry; `text` must already be masked.
    pub(crate) fn record(&self, level: Level, stream: Option<&str>, text: impl Into<String>) {
        let text = text.into();
        let stream_name = stream.unwrap_or("-");
        match level {
            Level::Info => tracing::info!(stream = stream_name, "{text}"),
            Level::Warn => tracing::warn!(stream = stream_name, "{text}"),
            Level::Error => tracing::error!(stream = stream_name, "{text}"),
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.next_seq += 1;
        let entry = LogEntry {
            seq: inner.next_seq,
            at: now_millis(),
            stream: stream.map(str::to_string),
            level: match level {
                Level::Info => "info",
                Level::Warn => "warn",
                Level::Error => "error",
            }
            .to_string(),
            text,
        };
        inner.entries.push_back(entry);
        while inner.entries.len() > KEPT {
            inner.entries.pop_front();
        }
    }

    /// The kept entries, oldest first.
    pub(crate) fn entries(&self) -> Vec<LogEntry> {
        self.inner
            .lock()
            .map(|i| i.entries.iter().cloned().collect())
            .unwrap_or_default()
    }
}
