//! Reading, expanding and validating `streams.toml`.
//!
//! A broken file must never take anything down: every problem is collected
//! with its `FILE:LINE:COL` and the caller keeps the config it already had.

use super::schema::{self, Text};
use super::*;
use std::collections::HashSet;
use std::path::Path;
use toml::Spanned;

/// One mistake in the file, at a place the operator can jump to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{}: cannot read: {source} (check the path and its permissions)", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file was read but is not a valid onair config.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The first problem as one `FILE:LINE:COL: message` line, for a status bar.
    pub fn headline(&self) -> String {
        match self {
            ConfigError::Io { .. } => self.to_string(),
            ConfigError::Invalid { path, problems } => {
                let first = problems
                    .first()
                    .map(|p| format!("{}:{}:{}: {}", path.display(), p.line, p.col, p.message))
                    .unwrap_or_default();
                if problems.len() > 1 {
                    format!("{first} (+{} more)", problems.len() - 1)
                } else {
                    first
                }
            }
        }
    }
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}:{}:{}: {}", path.display(), p.line, p.col, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads and resolves a config file, with `${VAR}` taken from the environment.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let absolute = absolute_path(path);
    let text = std::fs::read_to_string(&absolute).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut config = load_str(&text, &absolute, &|name| std::env::var(name).ok())
        .map_err(|e| with_display_path(e, path))?;
    if !config.literal_keys.is_empty() && readable_by_others(&absolute) {
        config.warnings.push(format!(
            "{} holds a literal stream key (in {}) and is readable by other users: run `chmod 600 {}` or move the key into ${{VAR}}",
            path.display(),
            config.literal_keys.join(", "),
            path.display()
        ));
    }
    Ok(config)
}

fn with_display_path(error: ConfigError, path: &Path) -> ConfigError {
    match error {
        ConfigError::Invalid { problems, .. } => ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        },
        other => other,
    }
}

fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o004 != 0)
        .unwrap_or(false)
}

fn absolute_path(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Resolves config text; `path` places relative paths and names the file in
/// messages, `env` answers `${VAR}` (a seam so tests need not touch the
/// process environment).
pub fn load_str(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let file: schema::File = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: vec![Problem {
                line,
                col,
                message: e.message().trim().to_string(),
            }],
        }
    })?;
    let mut resolver = Resolver {
        text,
        env,
        problems: Vec::new(),
        secrets: Vec::new(),
        base: path.parent().map(PathBuf::from).unwrap_or_default(),
    };
    let config = resolver.resolve(file, path);
    if resolver.problems.is_empty() {
        let mut config = config;
        config.secrets = resolver.secrets;
        config.secrets.sort();
        config.secrets.dedup();
        Ok(config)
    } else {
        let mut problems = resolver.problems;
        problems.sort_by_key(|p| (p.line, p.col));
        Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

const NAME_RULE: &str = "names use only a-z, 0-9, '_' and '-'";

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

struct Resolver<'a> {
    text: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
    secrets: Vec<String>,
    base: PathBuf,
}

impl Resolver<'_> {
    fn problem(&mut self, offset: usize, message: impl Into<String>) {
        let (line, col) = line_col(self.text, offset);
        self.problems.push(Problem {
            line,
            col,
            message: message.into(),
        });
    }

    /// Expands `${VAR}` in a string value; `$${` stands for a literal `${`.
    fn expand(&mut self, value: &Text) -> String {
        let raw = value.get_ref();
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw.as_str();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(after) = tail.strip_prefix("${") {
                let Some(end) = after.find('}') else {
                    let offset = self.offset_of(value, tail);
                    self.problem(
                        offset,
                        "unterminated `${`: write `${NAME}`, or `$${` for a literal `${`",
                    );
                    return out;
                };
                let name = &after[..end];
                let offset = self.offset_of(value, &tail[..end + 3]);
                if name.is_empty()
                    || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    || name.as_bytes()[0].is_ascii_digit()
                {
                    self.problem(
                        offset,
                        format!("`${{{name}}}` is not a valid variable name"),
                    );
                } else {
                    match (self.env)(name) {
                        Some(found) => {
                            if !found.is_empty() {
                                self.secrets.push(found.clone());
                            }
                            out.push_str(&found);
                        }
                        None => self.problem(
                            offset,
                            format!("environment variable `{name}` is not set: export it before starting onair"),
                        ),
                    }
                }
                rest = &after[end + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        out
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

    fn expand_list(&mut self, values: &Option<Vec<Text>>) -> Vec<String> {
        values.iter().flatten().map(|v| self.expand(v)).collect()
    }

    fn resolve(&mut self, file: schema::File, path: &Path) -> Config {
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
        let mut streams = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        let mut literal_keys = Vec::new();
        for section in &file.stream {
            for spec in self.stream(section, default_stall, &mut literal_keys) {
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
        ServerSettings {
            listen,
            hls_dir,
            ffmpeg,
        }
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
            let delay = *v.get_ref();
            let window = settings.hls_time * f64::from(settings.hls_list_size);
            if delay.is_nan() || delay <= settings.hls_time {
                let message = format!(
                    "screen_delay must be longer than a segment (hls_time = {} s): a screen can only show a segment once it is complete",
                    settings.hls_time
                );
                self.problem(v.span().start, message);
            } else if delay >= window {
                let message = format!(
                    "screen_delay must be shorter than the playlist (hls_time × hls_list_size = {window} s), or screens would look for segments already gone"
                );
                self.problem(v.span().start, message);
            } else {
                settings.screen_delay = delay;
            }
        }
        settings
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
            Some(("copy", _)) => VideoMode::Copy,
            Some(("h264", _)) => VideoMode::H264,
            Some((other, at)) => {
                self.problem(
                    at,
                    format!("unknown video mode `{other}`: use \"copy\" or \"h264\""),
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
            Some(("aac", _)) => AudioMode::Aac,
            Some(("copy", _)) => AudioMode::Copy,
            Some(("none", _)) => AudioMode::None,
            Some((other, at)) => {
                self.problem(
                    at,
                    format!("unknown audio mode `{other}`: use \"aac\", \"copy\" or \"none\""),
                );
                default
            }
        }
    }

    fn input(&mut self, text: &Text) -> Input {
        let value = self.expand(text);
        if let Some(graph) = value.strip_prefix("lavfi:") {
            if graph.trim().is_empty() {
                self.problem(
                    text.span().start,
                    "`lavfi:` needs a filtergraph, e.g. \"lavfi:testsrc2=size=640x360:rate=25\"",
                );
            }
            return Input::Lavfi(graph.to_string());
        }
        if let Some(file) = value.strip_prefix("file://") {
            return Input::File(self.base.join(file));
        }
        if let Some((scheme, rest)) = value.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if scheme.is_empty()
                || !scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+')
            {
                self.problem(text.span().start, format!("`{scheme}` is not a URL scheme"));
            } else if rest.is_empty() || rest.starts_with('/') && scheme != "file" {
                self.problem(
                    text.span().start,
                    format!("input URL has no host after `{scheme}://`"),
                );
            }
            return Input::Network { scheme, url: value };
        }
        if value.is_empty() {
            self.problem(text.span().start, "input must not be empty");
        }
        let path = self.base.join(&value);
        if !path.exists() {
            self.problem(
                text.span().start,
                format!(
                    "input file `{value}` does not exist (paths are relative to the config file)"
                ),
            );
        }
        Input::File(path)
    }

    fn output(&mut self, text: &Text, literal_keys: &mut Vec<String>, stream: &str) -> Output {
        let value = self.expand(text);
        if value == "hls" {
            return Output::Hls;
        }
        let lower = value.to_ascii_lowercase();
        let (output, rest) = if let Some(rest) = lower
            .strip_prefix("rtmp://")
            .or_else(|| lower.strip_prefix("rtmps://"))
        {
            (Output::Rtmp(value.clone()), rest)
        } else if let Some(rest) = lower.strip_prefix("srt://") {
            (Output::Srt(value.clone()), rest)
        } else {
            self.problem(
                text.span().start,
                "output must be \"hls\" or an rtmp://, rtmps:// or srt:// URL",
            );
            return Output::Hls;
        };
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with(':') {
            self.problem(text.span().start, "output URL has no host");
        }
        let raw = text.get_ref();
        let literal_key = !raw.contains("${")
            && match &output {
                Output::Rtmp(_) => rest
                    .split('?')
                    .next()
                    .is_some_and(|p| p.split('/').filter(|s| !s.is_empty()).count() >= 3),
                Output::Srt(_) => rest.contains("streamid=") || rest.contains("passphrase="),
                Output::Hls => false,
            };
        if literal_key {
            literal_keys.push(stream.to_string());
        }
        output
    }

    fn stream(
        &mut self,
        section: &schema::StreamSection,
        default_stall: Duration,
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
        let mut video = self.parse_video(&section.video, VideoMode::Copy);
        if matches!(input, Input::Lavfi(_)) {
            video = VideoMode::H264;
        }
        let audio = self.parse_audio(&section.audio, AudioMode::Aac);
        let stall_timeout = section
            .stall_timeout
            .as_ref()
            .map(|s| self.seconds(s, "stall_timeout"))
            .unwrap_or(default_stall);
        let input_args = self.expand_list(&section.input_args);
        let output_args = self.expand_list(&section.output_args);
        let (line, _) = line_col(self.text, section.name.span().start);
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
            output_args,
            stall_timeout,
            line,
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
                        ..base.clone()
                    };
                    specs.push(spec);
                }
                specs
            }
        }
    }

    fn screen(
        &mut self,
        section: &schema::ScreenSection,
        streams: &HashSet<String>,
    ) -> Option<ScreenSpec> {
        let name = section.name.get_ref().clone();
        if !valid_name(&name) {
            self.problem(
                section.name.span().start,
                format!("invalid screen name `{name}`: {NAME_RULE}"),
            );
        }
        let stream = section.stream.get_ref().clone();
        if !streams.contains(&stream) {
            self.problem(
                section.stream.span().start,
                format!("screen `{name}` plays `{stream}`, which is not a stream in this file"),
            );
        }
        let banner = self.text_overlay(&section.banner, Position::Bottom, "banner");
        let ticker = self.text_overlay(&section.ticker, Position::Bottom, "ticker");
        let logo = section.logo.as_ref().and_then(|o| {
            let overlay = o.get_ref();
            let position = self.position(&overlay.position, Position::TopRight);
            match &overlay.image {
                Some(image) => {
                    let value = self.expand(image);
                    if value.contains("..") || value.starts_with('/') || value.is_empty() {
                        self.problem(
                            image.span().start,
                            "logo image must be a file name inside assets/",
                        );
                        None
                    } else {
                        Some(ImageOverlay {
                            image: value,
                            position,
                        })
                    }
                }
                None => {
                    self.problem(
                        o.span().start,
                        "logo needs `image = \"file.png\"` (a file in assets/)",
                    );
                    None
                }
            }
        });
        let clock = section.clock.as_ref().map(|o| {
            let overlay = o.get_ref();
            let position = self.position(&overlay.position, Position::TopLeft);
            let format = match &overlay.format {
                None => "24h".to_string(),
                Some(f) => {
                    let value = f.get_ref().clone();
                    if !["24h", "24h:ss", "12h", "12h:ss"].contains(&value.as_str()) {
                        self.problem(
                            f.span().start,
                            "clock format must be \"24h\", \"24h:ss\", \"12h\" or \"12h:ss\"",
                        );
                    }
                    value
                }
            };
            ClockOverlay { format, position }
        });
        Some(ScreenSpec {
            name,
            stream,
            banner,
            ticker,
            logo,
            clock,
        })
    }

    fn text_overlay(
        &mut self,
        section: &Option<Spanned<schema::OverlaySection>>,
        default: Position,
        what: &str,
    ) -> Option<TextOverlay> {
        let o = section.as_ref()?;
        let overlay = o.get_ref();
        let position = self.position(&overlay.position, default);
        match &overlay.text {
            Some(text) => Some(TextOverlay {
                text: self.expand(text),
                position,
            }),
            None => {
                self.problem(o.span().start, format!("{what} needs `text = \"...\"`"));
                None
            }
        }
    }

    fn position(&mut self, text: &Option<Text>, default: Position) -> Position {
        match text {
            None => default,
            Some(t) => Position::parse(t.get_ref()).unwrap_or_else(|| {
                self.problem(
                    t.span().start,
                    format!(
                        "unknown position `{}`: use top-left, top, top-right, left, center, right, bottom-left, bottom or bottom-right",
                        t.get_ref()
                    ),
                );
                default
            }),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}
