//! The FFmpeg command that encodes a stream's slate clip: a few seconds of
//! MPEG-TS in exactly the live feed's format (codec, profile, level, size,
//! frame rate, pixel format, audio codec, rate and channels), so outputs
//! that copy the live stream copy the slate as well.
//!
//! The built-in card is drawn by FFmpeg itself (`color` and `drawtext`): the
//! stream's name and "We’ll be right back". Where `drawtext` has no font,
//! [`clip_command`] is called again without text and the card is plain.

use super::probe::{FeedFormat, VideoFormat};
use std::path::{Path, PathBuf};

/// Seconds of slate encoded from a card or a picture (it loops seamlessly).
pub const STILL_SECONDS: u32 = 2;
/// At most this much of a video slate is encoded (it loops from its start).
pub const VIDEO_SECONDS: u32 = 30;
/// The card's background.
const CARD_COLOUR: &str = "0x14213d";

/// What the slate shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlateSource {
    /// The built-in card with this title (the stream's name).
    Card(String),
    /// A still picture, scaled and letterboxed to the live picture.
    Image(PathBuf),
    /// A video file, played from its start and looped.
    Video(PathBuf),
}

impl SlateSource {
    /// A file given as `slate = "..."`: a picture by its extension, a video otherwise.
    pub fn file(path: &Path) -> SlateSource {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if matches!(
            ext.as_str(),
            "png" | "jpg" | "jpeg" | "bmp" | "webp" | "tif" | "tiff"
        ) {
            SlateSource::Image(path.to_path_buf())
        } else {
            SlateSource::Video(path.to_path_buf())
        }
    }
}

fn strings(items: &[&str]) -> impl Iterator<Item = String> {
    items
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .into_iter()
}

/// The command (program first) that writes the clip to stdout.
pub fn clip_command(
    ffmpeg: &Path,
    source: &SlateSource,
    format: &FeedFormat,
    with_text: bool,
    keyframe_seconds: f64,
) -> Vec<String> {
    let mut a = vec![ffmpeg.display().to_string()];
    a.extend(strings(&[
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "level+warning",
    ]));
    let video = format.video.clone().unwrap_or_else(|| {
        FeedFormat::assumed(false)
            .video
            .expect("the assumed format has video")
    });
    let size = format!("{}x{}", video.width, video.height);
    let rate = video.frame_rate.clone();
    let seconds = match source {
        SlateSource::Video(_) => VIDEO_SECONDS,
        _ => STILL_SECONDS,
    };
    match source {
        SlateSource::Card(_) => {
            a.extend(strings(&["-f", "lavfi", "-i"]));
            a.push(format!("color=c={CARD_COLOUR}:s={size}:r={rate}"));
        }
        SlateSource::Image(path) => {
            a.extend(strings(&["-loop", "1", "-framerate", &rate, "-i"]));
            a.push(path.display().to_string());
        }
        SlateSource::Video(path) => {
            a.push("-i".into());
            a.push(path.display().to_string());
        }
    }
    if let Some(audio) = &format.audio {
        a.extend(strings(&["-f", "lavfi", "-i"]));
        a.push(format!("anullsrc=r={}:cl=stereo", audio.sample_rate));
    }
    a.push("-vf".into());
    a.push(picture_filter(source, &video, with_text));
    a.extend(strings(&["-map", "0:v:0"]));
    if format.audio.is_some() {
        a.extend(strings(&["-map", "1:a:0"]));
    }
    a.extend(strings(&["-t", &seconds.to_string()]));
    video_encoder(&mut a, &video, keyframe_seconds);
    if let Some(audio) = &format.audio {
        let encoder = match audio.codec.as_str() {
            "mp2" => "mp2",
            "ac3" => "ac3",
            "eac3" => "eac3",
            "mp3" => "libmp3lame",
            "opus" => "libopus",
            _ => "aac",
        };
        a.extend(strings(&["-c:a", encoder, "-b:a", "96k"]));
        a.extend(strings(&[
            "-ar",
            &audio.sample_rate.to_string(),
            "-ac",
            &audio.channels.to_string(),
        ]));
    }
    a.extend(strings(&["-f", "mpegts", "pipe:1"]));
    a
}

/// Fits the picture into the live size and rate, and draws the card's text.
fn picture_filter(source: &SlateSource, video: &VideoFormat, with_text: bool) -> String {
    let (w, h) = (video.width, video.height);
    let pix_fmt = video.pix_fmt.as_deref().unwrap_or("yuv420p");
    let mut chain = Vec::new();
    match source {
        SlateSource::Card(title) if with_text => {
            // Names are a-z, 0-9, `_` and `-`: nothing to escape.
            chain.push(format!(
                "drawtext=font=Sans:text='{title}':fontcolor=white:fontsize=h/12:x=(w-tw)/2:y=h/2-th*1.5"
            ));
            chain.push(
                "drawtext=font=Sans:text='We’ll be right back':fontcolor=0xdddddd:fontsize=h/18:x=(w-tw)/2:y=h/2+th"
                    .to_string(),
            );
        }
        SlateSource::Card(_) => {}
        SlateSource::Image(_) | SlateSource::Video(_) => {
            chain.push(format!(
                "scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2"
            ));
            chain.push(format!("fps={}", video.frame_rate));
        }
    }
    chain.push("setsar=1".into());
    chain.push(format!("format={pix_fmt}"));
    chain.join(",")
}

/// The encoder that reproduces the live video's codec, profile and level,
/// with a keyframe every `keyframe_seconds` (the stream profile's GOP, so
/// HLS segments keep their length on the slate).
fn video_encoder(a: &mut Vec<String>, video: &VideoFormat, keyframe_seconds: f64) {
    let gop = super::probe::parse_rate(&video.frame_rate)
        .map_or(25, |f| (f * keyframe_seconds).round().max(1.0) as u32)
        .to_string();
    let profile = video.profile.as_deref().unwrap_or("");
    match video.codec.as_str() {
        "hevc" => {
            a.extend(strings(&["-c:v", "libx265", "-preset", "veryfast"]));
            let mut params = format!("keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error");
            if let Some(level) = video.level.filter(|l| *l > 0) {
                params.push_str(&format!(":level-idc={}", level as f64 / 30.0));
            }
            if profile.contains("10") {
                a.extend(strings(&["-profile:v", "main10"]));
            } else {
                a.extend(strings(&["-profile:v", "main"]));
            }
            a.extend(strings(&["-x265-params", &params]));
        }
        "mpeg2video" => {
            a.extend(strings(&["-c:v", "mpeg2video", "-q:v", "4", "-g", &gop]));
        }
        _ => {
            a.extend(strings(&["-c:v", "libx264", "-preset", "veryfast"]));
            let x264_profile = match profile {
                "Baseline" | "Constrained Baseline" => "baseline",
                "Main" => "main",
                "High 10" | "High 10 Intra" => "high10",
                "High 4:2:2" | "High 4:2:2 Intra" => "high422",
                "High 4:4:4 Predictive" | "High 4:4:4 Intra" => "high444",
                _ => "high",
            };
            a.extend(strings(&["-profile:v", x264_profile]));
            if let Some(level) = video.level.filter(|l| *l > 0) {
                a.extend(strings(&["-level:v", &format!("{}", level as f64 / 10.0)]));
            }
            a.extend(strings(&[
                "-g",
                &gop,
                "-keyint_min",
                &gop,
                "-sc_threshold",
                "0",
            ]));
        }
    }
}

/// True when an encoder's error line says `drawtext` cannot draw (no
/// font, or an FFmpeg built without it): the card is then drawn plain.
pub fn is_text_failure(line: &str) -> bool {
    let line = line.to_ascii_lowercase();
    line.contains("drawtext") || line.contains("font")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffmpeg::probe::AudioFormat;

    fn format() -> FeedFormat {
        FeedFormat {
            video: Some(VideoFormat {
                codec: "h264".into(),
                profile: Some("Main".into()),
                level: Some(31),
                width: 1280,
                height: 720,
                pix_fmt: Some("yuv420p".into()),
                frame_rate: "30000/1001".into(),
            }),
            audio: Some(AudioFormat {
                codec: "aac".into(),
                sample_rate: 44_100,
                channels: 1,
            }),
        }
    }

    fn has(argv: &[String], pair: [&str; 2]) -> bool {
        argv.windows(2).any(|w| w[0] == pair[0] && w[1] == pair[1])
    }

    #[test]
    fn the_card_matches_the_live_format_item_by_item() {
        let argv = clip_command(
            Path::new("ffmpeg"),
            &SlateSource::Card("cam1".into()),
            &format(),
            true,
            1.0,
        );
        assert!(has(
            &argv,
            ["-i", "color=c=0x14213d:s=1280x720:r=30000/1001"]
        ));
        assert!(has(&argv, ["-i", "anullsrc=r=44100:cl=stereo"]));
        assert!(has(&argv, ["-c:v", "libx264"]));
        assert!(has(&argv, ["-profile:v", "main"]));
        assert!(has(&argv, ["-level:v", "3.1"]));
        assert!(has(&argv, ["-g", "30"]));
        assert!(has(&argv, ["-c:a", "aac"]));
        assert!(has(&argv, ["-ar", "44100"]));
        assert!(has(&argv, ["-ac", "1"]));
        assert!(has(&argv, ["-t", "2"]));
        let vf = &argv[argv.iter().position(|a| a == "-vf").expect("-vf") + 1];
        assert!(
            vf.contains("text='cam1'") && vf.contains("right back"),
            "{vf}"
        );
        assert!(vf.ends_with("format=yuv420p"), "{vf}");
        assert_eq!(argv.last().map(String::as_str), Some("pipe:1"));
    }

    #[test]
    fn a_plain_card_has_no_text_and_no_audio_when_live_has_none() {
        let mut f = format();
        f.audio = None;
        let argv = clip_command(
            Path::new("ffmpeg"),
            &SlateSource::Card("cam1".into()),
            &f,
            false,
            1.0,
        );
        let vf = &argv[argv.iter().position(|a| a == "-vf").expect("-vf") + 1];
        assert!(!vf.contains("drawtext"), "{vf}");
        assert!(
            !argv
                .iter()
                .any(|a| a.starts_with("anullsrc") || a == "-c:a")
        );
        assert!(!has(&argv, ["-map", "1:a:0"]));
    }

    #[test]
    fn pictures_and_videos_are_fitted_to_the_live_picture() {
        let picture = SlateSource::file(Path::new("/srv/slate.PNG"));
        assert_eq!(picture, SlateSource::Image(PathBuf::from("/srv/slate.PNG")));
        let argv = clip_command(Path::new("ffmpeg"), &picture, &format(), true, 1.0);
        assert!(has(&argv, ["-loop", "1"]));
        let vf = &argv[argv.iter().position(|a| a == "-vf").expect("-vf") + 1];
        assert!(vf.starts_with("scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720"));

        let video = SlateSource::file(Path::new("/srv/break.mp4"));
        let argv = clip_command(Path::new("ffmpeg"), &video, &format(), true, 1.0);
        assert!(has(&argv, ["-i", "/srv/break.mp4"]));
        assert!(has(&argv, ["-t", "30"]));
    }

    #[test]
    fn hevc_live_gets_an_hevc_slate() {
        let mut f = format();
        if let Some(v) = f.video.as_mut() {
            v.codec = "hevc".into();
            v.profile = Some("Main 10".into());
            v.level = Some(93);
        }
        let argv = clip_command(
            Path::new("ffmpeg"),
            &SlateSource::Card("cam".into()),
            &f,
            true,
            1.0,
        );
        assert!(has(&argv, ["-c:v", "libx265"]));
        assert!(has(&argv, ["-profile:v", "main10"]));
        let params = &argv[argv
            .iter()
            .position(|a| a == "-x265-params")
            .expect("params")
            + 1];
        assert!(params.contains("level-idc=3.1"), "{params}");
    }
}
