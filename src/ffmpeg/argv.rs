//! The FFmpeg argument vector of a stream, built from its profile, input
//! kind and output kind. Never a shell string: each argument is its own item.
//!
//! Two traps of FFmpeg are avoided by construction: no option ever follows
//! the last output URL (FFmpeg only warns and may ignore it), and no encoder
//! option (`-preset`, `-tune`, keyframes) is emitted with `-c:v copy`, where
//! FFmpeg silently ignores it.

use super::analysis::Analysis;
use super::codecs::{self, AudioChoice, Handling, VideoChoice, Wanted};
use super::source_info::SourceInfo;
use crate::config::{Config, Input, Output, Profile, ProfileSettings, StreamSpec};
use crate::secrets;
use std::path::PathBuf;

/// Where FFmpeg writes `-progress` blocks, and the analysis its measurements.
pub const PROGRESS_CHANNEL: &str = "pipe:1";

/// Network reads give up after this long without data, so a dead source
/// becomes an error and a restart instead of a process hanging forever.
const NETWORK_TIMEOUT_US: &str = "5000000";

/// Where a stream's live playlist is written.
pub fn playlist_path(config: &Config, spec: &StreamSpec) -> PathBuf {
    config.stream_hls_dir(&spec.name).join("index.m3u8")
}

/// The full command: the FFmpeg binary followed by [`args`].
pub fn command(config: &Config, spec: &StreamSpec) -> Vec<String> {
    command_with(config, spec, &handling(config, spec, None))
}

/// The full command for a given handling of the source's video and audio.
pub fn command_with(config: &Config, spec: &StreamSpec, handling: &Handling) -> Vec<String> {
    let mut cmd = vec![config.server.ffmpeg.display().to_string()];
    cmd.extend(args_with(config, spec, handling));
    cmd
}

/// How this stream handles its source, given what is known about it
/// (`None` before FFmpeg has opened it).
pub fn handling(config: &Config, spec: &StreamSpec, source: Option<&SourceInfo>) -> Handling {
    codecs::decide(
        Wanted {
            video: spec.video,
            audio: spec.audio,
            output: spec.output.kind(),
            profile: spec.profile,
            settings: config.profiles.get(spec.profile),
        },
        source,
    )
}

/// The arguments FFmpeg runs with for this stream, before its source is known.
pub fn args(config: &Config, spec: &StreamSpec) -> Vec<String> {
    args_with(config, spec, &handling(config, spec, None))
}

/// The arguments FFmpeg runs with for this stream and handling.
///
/// FFmpeg logs at `info` so that it describes the source it opened (the
/// `Input #0` summary read by `source_info`); nothing at that level repeats
/// during a run.
pub fn args_with(config: &Config, spec: &StreamSpec, handling: &Handling) -> Vec<String> {
    let profile = config.profiles.get(spec.profile);
    let mut a: Vec<String> = Vec::with_capacity(64);
    global_args(&mut a, "level+info");
    let thumbnail = config.thumbnail_path(&spec.name);
    let analysis = spec.analysis.then(|| analysis_of(&thumbnail, handling));
    let before_input = analysis
        .as_ref()
        .map(Analysis::input_args)
        .unwrap_or_default();
    input_args(&mut a, spec, profile, &before_input);
    codec_args(&mut a, spec, handling, profile);
    a.extend(profile.output_args.iter().cloned());
    a.extend(spec.output_args.iter().cloned());
    muxer_args(&mut a, config, spec);
    // The analysis outputs follow the main one, which stays output #0.
    if let Some(analysis) = &analysis {
        a.extend(analysis.output_args());
    }
    a
}

/// Options that stand before everything: logs with their level, and the
/// progress report on stdout that the stall watchdog listens to.
pub(super) fn global_args(a: &mut Vec<String>, loglevel: &str) {
    a.extend(["-hide_banner", "-nostats", "-loglevel", loglevel].map(String::from));
    a.extend(["-progress", PROGRESS_CHANNEL, "-y"].map(String::from));
}

/// How the source is read, up to and including `-i`; `extra` stands just
/// before `-i`.
pub(super) fn input_args(
    a: &mut Vec<String>,
    spec: &StreamSpec,
    profile: &ProfileSettings,
    extra: &[String],
) {
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    // Input options: everything here must stand before `-i`.
    if spec.profile == Profile::LowLatency {
        push(&["-fflags", "nobuffer", "-flags", "low_delay"]);
    }
    match &spec.input {
        Input::Lavfi(_) => push(&["-re", "-f", "lavfi"]),
        Input::File(_) => {
            push(&["-re"]);
            if spec.loop_input {
                push(&["-stream_loop", "-1"]);
            }
        }
        Input::Network { scheme, .. } => match scheme.as_str() {
            "rtsp" | "rtsps" => push(&["-rtsp_transport", "tcp", "-timeout", NETWORK_TIMEOUT_US]),
            "rtmp" | "rtmps" => push(&["-rtmp_live", "live", "-rw_timeout", NETWORK_TIMEOUT_US]),
            _ => push(&["-rw_timeout", NETWORK_TIMEOUT_US]),
        },
    }
    a.extend(profile.input_args.iter().cloned());
    a.extend(spec.input_args.iter().cloned());
    a.extend(extra.iter().cloned());
    a.push("-i".into());
    a.push(match &spec.input {
        Input::Lavfi(graph) => graph.clone(),
        Input::File(path) => path.display().to_string(),
        Input::Network { url, .. } => url.clone(),
    });
}

/// Stream selection and codecs.
pub(super) fn codec_args(
    a: &mut Vec<String>,
    spec: &StreamSpec,
    handling: &Handling,
    profile: &ProfileSettings,
) {
    a.extend(["-map", "0:v:0"].map(String::from));
    if handling.audio != AudioChoice::None {
        a.extend(["-map", "0:a:0?"].map(String::from));
    }
    video_args(a, spec, handling.video, profile);
    audio_args(a, handling.audio);
}

/// The output comes last, and nothing follows it. An HLS output's
/// `-start_number` differs per run: the engine adds it with
/// `hls::numbered(argv, hls::start_number(..))` when it starts FFmpeg.
pub(super) fn muxer_args(a: &mut Vec<String>, config: &Config, spec: &StreamSpec) {
    let profile = config.profiles.get(spec.profile);
    match &spec.output {
        Output::Hls => {
            let dir = config.stream_hls_dir(&spec.name);
            a.extend([
                "-f".to_string(),
                "hls".into(),
                "-hls_time".into(),
                format_seconds(profile.hls_time),
                "-hls_list_size".into(),
                profile.hls_list_size.to_string(),
                // Short first segments: a screen gets a picture soon after a
                // (re)start instead of after a whole hls_time.
                "-hls_init_time".into(),
                format_seconds(profile.hls_time.min(1.0)),
                "-hls_flags".into(),
                "delete_segments+temp_file+independent_segments+program_date_time".into(),
                "-hls_segment_filename".into(),
                dir.join("seg-%d.ts").display().to_string(),
                playlist_path(config, spec).display().to_string(),
            ]);
        }
        Output::Rtmp(url) => {
            a.extend(["-f", "flv", "-flvflags", "no_duration_filesize"].map(String::from));
            a.push(url.clone());
        }
        Output::Srt(url) => {
            a.extend(["-f", "mpegts"].map(String::from));
            a.push(url.clone());
        }
    }
}

/// The content analysis of a stream run with `handling`: a copied video is
/// decoded at its key frames only.
pub fn analysis_of<'a>(thumbnail: &'a std::path::Path, handling: &Handling) -> Analysis<'a> {
    Analysis {
        channel: PROGRESS_CHANNEL,
        thumbnail,
        key_frames_only: handling.video == VideoChoice::Copy,
        audio: handling.audio != AudioChoice::None,
    }
}

/// The video part of the command for a chosen handling.
pub fn video_args(
    a: &mut Vec<String>,
    spec: &StreamSpec,
    video: VideoChoice,
    profile: &ProfileSettings,
) {
    match video {
        VideoChoice::Copy => a.extend(["-c:v", "copy"].map(String::from)),
        VideoChoice::H264 => {
            a.extend(["-c:v", "libx264", "-preset", "veryfast"].map(String::from));
            if spec.profile == Profile::LowLatency {
                a.extend(["-tune", "zerolatency"].map(String::from));
            }
            a.extend(["-pix_fmt", "yuv420p", "-sc_threshold", "0"].map(String::from));
            a.push("-force_key_frames".into());
            a.push(format!(
                "expr:gte(t,n_forced*{})",
                format_seconds(profile.gop_seconds)
            ));
        }
    }
}

/// The audio part of the command for a chosen handling.
pub fn audio_args(a: &mut Vec<String>, audio: AudioChoice) {
    match audio {
        AudioChoice::Aac => {
            a.extend(["-c:a", "aac", "-b:a", "128k", "-ar", "48000"].map(String::from))
        }
        AudioChoice::Copy => a.extend(["-c:a", "copy"].map(String::from)),
        AudioChoice::None => a.push("-an".into()),
    }
}

/// `4` rather than `4.0`, `0.5` as is: FFmpeg reads both, people read the first better.
fn format_seconds(secs: f64) -> String {
    if secs.fract() == 0.0 {
        format!("{}", secs as i64)
    } else {
        format!("{secs}")
    }
}

/// The command as an operator may see it: shell-quoted for copy and paste,
/// with every key and credential masked.
pub fn display_command(command: &[String], secret_values: &[String]) -> String {
    command
        .iter()
        .map(|arg| quote(&secrets::mask_text(&secrets::mask_url(arg), secret_values)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=+%,@*".contains(&b))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use std::path::Path;

    const INPUTS: [(&str, &str); 6] = [
        ("lavfi", r#"input = "lavfi:testsrc2=size=320x180:rate=15""#),
        ("file", "input = \"/dev/null\"\nloop = true"),
        ("rtsp", r#"input = "rtsp://cam.local:554/stream1""#),
        ("rtmp", r#"input = "rtmp://127.0.0.1/live/program""#),
        ("srt", r#"input = "srt://127.0.0.1:9000?mode=caller""#),
        ("udp", r#"input = "udp://239.0.0.1:5000""#),
    ];
    const OUTPUTS: [(&str, &str); 3] = [
        ("hls", r#"output = "hls""#),
        ("rtmp", r#"output = "rtmp://live.example/app/KEY""#),
        (
            "srt",
            r#"output = "srt://ingest.example:9000?streamid=KEY""#,
        ),
    ];

    fn config_for(input: &str, output: &str, profile: &str) -> Config {
        let text = format!(
            "[server]\nhls_dir = \"/srv/hls\"\n[[stream]]\nname = \"cam\"\n{input}\n{output}\nprofile = \"{profile}\"\n"
        );
        load_str(&text, Path::new("/etc/onair/streams.toml"), &|_| None).expect("valid config")
    }

    /// Every profile × input kind × output kind, pinned in one reviewed file.
    #[test]
    fn argv_of_every_profile_input_and_output_is_pinned() {
        let mut all = String::new();
        for profile in ["low-latency", "stable"] {
            for (input_name, input) in INPUTS {
                for (output_name, output) in OUTPUTS {
                    let config = config_for(input, output, profile);
                    let argv = command(&config, &config.streams[0]);
                    all.push_str(&format!(
                        "## {profile} / {input_name} / {output_name}\n{}\n\n",
                        argv.join(" ")
                    ));
                }
            }
        }
        insta::assert_snapshot!(all);
    }

    #[test]
    fn no_option_ever_follows_the_output_and_inputs_come_before_i() {
        for profile in ["low-latency", "stable"] {
            for (_, input) in INPUTS {
                for (_, output) in OUTPUTS {
                    let config = config_for(input, output, profile);
                    let spec = &config.streams[0];
                    let argv = args(&config, spec);
                    let main_output = match &spec.output {
                        Output::Hls => playlist_path(&config, spec).display().to_string(),
                        Output::Rtmp(url) | Output::Srt(url) => url.clone(),
                    };
                    // The main output is the first; only the analysis
                    // outputs (each with its own options) follow it.
                    let at = argv
                        .iter()
                        .position(|a| *a == main_output)
                        .expect("main output");
                    let thumbnail = config.thumbnail_path(&spec.name);
                    let analysis = analysis_of(&thumbnail, &handling(&config, spec, None));
                    assert_eq!(argv[at + 1..], analysis.output_args()[..]);
                    assert_eq!(
                        argv.last(),
                        Some(&thumbnail.display().to_string()),
                        "nothing follows the last output"
                    );
                    let i = argv.iter().position(|a| a == "-i").expect("-i");
                    for input_only in [
                        "-re",
                        "-rtsp_transport",
                        "-rtmp_live",
                        "-rw_timeout",
                        "-fflags",
                        "-stream_loop",
                        "-skip_frame:v",
                    ] {
                        if let Some(at) = argv.iter().position(|a| a == input_only) {
                            assert!(at < i, "{input_only} after -i in {argv:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn copy_mode_never_gets_encoder_options() {
        let config = config_for(
            r#"input = "rtmp://127.0.0.1/live/x""#,
            r#"output = "hls""#,
            "low-latency",
        );
        let argv = args(&config, &config.streams[0]);
        assert!(argv.windows(2).any(|w| w == ["-c:v", "copy"]));
        for encoder_only in [
            "-preset",
            "-tune",
            "-force_key_frames",
            "-g",
            "-sc_threshold",
        ] {
            assert!(
                !argv.iter().any(|a| a == encoder_only),
                "{encoder_only} with copy: {argv:?}"
            );
        }
    }

    #[test]
    fn the_shown_command_masks_the_key() {
        let config = config_for(
            r#"input = "lavfi:testsrc2""#,
            r#"output = "rtmp://live.example/app/SECRET""#,
            "stable",
        );
        let shown = display_command(&command(&config, &config.streams[0]), &[]);
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("rtmp://live.example/app/****"));
        assert!(shown.contains("'testsrc2'") || shown.contains(" testsrc2 "));
    }
}
