//! The engine with real FFmpeg processes: starting, healing, stopping.

mod common;

use common::*;
use onair::engine::{Command, Engine, EngineError, EngineOptions, Timings};
use std::time::{Duration, Instant};

fn three_streams() -> TempConfig {
    TempConfig::new(&config_text(&format!(
        "{}{}{}",
        lavfi_stream("fast", "low-latency", true),
        lavfi_stream("calm", "stable", true),
        lavfi_stream("spare", "stable", false)
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabled_streams_get_live_playlists_and_the_disabled_one_none() {
    let config = three_streams();
    let started = Instant::now();
    let (engine, task) = start(&config);
    wait_until(Duration::from_secs(10), "both playlists", || {
        playlist_is_live(&config.hls("fast")) && playlist_is_live(&config.hls("calm"))
    })
    .await;
    eprintln!("both playlists live after {:?}", started.elapsed());
    let snapshot = wait_for(&engine, Duration::from_secs(5), "progress figures", |s| {
        ["fast", "calm"].iter().all(|n| {
            stream(s, n).fps.is_some_and(|f| f > 0.0) && stream(s, n).bitrate_kbps.is_some()
        })
    })
    .await;
    assert!(!config.hls("spare").join("index.m3u8").exists());
    assert_eq!(stream(&snapshot, "spare").state.label(), "stopped");
    assert_eq!(stream(&snapshot, "spare").pid, None);
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_ffmpeg_restarts_only_that_stream() {
    let config = three_streams();
    let (engine, task) = start(&config);
    let before = wait_for(&engine, Duration::from_secs(10), "both running", |s| {
        is_running(s, "fast") && is_running(s, "calm")
    })
    .await;
    let victim = running_pid(&before, "fast").expect("pid");
    let bystander = running_pid(&before, "calm").expect("pid");
    let killed_at = Instant::now();
    kill(victim, libc::SIGKILL);
    let after = wait_for(&engine, Duration::from_secs(20), "a new fast ffmpeg", |s| {
        running_pid(s, "fast").is_some_and(|p| p != victim)
    })
    .await;
    eprintln!("fast running again after {:?}", killed_at.elapsed());
    // Restarted after the first backoff step, not after a longer one.
    assert_eq!(delays(&engine, "fast"), ["0.5 s"]);
    assert_eq!(running_pid(&after, "calm"), Some(bystander));
    assert_eq!(stream(&after, "fast").restarts, 1);
    assert_eq!(stream(&after, "calm").restarts, 0);
    assert!(
        stream(&after, "fast")
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("signal 9")),
        "{:?}",
        stream(&after, "fast").last_error
    );
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_ffmpeg_is_detected_as_stalled_and_restarted() {
    // stall_timeout = 4 s in config_text.
    let config = TempConfig::new(&config_text(&lavfi_stream("frozen", "low-latency", true)));
    let (engine, task) = start(&config);
    let before = wait_for(&engine, Duration::from_secs(10), "running", |s| {
        is_running(s, "frozen")
    })
    .await;
    let pid = running_pid(&before, "frozen").expect("pid");
    let stopped_at = Instant::now();
    kill(pid, libc::SIGSTOP);
    let after = wait_for(
        &engine,
        Duration::from_secs(30),
        "a new ffmpeg after the stall",
        |s| running_pid(s, "frozen").is_some_and(|p| p != pid),
    )
    .await;
    let back_in = stopped_at.elapsed();
    eprintln!("stall detected and restarted after {back_in:?}");
    // Not before stall_timeout: a frozen picture is given its 4 s (counted
    // from its last progress, which may precede the signal by a report).
    assert!(back_in >= Duration::from_secs(3), "took {back_in:?}");
    assert_eq!(stream(&after, "frozen").stalls, 1);
    assert!(!alive(pid), "the frozen process was not killed");
    let history = engine
        .details("frozen")
        .map(|d| d.history)
        .unwrap_or_default();
    assert!(
        history
            .iter()
            .any(|h| h.text == "stalled: no progress for 4 s, killing"),
        "{history:?}"
    );
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_stop_start_restart_and_switch_profile_of_one_stream_only() {
    let config = three_streams();
    let (engine, task) = start(&config);
    let first = wait_for(&engine, Duration::from_secs(10), "both running", |s| {
        is_running(s, "fast") && is_running(s, "calm")
    })
    .await;
    let calm = running_pid(&first, "calm").expect("pid");
    let fast = running_pid(&first, "fast").expect("pid");

    engine.send(Command::Stop {
        stream: "fast".into(),
    });
    let s = wait_for(&engine, Duration::from_secs(8), "fast stopped", |s| {
        stream(s, "fast").state.label() == "stopped"
    })
    .await;
    assert!(!alive(fast));
    assert!(!stream(&s, "fast").enabled);

    engine.send(Command::Start {
        stream: "spare".into(),
    });
    wait_for(&engine, Duration::from_secs(10), "spare running", |s| {
        is_running(s, "spare")
    })
    .await;

    let spare = running_pid(&engine.snapshot(), "spare").expect("pid");
    engine.send(Command::Restart {
        stream: "spare".into(),
    });
    wait_for(&engine, Duration::from_secs(10), "spare restarted", |s| {
        running_pid(s, "spare").is_some_and(|p| p != spare)
    })
    .await;

    engine.send(Command::SetProfile {
        stream: "spare".into(),
        profile: onair::config::Profile::LowLatency,
    });
    let s = wait_for(
        &engine,
        Duration::from_secs(10),
        "spare on low-latency",
        |s| {
            stream(s, "spare").profile == onair::config::Profile::LowLatency
                && is_running(s, "spare")
        },
    )
    .await;
    assert!(
        stream(&s, "spare").command.contains("-hls_time 0.5"),
        "{}",
        stream(&s, "spare").command
    );
    assert_eq!(
        running_pid(&s, "calm"),
        Some(calm),
        "calm must not be touched"
    );
    assert_eq!(stream(&s, "calm").restarts, 0);

    // Every key change is in the file, so it survives a restart of onair.
    let text = std::fs::read_to_string(&config.path).expect("config");
    let reloaded = onair::config::load_str(&text, &config.path, &|_| None).expect("still valid");
    assert!(!reloaded.stream("fast").expect("fast").enabled);
    assert!(reloaded.stream("spare").expect("spare").enabled);
    assert_eq!(
        reloaded.stream("spare").expect("spare").profile,
        onair::config::Profile::LowLatency
    );

    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_every_ffmpeg_finish_its_output() {
    let config = three_streams();
    let (engine, task) = start(&config);
    let s = wait_for(&engine, Duration::from_secs(10), "both running", |s| {
        is_running(s, "fast") && is_running(s, "calm")
    })
    .await;
    // Each stream runs an ingest and an output (and, for a moment, maybe
    // a slate encoder, which the shutdown ends too).
    let pids: Vec<u32> = s
        .streams
        .iter()
        .flat_map(|s| s.processes.iter())
        .filter(|p| p.role != onair::engine::ProcessRole::Slate)
        .filter_map(|p| p.pid)
        .collect();
    assert_eq!(pids.len(), 4);
    let asked = Instant::now();
    engine.send(Command::Shutdown);
    task.wait().await;
    eprintln!("shutdown took {:?}", asked.elapsed());
    for &pid in &pids {
        assert!(!alive(pid), "ffmpeg {pid} survived the shutdown");
    }
    let log = engine.log_since(0);
    let finished = log
        .iter()
        .filter(|e| e.text == "ffmpeg finished its output and exited")
        .count();
    assert_eq!(finished, pids.len(), "{log:#?}");
    // A finished HLS playlist ends with the end tag (what `q` buys over a kill).
    let playlist =
        std::fs::read_to_string(config.hls("fast").join("index.m3u8")).expect("playlist");
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
}

/// A stream's state changes so far.
fn history(engine: &Engine, name: &str) -> Vec<onair::engine::StateChange> {
    engine.details(name).map(|d| d.history).unwrap_or_default()
}

/// The times (ms) of a stream's state changes whose text starts with `prefix`.
fn changes_at(engine: &Engine, name: &str, prefix: &str) -> Vec<u64> {
    history(engine, name)
        .iter()
        .filter(|h| h.text.starts_with(prefix))
        .map(|h| h.at)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_source_retries_with_growing_delays_and_says_why() {
    let port = free_port();
    let config = TempConfig::new(&config_text(&format!(
        // Without fallback the row is the source's own retries; with it the
        // slate would stand in (tests/fallback.rs).
        "[[stream]]\nname = \"dead\"\ninput = \"rtmp://127.0.0.1:{port}/live/nothing\"\nfallback = false\n"
    )));
    let (engine, task) = start(&config);
    let s = wait_for(&engine, Duration::from_secs(30), "a fourth start", |_| {
        changes_at(&engine, "dead", "starting").len() >= 4
    })
    .await;
    // Each wait between two starts is at least the backoff of its attempt
    // (0.5 s, 1 s, 2 s), so the gaps grow; load only makes them longer.
    let starts = changes_at(&engine, "dead", "starting");
    let gaps: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    for (i, gap) in gaps.iter().enumerate() {
        assert!(*gap >= 500 << i, "wait {i} was {gap} ms: {gaps:?}");
    }
    let retries: Vec<String> = history(&engine, "dead")
        .iter()
        .filter(|h| h.text.starts_with("retrying"))
        .map(|h| h.text.clone())
        .collect();
    assert_eq!(
        retries[..3],
        [
            "retrying: restart in 0.5 s",
            "retrying: restart in 1.0 s",
            "retrying: restart in 2.0 s"
        ]
    );
    let error = stream(&s, "dead").last_error.clone().unwrap_or_default();
    assert!(error.contains("Connection refused"), "{error}");
    assert!(error.contains("is the source or destination up"), "{error}");
    engine.send(Command::Shutdown);
    task.wait().await;
}

/// The restart delays announced so far, in seconds.
fn delays(engine: &Engine, name: &str) -> Vec<String> {
    history(engine, name)
        .iter()
        .filter_map(|h| h.text.strip_prefix("retrying: restart in "))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_time_with_progress_resets_the_restart_delay() {
    // A run must make progress for 3 s to reset the delay (60 s in production).
    let config = TempConfig::new(&config_text(&format!(
        "{}stall_timeout = 4\n\n",
        lavfi_stream("cam", "low-latency", true)
    )));
    let timings = Timings {
        healthy_reset: Duration::from_secs(3),
    };
    let (engine, task) =
        Engine::start_with(config.load(), EngineOptions::default(), timings).expect("engine");
    let running = |engine: &Engine, before: Option<u32>| {
        let engine = engine.clone();
        async move {
            let s = wait_for(&engine, Duration::from_secs(20), "a new cam ffmpeg", |s| {
                running_pid(s, "cam").is_some_and(|p| Some(p) != before)
            })
            .await;
            running_pid(&s, "cam").expect("pid")
        }
    };

    // Killed at once: attempt 1.
    let first = running(&engine, None).await;
    kill(first, libc::SIGKILL);
    // Frozen at once: the 4 s it spends stalled are not progress, so this is
    // attempt 2, not a reset.
    let frozen = running(&engine, Some(first)).await;
    kill(frozen, libc::SIGSTOP);
    let s = wait_for(&engine, Duration::from_secs(20), "the stall", |s| {
        delays(&engine, "cam").len() == 2 && stream(s, "cam").stalls >= 1
    })
    .await;
    assert_eq!(delays(&engine, "cam"), ["0.5 s", "1.0 s"]);
    assert_eq!(stream(&s, "cam").stalls, 1);

    // A run with more than 3 s of progress, then killed: back to attempt 1.
    let healthy = running(&engine, Some(frozen)).await;
    let since = Instant::now();
    wait_for(&engine, Duration::from_secs(20), "3 s of progress", |s| {
        since.elapsed() > Duration::from_millis(3500) && is_running(s, "cam")
    })
    .await;
    kill(healthy, libc::SIGKILL);
    wait_for(&engine, Duration::from_secs(20), "the third retry", |_| {
        delays(&engine, "cam").len() == 3
    })
    .await;
    assert_eq!(delays(&engine, "cam"), ["0.5 s", "1.0 s", "0.5 s"]);
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ffmpeg_or_an_unwritable_hls_dir_is_refused_at_start() {
    let config = TempConfig::new(&format!(
        "[server]\nffmpeg = \"/nonexistent/ffmpeg\"\n\n{}",
        lavfi_stream("a", "stable", true)
    ));
    let error = Engine::start(config.load(), EngineOptions::default())
        .err()
        .expect("refused");
    assert!(matches!(error, EngineError::FfmpegMissing(_)));
    assert!(
        error.to_string().contains("apt-get install ffmpeg"),
        "{error}"
    );

    let config = TempConfig::new(&format!(
        "[server]\nhls_dir = \"blocker/hls\"\n\n{}",
        lavfi_stream("a", "stable", true)
    ));
    std::fs::write(
        config.dir.path().join("blocker"),
        "a file where a directory should be",
    )
    .expect("write");
    let error = Engine::start(config.load(), EngineOptions::default())
        .err()
        .expect("refused");
    assert!(matches!(error, EngineError::HlsDirUnwritable { .. }));
    assert!(
        error.to_string().contains("set [server].hls_dir"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hls_directory_that_cannot_be_prepared_is_retried_until_it_can() {
    let config = TempConfig::new(&config_text(&lavfi_stream("cam", "low-latency", true)));
    let in_the_way = config.hls("cam");
    std::fs::create_dir_all(in_the_way.parent().expect("hls dir")).expect("hls dir");
    std::fs::write(&in_the_way, "a file where the stream's directory goes").expect("write");
    let (engine, task) = start(&config);
    let s = wait_for(&engine, Duration::from_secs(15), "a second retry", |s| {
        matches!(
            stream(s, "cam").state,
            onair::engine::StreamState::Retrying { attempt: 2.., .. }
        )
    })
    .await;
    let error = stream(&s, "cam").last_error.clone().unwrap_or_default();
    assert!(error.contains("cannot create"), "{error}");
    let history = engine.details("cam").map(|d| d.history).unwrap_or_default();
    assert!(
        !history.iter().any(|h| h.text.starts_with("failed")),
        "{history:?}"
    );

    // The operator clears the way: the stream comes up on its own.
    std::fs::remove_file(&in_the_way).expect("remove");
    wait_for(&engine, Duration::from_secs(20), "cam running", |s| {
        is_running(s, "cam")
    })
    .await;
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_filter_fails_at_once_though_ffmpeg_ends_on_a_generic_line() {
    let config = TempConfig::new(&config_text(&format!(
        "{}output_args = [\"-vf\", \"nosuchfilter\"]\n\n",
        lavfi_stream("cam", "low-latency", true)
    )));
    let (engine, task) = start(&config);
    let s = wait_for(&engine, Duration::from_secs(15), "cam failed", |s| {
        matches!(
            stream(s, "cam").state,
            onair::engine::StreamState::Failed { .. }
        )
    })
    .await;
    let cam = stream(&s, "cam");
    let error = cam.last_error.clone().unwrap_or_default();
    assert!(error.contains("No such filter"), "{error}");
    assert_eq!(cam.restarts, 0, "a wrong command line was retried");
    engine.send(Command::Shutdown);
    task.wait().await;
}

/// Every segment file seen in a stream's directory: name → its contents' hash.
#[derive(Default)]
struct SegmentsSeen {
    contents: std::collections::HashMap<String, u64>,
    reused: Vec<String>,
}

impl SegmentsSeen {
    /// Reads the directory once; returns the segment numbers present.
    fn look(&mut self, dir: &std::path::Path) -> Vec<u64> {
        use std::hash::{Hash, Hasher};
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(number) = name
                .strip_prefix("seg-")
                .and_then(|n| n.strip_suffix(".ts"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            // Deleted between the listing and the read: nothing to compare.
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut hasher);
            let hash = hasher.finish();
            if let Some(before) = self.contents.insert(name.clone(), hash)
                && before != hash
            {
                self.reused.push(name);
            }
            numbers.push(number);
        }
        numbers
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_restarts_never_reuse_a_segment_name() {
    // Half-second segments: several per second, the case epoch numbering got wrong.
    let config = TempConfig::new(&config_text(&format!(
        "[profile.low-latency]\nhls_time = 0.5\ngop_seconds = 0.5\n\n{}",
        lavfi_stream("cam", "low-latency", true)
    )));
    let dir = config.hls("cam");
    let (engine, task) = start(&config);
    let mut seen = SegmentsSeen::default();
    let mut highest_before = 0;
    for round in 0..3 {
        let running = wait_for(&engine, Duration::from_secs(15), "cam running", |s| {
            is_running(s, "cam")
        })
        .await;
        let pid = running_pid(&running, "cam").expect("pid");
        // Let this run write a few segments, watching every one of them.
        let mut this_run = std::collections::BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while this_run.iter().filter(|n| **n > highest_before).count() < 4 {
            assert!(Instant::now() < deadline, "round {round}: too few segments");
            this_run.extend(seen.look(&dir));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let first = this_run.first().copied();
        assert!(
            this_run.iter().all(|n| *n > highest_before || round == 0),
            "round {round} numbered from {first:?}, not above {highest_before}"
        );
        highest_before = this_run.last().copied().unwrap_or(0);
        engine.send(Command::Restart {
            stream: "cam".into(),
        });
        wait_for(&engine, Duration::from_secs(15), "a new ffmpeg", |s| {
            running_pid(s, "cam").is_some_and(|p| p != pid)
        })
        .await;
    }
    assert!(seen.reused.is_empty(), "names reused: {:?}", seen.reused);
    engine.send(Command::Shutdown);
    task.wait().await;
}
