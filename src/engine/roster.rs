//! The streams' heavy details (FFmpeg's stderr tail, state history), read
//! when a UI asks for them instead of being copied into every snapshot.

use super::collector::Watched;
use super::snapshot::StreamDetails;
use tokio::sync::watch;

/// The current streams' shared statuses (the list the engine also hands
/// its collector); cheap to clone, one per engine handle.
#[derive(Clone)]
pub(crate) struct Roster(watch::Receiver<Watched>);

impl Roster {
    /// Reads the list the engine keeps up to date.
    pub(crate) fn new(streams: watch::Receiver<Watched>) -> Roster {
        Roster(streams)
    }

    /// One stream's details, copied out under its lock.
    pub(crate) fn details(&self, name: &str) -> Option<StreamDetails> {
        let list = self.0.borrow();
        list.iter().find_map(|status| {
            let s = status.lock().ok()?;
            (s.launch.spec.name == name).then(|| super::compose::stream_details(&s))
        })
    }
}
