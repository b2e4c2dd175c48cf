//! A stream with fallback, apart from its outputs: its ingest FFmpeg, its
//! relay, and its slate clip.
//!
//! The ingest is an ordinary stream task (restart with backoff, stall
//! watchdog) whose transport stream goes to the relay. Each output is the
//! task of one row, fed by the same relay, and lives through every restart
//! of the ingest. This task follows the relay's events: it probes what a
//! new ingest run sends, has the slate clip encoded to match it (ahead of
//! need, at the lowest CPU priority), and records when the slate went on
//! and off the air.

use super::child::Spawner;
use super::journal::{Journal, Level};
use super::on_alarm::OnAlarm;
use super::role::{Pacer, Role};
use super::slate::{ClipState, describe_slate, run_encoder, run_probe};
use super::snapshot::{UnixMillis, now_millis};
use super::stream::{Control, Launch, StreamStatus, StreamTask, Wakeups};
use crate::ffmpeg::probe::{self, FeedFormat};
use crate::ffmpeg::slate::{self, SlateSource};
use crate::relay::{Clip, Feed, Relay, RelayCommand, RelayEvent};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

/// What the group task runs: the ingest's launch and the slate's recipe.
#[derive(Debug, Clone)]
pub(crate) struct GroupLaunch {
    /// The ingest (its spec is named after the stream; `enabled` when any
    /// row of the stream is).
    pub ingest: Launch,
    /// The ingest's command before its source is known: when it changes,
    /// the ingest restarts.
    pub argv: Vec<String>,
    /// The HLS output whose segments show the source's keyframes.
    pub segments: Option<std::path::PathBuf>,
    /// What the slate shows.
    pub slate: SlateSource,
    /// The FFmpeg binary (and ffprobe beside it).
    pub ffmpeg: PathBuf,
    /// The stream keeps audio: a slate assumed before any probe has sound.
    pub with_audio: bool,
    /// The keyframe interval of the stream's profile, for the slate.
    pub keyframe_seconds: f64,
}

/// What the engine tells a group.
#[derive(Debug)]
pub(crate) enum GroupControl {
    /// New settings; only what changed is restarted or re-encoded.
    Update(Box<GroupLaunch>),
    /// The operator's bumper: the slate on (true) or off.
    Bumper(bool),
    /// Try the source again now if it is not delivering.
    RetrySource,
    /// Stop the ingest and end.
    Shutdown,
}

/// The relay's side of a stream, for snapshots.
#[derive(Debug, Clone, Default)]
pub(crate) struct RelayState {
    /// The feed on the outputs.
    pub on_air: Option<Feed>,
    /// When that feed went on the air.
    pub on_air_since: Option<UnixMillis>,
    /// The operator holds the slate on the air.
    pub forced: bool,
    /// Times the slate replaced a lost source.
    pub fallbacks: u32,
    /// Milliseconds on the slate before the current stretch.
    pub slate_ms: u64,
    /// What the live feed carries, as last probed.
    pub live_format: Option<String>,
    /// What the slate shows.
    pub slate: String,
    /// The slate clip.
    pub clip: ClipState,
    /// The slate encoder's PID while it runs.
    pub encoder_pid: Option<u32>,
    /// The slate encoder's CPU (percent of a core) and RSS, as last sampled.
    pub encoder_usage: Option<(f32, u64)>,
}

/// What a row reads from its stream's group when a snapshot is taken.
#[derive(Debug, Clone)]
pub(crate) struct GroupView {
    /// The ingest task's status.
    pub ingest: Arc<Mutex<StreamStatus>>,
    /// The relay's side.
    pub relay: Arc<Mutex<RelayState>>,
    /// Bytes in and out of the relay.
    pub relay_handle: Relay,
}

/// A running group, as the conductor holds it.
pub(crate) struct Group {
    /// The `[[stream]]` name.
    pub stream: String,
    /// The relay its outputs attach to.
    pub relay: Relay,
    /// What rows show of it.
    pub view: GroupView,
    control: mpsc::UnboundedSender<GroupControl>,
    /// The group's task; it ends after the ingest has stopped.
    pub task: JoinHandle<()>,
}

impl Group {
    /// Starts the relay, the ingest task and the group's own task.
    pub(crate) fn start(
        launch: GroupLaunch,
        spawner: Spawner,
        journal: Journal,
        wakeups: Arc<Wakeups>,
        encoders: Arc<Semaphore>,
        pacer: Arc<Pacer>,
        on_alarm: OnAlarm,
    ) -> Group {
        let stream = launch.ingest.spec.stream.clone();
        let (relay, events, _relay_task) = Relay::start(true);
        let ingest_status = Arc::new(Mutex::new(StreamStatus::new(launch.ingest.clone())));
        let (ingest_control, ingest_rx) = mpsc::unbounded_channel();
        let ingest = StreamTask::new(
            launch.ingest.clone(),
            Arc::clone(&ingest_status),
            ingest_rx,
            spawner.clone(),
            journal.clone(),
            Arc::clone(&wakeups),
            on_alarm,
        )
        .in_role(Role::Ingest {
            relay: relay.clone(),
            pacer,
            segments: launch.segments.clone(),
        });
        let ingest_task = tokio::spawn(ingest.run());
        let state = Arc::new(Mutex::new(RelayState {
            slate: describe_slate(&launch.slate),
            ..RelayState::default()
        }));
        let view = GroupView {
            ingest: Arc::clone(&ingest_status),
            relay: Arc::clone(&state),
            relay_handle: relay.clone(),
        };
        let (control, control_rx) = mpsc::unbounded_channel();
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        let runner = GroupTask {
            stream: stream.clone(),
            launch,
            ingest_status,
            relay: relay.clone(),
            state,
            ingest_control,
            ingest_task,
            spawner,
            journal,
            wakeups,
            encoders,
            jobs,
            format: None,
            clip_format: None,
            encoding: false,
            encode_again: false,
            probing: false,
            text_ok: true,
            urgent: false,
            live_seen: false,
            helpers: Vec::new(),
        };
        let task = tokio::spawn(runner.run(control_rx, events, jobs_rx));
        Group {
            stream,
            relay,
            view,
            control,
            task,
        }
    }

    /// Sends a control; ignored once the group has ended.
    pub(crate) fn send(&self, control: GroupControl) {
        let _ = self.control.send(control);
    }
}

/// Results of the group's background work.
enum Job {
    Probed(Option<FeedFormat>),
    Encoded {
        format: FeedFormat,
        result: Result<Clip, String>,
        text_failed: bool,
    },
}

struct GroupTask {
    stream: String,
    launch: GroupLaunch,
    ingest_status: Arc<Mutex<StreamStatus>>,
    relay: Relay,
    state: Arc<Mutex<RelayState>>,
    ingest_control: mpsc::UnboundedSender<Control>,
    ingest_task: JoinHandle<()>,
    spawner: Spawner,
    journal: Journal,
    wakeups: Arc<Wakeups>,
    encoders: Arc<Semaphore>,
    jobs: mpsc::UnboundedSender<Job>,
    /// What live sends, as last probed.
    format: Option<FeedFormat>,
    /// What the current clip was encoded for.
    clip_format: Option<FeedFormat>,
    encoding: bool,
    encode_again: bool,
    probing: bool,
    /// `drawtext` works here; set false after it failed once.
    text_ok: bool,
    /// The slate is wanted and there is no clip: encode without waiting.
    urgent: bool,
    /// Live has been on the air at least once.
    live_seen: bool,
    /// The probe and encoder tasks, ended with the group (their processes
    /// are killed when dropped).
    helpers: Vec<JoinHandle<()>>,
}

impl GroupTask {
    fn update(&self, f: impl FnOnce(&mut RelayState)) {
        if let Ok(mut state) = self.state.lock() {
            f(&mut state);
        }
        self.wakeups.urgent.notify_one();
    }

    async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<GroupControl>,
        mut events: mpsc::UnboundedReceiver<RelayEvent>,
        mut jobs: mpsc::UnboundedReceiver<Job>,
    ) {
        loop {
            tokio::select! {
                msg = control.recv() => match msg {
                    None | Some(GroupControl::Shutdown) => break,
                    Some(GroupControl::Update(launch)) => self.apply(*launch),
                    Some(GroupControl::Bumper(on)) => self.bumper(on),
                    Some(GroupControl::RetrySource) => self.retry_source(),
                },
                Some(event) = events.recv() => self.relay_event(event),
                Some(job) = jobs.recv() => self.job_done(job),
            }
        }
        // The outputs are stopped first by the engine; nothing is on the air.
        self.relay.send(RelayCommand::Fallback(false));
        for helper in self.helpers.drain(..) {
            helper.abort();
        }
        let _ = self.ingest_control.send(Control::Shutdown);
        let _ = (&mut self.ingest_task).await;
    }

    fn apply(&mut self, launch: GroupLaunch) {
        let before = &self.launch;
        let ingest = Box::new(launch.ingest.clone());
        if before.argv != launch.argv {
            let _ = self.ingest_control.send(Control::Replace(ingest));
        } else {
            let _ = self.ingest_control.send(Control::Update(ingest));
            if before.ingest.spec.enabled != launch.ingest.spec.enabled {
                let _ = self.ingest_control.send(if launch.ingest.spec.enabled {
                    Control::Enable
                } else {
                    Control::Disable
                });
            }
        }
        let slate_changed = before.slate != launch.slate || before.ffmpeg != launch.ffmpeg;
        self.update(|s| s.slate = describe_slate(&launch.slate));
        self.launch = launch;
        if slate_changed {
            self.text_ok = true;
            if self.clip_format.is_some() || self.format.is_some() {
                self.encode();
            }
        }
    }

    fn bumper(&mut self, on: bool) {
        let forced = self.state.lock().map(|s| s.forced).unwrap_or(false);
        if forced == on {
            return;
        }
        let text = if on {
            "bumper: slate on the air by hand"
        } else {
            "bumper off: back to live at the next keyframe"
        };
        self.journal.record(Level::Info, Some(&self.stream), text);
        self.update(|s| s.forced = on);
        self.relay.send(RelayCommand::Bumper(on));
    }

    fn retry_source(&self) {
        let delivering = matches!(self.state.lock().map(|s| s.on_air), Ok(Some(Feed::Live)));
        if !delivering {
            let _ = self.ingest_control.send(Control::Restart);
        }
    }

    fn relay_event(&mut self, event: RelayEvent) {
        match event {
            RelayEvent::OnAir(feed) => self.on_air(feed),
            RelayEvent::OffAir => self.update(|s| {
                if s.on_air == Some(Feed::Live) {
                    s.on_air = None;
                    s.on_air_since = Some(now_millis());
                }
            }),
            RelayEvent::LiveLost => {}
            RelayEvent::ProgramChanged => self.journal.record(
                Level::Info,
                Some(&self.stream),
                "the source's codecs changed: the outputs start again on them",
            ),
            RelayEvent::SlateMissing => {
                // A source lost on the air needs the slate now; one that has
                // not delivered yet (a whole venue starting up) can wait.
                self.urgent = self.live_seen;
                if !self.encoding {
                    self.encode();
                }
            }
            RelayEvent::LiveHead(head) => self.probe(head),
        }
    }

    fn on_air(&mut self, feed: Feed) {
        let now = now_millis();
        let (previous, since, forced) = self
            .state
            .lock()
            .map(|s| (s.on_air, s.on_air_since, s.forced))
            .unwrap_or((None, None, false));
        match feed {
            // A new clip for the slate already on the air is no new fallback.
            Feed::Slate if previous == Some(Feed::Slate) => {}
            Feed::Slate => {
                let text = if forced {
                    "slate on the air (bumper)".to_string()
                } else {
                    let why = self
                        .ingest_status
                        .lock()
                        .map(|s| source_reason(&s))
                        .unwrap_or_default();
                    format!("fallback: slate on the air, the outputs stay up ({why})")
                };
                let level = if forced { Level::Info } else { Level::Warn };
                self.journal.record(level, Some(&self.stream), text);
                self.update(|s| {
                    s.on_air = Some(Feed::Slate);
                    s.on_air_since = Some(now);
                    if !forced {
                        s.fallbacks += 1;
                    }
                });
            }
            Feed::Live => {
                self.live_seen = true;
                let slate_ms = match (previous, since) {
                    (Some(Feed::Slate), Some(since)) => now.saturating_sub(since),
                    _ => 0,
                };
                if previous == Some(Feed::Slate) {
                    self.journal.record(
                        Level::Info,
                        Some(&self.stream),
                        format!(
                            "live again on a keyframe after {:.1} s of slate",
                            slate_ms as f64 / 1000.0
                        ),
                    );
                }
                self.update(|s| {
                    s.on_air = Some(Feed::Live);
                    s.on_air_since = Some(now);
                    s.slate_ms += slate_ms;
                });
            }
        }
    }

    fn probe(&mut self, head: Vec<u8>) {
        if self.probing {
            return;
        }
        self.probing = true;
        let argv = probe::command(&probe::ffprobe_beside(&self.launch.ffmpeg));
        let spawner = self.spawner.clone();
        let jobs = self.jobs.clone();
        self.helpers.retain(|h| !h.is_finished());
        self.helpers.push(tokio::spawn(async move {
            let format = run_probe(&spawner, argv, head).await;
            let _ = jobs.send(Job::Probed(format));
        }));
    }

    fn encode(&mut self) {
        if self.encoding {
            self.encode_again = true;
            return;
        }
        self.encoding = true;
        self.encode_again = false;
        let format = self
            .format
            .clone()
            .unwrap_or_else(|| FeedFormat::assumed(self.launch.with_audio));
        let argv = slate::clip_command(
            &self.launch.ffmpeg,
            &self.launch.slate,
            &format,
            self.text_ok,
            self.launch.keyframe_seconds,
        );
        let with_text = self.text_ok && matches!(self.launch.slate, SlateSource::Card(_));
        self.update(|s| s.clip = ClipState::Encoding);
        let spawner = self.spawner.clone();
        let jobs = self.jobs.clone();
        let encoders = Arc::clone(&self.encoders);
        let state = Arc::clone(&self.state);
        // A clip needed now neither queues nor yields; one made ahead of
        // need waits its turn at the lowest priority.
        let urgent = std::mem::take(&mut self.urgent);
        self.helpers.retain(|h| !h.is_finished());
        self.helpers.push(tokio::spawn(async move {
            let _permit = match urgent {
                true => None,
                false => encoders.acquire_owned().await.ok(),
            };
            let (result, text_failed) = run_encoder(&spawner, argv, &state, !urgent).await;
            let _ = jobs.send(Job::Encoded {
                format,
                result,
                text_failed: with_text && text_failed,
            });
        }));
    }

    fn job_done(&mut self, job: Job) {
        match job {
            Job::Probed(format) => {
                self.probing = false;
                let Some(format) = format else {
                    return;
                };
                let described = format.describe();
                let changed = self.format.as_ref() != Some(&format);
                if changed {
                    self.journal.record(
                        Level::Info,
                        Some(&self.stream),
                        format!("source sends {described}"),
                    );
                }
                self.update(|s| s.live_format = Some(described));
                self.format = Some(format);
                if changed && self.clip_format != self.format {
                    self.encode();
                }
            }
            Job::Encoded {
                format,
                result,
                text_failed,
            } => {
                self.encoding = false;
                match result {
                    Ok(clip) => {
                        let text = format!(
                            "{}, {:.0} s loop, {} kB",
                            format.describe(),
                            clip.duration().as_secs_f64(),
                            clip.len() / 1000
                        );
                        self.update(|s| s.clip = ClipState::Ready(text));
                        self.clip_format = Some(format);
                        self.relay.send(RelayCommand::SlateClip(Arc::new(clip)));
                    }
                    Err(reason) if text_failed => {
                        self.journal.record(
                            Level::Warn,
                            Some(&self.stream),
                            format!(
                                "the slate card cannot draw text here ({reason}): it is shown plain"
                            ),
                        );
                        self.text_ok = false;
                        self.encode_again = true;
                    }
                    Err(reason) => {
                        self.journal.record(
                            Level::Error,
                            Some(&self.stream),
                            format!("the slate cannot be encoded: {reason}"),
                        );
                        self.update(|s| s.clip = ClipState::Failed(reason));
                    }
                }
                if self.encode_again || (self.format.is_some() && self.clip_format != self.format) {
                    self.encode();
                }
            }
        }
    }
}

/// Why the source is not on the air, from its ingest's status: its last
/// error when it is down, or that it sends nothing while it runs.
pub(crate) fn source_reason(ingest: &StreamStatus) -> String {
    use super::snapshot::StreamState;
    match (&ingest.state, &ingest.last_error) {
        (StreamState::Running, _) => "the source sends nothing".to_string(),
        (StreamState::Starting, _) => "the source is being opened".to_string(),
        (_, Some(error)) => format!("source: {error}"),
        (state, None) => format!("source {}", state.label()),
    }
}
