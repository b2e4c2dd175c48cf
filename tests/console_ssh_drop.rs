//! An SSH session that drops under the console must not take the venue off
//! air: the streams keep running until a stop signal.
//!
//! The drop is reproduced as it happens: the console runs on a real pseudo
//! terminal as its controlling terminal, and the terminal's master side is
//! closed (the kernel then hangs up the session).

mod common;

use common::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    // SAFETY: both descriptors were just opened and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

#[test]
fn an_ssh_drop_keeps_every_stream_on_air_until_a_stop_signal() {
    let config = TempConfig::new(&config_text(&format!(
        "{}{}",
        lavfi_stream("one", "low-latency", true),
        lavfi_stream("two", "stable", true)
    )));
    let (master, slave) = open_pty();
    let slave_fd = slave.as_raw_fd();
    let mut command = Command::new(env!("CARGO_BIN_EXE_onair"));
    command
        .arg(&config.path)
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
    let mut onair = command.spawn().expect("spawn onair");
    // Keep the console fed: read (and drop) what it draws.
    let reader = std::fs::File::from(master.try_clone().expect("dup master"));
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::BufReader::new(reader), &mut std::io::sink());
    });

    let deadline = Instant::now() + Duration::from_secs(20);
    let pids = loop {
        // Each stream runs an ingest and an output.
        let kids: Vec<u32> = stream_ffmpegs_of(onair.id());
        if kids.len() == 4 && config.hls("one").join("index.m3u8").exists() {
            break kids;
        }
        assert!(Instant::now() < deadline, "the streams did not start");
        std::thread::sleep(Duration::from_millis(100));
    };

    // The connection drops.
    drop(master);
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        assert!(
            onair.try_wait().expect("try_wait").is_none(),
            "onair ended with its terminal"
        );
        for pid in &pids {
            assert!(
                alive(*pid),
                "ffmpeg {pid} was cut when the terminal went away"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    kill(onair.id(), libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = onair.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "onair did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    for pid in pids {
        assert!(!alive(pid), "ffmpeg {pid} survived");
    }
    let log = std::fs::read_dir(config.dir.path().join("logs"))
        .expect("logs")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(log.contains("the console lost its terminal"), "{log}");
}
