//! The engine: owns every stream's FFmpeg, keeps it alive, and publishes
//! snapshots. UIs send [`Command`]s in and read [`Snapshot`]s out.

mod snapshot;

pub use snapshot::*;

use crate::config::Profile;
use serde::{Deserialize, Serialize};

/// An operator's intent. Every UI (console, headless, HTTP, a remote
/// console) speaks only in these, so they all behave the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Enable a stream and start it (written back to `streams.toml`).
    Start {
        /// Stream name.
        stream: String,
    },
    /// Stop a stream and disable it (written back to `streams.toml`).
    Stop {
        /// Stream name.
        stream: String,
    },
    /// Restart a stream's FFmpeg now (also gets a failed stream going again).
    Restart {
        /// Stream name.
        stream: String,
    },
    /// Switch a stream's profile; restarts that stream only (written back).
    SetProfile {
        /// Stream name.
        stream: String,
        /// The new profile.
        profile: Profile,
    },
    /// Re-read `streams.toml` now and apply what changed.
    Reload,
    /// Stop every FFmpeg gracefully and end the engine.
    Shutdown,
}
