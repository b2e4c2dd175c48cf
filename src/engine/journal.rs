//! The engine's event log: what happened to which stream, newest last.
//!
//! Every entry goes to the tracing log file too. The in-memory tail is read
//! through `Engine::log_since`: a UI takes the entries it has not seen yet,
//! and snapshots carry only the newest entry's number.

use super::snapshot::{LogEntry, now_millis};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How many entries are kept in memory.
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

    /// The kept entries newer than `seq`, oldest first (all of them for 0).
    pub(crate) fn since(&self, seq: u64) -> Vec<LogEntry> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        let newer = inner.entries.partition_point(|entry| entry.seq <= seq);
        inner.entries.range(newer..).cloned().collect()
    }

    /// The sequence number of the newest entry (0 before the first).
    pub(crate) fn last_seq(&self) -> u64 {
        self.inner.lock().map(|i| i.next_seq).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_gets_only_the_entries_it_has_not_seen() {
        let journal = Journal::default();
        assert_eq!(journal.last_seq(), 0);
        assert!(journal.since(0).is_empty());
        for n in 1..=3 {
            journal.record(Level::Info, None, format!("entry {n}"));
        }
        assert_eq!(journal.since(0).len(), 3);
        let newer: Vec<u64> = journal.since(1).iter().map(|e| e.seq).collect();
        assert_eq!(newer, vec![2, 3]);
        assert!(journal.since(3).is_empty());
        assert_eq!(journal.last_seq(), 3);
    }

    #[test]
    fn only_the_newest_entries_are_kept() {
        let journal = Journal::default();
        for n in 0..KEPT + 10 {
            journal.record(Level::Info, Some("cam1"), format!("entry {n}"));
        }
        let kept = journal.since(0);
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].seq, 11);
    }
}
