//! The operator's commands around an engine: open a console (attaching to
//! the running engine, or starting one in the background), `status` and
//! `stop`. Each returns the process's exit code.

use crate::control::client::AttachError;
use crate::control::launch::{self, LaunchError};
use crate::control::{Place, PlaceError, Request, Role, Session};
use crate::engine::{Snapshot, StreamSnapshot, StreamState, now_millis};
use crate::signals::{Signals, say};
use crate::tui::{self, Leave, format};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

/// `onair status` when no engine runs.
pub const NO_ENGINE: u8 = 2;

/// `onair [CONFIG]`: attaches a console to the config's engine, starting
/// the engine in the background first if none runs.
pub async fn console(config: &Path) -> ExitCode {
    let place = match place(config) {
        Ok(place) => place,
        Err(code) => return code,
    };
    let terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    // Taken before anything else, so that a hang-up while the engine is
    // still starting is not lost: every signal detaches a console.
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(e) => return fail(&e),
    };
    let shown = config.display();
    let mut session = match Session::connect(&place, Role::Console).await {
        Ok(session) => session,
        Err(AttachError::NoEngine { .. }) if !terminal => return needs_terminal(),
        Err(AttachError::NoEngine { .. }) => {
            let started = tokio::select! {
                started = launch::start_and_attach(config, &place, Role::Console) => started,
                // The terminal went away while the engine starts: it goes
                // on starting, on its own.
                _ = signals.next() => {
                    say(&format!("onair: the engine is starting in the background; attach with `onair {shown}`"));
                    return ExitCode::SUCCESS;
                }
            };
            match started {
                Ok(session) => session,
                // The engine's own words, as `onair --headless` prints them.
                Err(LaunchError::Died { output }) => {
                    say(&output);
                    return ExitCode::FAILURE;
                }
                Err(e) => return fail(&e),
            }
        }
        Err(e) => return fail(&e),
    };
    if !terminal {
        return needs_terminal();
    }
    let pid = session.engine_pid();
    let leave = match tui::run(&mut session, &mut signals).await {
        Ok(leave) => leave,
        Err(e) => return fail(&e),
    };
    match leave {
        Leave::Detach => {
            say(&format!(
                "onair: detached; every stream keeps running (engine pid {pid}). Attach again with `onair {shown}`, stop everything with `onair stop {shown}`"
            ));
            ExitCode::SUCCESS
        }
        Leave::Stop { live } => {
            say(&format!(
                "onair: stopping {} and the engine…",
                streams(live)
            ));
            session.stop_engine().await;
            say("onair: the engine stopped; no FFmpeg is left");
            ExitCode::SUCCESS
        }
        Leave::EngineStopped(reason) => {
            say(&format!("onair: {reason}"));
            ExitCode::SUCCESS
        }
        Leave::EngineLost(why) => {
            say(&format!(
                "onair: lost the engine (pid {pid}): {why}. See {}; `onair {shown}` starts it again",
                launch::engine_log(config).display()
            ));
            ExitCode::FAILURE
        }
    }
}

/// `onair status [CONFIG]`: one line per stream; exit 0 when every enabled
/// stream runs, 1 otherwise, 2 when no engine runs.
pub async fn status(config: &Path) -> ExitCode {
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
    let now = now_millis();
    let width = snapshot
        .streams
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for stream in &snapshot.streams {
        out.push_str(&status_line(stream, width, now));
        out.push('\n');
    }
    for line in screen_lines(&snapshot) {
        out.push_str(&line);
        out.push('\n');
    }
    use std::io::Write;
    let _ = std::io::stdout().write_all(out.as_bytes());
    if all_enabled_running(&snapshot) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `onair stop [CONFIG]`: stops every stream and the engine, and returns
/// once the engine and every FFmpeg are gone.
pub async fn stop(config: &Path) -> ExitCode {
    let place = match place(config) {
        Ok(place) => place,
        Err(code) => return code,
    };
    let mut session = match Session::connect(&place, Role::Control).await {
        Ok(session) => session,
        Err(e @ AttachError::NoEngine { .. }) => {
            say(&format!("onair: nothing to stop: {e}"));
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(&e),
    };
    let pid = session.engine_pid();
    let live = match first_snapshot(&mut session).await {
        Ok(snapshot) => crate::tui::app::live_streams(&snapshot),
        Err(why) => {
            say(&format!("onair: {why}"));
            return ExitCode::FAILURE;
        }
    };
    say(&format!(
        "onair: stopping {} and the engine (pid {pid})…",
        streams(live)
    ));
    session.stop_engine().await;
    if crate::control::client::process_alive(pid) {
        say(&format!(
            "onair: the engine (pid {pid}) closed its socket but has not ended yet"
        ));
        return ExitCode::FAILURE;
    }
    say("onair: the engine stopped; no FFmpeg is left");
    ExitCode::SUCCESS
}

/// The first snapshot the engine sends after a watch request.
async fn first_snapshot(session: &mut Session) -> Result<std::sync::Arc<Snapshot>, String> {
    let lost = || "the engine closed the connection (is it stopping?)".to_string();
    session
        .send(&Request::Watch { details: None })
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match session.next().await {
            Ok(Some(crate::control::Event::Update(update))) => {
                if let Some(snapshot) = update.snapshot {
                    return Ok(snapshot);
                }
            }
            Ok(Some(crate::control::Event::Closing { reason })) => return Err(reason),
            Ok(None) => return Err(lost()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The socket's place for a config; a missing config is reported the way
/// the config loader does.
fn place(config: &Path) -> Result<Place, ExitCode> {
    match Place::for_config(config) {
        Ok(place) => Ok(place),
        Err(PlaceError::Config { .. }) => match crate::config::load_file(config) {
            Err(e) => {
                say(&e.to_string());
                Err(ExitCode::FAILURE)
            }
            Ok(_) => Err(fail(&format!("cannot find {}", config.display()))),
        },
        Err(e) => Err(fail(&e)),
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    say(&format!("onair: {e}"));
    ExitCode::FAILURE
}

fn needs_terminal() -> ExitCode {
    fail(
        &"the console needs a terminal: run `onair --headless` under a service manager, or `onair status` for a one-shot report",
    )
}

fn streams(n: usize) -> String {
    match n {
        1 => "1 stream".to_string(),
        n => format!("{n} streams"),
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

/// One line of `onair status`: name, state, profile, uptime, CPU, RAM,
/// restarts, and for a failed stream why. Names are padded to `width`.
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
    if let StreamState::Failed { reason } = &stream.state {
        line.push_str("  ");
        line.push_str(reason);
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

/// The screens' lines of `onair status`, when any screen reports: the
/// count by state, then each screen that does not play and why.
pub fn screen_lines(snapshot: &Snapshot) -> Vec<String> {
    let reports = &snapshot.screen_reports;
    if reports.is_empty() {
        return Vec::new();
    }
    let counts: Vec<String> = crate::engine::ScreenBoard::counts(reports)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(state, n)| format!("{n} {}", state.label()))
        .collect();
    let mut lines = vec![format!(
        "screens  {} ({})",
        reports.len(),
        counts.join(", ")
    )];
    for r in reports
        .iter()
        .filter(|r| r.state != crate::engine::ScreenState::Playing)
    {
        let why = r
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        lines.push(format!(
            "screen {} ({}) {} {}{why}",
            r.name(),
            r.address,
            r.state.label(),
            r.stream
        ));
    }
    lines
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

    #[test]
    fn screens_that_do_not_play_are_listed_with_why() {
        use crate::engine::{ScreenReport, ScreenState};
        let report = |name: &str, state, error: Option<&str>| ScreenReport {
            id: format!("{name}-0000"),
            address: "10.0.0.5".into(),
            screen: Some(name.into()),
            stream: "stage".into(),
            state,
            error: error.map(str::to_string),
            ..ScreenReport::default()
        };
        let snapshot = Snapshot {
            screen_reports: vec![
                report("foyer", ScreenState::Playing, None),
                report("bar", ScreenState::Lost, Some("bufferAppendError")),
            ],
            ..Snapshot::default()
        };
        assert_eq!(
            screen_lines(&snapshot),
            vec![
                "screens  2 (1 playing, 1 lost)".to_string(),
                "screen bar (10.0.0.5) lost stage: bufferAppendError".to_string(),
            ]
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
