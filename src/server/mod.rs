//! The HTTP server that feeds the venue's screens: HLS files, the player
//! pages, the status API, live events and metrics.

use serde::{Deserialize, Serialize};

/// What the HTTP server reports about itself (shown in the console header).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerStats {
    /// The address actually bound (after a move, the new one).
    pub listen: String,
    /// Screens with an open `/events` connection right now.
    pub screens_connected: usize,
    /// HTTP requests served since start.
    pub requests: u64,
    /// Bytes of response bodies served since start.
    pub bytes: u64,
    /// The last error of the server itself (a port in use after a move).
    pub error: Option<String>,
}
