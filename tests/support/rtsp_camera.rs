//! A real RTSP IP camera for the tests: `rtsp_camera.py` beside this file,
//! GStreamer's RTSP server from Debian, on a free loopback port.
//!
//! The camera runs in its own process group with a death signal, so a
//! failing test leaves nothing behind; dropping a [`Camera`] switches it off.
//! [`Camera::switch_off`] and [`Camera::switch_on`] take it down and bring it
//! back on the same address, as a camera that loses power does.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Debian's interpreter: the GStreamer bindings (`python3-gi`) are installed
/// for it, not for a `python3` that another tool may have put first in PATH.
const PYTHON: &str = "/usr/bin/python3";

const INSTALL: &str = "apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 \
     gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
     gstreamer1.0-plugins-ugly gstreamer1.0-libav";

/// The video codec the camera sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// H.264 (x264enc), what every screen plays.
    H264,
    /// H.265 (x265enc), what browsers cannot play.
    H265,
}

/// How the camera checks who reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may read.
    None,
    /// RTSP basic authentication.
    Basic { user: String, password: String },
    /// RTSP digest authentication.
    Digest { user: String, password: String },
}

/// What the camera sends.
#[derive(Debug, Clone)]
pub struct Settings {
    pub codec: Codec,
    pub size: (u32, u32),
    pub fps: u32,
    /// Seconds between keyframes.
    pub keyframe: f64,
    pub audio: bool,
    pub auth: Auth,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            codec: Codec::H264,
            size: (320, 180),
            fps: 15,
            keyframe: 1.0,
            audio: true,
            auth: Auth::None,
        }
    }
}

/// One running (or switched off) camera.
pub struct Camera {
    settings: Settings,
    port: u16,
    child: Option<Child>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/rtsp_camera.py")
}

impl Camera {
    /// Starts a camera on a free port and waits until it listens.
    pub fn start(settings: Settings) -> Camera {
        assert!(
            Path::new(PYTHON).exists(),
            "{PYTHON} is missing: the camera tests need Debian's Python with GStreamer ({INSTALL})"
        );
        let mut camera = Camera {
            settings,
            port: 0,
            child: None,
            stderr: Default::default(),
        };
        camera.switch_on();
        camera
    }

    /// The camera's URL without credentials.
    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }

    /// The camera's URL with `user:password@`.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("rtsp://{user}:{password}@127.0.0.1:{}/cam", self.port)
    }

    /// The port it listens on (kept across switch off and on).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the camera's process (on the port it had, if it had one).
    pub fn switch_on(&mut self) {
        assert!(self.child.is_none(), "the camera is already on");
        let s = &self.settings;
        let mut command = Command::new(PYTHON);
        command
            .arg(script())
            .args(["--port", &self.port.to_string()])
            .args([
                "--codec",
                match s.codec {
                    Codec::H264 => "h264",
                    Codec::H265 => "h265",
                },
            ])
            .args(["--size", &format!("{}x{}", s.size.0, s.size.1)])
            .args(["--fps", &s.fps.to_string()])
            .args(["--keyframe", &s.keyframe.to_string()])
            .args(["--audio", if s.audio { "aac" } else { "none" }]);
        match &s.auth {
            Auth::None => {}
            Auth::Basic { user, password } | Auth::Digest { user, password } => {
                let method = if matches!(s.auth, Auth::Basic { .. }) {
                    "basic"
                } else {
                    "digest"
                };
                command.args(["--auth", method, "--user", user, "--password", password]);
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run the test camera ({e}): {INSTALL}"));
        let stdout = child.stdout.take().expect("camera stdout");
        let mut stderr = child.stderr.take().expect("camera stderr");
        let kept = std::sync::Arc::clone(&self.stderr);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            if let Ok(mut k) = kept.lock() {
                k.push_str(&text);
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let Some(port) = line
            .trim()
            .strip_prefix("ready rtsp://127.0.0.1:")
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse::<u16>().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "the test camera did not start (said {line:?}); stderr: {}\n({INSTALL})",
                self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
            );
        };
        self.port = port;
        self.child = Some(child);
    }

    /// Stops the camera's process; its port refuses connections afterwards.
    pub fn switch_off(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on the process group created for the camera.
        unsafe {
            libc::kill(-(child.id() as libc::pid_t), libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe {
            libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = child.wait();
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on the process group created for the camera.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}
