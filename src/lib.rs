//! onair: one operator, one terminal, every live stream of a venue.
//!
//! The library holds every part so that the tests drive exactly what the
//! binary runs; `main.rs` only parses the command line and wires the parts.

pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod engine;
pub mod ffmpeg;
pub mod headless;
pub mod logging;
pub mod relay;
pub mod reload;
pub mod secrets;
pub mod server;
pub mod signals;
pub mod tui;
