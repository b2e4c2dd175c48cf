//! Fixed snapshots for the console tests: a running, a retrying, a failed
//! and a stopped stream, at a fixed time, so that every frame is stable.
#![allow(dead_code)]

use onair::config::{OutputKind, Profile};
use onair::engine::{
    ConfigStatus, HostStats, LogEntry, ScreenReport, ScreenState, Snapshot, StateChange,
    StreamDetails, StreamSnapshot, StreamState, UnixMillis,
};
use onair::ffmpeg::source_info::{AudioInfo, SourceInfo, VideoInfo};
use onair::tui::app::App;

/// 2025-06-15 15:06:40 UTC.
pub const NOW: UnixMillis = 1_750_000_000_000;

/// A stream with every optional value empty.
pub fn bare_stream(name: &str, state: StreamState) -> StreamSnapshot {
    StreamSnapshot {
        name: name.to_string(),
        enabled: !matches!(state, StreamState::Stopped),
        state,
        profile: Profile::LowLatency,
        output: "hls".to_string(),
        command: format!("ffmpeg -hide_banner -i {name}.ts -f hls {name}/index.m3u8"),
        ..StreamSnapshot::default()
    }
}

fn change(at: UnixMillis, text: &str) -> StateChange {
    StateChange {
        at,
        text: text.to_string(),
    }
}

/// The four streams of the console tests, as of `NOW` (CPU as given).
pub fn snapshot_at(taken_at: UnixMillis, cam1_cpu: f32) -> Snapshot {
    let mut stage = bare_stream("stage", StreamState::Running);
    stage.pid = Some(41_234);
    stage.running_since = Some(NOW - (2 * 3600 + 5 * 60) * 1000);
    stage.cpu_percent = Some(cam1_cpu);
    stage.rss_bytes = Some(48 * 1024 * 1024 + 300 * 1024);
    stage.fps = Some(25.0);
    stage.bitrate_kbps = Some(2_480.0);
    stage.speed = Some(1.0);
    stage.frames = Some(187_500);
    stage.restarts = 1;
    stage.command = "ffmpeg -hide_banner -nostdin -loglevel warning -progress pipe:1 -re \
        -f lavfi -i testsrc2=size=1280x720:rate=25 -c:v libx264 -preset veryfast -g 25 \
        -f hls -hls_time 1 -hls_list_size 3 -hls_flags delete_segments \
        -hls_segment_filename hls/stage/seg-%d.ts hls/stage/index.m3u8"
        .to_string();
    stage.source = Some(SourceInfo {
        video: Some(VideoInfo {
            codec: "hevc".to_string(),
            profile: Some("Main".to_string()),
            width: 1280,
            height: 720,
            fps: Some(25.0),
        }),
        audio: Some(AudioInfo {
            codec: "aac".to_string(),
            sample_rate: Some(48_000),
            channels: Some(2),
            layout: Some("stereo".to_string()),
        }),
        keyframe_interval: Some(2.0),
    });
    stage.handling = "h264 from hevc".to_string();

    let mut lobby = bare_stream(
        "lobby",
        StreamState::Retrying {
            attempt: 3,
            retry_at: NOW + 4_200,
        },
    );
    lobby.profile = Profile::Stable;
    lobby.input = "rtsp://****@10.0.0.12/stream1".to_string();
    lobby.restarts = 3;
    lobby.last_error = Some("rtsp://****@10.0.0.12/stream1: Connection refused".to_string());

    let mut program = bare_stream(
        "program/youtube",
        StreamState::Failed {
            reason: "input rtmp://127.0.0.1/live/program is not publishing".to_string(),
        },
    );
    program.output_kind = OutputKind::Rtmp;
    program.output = "rtmp://a.rtmp.youtube.com/live2/****".to_string();
    program.restarts = 12;

    let mut backstage = bare_stream("backstage", StreamState::Stopped);
    backstage.profile = Profile::Stable;

    let mut streams = vec![stage, lobby, program, backstage];
    for stream in &mut streams {
        let details = details(&stream.name);
        stream.last_change = details.history.last().cloned();
        stream.details_seq = details.seq;
    }

    Snapshot {
        seq: 42,
        taken_at,
        host: HostStats {
            cpu_percent: 23.4,
            cores: 4,
            mem_used_bytes: 3_350_000_000,
            mem_total_bytes: 8_340_000_000,
            onair_cpu_percent: 0.4,
            onair_rss_bytes: 21 * 1024 * 1024,
        },
        config: ConfigStatus {
            path: "/srv/venue/streams.toml".to_string(),
            loaded_at: Some(NOW - 3_600_000),
            error: None,
            warnings: Vec::new(),
            pending_writes: Vec::new(),
        },
        listen: "127.0.0.1:8080".to_string(),
        streams,
        screens: Vec::new(),
        log_seq: 3,
        screen_reports: screen_reports(),
    }
}

/// What the engine holds for one stream beyond its snapshot row.
pub fn details(name: &str) -> StreamDetails {
    let (stderr, history) = match name {
        "stage" => (
            vec![
                "[hls @ 0x55d0c0] Opening 'hls/stage/seg-1749992800.ts' for writing".to_string(),
                "[hls @ 0x55d0c0] Opening 'hls/stage/index.m3u8.tmp' for writing".to_string(),
            ],
            vec![
                change(NOW - 7_400_000, "starting"),
                change(NOW - 7_390_000, "running: pid 41001"),
                change(NOW - 7_350_000, "retrying: exited with code 1"),
                change(NOW - 7_300_000, "running: pid 41234"),
            ],
        ),
        "lobby" => (
            Vec::new(),
            vec![change(NOW - 3_000, "retrying: exited with code 1")],
        ),
        "program/youtube" => (
            Vec::new(),
            vec![change(NOW - 60_000, "failed: too many restarts")],
        ),
        "backstage" => (
            Vec::new(),
            vec![change(NOW - 600_000, "stopped by the operator")],
        ),
        _ => (Vec::new(), Vec::new()),
    };
    StreamDetails {
        name: name.to_string(),
        seq: 1,
        stderr,
        history,
    }
}

/// The engine log as of `NOW`.
pub fn log() -> Vec<LogEntry> {
    vec![
        LogEntry {
            seq: 1,
            at: NOW - 3_600_000,
            stream: None,
            level: "info".to_string(),
            text: "loaded /srv/venue/streams.toml: 4 streams, 1 screen".to_string(),
        },
        LogEntry {
            seq: 2,
            at: NOW - 60_000,
            stream: Some("program/youtube".to_string()),
            level: "error".to_string(),
            text: "failed: too many restarts".to_string(),
        },
        LogEntry {
            seq: 3,
            at: NOW - 3_000,
            stream: Some("lobby".to_string()),
            level: "warn".to_string(),
            text: "exited with code 1; retry 3 in 4 s".to_string(),
        },
    ]
}

/// Gives an app what the engine sends a console that attaches: the log so
/// far and the selected stream's details.
pub fn attached(app: &mut App, snapshot: &Snapshot) {
    app.observe(snapshot);
    app.observe_log(&log(), snapshot.taken_at);
    select_details(app);
}

/// Gives an app the details of its selected stream, as the engine sends
/// them when the selection changes.
pub fn select_details(app: &mut App) {
    if let Some(name) = app.selected().map(str::to_string) {
        app.observe_details(details(&name));
    }
}

/// Two screens: one plays, one cannot.
fn screen_reports() -> Vec<ScreenReport> {
    let foyer = ScreenReport {
        id: "a1b2c3d4e5f6".to_string(),
        address: "10.0.0.21".to_string(),
        screen: Some("foyer".to_string()),
        stream: "stage".to_string(),
        state: ScreenState::Playing,
        latency: Some(1.24),
        width: Some(1280),
        height: Some(720),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/120".to_string(),
        since: NOW - 600_000,
        updated_at: NOW - 2_000,
        ..ScreenReport::default()
    };
    let bar = ScreenReport {
        id: "f6e5d4c3b2a1".to_string(),
        address: "10.0.0.22".to_string(),
        screen: Some("bar".to_string()),
        state: ScreenState::Lost,
        error: Some("bufferAppendError".to_string()),
        latency: None,
        width: None,
        height: None,
        cannot_play_since: Some(NOW - 30_000),
        ..foyer.clone()
    };
    vec![foyer, bar]
}

/// The snapshot at `NOW`.
pub fn snapshot() -> Snapshot {
    snapshot_at(NOW, 12.5)
}
