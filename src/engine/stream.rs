//! One stream's supervisor: a task that owns one FFmpeg at a time, restarts
//! it with backoff when it exits, kills it when it stalls, and stops it
//! gracefully when told.

use super::child::{self, Spawner, StopOutcome};
use super::content::ContentWatch;
use super::journal::{Journal, Level};
use super::on_alarm::OnAlarm;
use super::role::Role;
use super::snapshot::{
    Alarm, AudioLevels, StateChange, StreamState, Thumbnail, UnixMillis, now_millis,
};
use super::source::{Learned, SourceKnowledge};
use super::watchdog::{Heard, Watchdog};
use crate::config::{Config, Output, StreamSpec};
use crate::ffmpeg::{self, AudioChoice, Handling, Progress, SourceInfo, errors, hls};
use crate::secrets;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
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
/// How often the keyframes of a copied source are read from its segments.
const KEYFRAME_CHECK: Duration = Duration::from_secs(1);
/// A run that made progress this long resets the backoff.
pub(crate) const HEALTHY_RESET: Duration = Duration::from_secs(60);

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
    /// The server and profile settings the command is built from once
    /// the source is known (`video`/`audio = "auto"`).
    pub config: Arc<Config>,
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
    /// The thumbnail FFmpeg keeps up to date, when it analyses the content.
    pub thumbnail: Option<PathBuf>,
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
    /// Counts changes of `stderr` and `history`, so a UI re-reads them
    /// only when they changed: change them only through `record_change`,
    /// `record_stderr` and `clear_stderr`.
    pub details_seq: u64,
    pub cpu_percent: Option<f32>,
    pub rss_bytes: Option<u64>,
    /// Output bitrate read from the HLS segments (FFmpeg reports none for HLS).
    pub hls_kbps: Option<f64>,
    /// What the source sends, once known.
    pub source: Option<SourceInfo>,
    /// What the current (or last) run does with it.
    pub handling: Option<Handling>,
    /// The command of the current run as the operator may see it.
    pub shown_command: Option<String>,
    /// The stream's ingest, relay and slate, for a row of a stream with
    /// fallback (the row's own FFmpeg is then its output).
    pub group: Option<super::relayed::GroupView>,
    /// The latest audio levels of the current run.
    pub audio: Option<AudioLevels>,
    /// The content alarms raised in the current run.
    pub alarms: Vec<Alarm>,
    /// The latest thumbnail (the engine's collector notices new ones).
    pub thumbnail: Option<Thumbnail>,
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
            details_seq: 0,
            cpu_percent: None,
            rss_bytes: None,
            hls_kbps: None,
            source: None,
            handling: None,
            shown_command: None,
            group: None,
            audio: None,
            alarms: Vec::new(),
            thumbnail: None,
        }
    }

    /// Records a state change in the history (the newest `HISTORY_KEPT`),
    /// and tells the UIs showing this stream's details to read them again.
    pub(crate) fn record_change(&mut self, text: String) {
        self.history.push_back(StateChange {
            at: now_millis(),
            text,
        });
        while self.history.len() > HISTORY_KEPT {
            self.history.pop_front();
        }
        self.details_seq += 1;
    }

    /// Keeps one (masked) stderr line (the newest `STDERR_KEPT`).
    pub(crate) fn record_stderr(&mut self, line: String) {
        self.stderr.push_back(line);
        while self.stderr.len() > STDERR_KEPT {
            self.stderr.pop_front();
        }
        self.details_seq += 1;
    }

    /// Forgets the previous run's stderr.
    pub(crate) fn clear_stderr(&mut self) {
        self.stderr.clear();
        self.details_seq += 1;
    }
}

/// Why one run of FFmpeg ended.
enum RunEnd {
    /// The engine asked to stop and stay stopped.
    Disabled,
    /// The engine asked for a restart (operator, or a new command line),
    /// or the source turned out to need another handling.
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
    /// What is known about the source, across runs.
    source: SourceKnowledge,
    /// The highest HLS segment number this stream may have used: every run
    /// starts above it, so no segment name ever comes back.
    segments_used: Option<u64>,
    /// A run that made progress this long resets the backoff.
    healthy_reset: Duration,
    /// Where its FFmpeg sits: a stream's only one, an ingest or an output.
    role: Role,
    on_alarm: OnAlarm,
}

impl StreamTask {
    pub(crate) fn new(
        launch: Launch,
        status: Arc<Mutex<StreamStatus>>,
        control: mpsc::UnboundedReceiver<Control>,
        spawner: Spawner,
        journal: Journal,
        wakeups: Arc<Wakeups>,
        on_alarm: OnAlarm,
    ) -> Self {
        StreamTask {
            name: launch.spec.name.clone(),
            launch,
            status,
            control,
            spawner,
            journal,
            wakeups,
            source: SourceKnowledge::default(),
            segments_used: None,
            healthy_reset: HEALTHY_RESET,
            role: Role::Solo,
            on_alarm,
        }
    }

    /// Sets where the task's FFmpeg sits in its stream's process layout
    /// (a stream's only FFmpeg unless told otherwise).
    pub(crate) fn in_role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// Shortens the time a run must make progress to reset the backoff
    /// (60 s); only tests have a reason to.
    pub(crate) fn with_healthy_reset(mut self, healthy_reset: Duration) -> Self {
        self.healthy_reset = healthy_reset;
        self
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
        match &state {
            StreamState::Failed { reason } => self.on_alarm.notify(&self.name, "failed", reason),
            StreamState::Stalled => self.on_alarm.notify(&self.name, "stalled", why),
            _ => {}
        }
        self.update(|s| {
            if !matches!(state, StreamState::Running | StreamState::Starting) {
                s.pid = None;
                s.running_since = None;
                s.cpu_percent = None;
                s.rss_bytes = None;
                s.hls_kbps = None;
            }
            s.state = state;
            s.record_change(text);
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
                    if healthy >= self.healthy_reset {
                        attempt = 0;
                    }
                    attempt += 1;
                    self.update(|s| s.restarts += 1);
                    let mut delay = backoff(attempt).min(self.role.backoff_cap(BACKOFF_CAP));
                    if let Role::Ingest { pacer, .. } = &self.role {
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
    fn prepare_run(&mut self, argv: Vec<String>) -> Result<Vec<String>, String> {
        if let Some(dir) = self.launch.thumbnail.as_deref().and_then(|t| t.parent()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let Some(dir) = &self.launch.hls_dir else {
            return Ok(argv);
        };
        let start = hls::start_number(dir, self.segments_used, SystemTime::now());
        ffmpeg::prepare_dir(dir)?;
        self.segments_used = Some(start);
        Ok(hls::numbered(&argv, start))
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

    /// Starts FFmpeg once and follows it until it ends or is told to stop;
    /// the content alarms of the run end with it.
    async fn run_once(&mut self) -> RunEnd {
        // Only the FFmpeg that reads the source measures what it sends.
        let measured = StreamSpec {
            analysis: self.launch.spec.analysis && self.role.reads_source(),
            ..self.launch.spec.clone()
        };
        let mut content = ContentWatch::new(
            &measured,
            Arc::clone(&self.status),
            self.journal.clone(),
            self.on_alarm.clone(),
            Arc::clone(&self.wakeups),
        );
        let end = self.follow_run(&mut content).await;
        content.finish();
        end
    }

    async fn follow_run(&mut self, content: &mut ContentWatch) -> RunEnd {
        // What the source is known to send decides the command line.
        let handling = self.source.begin_run(
            &self.launch.config,
            &self.launch.spec,
            self.role.segments(self.launch.hls_dir.as_deref()),
        );
        content.expect_audio(handling.audio != AudioChoice::None);
        let (config, spec) = (&self.launch.config, &self.launch.spec);
        let argv = match &self.role {
            Role::Solo => ffmpeg::command_with(config, spec, &handling),
            Role::Ingest { .. } => {
                let extras = ffmpeg::ingest_extras(config, spec, &handling);
                ffmpeg::ingest_command_with(config, spec, &handling, &extras)
            }
            Role::Output(_) => ffmpeg::output_command(config, spec),
        };
        // A directory that cannot be prepared right now (a full disk, a
        // file in the way, a mount not back yet) is retried with backoff.
        let argv = match self.prepare_run(argv) {
            Ok(argv) => argv,
            Err(reason) => return self.not_started(reason),
        };
        let shown = self.mask(&ffmpeg::display_command(&argv, &self.launch.secrets));
        self.update(|s| {
            s.progress = None;
            s.clear_stderr();
            s.handling = Some(handling);
            s.shown_command = Some(shown);
        });
        let program = argv[0].clone();
        let (extras, ts_pipe) = match self.role.plumbing() {
            Ok(plumbing) => plumbing,
            Err(e) => return self.not_started(format!("cannot create the ingest's pipe: {e}")),
        };
        let mut child = match self.spawner.spawn_with(argv, extras).await {
            Ok(child) => child,
            Err(e) => {
                let failure = errors::spawn_failure(&program, &e);
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
        let mut watchdog = Watchdog::new();
        let mut errors = errors::RunErrors::default();
        let running = pid.map(|p| format!("pid {p}")).unwrap_or_default();
        // An output's watchdog counts from the first data the relay gave it.
        let mut fed_at_advance = self.role.relay_fed();
        let mut fed_before = false;
        let mut keyframe_tick = tokio::time::interval(KEYFRAME_CHECK);
        keyframe_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        loop {
            let stall_at = watchdog.stall_at(self.launch.spec.stall_timeout);
            tokio::select! {
                msg = self.control.recv() => match msg {
                    Some(Control::Enable) => {}
                    Some(Control::Update(launch)) => {
                        content.update(&launch.spec);
                        self.set_launch(*launch);
                    }
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
                        // What FFmpeg wrote at once is taken at once: one turn
                        // of this loop per read, not one per line.
                        let mut next = Some(line);
                        while let Some(line) = next {
                            let heard = watchdog.hear(&line);
                            if heard.advanced {
                                fed_at_advance = self.role.relay_fed();
                                fed_before = true;
                            }
                            self.take_line(&line, heard, content, &running);
                            next = ready_line(&mut stdout);
                        }
                    }
                    None => stdout = None,
                },
                line = next_line(&mut stderr) => match line {
                    Some(line) => {
                        self.stderr_line(&line, &mut errors);
                        if !self.role.reads_source() {
                            continue;
                        }
                        let learned = self.source.stderr_line(&self.launch.config, &self.launch.spec, line.trim_end());
                        if let Some(learned) = learned {
                            if self.learned(learned) {
                                child::kill_now(&mut child).await;
                                return RunEnd::RestartNow;
                            }
                        }
                    }
                    None => stderr = None,
                },
                _ = keyframe_tick.tick(), if watchdog.is_running() && self.role.reads_source() => {
                    if let Some(learned) = self.source.check_keyframes(&self.launch.config, &self.launch.spec) {
                        if self.learned(learned) {
                            self.stop(&mut child, stdin.take()).await;
                            return RunEnd::RestartNow;
                        }
                    }
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
                    if self.role.reads_source() {
                        if let Some(learned) = self.source.end_run(&self.launch.config, &self.launch.spec) {
                            self.learned(learned);
                        }
                    }
                    let exit = errors::describe_exit(status.ok());
                    let reason = match errors.reason() {
                        Some(line) => format!("{exit}: {line}"),
                        None => exit,
                    };
                    let reason = errors::with_hint(&reason);
                    self.update(|s| s.last_error = Some(reason.clone()));
                    if !watchdog.is_running() && errors.unfixable().is_some() {
                        return RunEnd::Failed(reason);
                    }
                    self.journal.record(Level::Warn, Some(&self.name), format!("ffmpeg {reason}"));
                    return RunEnd::Exited(watchdog.healthy());
                },
                _ = crate::clock::sleep_until(content.next_check()) => {
                    // onair itself may have been paused (a loaded machine):
                    // the sound FFmpeg measured meanwhile counts first.
                    while let Some(line) = ready_line(&mut stdout) {
                        let heard = watchdog.hear(&line);
                        self.take_line(&line, heard, content, &running);
                    }
                    content.tick();
                },
                _ = tokio::time::sleep_until(stall_at) => {
                    // onair itself may have been paused: what FFmpeg wrote
                    // meanwhile is still in the pipe and counts first.
                    if watchdog.catch_up(&mut stdout, |line, heard| self.take_line(line, heard, content, &running)).await {
                        continue;
                    }
                    // An output that was given nothing to write is not
                    // stalled: the relay has nothing on the air.
                    if let Some(fed) = self.role.relay_fed() {
                        let idle = Some(fed) == fed_at_advance;
                        if idle || !fed_before {
                            fed_before |= !idle;
                            fed_at_advance = Some(fed);
                            watchdog.excuse();
                            continue;
                        }
                    }
                    let secs = watchdog.allowed(self.launch.spec.stall_timeout).as_secs_f64();
                    self.update(|s| {
                        s.stalls += 1;
                        s.last_error = Some(format!("stalled: no progress for {secs:.0} s"));
                    });
                    self.set_state(StreamState::Stalled, &format!("no progress for {secs:.0} s, killing"));
                    child::kill_now(&mut child).await;
                    return RunEnd::Stalled(watchdog.healthy());
                },
            }
        }
    }

    /// One line of FFmpeg's stdout: its measurements go to the content
    /// watch, its progress to the status.
    fn take_line(&self, line: &str, heard: Heard, content: &mut ContentWatch, running: &str) {
        content.line(line);
        let started = heard.started;
        self.heard(heard, running);
        if started {
            content.running();
        }
    }

    /// Publishes a progress block; the first that advances means running.
    fn heard(&self, heard: Heard, running: &str) {
        if heard.started {
            self.update(|s| s.running_since = Some(now_millis()));
            self.set_state(StreamState::Running, running);
        }
        if let Some(progress) = heard.progress {
            self.update(|s| s.progress = Some(progress));
        }
    }

    /// Takes what was learned about the source: history, warnings, and
    /// whether the running FFmpeg must restart with another handling.
    fn learned(&self, learned: Learned) -> bool {
        let Learned {
            source,
            changed,
            handling,
            restart,
        } = learned;
        if changed {
            let text = format!("source: {}", source.summary());
            self.journal
                .record(Level::Info, Some(&self.name), text.clone());
            self.update(|s| s.record_change(text));
        }
        let old_warnings = self
            .status
            .lock()
            .ok()
            .and_then(|s| s.handling.as_ref().map(|h| h.warnings.clone()))
            .unwrap_or_default();
        for warning in handling
            .warnings
            .iter()
            .filter(|w| !old_warnings.contains(w))
        {
            self.journal
                .record(Level::Warn, Some(&self.name), warning.clone());
        }
        if restart {
            self.journal.record(
                Level::Info,
                Some(&self.name),
                format!("restarting with video {}", handling.label),
            );
        }
        self.update(|s| {
            s.source = Some(source);
            if !restart {
                s.handling = Some(handling);
            }
        });
        self.wakeups.urgent.notify_one();
        restart
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
        self.update(|s| s.record_stderr(masked));
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

/// The next line if it is already read (buffered), without waiting.
/// `next_line` is cancellation safe, so giving up on it loses nothing.
fn ready_line<R>(lines: &mut Option<tokio::io::Lines<R>>) -> Option<String>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    use futures_util::FutureExt;
    lines.as_mut()?.next_line().now_or_never()?.ok().flatten()
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
