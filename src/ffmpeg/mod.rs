//! Everything onair knows about FFmpeg's command line and its output.
//!
//! Pure functions only: the engine runs what these build, and the tests pin
//! them argument by argument.

pub mod analysis;
mod argv;
pub mod errors;
pub mod hls;
mod progress;

pub use argv::{PROGRESS_CHANNEL, args, command, display_command, playlist_path};
pub use hls::{last_segment_kbps, prepare_dir};
pub use progress::{Progress, ProgressParser};
