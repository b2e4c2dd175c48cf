//! Parser for FFmpeg's `-progress` output: blocks of `key=value` lines, about
//! every half second, each closed by `progress=continue` (or `progress=end`).
//!
//! It is the heartbeat the stall watchdog listens to, so it must accept any
//! line without failing: unknown keys and `N/A` values are simply skipped.

use serde::{Deserialize, Serialize};

/// One complete progress block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Frames written so far.
    pub frame: Option<u64>,
    /// Output frames per second.
    pub fps: Option<f64>,
    /// Output bitrate, kbit/s.
    pub bitrate_kbps: Option<f64>,
    /// Bytes written so far.
    pub total_size: Option<u64>,
    /// Media time written so far, microseconds: the value the watchdog
    /// watches, because it stops advancing when the input stops.
    pub out_time_us: Option<i64>,
    /// Speed relative to real time (1.0 = real time).
    pub speed: Option<f64>,
    /// Frames dropped.
    pub drop_frames: Option<u64>,
    /// Frames duplicated.
    pub dup_frames: Option<u64>,
    /// True for the last block of a run (`progress=end`).
    pub end: bool,
}

/// Accumulates lines until a block is complete.
#[derive(Debug, Default)]
pub struct ProgressParser {
    current: Progress,
}

impl ProgressParser {
    /// A parser with nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line; returns the block when this line closed one.
    pub fn feed(&mut self, line: &str) -> Option<Progress> {
        let (key, value) = line.trim().split_once('=')?;
        let value = value.trim();
        let c = &mut self.current;
        match key.trim() {
            "frame" => c.frame = value.parse().ok(),
            "fps" => c.fps = value.parse().ok(),
            "bitrate" => c.bitrate_kbps = value.trim_end_matches("kbits/s").trim().parse().ok(),
            "total_size" => c.total_size = value.parse().ok(),
            "out_time_us" => c.out_time_us = value.parse().ok(),
            "out_time_ms" if c.out_time_us.is_none() => {
                // FFmpeg's `out_time_ms` is in microseconds too (a known misnomer).
                c.out_time_us = value.parse().ok();
            }
            "speed" => c.speed = value.trim_end_matches('x').trim().parse().ok(),
            "drop_frames" => c.drop_frames = value.parse().ok(),
            "dup_frames" => c.dup_frames = value.parse().ok(),
            "progress" => {
                let mut block = std::mem::take(&mut self.current);
                block.end = value == "end";
                return Some(block);
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = "frame=125\nfps=25.01\nstream_0_0_q=23.0\nbitrate= 812.3kbits/s\ntotal_size=512000\nout_time_us=5000000\nout_time_ms=5000000\nout_time=00:00:05.000000\ndup_frames=1\ndrop_frames=2\nspeed=1.01x\nprogress=continue\n";

    #[test]
    fn a_full_block_yields_every_field() {
        let mut parser = ProgressParser::new();
        let blocks: Vec<_> = BLOCK.lines().filter_map(|l| parser.feed(l)).collect();
        assert_eq!(
            blocks,
            vec![Progress {
                frame: Some(125),
                fps: Some(25.01),
                bitrate_kbps: Some(812.3),
                total_size: Some(512_000),
                out_time_us: Some(5_000_000),
                speed: Some(1.01),
                drop_frames: Some(2),
                dup_frames: Some(1),
                end: false,
            }]
        );
    }

    #[test]
    fn not_available_values_and_junk_lines_are_skipped() {
        let mut parser = ProgressParser::new();
        for line in [
            "bitrate=N/A",
            "speed=N/A",
            "out_time_us=N/A",
            "garbage",
            "",
            "==",
        ] {
            assert_eq!(parser.feed(line), None);
        }
        let block = parser.feed("progress=end").expect("block closes");
        assert!(block.end);
        assert_eq!(block.bitrate_kbps, None);
        assert_eq!(block.speed, None);
        assert_eq!(block.out_time_us, None);
    }

    #[test]
    fn blocks_do_not_leak_values_into_the_next() {
        let mut parser = ProgressParser::new();
        parser.feed("frame=10");
        assert!(parser.feed("progress=continue").is_some());
        let next = parser.feed("progress=continue").expect("second block");
        assert_eq!(next.frame, None);
    }
}
