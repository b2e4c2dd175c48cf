//! streams.toml: parsing, `${VAR}`, errors with their place, the reload
//! diff and the write-back that keeps the operator's comments.

use onair::config::{self, Change, Config, Output, Profile, load_str};
use std::collections::HashMap;
use std::path::Path;

fn load_with(text: &str, env: &[(&str, &str)]) -> Result<Config, config::ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load_str(text, Path::new("/venue/streams.toml"), &move |name| {
        env.get(name).cloned()
    })
}

fn load(text: &str) -> Config {
    load_with(text, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> String {
    load_with(text, &[])
        .expect_err("should be invalid")
        .to_string()
}

#[test]
fn the_demo_file_is_valid_and_teaches_every_profile() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/streams.toml"))
        .expect("demo");
    let config =
        load_str(&text, Path::new("/demo/streams.toml"), &|_| None).expect("demo is valid");
    let hls: Vec<_> = config
        .streams
        .iter()
        .filter(|s| s.output == Output::Hls)
        .collect();
    assert!(hls.len() >= 3);
    assert!(
        hls.iter()
            .any(|s| s.enabled && s.profile == Profile::LowLatency)
    );
    assert!(
        hls.iter()
            .any(|s| s.enabled && s.profile == Profile::Stable)
    );
    assert!(hls.iter().any(|s| !s.enabled));
    assert!(
        config
            .streams
            .iter()
            .all(|s| matches!(s.input, config::Input::Lavfi(_)))
    );
}

#[test]
fn defaults_are_filled_in_relative_to_the_file() {
    let config = load("[[stream]]\nname = \"cam\"\ninput = \"lavfi:testsrc2\"\n");
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(config.server.hls_dir, Path::new("/venue/hls"));
    assert_eq!(config.server.ffmpeg, Path::new("ffmpeg"));
    let cam = &config.streams[0];
    assert_eq!(cam.output, Output::Hls);
    assert_eq!(cam.profile, Profile::Stable);
    assert!(cam.enabled);
    assert_eq!(cam.stall_timeout.as_secs(), 10);
}

#[test]
fn an_unknown_key_is_reported_at_its_line_and_column() {
    let text = "[[stream]]\nname = \"cam\"\ninput = \"lavfi:testsrc2\"\n  colour = \"red\"\n";
    let message = errors(text);
    assert!(
        message.starts_with("/venue/streams.toml:4:3: unknown field `colour`"),
        "{message}"
    );
}

#[test]
fn a_syntax_error_is_reported_at_its_place() {
    let message = errors("[server]\nlisten = \"0.0.0.0:8080\n");
    assert!(message.starts_with("/venue/streams.toml:2:"), "{message}");
}

#[test]
fn every_semantic_problem_is_listed_in_file_order() {
    let text = r#"
[[stream]]
name = "Cam 1"
input = "lavfi:testsrc2"
profile = "fast"

[[stream]]
name = "b"
input = "lavfi:testsrc2"
output = "ftp://nowhere/x"
video = "h265"

[[stream]]
name = "b"
input = "lavfi:testsrc2"
"#;
    let message = errors(text);
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 5, "{message}");
    assert!(
        lines[0].starts_with("/venue/streams.toml:3:8: invalid stream name `Cam 1`"),
        "{message}"
    );
    assert!(
        lines[1].starts_with("/venue/streams.toml:5:11: unknown profile `fast`"),
        "{message}"
    );
    assert!(
        lines[2].starts_with("/venue/streams.toml:10:10: output must be"),
        "{message}"
    );
    assert!(
        lines[3].starts_with("/venue/streams.toml:11:9: unknown video mode"),
        "{message}"
    );
    assert!(
        lines[4].starts_with("/venue/streams.toml:14:8: duplicate stream name `b`"),
        "{message}"
    );
}

#[test]
fn env_vars_are_expanded_and_remembered_as_secrets() {
    let text = "[[stream]]\nname = \"cam\"\ninput = \"lavfi:testsrc2\"\noutput = \"rtmp://live.example/app/${KEY}\"\n";
    let config = load_with(text, &[("KEY", "abc-123-secret")]).expect("valid");
    assert_eq!(
        config.streams[0].output,
        Output::Rtmp("rtmp://live.example/app/abc-123-secret".into())
    );
    assert_eq!(config.secrets, vec!["abc-123-secret".to_string()]);
    assert!(config.literal_keys.is_empty());
}

#[test]
fn only_variables_in_urls_and_ffmpeg_arguments_are_secrets() {
    let text = "[server]\nhls_dir = \"${HLS}\"\n\
        [[stream]]\nname = \"cam\"\ninput = \"rtsp://admin:${CAM_PASS}@10.0.0.5/stream1\"\n\
        input_args = [\"-user_agent\", \"${AGENT}\"]\n\
        [[screen]]\nname = \"foyer\"\nstream = \"cam\"\nbanner = { text = \"Welcome to ${EVENT}\" }\n";
    let config = load_with(
        text,
        &[
            ("HLS", "/srv/hls"),
            ("CAM_PASS", "hunter2"),
            ("AGENT", "venue-agent"),
            ("EVENT", "the Final"),
        ],
    )
    .expect("valid");
    assert_eq!(config.secrets, ["hunter2", "venue-agent"]);
    let banner = config.screens[0].banner.as_ref().expect("banner");
    assert_eq!(banner.text, "Welcome to the Final");
}

#[test]
fn a_missing_env_var_is_an_error_at_the_variable() {
    let text = "[[stream]]\nname = \"cam\"\ninput = \"lavfi:testsrc2\"\noutput = \"rtmp://live.example/app/${YT_KEY}\"\n";
    let message = errors(text);
    assert!(
        message.starts_with("/venue/streams.toml:4:35: environment variable `YT_KEY` is not set"),
        "{message}"
    );
}

#[test]
fn a_literal_key_is_noticed() {
    let text = "[[stream]]\nname = \"cam\"\ninput = \"lavfi:testsrc2\"\noutput = \"rtmp://live.example/app/literal-key\"\n";
    assert_eq!(load(text).literal_keys, vec!["cam".to_string()]);
}

#[test]
fn outputs_expand_into_one_stream_per_destination() {
    let text = r#"
[[stream]]
name = "program"
input = "rtmp://127.0.0.1/live/program"
profile = "low-latency"
outputs = [
  { name = "youtube", url = "rtmp://a.rtmp.youtube.com/live2/${YT}" },
  { name = "partner", url = "srt://partner.example:9000?streamid=${SRT_ID}", enabled = false, profile = "stable" },
]
"#;
    let config = load_with(text, &[("YT", "yt-key"), ("SRT_ID", "srt-id")]).expect("valid");
    let names: Vec<&str> = config.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["program/youtube", "program/partner"]);
    assert_eq!(config.streams[0].profile, Profile::LowLatency);
    assert!(config.streams[0].enabled);
    assert!(matches!(config.streams[1].output, Output::Srt(_)));
    assert!(!config.streams[1].enabled);
    assert_eq!(config.streams[1].profile, Profile::Stable);
}

#[test]
fn screens_must_play_a_known_stream() {
    let text = "[[stream]]\nname = \"cam\"\ninput = \"lavfi:testsrc2\"\n\n[[screen]]\nname = \"foyer\"\nstream = \"camera\"\n";
    let message = errors(text);
    assert!(
        message.contains(":7:10: screen `foyer` plays `camera`"),
        "{message}"
    );
}

#[test]
fn profile_overrides_apply_to_their_profile_only() {
    let text = "[profile.stable]\nhls_time = 6\nhls_list_size = 10\n\n[[stream]]\nname = \"cam\"\ninput = \"lavfi:testsrc2\"\n";
    let config = load(text);
    assert_eq!(config.profiles.stable.hls_time, 6.0);
    assert_eq!(config.profiles.stable.hls_list_size, 10);
    assert_eq!(config.profiles.low_latency.hls_time, 0.5);
}

const BASE: &str = r#"
[[stream]]
name = "a"
input = "lavfi:testsrc2"

[[stream]]
name = "b"
input = "lavfi:testsrc2"
profile = "low-latency"

[[stream]]
name = "c"
input = "lavfi:testsrc2"
enabled = false
"#;

#[test]
fn an_identical_file_plans_nothing() {
    let plan = config::diff(&load(BASE), &load(BASE));
    assert!(plan.is_empty(), "{plan:?}");
}

#[test]
fn the_plan_touches_only_what_changed() {
    let new = BASE
        .replace("profile = \"low-latency\"", "profile = \"stable\"")
        .replace("enabled = false", "enabled = true")
        + "\n[[stream]]\nname = \"d\"\ninput = \"lavfi:testsrc2\"\n";
    let new = new.replace("[[stream]]\nname = \"a\"\ninput = \"lavfi:testsrc2\"\n", "");
    let plan = config::diff(&load(BASE), &load(&new));
    assert_eq!(plan.restart, vec!["b"]);
    assert_eq!(plan.start, vec!["c", "d"]);
    assert_eq!(plan.stop, vec!["a"]);
    assert!(!plan.listen_changed);
}

#[test]
fn a_profile_override_restarts_only_the_streams_on_that_profile() {
    let new = format!("[profile.low-latency]\nhls_list_size = 5\n{BASE}");
    let plan = config::diff(&load(BASE), &load(&new));
    assert_eq!(plan.restart, vec!["b"]);
    assert!(plan.start.is_empty() && plan.stop.is_empty());
}

#[test]
fn a_watchdog_change_updates_without_restart() {
    let new = BASE.replace("name = \"a\"\n", "name = \"a\"\nstall_timeout = 20\n");
    let plan = config::diff(&load(BASE), &load(&new));
    assert!(plan.is_empty());
    assert_eq!(plan.update, vec!["a"]);
}

const COMMENTED: &str = r#"# Venue streams — edited by hand.
[server]
listen = "0.0.0.0:8080"   # screens on the LAN

[[stream]]
name = "stage"            # main camera
input = "lavfi:testsrc2"
profile = "stable"        # switch to low-latency for the match
enabled = true            # keep on

[[stream]]
# the second camera
name = "lobby"
input = "lavfi:testsrc2"
"#;

#[test]
fn write_back_changes_exactly_one_value_and_keeps_comments() {
    let text = config::apply_change(COMMENTED, "stage", &Change::Profile(Profile::LowLatency))
        .expect("applied");
    let expected = COMMENTED.replace(
        "profile = \"stable\"        # switch",
        "profile = \"low-latency\"        # switch",
    );
    assert_eq!(text, expected);
    // A key the stream does not have yet is added after its last one; the
    // rest of the file, the first change included, stays as it was.
    let text = config::apply_change(&text, "lobby", &Change::Enabled(false)).expect("applied");
    assert_eq!(text, format!("{expected}enabled = false\n"));
}

#[test]
fn write_back_reaches_a_destination_inside_outputs() {
    let text = "[[stream]]\nname = \"program\"\ninput = \"rtmp://127.0.0.1/live/p\"\noutputs = [\n  { name = \"yt\", url = \"rtmp://x/app/${K}\" },  # YouTube\n  { name = \"tw\", url = \"rtmp://y/app/${K}\" },\n]\n";
    let updated =
        config::apply_change(text, "program/tw", &Change::Enabled(false)).expect("applied");
    assert!(
        updated.contains("{ name = \"tw\", url = \"rtmp://y/app/${K}\", enabled = false }"),
        "{updated}"
    );
    assert!(updated.contains("# YouTube"));
}

#[test]
fn write_back_refuses_a_file_that_does_not_parse() {
    let error = config::apply_change("[[stream]\nname=", "a", &Change::Enabled(false))
        .expect_err("refused");
    assert!(matches!(error, config::WriteBackError::Unparsable(_)));
}

#[test]
fn atomic_write_keeps_permissions_and_leaves_no_temp_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("streams.toml");
    std::fs::write(&path, COMMENTED).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    config::write_change(&path, "stage", &Change::Enabled(false)).expect("written");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        std::fs::read_to_string(&path)
            .expect("read")
            .contains("enabled = false            # keep on")
    );
}

#[test]
fn operator_allow_takes_addresses_and_networks_and_points_at_a_bad_one() {
    let config = load(
        "[server]\noperator_allow = [\"10.0.0.5\", \"192.168.1.0/24\"]\n[[stream]]\nname = \"a\"\ninput = \"lavfi:testsrc2\"\n",
    );
    let allow = &config.server.operator_allow;
    assert!(allow.allows("10.0.0.5".parse().expect("ip")));
    assert!(allow.allows("192.168.1.200".parse().expect("ip")));
    assert!(!allow.allows("127.0.0.1".parse().expect("ip")));
    let default = load("[[stream]]\nname = \"a\"\ninput = \"lavfi:testsrc2\"\n");
    assert!(
        default
            .server
            .operator_allow
            .allows("127.0.0.1".parse().expect("ip"))
    );
    assert!(
        !default
            .server
            .operator_allow
            .allows("10.0.0.5".parse().expect("ip"))
    );
    let error = errors("[server]\noperator_allow = [\"10.0.0.5\", \"the office\"]\n");
    assert!(
        error.contains("/venue/streams.toml:2:31: `the office` is not an address or network"),
        "{error}"
    );
}
