//! Watching what one run of a stream puts on the air: the analysis lines
//! its FFmpeg prints become audio levels and content alarms in the stream's
//! status, entries in the log and notices for `on_alarm`.
//!
//! The stream task only calls the hooks (a line, the run began producing,
//! the timer, new settings, the run ended); everything else is here.

use super::alarms::{AlarmChange, AlarmWatch};
use super::journal::{Journal, Level};
use super::on_alarm::OnAlarm;
use super::snapshot::{AudioLevels, UnixMillis, now_millis};
use super::stream::{StreamStatus, Wakeups};
use crate::config::{AlarmSettings, AudioMode, StreamSpec};
use crate::ffmpeg::analysis::{AnalysisParser, Measurement};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The content watch of one run.
pub(crate) struct ContentWatch {
    name: String,
    status: Arc<Mutex<StreamStatus>>,
    journal: Journal,
    on_alarm: OnAlarm,
    wakeups: Arc<Wakeups>,
    parser: AnalysisParser,
    /// The run's alarms (`None` when the stream has no analysis).
    alarms: Option<AlarmWatch>,
    settings: AlarmSettings,
    /// When the alarms must be looked at next (kept, not recomputed per line).
    next_check: Option<tokio::time::Instant>,
    audio_expected: bool,
    /// The run's handling keeps the audio.
    run_audio: bool,
    analysis: bool,
    /// When the previous line was read.
    last_heard: Option<UnixMillis>,
}

/// FFmpeg writes a line at least every half second (`-progress`, levels):
/// a longer gap between two lines read means onair was not listening, or
/// FFmpeg was not measuring, and that time is judged by nothing.
const LISTEN_GAP_MILLIS: u64 = 1_500;

fn audio_expected(spec: &StreamSpec) -> bool {
    spec.audio != AudioMode::None
}

fn lasted(duration: Duration) -> String {
    let secs = duration.as_secs_f64().round() as u64;
    if secs < 120 {
        format!("{secs} s")
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

impl ContentWatch {
    /// A watch for a run of `spec`, not yet producing output.
    pub(crate) fn new(
        spec: &StreamSpec,
        status: Arc<Mutex<StreamStatus>>,
        journal: Journal,
        on_alarm: OnAlarm,
        wakeups: Arc<Wakeups>,
    ) -> ContentWatch {
        ContentWatch {
            name: spec.name.clone(),
            status,
            journal,
            on_alarm,
            wakeups,
            parser: AnalysisParser::new(),
            alarms: spec
                .analysis
                .then(|| AlarmWatch::new(spec.alarms, audio_expected(spec), now_millis())),
            settings: spec.alarms,
            next_check: None,
            audio_expected: audio_expected(spec),
            run_audio: true,
            analysis: spec.analysis,
            last_heard: None,
        }
    }

    /// Whether this run carries audio (known once its handling is decided:
    /// an `auto` stream whose source has none has no audio alarm).
    pub(crate) fn expect_audio(&mut self, audio: bool) {
        self.run_audio = audio;
        self.audio_expected &= audio;
        if let Some(alarms) = self.alarms.as_mut() {
            let changes = alarms.set_settings(self.settings, self.audio_expected, now_millis());
            self.apply(changes);
        }
    }

    /// The run began producing output: silence counts from now.
    pub(crate) fn running(&mut self) {
        if let Some(alarms) = self.alarms.as_mut() {
            alarms.output_began(now_millis());
        }
        self.plan_next_check();
    }

    /// One line of the FFmpeg's measurement channel (progress lines are
    /// skipped by the parser).
    pub(crate) fn line(&mut self, line: &str) {
        if !self.analysis {
            return;
        }
        let now = now_millis();
        if let Some(previous) = self.last_heard.replace(now) {
            let gap = now.saturating_sub(previous);
            if gap > LISTEN_GAP_MILLIS {
                if let Some(alarms) = self.alarms.as_mut() {
                    alarms.unheard(gap);
                }
                self.plan_next_check();
            }
        }
        let Some(measurement) = self.parser.feed(line) else {
            return;
        };
        if let Measurement::Levels(channels) = &measurement {
            let levels = AudioLevels {
                channels: channels.clone(),
                at: now,
            };
            if let Ok(mut status) = self.status.lock() {
                status.audio = Some(levels);
            }
            self.wakeups.changed.notify_one();
        }
        if let Some(alarms) = self.alarms.as_mut() {
            let changes = alarms.observe(&measurement, now);
            self.apply(changes);
        }
    }

    /// When [`ContentWatch::tick`] must be called next, if ever.
    pub(crate) fn next_check(&self) -> Option<tokio::time::Instant> {
        self.next_check
    }

    fn plan_next_check(&mut self) {
        self.next_check = self
            .alarms
            .as_ref()
            .and_then(AlarmWatch::next_check)
            .map(|at| {
                let wait = Duration::from_millis(at.saturating_sub(now_millis()));
                tokio::time::Instant::now() + wait
            });
    }

    /// Raises the alarms that are due; while FFmpeg has not been heard
    /// for a while, waits for its next line instead (which says what it
    /// measured meanwhile).
    pub(crate) fn tick(&mut self) {
        let now = now_millis();
        if self
            .last_heard
            .is_some_and(|at| now.saturating_sub(at) > LISTEN_GAP_MILLIS)
        {
            self.next_check = None;
            return;
        }
        if let Some(alarms) = self.alarms.as_mut() {
            let changes = alarms.tick(now);
            self.apply(changes);
        }
    }

    /// New thresholds from a reload apply to the running alarms at once.
    pub(crate) fn update(&mut self, spec: &StreamSpec) {
        self.settings = spec.alarms;
        self.audio_expected = audio_expected(spec) && self.run_audio;
        if let Some(alarms) = self.alarms.as_mut() {
            let changes = alarms.set_settings(self.settings, self.audio_expected, now_millis());
            self.apply(changes);
        }
    }

    /// The run ended: its alarms end, its levels are gone.
    pub(crate) fn finish(&mut self) {
        if let Some(mut alarms) = self.alarms.take() {
            let changes = alarms.stop(now_millis());
            self.apply(changes);
        }
        self.parser = AnalysisParser::new();
        if let Ok(mut status) = self.status.lock() {
            status.audio = None;
            status.alarms.clear();
        }
        self.wakeups.changed.notify_one();
    }

    fn apply(&mut self, changes: Vec<AlarmChange>) {
        self.plan_next_check();
        if changes.is_empty() {
            return;
        }
        for change in changes {
            match change {
                AlarmChange::Started(alarm) => {
                    let kind = alarm.kind.as_str();
                    self.journal.record(
                        Level::Warn,
                        Some(&self.name),
                        format!("{kind}: {}", alarm.detail),
                    );
                    self.on_alarm.notify(&self.name, kind, &alarm.detail);
                }
                AlarmChange::Ended {
                    alarm,
                    lasted: duration,
                    why,
                } => {
                    let kind = alarm.kind.as_str();
                    let text = format!("{why} after {}", lasted(duration));
                    self.journal.record(
                        Level::Info,
                        Some(&self.name),
                        format!("{kind} cleared: {text}"),
                    );
                    self.on_alarm
                        .notify(&self.name, &format!("{kind}_end"), &text);
                }
            }
        }
        let active = self
            .alarms
            .as_ref()
            .map(|a| a.active().to_vec())
            .unwrap_or_default();
        if let Ok(mut status) = self.status.lock() {
            status.alarms = active;
        }
        // An alarm is news every UI must show at once.
        self.wakeups.urgent.notify_one();
    }
}
