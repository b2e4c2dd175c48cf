//! Real RTMP parts for the restream tests and the relay latency measurement:
//! nginx with Debian's RTMP module (run from `assets/nginx-rtmp.conf` on a
//! free port in a temp dir), a synthetic encoder that publishes to it, a
//! viewer that follows a stream's progress, and ffprobe.
//!
//! Every process is in its own process group and gets a death signal, so a
//! failing test leaves nothing running; dropping a value kills its process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where Debian's libnginx-mod-rtmp puts the module (and what the shipped
/// config loads).
pub const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// `tests/common/net.rs`, which whoever includes this file also includes.
use super::free_port;

const INSTALL: &str = "install them with `apt-get install nginx-light libnginx-mod-rtmp` \
                       (or `nginx` instead of `nginx-light`)";

/// The nginx binary, or a panic that says what to install.
pub fn require_nginx_rtmp() -> PathBuf {
    let nginx = require_nginx();
    assert!(
        Path::new(RTMP_MODULE).exists(),
        "the nginx RTMP module is missing ({RTMP_MODULE}): {INSTALL}"
    );
    nginx
}

/// The nginx binary (any build), or a panic that says what to install.
pub fn require_nginx() -> PathBuf {
    find_in_path("nginx")
        .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.exists()))
        .unwrap_or_else(|| {
            panic!("nginx is not installed: these tests run a real nginx; {INSTALL}")
        })
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Puts the child in its own process group and has the kernel send it
/// `signal` if this process dies, so nothing outlives a crashed test.
fn guarded(command: &mut Command, signal: libc::c_int) -> &mut Command {
    command.process_group(0);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

fn signal_group(child: &Child, signal: libc::c_int) {
    // SAFETY: kill(2) on the process group this module created for the child.
    unsafe {
        libc::kill(-(child.id() as libc::pid_t), signal);
    }
}

/// Waits for a child to exit, up to `limit`; true if it did.
fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// The shipped `assets/nginx-rtmp.conf` with its port, pid file and log
/// moved into `dir`: the tests run the very file the README tells
/// operators to install.
pub fn render_config(dir: &Path, port: u16) -> String {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/nginx-rtmp.conf"
    ))
    .expect("assets/nginx-rtmp.conf is missing");
    let mut text = shipped;
    for (directive, replacement) in [
        ("pid ", format!("pid {};", dir.join("nginx.pid").display())),
        (
            "error_log ",
            format!("error_log {} info;", dir.join("error.log").display()),
        ),
        ("listen ", format!("listen 127.0.0.1:{port};")),
    ] {
        text = replace_directive(&text, directive, &replacement, "assets/nginx-rtmp.conf");
    }
    text
}

/// `text` with its one line starting with `directive` replaced (keeping the
/// indentation); panics unless there is exactly one such line in `file`.
pub fn replace_directive(text: &str, directive: &str, replacement: &str, file: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with(directive))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{file} should have exactly one `{directive}` line"
    );
    let line = lines[0].to_string();
    let indent = &line[..line.len() - line.trim_start().len()];
    text.replace(&line, &format!("{indent}{replacement}"))
}

/// One nginx-rtmp server on 127.0.0.1, stream URLs `rtmp://127.0.0.1:PORT/live/NAME`.
pub struct Nginx {
    binary: PathBuf,
    dir: PathBuf,
    conf: PathBuf,
    /// Its port.
    pub port: u16,
    child: Option<Child>,
}

impl Nginx {
    /// Starts nginx in `parent/label/` on a free port and waits until it accepts connections.
    pub fn start(parent: &Path, label: &str) -> Nginx {
        require_nginx_rtmp();
        Nginx::start_config(parent, label, render_config)
    }

    /// Starts nginx in `parent/label/` from any configuration, rendered for
    /// that directory and a free port, and waits until it accepts connections.
    pub fn start_config(
        parent: &Path,
        label: &str,
        render: impl Fn(&Path, u16) -> String,
    ) -> Nginx {
        let binary = require_nginx();
        let dir = parent.join(label);
        std::fs::create_dir_all(&dir).expect("cannot create the nginx directory");
        let port = free_port();
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, render(&dir, port)).expect("cannot write nginx.conf");
        let mut nginx = Nginx {
            binary,
            dir,
            conf,
            port,
            child: None,
        };
        nginx.spawn();
        nginx
    }

    fn spawn(&mut self) {
        let mut command = Command::new(&self.binary);
        command
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(&self.conf)
            .arg("-e")
            .arg(self.dir.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = guarded(&mut command, libc::SIGTERM)
            .spawn()
            .expect("cannot run nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !accepts(self.port) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "nginx exited ({status}) instead of listening on 127.0.0.1:{}: {}",
                    self.port,
                    self.error_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on 127.0.0.1:{} within 10 s: {}",
                self.port,
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Shuts nginx down (a graceful fast shutdown that closes every
    /// connection, then a kill of its group if it lingers) and waits until
    /// the port refuses connections.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        if !wait_exit(&mut child, Duration::from_secs(5)) {
            signal_group(&child, libc::SIGKILL);
            let _ = child.wait();
        }
        signal_group(&child, libc::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while accepts(self.port) {
            assert!(
                Instant::now() < deadline,
                "port {} still open after nginx stopped",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again on the same port.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "nginx is already running");
        self.spawn();
    }

    /// The URL of one stream on this server.
    pub fn url(&self, name: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{name}", self.port)
    }

    /// nginx's own log, for failure messages.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(&child, libc::SIGKILL);
            let _ = child.wait();
        }
    }
}

/// An encoder stand-in: a small lavfi picture (320x180, 15 fps, 1 s GOP)
/// and a tone, H.264 + AAC, published to an RTMP URL, as OBS would.
pub struct Feed {
    child: Child,
}

impl Feed {
    /// Starts publishing to `url`.
    pub fn publish(url: &str) -> Feed {
        Feed::publish_to(&[url.to_string()])
    }

    /// Publishes the same encoded packets to every URL at once (FFmpeg's tee
    /// muxer), so that two paths can be compared packet for packet.
    pub fn publish_to(urls: &[String]) -> Feed {
        Feed::publish_picture(urls, "320x180", 15)
    }

    /// Like [`Feed::publish_to`] with another picture size (`WxH`) and rate.
    pub fn publish_picture(urls: &[String], size: &str, rate: u32) -> Feed {
        let picture = format!("testsrc2=size={size}:rate={rate}");
        let gop = rate.to_string();
        let mut command = Command::new("ffmpeg");
        command.args([
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            &picture,
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            &gop,
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ]);
        if let [url] = urls {
            command.args(["-f", "flv", url]);
        } else {
            let targets: Vec<String> = urls
                .iter()
                .map(|u| format!("[f=flv:onfail=ignore]{u}"))
                .collect();
            // The tee muxer does not ask the encoder for global headers as
            // FLV does; without them the H.264 would go out in Annex B form.
            command.args([
                "-flags",
                "+global_header",
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-f",
                "tee",
                &targets.join("|"),
            ]);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = guarded(&mut command, libc::SIGKILL)
            .spawn()
            .expect("cannot run ffmpeg (apt-get install ffmpeg)");
        Feed { child }
    }

    /// True while the encoder is still publishing.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        signal_group(&self.child, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// A viewer of one RTMP stream: an FFmpeg that reads it to nowhere and
/// reports its progress, so a test can tell whether the stream flowed
/// without a break.
pub struct Viewer {
    child: Child,
    advances: Arc<Mutex<Vec<Instant>>>,
    ended: Arc<AtomicBool>,
}

impl Viewer {
    /// Starts reading `url`.
    pub fn watch(url: &str) -> Viewer {
        let mut command = Command::new("ffmpeg");
        command
            .args([
                "-hide_banner",
                "-nostats",
                "-loglevel",
                "error",
                "-rtmp_live",
                "live",
                "-rw_timeout",
                "5000000",
                "-i",
                url,
                "-c",
                "copy",
                "-f",
                "null",
                "-progress",
                "pipe:1",
                "-",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = guarded(&mut command, libc::SIGKILL)
            .spawn()
            .expect("cannot run ffmpeg");
        let stdout = child.stdout.take().expect("piped stdout");
        let advances = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(AtomicBool::new(false));
        let (seen, done) = (Arc::clone(&advances), Arc::clone(&ended));
        std::thread::spawn(move || {
            let mut last = 0i64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(us) = line.strip_prefix("out_time_us=") {
                    let us = us.trim().parse::<i64>().unwrap_or(0);
                    if us > last {
                        last = us;
                        seen.lock().unwrap().push(Instant::now());
                    }
                }
            }
            done.store(true, Ordering::SeqCst);
        });
        Viewer {
            child,
            advances,
            ended,
        }
    }

    /// Waits until the viewer has received media, up to `limit`.
    pub fn wait_flowing(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.advances.lock().unwrap().len() >= 2 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// True while the viewer is connected and reading.
    pub fn is_connected(&mut self) -> bool {
        !self.ended.load(Ordering::SeqCst) && matches!(self.child.try_wait(), Ok(None))
    }

    /// The longest time without new media between `since` and now, and
    /// when (after `since`) it began.
    pub fn longest_gap_since(&self, since: Instant) -> (Duration, Duration) {
        let advances = self.advances.lock().unwrap();
        let mut previous = since;
        let mut longest = (Duration::ZERO, Duration::ZERO);
        for &at in advances.iter().filter(|&&at| at >= since) {
            if at - previous > longest.0 {
                longest = (at - previous, previous - since);
            }
            previous = at;
        }
        if Instant::now() - previous > longest.0 {
            longest = (Instant::now() - previous, previous - since);
        }
        longest
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        signal_group(&self.child, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Any other helper process (an SRT listener, say), killed with its group
/// when dropped.
pub struct Guarded(pub Child);

impl Guarded {
    /// Spawns `command` in its own process group with a death signal.
    pub fn spawn(command: &mut Command) -> Guarded {
        Guarded(
            guarded(command, libc::SIGKILL)
                .spawn()
                .expect("cannot start a helper process"),
        )
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        signal_group(&self.0, libc::SIGKILL);
        let _ = self.0.wait();
    }
}

/// `codec_type=video|codec_name=h264|width=320|height=180` lines of what
/// ffprobe finds at `url`, or why it found nothing; gives up after `limit`.
pub fn probe(url: &str, limit: Duration) -> Result<String, String> {
    let mut command = Command::new("ffprobe");
    command
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "5000000",
            "-show_entries",
            "stream=codec_type,codec_name,width,height",
            "-of",
            "compact=p=0",
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = guarded(&mut command, libc::SIGKILL)
        .spawn()
        .map_err(|e| format!("cannot run ffprobe: {e}"))?;
    if !wait_exit(&mut child, limit) {
        signal_group(&child, libc::SIGKILL);
        let _ = child.wait();
        return Err(format!("ffprobe found nothing within {limit:?}"));
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() && !text.trim().is_empty() {
        Ok(text)
    } else {
        Err(format!(
            "ffprobe failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
