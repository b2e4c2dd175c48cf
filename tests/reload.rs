//! Hot reload with real files, real notify and real FFmpeg: a save restarts
//! only what changed, a broken save changes nothing, and key presses are
//! written back without losing the operator's comments or edits.

mod common;

use common::*;
use onair::engine::{Command, Engine, Snapshot};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const HEADER: &str = "# Venue streams: hand-edited during the event.\n";

fn venue() -> TempConfig {
    TempConfig::new(&format!(
        "{HEADER}{}",
        config_text(&format!(
            "{}{}{}",
            lavfi_stream("alpha", "low-latency", true),
            lavfi_stream("beta", "stable", true),
            lavfi_stream("gamma", "stable", true)
        ))
    ))
}

/// Saves like vim or an editor with "atomic save": a new file renamed over the old.
fn save_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.swp-new");
    std::fs::write(&tmp, text).expect("write temp");
    std::fs::rename(&tmp, path).expect("rename");
}

fn pids(snapshot: &Snapshot) -> HashMap<String, u32> {
    snapshot
        .streams
        .iter()
        .filter_map(|s| s.pid.map(|p| (s.name.clone(), p)))
        .collect()
}

async fn all_running(engine: &Engine, names: &[&str]) -> HashMap<String, u32> {
    let s = wait_for(engine, Duration::from_secs(15), "streams running", |s| {
        names.iter().all(|n| is_running(s, n))
    })
    .await;
    pids(&s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_streams_profile_restarts_only_that_stream() {
    let config = venue();
    let (engine, task) = start(&config);
    let _watch = onair::reload::watch_config(&config.path, engine.clone()).expect("watch");
    let before = all_running(&engine, &["alpha", "beta", "gamma"]).await;

    let text = std::fs::read_to_string(&config.path).expect("read");
    let edited = text.replacen(
        "name = \"beta\"\ninput",
        "name = \"beta\"\nvideo = \"h264\"\ninput",
        1,
    );
    let edited = edited.replace(
        &format!("name = \"beta\"\nvideo = \"h264\"\ninput = \"{LAVFI}\"\nprofile = \"stable\""),
        &format!(
            "name = \"beta\"\nvideo = \"h264\"\ninput = \"{LAVFI}\"\nprofile = \"low-latency\""
        ),
    );
    assert_ne!(edited, text);
    let saved = Instant::now();
    save_by_rename(&config.path, &edited);
    // How soon is for scripts/bench-reload.sh; here, that the save alone
    // (no signal) restarts beta and nothing else.
    let after = wait_for(&engine, Duration::from_secs(20), "a new beta ffmpeg", |s| {
        stream(s, "beta").pid.is_some_and(|p| p != before["beta"])
    })
    .await;
    eprintln!(
        "beta's new ffmpeg started {:?} after the save",
        saved.elapsed()
    );
    let log = engine.log_since(0);
    assert!(
        log.iter()
            .any(|e| e.text == "streams.toml reloaded: restart beta"),
        "{log:#?}"
    );
    assert_eq!(
        stream(&after, "beta").profile,
        onair::config::Profile::LowLatency
    );
    assert_eq!(
        after.stream("alpha").and_then(|s| s.pid),
        Some(before["alpha"])
    );
    assert_eq!(
        after.stream("gamma").and_then(|s| s.pid),
        Some(before["gamma"])
    );
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appending_a_stream_starts_it_and_deleting_one_stops_it() {
    let config = venue();
    let (engine, task) = start(&config);
    let _watch = onair::reload::watch_config(&config.path, engine.clone()).expect("watch");
    let before = all_running(&engine, &["alpha", "beta", "gamma"]).await;

    let text = std::fs::read_to_string(&config.path).expect("read");
    save_by_rename(
        &config.path,
        &format!("{text}{}", lavfi_stream("delta", "low-latency", true)),
    );
    let s = wait_for(&engine, Duration::from_secs(10), "delta running", |s| {
        is_running(s, "delta")
    })
    .await;
    for name in ["alpha", "beta", "gamma"] {
        assert_eq!(
            s.stream(name).and_then(|x| x.pid),
            Some(before[name]),
            "{name} was touched"
        );
    }

    let without_gamma = text.replace(&lavfi_stream("gamma", "stable", true), "");
    save_by_rename(
        &config.path,
        &format!(
            "{without_gamma}{}",
            lavfi_stream("delta", "low-latency", true)
        ),
    );
    let s = wait_for(&engine, Duration::from_secs(10), "gamma gone", |s| {
        s.stream("gamma").is_none()
    })
    .await;
    wait_until(Duration::from_secs(8), "gamma's ffmpeg to end", || {
        !alive(before["gamma"])
    })
    .await;
    assert_eq!(s.stream("alpha").and_then(|x| x.pid), Some(before["alpha"]));
    assert_eq!(s.stream("beta").and_then(|x| x.pid), Some(before["beta"]));
    assert!(is_running(&s, "delta"));
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_save_changes_nothing_and_the_fix_is_applied() {
    let config = venue();
    let (engine, task) = start(&config);
    let _watch = onair::reload::watch_config(&config.path, engine.clone()).expect("watch");
    let before = all_running(&engine, &["alpha", "beta", "gamma"]).await;
    let text = std::fs::read_to_string(&config.path).expect("read");

    // Garbage, then a schema error, then a missing variable: each is reported, nothing moves.
    let broken = [
        (format!("{text}\n[[stream]\nname = "), ":"),
        (
            text.replace("profile = \"stable\"", "profile = \"sturdy\""),
            "unknown profile `sturdy`",
        ),
        (
            text.replace(
                "name = \"gamma\"\ninput",
                "name = \"gamma\"\noutput = \"rtmp://x/app/${NOT_SET_ANYWHERE}\"\ninput",
            ),
            "NOT_SET_ANYWHERE",
        ),
    ];
    for (bad, expected) in &broken {
        save_by_rename(&config.path, bad);
        let s = wait_for(&engine, Duration::from_secs(5), "the config error", |s| {
            s.config
                .error
                .as_deref()
                .is_some_and(|e| e.contains(expected))
        })
        .await;
        let error = s.config.error.clone().unwrap_or_default();
        assert!(
            error.starts_with(&format!("{}:", config.path.display())),
            "{error}"
        );
        assert_eq!(pids(&s), before, "a broken save moved a stream");
    }
    // The fix: gamma goes low-latency.
    let fixed = text.replace(
        &lavfi_stream("gamma", "stable", true),
        &lavfi_stream("gamma", "low-latency", true),
    );
    save_by_rename(&config.path, &fixed);
    let s = wait_for(&engine, Duration::from_secs(5), "the fix applied", |s| {
        s.config.error.is_none() && stream(s, "gamma").profile == onair::config::Profile::LowLatency
    })
    .await;
    assert_eq!(s.stream("alpha").and_then(|x| x.pid), Some(before["alpha"]));
    assert_eq!(s.stream("beta").and_then(|x| x.pid), Some(before["beta"]));
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_toggle_changes_the_file_by_exactly_that_value() {
    let config = venue();
    let (engine, task) = start(&config);
    let _watch = onair::reload::watch_config(&config.path, engine.clone()).expect("watch");
    let before = all_running(&engine, &["alpha", "beta", "gamma"]).await;
    let text = std::fs::read_to_string(&config.path).expect("read");

    engine.send(Command::Stop {
        stream: "beta".into(),
    });
    wait_until(Duration::from_secs(5), "the file to change", || {
        std::fs::read_to_string(&config.path).is_ok_and(|t| t != text)
    })
    .await;
    let written = std::fs::read_to_string(&config.path).expect("read");
    let expected = text.replace(
        &lavfi_stream("beta", "stable", true),
        &lavfi_stream("beta", "stable", false),
    );
    assert_eq!(written, expected);
    assert!(written.starts_with(HEADER), "the comment was lost");

    // The reload caused by our own write changes nothing.
    let s = wait_for(
        &engine,
        Duration::from_secs(5),
        "the reload of our own write",
        // A snapshot taken after that reload (log_seq) and after beta's
        // FFmpeg finished its graceful stop (which takes longer under load).
        |s| {
            stream(s, "beta").state.label() == "stopped"
                && engine
                    .log_since(0)
                    .iter()
                    .any(|e| e.text == "streams.toml reloaded: no change" && e.seq <= s.log_seq)
        },
    )
    .await;
    assert_eq!(s.stream("alpha").and_then(|x| x.pid), Some(before["alpha"]));
    assert_eq!(s.stream("gamma").and_then(|x| x.pid), Some(before["gamma"]));
    assert_eq!(stream(&s, "beta").state.label(), "stopped");
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sed_in_place_and_a_write_in_place_both_reload() {
    let config = TempConfig::new(&config_text(&lavfi_stream("solo", "stable", true)));
    let (engine, task) = start(&config);
    let _watch = onair::reload::watch_config(&config.path, engine.clone()).expect("watch");
    let first = all_running(&engine, &["solo"]).await["solo"];

    let status = std::process::Command::new("sed")
        .args(["-i", "s/profile = \"stable\"/profile = \"low-latency\"/"])
        .arg(&config.path)
        .status()
        .expect("sed");
    assert!(status.success());
    let s = wait_for(&engine, Duration::from_secs(5), "the sed edit", |s| {
        stream(s, "solo").profile == onair::config::Profile::LowLatency
    })
    .await;
    wait_for(&engine, Duration::from_secs(10), "a new solo ffmpeg", |s| {
        running_pid(s, "solo").is_some_and(|p| p != first)
    })
    .await;
    drop(s);

    // Truncate and write the same inode, as `echo > file` or some editors do.
    let text = std::fs::read_to_string(&config.path).expect("read");
    std::fs::write(&config.path, text.replace("low-latency", "stable")).expect("write in place");
    wait_for(&engine, Duration::from_secs(5), "the in-place edit", |s| {
        stream(s, "solo").profile == onair::config::Profile::Stable
    })
    .await;
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toggle_while_the_file_is_broken_is_kept_and_written_once_it_is_valid() {
    let config = venue();
    let (engine, task) = start(&config);
    let _watch = onair::reload::watch_config(&config.path, engine.clone()).expect("watch");
    all_running(&engine, &["alpha", "beta", "gamma"]).await;
    let text = std::fs::read_to_string(&config.path).expect("read");

    let broken = format!("{text}\n[[stream]\n");
    save_by_rename(&config.path, &broken);
    wait_for(&engine, Duration::from_secs(5), "the config error", |s| {
        s.config.error.is_some()
    })
    .await;

    engine.send(Command::Stop {
        stream: "alpha".into(),
    });
    let s = wait_for(
        &engine,
        Duration::from_secs(8),
        "alpha stopped and the write kept",
        |s| stream(s, "alpha").state.label() == "stopped" && !s.config.pending_writes.is_empty(),
    )
    .await;
    assert_eq!(
        s.config.pending_writes,
        vec!["alpha: enabled = false".to_string()]
    );
    assert_eq!(
        std::fs::read_to_string(&config.path).expect("read"),
        broken,
        "a broken file was rewritten"
    );

    // The operator fixes the file and adds a comment of their own.
    let fixed = text.replace(HEADER, "# fixed during the break\n");
    save_by_rename(&config.path, &fixed);
    let s = wait_for(&engine, Duration::from_secs(5), "the kept write", |s| {
        s.config.error.is_none() && s.config.pending_writes.is_empty()
    })
    .await;
    assert_eq!(
        stream(&s, "alpha").state.label(),
        "stopped",
        "the fix must not undo the key press"
    );
    let written = std::fs::read_to_string(&config.path).expect("read");
    assert!(
        written.starts_with("# fixed during the break\n"),
        "the operator's edit was lost"
    );
    assert!(
        written.contains(&lavfi_stream("alpha", "low-latency", false)),
        "{written}"
    );
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_naming_a_missing_ffmpeg_or_an_unwritable_hls_dir_is_refused_and_streams_carry_on() {
    let config = TempConfig::new(&config_text(&lavfi_stream("solo", "stable", true)));
    let (engine, task) = start(&config);
    let _watch = onair::reload::watch_config(&config.path, engine.clone()).expect("watch");
    let before = all_running(&engine, &["solo"]).await;
    let text = std::fs::read_to_string(&config.path).expect("read");
    std::fs::write(config.dir.path().join("blocker"), "a file, not a directory").expect("write");

    // Each value sits on line 2 of the file, after `[server]`.
    let broken = [
        ("ffmpeg = \"/nonexistent/ffmpeg\"", "2:10: ffmpeg not found"),
        ("hls_dir = \"blocker/hls\"", "2:11: cannot write to hls_dir"),
    ];
    for (line, expected) in broken {
        let bad = text.replacen("[server]\n", &format!("[server]\n{line}\n"), 1);
        save_by_rename(&config.path, &bad);
        let s = wait_for(&engine, Duration::from_secs(10), "the refusal", |s| {
            s.config.error.is_some()
        })
        .await;
        let error = s.config.error.clone().unwrap_or_default();
        assert!(
            error.starts_with(&format!("{}:{expected}", config.path.display())),
            "{error}"
        );
        let log = engine.log_since(0);
        assert!(
            log.iter()
                .any(|e| e.text.contains("(the running streams carry on)")),
            "{log:#?}"
        );
        assert_eq!(pids(&s), before, "a refused save moved a stream");
        assert!(is_running(&s, "solo"));
        save_by_rename(&config.path, &text);
        wait_for(&engine, Duration::from_secs(10), "the fix", |s| {
            s.config.error.is_none()
        })
        .await;
    }
    let s = engine.snapshot();
    assert_eq!(pids(&s), before);
    assert_eq!(stream(&s, "solo").restarts, 0);
    engine.send(Command::Shutdown);
    task.wait().await;
}

/// A directory that refuses writes on demand: a full tmpfs when the tests
/// run as root (root writes through permissions), a read-only directory
/// otherwise.
struct Unwritable {
    dir: std::path::PathBuf,
    mounted: bool,
    _parent: tempfile::TempDir,
}

impl Unwritable {
    fn new() -> Unwritable {
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("conf");
        std::fs::create_dir(&dir).expect("mkdir");
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let mounted = root && {
            let target = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).expect("path");
            // SAFETY: NUL-terminated strings that outlive the call.
            let rc = unsafe {
                libc::mount(
                    c"tmpfs".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    c"size=256k".as_ptr().cast(),
                )
            };
            assert_eq!(
                rc,
                0,
                "as root this test mounts a small tmpfs (needs CAP_SYS_ADMIN): {}",
                std::io::Error::last_os_error()
            );
            true
        };
        Unwritable {
            dir,
            mounted,
            _parent: parent,
        }
    }

    fn block(&self) {
        if self.mounted {
            // Fill the disk up.
            let mut filler = std::fs::File::create(self.dir.join("filler")).expect("filler");
            let chunk = vec![0u8; 4096];
            while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
        } else {
            set_mode(&self.dir, 0o555);
        }
    }

    fn unblock(&self) {
        if self.mounted {
            let _ = std::fs::remove_file(self.dir.join("filler"));
        } else {
            set_mode(&self.dir, 0o755);
        }
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        self.unblock();
        if self.mounted {
            let target =
                std::ffi::CString::new(self.dir.as_os_str().as_encoded_bytes()).expect("path");
            // SAFETY: a NUL-terminated path that outlives the call.
            unsafe {
                libc::umount2(target.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_disk_refuses_is_kept_in_force_and_written_once_it_can_be() {
    let unwritable = Unwritable::new();
    let hls = tempfile::tempdir().expect("hls dir");
    let path = unwritable.dir.join("streams.toml");
    let text = config_text(&lavfi_stream("solo", "stable", true)).replacen(
        "[server]\n",
        &format!("[server]\nhls_dir = \"{}\"\n", hls.path().display()),
        1,
    );
    std::fs::write(&path, &text).expect("write");
    let config = onair::config::load_file(&path).expect("valid");
    let (engine, task) =
        Engine::start(config, onair::engine::EngineOptions::default()).expect("engine");
    let _watch = onair::reload::watch_config(&path, engine.clone()).expect("watch");
    all_running(&engine, &["solo"]).await;

    unwritable.block();
    engine.send(Command::Stop {
        stream: "solo".into(),
    });
    let kept = vec!["solo: enabled = false".to_string()];
    wait_for(&engine, Duration::from_secs(10), "the change kept", |s| {
        stream(s, "solo").state.label() == "stopped" && s.config.pending_writes == kept
    })
    .await;
    let log = engine.log_since(0);
    assert!(
        log.iter().any(|e| e.text.contains("the change is kept")),
        "{log:#?}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);

    // A reload while the disk still refuses: the change stays in force.
    // Reloads a snapshot has seen (entries up to its log_seq).
    let reloads = |s: &Snapshot| {
        engine
            .log_since(0)
            .iter()
            .filter(|e| e.text.starts_with("streams.toml reloaded") && e.seq <= s.log_seq)
            .count()
    };
    let before = reloads(&engine.snapshot());
    engine.send(Command::Reload);
    let s = wait_for(&engine, Duration::from_secs(10), "a reload", |s| {
        reloads(s) > before
    })
    .await;
    assert_eq!(s.config.pending_writes, kept);
    assert_eq!(stream(&s, "solo").state.label(), "stopped");

    // Space again: the next reload writes it.
    unwritable.unblock();
    engine.send(Command::Reload);
    wait_for(
        &engine,
        Duration::from_secs(10),
        "the change written",
        |s| s.config.pending_writes.is_empty(),
    )
    .await;
    let written = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        written,
        text.replace(
            &lavfi_stream("solo", "stable", true),
            &lavfi_stream("solo", "stable", false)
        )
    );
    engine.send(Command::Shutdown);
    task.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_streams_toml_stays_a_link_and_edits_through_its_target_reload() {
    use std::os::unix::fs::MetadataExt;
    let config = venue();
    // The real file lives elsewhere (a shared config directory, say).
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let real = elsewhere.path().join("venue.toml");
    std::fs::rename(&config.path, &real).expect("move");
    std::os::unix::fs::symlink(&real, &config.path).expect("symlink");
    set_mode(&real, 0o640);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        std::os::unix::fs::chown(&real, Some(4321), Some(4321)).expect("chown");
    }
    let (engine, task) = start(&config);
    let _watch = onair::reload::watch_config(&config.path, engine.clone()).expect("watch");
    let before = all_running(&engine, &["alpha", "beta", "gamma"]).await;
    let text = std::fs::read_to_string(&real).expect("read");

    engine.send(Command::Stop {
        stream: "beta".into(),
    });
    wait_until(Duration::from_secs(10), "the target to change", || {
        std::fs::read_to_string(&real).is_ok_and(|t| t != text)
    })
    .await;
    assert!(
        std::fs::symlink_metadata(&config.path)
            .expect("link")
            .file_type()
            .is_symlink(),
        "write-back replaced the symlink with a file"
    );
    assert_eq!(std::fs::read_link(&config.path).expect("link"), real);
    let meta = std::fs::metadata(&real).expect("meta");
    assert_eq!(meta.mode() & 0o777, 0o640);
    if root {
        assert_eq!((meta.uid(), meta.gid()), (4321, 4321), "the owner changed");
    }
    assert!(
        std::fs::read_to_string(&real)
            .expect("read")
            .contains(&lavfi_stream("beta", "stable", false))
    );

    // An edit made to the target itself (not through the link) is seen.
    let edited = std::fs::read_to_string(&real).expect("read").replace(
        &lavfi_stream("gamma", "stable", true),
        &lavfi_stream("gamma", "low-latency", true),
    );
    std::fs::write(&real, edited).expect("write in place");
    let s = wait_for(&engine, Duration::from_secs(10), "gamma switched", |s| {
        stream(s, "gamma").profile == onair::config::Profile::LowLatency
    })
    .await;
    assert_eq!(s.stream("alpha").and_then(|x| x.pid), Some(before["alpha"]));
    engine.send(Command::Shutdown);
    task.wait().await;
}
