//! The relay between a stream's feeds and its outputs.
//!
//! A stream's ingest FFmpeg writes MPEG-TS; so does its slate FFmpeg when
//! the source is down. The relay reads both and hands the outputs one
//! continuous transport stream: the live feed while it delivers, the slate
//! while it does not, switched on keyframes with timestamps and continuity
//! counters carried on across every switch, so the outputs (HLS, RTMP, SRT
//! FFmpegs) never see their input end or jump.
//!
//! [`packet`] and [`psi`] read and rewrite transport stream fields,
//! [`splice`] is the pure switching core, [`policy`] decides when the slate
//! is wanted, [`clip`] plays the encoded slate in real time, and [`pump`] is
//! the task that does the reading and writing.

pub mod clip;
mod outputs;
pub mod packet;
pub mod policy;
pub mod psi;
pub mod pump;
pub mod splice;

pub use clip::{Clip, ClipError};
pub use pump::{Relay, RelayCommand, RelayCounters, RelayEvent};
pub use splice::{Feed, Splicer};
