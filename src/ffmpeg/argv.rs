//! The FFmpeg argument vector of a stream, built from its profile, input
//! kind and output kind. Never a shell string: each argument is its own item.
//!
//! Two traps of FFmpeg are avoided by construction: no option ever follows
//! the output URL (FFmpeg only warns and may ignore it), and no encoder
//! option (`-preset`, `-tune`, keyframes) is emitted with `-c:v copy`, where
//! FFmpeg silently ignores it.

use crate::config::{
    AudioMode, Config, Input, Output, Profile, ProfileSettings, StreamSpec, VideoMode,
};
use crate::secrets;
use std::path::PathBuf;

/// Network reads give up after this long without data, so a dead source
/// becomes an error and a restart instead of a process hanging forever.
const NETWORK_TIMEOUT_US: &str = "5000000";

/// Where a stream's live playlist is written.
pub fn playlist_path(config: &Config, spec: &StreamSpec) -> PathBuf {
    config.stream_hls_dir(&spec.name).join("index.m3u8")
}

/// The full command: the FFmpeg binary followed by [`args`].
pub fn command(config: &Config, spec: &StreamSpec) -> Vec<String> {
    let mut cmd = vec![config.server.ffmpeg.display().to_string()];
    cmd.extend(args(config, spec));
    cmd
}

/// The arguments FFmpeg runs with for this stream when it has an FFmpeg of
/// its own from source to destination (`fallback = false`).
pub fn args(config: &Config, spec: &StreamSpec) -> Vec<String> {
    let profile = config.profiles.get(spec.profile);
    let mut a: Vec<String> = Vec::with_capacity(64);
    global_args(&mut a);
    input_args(&mut a, spec, spec.profile, profile);
    codec_args(&mut a, spec.video, spec.audio, spec.profile, profile);
    a.extend(profile.output_args.iter().cloned());
    a.extend(spec.output_args.iter().cloned());
    muxer_args(&mut a, config, spec);
    a
}

/// Options that stand before everything: quiet logs with their level, and
/// the progress report on stdout that the stall watchdog listens to.
fn global_args(a: &mut Vec<String>) {
    a.extend(
        [
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "level+warning",
            "-progress",
            "pipe:1",
            "-y",
        ]
        .map(String::from),
    );
}

/// How the source is read, up to and including `-i`.
fn input_args(a: &mut Vec<String>, spec: &StreamSpec, kind: Profile, profile: &ProfileSettings) {
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    // Input options: everything here must stand before `-i`.
    if kind == Profile::LowLatency {
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
    a.push("-i".into());
    a.push(match &spec.input {
        Input::Lavfi(graph) => graph.clone(),
        Input::File(path) => path.display().to_string(),
        Input::Network { url, .. } => url.clone(),
    });
}

/// Stream selection and codecs.
fn codec_args(
    a: &mut Vec<String>,
    video: VideoMode,
    audio: AudioMode,
    kind: Profile,
    profile: &ProfileSettings,
) {
    a.extend(["-map", "0:v:0"].map(String::from));
    if audio != AudioMode::None {
        a.extend(["-map", "0:a:0?"].map(String::from));
    }
    video_args(a, video, kind, profile);
    audio_args(a, audio);
}

fn audio_args(a: &mut Vec<String>, audio: AudioMode) {
    match audio {
        AudioMode::Aac => {
            a.extend(["-c:a", "aac", "-b:a", "128k", "-ar", "48000"].map(String::from))
        }
        AudioMode::Copy => a.extend(["-c:a", "copy"].map(String::from)),
        AudioMode::None => a.push("-an".into()),
    }
}

/// The output comes last, and nothing follows it. An HLS output's
/// `-start_number` differs per run: the engine adds it with
/// `hls::numbered(argv, hls::start_number(..))` when it starts FFmpeg.
fn muxer_args(a: &mut Vec<String>, config: &Config, spec: &StreamSpec) {
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

/// Pieces other parts of onair add to a stream's ingest, the one FFmpeg
/// that reads the source: content analysis and source probing plug in
/// here, so they run wherever the source is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestExtras {
    /// Options placed just before `-i` (after onair's own input options).
    pub before_input: Vec<String>,
    /// Extra outputs placed after the main transport stream output (which
    /// stays output #0, the one `-progress` reports on).
    pub after_main_output: Vec<String>,
}

/// The file descriptor the ingest writes its transport stream to; stdout
/// keeps the progress report, stderr the log.
pub const INGEST_TS_FD: i32 = 3;

/// The ingest of a stream with `fallback` (the default): reads the source,
/// applies the stream's own video and audio handling, and writes MPEG-TS to
/// [`INGEST_TS_FD`] for onair's relay.
pub fn ingest_command(config: &Config, spec: &StreamSpec, extras: &IngestExtras) -> Vec<String> {
    let kind = spec.ingest.profile;
    let profile = config.profiles.get(kind);
    let mut a = vec![config.server.ffmpeg.display().to_string()];
    global_args(&mut a);
    let mut input = Vec::new();
    input_args(&mut input, spec, kind, profile);
    // `-i URL` are the last two items: the extras stand just before them.
    let at = input.len().saturating_sub(2);
    let mut before = Vec::new();
    if let Input::Network { .. } = spec.input {
        // FFmpeg probes a network source for 5 s by default: a second
        // finds every stream of a live feed (RTMP and RTSP announce them,
        // MPEG-TS has its tables) and brings a returning source back on
        // the air seconds sooner.
        before.extend(["-analyzeduration".to_string(), "1000000".into()]);
    }
    before.extend(extras.before_input.iter().cloned());
    input.splice(at..at, before);
    a.extend(input);
    codec_args(&mut a, spec.ingest.video, spec.ingest.audio, kind, profile);
    a.extend(profile.output_args.iter().cloned());
    a.extend(spec.ingest.output_args.iter().cloned());
    a.extend([
        "-f".to_string(),
        "mpegts".into(),
        format!("pipe:{INGEST_TS_FD}"),
    ]);
    a.extend(extras.after_main_output.iter().cloned());
    a
}

/// One output of a stream with `fallback`: reads the relay's transport
/// stream on stdin and remuxes it to its destination, re-encoding only
/// what this destination asks to have other than its stream.
pub fn output_command(config: &Config, spec: &StreamSpec) -> Vec<String> {
    let profile = config.profiles.get(spec.profile);
    let mut a = vec![config.server.ffmpeg.display().to_string()];
    global_args(&mut a);
    // The relay starts every output on the program tables and a keyframe
    // with its parameter sets: half a second of probing is plenty, where
    // FFmpeg's default 5 s would keep a (re)started output silent.
    a.extend(
        [
            "-analyzeduration",
            "500000",
            "-f",
            "mpegts",
            "-i",
            "pipe:0",
            "-map",
            "0:v:0",
        ]
        .map(String::from),
    );
    if spec.audio != AudioMode::None {
        a.extend(["-map", "0:a:0?"].map(String::from));
    }
    let video = if spec.video == spec.ingest.video {
        VideoMode::Copy
    } else {
        spec.video
    };
    video_args(&mut a, video, spec.profile, profile);
    let audio = match spec.audio {
        AudioMode::None => AudioMode::None,
        mode if mode == spec.ingest.audio => AudioMode::Copy,
        mode => mode,
    };
    audio_args(&mut a, audio);
    // The stream's own options went to the ingest; a destination's own
    // (when it sets other ones) apply to its output.
    if spec.output_args != spec.ingest.output_args {
        a.extend(spec.output_args.iter().cloned());
    }
    muxer_args(&mut a, config, spec);
    a
}

/// Every command a row's processes run, for telling whether a reload
/// changes any of them: one for a stream without fallback, the ingest's and
/// the output's (and what the slate is made of) with it.
pub fn commands(config: &Config, spec: &StreamSpec) -> Vec<Vec<String>> {
    if !spec.fallback {
        return vec![command(config, spec)];
    }
    let slate = match &spec.slate {
        Some(path) => path.display().to_string(),
        None => "card".to_string(),
    };
    vec![
        ingest_command(config, spec, &IngestExtras::default()),
        output_command(config, spec),
        vec!["slate".into(), slate],
    ]
}

fn video_args(a: &mut Vec<String>, video: VideoMode, kind: Profile, profile: &ProfileSettings) {
    match video {
        VideoMode::Copy => a.extend(["-c:v", "copy"].map(String::from)),
        VideoMode::H264 => {
            a.extend(["-c:v", "libx264", "-preset", "veryfast"].map(String::from));
            if kind == Profile::LowLatency {
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
                    let last = argv.last().expect("argv");
                    let expected_last = match &spec.output {
                        Output::Hls => playlist_path(&config, spec).display().to_string(),
                        Output::Rtmp(url) | Output::Srt(url) => url.clone(),
                    };
                    assert_eq!(last, &expected_last);
                    let i = argv.iter().position(|a| a == "-i").expect("-i");
                    for input_only in [
                        "-re",
                        "-rtsp_transport",
                        "-rtmp_live",
                        "-rw_timeout",
                        "-fflags",
                        "-stream_loop",
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
