//! What the audience gets, measured inside the stream's own FFmpeg: audio
//! levels (`astats`), black and frozen picture (`blackdetect`,
//! `freezedetect`) and a small JPEG thumbnail.
//!
//! The analysis is two extra outputs of the FFmpeg that reads the source,
//! placed after its main output (which stays output #0, so `-progress`
//! keeps reporting the main output's frames and size): a `null` output that
//! runs the measuring filters, and an `image2` output that keeps one JPEG up
//! to date. When the video is copied, the decoder is told to decode key
//! frames only, so a copy-mode stream never decodes every frame just to be
//! watched.
//!
//! The filters print what they find as `key=value` lines on the same
//! channel as `-progress` (see [`AnalysisParser`]); neither parser is
//! confused by the other's lines.

mod parse;

pub use parse::{AnalysisParser, ChannelLevel, Measurement, SILENCE_FLOOR_DBFS};

use std::path::Path;

/// Seconds between two pictures measured for black and freeze (when every
/// frame is decoded; with key frames only, every key frame further apart).
pub const VIDEO_EVERY_SECS: f64 = 0.5;
/// Seconds between two thumbnails (at most; a copied video refreshes it at
/// each key frame when they are further apart).
pub const THUMBNAIL_EVERY_SECS: f64 = 2.0;
/// Audio samples per measured window: 0.2 s at 48 kHz (0.22 s at 44.1 kHz),
/// so levels come about five times a second, more often than anything shows
/// them (snapshots and the console: four times a second).
pub const AUDIO_WINDOW_SAMPLES: u32 = 9600;
/// The sample rates measured as they are; any other is resampled first, so
/// that a window is never longer than at 44.1 kHz (an 8 kHz camera would
/// otherwise get a level every 1.2 s).
const AUDIO_RATES: &str = "48000|44100";
/// The thumbnail's largest size; the source's aspect ratio is kept.
pub const THUMBNAIL_SIZE: (u32, u32) = (320, 180);
/// The size pictures are scaled to before black and freeze detection.
const MEASURE_SIZE: (u32, u32) = (320, 180);
/// `freezedetect` reports a freeze once the picture has not changed for
/// this long; onair's own `frozen_after` counts from the freeze's start.
const FREEZE_MIN_SECS: f64 = 1.0;

/// The analysis of one stream's FFmpeg.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Analysis<'a> {
    /// Where the measurements are printed: the `-progress` channel of the
    /// same FFmpeg, as FFmpeg names it (`pipe:1`).
    pub channel: &'a str,
    /// The JPEG kept up to date (written atomically: a reader never sees
    /// half a picture).
    pub thumbnail: &'a Path,
    /// The video is copied, not encoded: decode key frames only.
    pub key_frames_only: bool,
    /// Measure the audio (false for `audio = "none"`).
    pub audio: bool,
}

impl Analysis<'_> {
    /// Options for the input, to stand before its `-i`.
    pub fn input_args(&self) -> Vec<String> {
        if self.key_frames_only {
            // Only the decoder skips frames; `-c copy` outputs still get every
            // packet. One key frame every second or two needs no decoding
            // threads (each costs a handoff per packet, and memory).
            vec![
                "-skip_frame:v".into(),
                "nokey".into(),
                "-threads:v".into(),
                "1".into(),
            ]
        } else {
            Vec::new()
        }
    }

    /// The two extra outputs, to follow the main output's URL.
    pub fn output_args(&self) -> Vec<String> {
        let print = format!(
            "file='{}':direct=1",
            self.channel.replace('\\', "\\\\").replace(':', "\\:")
        );
        let (mw, mh) = MEASURE_SIZE;
        let video = format!(
            "{},scale=w={mw}:h={mh}:force_original_aspect_ratio=decrease,\
             blackdetect=d=0:pic_th=0.98:pix_th=0.10,freezedetect=n=0.001:d={FREEZE_MIN_SECS},\
             metadata=mode=print:{print}",
            every(VIDEO_EVERY_SECS)
        );
        let mut a: Vec<String> = vec!["-map".into(), "0:v:0".into()];
        if self.audio {
            a.extend(["-map".into(), "0:a:0?".into()]);
        }
        a.extend(["-filter:v".into(), video]);
        if self.audio {
            a.extend([
                "-filter:a".into(),
                format!(
                    "aformat=sample_rates={AUDIO_RATES},asetnsamples=n={AUDIO_WINDOW_SAMPLES}:p=0,\
                     astats=metadata=1:reset=1:measure_perchannel=Peak_level+RMS_level:measure_overall=Peak_level,\
                     ametadata=mode=print:{print}"
                ),
            ]);
        }
        a.extend(["-f".into(), "null".into(), "-".into()]);

        let (tw, th) = THUMBNAIL_SIZE;
        a.extend([
            "-map".into(),
            "0:v:0".into(),
            "-filter:v".into(),
            // The picture's own timestamps mean nothing to a file rewritten
            // in place, and the encoder refuses any that go backwards (a
            // source's clock may jump back, e.g. an RTSP camera's at its
            // first RTCP report): one second per picture always goes
            // forwards. Full range before the JPEG encoder, so black stays
            // black and FFmpeg has no deprecated pixel format to warn about.
            format!(
                "{},setpts=N/TB,scale=w={tw}:h={th}:force_original_aspect_ratio=decrease:out_range=full,format=yuv420p",
                every(THUMBNAIL_EVERY_SECS)
            ),
            // image2 is a constant-frame-rate muxer: without passthrough FFmpeg
            // would repeat the picture to the source's frame rate and encode
            // every copy (25 JPEGs a second instead of one every 2 s).
            "-fps_mode".into(),
            "passthrough".into(),
            "-c:v".into(),
            "mjpeg".into(),
            "-q:v".into(),
            "5".into(),
            "-strict".into(),
            "-1".into(),
            "-f".into(),
            "image2".into(),
            "-update".into(),
            "1".into(),
            "-atomic_writing".into(),
            "1".into(),
            self.thumbnail.display().to_string(),
        ]);
        a
    }
}

/// A `select` that passes at most one frame every `secs` seconds, never a
/// duplicate (a sparse input stays sparse), and carries on after the
/// source's timestamps jump backwards.
fn every(secs: f64) -> String {
    format!("select='isnan(prev_selected_t)+gte(abs(t-prev_selected_t)\\,{secs})'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn analysis(key_frames_only: bool, audio: bool, thumbnail: &Path) -> Analysis<'_> {
        Analysis {
            channel: "pipe:1",
            thumbnail,
            key_frames_only,
            audio,
        }
    }

    #[test]
    fn every_variant_is_pinned() {
        let thumb = PathBuf::from("/srv/hls/.thumbs/cam.jpg");
        let mut all = String::new();
        for key in [true, false] {
            for audio in [true, false] {
                let a = analysis(key, audio, &thumb);
                all.push_str(&format!(
                    "## key_frames_only={key} audio={audio}\ninput: {}\noutputs: {}\n\n",
                    a.input_args().join(" "),
                    a.output_args().join(" ")
                ));
            }
        }
        insta::assert_snapshot!(all);
    }

    #[test]
    fn only_a_copied_video_skips_frames() {
        let thumb = PathBuf::from("t.jpg");
        assert_eq!(
            analysis(true, true, &thumb).input_args(),
            ["-skip_frame:v", "nokey", "-threads:v", "1"]
        );
        assert!(analysis(false, true, &thumb).input_args().is_empty());
    }

    #[test]
    fn no_audio_means_no_audio_filter_and_no_audio_map() {
        let thumb = PathBuf::from("t.jpg");
        let args = analysis(false, false, &thumb).output_args();
        assert!(!args.iter().any(|a| a.contains("astats")));
        assert!(!args.iter().any(|a| a.starts_with("0:a")));
    }

    #[test]
    fn the_thumbnail_comes_last_and_the_channel_is_escaped() {
        let thumb = PathBuf::from("/tmp/x/t.jpg");
        let a = Analysis {
            channel: "pipe:3",
            ..analysis(true, true, &thumb)
        };
        let args = a.output_args();
        assert_eq!(args.last().map(String::as_str), Some("/tmp/x/t.jpg"));
        assert!(
            args.iter()
                .filter(|a| a.contains("print"))
                .all(|a| a.contains(r"file='pipe\:3'")),
            "{args:?}"
        );
    }
}
