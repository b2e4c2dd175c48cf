//! One stream's supervisor: a task that owns one FFmpeg at a time, restarts
//! it with backoff when it exits, kills it when it stalls, and stops it
//! gracefully when told.

use super::child::{self, Spawner, StopOutcome};
use super::journal::{Journal, Level};
use super::role::Role;
use super::snapshot::{StateChange, StreamState, UnixMillis, now_millis};
use crate::config::{Output, StreamSpec};
use crate::ffmpeg::{self, Progress, ProgressParser, errors, hls};
use crate::secrets;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, mpsc};

/// stderr lines kept per stream.
const STDERR_KEPT: usize = 200;
/// State changes kept per stream.
const HISTORY_KEPT: usize = 30;
/// First restart delay; doubles per attempt.
const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest restart delay.
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Extra time the watchdog gives a new FFmpeg to produce its first output.
const STARTUP_GRACE: Duration = Duration::from_secs(10);
/// A process that ran this long resets the backoff.
const HEALTHY_RESET: Duration = Duration::from_secs(60);

/// The restart delay before attempt `attempt` (1-based).
pub(crate) fn backoff(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    BACKOFF_START
        .saturating_mul(1u32 << doublings)
        .min(BACKOFF_CAP)
}

/// Everything a stream task needs to run its FFmpeg.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// The resolved stream.
    pub spec: StreamSpec,
    /// The full command, program first.
    pub argv: Vec<String>,
    /// The HLS directory to clean before a start, for HLS outputs.
    pub hls_dir: Option<PathBuf>,
    /// Values to mask in anything shown.
    pub secrets: Arc<Vec<String>>,
    /// The command as the operator may see it (masked, shell-quoted).
    pub shown_command: String,
    /// The input as the operator may see it (masked).
    pub shown_input: String,
    /// The output as the operator may see it (masked).
    pub shown_output: String,
}

/// What the engine tells a stream task.
#[derive(Debug)]
pub(crate) enum Control {
    /// Keep it running.
    Enable,
    /// Stop it and keep it stopped.
    Disable,
    /// Restart it now (or start it again after a failure).
    Restart,
    /// New command line: restart if running, use it from now on.
    Replace(Box<Launch>),
    /// Same command line, other settings (watchdog timeout): no restart.
    Update(Box<Launch>),
    /// Stop and end the task.
    Shutdown,
}

/// What the task shares with the engine for snapshots. Written by the task,
/// except `cpu_percent`/`rss_bytes`, which the engine's sampler fills in.
#[derive(Debug, Clone)]
pub(crate) struct StreamStatus {
    pub launch: Launch,
    pub state: StreamState,
    pub pid: Option<u32>,
    pub running_since: Option<UnixMillis>,
    pub progress: Option<Progress>,
    pub restarts: u32,
    pub stalls: u32,
    pub last_error: Option<String>,
    pub stderr: VecDeque<String>,
    pub history: VecDeque<StateChange>,
    pub cpu_percent: Option<f32>,
    pub rss_bytes: Option<u64>,
    /// Output bitrate read from the HLS segments (FFmpeg reports none for HLS).
    pub hls_kbps: Option<f64>,
    /// The stream's ingest, relay and slate, for a row of a stream with
    /// fallback (the row's own FFmpeg is then its output).
    pub group: Option<super::relayed::GroupView>,
}

impl StreamStatus {
    pub(crate) fn new(launch: Launch) -> Self {
        StreamStatus {
            launch,
            state: StreamState::Stopped,
            pid: None,
            running_since: None,
            progress: None,
            restarts: 0,
            stalls: 0,
            last_error: None,
            stderr: VecDeque::new(),
            history: VecDeque::new(),
            cpu_percent: None,
            rss_bytes: None,
            hls_kbps: None,
            group: None,
        }
    }
}

/// Why one run of FFmpeg ended.
enum RunEnd {
    /// The engine asked to stop and stay stopped.
    Disabled,
    /// The engine asked for a restart (operator, or a new command line).
    RestartNow,
    /// The engine is shutting down.
    Shutdown,
    /// FFmpeg exited by itself, after being healthy for this long.
    Exited(Duration),
    /// The watchdog killed it, after being healthy for this long.
    Stalled(Duration),
    /// It cannot run until the operator acts.
    Failed(String),
}

/// What a wait between runs ended with.
enum Wake {
    Go,
    Disabled,
    Shutdown,
}

/// How a stream task tells the engine that its status changed: `changed`
/// for figures (published at the engine's pace), `urgent` for a new state,
/// which every UI should see at once.
#[derive(Default)]
pub(crate) struct Wakeups {
    pub changed: Notify,
    pub urgent: Notify,
}

/// The task of one stream.
pub(crate) struct StreamTask {
    name: String,
    launch: Launch,
    status: Arc<Mutex<StreamStatus>>,
    control: mpsc::UnboundedReceiver<Control>,
    spawner: Spawner,
    journal: Journal,
    wakeups: Arc<Wakeups>,
    /// The highest HLS segment number this stream may have used: every run
    /// starts above it, so no segment name ever comes back.
    segments_used: Option<u64>,
    role: Role,
}

impl StreamTask {
    pub(crate) fn new(
        launch: Launch,
        status: Arc<Mutex<StreamStatus>>,
        control: mpsc::UnboundedReceiver<Control>,
        spawner: Spawner,
        journal: Journal,
        wakeups: Arc<Wakeups>,
        role: Role,
    ) -> Self {
        StreamTask {
            name: launch.spec.name.clone(),
            launch,
            status,
            control,
            spawner,
            journal,
            wakeups,
            segments_used: None,
            role,
        }
    }

    fn update(&self, f: impl FnOnce(&mut StreamStatus)) {
        if let Ok(mut status) = self.status.lock() {
            f(&mut status);
        }
        self.wakeups.changed.notify_one();
    }

    fn set_state(&self, state: StreamState, why: &str) {
        let text = if why.is_empty() {
            format!("{}{}", self.role.prefix(), state.label())
        } else {
            format!("{}{}: {why}", self.role.prefix(), state.label())
        };
        let level = match state {
            StreamState::Failed { .. } => Level::Error,
            StreamState::Stalled | StreamState::Retrying { .. } => Level::Warn,
            _ => Level::Info,
        };
        self.journal.record(level, Some(&self.name), text.clone());
        self.update(|s| {
            if !matches!(state, StreamState::Running | StreamState::Starting) {
                s.pid = None;
                s.running_since = None;
                s.cpu_percent = None;
                s.rss_bytes = None;
                s.hls_kbps = None;
            }
            s.state = state;
            s.history.push_back(StateChange {
                at: now_millis(),
                text,
            });
            while s.history.len() > HISTORY_KEPT {
                s.history.pop_front();
            }
        });
        self.wakeups.urgent.notify_one();
    }

    fn set_launch(&mut self, launch: Launch) {
        self.launch = launch.clone();
        self.update(|s| s.launch = launch);
    }

    /// Runs until told to shut down.
    pub(crate) async fn run(mut self) {
        let mut wanted = self.launch.spec.enabled;
        let mut attempt: u32 = 0;
        if !wanted {
            self.set_state(StreamState::Stopped, "disabled");
        }
        loop {
            if !wanted {
                match self.wait_for_start().await {
                    Wake::Go => {
                        wanted = true;
                        attempt = 0;
                    }
                    Wake::Shutdown => return,
                    Wake::Disabled => {}
                }
                continue;
            }
            match self.run_once().await {
                RunEnd::Shutdown => return,
                RunEnd::Disabled => {
                    wanted = false;
                    self.set_state(StreamState::Stopped, "stopped by the operator");
                }
                RunEnd::RestartNow => attempt = 0,
                RunEnd::Failed(reason) => {
                    self.update(|s| s.last_error = Some(reason.clone()));
                    self.set_state(StreamState::Failed { reason }, "");
                    match self.wait_for_start().await {
                        Wake::Go => attempt = 0,
                        Wake::Disabled => {
                            wanted = false;
                            self.set_state(StreamState::Stopped, "stopped by the operator");
                        }
                        Wake::Shutdown => return,
                    }
                }
                RunEnd::Exited(healthy) | RunEnd::Stalled(healthy) => {
                    if healthy >= HEALTHY_RESET {
                        attempt = 0;
                    }
                    attempt += 1;
                    self.update(|s| s.restarts += 1);
                    let mut delay = backoff(attempt).min(self.role.backoff_cap(BACKOFF_CAP));
                    if let Role::Ingest(_, pacer) = &self.role {
                        let now = tokio::time::Instant::now();
                        delay = pacer.reserve(now + delay) - now;
                    }
                    let retry_at = now_millis() + delay.as_millis() as u64;
                    self.set_state(
                        StreamState::Retrying { attempt, retry_at },
                        &format!("restart in {:.1} s", delay.as_secs_f64()),
                    );
                    match self.wait_backoff(delay).await {
                        Wake::Go => {}
                        Wake::Disabled => {
                            wanted = false;
                            attempt = 0;
                            self.set_state(StreamState::Stopped, "stopped by the operator");
                        }
                        Wake::Shutdown => return,
                    }
                }
            }
        }
    }

    /// Waits while stopped or failed, until something asks for a start.
    async fn wait_for_start(&mut self) -> Wake {
        loop {
            match self.control.recv().await {
                None | Some(Control::Shutdown) => return Wake::Shutdown,
                Some(Control::Enable) | Some(Control::Restart) => return Wake::Go,
                Some(Control::Disable) => {
                    if !matches!(self.current_state(), StreamState::Stopped) {
                        return Wake::Disabled;
                    }
                }
                Some(Control::Replace(launch)) => {
                    let was_failed = matches!(self.current_state(), StreamState::Failed { .. });
                    let enabled = launch.spec.enabled;
                    self.set_launch(*launch);
                    if was_failed && enabled {
                        return Wake::Go;
                    }
                }
                Some(Control::Update(launch)) => self.set_launch(*launch),
            }
        }
    }

    fn current_state(&self) -> StreamState {
        self.status
            .lock()
            .map(|s| s.state.clone())
            .unwrap_or(StreamState::Stopped)
    }

    /// Waits out a restart delay; commands cut it short.
    async fn wait_backoff(&mut self, delay: Duration) -> Wake {
        let deadline = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Wake::Go,
                msg = self.control.recv() => match msg {
                    None | Some(Control::Shutdown) => return Wake::Shutdown,
                    Some(Control::Disable) => return Wake::Disabled,
                    Some(Control::Enable) => {}
                    Some(Control::Restart) => return Wake::Go,
                    Some(Control::Replace(launch)) => {
                        self.set_launch(*launch);
                        return Wake::Go;
                    }
                    Some(Control::Update(launch)) => self.set_launch(*launch),
                },
            }
        }
    }

    /// The command of the next run. For HLS: numbers its segments above
    /// every name used so far, then clears what a previous run left, so a
    /// screen never plays old segments.
    fn prepare_run(&mut self) -> Result<Vec<String>, String> {
        let Some(dir) = &self.launch.hls_dir else {
            return Ok(self.launch.argv.clone());
        };
        let start = hls::start_number(dir, self.segments_used, SystemTime::now());
        ffmpeg::prepare_dir(dir)?;
        self.segments_used = Some(start);
        Ok(hls::numbered(&self.launch.argv, start))
    }

    /// FFmpeg could not be started for a reason that may pass: the stream
    /// retries with backoff, saying why.
    fn not_started(&self, reason: String) -> RunEnd {
        let reason = errors::with_hint(&reason);
        self.journal
            .record(Level::Warn, Some(&self.name), reason.clone());
        self.update(|s| s.last_error = Some(reason));
        RunEnd::Exited(Duration::ZERO)
    }

    fn mask(&self, text: &str) -> String {
        secrets::mask_text(text, &self.launch.secrets)
    }

    /// Starts FFmpeg once and follows it until it ends or is told to stop.
    async fn run_once(&mut self) -> RunEnd {
        // A directory that cannot be prepared right now (a full disk, a
        // file in the way, a mount not back yet) is retried with backoff.
        let argv = match self.prepare_run() {
            Ok(argv) => argv,
            Err(reason) => return self.not_started(reason),
        };
        self.update(|s| {
            s.progress = None;
            s.stderr.clear();
        });
        let (extras, ts_pipe) = match self.role.plumbing() {
            Ok(plumbing) => plumbing,
            Err(e) => return self.not_started(format!("cannot create the ingest's pipe: {e}")),
        };
        let mut child = match self.spawner.spawn_with(argv, extras).await {
            Ok(child) => child,
            Err(e) => {
                let failure = errors::spawn_failure(&self.launch.argv[0], &e);
                if failure.retry {
                    return self.not_started(failure.message);
                }
                return RunEnd::Failed(failure.message);
            }
        };
        let pid = child.id();
        self.update(|s| s.pid = pid);
        self.set_state(
            StreamState::Starting,
            &pid.map(|p| format!("pid {p}")).unwrap_or_default(),
        );

        let mut stdin = child.stdin.take();
        self.role.connect(&self.name, &mut stdin, ts_pipe);
        let mut stdout = child.stdout.take().map(|o| BufReader::new(o).lines());
        let mut stderr = child.stderr.take().map(|e| BufReader::new(e).lines());
        let mut parser = ProgressParser::new();
        let mut last_out_time: Option<i64> = None;
        let mut last_advance = tokio::time::Instant::now();
        let mut fed_at_advance = self.role.relay_fed();
        let mut fed_before = false;
        let mut running_since: Option<Instant> = None;
        let mut errors = errors::RunErrors::default();
        let healthy = |since: Option<Instant>| since.map_or(Duration::ZERO, |t| t.elapsed());

        loop {
            // Opening and probing a network source can take several seconds
            // before the first progress: the watchdog allows for it once.
            let allowed = if running_since.is_none() {
                self.launch.spec.stall_timeout + STARTUP_GRACE
            } else {
                self.launch.spec.stall_timeout
            };
            let stall_at = last_advance + allowed;
            tokio::select! {
                msg = self.control.recv() => match msg {
                    Some(Control::Enable) => {}
                    Some(Control::Update(launch)) => self.set_launch(*launch),
                    Some(Control::Disable) => {
                        self.stop(&mut child, stdin.take()).await;
                        return RunEnd::Disabled;
                    }
                    Some(Control::Restart) => {
                        self.journal.record(Level::Info, Some(&self.name), "restart requested");
                        self.stop(&mut child, stdin.take()).await;
                        return RunEnd::RestartNow;
                    }
                    Some(Control::Replace(launch)) => {
                        self.journal.record(Level::Info, Some(&self.name), "command line changed: restarting");
                        self.stop(&mut child, stdin.take()).await;
                        let enabled = launch.spec.enabled;
                        self.set_launch(*launch);
                        return if enabled { RunEnd::RestartNow } else { RunEnd::Disabled };
                    }
                    None | Some(Control::Shutdown) => {
                        self.stop(&mut child, stdin.take()).await;
                        self.set_state(StreamState::Stopped, "onair is shutting down");
                        return RunEnd::Shutdown;
                    }
                },
                line = next_line(&mut stdout) => match line {
                    Some(line) => {
                        if let Some(progress) = parser.feed(&line) {
                            let advanced = match (progress.out_time_us, last_out_time) {
                                (Some(now), Some(before)) => now > before,
                                (Some(now), None) => now > 0,
                                _ => false,
                            };
                            if advanced {
                                last_out_time = progress.out_time_us;
                                last_advance = tokio::time::Instant::now();
                                fed_at_advance = self.role.relay_fed();
                                if running_since.is_none() {
                                    running_since = Some(Instant::now());
                                    self.update(|s| s.running_since = Some(now_millis()));
                                    self.set_state(StreamState::Running, &pid.map(|p| format!("pid {p}")).unwrap_or_default());
                                }
                            }
                            self.update(|s| s.progress = Some(progress));
                        }
                    }
                    None => stdout = None,
                },
                line = next_line(&mut stderr) => match line {
                    Some(line) => self.stderr_line(&line, &mut errors),
                    None => stderr = None,
                },
                status = child.wait() => {
                    // Read what FFmpeg printed just before it died: it is the reason.
                    if let Some(lines) = stderr.as_mut() {
                        let drain = async {
                            while let Ok(Some(line)) = lines.next_line().await {
                                self.stderr_line(&line, &mut errors);
                            }
                        };
                        let _ = tokio::time::timeout(Duration::from_millis(300), drain).await;
                    }
                    let exit = errors::describe_exit(status.ok());
                    let reason = match errors.reason() {
                        Some(line) => format!("{exit}: {line}"),
                        None => exit,
                    };
                    let reason = errors::with_hint(&reason);
                    self.update(|s| s.last_error = Some(reason.clone()));
                    if running_since.is_none() && errors.unfixable().is_some() {
                        return RunEnd::Failed(reason);
                    }
                    self.journal.record(Level::Warn, Some(&self.name), format!("ffmpeg {reason}"));
                    return RunEnd::Exited(healthy(running_since));
                },
                _ = tokio::time::sleep_until(stall_at) => {
                    // An output that was given nothing to write is not
                    // stalled: the relay has nothing on the air. Its watchdog
                    // counts from the first data it was given.
                    if let Some(fed) = self.role.relay_fed() {
                        let idle = Some(fed) == fed_at_advance;
                        if idle || !fed_before {
                            fed_before |= !idle;
                            fed_at_advance = Some(fed);
                            last_advance = tokio::time::Instant::now();
                            continue;
                        }
                    }
                    let secs = allowed.as_secs_f64();
                    self.update(|s| {
                        s.stalls += 1;
                        s.last_error = Some(format!("stalled: no progress for {secs:.0} s"));
                    });
                    self.set_state(StreamState::Stalled, &format!("no progress for {secs:.0} s, killing"));
                    child::kill_now(&mut child).await;
                    return RunEnd::Stalled(healthy(running_since));
                },
            }
        }
    }

    fn stderr_line(&self, line: &str, errors: &mut errors::RunErrors) {
        let masked = self.mask(line.trim_end());
        if masked.is_empty() {
            return;
        }
        tracing::info!(stream = %self.name, "ffmpeg: {masked}");
        if let Some(text) = errors::error_text(&masked) {
            let shown = errors.push(text).to_string();
            self.update(|s| s.last_error = Some(shown));
        }
        self.update(|s| {
            s.stderr.push_back(masked);
            while s.stderr.len() > STDERR_KEPT {
                s.stderr.pop_front();
            }
        });
    }

    async fn stop(
        &self,
        child: &mut tokio::process::Child,
        stdin: Option<tokio::process::ChildStdin>,
    ) {
        // An output's input is the relay: closing it ends FFmpeg's input,
        // and FFmpeg finishes its file (HLS gets its end tag) and exits.
        self.role.disconnect(&self.name);
        let outcome = child::stop_gracefully(child, stdin).await;
        let text = match outcome {
            StopOutcome::Quit => "ffmpeg finished its output and exited",
            StopOutcome::Terminated => "ffmpeg did not quit in time: terminated",
            StopOutcome::Killed => "ffmpeg did not terminate in time: killed",
        };
        self.journal.record(Level::Info, Some(&self.name), text);
        self.update(|s| {
            s.pid = None;
            s.running_since = None;
        });
    }
}

async fn next_line<R>(lines: &mut Option<tokio::io::Lines<R>>) -> Option<String>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    match lines {
        Some(l) => l.next_line().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// True when the stream writes HLS (so it has a directory to clean).
pub(crate) fn writes_hls(spec: &StreamSpec) -> bool {
    matches!(spec.output, Output::Hls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_half_a_second_to_thirty() {
        let delays: Vec<u64> = (1..=9).map(|a| backoff(a).as_millis() as u64).collect();
        assert_eq!(
            delays,
            vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff(1000), BACKOFF_CAP);
    }
}
