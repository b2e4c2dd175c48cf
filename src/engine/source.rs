//! What a stream knows about its source, kept across runs of its FFmpeg,
//! and the `auto` decision that follows from it.
//!
//! Each run of the FFmpeg that reads the source describes it (its `Input #0`
//! summary) and, while the video is copied to HLS, shows the camera's
//! keyframes in the segments it writes. What is learned is remembered until
//! the source changes (another input in `streams.toml`, or a camera that
//! now sends something else), so a restart starts straight away with the
//! right handling. A run whose handling no longer fits what was learned is
//! restarted once with the new handling.

use crate::config::{Config, Input, StreamSpec};
use crate::ffmpeg::keyframes::{IntervalMeter, KeyframeScanner};
use crate::ffmpeg::{self, Handling, SourceInfo, SourceInfoParser, VideoChoice};
use std::path::{Path, PathBuf};

/// A keyframe interval that moves by less than this is the same one.
const INTERVAL_TOLERANCE: f64 = 0.25;
/// Segment files read per check, at most (a check runs about once a second).
const SEGMENTS_PER_CHECK: usize = 4;

/// What a new piece of knowledge means for the running FFmpeg.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Learned {
    /// The source as now known.
    pub source: SourceInfo,
    /// True when the source is new or differs from what was known before
    /// (worth a line in the stream's history).
    pub changed: bool,
    /// The handling that fits it.
    pub handling: Handling,
    /// True when the running FFmpeg does something else: restart it.
    pub restart: bool,
}

/// One stream's knowledge of its source.
#[derive(Debug, Default)]
pub(crate) struct SourceKnowledge {
    input: Option<Input>,
    known: Option<SourceInfo>,
    running: Option<Handling>,
    parser: SourceInfoParser,
    segments: Option<SegmentKeyframes>,
}

impl SourceKnowledge {
    /// What is known, if anything.
    #[cfg(test)]
    pub(crate) fn known(&self) -> Option<&SourceInfo> {
        self.known.as_ref()
    }

    /// Starts a run of FFmpeg for `spec`: forgets the source if the input
    /// changed, and returns the handling the run should use.
    pub(crate) fn begin_run(
        &mut self,
        config: &Config,
        spec: &StreamSpec,
        hls_dir: Option<&Path>,
    ) -> Handling {
        if self.input.as_ref() != Some(&spec.input) {
            self.input = Some(spec.input.clone());
            self.known = None;
        }
        self.parser = SourceInfoParser::new();
        let handling = ffmpeg::handling(config, spec, self.known.as_ref());
        // The camera's keyframes show in the output only when its video is copied.
        self.segments = (handling.video == VideoChoice::Copy)
            .then_some(hls_dir)
            .flatten()
            .map(SegmentKeyframes::new);
        self.running = Some(handling.clone());
        handling
    }

    /// Feeds one (masked) stderr line of the running FFmpeg.
    pub(crate) fn stderr_line(
        &mut self,
        config: &Config,
        spec: &StreamSpec,
        line: &str,
    ) -> Option<Learned> {
        let info = self.parser.feed(line)?;
        Some(self.learn(config, spec, info))
    }

    /// The run ended: a summary cut short by the exit still counts.
    pub(crate) fn end_run(&mut self, config: &Config, spec: &StreamSpec) -> Option<Learned> {
        let info = self.parser.finish()?;
        Some(self.learn(config, spec, info))
    }

    /// Reads the keyframes of new HLS segments (about once a second while
    /// the video is copied); returns what changed when the measured
    /// interval is new or has moved.
    pub(crate) fn check_keyframes(
        &mut self,
        config: &Config,
        spec: &StreamSpec,
    ) -> Option<Learned> {
        let interval = self.segments.as_mut()?.read_new()?;
        let known = self.known.as_mut()?;
        let moved = known
            .keyframe_interval
            .is_none_or(|k| (k - interval).abs() > INTERVAL_TOLERANCE);
        if !moved {
            return None;
        }
        known.keyframe_interval = Some(interval);
        let source = known.clone();
        Some(self.judge(config, spec, source, true))
    }

    fn learn(&mut self, config: &Config, spec: &StreamSpec, mut info: SourceInfo) -> Learned {
        let changed = match &self.known {
            Some(known) if known.same_streams(&info) => {
                info.keyframe_interval = known.keyframe_interval;
                false
            }
            _ => true,
        };
        self.known = Some(info.clone());
        self.judge(config, spec, info, changed)
    }

    fn judge(
        &mut self,
        config: &Config,
        spec: &StreamSpec,
        source: SourceInfo,
        changed: bool,
    ) -> Learned {
        let handling = ffmpeg::handling(config, spec, Some(&source));
        let restart = self.running.as_ref().is_some_and(|running| {
            running.video != handling.video || running.audio != handling.audio
        });
        if !restart {
            self.running = Some(handling.clone());
        }
        Learned {
            source,
            changed,
            handling,
            restart,
        }
    }
}

/// Reads the keyframes of the segments an HLS output writes, newest
/// segments only, and measures their interval.
#[derive(Debug)]
struct SegmentKeyframes {
    dir: PathBuf,
    next: Option<u64>,
    scanner: KeyframeScanner,
    meter: IntervalMeter,
}

impl SegmentKeyframes {
    fn new(dir: &Path) -> Self {
        SegmentKeyframes {
            dir: dir.to_path_buf(),
            next: None,
            scanner: KeyframeScanner::new(),
            meter: IntervalMeter::new(),
        }
    }

    /// Reads the segments written since the last call; the interval once
    /// measured.
    fn read_new(&mut self) -> Option<f64> {
        let mut numbers: Vec<u64> = std::fs::read_dir(&self.dir)
            .ok()?
            .flatten()
            .filter_map(|e| segment_number(&e.file_name().to_string_lossy()))
            .filter(|n| self.next.is_none_or(|next| *n >= next))
            .collect();
        numbers.sort_unstable();
        // The newest segment is complete (the muxer writes a temp file and
        // renames it), but reading from the oldest unread one keeps order.
        for n in numbers.into_iter().take(SEGMENTS_PER_CHECK) {
            if let Ok(bytes) = std::fs::read(self.dir.join(format!("seg-{n}.ts"))) {
                // Each segment starts with its own PAT and PMT.
                self.scanner = KeyframeScanner::new();
                for pts in self.scanner.feed(&bytes) {
                    self.meter.keyframe(pts);
                }
            }
            self.next = Some(n + 1);
        }
        self.meter.interval()
    }
}

/// `seg-1732900000.ts` → 1732900000.
fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?.strip_suffix(".ts")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    fn config(video: &str, profile: &str) -> Config {
        let text = format!(
            "[[stream]]\nname = \"cam\"\ninput = \"rtsp://127.0.0.1:8554/cam\"\nvideo = \"{video}\"\nprofile = \"{profile}\"\n"
        );
        load_str(&text, Path::new("/tmp/streams.toml"), &|_| None).expect("valid")
    }

    const HEVC: &str =
        "[info]   Stream #0:0: Video: hevc (Main), yuv420p(tv), 640x360, 25 fps, 25 tbr, 90k tbn";
    const H264: &str =
        "[info]   Stream #0:0: Video: h264 (High), yuv420p(tv), 640x360, 25 fps, 25 tbr, 90k tbn";

    fn open(k: &mut SourceKnowledge, c: &Config, video_line: &str) -> Option<Learned> {
        let spec = &c.streams[0];
        k.stderr_line(
            c,
            spec,
            "[info] Input #0, rtsp, from 'rtsp://127.0.0.1:8554/cam':",
        );
        k.stderr_line(c, spec, video_line);
        k.stderr_line(
            c,
            spec,
            "[info]   Stream #0:1: Audio: aac (LC), 48000 Hz, stereo, fltp",
        );
        k.stderr_line(c, spec, "[info] Stream mapping:")
    }

    #[test]
    fn an_h265_camera_is_copied_first_then_restarted_once_with_encoding() {
        let c = config("auto", "stable");
        let spec = &c.streams[0];
        let mut k = SourceKnowledge::default();
        let first = k.begin_run(&c, spec, None);
        assert_eq!(first.video, VideoChoice::Copy);
        assert_eq!(first.label, "auto");
        let learned = open(&mut k, &c, HEVC).expect("learned");
        assert!(learned.changed);
        assert!(learned.restart);
        assert_eq!(learned.handling.label, "h264 from hevc");
        // The next run starts with encoding: nothing more to restart for.
        let second = k.begin_run(&c, spec, None);
        assert_eq!(second.video, VideoChoice::H264);
        let again = open(&mut k, &c, HEVC).expect("learned");
        assert!(!again.changed && !again.restart);
    }

    #[test]
    fn a_camera_switched_to_h264_goes_back_to_copy_and_another_input_forgets() {
        let c = config("auto", "stable");
        let spec = &c.streams[0];
        let mut k = SourceKnowledge::default();
        k.begin_run(&c, spec, None);
        open(&mut k, &c, HEVC);
        k.begin_run(&c, spec, None);
        let learned = open(&mut k, &c, H264).expect("learned");
        assert!(learned.changed && learned.restart);
        assert_eq!(learned.handling.video, VideoChoice::Copy);

        let mut other = c.clone();
        other.streams[0].input = Input::Network {
            scheme: "rtsp".into(),
            url: "rtsp://127.0.0.1:8554/other".into(),
        };
        k.begin_run(&other, &other.streams[0], None);
        assert_eq!(k.known(), None, "another camera is not known");
    }

    #[test]
    fn explicit_copy_of_h265_warns_and_never_restarts() {
        let c = config("copy", "stable");
        let spec = &c.streams[0];
        let mut k = SourceKnowledge::default();
        k.begin_run(&c, spec, None);
        let learned = open(&mut k, &c, HEVC).expect("learned");
        assert!(!learned.restart);
        assert_eq!(
            learned.handling.warnings,
            vec!["screens cannot play H.265: use video = \"auto\" or \"h264\"".to_string()]
        );
    }

    #[test]
    fn segment_names_are_numbers() {
        assert_eq!(segment_number("seg-1732900000.ts"), Some(1732900000));
        assert_eq!(segment_number("seg-1.ts.tmp"), None);
        assert_eq!(segment_number("index.m3u8"), None);
    }
}
