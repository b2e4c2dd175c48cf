//! A row's snapshot from its task's status. A row of a stream with
//! fallback is one output, but the operator reads it as the stream: its
//! state says whether the source is on the air, its CPU and memory are the
//! sum of its processes, its history and stderr include the ingest's.

use super::relayed::{GroupView, RelayState, source_reason};
use super::slate::ClipState;
use super::snapshot::*;
use super::stream::StreamStatus;
use crate::relay::Feed;

/// History entries a row shows.
const HISTORY_SHOWN: usize = 30;
/// stderr lines of each process a row shows.
const STDERR_SHOWN: usize = 100;

/// The snapshot of one row.
pub(crate) fn stream_snapshot(s: &StreamStatus) -> StreamSnapshot {
    let spec = &s.launch.spec;
    let progress = s.progress.as_ref();
    let mut snapshot = StreamSnapshot {
        name: spec.name.clone(),
        enabled: spec.enabled,
        state: s.state.clone(),
        profile: spec.profile,
        output_kind: spec.output.kind(),
        output: s.launch.shown_output.clone(),
        input: s.launch.shown_input.clone(),
        command: shown_command(s),
        pid: s.pid,
        running_since: s.running_since,
        cpu_percent: s.cpu_percent,
        rss_bytes: s.rss_bytes,
        fps: progress.and_then(|p| p.fps),
        bitrate_kbps: progress.and_then(|p| p.bitrate_kbps).or(s.hls_kbps),
        speed: progress.and_then(|p| p.speed),
        frames: progress.and_then(|p| p.frame),
        drop_frames: progress.and_then(|p| p.drop_frames),
        restarts: s.restarts,
        stalls: s.stalls,
        last_error: s.last_error.clone(),
        last_change: s.history.back().cloned(),
        details_seq: s.details_seq,
        source: s.source.clone(),
        handling: s
            .handling
            .as_ref()
            .map(|h| h.label.clone())
            .unwrap_or_default(),
        warnings: s
            .handling
            .as_ref()
            .map(|h| h.warnings.clone())
            .unwrap_or_default(),
        processes: Vec::new(),
        fallback: None,
        analysis: spec.analysis,
        audio: s.audio.clone(),
        alarms: s.alarms.clone(),
        thumbnail: s.thumbnail.clone(),
    };
    match &s.group {
        Some(group) => with_group(&mut snapshot, s, group),
        None => {
            snapshot.processes = vec![process(ProcessRole::Stream, s)];
        }
    }
    snapshot
}

/// The command of the current run, or the one the next run will use.
fn shown_command(s: &StreamStatus) -> String {
    s.shown_command
        .clone()
        .unwrap_or_else(|| s.launch.shown_command.clone())
}

/// A row's stderr tail and history: for a row of a stream with fallback,
/// its ingest's (the source's) and its output's, told apart.
pub(crate) fn stream_details(s: &StreamStatus) -> StreamDetails {
    let name = s.launch.spec.name.clone();
    let ingest = s
        .group
        .as_ref()
        .and_then(|g| g.ingest.lock().ok().map(|i| i.clone()));
    match ingest {
        None => StreamDetails {
            name,
            seq: s.details_seq,
            stderr: s.stderr.iter().cloned().collect(),
            history: s.history.iter().cloned().collect(),
        },
        Some(ingest) => {
            let mut stderr = tail(&ingest.stderr, "source | ");
            stderr.extend(tail(&s.stderr, "output | "));
            StreamDetails {
                name,
                seq: s.details_seq + ingest.details_seq,
                stderr,
                history: merged_history(&ingest, s),
            }
        }
    }
}

fn process(role: ProcessRole, s: &StreamStatus) -> ProcessSnapshot {
    ProcessSnapshot {
        role,
        pid: s.pid,
        cpu_percent: s.cpu_percent,
        rss_bytes: s.rss_bytes,
        state: s.state.label().to_string(),
    }
}

fn with_group(snapshot: &mut StreamSnapshot, output: &StreamStatus, group: &GroupView) {
    let Ok(ingest) = group.ingest.lock().map(|i| i.clone()) else {
        return;
    };
    let relay = group.relay.lock().map(|r| r.clone()).unwrap_or_default();
    let now = now_millis();
    snapshot.state = row_state(&output.state, &ingest, &relay);
    snapshot.processes = vec![
        process(ProcessRole::Ingest, &ingest),
        process(ProcessRole::Output, output),
    ];
    if let Some(pid) = relay.encoder_pid {
        snapshot.processes.push(ProcessSnapshot {
            role: ProcessRole::Slate,
            pid: Some(pid),
            cpu_percent: relay.encoder_usage.map(|(cpu, _)| cpu),
            rss_bytes: relay.encoder_usage.map(|(_, rss)| rss),
            state: "encoding".into(),
        });
    }
    let measured: Vec<&ProcessSnapshot> = snapshot
        .processes
        .iter()
        .filter(|p| p.cpu_percent.is_some())
        .collect();
    if !measured.is_empty() {
        snapshot.cpu_percent = Some(measured.iter().filter_map(|p| p.cpu_percent).sum());
        snapshot.rss_bytes = Some(measured.iter().filter_map(|p| p.rss_bytes).sum());
    }
    snapshot.input = ingest.launch.shown_input.clone();
    snapshot.restarts += ingest.restarts;
    snapshot.stalls += ingest.stalls;
    if snapshot.last_error.is_none() || ingest_is_newer(&ingest, output) {
        snapshot.last_error = ingest.last_error.clone().or(snapshot.last_error.take());
    }
    snapshot.details_seq = output.details_seq + ingest.details_seq;
    let newest = |h: &std::collections::VecDeque<StateChange>| h.back().cloned();
    snapshot.last_change = match (newest(&ingest.history), newest(&output.history)) {
        (Some(a), Some(b)) => Some(if a.at > b.at { a } else { b }),
        (a, b) => a.or(b),
    };
    // What the source is and how it is handled are the ingest's business,
    // and so is what it sends: levels, alarms and the picture.
    snapshot.source = ingest.source.clone();
    snapshot.audio = ingest.audio.clone();
    snapshot.alarms = ingest.alarms.clone();
    snapshot.thumbnail = ingest.thumbnail.clone();
    if let Some(handling) = &ingest.handling {
        snapshot.handling = handling.label.clone();
        snapshot.warnings = handling.warnings.clone();
    }
    snapshot.command = format!("{}\n{}", shown_command(&ingest), shown_command(output));
    let slate_now = match (relay.on_air, relay.on_air_since) {
        (Some(Feed::Slate), Some(since)) => now.saturating_sub(since),
        _ => 0,
    };
    snapshot.fallback = Some(FallbackSnapshot {
        on_air: relay.on_air.map_or("none", Feed::label).to_string(),
        forced: relay.forced,
        fallbacks: relay.fallbacks,
        slate_seconds: slate_now as f64 / 1000.0,
        slate_seconds_total: (relay.slate_ms + slate_now) as f64 / 1000.0,
        slate: relay.slate.clone(),
        clip: match &relay.clip {
            ClipState::None => "not encoded yet".into(),
            ClipState::Encoding => "encoding".into(),
            ClipState::Ready(what) => what.clone(),
            ClipState::Failed(why) => format!("failed: {why}"),
        },
        live_format: relay.live_format.clone(),
        ingest_command: shown_command(&ingest),
        ingest_state: ingest.state.label().to_string(),
        ingest_restarts: ingest.restarts,
        relayed_mb: group.relay_handle.counters().output_mb(),
    });
}

/// What a row of a stream with fallback shows: the output's own trouble
/// first (the destination refuses, the row is stopped), then whether the
/// slate or live is on the air, then the source's state while nothing is.
pub(crate) fn row_state(
    output: &StreamState,
    ingest: &StreamStatus,
    relay: &RelayState,
) -> StreamState {
    match output {
        StreamState::Starting | StreamState::Running => {}
        other => return other.clone(),
    }
    // A source that cannot run until the operator acts says so, even while
    // the slate covers for it.
    if let StreamState::Failed { .. } = ingest.state {
        return ingest.state.clone();
    }
    match relay.on_air {
        Some(Feed::Slate) => StreamState::Fallback {
            since: relay.on_air_since.unwrap_or_else(now_millis),
            reason: if relay.forced {
                "slate held by the operator (bumper)".to_string()
            } else {
                source_reason(ingest)
            },
            forced: relay.forced,
        },
        Some(Feed::Live) => output.clone(),
        None => match &ingest.state {
            StreamState::Running | StreamState::Starting => StreamState::Starting,
            source => source.clone(),
        },
    }
}

fn ingest_is_newer(ingest: &StreamStatus, output: &StreamStatus) -> bool {
    let last = |s: &StreamStatus| s.history.back().map_or(0, |h| h.at);
    last(ingest) >= last(output)
}

fn merged_history(ingest: &StreamStatus, output: &StreamStatus) -> Vec<StateChange> {
    let mut all: Vec<StateChange> = ingest
        .history
        .iter()
        .chain(output.history.iter())
        .cloned()
        .collect();
    all.sort_by_key(|h| h.at);
    let skip = all.len().saturating_sub(HISTORY_SHOWN);
    all.split_off(skip)
}

fn tail(lines: &std::collections::VecDeque<String>, prefix: &str) -> Vec<String> {
    let skip = lines.len().saturating_sub(STDERR_SHOWN);
    lines
        .iter()
        .skip(skip)
        .map(|l| format!("{prefix}{l}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use crate::engine::launch::launch;
    use std::path::Path;
    use std::sync::Arc;

    fn status() -> StreamStatus {
        let config = load_str(
            "[[stream]]\nname = \"cam\"\ninput = \"rtmp://127.0.0.1/live/cam\"\n",
            Path::new("/tmp/streams.toml"),
            &|_| None,
        )
        .expect("config");
        StreamStatus::new(launch(&config, &config.streams[0], &Arc::new(Vec::new())))
    }

    fn on_air(feed: Option<Feed>, forced: bool) -> RelayState {
        RelayState {
            on_air: feed,
            on_air_since: Some(1000),
            forced,
            ..RelayState::default()
        }
    }

    #[test]
    fn the_slate_on_the_air_is_fallback_with_the_sources_error() {
        let mut ingest = status();
        ingest.state = StreamState::Retrying {
            attempt: 2,
            retry_at: 5,
        };
        ingest.last_error = Some("Connection refused".into());
        let state = row_state(
            &StreamState::Running,
            &ingest,
            &on_air(Some(Feed::Slate), false),
        );
        assert_eq!(
            state,
            StreamState::Fallback {
                since: 1000,
                reason: "source: Connection refused".into(),
                forced: false
            }
        );
        let forced = row_state(
            &StreamState::Running,
            &ingest,
            &on_air(Some(Feed::Slate), true),
        );
        assert!(matches!(forced, StreamState::Fallback { forced: true, .. }));
    }

    #[test]
    fn the_outputs_own_trouble_and_stops_come_first() {
        let ingest = status();
        let relay = on_air(Some(Feed::Slate), false);
        let retrying = StreamState::Retrying {
            attempt: 1,
            retry_at: 9,
        };
        assert_eq!(row_state(&retrying, &ingest, &relay), retrying);
        assert_eq!(
            row_state(&StreamState::Stopped, &ingest, &relay),
            StreamState::Stopped
        );
    }

    #[test]
    fn with_nothing_on_the_air_the_row_shows_the_source() {
        let mut ingest = status();
        ingest.state = StreamState::Retrying {
            attempt: 1,
            retry_at: 9,
        };
        assert_eq!(
            row_state(&StreamState::Running, &ingest, &on_air(None, false)),
            ingest.state
        );
        ingest.state = StreamState::Running;
        assert_eq!(
            row_state(&StreamState::Running, &ingest, &on_air(None, false)),
            StreamState::Starting
        );
        assert_eq!(
            row_state(
                &StreamState::Running,
                &ingest,
                &on_air(Some(Feed::Live), false)
            ),
            StreamState::Running
        );
    }
}
