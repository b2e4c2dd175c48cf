//! Turning the file as written into the resolved [`Config`]: defaults,
//! `${VAR}` values, paths relative to the file, and a problem with its place
//! for every value that cannot be used.
//!
//! Inputs and outputs are checked in [`super::urls`], screens in
//! [`super::screens`].

use super::expand;
use super::problem::{Place, Problem, line_col};
use super::schema::{self, Text};
use super::*;
use std::collections::HashSet;
use std::path::Path;
use toml::Spanned;

pub(super) const NAME_RULE: &str = "names use only a-z, 0-9, '_' and '-'";

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Collects problems and `${VAR}` values while resolving one file.
pub(super) struct Resolver<'a> {
    pub(super) text: &'a str,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    pub(super) problems: Vec<Problem>,
    pub(super) secrets: Vec<String>,
    pub(super) base: PathBuf,
}

impl Resolver<'_> {
    pub(super) fn problem(&mut self, offset: usize, message: impl Into<String>) {
        let (line, col) = line_col(self.text, offset);
        self.problems.push(Problem {
            line,
            col,
            message: message.into(),
        });
    }

    /// Expands `${VAR}` in a value that is shown as written: a path, an
    /// address, the text of an overlay. `$${` stands for a literal `${`.
    pub(super) fn expand(&mut self, value: &Text) -> String {
        self.expand_keeping(value, false)
    }

    /// Expands `${VAR}` in a value that may carry a key or a password (a
    /// URL, extra FFmpeg arguments): what came from the environment is
    /// masked wherever onair shows, logs or serves text.
    pub(super) fn expand_secret(&mut self, value: &Text) -> String {
        self.expand_keeping(value, true)
    }

    fn expand_keeping(&mut self, value: &Text, secret: bool) -> String {
        let expanded = expand::expand(value.get_ref(), self.env);
        for (piece, message) in expanded.problems {
            let offset = self.offset_of(value, &piece);
            self.problem(offset, message);
        }
        if secret {
            self.secrets.extend(expanded.secrets);
        }
        expanded.value
    }

    /// Where `needle` (a piece of the value) sits in the file, or the value's
    /// own start when escapes make the raw text differ.
    fn offset_of(&self, value: &Text, needle: &str) -> usize {
        let span = value.span();
        self.text
            .get(span.clone())
            .and_then(|src| src.find(needle))
            .map_or(span.start, |i| span.start + i)
    }

    /// Expands extra FFmpeg arguments (secret: they may carry a token).
    pub(super) fn expand_list(&mut self, values: &Option<Vec<Text>>) -> Vec<String> {
        values
            .iter()
            .flatten()
            .map(|v| self.expand_secret(v))
            .collect()
    }

    pub(super) fn resolve(&mut self, file: schema::File, path: &Path) -> Config {
        let server = self.server(&file.server);
        let profiles = Profiles {
            low_latency: self.profile(Profile::LowLatency, &file.profile.low_latency),
            stable: self.profile(Profile::Stable, &file.profile.stable),
        };
        let default_stall = file
            .server
            .stall_timeout
            .as_ref()
            .map(|s| self.seconds(s, "stall_timeout"))
            .unwrap_or(Duration::from_secs(10));
        let server_slate = self.slate(&file.server.slate);
        let defaults = StreamDefaults {
            stall_timeout: default_stall,
            analysis: file.server.analysis.unwrap_or(true),
            alarms: AlarmSettings::default().with(self.alarm_keys(
                &file.server.silent_below,
                &file.server.silent_after,
                &file.server.black_after,
                &file.server.frozen_after,
            )),
        };
        let mut streams = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        let mut literal_keys = Vec::new();
        for section in &file.stream {
            for mut spec in self.stream(section, &defaults, &mut literal_keys) {
                if spec.slate.is_none() {
                    spec.slate.clone_from(&server_slate);
                }
                if !names.insert(spec.name.clone()) {
                    let offset = section.name.span().start;
                    self.problem(
                        offset,
                        format!(
                            "duplicate stream name `{}`: every stream needs its own name",
                            spec.name
                        ),
                    );
                }
                streams.push(spec);
            }
        }
        let mut screens = Vec::new();
        let mut screen_names = HashSet::new();
        for section in &file.screen {
            if let Some(screen) = self.screen(section, &names) {
                if !screen_names.insert(screen.name.clone()) {
                    self.problem(
                        section.name.span().start,
                        format!("duplicate screen name `{}`", screen.name),
                    );
                }
                screens.push(screen);
            }
        }
        Config {
            path: path.to_path_buf(),
            server,
            profiles,
            streams,
            screens,
            secrets: Vec::new(),
            warnings: Vec::new(),
            literal_keys,
        }
    }

    fn server(&mut self, section: &schema::ServerSection) -> ServerSettings {
        let listen = match &section.listen {
            Some(text) => {
                let value = self.expand(text);
                match value.parse::<SocketAddr>() {
                    Ok(addr) => addr,
                    Err(_) => {
                        self.problem(
                            text.span().start,
                            format!("`{value}` is not an address: write it as \"IP:PORT\", e.g. \"0.0.0.0:8080\""),
                        );
                        default_listen()
                    }
                }
            }
            None => default_listen(),
        };
        let hls_dir = match &section.hls_dir {
            Some(text) => {
                let value = self.expand(text);
                if value.is_empty() {
                    self.problem(text.span().start, "hls_dir must not be empty");
                }
                self.base.join(value)
            }
            None => self.base.join("hls"),
        };
        let ffmpeg = match &section.ffmpeg {
            Some(text) => {
                let value = self.expand(text);
                if value.contains('/') {
                    self.base.join(value)
                } else {
                    PathBuf::from(value)
                }
            }
            None => PathBuf::from("ffmpeg"),
        };
        let on_alarm = self.on_alarm(&section.on_alarm);
        let operator_allow = match &section.operator_allow {
            None => OperatorAllow::default(),
            Some(entries) => {
                let values: Vec<String> = entries.iter().map(|e| self.expand(e)).collect();
                OperatorAllow::parse(values.iter().map(String::as_str)).unwrap_or_else(
                    |(index, bad)| {
                        self.problem(
                            entries[index].span().start,
                            format!("`{bad}` is not an address or network: write e.g. \"192.168.1.20\" or \"192.168.1.0/24\""),
                        );
                        OperatorAllow::default()
                    },
                )
            }
        };
        let place =
            |text: &Option<Text>| text.as_ref().map(|t| Place::of(self.text, t.span().start));
        ServerSettings {
            listen,
            hls_dir,
            ffmpeg,
            ffmpeg_at: place(&section.ffmpeg),
            hls_dir_at: place(&section.hls_dir),
            operator_allow,
            on_alarm,
        }
    }

    /// A `slate` file, relative to the config's directory; it must exist.
    fn slate(&mut self, text: &Option<Text>) -> Option<PathBuf> {
        let text = text.as_ref()?;
        let value = self.expand(text);
        let path = self.base.join(&value);
        if value.is_empty() || !path.is_file() {
            self.problem(
                text.span().start,
                format!(
                    "slate `{value}` is not a file: give a picture (.png, .jpg) or a video, relative to this file's directory"
                ),
            );
            return None;
        }
        Some(path)
    }

    fn seconds(&mut self, value: &Spanned<f64>, key: &str) -> Duration {
        let secs = *value.get_ref();
        if !(secs > 0.0 && secs < 86_400.0) {
            self.problem(
                value.span().start,
                format!("{key} must be a number of seconds above 0"),
            );
            return Duration::from_secs(10);
        }
        Duration::from_secs_f64(secs)
    }

    fn profile(
        &mut self,
        profile: Profile,
        section: &Option<schema::ProfileSection>,
    ) -> ProfileSettings {
        let mut settings = ProfileSettings::builtin(profile);
        let Some(section) = section else {
            return settings;
        };
        if let Some(v) = &section.hls_time {
            if *v.get_ref() > 0.0 {
                settings.hls_time = *v.get_ref();
            } else {
                self.problem(v.span().start, "hls_time must be above 0 seconds");
            }
        }
        if let Some(v) = &section.hls_list_size {
            match u32::try_from(*v.get_ref()) {
                Ok(n) if n >= 1 => settings.hls_list_size = n,
                _ => self.problem(
                    v.span().start,
                    "hls_list_size must be a whole number of at least 1",
                ),
            }
        }
        if let Some(v) = &section.gop_seconds {
            if *v.get_ref() > 0.0 {
                settings.gop_seconds = *v.get_ref();
            } else {
                self.problem(v.span().start, "gop_seconds must be above 0");
            }
        }
        if section.input_args.is_some() {
            settings.input_args = self.expand_list(&section.input_args);
        }
        if section.output_args.is_some() {
            settings.output_args = self.expand_list(&section.output_args);
        }
        settings.screen_delay = ProfileSettings::default_screen_delay(settings.hls_time);
        if let Some(v) = &section.screen_delay {
            self.screen_delay(&mut settings, v);
        }
        settings
    }

    /// An explicit `screen_delay`: longer than a segment (a screen shows a
    /// segment once it is complete), shorter than the playlist.
    fn screen_delay(&mut self, settings: &mut ProfileSettings, value: &Spanned<f64>) {
        let delay = *value.get_ref();
        let window = settings.hls_time * f64::from(settings.hls_list_size);
        if delay.is_nan() || delay <= settings.hls_time {
            let message = format!(
                "screen_delay must be longer than a segment (hls_time = {} s): a screen can only show a segment once it is complete",
                settings.hls_time
            );
            self.problem(value.span().start, message);
        } else if delay >= window {
            let message = format!(
                "screen_delay must be shorter than the playlist (hls_time × hls_list_size = {window} s), or screens would look for segments already gone"
            );
            self.problem(value.span().start, message);
        } else {
            settings.screen_delay = delay;
        }
    }

    fn parse_profile(&mut self, text: &Option<Text>, default: Profile) -> Profile {
        match text {
            None => default,
            Some(t) => Profile::parse(t.get_ref()).unwrap_or_else(|| {
                self.problem(
                    t.span().start,
                    format!(
                        "unknown profile `{}`: use \"low-latency\" or \"stable\"",
                        t.get_ref()
                    ),
                );
                default
            }),
        }
    }

    fn parse_video(&mut self, text: &Option<Text>, default: VideoMode) -> VideoMode {
        match text
            .as_ref()
            .map(|t| (t.get_ref().as_str(), t.span().start))
        {
            None => default,
            Some(("auto", _)) => VideoMode::Auto,
            Some(("copy", _)) => VideoMode::Copy,
            Some(("h264", _)) => VideoMode::H264,
            Some((other, at)) => {
                self.problem(
                    at,
                    format!("unknown video mode `{other}`: use \"auto\", \"copy\" or \"h264\""),
                );
                default
            }
        }
    }

    fn parse_audio(&mut self, text: &Option<Text>, default: AudioMode) -> AudioMode {
        match text
            .as_ref()
            .map(|t| (t.get_ref().as_str(), t.span().start))
        {
            None => default,
            Some(("auto", _)) => AudioMode::Auto,
            Some(("aac", _)) => AudioMode::Aac,
            Some(("copy", _)) => AudioMode::Copy,
            Some(("none", _)) => AudioMode::None,
            Some((other, at)) => {
                self.problem(
                    at,
                    format!(
                        "unknown audio mode `{other}`: use \"auto\", \"aac\", \"copy\" or \"none\""
                    ),
                );
                default
            }
        }
    }

    fn stream(
        &mut self,
        section: &schema::StreamSection,
        defaults: &StreamDefaults,
        literal_keys: &mut Vec<String>,
    ) -> Vec<StreamSpec> {
        let name = section.name.get_ref().clone();
        if !valid_name(&name) {
            self.problem(
                section.name.span().start,
                format!("invalid stream name `{name}`: {NAME_RULE}"),
            );
        }
        let input = self.input(&section.input);
        let loop_input = section.loop_input.unwrap_or(false);
        if loop_input && !matches!(input, Input::File(_)) {
            self.problem(
                section.input.span().start,
                "`loop = true` applies only to file inputs",
            );
        }
        let profile = self.parse_profile(&section.profile, Profile::Stable);
        let enabled = section.enabled.unwrap_or(true);
        let mut video = self.parse_video(&section.video, VideoMode::Auto);
        if matches!(input, Input::Lavfi(_)) {
            video = VideoMode::H264;
        }
        let mut audio = self.parse_audio(&section.audio, AudioMode::Auto);
        // A synthetic source's audio is raw PCM: `auto` means AAC from the start.
        if matches!(input, Input::Lavfi(_)) && audio == AudioMode::Auto {
            audio = AudioMode::Aac;
        }
        let stall_timeout = section
            .stall_timeout
            .as_ref()
            .map(|s| self.seconds(s, "stall_timeout"))
            .unwrap_or(defaults.stall_timeout);
        let alarms = defaults.alarms.with(self.alarm_keys(
            &section.silent_below,
            &section.silent_after,
            &section.black_after,
            &section.frozen_after,
        ));
        let analysis = section.analysis.unwrap_or(defaults.analysis);
        let input_args = self.expand_list(&section.input_args);
        let output_args = self.expand_list(&section.output_args);
        let (line, _) = line_col(self.text, section.name.span().start);
        let slate = self.slate(&section.slate);
        let base = StreamSpec {
            name: name.clone(),
            input,
            loop_input,
            output: Output::Hls,
            profile,
            enabled,
            video,
            audio,
            input_args,
            output_args: output_args.clone(),
            stall_timeout,
            analysis,
            alarms,
            line,
            stream: name.clone(),
            ingest: IngestSettings {
                profile,
                video,
                audio,
                output_args,
            },
            fallback: section.fallback.unwrap_or(true),
            slate,
        };
        match (&section.output, &section.outputs) {
            (Some(_), Some(list)) => {
                let at = list
                    .first()
                    .map_or(section.name.span().start, |d| d.span().start);
                self.problem(at, "use either `output` or `outputs`, not both");
                Vec::new()
            }
            (Some(output), None) => vec![StreamSpec {
                output: self.output(output, literal_keys, &name),
                ..base
            }],
            (None, None) => vec![base],
            (None, Some(list)) => {
                if list.is_empty() {
                    self.problem(
                        section.name.span().start,
                        "`outputs` is empty: list at least one destination",
                    );
                }
                let mut seen = HashSet::new();
                let mut specs = Vec::new();
                for dest in list {
                    let d = dest.get_ref();
                    let dest_name = d.name.get_ref().clone();
                    if !valid_name(&dest_name) {
                        self.problem(
                            d.name.span().start,
                            format!("invalid destination name `{dest_name}`: {NAME_RULE}"),
                        );
                    }
                    if !seen.insert(dest_name.clone()) {
                        self.problem(
                            d.name.span().start,
                            format!("duplicate destination name `{dest_name}`"),
                        );
                    }
                    let full = format!("{name}/{dest_name}");
                    let output = self.output(&d.url, literal_keys, &full);
                    let spec = StreamSpec {
                        name: full,
                        output,
                        enabled: d.enabled.unwrap_or(base.enabled),
                        profile: self.parse_profile(&d.profile, base.profile),
                        video: if matches!(base.input, Input::Lavfi(_)) {
                            VideoMode::H264
                        } else {
                            self.parse_video(&d.video, base.video)
                        },
                        audio: self.parse_audio(&d.audio, base.audio),
                        output_args: if d.output_args.is_some() {
                            self.expand_list(&d.output_args)
                        } else {
                            base.output_args.clone()
                        },
                        line: line_col(self.text, d.name.span().start).0,
                        // One FFmpeg per destination reads the same source:
                        // the first one watches it for all of them.
                        analysis: base.analysis && specs.is_empty(),
                        ..base.clone()
                    };
                    specs.push(spec);
                }
                specs
            }
        }
    }
}

/// What `[server]` sets for every stream that does not say otherwise.
pub(super) struct StreamDefaults {
    stall_timeout: Duration,
    analysis: bool,
    alarms: AlarmSettings,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}
