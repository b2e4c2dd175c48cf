//! An SSH session that drops under the console must not take the venue off
//! air: the console goes (a detach), the engine and every stream stay, and
//! the next `onair` attaches again.
//!
//! The drop is reproduced as it happens: the console runs on a real pseudo
//! terminal as its controlling terminal, and the terminal's master side is
//! closed (the kernel then hangs up the session).

mod attach_support;
mod common;

use attach_support::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const STREAMS: [&str; 2] = ["one", "two"];

fn open_pty() -> (OwnedFd, OwnedFd) {
    let mut master = 0;
    let mut slave = 0;
    let size = libc::winsize {
        ws_row: 30,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors into the integers we pass.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    // Only this test holds the master side, as sshd does: a console that
    // inherited it would keep its own terminal alive.
    for fd in [master, slave] {
        // SAFETY: fcntl on a descriptor just opened.
        assert_eq!(
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) },
            0
        );
    }
    // SAFETY: both descriptors were just opened and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Reads the console's output until told to hang up, answering cursor
/// queries and noting when the dashboard was drawn; returning drops
/// (closes) the master side.
fn be_the_terminal(master: OwnedFd, hang_up: &AtomicBool, drawn: &AtomicBool) {
    use std::io::{Read, Write};
    let mut screen = std::fs::File::from(master);
    let mut buf = [0u8; 8192];
    while !hang_up.load(Ordering::SeqCst) {
        let mut poll = libc::pollfd {
            fd: screen.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the length we pass.
        let ready = unsafe { libc::poll(&mut poll, 1, 50) };
        if ready <= 0 {
            continue;
        }
        match screen.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                    let _ = screen.write_all(b"\x1b[1;1R");
                }
                if buf[..n].windows(6).any(|w| w == b"STREAM") {
                    drawn.store(true, Ordering::SeqCst);
                }
            }
        }
    }
}

#[test]
fn an_ssh_drop_detaches_the_console_and_every_stream_stays_on_air() {
    let runtime = Runtime::new();
    let (_dir, dir_path) = test_dir();
    let config = write_config(&dir_path, &[("one", "low-latency"), ("two", "stable")]);
    let hls_dir = dir_path.join("hls");
    let (master, slave) = open_pty();
    let slave_fd = slave.as_raw_fd();
    let mut command = runtime.onair();
    command
        .arg(&config)
        .env("TERM", "xterm")
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and ioctl are async-signal-safe; they make the pty the
    // child's controlling terminal, as sshd does for a login.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut console = command.spawn().expect("spawn onair");
    // Be the terminal: read (and drop) what the console draws, and answer
    // its cursor-position queries as a terminal emulator does, until the
    // connection drops (then the master side, held here only, is closed).
    let hang_up = Arc::new(AtomicBool::new(false));
    let drawn = Arc::new(AtomicBool::new(false));
    let terminal = {
        let (hang_up, drawn) = (Arc::clone(&hang_up), Arc::clone(&drawn));
        std::thread::spawn(move || be_the_terminal(master, &hang_up, &drawn))
    };
    let pids = wait_for_pids(&hls_dir, &STREAMS, "both streams", START, |pids| {
        pids.len() == 2
    });
    let engine = runtime.engine_pid();
    assert_ne!(engine, console.id(), "the streams belong to the engine");
    let engine_log = || {
        std::fs::read_dir(dir_path.join("logs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
    };
    let deadline = Instant::now() + STEP;
    while !(drawn.load(Ordering::SeqCst) && engine_log().contains("a console attached")) {
        assert!(
            Instant::now() < deadline,
            "the console never drew its dashboard"
        );
        std::thread::sleep(POLL);
    }

    // The connection drops: the console goes, nothing else does.
    hang_up.store(true, Ordering::SeqCst);
    terminal.join().expect("terminal thread");
    let deadline = Instant::now() + STEP;
    let status = loop {
        if let Some(status) = console.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the console outlived its terminal"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "a hang-up is a detach: {status:?}");
    let watch_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < watch_until {
        assert_eq!(
            wait_for_pids(&hls_dir, &STREAMS, "both streams", STEP, |p| p.len() == 2),
            pids,
            "an FFmpeg was touched when the terminal went away"
        );
        assert!(alive(engine), "the engine went with the terminal");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The operator logs in again: `onair` attaches to the same streams.
    let tmux = Tmux::new(&dir_path);
    tmux.open(
        "again",
        120,
        30,
        &runtime.console_line(&format!("'{}'", config.display())),
    );
    tmux.wait_for_screen("again", "both streams running, one console", |s| {
        STREAMS
            .iter()
            .all(|name| row(s, name).is_some_and(|r| r.contains("running")))
            && s.contains("1 console ")
    });
    assert_eq!(
        ffmpeg_pids(&hls_dir, &STREAMS)
            .into_iter()
            .map(|(name, pids)| (name, pids[0]))
            .collect::<std::collections::BTreeMap<_, _>>(),
        pids,
        "attaching again touched an FFmpeg"
    );
    assert_eq!(runtime.engine_pids(), vec![engine], "one engine, the same");

    let log = engine_log();
    assert!(log.contains("a console detached"), "{log}");
}
