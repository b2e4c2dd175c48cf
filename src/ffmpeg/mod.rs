//! Everything onair knows about FFmpeg's command line and its output.
//!
//! Pure functions only: the engine runs what these build, and the tests pin
//! them argument by argument.

mod argv;
pub mod errors;
pub mod hls;
mod layout;
pub mod probe;
mod progress;
pub mod slate;

pub use argv::{args, command, display_command, playlist_path};
pub use hls::{last_segment_kbps, prepare_dir};
pub use layout::{INGEST_TS_FD, IngestExtras, commands, ingest_command, output_command};
pub use progress::{Progress, ProgressParser};
