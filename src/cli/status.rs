//! `onair status`: the running engine's streams, one line each, or with
//! `--screens` the screens that report, one line each, for people and for
//! scripts (the exit code says whether all is well).

use super::{NO_ENGINE, fail, first_snapshot, place};
use crate::control::client::AttachError;
use crate::control::{Role, Session};
use crate::engine::{ScreenReport, ScreenState, Snapshot, StreamSnapshot, StreamState, now_millis};
use crate::signals::say;
use crate::tui::format;
use std::path::Path;
use std::process::ExitCode;

/// What `onair status` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// One line per stream; all is well when every enabled stream runs.
    Streams,
    /// One line per screen that reports; all is well when every one plays.
    Screens,
}

/// `onair status [--screens] [CONFIG]`: one line per stream (or per
/// screen); exit 0 when all is well, 1 otherwise, 2 when no engine runs.
pub async fn status(config: &Path, listing: Listing) -> ExitCode {
    let place = match place(config) {
        Ok(place) => place,
        Err(code) => return code,
    };
    let mut session = match Session::connect(&place, Role::Status).await {
        Ok(session) => session,
        Err(e @ AttachError::NoEngine { .. }) => {
            say(&format!("onair: {e}"));
            return ExitCode::from(NO_ENGINE);
        }
        Err(e) => return fail(&e),
    };
    let snapshot = match first_snapshot(&mut session).await {
        Ok(snapshot) => snapshot,
        Err(why) => {
            say(&format!("onair: {why}"));
            return ExitCode::FAILURE;
        }
    };
    let (lines, good) = match listing {
        Listing::Streams => (stream_lines(&snapshot), all_enabled_running(&snapshot)),
        Listing::Screens => (screen_lines(&snapshot), all_screens_playing(&snapshot)),
    };
    let mut out = String::new();
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    use std::io::Write;
    let _ = std::io::stdout().write_all(out.as_bytes());
    if good {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Whether every stream the config enables is running.
pub fn all_enabled_running(snapshot: &Snapshot) -> bool {
    snapshot
        .streams
        .iter()
        .filter(|s| s.enabled)
        .all(|s| s.state == StreamState::Running)
}

/// Whether every screen that reports plays (true when none reports).
pub fn all_screens_playing(snapshot: &Snapshot) -> bool {
    snapshot
        .screen_reports
        .iter()
        .all(|r| r.state == ScreenState::Playing)
}

fn stream_lines(snapshot: &Snapshot) -> Vec<String> {
    let now = now_millis();
    let width = widest(snapshot.streams.iter().map(|s| s.name.clone()));
    snapshot
        .streams
        .iter()
        .map(|stream| status_line(stream, width, now))
        .collect()
}

fn screen_lines(snapshot: &Snapshot) -> Vec<String> {
    let reports = &snapshot.screen_reports;
    let widths = [
        widest(reports.iter().map(ScreenReport::name)),
        widest(reports.iter().map(|r| r.address.clone())),
        widest(reports.iter().map(|r| r.stream.clone())),
    ];
    reports.iter().map(|r| screen_line(r, widths)).collect()
}

fn widest(names: impl Iterator<Item = String>) -> usize {
    names.map(|n| n.chars().count()).max().unwrap_or(0)
}

/// One line of `onair status`: name, state, profile, uptime, CPU, RAM,
/// restarts, why a stream that should run does not, then what is done with
/// the video, the source and the warnings. Names are padded to `width`.
pub fn status_line(stream: &StreamSnapshot, width: usize, now: u64) -> String {
    let uptime = stream
        .running_since
        .map(|since| format::duration(now.saturating_sub(since)))
        .unwrap_or_else(|| "-".to_string());
    let cpu = stream
        .cpu_percent
        .map(format::percent)
        .unwrap_or_else(|| "-".to_string());
    let ram = stream
        .rss_bytes
        .map(format::bytes)
        .unwrap_or_else(|| "-".to_string());
    let mut line = format!(
        "{:<width$}  {:<8}  {:<11}  up {:<6}  cpu {:<6}  ram {:<6}  restarts {}",
        stream.name,
        stream.state.label(),
        stream.profile.to_string(),
        uptime,
        cpu,
        ram,
        stream.restarts,
    );
    // Why it is not on air: what stopped it for good, why the slate is
    // up, or what the last run died of while it is being retried.
    let why = match &stream.state {
        StreamState::Failed { reason } | StreamState::Fallback { reason, .. } => Some(reason),
        StreamState::Starting | StreamState::Stalled | StreamState::Retrying { .. } => {
            stream.last_error.as_ref()
        }
        StreamState::Running | StreamState::Stopped => None,
    };
    if let Some(why) = why {
        line.push_str("  ");
        line.push_str(why);
    }
    if !stream.handling.is_empty() {
        line.push_str(&format!("  video {}", stream.handling));
    }
    if let Some(source) = &stream.source {
        line.push_str(&format!("  source {}", source.summary()));
    }
    for warning in &stream.warnings {
        line.push_str(&format!("  warning: {warning}"));
    }
    line.trim_end().to_string()
}

/// One line of `onair status --screens`: the screen's name, its address,
/// the stream it plays and what it shows, then its latency and picture
/// size, or the error that stopped it. Columns are padded to `widths`
/// (name, address, stream).
pub fn screen_line(report: &ScreenReport, widths: [usize; 3]) -> String {
    let [name, address, stream] = widths;
    let mut line = format!(
        "{:<name$}  {:<address$}  {:<stream$}  {:<7}",
        report.name(),
        report.address,
        report.stream,
        report.state.label(),
    );
    if let Some(latency) = report.latency {
        line.push_str(&format!("  latency {latency:.1} s"));
    }
    if let (Some(w), Some(h)) = (report.width, report.height) {
        line.push_str(&format!("  {w}×{h}"));
    }
    if let Some(error) = &report.error {
        line.push_str(&format!("  error: {error}"));
    }
    line.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;

    fn stream(name: &str, state: StreamState, enabled: bool) -> StreamSnapshot {
        StreamSnapshot {
            name: name.into(),
            enabled,
            state,
            ..StreamSnapshot::default()
        }
    }

    #[test]
    fn a_status_line_has_every_figure_in_its_column() {
        let running = StreamSnapshot {
            profile: Profile::LowLatency,
            running_since: Some(1_000),
            cpu_percent: Some(12.5),
            rss_bytes: Some(48 * 1024 * 1024),
            restarts: 2,
            pid: Some(77),
            ..stream("stage", StreamState::Running, true)
        };
        assert_eq!(
            status_line(&running, 9, 3_723_000),
            "stage      running   low-latency  up 1h02m   cpu 12.5%   ram 48.0M   restarts 2"
        );
        let stopped = stream("backstage", StreamState::Stopped, false);
        assert_eq!(
            status_line(&stopped, 9, 0),
            "backstage  stopped   stable       up -       cpu -       ram -       restarts 0"
        );
        let failed = stream(
            "cam",
            StreamState::Failed {
                reason: "unknown encoder".into(),
            },
            true,
        );
        assert!(status_line(&failed, 3, 0).ends_with("restarts 0  unknown encoder"));
        let retrying = StreamSnapshot {
            last_error: Some("exited with status 1: 401 Unauthorized".into()),
            restarts: 3,
            ..stream(
                "cam",
                StreamState::Retrying {
                    attempt: 3,
                    retry_at: 0,
                },
                true,
            )
        };
        assert!(
            status_line(&retrying, 3, 0)
                .ends_with("restarts 3  exited with status 1: 401 Unauthorized"),
            "{}",
            status_line(&retrying, 3, 0)
        );
        let stopped_after_an_error = StreamSnapshot {
            last_error: Some("an old error".into()),
            ..stream("cam", StreamState::Stopped, false)
        };
        assert!(status_line(&stopped_after_an_error, 3, 0).ends_with("restarts 0"));
    }

    #[test]
    fn a_status_line_names_the_source_what_onair_does_with_it_and_what_will_not_play() {
        use crate::ffmpeg::source_info::{SourceInfo, VideoInfo};
        let camera = StreamSnapshot {
            handling: "copy".into(),
            source: Some(SourceInfo {
                video: Some(VideoInfo {
                    codec: "hevc".into(),
                    profile: None,
                    width: 640,
                    height: 360,
                    fps: Some(25.0),
                }),
                audio: None,
                keyframe_interval: None,
            }),
            warnings: vec!["screens cannot play H.265: use video = \"auto\" or \"h264\"".into()],
            ..stream("cam", StreamState::Running, true)
        };
        assert!(
            status_line(&camera, 3, 0).ends_with(
                "restarts 0  video copy  source hevc 640×360 25 fps · no audio  warning: screens cannot play H.265: use video = \"auto\" or \"h264\""
            ),
            "{}",
            status_line(&camera, 3, 0)
        );
    }

    fn report(name: &str, state: ScreenState, error: Option<&str>) -> ScreenReport {
        ScreenReport {
            id: format!("{name}-0000"),
            address: "10.0.0.5".into(),
            screen: Some(name.into()),
            stream: "stage".into(),
            state,
            error: error.map(str::to_string),
            ..ScreenReport::default()
        }
    }

    #[test]
    fn streams_and_screens_are_listed_apart_one_line_each() {
        let playing = ScreenReport {
            latency: Some(0.93),
            width: Some(1280),
            height: Some(720),
            ..report("foyer", ScreenState::Playing, None)
        };
        let lost = ScreenReport {
            address: "10.0.0.17".into(),
            stream: "cam".into(),
            ..report("bar", ScreenState::Lost, Some("bufferAppendError"))
        };
        let snapshot = Snapshot {
            streams: vec![
                stream("screen", StreamState::Running, true),
                stream("cam", StreamState::Running, true),
            ],
            screen_reports: vec![playing, lost],
            ..Snapshot::default()
        };
        let streams = stream_lines(&snapshot);
        assert_eq!(streams.len(), 2, "{streams:?}");
        assert!(
            streams[0].starts_with("screen  running") && streams[1].starts_with("cam     running")
        );
        assert_eq!(
            screen_lines(&snapshot),
            vec![
                "foyer  10.0.0.5   stage  playing  latency 0.9 s  1280×720".to_string(),
                "bar    10.0.0.17  cam    lost     error: bufferAppendError".to_string(),
            ]
        );
        assert!(!all_screens_playing(&snapshot));
        assert!(
            all_screens_playing(&Snapshot::default()),
            "no screen, nothing wrong"
        );
        assert!(screen_lines(&Snapshot::default()).is_empty());
    }

    #[test]
    fn status_is_good_only_when_every_enabled_stream_runs() {
        let mut snapshot = Snapshot {
            streams: vec![
                stream("a", StreamState::Running, true),
                stream("b", StreamState::Stopped, false),
            ],
            ..Snapshot::default()
        };
        assert!(all_enabled_running(&snapshot));
        snapshot.streams.push(stream(
            "c",
            StreamState::Retrying {
                attempt: 1,
                retry_at: 0,
            },
            true,
        ));
        assert!(!all_enabled_running(&snapshot));
    }
}
