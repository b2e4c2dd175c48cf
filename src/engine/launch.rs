//! Turning a resolved stream into what its tasks run and show.

use super::relayed::GroupLaunch;
use super::stream::{Launch, writes_hls};
use crate::config::{Config, Input, Output, StreamSpec};
use crate::ffmpeg::slate::SlateSource;
use crate::{ffmpeg, secrets};
use std::sync::Arc;

/// What building a command needs from the config (server and profiles),
/// without every other stream: each launch keeps its own.
fn argv_context(config: &Config) -> Arc<Config> {
    Arc::new(Config {
        path: config.path.clone(),
        server: config.server.clone(),
        profiles: config.profiles.clone(),
        streams: Vec::new(),
        screens: Vec::new(),
        secrets: Vec::new(),
        warnings: Vec::new(),
        literal_keys: Vec::new(),
    })
}

/// Builds the launch of one row under a config; `secret_values` is the
/// config's `${VAR}` values, shared by all its streams. With `fallback` the
/// row's FFmpeg is its output, fed by the stream's relay; without, it is
/// the one FFmpeg from source to destination.
pub(crate) fn launch(
    config: &Config,
    spec: &StreamSpec,
    secret_values: &Arc<Vec<String>>,
) -> Launch {
    let argv = if spec.fallback {
        ffmpeg::output_command(config, spec)
    } else {
        ffmpeg::command(config, spec)
    };
    let shown_output = match &spec.output {
        Output::Hls => "hls".to_string(),
        Output::Rtmp(url) | Output::Srt(url) => secrets::mask_url(url),
    };
    Launch {
        config: argv_context(config),
        hls_dir: writes_hls(spec).then(|| config.stream_hls_dir(&spec.name)),
        spec: spec.clone(),
        secrets: Arc::clone(secret_values),
        shown_command: shown(&argv, secret_values),
        shown_input: secrets::mask_text(&shown_input(spec), secret_values),
        shown_output: secrets::mask_text(&shown_output, secret_values),
        thumbnail: spec.analysis.then(|| config.thumbnail_path(&spec.name)),
    }
}

/// The command a row's own FFmpeg runs before its source is known: when it
/// changes, that FFmpeg restarts.
pub(crate) fn own_command(launch: &Launch) -> Vec<String> {
    if launch.spec.fallback {
        ffmpeg::output_command(&launch.config, &launch.spec)
    } else {
        ffmpeg::command(&launch.config, &launch.spec)
    }
}

fn shown(argv: &[String], secret_values: &[String]) -> String {
    secrets::mask_text(&ffmpeg::display_command(argv, secret_values), secret_values)
}

fn shown_input(spec: &StreamSpec) -> String {
    match &spec.input {
        Input::Lavfi(graph) => format!("lavfi:{graph}"),
        Input::File(path) => path.display().to_string(),
        Input::Network { url, .. } => secrets::mask_url(url),
    }
}

/// The launch of a stream's ingest, relay and slate, from its rows (every
/// row of one `[[stream]]` carries the stream's own settings).
pub(crate) fn group_launch(
    config: &Config,
    rows: &[&StreamSpec],
    secret_values: &Arc<Vec<String>>,
) -> Option<GroupLaunch> {
    let first = rows.first()?;
    let spec = StreamSpec {
        enabled: rows.iter().any(|r| r.enabled),
        ..ffmpeg::ingest_spec(first)
    };
    let argv = ffmpeg::ingest_command(config, first);
    let slate = match &spec.slate {
        Some(path) => SlateSource::file(path),
        None => SlateSource::Card(spec.stream.clone()),
    };
    let ingest = Launch {
        config: argv_context(config),
        hls_dir: None,
        shown_command: shown(&argv, secret_values),
        shown_input: secrets::mask_text(&shown_input(&spec), secret_values),
        shown_output: "relay".to_string(),
        thumbnail: spec.analysis.then(|| config.thumbnail_path(&spec.name)),
        spec,
        secrets: Arc::clone(secret_values),
    };
    let segments = rows
        .iter()
        .find(|r| writes_hls(r))
        .map(|r| config.stream_hls_dir(&r.name));
    Some(GroupLaunch {
        keyframe_seconds: config.profiles.get(ingest.spec.profile).gop_seconds,
        segments,
        with_audio: ingest.spec.audio != crate::config::AudioMode::None,
        ffmpeg: config.server.ffmpeg.clone(),
        slate,
        argv,
        ingest,
    })
}
