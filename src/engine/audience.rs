//! What the audience gets, as the engine reports it in every snapshot:
//! audio levels, content alarms and the thumbnail of the picture.

use super::snapshot::UnixMillis;
pub use crate::ffmpeg::analysis::{ChannelLevel, SILENCE_FLOOR_DBFS};
use serde::{Deserialize, Serialize};

/// What the audience hears, measured over the latest short window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioLevels {
    /// Peak and RMS level of each channel, in channel order.
    pub channels: Vec<ChannelLevel>,
    /// When they were measured.
    pub at: UnixMillis,
}

impl AudioLevels {
    /// The loudest channel's peak: what a single meter shows.
    pub fn peak_dbfs(&self) -> f32 {
        self.channels
            .iter()
            .map(|c| c.peak_dbfs)
            .fold(SILENCE_FLOOR_DBFS, f32::max)
    }
}

/// A content problem an operator must see (it never restarts anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// The audio is below the silence level, or there is none.
    Silent,
    /// The picture is black.
    Black,
    /// The picture does not change.
    Frozen,
}

impl AlarmKind {
    /// Every kind, in the order flags are shown.
    pub const ALL: [AlarmKind; 3] = [AlarmKind::Silent, AlarmKind::Black, AlarmKind::Frozen];

    /// The lowercase word used in the API, metrics and `ONAIR_EVENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::Silent => "silent",
            AlarmKind::Black => "black",
            AlarmKind::Frozen => "frozen",
        }
    }
}

impl std::fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One raised alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    /// Which problem.
    pub kind: AlarmKind,
    /// When the problem began (the alarm is raised once it has lasted the
    /// stream's threshold).
    pub since: UnixMillis,
    /// What is wrong, in the operator's words.
    pub detail: String,
}

/// Where the stream's latest thumbnail is and how fresh it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Thumbnail {
    /// The JPEG file (on the engine's machine, readable by its user).
    pub path: String,
    /// When FFmpeg last wrote it.
    pub updated_at: UnixMillis,
}
