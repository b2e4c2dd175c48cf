//! The engine's own task: receives commands, applies reloads, writes key
//! changes back to the file and publishes snapshots. The figures it
//! publishes are measured by the [`Collector`].

use super::collector::{Collector, Watched};
use super::compose::stream_snapshot;
use super::groups::Groups;
use super::journal::{Journal, Level};
use super::launch::{launch, own_command};
use super::on_alarm::OnAlarm;
use super::pending::PendingWrites;
use super::role::Role;
use super::roster::Roster;
use super::screens::ScreenDesk;
use super::snapshot::*;
use super::stream::{Control, StreamStatus, StreamTask, Wakeups};
use super::{Command, EngineOptions, Timings, child::Spawner};
use crate::config::{self, Change, Config, ConfigError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Screen reports are aged (silent pages dropped, dark screens noticed) this often.
const SCREENS_EVERY: Duration = Duration::from_secs(1);
/// Snapshots are published at most this often (state changes included).
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

struct Slot {
    name: String,
    /// The row is an output of its stream's relay (`fallback`).
    relayed: bool,
    status: Arc<Mutex<StreamStatus>>,
    control: mpsc::UnboundedSender<Control>,
    task: JoinHandle<()>,
}

impl Slot {
    fn send(&self, control: Control) {
        let _ = self.control.send(control);
    }
}

pub(crate) struct Conductor {
    config: Arc<Config>,
    secrets: Arc<Vec<String>>,
    config_tx: watch::Sender<Arc<Config>>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    slots: Vec<Slot>,
    groups: Groups,
    retiring: Vec<JoinHandle<()>>,
    spawner: Spawner,
    journal: Journal,
    wakeups: Arc<Wakeups>,
    screens: Arc<ScreenDesk>,
    collector: Collector,
    watched: watch::Sender<Watched>,
    status: ConfigStatus,
    pending: PendingWrites,
    options: EngineOptions,
    timings: Timings,
    seq: u64,
    on_alarm: OnAlarm,
}

impl Conductor {
    pub(crate) fn new(
        config: Config,
        options: EngineOptions,
        timings: Timings,
        spawner: Spawner,
        config_tx: watch::Sender<Arc<Config>>,
        snapshot_tx: watch::Sender<Arc<Snapshot>>,
    ) -> Self {
        let status = ConfigStatus {
            path: config.path.display().to_string(),
            loaded_at: Some(now_millis()),
            error: None,
            warnings: config.warnings.clone(),
            pending_writes: Vec::new(),
        };
        let journal = Journal::default();
        let pending = PendingWrites::new(config.path.clone());
        let wakeups = Arc::new(Wakeups::default());
        let on_alarm = OnAlarm::new(Vec::new(), spawner.clone(), journal.clone());
        let groups = Groups::new(
            spawner.clone(),
            journal.clone(),
            Arc::clone(&wakeups),
            on_alarm.clone(),
        );
        let screens = Arc::new(ScreenDesk::new(journal.clone(), Arc::clone(&wakeups)));
        let (watched, watched_rx) = watch::channel(Watched::new());
        let collector = Collector::spawn(watched_rx, Arc::clone(&wakeups));
        let mut conductor = Conductor {
            secrets: Arc::new(config.secrets.clone()),
            config: Arc::new(config),
            config_tx,
            snapshot_tx,
            slots: Vec::new(),
            groups,
            retiring: Vec::new(),
            spawner,
            journal,
            wakeups,
            screens,
            collector,
            watched,
            status,
            pending,
            options,
            timings,
            seq: 0,
            on_alarm,
        };
        for warning in conductor.config.warnings.clone() {
            conductor.journal.record(Level::Warn, None, warning);
        }
        let config = Arc::clone(&conductor.config);
        conductor.configure_on_alarm(&config);
        let config = Arc::clone(&conductor.config);
        for spec in &config.streams {
            let slot = conductor.spawn_slot(&config, spec);
            conductor.slots.push(slot);
        }
        conductor.watch_slots();
        conductor.journal.record(
            Level::Info,
            None,
            format!(
                "loaded {} ({} streams)",
                conductor.status.path,
                config.streams.len()
            ),
        );
        conductor
    }

    /// The event log, for the engine's handles.
    pub(crate) fn journal(&self) -> Journal {
        self.journal.clone()
    }

    /// The streams' details, for the engine's handles.
    pub(crate) fn roster(&self) -> Roster {
        Roster::new(self.watched.subscribe())
    }

    /// Starts a row's task: the stream's one FFmpeg, or (with fallback) an
    /// output of its stream's relay, whose ingest starts with its first row.
    fn spawn_slot(&mut self, config: &Config, spec: &config::StreamSpec) -> Slot {
        let launch = launch(config, spec, &self.secrets);
        let mut status = StreamStatus::new(launch.clone());
        let mut role = Role::Solo;
        if spec.fallback {
            if let Some((relay, view)) = self.groups.join(config, spec, &self.secrets) {
                status.group = Some(view);
                role = Role::Output(relay);
            }
        }
        let relayed = matches!(role, Role::Output(_));
        let status = Arc::new(Mutex::new(status));
        let (control, receiver) = mpsc::unbounded_channel();
        let task = StreamTask::new(
            launch,
            Arc::clone(&status),
            receiver,
            self.spawner.clone(),
            self.journal.clone(),
            Arc::clone(&self.wakeups),
            self.on_alarm.clone(),
        )
        .in_role(role)
        .with_healthy_reset(self.timings.healthy_reset);
        Slot {
            name: spec.name.clone(),
            relayed,
            status,
            control,
            task: tokio::spawn(task.run()),
        }
    }

    /// The screen reports, shared with the engine's handle.
    pub(crate) fn screen_desk(&self) -> Arc<ScreenDesk> {
        Arc::clone(&self.screens)
    }

    /// Hands the collector the processes to measure, every row's and
    /// every ingest's (and the engine's handles the rows whose details
    /// they read: rows first, so a row is found before its ingest).
    fn watch_slots(&self) {
        let mut watched: Watched = self.slots.iter().map(|s| Arc::clone(&s.status)).collect();
        watched.extend(self.groups.statuses());
        self.watched.send_replace(watched);
    }

    fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == name)
    }

    /// Runs until [`Command::Shutdown`] or until every handle is gone.
    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut last_publish = Instant::now();
        let mut publish_at: Option<Instant> = Some(Instant::now());
        let mut screens_tick = tokio::time::interval(SCREENS_EVERY);
        screens_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(Command::Shutdown) => break,
                    Some(command) => {
                        self.handle(command).await;
                        publish_at = Some(Instant::now());
                    }
                },
                _ = self.wakeups.urgent.notified() => {
                    publish_at = Some(Instant::now());
                },
                _ = self.wakeups.changed.notified() => {
                    if publish_at.is_none() {
                        publish_at = Some((last_publish + PUBLISH_EVERY).max(Instant::now()));
                    }
                },
                _ = screens_tick.tick() => {
                    let latest = Arc::clone(&self.snapshot_tx.borrow());
                    self.screens.tick(&latest.streams, now_millis());
                },
                _ = crate::clock::sleep_until(self.pending.next_try()) => {
                    self.flush_pending().await;
                    publish_at = Some(Instant::now());
                },
                _ = crate::clock::sleep_until(publish_at) => {
                    self.publish();
                    last_publish = Instant::now();
                    publish_at = None;
                },
            }
        }
        self.shutdown().await;
    }

    async fn shutdown(mut self) {
        let running = self
            .slots
            .iter()
            .map(|s| Arc::clone(&s.status))
            .chain(self.groups.statuses())
            .filter(|s| s.lock().map(|st| st.pid.is_some()).unwrap_or(false))
            .count();
        self.journal.record(
            Level::Info,
            None,
            format!("shutting down: stopping {running} ffmpeg process(es)"),
        );
        // Outputs first: they finish their files while the relay still
        // runs; then each stream's ingest.
        for slot in &self.slots {
            slot.send(Control::Shutdown);
        }
        self.publish();
        let mut tasks: Vec<JoinHandle<()>> = self.slots.drain(..).map(|s| s.task).collect();
        for task in tasks.drain(..) {
            let _ = task.await;
        }
        tasks.extend(self.groups.shutdown());
        tasks.append(&mut self.retiring);
        for task in tasks {
            let _ = task.await;
        }
        self.journal
            .record(Level::Info, None, "all ffmpeg processes stopped");
        self.publish();
        self.collector.stop();
    }

    fn publish(&mut self) {
        self.seq += 1;
        let streams = self
            .slots
            .iter()
            .filter_map(|slot| slot.status.lock().ok().map(|s| stream_snapshot(&s)))
            .collect();
        let snapshot = Snapshot {
            seq: self.seq,
            taken_at: now_millis(),
            host: self.collector.host.borrow().clone(),
            config: self.status.clone(),
            listen: self.config.server.listen.to_string(),
            streams,
            screens: self.config.screens.clone(),
            log_seq: self.journal.last_seq(),
            screen_reports: self.screens.reports(),
        };
        self.snapshot_tx.send_replace(Arc::new(snapshot));
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Start { stream } => self.set_enabled(&stream, true).await,
            Command::Stop { stream } => self.set_enabled(&stream, false).await,
            Command::Restart { stream } => match self.config.stream(&stream) {
                None => self.no_such_stream(&stream),
                Some(spec) if !spec.enabled => self.journal.record(
                    Level::Warn,
                    Some(&stream),
                    "is stopped: start it instead of restarting it",
                ),
                Some(spec) => {
                    if spec.fallback {
                        self.groups.retry_source(&spec.stream);
                    }
                    if let Some(slot) = self.slot(&stream) {
                        slot.send(Control::Restart);
                    }
                }
            },
            Command::Bumper { stream, on } => self.bumper(&stream, on),
            Command::SetProfile { stream, profile } => {
                let Some(spec) = self.config.stream(&stream) else {
                    return self.no_such_stream(&stream);
                };
                if spec.profile == profile {
                    return;
                }
                self.journal.record(
                    Level::Info,
                    Some(&stream),
                    format!("profile set to {profile}"),
                );
                let change = Change::Profile(profile);
                self.edit_stream(&stream, |s| change.apply_to(s), true);
                self.persist(&stream, change).await;
            }
            Command::Reload => self.reload().await,
            Command::Shutdown => {}
        }
    }

    fn bumper(&mut self, name: &str, on: bool) {
        let Some(spec) = self.config.stream(name) else {
            return self.no_such_stream(name);
        };
        if !spec.fallback || !self.groups.bumper(&spec.stream, on) {
            self.journal.record(
                Level::Warn,
                Some(name),
                "has no slate: the bumper needs `fallback = true` (the default)",
            );
        }
    }

    /// Hands the runner the program to run on alarms; a program that
    /// cannot be found is worth a warning now rather than at the first alarm.
    fn configure_on_alarm(&self, config: &Config) {
        let program = config.server.on_alarm.clone();
        if let Some(first) = program.first()
            && super::find_program(std::path::Path::new(first)).is_none()
        {
            self.journal.record(
                Level::Warn,
                None,
                format!(
                    "[server].on_alarm: `{}` is not an executable program: alarms will not reach it",
                    crate::secrets::mask_text(first, &config.secrets)
                ),
            );
        }
        self.on_alarm
            .configure(program, Arc::new(config.secrets.clone()));
    }

    fn no_such_stream(&self, name: &str) {
        self.journal
            .record(Level::Warn, None, format!("no stream named `{name}`"));
    }

    async fn set_enabled(&mut self, name: &str, enabled: bool) {
        let Some(spec) = self.config.stream(name) else {
            return self.no_such_stream(name);
        };
        if spec.enabled == enabled {
            if enabled {
                // Already enabled: a start request still revives a failed stream.
                if let Some(slot) = self.slot(name) {
                    slot.send(Control::Enable);
                }
            }
            return;
        }
        let verb = if enabled { "started" } else { "stopped" };
        self.journal
            .record(Level::Info, Some(name), format!("{verb} by the operator"));
        let change = Change::Enabled(enabled);
        self.edit_stream(name, |s| change.apply_to(s), false);
        if let Some(slot) = self.slot(name) {
            slot.send(if enabled {
                Control::Enable
            } else {
                Control::Disable
            });
        }
        self.persist(name, change).await;
    }

    /// Changes one stream in the running config and hands its task the new
    /// launch: `Replace` (restart when running) or `Update` (no restart).
    fn edit_stream(
        &mut self,
        name: &str,
        edit: impl FnOnce(&mut config::StreamSpec),
        restart: bool,
    ) {
        let mut config = (*self.config).clone();
        let Some(spec) = config.streams.iter_mut().find(|s| s.name == name) else {
            return;
        };
        edit(spec);
        let spec = spec.clone();
        let launch = launch(&config, &spec, &self.secrets);
        self.config = Arc::new(config);
        self.config_tx.send_replace(Arc::clone(&self.config));
        let ended = self.groups.sync(&self.config, &self.secrets);
        self.retiring.extend(ended);
        if let Some(slot) = self.slot(name) {
            // An output restarts only when its own command changed (a
            // profile switch may touch only the ingest).
            let restart = if slot.relayed {
                slot.status
                    .lock()
                    .map_or(true, |s| own_command(&s.launch) != own_command(&launch))
            } else {
                restart
            };
            slot.send(if restart {
                Control::Replace(Box::new(launch))
            } else {
                Control::Update(Box::new(launch))
            });
        }
    }

    /// Writes a key's change into the file; what cannot be written now is
    /// kept (see [`PendingWrites`]).
    async fn persist(&mut self, name: &str, change: Change) {
        if !self.options.write_back {
            return;
        }
        self.pending.write(&self.journal, name, change).await;
        self.status.pending_writes = self.pending.described();
    }

    async fn flush_pending(&mut self) {
        self.pending.flush(&self.journal).await;
        self.status.pending_writes = self.pending.described();
    }

    async fn reload(&mut self) {
        if !self.pending.is_empty() {
            self.flush_pending().await;
        }
        let path = self.config.path.clone();
        let loaded = tokio::task::spawn_blocking(move || config::load_file(&path)).await;
        let result = match loaded {
            Ok(result) => result,
            Err(e) => {
                self.journal
                    .record(Level::Error, None, format!("reload failed: {e}"));
                return;
            }
        };
        match result {
            Err(error) => self.reject(error),
            Ok(new) => match checked(new).await {
                Ok(new) => self.apply(new),
                Err(error) => self.reject(error),
            },
        }
    }

    fn reject(&mut self, error: ConfigError) {
        let headline = error.headline();
        if self.status.error.as_deref() != Some(headline.as_str()) {
            for line in error.to_string().lines() {
                self.journal.record(
                    Level::Error,
                    None,
                    format!("{line} (the running streams carry on)"),
                );
            }
        }
        self.status.error = Some(headline);
    }

    /// Applies a new valid config: only what changed is touched.
    fn apply(&mut self, mut new: Config) {
        // What is still waiting to be written stays in force.
        self.pending.apply_to(&mut new);
        let plan = config::diff(&self.config, &new);
        let secrets = Arc::new(new.secrets.clone());
        self.secrets = secrets;
        if new.server.on_alarm != self.config.server.on_alarm {
            self.configure_on_alarm(&new);
        }
        let was_error = self.status.error.take().is_some();
        self.status.loaded_at = Some(now_millis());
        self.status.warnings = new.warnings.clone();
        if plan.is_empty() && plan.update.is_empty() {
            let text = if was_error {
                "streams.toml is valid again: nothing to change"
            } else {
                "streams.toml reloaded: no change"
            };
            self.journal.record(Level::Info, None, text);
            self.config = Arc::new(new);
            self.config_tx.send_replace(Arc::clone(&self.config));
            return;
        }
        self.journal.record(
            Level::Info,
            None,
            format!("streams.toml reloaded: {}", plan.summary()),
        );
        for warning in &new.warnings {
            self.journal.record(Level::Warn, None, warning.clone());
        }
        let mut old_slots = std::mem::take(&mut self.slots);
        let mut slots = Vec::with_capacity(new.streams.len());
        for spec in &new.streams {
            // A row that turns fallback on or off changes its layout: its
            // task is replaced.
            let same_layout = |s: &Slot| s.name == spec.name && s.relayed == spec.fallback;
            match old_slots.iter().position(same_layout) {
                None => slots.push(self.spawn_slot(&new, spec)),
                Some(index) => {
                    let slot = old_slots.remove(index);
                    let launch = Box::new(launch(&new, spec, &self.secrets));
                    let own_command_changed = !slot.relayed
                        || slot
                            .status
                            .lock()
                            .map_or(true, |s| own_command(&s.launch) != own_command(&launch));
                    if plan.restart.contains(&spec.name) && own_command_changed {
                        slot.send(Control::Replace(launch));
                    } else if plan.start.contains(&spec.name) {
                        slot.send(Control::Update(launch));
                        slot.send(Control::Enable);
                    } else if plan.stop.contains(&spec.name) {
                        slot.send(Control::Update(launch));
                        slot.send(Control::Disable);
                    } else if plan.update.contains(&spec.name) || plan.restart.contains(&spec.name)
                    {
                        slot.send(Control::Update(launch));
                    }
                    slots.push(slot);
                }
            }
        }
        for removed in old_slots {
            self.journal.record(
                Level::Info,
                Some(&removed.name),
                "removed from streams.toml: stopping",
            );
            removed.send(Control::Shutdown);
            self.retiring.push(removed.task);
        }
        self.slots = slots;
        let ended = self.groups.sync(&new, &self.secrets);
        self.retiring.extend(ended);
        self.retiring.retain(|t| !t.is_finished());
        self.watch_slots();
        self.config = Arc::new(new);
        self.config_tx.send_replace(Arc::clone(&self.config));
    }
}

/// Runs the start-up checks on a reloaded config, so a save naming an
/// FFmpeg that is not there or an `hls_dir` that cannot be written is
/// refused like a syntax error instead of taking every stream off air.
async fn checked(config: Config) -> Result<Config, ConfigError> {
    let path = config.path.clone();
    tokio::task::spawn_blocking(move || match super::preflight(&config) {
        Ok(()) => Ok(config),
        Err(error) => Err(ConfigError::at(
            &config.path,
            error.place(&config),
            error.to_string(),
        )),
    })
    .await
    .unwrap_or_else(|e| {
        Err(ConfigError::at(
            &path,
            None,
            format!("cannot check the new config: {e}"),
        ))
    })
}
