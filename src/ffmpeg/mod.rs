//! Everything onair knows about FFmpeg's command line and its output.
//!
//! Pure functions only: the engine runs what these build, and the tests pin
//! them argument by argument.

mod argv;
pub mod errors;
pub mod hls;
pub mod probe;
mod progress;
pub mod slate;

pub use argv::{
    INGEST_TS_FD, IngestExtras, args, command, commands, display_command, ingest_command,
    output_command, playlist_path,
};
pub use hls::{last_segment_kbps, prepare_dir};
pub use progress::{Progress, ProgressParser};
