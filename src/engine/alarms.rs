//! The content alarms of one run of a stream, as a pure state machine:
//! measurements and the time go in, alarm starts and ends come out.
//!
//! An alarm is raised once its problem has lasted the stream's threshold
//! and clears by itself as soon as the content is back. Alarms only ever
//! inform (console, log, API, metrics, `on_alarm`): nothing here restarts
//! anything. A black picture is also an unchanged one; while it is black,
//! only `black` is raised.

use super::snapshot::{Alarm, AlarmKind, UnixMillis};
use crate::config::AlarmSettings;
use crate::ffmpeg::analysis::Measurement;
use std::time::Duration;

/// An alarm that started or ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AlarmChange {
    /// Raised now.
    Started(Alarm),
    /// Cleared now, after lasting `lasted`; `why` says what came back.
    Ended {
        alarm: Alarm,
        lasted: Duration,
        why: String,
    },
}

/// The alarm state of one run of one stream.
#[derive(Debug, Clone)]
pub(crate) struct AlarmWatch {
    settings: AlarmSettings,
    /// The stream carries audio (`audio` is not `"none"`).
    audio_expected: bool,
    /// When watching began (the run started producing output).
    watching_since: UnixMillis,
    /// The last window with sound in it.
    last_sound: Option<UnixMillis>,
    /// Whether any audio was measured at all in this run.
    heard_any: bool,
    black_since: Option<UnixMillis>,
    frozen_since: Option<UnixMillis>,
    /// When the current freeze was first reported.
    frozen_seen_at: Option<UnixMillis>,
    active: Vec<Alarm>,
}

/// A freeze first seen already past its threshold (key frames far apart)
/// is raised only this long after it was seen, so that the end FFmpeg
/// reports on the same frame for a picture that did change cancels it.
const FREEZE_CONFIRM: Duration = Duration::from_secs(1);

fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn seconds(ms: u64) -> String {
    let secs = (ms + 500) / 1000;
    if secs < 120 {
        format!("{secs} s")
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

impl AlarmWatch {
    /// Starts watching a run at `now` (FFmpeg reports black and freeze
    /// only when they begin, so it is watched from its very first line).
    pub(crate) fn new(settings: AlarmSettings, audio_expected: bool, now: UnixMillis) -> Self {
        AlarmWatch {
            settings,
            audio_expected,
            watching_since: now,
            last_sound: None,
            heard_any: false,
            black_since: None,
            frozen_since: None,
            frozen_seen_at: None,
            active: Vec::new(),
        }
    }

    /// The run began producing output at `now`: silence (or the lack of
    /// any audio) counts from then, not from FFmpeg opening its source.
    pub(crate) fn output_began(&mut self, now: UnixMillis) {
        if !self.heard_any {
            self.watching_since = now;
        }
    }

    /// The alarms raised right now, in the order they were raised.
    pub(crate) fn active(&self) -> &[Alarm] {
        &self.active
    }

    /// Takes in one measurement made at `now`.
    pub(crate) fn observe(
        &mut self,
        measurement: &Measurement,
        now: UnixMillis,
    ) -> Vec<AlarmChange> {
        match measurement {
            Measurement::Levels(channels) => {
                self.heard_any = true;
                let loudest = channels
                    .iter()
                    .map(|c| c.peak_dbfs)
                    .fold(f32::NEG_INFINITY, f32::max);
                if loudest >= self.settings.silent_below_dbfs {
                    self.last_sound = Some(now);
                }
            }
            Measurement::Black(true) => {
                self.black_since.get_or_insert(now);
            }
            Measurement::Black(false) => self.black_since = None,
            Measurement::Frozen(Some(secs)) => {
                let began = now.saturating_sub((secs.max(0.0) * 1000.0) as u64);
                let since = self.frozen_since.map_or(began, |s| s.min(began));
                self.frozen_since = Some(since);
                self.frozen_seen_at.get_or_insert(now);
            }
            Measurement::Frozen(None) => {
                self.frozen_since = None;
                self.frozen_seen_at = None;
            }
        }
        self.tick(now)
    }

    /// Nothing was heard from FFmpeg for `gap` ms (onair was paused or
    /// starved, or FFmpeg wrote nothing): that time counts towards no
    /// alarm. What FFmpeg measured meanwhile is read only now, all at
    /// once, and must not be judged against a clock that ran on without it.
    pub(crate) fn unheard(&mut self, gap: u64) {
        let later = |at: &mut Option<UnixMillis>| {
            if let Some(at) = at {
                *at = at.saturating_add(gap);
            }
        };
        self.watching_since = self.watching_since.saturating_add(gap);
        later(&mut self.last_sound);
        later(&mut self.black_since);
        later(&mut self.frozen_since);
        later(&mut self.frozen_seen_at);
    }

    /// New thresholds (a reload): applied at once, without a restart.
    pub(crate) fn set_settings(
        &mut self,
        settings: AlarmSettings,
        audio_expected: bool,
        now: UnixMillis,
    ) -> Vec<AlarmChange> {
        self.settings = settings;
        self.audio_expected = audio_expected;
        self.tick(now)
    }

    /// The run ended: every raised alarm ends with it.
    pub(crate) fn stop(&mut self, now: UnixMillis) -> Vec<AlarmChange> {
        std::mem::take(&mut self.active)
            .into_iter()
            .map(|alarm| AlarmChange::Ended {
                lasted: Duration::from_millis(now.saturating_sub(alarm.since)),
                alarm,
                why: "the stream stopped".to_string(),
            })
            .collect()
    }

    /// When the next alarm could be raised if nothing changes: the caller
    /// calls [`AlarmWatch::tick`] then.
    pub(crate) fn next_check(&self) -> Option<UnixMillis> {
        AlarmKind::ALL
            .iter()
            .filter(|kind| !self.active.iter().any(|a| a.kind == **kind))
            .filter_map(|kind| self.due_at(*kind))
            .min()
    }

    /// The problem of this kind, if there is one: since when, and how long
    /// it must last to raise the alarm.
    fn pending(&self, kind: AlarmKind) -> Option<(UnixMillis, Duration)> {
        match kind {
            AlarmKind::Silent => {
                let after = self.settings.silent_after.filter(|_| self.audio_expected)?;
                Some((self.last_sound.unwrap_or(self.watching_since), after))
            }
            AlarmKind::Black => Some((self.black_since?, self.settings.black_after?)),
            AlarmKind::Frozen => {
                if self.black_since.is_some() {
                    return None;
                }
                Some((self.frozen_since?, self.settings.frozen_after?))
            }
        }
    }

    /// When the alarm of this kind is due, if its problem is there.
    fn due_at(&self, kind: AlarmKind) -> Option<UnixMillis> {
        let (since, after) = self.pending(kind)?;
        let due = since + millis(after);
        Some(match (kind, self.frozen_seen_at) {
            (AlarmKind::Frozen, Some(seen)) => due.max(seen + millis(FREEZE_CONFIRM)),
            _ => due,
        })
    }

    fn detail(&self, kind: AlarmKind, after: Duration) -> String {
        let after = seconds(millis(after));
        match kind {
            AlarmKind::Silent if !self.heard_any => {
                format!("no audio from the source for {after}")
            }
            AlarmKind::Silent => format!(
                "audio below {:.0} dBFS for {after}",
                self.settings.silent_below_dbfs
            ),
            AlarmKind::Black => format!("picture black for {after}"),
            AlarmKind::Frozen => format!("picture unchanged for {after}"),
        }
    }

    /// Raises what has lasted long enough and clears what is over.
    pub(crate) fn tick(&mut self, now: UnixMillis) -> Vec<AlarmChange> {
        let mut changes = Vec::new();
        for kind in AlarmKind::ALL {
            let due = self
                .pending(kind)
                .filter(|_| self.due_at(kind).is_some_and(|at| now >= at));
            let raised = self.active.iter().position(|a| a.kind == kind);
            match (due, raised) {
                (Some((since, after)), None) => {
                    let alarm = Alarm {
                        kind,
                        since,
                        detail: self.detail(kind, after),
                    };
                    self.active.push(alarm.clone());
                    changes.push(AlarmChange::Started(alarm));
                }
                (None, Some(index)) => {
                    let alarm = self.active.remove(index);
                    let why = match kind {
                        AlarmKind::Silent => "sound is back",
                        AlarmKind::Black => "the picture is back",
                        AlarmKind::Frozen => "the picture moves again",
                    };
                    changes.push(AlarmChange::Ended {
                        lasted: Duration::from_millis(now.saturating_sub(alarm.since)),
                        alarm,
                        why: why.to_string(),
                    });
                }
                _ => {}
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffmpeg::analysis::ChannelLevel;

    const T0: UnixMillis = 1_000_000;

    fn level(peak: f32) -> Measurement {
        Measurement::Levels(vec![
            ChannelLevel {
                peak_dbfs: peak,
                rms_dbfs: peak - 3.0,
            },
            ChannelLevel {
                peak_dbfs: -120.0,
                rms_dbfs: -120.0,
            },
        ])
    }

    fn started(changes: &[AlarmChange]) -> Vec<AlarmKind> {
        changes
            .iter()
            .filter_map(|c| match c {
                AlarmChange::Started(a) => Some(a.kind),
                _ => None,
            })
            .collect()
    }

    fn ended(changes: &[AlarmChange]) -> Vec<AlarmKind> {
        changes
            .iter()
            .filter_map(|c| match c {
                AlarmChange::Ended { alarm, .. } => Some(alarm.kind),
                _ => None,
            })
            .collect()
    }

    /// Feeds a window of the given level every 100 ms from `from` to `to`.
    fn windows(watch: &mut AlarmWatch, peak: f32, from: u64, to: u64) -> Vec<AlarmChange> {
        let mut all = Vec::new();
        let mut at = from;
        while at <= to {
            all.extend(watch.observe(&level(peak), at));
            at += 100;
        }
        all
    }

    #[test]
    fn time_nothing_was_heard_counts_towards_no_alarm() {
        let mut watch = AlarmWatch::new(AlarmSettings::default(), true, T0);
        assert!(windows(&mut watch, -20.0, T0, T0 + 1_000).is_empty());
        assert!(
            watch
                .observe(&Measurement::Black(true), T0 + 1_000)
                .is_empty()
        );
        // Nothing read for 8 s; then the backlog: a window with sound, then
        // the picture back, all read at once.
        watch.unheard(8_000);
        assert!(watch.observe(&level(-20.0), T0 + 9_100).is_empty());
        assert!(
            watch
                .observe(&Measurement::Black(false), T0 + 9_100)
                .is_empty()
        );
        assert!(watch.active().is_empty());
        // What is still wrong after the gap counts on from where it was.
        assert!(
            watch
                .observe(&Measurement::Black(true), T0 + 9_200)
                .is_empty()
        );
        assert!(windows(&mut watch, -20.0, T0 + 9_200, T0 + 14_000).is_empty());
        watch.unheard(3_000);
        let changes = watch.tick(T0 + 17_100);
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(
            started(&watch.tick(T0 + 17_300)),
            [AlarmKind::Black],
            "black for 5 s of heard time"
        );
    }

    #[test]
    fn silence_is_raised_after_five_seconds_and_clears_with_the_first_sound() {
        let mut watch = AlarmWatch::new(AlarmSettings::default(), true, T0);
        assert!(windows(&mut watch, -20.0, T0, T0 + 2_000).is_empty());
        let quiet = windows(&mut watch, -70.0, T0 + 2_100, T0 + 6_900);
        assert!(quiet.is_empty(), "4.9 s of silence is not an alarm yet");
        let raised = windows(&mut watch, -70.0, T0 + 7_000, T0 + 7_000);
        assert_eq!(started(&raised), [AlarmKind::Silent]);
        let AlarmChange::Started(alarm) = &raised[0] else {
            unreachable!()
        };
        assert_eq!(alarm.since, T0 + 2_000);
        assert_eq!(alarm.detail, "audio below -60 dBFS for 5 s");
        let back = watch.observe(&level(-30.0), T0 + 9_000);
        assert_eq!(ended(&back), [AlarmKind::Silent]);
        assert!(watch.active().is_empty());
    }

    #[test]
    fn a_stream_without_any_audio_is_silent_and_says_so() {
        let mut watch = AlarmWatch::new(AlarmSettings::default(), true, T0);
        assert_eq!(watch.next_check(), Some(T0 + 5_000));
        assert!(watch.tick(T0 + 4_999).is_empty());
        let raised = watch.tick(T0 + 5_000);
        let AlarmChange::Started(alarm) = &raised[0] else {
            panic!("{raised:?}")
        };
        assert_eq!(alarm.detail, "no audio from the source for 5 s");
    }

    #[test]
    fn audio_none_or_silent_after_zero_never_raises_silent() {
        let mut none = AlarmWatch::new(AlarmSettings::default(), false, T0);
        assert!(windows(&mut none, -120.0, T0, T0 + 20_000).is_empty());
        let off = AlarmSettings {
            silent_after: None,
            ..AlarmSettings::default()
        };
        let mut off = AlarmWatch::new(off, true, T0);
        assert!(off.tick(T0 + 60_000).is_empty());
        assert_eq!(off.next_check(), None);
    }

    #[test]
    fn black_is_raised_after_its_threshold_and_clears_when_the_picture_is_back() {
        let mut watch = AlarmWatch::new(AlarmSettings::default(), false, T0);
        assert!(
            watch
                .observe(&Measurement::Black(true), T0 + 1_000)
                .is_empty()
        );
        // Still black: the start time is kept.
        assert!(
            watch
                .observe(&Measurement::Black(true), T0 + 3_000)
                .is_empty()
        );
        assert_eq!(watch.next_check(), Some(T0 + 6_000));
        assert_eq!(started(&watch.tick(T0 + 6_000)), [AlarmKind::Black]);
        assert!(watch.tick(T0 + 7_000).is_empty(), "raised once");
        let back = watch.observe(&Measurement::Black(false), T0 + 8_000);
        let [AlarmChange::Ended { lasted, why, .. }] = back.as_slice() else {
            panic!("{back:?}")
        };
        assert_eq!(*lasted, Duration::from_secs(7));
        assert_eq!(why, "the picture is back");
    }

    #[test]
    fn a_freeze_counts_from_when_the_picture_stopped_changing() {
        let mut watch = AlarmWatch::new(AlarmSettings::default(), false, T0);
        // Seen 2 s after the picture stopped changing (key frames 2 s apart).
        assert!(
            watch
                .observe(&Measurement::Frozen(Some(2.0)), T0 + 4_000)
                .is_empty()
        );
        assert_eq!(watch.next_check(), Some(T0 + 7_000));
        let raised = watch.tick(T0 + 7_000);
        let [AlarmChange::Started(alarm)] = raised.as_slice() else {
            panic!("{raised:?}")
        };
        assert_eq!(alarm.since, T0 + 2_000);
        assert_eq!(
            ended(&watch.observe(&Measurement::Frozen(None), T0 + 9_000)),
            [AlarmKind::Frozen]
        );
    }

    #[test]
    fn frozen_after_zero_turns_the_frozen_alarm_off() {
        let settings = AlarmSettings {
            frozen_after: None,
            ..AlarmSettings::default()
        };
        let mut watch = AlarmWatch::new(settings, false, T0);
        watch.observe(&Measurement::Frozen(Some(1.0)), T0);
        assert!(watch.tick(T0 + 3_600_000).is_empty());
    }

    #[test]
    fn a_black_picture_raises_black_only_even_though_it_is_also_frozen() {
        let mut watch = AlarmWatch::new(AlarmSettings::default(), false, T0);
        watch.observe(&Measurement::Black(true), T0);
        watch.observe(&Measurement::Frozen(Some(1.0)), T0 + 1_000);
        assert_eq!(started(&watch.tick(T0 + 10_000)), [AlarmKind::Black]);
        // Black ends but the (new, still) picture stays unchanged.
        let changes = watch.observe(&Measurement::Black(false), T0 + 11_000);
        assert_eq!(ended(&changes), [AlarmKind::Black]);
        assert_eq!(started(&changes), [AlarmKind::Frozen]);
    }

    #[test]
    fn a_freeze_that_ends_on_the_frame_it_was_seen_raises_nothing() {
        let mut watch = AlarmWatch::new(AlarmSettings::default(), false, T0);
        // Key frames 9 s apart that differ: FFmpeg reports a freeze from the
        // previous key frame and its end on the same frame.
        assert!(
            watch
                .observe(&Measurement::Frozen(Some(9.0)), T0 + 10_000)
                .is_empty()
        );
        assert!(
            watch
                .observe(&Measurement::Frozen(None), T0 + 10_000)
                .is_empty()
        );
        assert!(watch.tick(T0 + 20_000).is_empty());
        // A real freeze first seen past its threshold is raised a moment later.
        watch.observe(&Measurement::Frozen(Some(9.0)), T0 + 30_000);
        assert_eq!(watch.next_check(), Some(T0 + 31_000));
        assert_eq!(started(&watch.tick(T0 + 31_000)), [AlarmKind::Frozen]);
    }

    #[test]
    fn stopping_ends_every_alarm_and_new_thresholds_apply_at_once() {
        let mut watch = AlarmWatch::new(AlarmSettings::default(), true, T0);
        watch.observe(&Measurement::Black(true), T0);
        let both = watch.tick(T0 + 5_000);
        assert_eq!(started(&both), [AlarmKind::Silent, AlarmKind::Black]);
        let relaxed = AlarmSettings {
            black_after: Some(Duration::from_secs(60)),
            ..AlarmSettings::default()
        };
        assert_eq!(
            ended(&watch.set_settings(relaxed, true, T0 + 6_000)),
            [AlarmKind::Black]
        );
        let stopped = watch.stop(T0 + 7_000);
        assert_eq!(ended(&stopped), [AlarmKind::Silent]);
        assert!(watch.active().is_empty());
    }

    #[test]
    fn black_reported_before_the_output_began_still_counts() {
        let mut watch = AlarmWatch::new(AlarmSettings::default(), true, T0);
        watch.observe(&Measurement::Black(true), T0 + 100);
        watch.output_began(T0 + 1_000);
        assert_eq!(watch.next_check(), Some(T0 + 5_100));
        assert_eq!(started(&watch.tick(T0 + 5_100)), [AlarmKind::Black]);
        // Silence counts from the output, not from the start of FFmpeg.
        assert!(
            watch
                .tick(T0 + 5_999)
                .iter()
                .all(|c| !matches!(c, AlarmChange::Started(_)))
        );
        assert_eq!(started(&watch.tick(T0 + 6_000)), [AlarmKind::Silent]);
    }

    #[test]
    fn long_durations_read_in_minutes() {
        assert_eq!(seconds(4_600), "5 s");
        assert_eq!(seconds(125_000), "2 min 5 s");
    }
}
