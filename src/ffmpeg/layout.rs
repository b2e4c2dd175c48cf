//! The commands of a stream with fallback (the default): its ingest, which
//! reads the source and hands MPEG-TS to onair's relay, and one output per
//! destination, which reads the relay. Built from the same pieces as a
//! stream's single FFmpeg ([`super::argv`]), so both layouts read a source
//! and write a destination the same way.

use super::argv::{
    analysis_of, audio_args, codec_args, command, global_args, handling, input_args, muxer_args,
    video_args,
};
use super::codecs::{AudioChoice, Handling, VideoChoice};
use crate::config::{AudioMode, Config, Input, StreamSpec, VideoMode};

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

/// The stream as its ingest runs it: named after the `[[stream]]`, with
/// the stream's own profile, video, audio and output options (a row of a
/// destination may have other ones for its output).
pub fn ingest_spec(spec: &StreamSpec) -> StreamSpec {
    StreamSpec {
        name: spec.stream.clone(),
        profile: spec.ingest.profile,
        video: spec.ingest.video,
        audio: spec.ingest.audio,
        output_args: spec.ingest.output_args.clone(),
        ..spec.clone()
    }
}

/// The ingest of a stream with `fallback` (the default), before its source
/// is known: see [`ingest_command_with`].
pub fn ingest_command(config: &Config, spec: &StreamSpec) -> Vec<String> {
    let ingest = ingest_spec(spec);
    let handling = handling(config, &ingest, None);
    let extras = ingest_extras(config, &ingest, &handling);
    ingest_command_with(config, &ingest, &handling, &extras)
}

/// What other parts add to an ingest (`spec` is the ingest's own): the
/// content analysis (levels, alarms, thumbnail) of a stream that has it,
/// reporting on the ingest's stdout beside `-progress`.
pub fn ingest_extras(config: &Config, spec: &StreamSpec, handling: &Handling) -> IngestExtras {
    if !spec.analysis {
        return IngestExtras::default();
    }
    let thumbnail = config.thumbnail_path(&spec.name);
    let analysis = analysis_of(&thumbnail, handling);
    IngestExtras {
        before_input: analysis.input_args(),
        after_main_output: analysis.output_args(),
    }
}

/// The ingest of a stream with `fallback`: reads the source, applies the
/// stream's video and audio handling (decided as for a stream of its own),
/// and writes MPEG-TS to [`INGEST_TS_FD`] for onair's relay. `spec` is the
/// ingest's own ([`ingest_spec`]). It logs at `info` so that it describes
/// the source it opened.
pub fn ingest_command_with(
    config: &Config,
    spec: &StreamSpec,
    handling: &Handling,
    extras: &IngestExtras,
) -> Vec<String> {
    let profile = config.profiles.get(spec.profile);
    let mut a = vec![config.server.ffmpeg.display().to_string()];
    global_args(&mut a, "level+info");
    let mut before = Vec::new();
    if let Input::Network { .. } = spec.input {
        // FFmpeg probes a network source for 5 s by default: a second
        // finds every stream of a live feed (RTMP and RTSP announce them,
        // MPEG-TS has its tables) and brings a returning source back on
        // the air seconds sooner.
        before.extend(["-analyzeduration".to_string(), "1000000".into()]);
    }
    before.extend(extras.before_input.iter().cloned());
    input_args(&mut a, spec, profile, &before);
    codec_args(&mut a, spec, handling, profile);
    a.extend(profile.output_args.iter().cloned());
    a.extend(spec.output_args.iter().cloned());
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
    global_args(&mut a, "level+warning");
    // The relay starts every output on the program tables and a keyframe
    // with its parameter sets: half a second of probing finds the audio as
    // well (an MPEG-TS muxer gathers a few audio frames per packet), where
    // FFmpeg's default 5 s would keep a (re)started output silent. What was
    // probed is kept (no `-fflags nobuffer`): dropped, the output would
    // wait for the next keyframe after writing its header, and HLS's
    // PROGRAM-DATE-TIME (taken when the header is written) would run ahead
    // of the pictures, making low-latency screens stall.
    a.extend(["-analyzeduration", "500000", "-f", "mpegts", "-i", "pipe:0"].map(String::from));
    a.extend(["-map", "0:v:0"].map(String::from));
    let audio = match spec.audio {
        AudioMode::None => AudioChoice::None,
        AudioMode::Aac if spec.ingest.audio != AudioMode::Aac => AudioChoice::Aac,
        _ => AudioChoice::Copy,
    };
    if audio != AudioChoice::None {
        a.extend(["-map", "0:a:0?"].map(String::from));
    }
    let video = match spec.video {
        VideoMode::H264 if spec.ingest.video != VideoMode::H264 => VideoChoice::H264,
        _ => VideoChoice::Copy,
    };
    video_args(&mut a, spec, video, profile);
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
        ingest_command(config, spec),
        output_command(config, spec),
        vec!["slate".into(), slate],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use std::path::Path;

    fn config(text: &str) -> Config {
        load_str(text, Path::new("/etc/onair/streams.toml"), &|_| None).expect("valid config")
    }

    /// Both profiles, every input kind's ingest and every output kind,
    /// pinned in one reviewed file.
    #[test]
    fn ingest_and_output_commands_are_pinned() {
        let mut all = String::new();
        for profile in ["low-latency", "stable"] {
            for input in [
                "lavfi:testsrc2=size=320x180:rate=15",
                "/dev/null",
                "rtsp://cam.local:554/stream1",
                "rtmp://127.0.0.1/live/program",
            ] {
                let c = config(&format!(
                    "[server]\nhls_dir = \"/srv/hls\"\n[[stream]]\nname = \"cam\"\ninput = \"{input}\"\nprofile = \"{profile}\"\n"
                ));
                all.push_str(&format!(
                    "## ingest {profile} / {input}\n{}\n\n",
                    ingest_command(&c, &c.streams[0]).join(" ")
                ));
            }
            for output in [
                "hls",
                "rtmp://live.example/app/KEY",
                "srt://ingest.example:9000",
            ] {
                let c = config(&format!(
                    "[server]\nhls_dir = \"/srv/hls\"\n[[stream]]\nname = \"cam\"\ninput = \"rtmp://h/live/x\"\noutput = \"{output}\"\nprofile = \"{profile}\"\n"
                ));
                all.push_str(&format!(
                    "## output {profile} / {output}\n{}\n\n",
                    output_command(&c, &c.streams[0]).join(" ")
                ));
            }
        }
        insta::assert_snapshot!(all);
    }

    #[test]
    fn outputs_copy_what_the_ingest_made_and_encode_only_a_destinations_own_choice() {
        let c = config(
            "[[stream]]\nname = \"p\"\ninput = \"rtmp://h/live/x\"\naudio = \"copy\"\noutput_args = [\"-b:v\", \"2M\"]\noutputs = [\n  { name = \"same\", url = \"rtmp://a/live/k\" },\n  { name = \"enc\", url = \"rtmp://b/live/k\", video = \"h264\", audio = \"aac\", output_args = [\"-metadata\", \"title=x\"] },\n  { name = \"mute\", url = \"rtmp://c/live/k\", audio = \"none\" },\n]\n",
        );
        let has = |argv: &[String], pair: [&str; 2]| argv.windows(2).any(|w| w == pair);
        let ingest = ingest_command(&c, &c.streams[0]);
        assert!(has(&ingest, ["-c:v", "copy"]) && has(&ingest, ["-c:a", "copy"]));
        assert!(
            has(&ingest, ["-b:v", "2M"]),
            "the stream's own options go to the ingest"
        );
        assert!(has(&ingest, ["-analyzeduration", "1000000"]));
        assert!(has(&ingest, ["mpegts", "pipe:3"]));

        let same = output_command(&c, &c.streams[0]);
        assert!(has(&same, ["-c:v", "copy"]) && has(&same, ["-c:a", "copy"]));
        assert!(!same.iter().any(|a| a == "-b:v"), "not twice: {same:?}");
        assert!(has(&same, ["-i", "pipe:0"]));

        let enc = output_command(&c, &c.streams[1]);
        assert!(has(&enc, ["-c:v", "libx264"]) && has(&enc, ["-c:a", "aac"]));
        assert!(has(&enc, ["-metadata", "title=x"]));

        let mute = output_command(&c, &c.streams[2]);
        assert!(mute.iter().any(|a| a == "-an") && !mute.iter().any(|a| a == "0:a:0?"));
    }

    #[test]
    fn the_extras_of_other_parts_stand_before_the_input_and_after_the_main_output() {
        let c = config("[[stream]]\nname = \"cam\"\ninput = \"rtsp://cam/s\"\nanalysis = false\n");
        let extras = IngestExtras {
            before_input: vec!["-skip_frame:v".into(), "nokey".into()],
            after_main_output: vec!["-f".into(), "null".into(), "-".into()],
        };
        let ingest = ingest_spec(&c.streams[0]);
        let argv = ingest_command_with(&c, &ingest, &handling(&c, &ingest, None), &extras);
        let i = argv.iter().position(|a| a == "-i").expect("-i");
        assert_eq!(argv[i - 2..i], ["-skip_frame:v", "nokey"]);
        let ts = argv
            .iter()
            .position(|a| a == "pipe:3")
            .expect("main output");
        assert_eq!(argv[ts + 1..], ["-f", "null", "-"]);
    }

    #[test]
    fn the_ingest_measures_the_source_and_the_outputs_only_remux() {
        let c = config(
            "[[stream]]\nname = \"cam\"\ninput = \"rtsp://cam/s\"\nvideo = \"copy\"\noutputs = [{ name = \"yt\", url = \"rtmp://a/live/k\" }]\n",
        );
        let argv = ingest_command(&c, &c.streams[0]);
        let i = argv.iter().position(|a| a == "-i").expect("-i");
        assert!(
            argv[..i]
                .windows(2)
                .any(|w| w == ["-skip_frame:v", "nokey"]),
            "a copied picture is decoded at its keyframes only: {argv:?}"
        );
        let ts = argv
            .iter()
            .position(|a| a == "pipe:3")
            .expect("main output");
        let after = argv[ts + 1..].join(" ");
        assert!(
            after.contains("astats") && after.ends_with(".thumbs/cam.jpg"),
            "{after}"
        );
        let output = output_command(&c, &c.streams[0]).join(" ");
        assert!(
            !output.contains("astats") && !output.contains(".thumbs"),
            "{output}"
        );
    }
}
