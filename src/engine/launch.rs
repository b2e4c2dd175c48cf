//! Turning a resolved stream into what its task runs and shows.

use super::stream::{Launch, writes_hls};
use crate::config::{Config, Input, Output, StreamSpec};
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

/// Builds the launch of one stream under a config; `secret_values` is the
/// config's `${VAR}` values, shared by all its streams.
pub(crate) fn launch(
    config: &Config,
    spec: &StreamSpec,
    secret_values: &Arc<Vec<String>>,
) -> Launch {
    let argv = ffmpeg::command(config, spec);
    let shown_command = ffmpeg::display_command(&argv, secret_values);
    let shown_input = match &spec.input {
        Input::Lavfi(graph) => format!("lavfi:{graph}"),
        Input::File(path) => path.display().to_string(),
        Input::Network { url, .. } => secrets::mask_url(url),
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
        shown_command: secrets::mask_text(&shown_command, secret_values),
        shown_input: secrets::mask_text(&shown_input, secret_values),
        shown_output: secrets::mask_text(&shown_output, secret_values),
        thumbnail: spec.analysis.then(|| config.thumbnail_path(&spec.name)),
    }
}
