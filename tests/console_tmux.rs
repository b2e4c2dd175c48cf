//! End to end: the real `onair` binary in a real terminal (tmux), driven by
//! key presses, checked on screen and in the process table.
//!
//! The story: an operator types `onair` (which starts the engine in the
//! background), and with three streams on air stops one, starts it again,
//! switches its profile, then leaves stopping everything. Each step must
//! touch that stream's FFmpeg only, and stopping must leave no FFmpeg and no
//! engine behind.

mod attach_support;
mod common;

use attach_support::*;

const STREAMS: [&str; 3] = ["cam1", "cam2", "cam3"];

#[test]
fn operator_stops_starts_and_switches_one_stream_then_stops_everything_leaving_no_ffmpeg() {
    let runtime = Runtime::new();
    let (_dir, dir_path) = test_dir();
    let config = write_config(
        &dir_path,
        &[
            ("cam1", "low-latency"),
            ("cam2", "low-latency"),
            ("cam3", "low-latency"),
        ],
    );
    let hls_dir = dir_path.join("hls");
    let tmux = Tmux::new(&dir_path);
    tmux.open(
        "console",
        120,
        40,
        &runtime.console_line(&format!("'{}'", config.display())),
    );

    // All three on air, the first one selected.
    let before = wait_for_pids(&hls_dir, &STREAMS, "three ffmpeg", START, |pids| {
        pids.len() == 3
    });
    tmux.wait_for_screen("console", "three running streams", |screen| {
        STREAMS
            .iter()
            .all(|name| row(screen, name).is_some_and(|r| r.contains("running")))
    });
    assert!(
        tmux.alternate_screen_on("console"),
        "the console uses the alternate screen"
    );
    let screen = tmux.screen("console");
    assert!(
        row(&screen, "cam1").is_some_and(|r| r.starts_with('▶')),
        "first stream selected at start:\n{screen}"
    );
    let engine = runtime.engine_pid();

    // Shrink to 80x24: columns drop, every row stays one line.
    let out = tmux.run(&["resize-window", "-t", "console", "-x", "80", "-y", "24"]);
    assert!(out.status.success(), "tmux resize-window failed");
    let screen = tmux.wait_for_screen("console", "the 80-column layout", |s| {
        s.lines()
            .any(|l| l.contains("STREAM") && !l.contains("OUTPUT"))
            && STREAMS.iter().all(|name| row(s, name).is_some())
    });
    assert!(
        screen.lines().all(|l| l.chars().count() <= 80),
        "a line is wider than the terminal:\n{screen}"
    );

    // Stop cam2: select it, Enter, answer y.
    tmux.keys("console", &["j"]);
    tmux.wait_for_screen("console", "cam2 selected", |s| {
        row(s, "cam2").is_some_and(|r| r.starts_with('▶'))
    });
    tmux.keys("console", &["Enter"]);
    tmux.wait_for_screen("console", "the stop question", |s| s.contains("Stop cam2?"));
    assert_eq!(
        ffmpeg_pids(&hls_dir, &STREAMS).get("cam2"),
        Some(&vec![before["cam2"]]),
        "nothing stops before the answer"
    );
    tmux.keys("console", &["y"]);
    let stopped = wait_for_pids(&hls_dir, &STREAMS, "cam2 to stop", STEP, |pids| {
        !pids.contains_key("cam2")
    });
    assert_eq!(stopped.get("cam1"), Some(&before["cam1"]), "cam1 untouched");
    assert_eq!(stopped.get("cam3"), Some(&before["cam3"]), "cam3 untouched");
    tmux.wait_for_screen("console", "cam2 stopped on screen", |s| {
        row(s, "cam2").is_some_and(|r| r.contains("stopped"))
    });

    // Start it again: Enter on a stopped stream asks nothing.
    tmux.keys("console", &["Enter"]);
    let restarted = wait_for_pids(&hls_dir, &STREAMS, "cam2 to start", STEP, |pids| {
        pids.get("cam2").is_some_and(|pid| *pid != before["cam2"])
    });
    assert_eq!(
        restarted.get("cam1"),
        Some(&before["cam1"]),
        "cam1 untouched"
    );
    assert_eq!(
        restarted.get("cam3"),
        Some(&before["cam3"]),
        "cam3 untouched"
    );
    tmux.wait_for_screen("console", "cam2 running again", |s| {
        row(s, "cam2").is_some_and(|r| r.contains("running"))
    });

    // Switch its profile: only cam2's FFmpeg is replaced.
    tmux.keys("console", &["p"]);
    let switched = wait_for_pids(
        &hls_dir,
        &STREAMS,
        "cam2 to restart on the stable profile",
        STEP,
        |pids| {
            pids.get("cam2")
                .is_some_and(|pid| *pid != restarted["cam2"] && *pid != before["cam2"])
        },
    );
    assert_eq!(
        switched.get("cam1"),
        Some(&before["cam1"]),
        "cam1 untouched"
    );
    assert_eq!(
        switched.get("cam3"),
        Some(&before["cam3"]),
        "cam3 untouched"
    );
    tmux.wait_for_screen("console", "cam2 on the stable profile", |s| {
        row(s, "cam2").is_some_and(|r| r.contains("stable") && r.contains("running"))
            && row(s, "cam1").is_some_and(|r| r.contains("low-lat"))
    });

    // Leave: the question says how many streams would stop; s stops them
    // all and the engine, and onair waits for the last FFmpeg.
    tmux.keys("console", &["q"]);
    tmux.wait_for_screen("console", "the leaving question", |s| {
        s.contains("Leave onair?") && s.contains("3 streams will stop")
    });
    assert_eq!(
        ffmpeg_pids(&hls_dir, &STREAMS).len(),
        3,
        "nothing stops before the answer"
    );
    tmux.keys("console", &["s"]);
    let screen = tmux.wait_for_screen("console", "onair to exit", |s| {
        s.contains("onair exited with status")
    });
    assert!(
        screen.contains("onair exited with status 0")
            && screen.contains("stopping 3 streams and the engine")
            && screen.contains("the engine stopped; no FFmpeg is left"),
        "onair failed on stop:\n{screen}"
    );
    assert!(
        !tmux.alternate_screen_on("console"),
        "the terminal is restored after leaving"
    );
    let left = ffmpeg_pids(&hls_dir, &STREAMS);
    assert!(left.is_empty(), "ffmpeg still running after stop: {left:?}");
    assert!(!alive(engine), "the engine outlived the stop");
    assert!(
        runtime.socket_files().is_empty(),
        "the engine removed its socket"
    );
    let leftovers = processes_mentioning(&dir_path);
    assert!(leftovers.is_empty(), "processes left behind: {leftovers:?}");
}
