//! What a live feed carries, as ffprobe reads it: codec, profile, level,
//! picture size, frame rate and audio layout. The slate is encoded to
//! match it, so that outputs that copy the live stream can copy the slate
//! too without their reader noticing a change it cannot follow.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The picture a feed carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoFormat {
    /// FFmpeg's codec name (`h264`, `hevc`, `mpeg2video`).
    pub codec: String,
    /// The profile as ffprobe names it (`High`, `Main`, `Constrained Baseline`).
    pub profile: Option<String>,
    /// The level as ffprobe gives it (`31` is 3.1 for H.264; `93` is 3.1 for H.265).
    pub level: Option<i64>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel format (`yuv420p`).
    pub pix_fmt: Option<String>,
    /// Frame rate as a fraction (`25/1`, `30000/1001`).
    pub frame_rate: String,
}

/// The sound a feed carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioFormat {
    /// FFmpeg's codec name (`aac`, `mp2`, `ac3`, `opus`).
    pub codec: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u32,
}

/// Everything a slate must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedFormat {
    /// The first video stream, if any.
    pub video: Option<VideoFormat>,
    /// The first audio stream, if any.
    pub audio: Option<AudioFormat>,
}

impl FeedFormat {
    /// What a slate looks like before any live feed was seen: 720p at
    /// 25 fps in H.264 High, stereo AAC at 48 kHz (or no sound).
    pub fn assumed(with_audio: bool) -> FeedFormat {
        FeedFormat {
            video: Some(VideoFormat {
                codec: "h264".into(),
                profile: Some("High".into()),
                level: None,
                width: 1280,
                height: 720,
                pix_fmt: Some("yuv420p".into()),
                frame_rate: "25/1".into(),
            }),
            audio: with_audio.then(|| AudioFormat {
                codec: "aac".into(),
                sample_rate: 48_000,
                channels: 2,
            }),
        }
    }

    /// One line for logs and the detail pane: `h264 High 3.1 1280x720 25 fps, aac 48000 Hz 2 ch`.
    pub fn describe(&self) -> String {
        let video = self.video.as_ref().map(|v| {
            let mut text = v.codec.clone();
            if let Some(p) = &v.profile {
                text.push(' ');
                text.push_str(p);
            }
            if let Some(level) = v.level.filter(|l| *l > 0) {
                let shown = if v.codec == "hevc" {
                    level as f64 / 30.0
                } else {
                    level as f64 / 10.0
                };
                text.push_str(&format!(" {shown}"));
            }
            format!(
                "{text} {}x{} {} fps",
                v.width,
                v.height,
                fps_text(&v.frame_rate)
            )
        });
        let audio = self
            .audio
            .as_ref()
            .map(|a| format!("{} {} Hz {} ch", a.codec, a.sample_rate, a.channels));
        match (video, audio) {
            (Some(v), Some(a)) => format!("{v}, {a}"),
            (Some(v), None) => format!("{v}, no audio"),
            (None, Some(a)) => format!("no video, {a}"),
            (None, None) => "nothing".into(),
        }
    }
}

fn fps_text(rate: &str) -> String {
    match parse_rate(rate) {
        Some(fps) if (fps - fps.round()).abs() < 0.005 => format!("{}", fps.round() as i64),
        Some(fps) => format!("{fps:.2}"),
        None => rate.to_string(),
    }
}

/// `30000/1001` → 29.97; `0/0` and junk → `None`.
pub fn parse_rate(rate: &str) -> Option<f64> {
    let (num, den) = rate.split_once('/').unwrap_or((rate, "1"));
    let (num, den): (f64, f64) = (num.trim().parse().ok()?, den.trim().parse().ok()?);
    (num > 0.0 && den > 0.0).then(|| num / den)
}

/// ffprobe beside the configured FFmpeg (`/opt/ff/bin/ffmpeg` →
/// `/opt/ff/bin/ffprobe`), or `ffprobe` from `PATH`.
pub fn ffprobe_beside(ffmpeg: &Path) -> PathBuf {
    match (ffmpeg.parent(), ffmpeg.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => {
            let name = name.to_string_lossy().replacen("ffmpeg", "ffprobe", 1);
            dir.join(name)
        }
        _ => PathBuf::from("ffprobe"),
    }
}

/// The ffprobe command that reads a transport stream on stdin and prints
/// what [`parse`] understands.
pub fn command(ffprobe: &Path) -> Vec<String> {
    [
        ffprobe.display().to_string().as_str(),
        "-v",
        "error",
        "-f",
        "mpegts",
        "-show_entries",
        "stream=codec_type,codec_name,profile,level,width,height,pix_fmt,r_frame_rate,avg_frame_rate,sample_rate,channels",
        "-of",
        "json",
        "-i",
        "pipe:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[derive(Deserialize)]
struct Report {
    #[serde(default)]
    streams: Vec<Stream>,
}

#[derive(Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    profile: Option<String>,
    level: Option<i64>,
    width: Option<u32>,
    height: Option<u32>,
    pix_fmt: Option<String>,
    r_frame_rate: Option<String>,
    avg_frame_rate: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
}

/// Reads ffprobe's JSON; `None` when it found no usable stream.
pub fn parse(json: &str) -> Option<FeedFormat> {
    let report: Report = serde_json::from_str(json).ok()?;
    let video = report
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video") && s.width.unwrap_or(0) > 0)
        .map(|s| {
            let rate = [&s.avg_frame_rate, &s.r_frame_rate]
                .into_iter()
                .flatten()
                .find(|r| parse_rate(r).is_some_and(|f| f <= 240.0))
                .cloned()
                .unwrap_or_else(|| "25/1".into());
            VideoFormat {
                codec: s.codec_name.clone().unwrap_or_else(|| "h264".into()),
                profile: s.profile.clone(),
                level: s.level,
                width: s.width.unwrap_or(0),
                height: s.height.unwrap_or(0),
                pix_fmt: s.pix_fmt.clone(),
                frame_rate: rate,
            }
        });
    let audio = report
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .and_then(|s| {
            Some(AudioFormat {
                codec: s.codec_name.clone()?,
                sample_rate: s.sample_rate.as_deref()?.parse().ok()?,
                channels: s.channels.unwrap_or(2).max(1),
            })
        });
    (video.is_some() || audio.is_some()).then_some(FeedFormat { video, audio })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FFPROBE: &str = r#"{
        "programs": [],
        "streams": [
            { "codec_name": "h264", "profile": "High", "codec_type": "video", "width": 320,
              "height": 180, "pix_fmt": "yuv420p", "level": 12, "r_frame_rate": "15/1",
              "avg_frame_rate": "15/1" },
            { "codec_name": "aac", "profile": "LC", "codec_type": "audio",
              "sample_rate": "48000", "channels": 1, "r_frame_rate": "0/0", "avg_frame_rate": "0/0" }
        ]
    }"#;

    #[test]
    fn ffprobe_json_gives_the_video_and_audio_format() {
        let format = parse(FFPROBE).expect("format");
        assert_eq!(
            format.video,
            Some(VideoFormat {
                codec: "h264".into(),
                profile: Some("High".into()),
                level: Some(12),
                width: 320,
                height: 180,
                pix_fmt: Some("yuv420p".into()),
                frame_rate: "15/1".into(),
            })
        );
        assert_eq!(
            format.audio,
            Some(AudioFormat {
                codec: "aac".into(),
                sample_rate: 48_000,
                channels: 1
            })
        );
        assert_eq!(
            format.describe(),
            "h264 High 1.2 320x180 15 fps, aac 48000 Hz 1 ch"
        );
    }

    #[test]
    fn an_unusable_report_gives_nothing() {
        assert_eq!(parse("not json"), None);
        assert_eq!(parse(r#"{"streams": []}"#), None);
        assert_eq!(parse("{}"), None);
    }

    #[test]
    fn frame_rates_are_read_as_fractions() {
        assert_eq!(
            parse_rate("30000/1001").map(|f| (f * 100.0).round()),
            Some(2997.0)
        );
        assert_eq!(parse_rate("25"), Some(25.0));
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(fps_text("30000/1001"), "29.97");
    }

    #[test]
    fn ffprobe_is_found_beside_a_configured_ffmpeg() {
        assert_eq!(
            ffprobe_beside(Path::new("ffmpeg")),
            PathBuf::from("ffprobe")
        );
        assert_eq!(
            ffprobe_beside(Path::new("/opt/ff/bin/ffmpeg")),
            PathBuf::from("/opt/ff/bin/ffprobe")
        );
    }
}
