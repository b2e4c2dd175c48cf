//! Everything onair knows about FFmpeg's command line and its output.
//!
//! Pure functions only: the engine runs what these build, and the tests pin
//! them argument by argument.

pub mod analysis;
mod argv;
pub mod codecs;
pub mod errors;
pub mod hls;
pub mod keyframes;
mod layout;
pub mod probe;
mod progress;
pub mod slate;
pub mod source_info;

pub use argv::{
    PROGRESS_CHANNEL, args, args_with, audio_args, command, command_with, display_command,
    handling, playlist_path, video_args,
};
pub use codecs::{AudioChoice, Handling, VideoChoice, decide};
pub use hls::{last_segment_kbps, prepare_dir};
pub use layout::{
    INGEST_TS_FD, IngestExtras, commands, ingest_command, ingest_command_with, ingest_extras,
    ingest_spec, output_command,
};
pub use progress::{Progress, ProgressParser};
pub use source_info::{SourceInfo, SourceInfoParser};
