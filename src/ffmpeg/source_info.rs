//! What a stream's source sends, read from the `Input #0` summary that the
//! FFmpeg reading it prints once it has opened the source (at `info` level):
//!
//! ```text
//! [info] Input #0, rtsp, from 'rtsp://127.0.0.1:8554/cam':
//! [info]   Stream #0:0: Video: hevc (Main), yuv420p(tv, bt709), 1280x720 [SAR 1:1 DAR 16:9], 30 fps, 30 tbr, 90k tbn
//! [info]   Stream #0:1: Audio: aac (LC), 48000 Hz, stereo, fltp
//! ```
//!
//! Pure: the engine feeds it stderr lines; it never touches a process. The
//! first video and the first audio stream are the ones onair maps
//! (`-map 0:v:0 -map 0:a:0?`), so those are the ones described.

use serde::{Deserialize, Serialize};

/// The source's video, as FFmpeg opened it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    /// FFmpeg's codec name: `h264`, `hevc`, `mjpeg`, `mpeg2video`, `rawvideo`, ...
    pub codec: String,
    /// The codec profile FFmpeg names in brackets (`Main`, `High`), if any.
    #[serde(default)]
    pub profile: Option<String>,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second (`fps`, or `tbr` when the source gives no rate).
    #[serde(default)]
    pub fps: Option<f64>,
}

/// The source's audio, as FFmpeg opened it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioInfo {
    /// FFmpeg's codec name: `aac`, `opus`, `pcm_mulaw`, `pcm_alaw`, `mp3`, ...
    pub codec: String,
    /// Samples per second.
    #[serde(default)]
    pub sample_rate: Option<u32>,
    /// Number of channels.
    #[serde(default)]
    pub channels: Option<u32>,
    /// FFmpeg's name of the layout: `mono`, `stereo`, `5.1(side)`, ...
    #[serde(default)]
    pub layout: Option<String>,
}

/// Everything onair knows about what a stream's source sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The first video stream, if the source has one.
    #[serde(default)]
    pub video: Option<VideoInfo>,
    /// The first audio stream, if the source has one.
    #[serde(default)]
    pub audio: Option<AudioInfo>,
    /// Seconds between the source's keyframes, once measured.
    #[serde(default)]
    pub keyframe_interval: Option<f64>,
}

impl SourceInfo {
    /// True when both describe the same source, the keyframe measurement
    /// aside (a new measurement is not a reconfigured camera).
    pub fn same_streams(&self, other: &SourceInfo) -> bool {
        self.video == other.video && self.audio == other.audio
    }

    /// One line for the console and the history:
    /// `hevc 1280×720 30 fps, keyframes every 2 s · aac 48 kHz stereo`.
    pub fn summary(&self) -> String {
        let video = match &self.video {
            Some(v) => {
                let mut text = format!("{} {}×{}", v.codec, v.width, v.height);
                if let Some(fps) = v.fps {
                    text.push_str(&format!(" {} fps", trim_number(fps)));
                }
                if let Some(k) = self.keyframe_interval {
                    text.push_str(&format!(", keyframes every {} s", trim_number(k)));
                }
                text
            }
            None => "no video".to_string(),
        };
        let audio = match &self.audio {
            Some(a) => {
                let mut text = a.codec.clone();
                if let Some(rate) = a.sample_rate {
                    text.push_str(&format!(" {} kHz", trim_number(rate as f64 / 1000.0)));
                }
                match (&a.layout, a.channels) {
                    (Some(layout), _) => text.push_str(&format!(" {layout}")),
                    (None, Some(n)) => text.push_str(&format!(" {n} ch")),
                    (None, None) => {}
                }
                text
            }
            None => "no audio".to_string(),
        };
        format!("{video} · {audio}")
    }
}

/// `2` rather than `2.0`, `29.97` as is, at most two decimals.
fn trim_number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Reads FFmpeg's stderr line by line and gives the source's description
/// once its `Input #0` summary is complete.
#[derive(Debug, Default)]
pub struct SourceInfoParser {
    inside: bool,
    found: SourceInfo,
    done: bool,
}

impl SourceInfoParser {
    /// A parser waiting for the summary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one stderr line; returns the description on the first line
    /// after the summary (FFmpeg prints `Stream mapping:` or `Output #0`
    /// next). Later lines return `None`: one FFmpeg opens its source once.
    pub fn feed(&mut self, line: &str) -> Option<SourceInfo> {
        if self.done {
            return None;
        }
        // Lines of other parts (`[rtsp @ 0x55..] ...`) may interleave.
        if line.contains(" @ 0x") {
            return None;
        }
        let text = strip_level(line);
        if !self.inside {
            if text.starts_with("Input #0,") {
                self.inside = true;
            }
            return None;
        }
        if let Some(rest) = text.trim_start().strip_prefix("Stream #0:") {
            if text.starts_with("  ") {
                self.stream_line(rest);
                return None;
            }
        }
        if text.starts_with("  ") {
            // Metadata, Duration, Program, side data: not needed.
            return None;
        }
        self.finish()
    }

    /// Ends the summary now (FFmpeg exited right after printing it).
    pub fn finish(&mut self) -> Option<SourceInfo> {
        if !self.inside || self.done {
            return None;
        }
        self.done = true;
        Some(std::mem::take(&mut self.found))
    }

    fn stream_line(&mut self, rest: &str) {
        // `0[0x100](eng): Video: h264 (High), ...` → kind and fields.
        let Some((_, kind_and_fields)) = rest.split_once(": ") else {
            return;
        };
        if let Some(fields) = kind_and_fields.strip_prefix("Video: ") {
            if self.found.video.is_none() {
                self.found.video = parse_video(fields);
            }
        } else if let Some(fields) = kind_and_fields.strip_prefix("Audio: ") {
            if self.found.audio.is_none() {
                self.found.audio = Some(parse_audio(fields));
            }
        }
    }
}

/// `[info] text` → `text`; a line without a level stays as it is.
fn strip_level(line: &str) -> &str {
    let line = line.trim_end();
    match line.strip_prefix('[') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase()) => {
            match rest.split_once("] ") {
                Some((level, text)) if level.chars().all(|c| c.is_ascii_lowercase()) => text,
                _ => line,
            }
        }
        _ => line,
    }
}

/// Splits on commas that are not inside brackets:
/// `yuv420p(tv, bt709), 640x360` → `["yuv420p(tv, bt709)", "640x360"]`.
fn top_level_fields(text: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                fields.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(text[start..].trim());
    fields
}

/// `h264 (High) ([27][0][0][0] / 0x001B)` → (`h264`, `Some("High")`).
fn codec_and_profile(field: &str) -> (String, Option<String>) {
    let mut words = field.splitn(2, ' ');
    let codec = words.next().unwrap_or_default().to_string();
    let profile = words.next().and_then(|rest| {
        let inner = rest.strip_prefix('(')?.split(')').next()?;
        // `([27][0][0][0] / 0x001B)` is a tag, not a profile.
        (!inner.contains('/') && !inner.is_empty()).then(|| inner.to_string())
    });
    (codec, profile)
}

fn parse_video(fields: &str) -> Option<VideoInfo> {
    let fields = top_level_fields(fields);
    let (codec, profile) = codec_and_profile(fields.first()?);
    let mut info = VideoInfo {
        codec,
        profile,
        ..VideoInfo::default()
    };
    let mut tbr = None;
    for field in &fields[1..] {
        let first = field.split_whitespace().next().unwrap_or_default();
        if info.width == 0 {
            if let Some((w, h)) = first.split_once('x') {
                if let (Ok(w), Ok(h)) = (w.parse(), h.parse()) {
                    info.width = w;
                    info.height = h;
                    continue;
                }
            }
        }
        if let Some(rate) = field.strip_suffix(" fps") {
            info.fps = parse_rate(rate);
        } else if let Some(rate) = field.strip_suffix(" tbr") {
            tbr = parse_rate(rate);
        }
    }
    if info.fps.is_none() {
        info.fps = tbr;
    }
    Some(info)
}

/// `25`, `29.97`, `1k` → frames per second.
fn parse_rate(text: &str) -> Option<f64> {
    let text = text.trim();
    let value = match text.strip_suffix('k') {
        Some(thousands) => thousands.parse::<f64>().ok()? * 1000.0,
        None => text.parse::<f64>().ok()?,
    };
    (value > 0.0).then_some(value)
}

fn parse_audio(fields: &str) -> AudioInfo {
    let fields = top_level_fields(fields);
    let (codec, _) = codec_and_profile(fields.first().copied().unwrap_or_default());
    let mut info = AudioInfo {
        codec,
        ..AudioInfo::default()
    };
    let mut rest = fields.iter().skip(1);
    for field in rest.by_ref() {
        if let Some(hz) = field.strip_suffix(" Hz") {
            info.sample_rate = hz.trim().parse().ok();
            break;
        }
    }
    // The layout follows the rate: `mono`, `stereo`, `5.1(side)`, `3 channels`.
    if let Some(layout) = rest.next() {
        info.channels = channels_of(layout);
        info.layout = Some(layout.to_string());
    }
    info
}

/// How many channels a layout name has.
fn channels_of(layout: &str) -> Option<u32> {
    if let Some(n) = layout.strip_suffix(" channels") {
        return n.trim().parse().ok();
    }
    let base = layout.split('(').next().unwrap_or(layout);
    Some(match base {
        "mono" => 1,
        "stereo" | "downmix" => 2,
        "2.1" | "3.0" => 3,
        "3.1" | "4.0" | "quad" => 4,
        "4.1" | "5.0" => 5,
        "5.1" | "6.0" | "hexagonal" => 6,
        "6.1" | "7.0" => 7,
        "7.1" | "octagonal" => 8,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<SourceInfo> {
        let mut parser = SourceInfoParser::new();
        for line in text.lines() {
            if let Some(info) = parser.feed(line) {
                return Some(info);
            }
        }
        parser.finish()
    }

    #[test]
    fn an_h265_camera_over_rtsp() {
        let info = parse(
            "[info] Input #0, rtsp, from 'rtsp://127.0.0.1:40479/cam':
[info]   Metadata:
[info]     title           : Session streamed with GStreamer
[info]   Duration: N/A, start: 0.000000, bitrate: N/A
[info]   Stream #0:0: Video: hevc (Main), yuv420p(tv, bt709), 1280x720 [SAR 1:1 DAR 16:9], 30 fps, 30 tbr, 90k tbn
[info]   Stream #0:1: Audio: aac (LC), 48000 Hz, stereo, fltp
[info] Stream mapping:
[info]   Stream #0:0 -> #0:0 (copy)",
        )
        .expect("a summary");
        assert_eq!(
            info.video,
            Some(VideoInfo {
                codec: "hevc".into(),
                profile: Some("Main".into()),
                width: 1280,
                height: 720,
                fps: Some(30.0),
            })
        );
        assert_eq!(
            info.audio,
            Some(AudioInfo {
                codec: "aac".into(),
                sample_rate: Some(48000),
                channels: Some(2),
                layout: Some("stereo".into()),
            })
        );
        assert_eq!(info.summary(), "hevc 1280×720 30 fps · aac 48 kHz stereo");
    }

    #[test]
    fn ts_pids_languages_tags_and_broadcast_rates() {
        let info = parse(
            "[info] Input #0, mpegts, from '/tmp/m2.ts':
[info]   Duration: 00:00:02.02, start: 1.427567, bitrate: 1416 kb/s
[info]   Program 1 
[info]     Metadata:
[info]       service_name    : Service01
[info]   Stream #0:0[0x100](eng): Video: mpeg2video (Main) ([2][0][0][0] / 0x0002), yuv420p(tv, progressive), 720x576 [SAR 16:15 DAR 4:3], 29.97 fps, 29.97 tbr, 90k tbn
[info]     Side data:
[info]       cpb: bitrate max/min/avg: 0/0/0 buffer size: 49152 vbv_delay: N/A
[info]   Stream #0:1[0x101](eng): Audio: ac3 (AC-3 / 0x332D4341), 44100 Hz, 5.1(side), fltp, 448 kb/s
[info]   Stream #0:2[0x102]: Audio: mp2, 48000 Hz, stereo, s16p, 192 kb/s
[info] Output #0, hls, to 'index.m3u8':",
        )
        .expect("a summary");
        let video = info.video.expect("video");
        assert_eq!(
            (video.codec.as_str(), video.width, video.height, video.fps),
            ("mpeg2video", 720, 576, Some(29.97))
        );
        let audio = info.audio.expect("the first audio stream");
        assert_eq!(audio.codec, "ac3");
        assert_eq!(audio.channels, Some(6));
        assert_eq!(audio.sample_rate, Some(44100));
    }

    #[test]
    fn a_camera_with_g711_audio_and_no_frame_rate() {
        let info = parse(
            "Input #0, rtsp, from 'rtsp://****@10.0.0.9/Streaming/Channels/101':
  Metadata:
    title           : Media Presentation
  Duration: N/A, start: 0.080000, bitrate: N/A
  Stream #0:0: Video: h264 (Main), yuvj420p(pc, bt709, progressive), 2560x1440, 90k tbr, 90k tbn
  Stream #0:1: Audio: pcm_mulaw, 8000 Hz, mono, s16, 64 kb/s
Stream mapping:",
        )
        .expect("a summary");
        let video = info.video.expect("video");
        assert_eq!((video.width, video.height), (2560, 1440));
        assert_eq!(
            video.fps,
            Some(90000.0),
            "tbr stands in when fps is missing"
        );
        let audio = info.audio.expect("audio");
        assert_eq!(
            (audio.codec.as_str(), audio.sample_rate, audio.channels),
            ("pcm_mulaw", Some(8000), Some(1))
        );
    }

    #[test]
    fn a_source_without_audio_and_a_synthetic_one() {
        let info = parse(
            "[info] Input #0, lavfi, from 'testsrc2=size=320x180:rate=15':
[info]   Duration: N/A, start: 0.000000, bitrate: N/A
[info]   Stream #0:0: Video: rawvideo (I420 / 0x30323449), yuv420p, 320x180 [SAR 1:1 DAR 16:9], 15 tbr, 15 tbn
[info] Stream mapping:",
        )
        .expect("a summary");
        let video = info.video.clone().expect("video");
        assert_eq!(video.codec, "rawvideo");
        assert_eq!(video.profile, None, "a codec tag is not a profile");
        assert_eq!(video.fps, Some(15.0));
        assert_eq!(info.audio, None);
        assert_eq!(info.summary(), "rawvideo 320×180 15 fps · no audio");
    }

    #[test]
    fn output_streams_and_interleaved_lines_are_not_the_source() {
        let mut parser = SourceInfoParser::new();
        let lines = [
            "[rtsp @ 0x55d] [warning] max delay reached. need to consume packet",
            "[info] Output #0, hls, to 'x.m3u8':",
            "[info]   Stream #0:0: Video: h264, yuv420p, 320x180, q=2-31, 15 fps, 90k tbn",
        ];
        for line in lines {
            assert_eq!(parser.feed(line), None);
        }
        assert_eq!(parser.finish(), None, "no Input #0 was seen");
    }

    #[test]
    fn a_summary_cut_short_by_an_exit_is_still_read() {
        let mut parser = SourceInfoParser::new();
        parser.feed("[info] Input #0, rtsp, from 'rtsp://h/cam':");
        parser.feed(
            "[info]   Stream #0:0: Video: h264 (High), yuv420p, 640x360, 25 fps, 25 tbr, 90k tbn",
        );
        let info = parser.finish().expect("what was read");
        assert_eq!(info.video.map(|v| v.codec), Some("h264".into()));
        assert_eq!(parser.feed("[info] Input #0, rtsp, from 'x':"), None);
    }

    #[test]
    fn the_summary_line_names_the_keyframe_interval_once_measured() {
        let info = SourceInfo {
            video: Some(VideoInfo {
                codec: "h264".into(),
                profile: None,
                width: 640,
                height: 360,
                fps: Some(29.97),
            }),
            audio: None,
            keyframe_interval: Some(2.0),
        };
        assert_eq!(
            info.summary(),
            "h264 640×360 29.97 fps, keyframes every 2 s · no audio"
        );
    }
}
