//! Starting and stopping one FFmpeg process so that it can never outlive
//! onair, and can always be stopped.
//!
//! Three guards against orphans: each child gets its own process group (so a
//! stray Ctrl-C in the terminal does not hit it, and a stop reaches any
//! helper it forks), `PR_SET_PDEATHSIG(SIGKILL)` (so the kernel kills it when
//! onair dies, even by `kill -9`), and `kill_on_drop`. The death signal fires
//! when the *thread* that spawned the child exits, so every child is spawned
//! from one thread that lives as long as the process: [`Spawner`].

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

/// How long FFmpeg gets to finish its output after `q` on stdin.
pub const QUIT_GRACE: Duration = Duration::from_secs(4);
/// How long FFmpeg gets after SIGTERM before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(2);

/// What a child gets beyond piped stdin, stdout and stderr.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    /// A pipe's write end, given to the child as file descriptor 3 (the
    /// ingest writes its transport stream there).
    pub fd3: Option<OwnedFd>,
    /// Run at the lowest CPU priority (work that may wait, such as encoding
    /// a slate clip ahead of need).
    pub background: bool,
    /// Environment variables on top of onair's.
    pub env: Vec<(String, String)>,
}

type SpawnRequest = (Vec<String>, Extras, oneshot::Sender<io::Result<Child>>);

/// The one long-lived thread that spawns every child process.
#[derive(Clone)]
pub(crate) struct Spawner {
    requests: std_mpsc::Sender<SpawnRequest>,
}

impl Spawner {
    /// Starts the spawning thread; call from inside the tokio runtime.
    pub(crate) fn new() -> io::Result<Spawner> {
        let runtime = tokio::runtime::Handle::current();
        let (requests, receiver) = std_mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("onair-spawner".into())
            .spawn(move || {
                let _guard = runtime.enter();
                while let Ok((argv, extras, reply)) = receiver.recv() {
                    let _ = reply.send(spawn_now(&argv, extras));
                }
                // Keep this thread (the parent of every child, for the death
                // signal) alive until the process ends, even when no spawner
                // handle is left.
                loop {
                    std::thread::park();
                }
            })?;
        Ok(Spawner { requests })
    }

    /// Spawns `argv[0]` with the rest as arguments, stdin/stdout/stderr piped.
    pub(crate) async fn spawn(&self, argv: Vec<String>) -> io::Result<Child> {
        self.spawn_with(argv, Extras::default()).await
    }

    /// Like [`Spawner::spawn`], with extra environment variables.
    pub(crate) async fn spawn_with_env(
        &self,
        argv: Vec<String>,
        env: Vec<(String, String)>,
    ) -> io::Result<Child> {
        let extras = Extras {
            env,
            ..Extras::default()
        };
        self.spawn_with(argv, extras).await
    }

    /// Like [`Spawner::spawn`], with a file descriptor 3, a low priority or
    /// an environment.
    pub(crate) async fn spawn_with(&self, argv: Vec<String>, extras: Extras) -> io::Result<Child> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send((argv, extras, tx))
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
        rx.await
            .map_err(|_| io::Error::other("the spawner thread dropped the request"))?
    }
}

fn spawn_now(argv: &[String], extras: Extras) -> io::Result<Child> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let parent = std::process::id() as libc::pid_t;
    let fd3 = extras.fd3.as_ref().map(AsRawFd::as_raw_fd);
    let background = extras.background;
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(extras.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    // SAFETY: only async-signal-safe calls (prctl, getppid, dup2, fcntl,
    // setpriority, _exit) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // onair may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            if let Some(fd) = fd3 {
                // dup2 clears close-on-exec on the copy; a pipe already on
                // fd 3 only needs the flag cleared.
                let moved = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, 3)
                };
                if moved < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if background && libc::setpriority(libc::PRIO_PROCESS, 0, 19) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn();
    // The child holds its own copy of the pipe now; ours must close, or the
    // reader would never see the end of the stream.
    drop(extras.fd3);
    child
}

/// Sends a signal to the child's whole process group.
pub(crate) fn signal_group(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid addresses the process group we created.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
    }
}

/// How a stop ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopOutcome {
    /// FFmpeg finished its output after `q`.
    Quit,
    /// FFmpeg needed SIGTERM.
    Terminated,
    /// FFmpeg had to be killed.
    Killed,
}

/// Stops a child gracefully: `q` on stdin (FFmpeg closes its output
/// properly), then SIGTERM after [`QUIT_GRACE`], then SIGKILL after
/// [`TERM_GRACE`]. Always reaps the child.
///
/// `stdin` is held apart from the child because tokio's `Child::wait`
/// closes the child's stdin, and the task waits on the child all along.
pub(crate) async fn stop_gracefully(child: &mut Child, stdin: Option<ChildStdin>) -> StopOutcome {
    let Some(pid) = child.id() else {
        let _ = child.wait().await;
        return StopOutcome::Quit;
    };
    if let Some(mut stdin) = stdin {
        let _ = stdin.write_all(b"q").await;
        let _ = stdin.flush().await;
    }
    if tokio::time::timeout(QUIT_GRACE, child.wait()).await.is_ok() {
        return StopOutcome::Quit;
    }
    signal_group(pid, libc::SIGTERM);
    if tokio::time::timeout(TERM_GRACE, child.wait()).await.is_ok() {
        return StopOutcome::Terminated;
    }
    kill_now(child).await;
    StopOutcome::Killed
}

/// Kills a child and its group at once (a stalled process cannot quit) and reaps it.
pub(crate) async fn kill_now(child: &mut Child) {
    if let Some(pid) = child.id() {
        signal_group(pid, libc::SIGKILL);
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}
