//! The last minute of each stream's CPU use, for the table's sparklines.
//!
//! Snapshots carry only the current value; the console remembers the
//! recent ones itself so the engine does not have to keep and send a
//! series for every stream to every UI.

use crate::engine::{Snapshot, UnixMillis};
use std::collections::{HashMap, VecDeque};

/// How far back a sparkline reaches.
pub const CPU_WINDOW_MILLIS: u64 = 60_000;

/// Recent CPU samples per stream name, oldest first.
#[derive(Debug, Default, Clone)]
pub struct CpuHistory {
    samples: HashMap<String, VecDeque<(UnixMillis, Option<f32>)>>,
}

impl CpuHistory {
    /// Takes the CPU value of every stream in a snapshot (`None` while it
    /// has no process, so the sparkline shows the gap). A snapshot no newer
    /// than the last one seen adds nothing; samples older than the window
    /// and streams gone from the config are forgotten.
    pub fn observe(&mut self, snapshot: &Snapshot) {
        let at = snapshot.taken_at;
        let oldest = at.saturating_sub(CPU_WINDOW_MILLIS);
        self.samples
            .retain(|name, _| snapshot.streams.iter().any(|s| &s.name == name));
        for stream in &snapshot.streams {
            let series = self.samples.entry(stream.name.clone()).or_default();
            if series.back().is_some_and(|&(last, _)| last >= at) {
                continue;
            }
            let cpu = stream.pid.and(stream.cpu_percent);
            if cpu.is_some() || series.back().is_some_and(|(_, last)| last.is_some()) {
                series.push_back((at, cpu));
            }
            while series.front().is_some_and(|&(t, _)| t < oldest) {
                series.pop_front();
            }
        }
    }

    /// The samples of one stream, oldest first (empty if none).
    pub fn samples(&self, name: &str) -> Vec<(UnixMillis, Option<f32>)> {
        self.samples
            .get(name)
            .map(|series| series.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{StreamSnapshot, StreamState};

    fn snapshot(at: UnixMillis, streams: &[(&str, Option<f32>)]) -> Snapshot {
        Snapshot {
            taken_at: at,
            streams: streams
                .iter()
                .map(|(name, cpu)| StreamSnapshot {
                    name: name.to_string(),
                    enabled: true,
                    state: StreamState::Running,
                    output: "hls".into(),
                    pid: Some(7),
                    cpu_percent: *cpu,
                    ..StreamSnapshot::default()
                })
                .collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn keeps_one_minute_and_skips_repeated_snapshots() {
        let mut history = CpuHistory::default();
        for second in 0..=90u64 {
            let snap = snapshot(second * 1000, &[("cam1", Some(second as f32))]);
            history.observe(&snap);
            history.observe(&snap);
        }
        let samples = history.samples("cam1");
        assert_eq!(samples.len(), 61);
        assert_eq!(samples.first(), Some(&(30_000, Some(30.0))));
        assert_eq!(samples.last(), Some(&(90_000, Some(90.0))));
    }

    #[test]
    fn marks_the_moment_a_process_goes_away_once() {
        let mut history = CpuHistory::default();
        history.observe(&snapshot(1000, &[("cam1", Some(5.0))]));
        let mut stopped = snapshot(2000, &[("cam1", Some(5.0))]);
        stopped.streams[0].pid = None;
        history.observe(&stopped);
        stopped.taken_at = 3000;
        history.observe(&stopped);
        assert_eq!(
            history.samples("cam1"),
            vec![(1000, Some(5.0)), (2000, None)]
        );
    }

    #[test]
    fn forgets_removed_streams_and_skips_missing_values() {
        let mut history = CpuHistory::default();
        history.observe(&snapshot(1000, &[("cam1", Some(5.0)), ("cam2", None)]));
        assert!(
            history.samples("cam2").is_empty(),
            "no process yet: nothing to show"
        );
        history.observe(&snapshot(2000, &[("cam2", Some(1.0))]));
        assert!(history.samples("cam1").is_empty());
        assert_eq!(history.samples("cam2"), vec![(2000, Some(1.0))]);
    }
}
