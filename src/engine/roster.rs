//! The streams' heavy details (FFmpeg's stderr tail, state history), read
//! when a UI asks for them instead of being copied into every snapshot.

use super::snapshot::StreamDetails;
use super::stream::StreamStatus;
use std::sync::{Arc, Mutex, RwLock};

/// The current streams' shared statuses, refreshed by the engine at every
/// snapshot; cheap to clone, one per engine handle.
#[derive(Clone, Default)]
pub(crate) struct Roster(Arc<RwLock<Vec<Arc<Mutex<StreamStatus>>>>>);

impl Roster {
    /// Takes the current list of streams.
    pub(crate) fn replace(&self, statuses: impl Iterator<Item = Arc<Mutex<StreamStatus>>>) {
        let mut list = self.0.write().unwrap_or_else(|p| p.into_inner());
        list.clear();
        list.extend(statuses);
    }

    /// One stream's details, copied out under its lock.
    pub(crate) fn details(&self, name: &str) -> Option<StreamDetails> {
        let list = self.0.read().unwrap_or_else(|p| p.into_inner());
        list.iter().find_map(|status| {
            let s = status.lock().ok()?;
            (s.launch.spec.name == name).then(|| StreamDetails {
                name: name.to_string(),
                seq: s.details_seq,
                stderr: s.stderr.iter().cloned().collect(),
                history: s.history.iter().cloned().collect(),
            })
        })
    }
}
