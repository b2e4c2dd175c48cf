//! Reading what the analysis filters print: `frame:… pts_time:T` headers
//! and `lavfi.*=value` lines (from `metadata`/`ametadata` in print mode),
//! mixed in with `-progress` blocks on the same channel.
//!
//! Like the progress parser, it accepts any line without failing: what it
//! does not know it skips. Each line is read on its own, so lines of the
//! audio and the video filters may come in any order.

use serde::{Deserialize, Serialize};

/// The level reported for digital silence (`astats` says `-inf`), so that
/// every level is a plain number in JSON and metrics.
pub const SILENCE_FLOOR_DBFS: f32 = -120.0;

/// The levels of one audio channel over one measured window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChannelLevel {
    /// Highest sample, dBFS (0 is full scale).
    pub peak_dbfs: f32,
    /// Root mean square, dBFS (a full-scale sine reads -3).
    pub rms_dbfs: f32,
}

/// One thing the analysis found.
#[derive(Debug, Clone, PartialEq)]
pub enum Measurement {
    /// A window of audio levels, one entry per channel.
    Levels(Vec<ChannelLevel>),
    /// The picture turned black (`true`), or is not black any more.
    Black(bool),
    /// The picture has been frozen for this many seconds (`Some`), or
    /// moves again (`None`).
    Frozen(Option<f64>),
}

/// Turns lines into [`Measurement`]s.
#[derive(Debug, Default)]
pub struct AnalysisParser {
    /// The media time of the latest frame header.
    media_time: Option<f64>,
    /// The audio window being read: (peak, RMS) per channel, 1-based in FFmpeg.
    window: Vec<(Option<f32>, Option<f32>)>,
}

const ASTATS: &str = "lavfi.astats.";

impl AnalysisParser {
    /// A parser with nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line; returns what it completed, if anything.
    pub fn feed(&mut self, line: &str) -> Option<Measurement> {
        let line = line.trim();
        if let Some(header) = line.strip_prefix("frame:") {
            self.media_time = header
                .split_whitespace()
                .find_map(|part| part.strip_prefix("pts_time:"))
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|t| t.is_finite());
            return None;
        }
        let (key, value) = line.split_once('=')?;
        if let Some(stat) = key.strip_prefix(ASTATS) {
            return self.audio(stat, value);
        }
        match key {
            "lavfi.black_start" => Some(Measurement::Black(true)),
            "lavfi.black_end" => Some(Measurement::Black(false)),
            "lavfi.freezedetect.freeze_start" => {
                let start = value.trim().parse::<f64>().ok()?;
                let frozen_for = self.media_time.map_or(0.0, |now| (now - start).max(0.0));
                Some(Measurement::Frozen(Some(frozen_for)))
            }
            "lavfi.freezedetect.freeze_end" => Some(Measurement::Frozen(None)),
            _ => None,
        }
    }

    /// `1.Peak_level=-20.1`, `2.RMS_level=-23.0`, … and, closing the window,
    /// `Overall.Peak_level=…`.
    fn audio(&mut self, stat: &str, value: &str) -> Option<Measurement> {
        let (channel, measure) = stat.split_once('.')?;
        if channel == "Overall" {
            let window = std::mem::take(&mut self.window);
            let levels: Vec<ChannelLevel> = window
                .into_iter()
                .map_while(|(peak, rms)| {
                    Some(ChannelLevel {
                        peak_dbfs: peak?,
                        rms_dbfs: rms?,
                    })
                })
                .collect();
            return (!levels.is_empty()).then_some(Measurement::Levels(levels));
        }
        let index = channel.parse::<usize>().ok()?.checked_sub(1)?;
        if index >= 64 {
            return None;
        }
        if self.window.len() <= index {
            self.window.resize(index + 1, (None, None));
        }
        let level = dbfs(value)?;
        match measure {
            "Peak_level" => self.window[index].0 = Some(level),
            "RMS_level" => self.window[index].1 = Some(level),
            _ => {}
        }
        None
    }
}

/// A level as FFmpeg prints it (`-20.000000`, `-inf`), as a finite number.
fn dbfs(value: &str) -> Option<f32> {
    let level = value.trim().parse::<f32>().ok()?;
    Some(if level.is_nan() {
        SILENCE_FLOOR_DBFS
    } else {
        level.clamp(SILENCE_FLOOR_DBFS, 60.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffmpeg::ProgressParser;

    fn measurements(text: &str) -> Vec<Measurement> {
        let mut parser = AnalysisParser::new();
        text.lines().filter_map(|l| parser.feed(l)).collect()
    }

    fn levels(found: &[Measurement]) -> Vec<&Vec<ChannelLevel>> {
        found
            .iter()
            .filter_map(|m| match m {
                Measurement::Levels(l) => Some(l),
                _ => None,
            })
            .collect()
    }

    /// Captured from FFmpeg 5.1: `testsrc2` encoded to H.264 with a stereo
    /// 1 kHz sine of amplitude 0.1 (-20 dBFS), black from 2 s to 5 s, analysis and
    /// `-progress` both on stdout.
    const ENCODED: &str = include_str!("testdata/encoded-sine-black.txt");
    /// Captured from FFmpeg 5.1: a still picture with a tone, copied
    /// (key frames every 2 s decoded), looped.
    const COPIED_STILL: &str = include_str!("testdata/copied-still.txt");
    /// Captured from FFmpeg 5.1: `anullsrc` (digital silence), stereo.
    const SILENCE: &str = include_str!("testdata/anullsrc.txt");

    #[test]
    fn a_sine_at_minus_20_reads_minus_20_peak_and_minus_23_rms() {
        let found = measurements(ENCODED);
        let windows = levels(&found);
        assert!(windows.len() > 30, "{} windows", windows.len());
        // The first window starts with the filter's ramp-in; judge the rest.
        for window in &windows[1..] {
            assert_eq!(window.len(), 2, "stereo");
            for channel in window.iter() {
                assert!((channel.peak_dbfs + 20.0).abs() < 0.5, "{channel:?}");
                assert!((channel.rms_dbfs + 23.0).abs() < 0.5, "{channel:?}");
            }
        }
    }

    #[test]
    fn black_starts_and_ends_where_the_picture_turned_black_and_back() {
        let found = measurements(ENCODED);
        let black: Vec<bool> = found
            .iter()
            .filter_map(|m| match m {
                Measurement::Black(b) => Some(*b),
                _ => None,
            })
            .collect();
        assert_eq!(black, vec![true, false]);
    }

    #[test]
    fn a_moving_picture_never_reads_as_frozen_for_long() {
        // testsrc2 moves: freezedetect reports nothing, or a start and an
        // end on the same frame (the end follows at once).
        let found = measurements(ENCODED);
        let mut frozen = false;
        for m in &found {
            match m {
                Measurement::Frozen(Some(_)) => frozen = true,
                Measurement::Frozen(None) => frozen = false,
                _ => {}
            }
        }
        assert!(!frozen, "still frozen at the end: {found:?}");
    }

    #[test]
    fn a_copied_still_picture_is_frozen_from_its_first_key_frame() {
        let found = measurements(COPIED_STILL);
        let first = found
            .iter()
            .find_map(|m| match m {
                Measurement::Frozen(Some(secs)) => Some(*secs),
                _ => None,
            })
            .expect("a freeze");
        // Key frames every 2 s: the freeze is seen at the second one.
        assert!((1.5..=2.5).contains(&first), "{first}");
        assert!(
            !found.contains(&Measurement::Frozen(None)),
            "the still never moves"
        );
        assert!(!levels(&found).is_empty(), "the tone is measured too");
    }

    #[test]
    fn digital_silence_reads_as_the_floor() {
        let found = measurements(SILENCE);
        let windows = levels(&found);
        assert!(!windows.is_empty());
        for window in windows {
            for channel in window {
                assert_eq!(channel.peak_dbfs, SILENCE_FLOOR_DBFS);
                assert_eq!(channel.rms_dbfs, SILENCE_FLOOR_DBFS);
            }
        }
    }

    #[test]
    fn progress_blocks_on_the_same_channel_are_still_read_by_the_progress_parser() {
        let mut progress = ProgressParser::new();
        let blocks = ENCODED.lines().filter_map(|l| progress.feed(l)).count();
        assert!(blocks >= 5, "{blocks} progress blocks");
        // And the analysis parser takes nothing from a progress block.
        let block = "frame=125\nfps=25.0\nbitrate= 812.3kbits/s\nout_time_us=5000000\nspeed=1.01x\nprogress=continue\n";
        assert!(measurements(block).is_empty());
    }

    #[test]
    fn junk_and_half_windows_are_skipped() {
        let text = "garbage\n=\nlavfi.astats.=1\nlavfi.astats.0.Peak_level=1\n\
                    lavfi.astats.x.Peak_level=1\nlavfi.astats.1.Peak_level=abc\n\
                    lavfi.freezedetect.freeze_start=N/A\nframe:\nlavfi.astats.Overall.Peak_level=-3\n";
        assert!(measurements(text).is_empty());
        // A window missing a channel's RMS stops at that channel.
        let text = "lavfi.astats.1.Peak_level=-6\nlavfi.astats.1.RMS_level=-9\n\
                    lavfi.astats.2.Peak_level=-6\nlavfi.astats.Overall.Peak_level=-6\n";
        assert_eq!(
            measurements(text),
            vec![Measurement::Levels(vec![ChannelLevel {
                peak_dbfs: -6.0,
                rms_dbfs: -9.0
            }])]
        );
    }

    #[test]
    fn a_freeze_is_dated_by_the_latest_frame_header() {
        let text = "frame:7    pts:350    pts_time:14\nlavfi.freezedetect.freeze_start=9.5\n";
        assert_eq!(measurements(text), vec![Measurement::Frozen(Some(4.5))]);
    }
}
