//! What a stream does with its source's video and audio: copy what every
//! screen and platform plays, encode the rest (`auto`), or what the file
//! says, with a warning when that cannot play.
//!
//! Screens play HLS with hls.js through the browser's Media Source, which
//! takes H.264 and AAC everywhere and H.265 almost nowhere; RTMP (FLV)
//! carries only H.264 and AAC. SRT carries MPEG-TS, which holds anything,
//! but the receiver is a stranger, so `auto` sends it the same safe pair.
//! Pure: the stream's FFmpeg calls [`decide`] again whenever it learns more
//! about the source.

use super::source_info::SourceInfo;
use crate::config::{AudioMode, OutputKind, Profile, ProfileSettings};
use serde::{Deserialize, Serialize};

/// On the low-latency profile, `auto` encodes a copied source whose
/// keyframes are more than this many `hls_time`s apart (segments would
/// follow the camera's keyframes and lengthen the latency).
pub const KEYFRAME_SLACK: f64 = 1.5;

/// The video handling of one run of FFmpeg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoChoice {
    /// `-c:v copy`.
    Copy,
    /// libx264 with the profile's keyframe interval.
    H264,
}

/// The audio handling of one run of FFmpeg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioChoice {
    /// `-c:a copy`.
    Copy,
    /// AAC, 128 kbit/s, 48 kHz.
    Aac,
    /// `-an`.
    None,
}

/// What one run of FFmpeg does, and what the operator should know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handling {
    /// The video handling.
    pub video: VideoChoice,
    /// The audio handling.
    pub audio: AudioChoice,
    /// For the row: `copy`, `h264`, `h264 from hevc`, `auto` (not decided yet).
    pub label: String,
    /// Things that will not play, with what to do (shown on the stream).
    pub warnings: Vec<String>,
}

/// What [`decide`] needs to know about a stream.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// `video` from the file (`h264` for synthetic sources).
    pub video: crate::config::VideoMode,
    /// `audio` from the file.
    pub audio: AudioMode,
    /// Where it goes.
    pub output: OutputKind,
    /// Its latency profile.
    pub profile: Profile,
    /// That profile's settings.
    pub settings: &'a ProfileSettings,
}

/// Decides how to handle the source. Before the source is known (`None`),
/// `auto` copies: a source that turns out to need encoding is restarted
/// once with encoding as soon as FFmpeg has described it.
pub fn decide(wanted: Wanted, source: Option<&SourceInfo>) -> Handling {
    use crate::config::VideoMode;
    let video_codec = source
        .and_then(|s| s.video.as_ref())
        .map(|v| v.codec.as_str());
    let audio_codec = source
        .and_then(|s| s.audio.as_ref())
        .map(|a| a.codec.as_str());
    let keyframes = source.and_then(|s| s.keyframe_interval);
    let mut warnings = Vec::new();

    let playable_video = video_codec.is_none_or(|c| c == "h264");
    let sparse_keyframes = keyframes.filter(|k| {
        wanted.profile == Profile::LowLatency
            && wanted.output == OutputKind::Hls
            && *k > wanted.settings.hls_time * KEYFRAME_SLACK
    });
    let video = match wanted.video {
        VideoMode::H264 => VideoChoice::H264,
        VideoMode::Auto if !playable_video || sparse_keyframes.is_some() => VideoChoice::H264,
        VideoMode::Auto => VideoChoice::Copy,
        VideoMode::Copy => {
            if let Some(codec) = video_codec.filter(|_| !playable_video) {
                if let Some(who) = strict_receiver(wanted.output) {
                    warnings.push(format!(
                        "{who} cannot play {}: use video = \"auto\" or \"h264\"",
                        codec_name(codec)
                    ));
                }
            }
            if let Some(k) = sparse_keyframes {
                warnings.push(format!(
                    "the source's keyframes are {} s apart, more than the low-latency hls_time of {} s: \
                     segments follow the camera and latency grows; set the camera's keyframe interval \
                     (GOP) to {} s or less, or use video = \"auto\" or \"h264\"",
                    trim(k),
                    trim(wanted.settings.hls_time),
                    trim(wanted.settings.hls_time)
                ));
            }
            VideoChoice::Copy
        }
    };

    let playable_audio = audio_codec.is_none_or(|c| c == "aac");
    let audio = match wanted.audio {
        AudioMode::None => AudioChoice::None,
        AudioMode::Aac => AudioChoice::Aac,
        AudioMode::Auto if playable_audio => AudioChoice::Copy,
        AudioMode::Auto => AudioChoice::Aac,
        AudioMode::Copy => {
            if let (Some(codec), Some(who)) = (
                audio_codec.filter(|_| !playable_audio),
                strict_receiver(wanted.output),
            ) {
                warnings.push(format!(
                    "{who} cannot play {} audio: use audio = \"auto\" or \"aac\"",
                    codec_name(codec)
                ));
            }
            AudioChoice::Copy
        }
    };

    let label = match (video, wanted.video, video_codec) {
        (VideoChoice::Copy, VideoMode::Auto, None) => "auto".to_string(),
        (VideoChoice::Copy, _, _) => "copy".to_string(),
        (VideoChoice::H264, _, Some(codec)) if codec != "h264" && codec != "rawvideo" => {
            format!("h264 from {codec}")
        }
        (VideoChoice::H264, _, _) => "h264".to_string(),
    };
    Handling {
        video,
        audio,
        label,
        warnings,
    }
}

/// Who refuses what is not H.264/AAC on this output, if anyone.
fn strict_receiver(output: OutputKind) -> Option<&'static str> {
    match output {
        OutputKind::Hls => Some("screens"),
        OutputKind::Rtmp => Some("RTMP (FLV)"),
        OutputKind::Srt => None,
    }
}

/// The name an operator knows a codec by.
pub fn codec_name(codec: &str) -> String {
    match codec {
        "h264" => "H.264".into(),
        "hevc" => "H.265".into(),
        "mpeg2video" => "MPEG-2".into(),
        "mjpeg" => "MJPEG".into(),
        "pcm_mulaw" => "G.711 µ-law".into(),
        "pcm_alaw" => "G.711 A-law".into(),
        other => other.to_string(),
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VideoMode;
    use crate::ffmpeg::source_info::{AudioInfo, VideoInfo};

    fn source(video: &str, audio: Option<&str>, keyframes: Option<f64>) -> SourceInfo {
        SourceInfo {
            video: Some(VideoInfo {
                codec: video.into(),
                profile: None,
                width: 640,
                height: 360,
                fps: Some(25.0),
            }),
            audio: audio.map(|codec| AudioInfo {
                codec: codec.into(),
                sample_rate: Some(48000),
                channels: Some(2),
                layout: Some("stereo".into()),
            }),
            keyframe_interval: keyframes,
        }
    }

    fn wanted(
        video: VideoMode,
        audio: AudioMode,
        output: OutputKind,
        profile: Profile,
        settings: &ProfileSettings,
    ) -> Wanted<'_> {
        Wanted {
            video,
            audio,
            output,
            profile,
            settings,
        }
    }

    #[test]
    fn auto_copies_h264_and_aac_and_encodes_the_rest() {
        let stable = ProfileSettings::builtin(Profile::Stable);
        let w = wanted(
            VideoMode::Auto,
            AudioMode::Auto,
            OutputKind::Hls,
            Profile::Stable,
            &stable,
        );
        let h = decide(w, Some(&source("h264", Some("aac"), Some(2.0))));
        assert_eq!(
            (h.video, h.audio, h.label.as_str()),
            (VideoChoice::Copy, AudioChoice::Copy, "copy")
        );
        assert!(h.warnings.is_empty());

        let h = decide(w, Some(&source("hevc", Some("pcm_alaw"), None)));
        assert_eq!((h.video, h.audio), (VideoChoice::H264, AudioChoice::Aac));
        assert_eq!(h.label, "h264 from hevc");
        assert!(
            h.warnings.is_empty(),
            "auto never leaves anything unplayable"
        );
    }

    #[test]
    fn before_the_source_is_known_auto_starts_by_copying() {
        let stable = ProfileSettings::builtin(Profile::Stable);
        let w = wanted(
            VideoMode::Auto,
            AudioMode::Auto,
            OutputKind::Rtmp,
            Profile::Stable,
            &stable,
        );
        let h = decide(w, None);
        assert_eq!(
            (h.video, h.audio, h.label.as_str()),
            (VideoChoice::Copy, AudioChoice::Copy, "auto")
        );
    }

    #[test]
    fn explicit_copy_of_h265_keeps_copying_and_says_screens_cannot_play_it() {
        let stable = ProfileSettings::builtin(Profile::Stable);
        let w = wanted(
            VideoMode::Copy,
            AudioMode::Copy,
            OutputKind::Hls,
            Profile::Stable,
            &stable,
        );
        let h = decide(w, Some(&source("hevc", Some("pcm_mulaw"), None)));
        assert_eq!((h.video, h.audio), (VideoChoice::Copy, AudioChoice::Copy));
        assert_eq!(
            h.warnings,
            vec![
                "screens cannot play H.265: use video = \"auto\" or \"h264\"".to_string(),
                "screens cannot play G.711 µ-law audio: use audio = \"auto\" or \"aac\""
                    .to_string(),
            ]
        );
        let rtmp = wanted(
            VideoMode::Copy,
            AudioMode::Aac,
            OutputKind::Rtmp,
            Profile::Stable,
            &stable,
        );
        assert_eq!(
            decide(rtmp, Some(&source("hevc", None, None))).warnings,
            vec!["RTMP (FLV) cannot play H.265: use video = \"auto\" or \"h264\"".to_string()]
        );
        let srt = wanted(
            VideoMode::Copy,
            AudioMode::Aac,
            OutputKind::Srt,
            Profile::Stable,
            &stable,
        );
        assert!(
            decide(srt, Some(&source("hevc", None, None)))
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn low_latency_encodes_a_camera_with_sparse_keyframes_under_auto_and_warns_under_copy() {
        // 1 s segments, whatever the built-in low-latency segment length.
        let low = ProfileSettings {
            hls_time: 1.0,
            ..ProfileSettings::builtin(Profile::LowLatency)
        };
        let auto = wanted(
            VideoMode::Auto,
            AudioMode::Auto,
            OutputKind::Hls,
            Profile::LowLatency,
            &low,
        );
        assert_eq!(
            decide(auto, Some(&source("h264", None, Some(1.0)))).video,
            VideoChoice::Copy
        );
        let h = decide(auto, Some(&source("h264", None, Some(2.0))));
        assert_eq!((h.video, h.label.as_str()), (VideoChoice::H264, "h264"));

        let copy = wanted(
            VideoMode::Copy,
            AudioMode::Auto,
            OutputKind::Hls,
            Profile::LowLatency,
            &low,
        );
        let h = decide(copy, Some(&source("h264", None, Some(2.0))));
        assert_eq!(h.video, VideoChoice::Copy);
        assert_eq!(h.warnings.len(), 1);
        assert!(
            h.warnings[0].contains("keyframes are 2 s apart"),
            "{}",
            h.warnings[0]
        );
        assert!(
            h.warnings[0].contains("hls_time of 1 s"),
            "{}",
            h.warnings[0]
        );

        let stable = ProfileSettings::builtin(Profile::Stable);
        let calm = wanted(
            VideoMode::Auto,
            AudioMode::Auto,
            OutputKind::Hls,
            Profile::Stable,
            &stable,
        );
        assert_eq!(
            decide(calm, Some(&source("h264", None, Some(8.0)))).video,
            VideoChoice::Copy,
            "the stable profile lets segments follow the camera"
        );
    }

    #[test]
    fn explicit_modes_are_kept() {
        let stable = ProfileSettings::builtin(Profile::Stable);
        let w = wanted(
            VideoMode::H264,
            AudioMode::None,
            OutputKind::Hls,
            Profile::Stable,
            &stable,
        );
        let h = decide(w, Some(&source("h264", Some("aac"), None)));
        assert_eq!(
            (h.video, h.audio, h.label.as_str()),
            (VideoChoice::H264, AudioChoice::None, "h264")
        );
        let synthetic = decide(w, Some(&source("rawvideo", None, None)));
        assert_eq!(synthetic.label, "h264");
    }
}
