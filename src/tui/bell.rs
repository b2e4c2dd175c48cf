//! The terminal bell: an operator looking at another window, or away from
//! the screen, hears that something went wrong.
//!
//! It rings when a content alarm is raised and when a stream turns
//! `failed` or `stalled`: the same news `on_alarm` gets, minus the ends of
//! alarms (good news needs no sound). What a console saw when it attached
//! rings nothing, news arriving together rings once, and it rings at most
//! once every [`GAP_MILLIS`], so that a venue-wide outage is one sound and
//! not a storm. `m` mutes it. Over SSH the bell travels as one byte (BEL)
//! to the operator's own terminal, which plays its sound, flashes or marks
//! the tab as its user set it up.

use crate::engine::{AlarmKind, Snapshot, StreamState, UnixMillis};

/// The shortest time between two rings.
pub const GAP_MILLIS: u64 = 1_000;

/// What a stream's row carried that makes news when it appears.
type Trouble = (String, TroubleKind);

#[derive(Debug, Clone, PartialEq, Eq)]
enum TroubleKind {
    /// An alarm of this kind raised at this time.
    Alarm(AlarmKind, UnixMillis),
    /// A state the operator must hear about (`failed`, `stalled`).
    State(&'static str),
}

/// Whether a state is news worth a sound.
fn alarming(state: &StreamState) -> Option<&'static str> {
    match state {
        StreamState::Failed { .. } | StreamState::Stalled => Some(state.label()),
        _ => None,
    }
}

/// The bell's state between two snapshots.
#[derive(Debug, Clone)]
pub struct Bell {
    on: bool,
    /// Troubles of the previous snapshot (`None` before the first one).
    seen: Option<Vec<Trouble>>,
    /// News since the bell last rang.
    pending: bool,
    /// When it last rang.
    rang_at: Option<UnixMillis>,
}

impl Default for Bell {
    fn default() -> Self {
        Bell {
            on: true,
            seen: None,
            pending: false,
            rang_at: None,
        }
    }
}

impl Bell {
    /// Whether it rings at all.
    pub fn on(&self) -> bool {
        self.on
    }

    /// Mutes it, or turns it back on.
    pub fn toggle(&mut self) {
        self.on = !self.on;
        self.pending = false;
    }

    /// Takes in a snapshot: an alarm or a failed or stalled stream that the
    /// previous snapshot did not have is news.
    pub fn observe(&mut self, snapshot: &Snapshot) {
        let current: Vec<Trouble> = snapshot
            .streams
            .iter()
            .flat_map(|stream| {
                let alarms = stream.alarms.iter().map(|alarm| {
                    (
                        stream.name.clone(),
                        TroubleKind::Alarm(alarm.kind, alarm.since),
                    )
                });
                let state = alarming(&stream.state)
                    .map(|label| (stream.name.clone(), TroubleKind::State(label)));
                alarms.chain(state)
            })
            .collect();
        if let Some(seen) = &self.seen {
            if current.iter().any(|trouble| !seen.contains(trouble)) {
                self.pending |= self.on;
            }
        }
        self.seen = Some(current);
    }

    /// Whether to ring now; news within [`GAP_MILLIS`] of the last ring is
    /// part of that ring.
    pub fn take(&mut self, now: UnixMillis) -> bool {
        if !std::mem::take(&mut self.pending) {
            return false;
        }
        if self
            .rang_at
            .is_some_and(|at| now < at.saturating_add(GAP_MILLIS))
        {
            return false;
        }
        self.rang_at = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Alarm, StreamSnapshot};

    fn snapshot(streams: Vec<StreamSnapshot>) -> Snapshot {
        Snapshot {
            streams,
            ..Snapshot::default()
        }
    }

    fn stream(
        name: &str,
        state: StreamState,
        alarms: &[(AlarmKind, UnixMillis)],
    ) -> StreamSnapshot {
        StreamSnapshot {
            name: name.to_string(),
            state,
            alarms: alarms
                .iter()
                .map(|&(kind, since)| Alarm {
                    kind,
                    since,
                    detail: String::new(),
                })
                .collect(),
            ..StreamSnapshot::default()
        }
    }

    fn failed() -> StreamState {
        StreamState::Failed {
            reason: "x".to_string(),
        }
    }

    #[test]
    fn what_was_there_on_attach_rings_nothing_news_rings_once() {
        let mut bell = Bell::default();
        bell.observe(&snapshot(vec![
            stream("a", StreamState::Running, &[(AlarmKind::Black, 1)]),
            stream("b", failed(), &[]),
        ]));
        assert!(!bell.take(10_000));
        bell.observe(&snapshot(vec![
            stream(
                "a",
                StreamState::Running,
                &[(AlarmKind::Black, 1), (AlarmKind::Silent, 2)],
            ),
            stream("b", failed(), &[]),
        ]));
        assert!(bell.take(20_000));
        assert!(!bell.take(30_000), "one ring per piece of news");
    }

    #[test]
    fn failing_and_stalling_ring_ends_and_recoveries_do_not() {
        let mut bell = Bell::default();
        bell.observe(&snapshot(vec![stream(
            "a",
            StreamState::Running,
            &[(AlarmKind::Frozen, 1)],
        )]));
        bell.observe(&snapshot(vec![stream("a", StreamState::Running, &[])]));
        assert!(!bell.take(10_000), "an alarm that ends is no news");
        bell.observe(&snapshot(vec![stream("a", StreamState::Stalled, &[])]));
        assert!(bell.take(20_000), "stalled rings");
        bell.observe(&snapshot(vec![stream("a", StreamState::Starting, &[])]));
        assert!(!bell.take(30_000));
        bell.observe(&snapshot(vec![stream("a", failed(), &[])]));
        assert!(bell.take(40_000), "failed rings");
        // The same alarm kind raised again later is news again.
        bell.observe(&snapshot(vec![stream(
            "a",
            failed(),
            &[(AlarmKind::Frozen, 50_000)],
        )]));
        assert!(bell.take(50_000));
    }

    #[test]
    fn news_close_together_is_one_ring_and_muted_rings_nothing() {
        let mut bell = Bell::default();
        bell.observe(&snapshot(vec![]));
        bell.observe(&snapshot(vec![stream("a", failed(), &[])]));
        assert!(bell.take(10_000));
        bell.observe(&snapshot(vec![
            stream("a", failed(), &[]),
            stream("b", failed(), &[]),
        ]));
        assert!(!bell.take(10_000 + GAP_MILLIS - 1), "within the gap");
        bell.observe(&snapshot(vec![
            stream("a", failed(), &[]),
            stream("b", failed(), &[]),
            stream("c", failed(), &[]),
        ]));
        assert!(bell.take(10_000 + GAP_MILLIS));

        bell.toggle();
        assert!(!bell.on());
        bell.observe(&snapshot(vec![stream("d", failed(), &[])]));
        assert!(!bell.take(60_000), "muted");
        bell.toggle();
        assert!(
            !bell.take(60_000),
            "news heard while muted does not ring later"
        );
    }
}
