//! Everything onair knows about FFmpeg's command line and its output.
//!
//! Pure functions only: the engine runs what these build, and the tests pin
//! them argument by argument.

mod argv;
mod progress;

pub use argv::{args, command, display_command, playlist_path};
pub use progress::{Progress, ProgressParser};
