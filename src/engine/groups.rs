//! The streams with fallback that the engine runs, by `[[stream]]` name:
//! each one's ingest, relay and slate ([`Group`]), apart from the rows (one
//! output each) that the conductor holds like any other stream.

use super::child::Spawner;
use super::journal::Journal;
use super::launch::group_launch;
use super::on_alarm::OnAlarm;
use super::relayed::{Group, GroupControl, GroupView};
use super::role::Pacer;
use super::stream::{StreamStatus, Wakeups};
use crate::config::{Config, StreamSpec};
use crate::relay::Relay;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Slate clips encoded at the same time, whole engine: encoding is done
/// ahead of need at the lowest priority, one at a time is plenty.
const ENCODERS: usize = 1;

/// Every running group.
pub(crate) struct Groups {
    groups: Vec<Group>,
    spawner: Spawner,
    journal: Journal,
    wakeups: Arc<Wakeups>,
    encoders: Arc<Semaphore>,
    pacer: Arc<Pacer>,
    on_alarm: OnAlarm,
}

impl Groups {
    pub(crate) fn new(
        spawner: Spawner,
        journal: Journal,
        wakeups: Arc<Wakeups>,
        on_alarm: OnAlarm,
    ) -> Groups {
        Groups {
            groups: Vec::new(),
            spawner,
            journal,
            wakeups,
            encoders: Arc::new(Semaphore::new(ENCODERS)),
            pacer: Arc::new(Pacer::default()),
            on_alarm,
        }
    }

    /// The relay and view of a row's stream, starting the group if it is
    /// the stream's first row.
    pub(crate) fn join(
        &mut self,
        config: &Config,
        spec: &StreamSpec,
        secrets: &Arc<Vec<String>>,
    ) -> Option<(Relay, GroupView)> {
        if let Some(group) = self.groups.iter().find(|g| g.stream == spec.stream) {
            return Some((group.relay.clone(), group.view.clone()));
        }
        let launch = group_launch(config, &rows_of(config, &spec.stream), secrets)?;
        let group = Group::start(
            launch,
            self.spawner.clone(),
            self.journal.clone(),
            Arc::clone(&self.wakeups),
            Arc::clone(&self.encoders),
            Arc::clone(&self.pacer),
            self.on_alarm.clone(),
        );
        let joined = (group.relay.clone(), group.view.clone());
        self.groups.push(group);
        Some(joined)
    }

    /// Hands every group its settings from the running config (a group
    /// restarts its ingest only when the ingest's command changed); a group
    /// with no row left is stopped, its task returned to be awaited.
    pub(crate) fn sync(
        &mut self,
        config: &Config,
        secrets: &Arc<Vec<String>>,
    ) -> Vec<JoinHandle<()>> {
        let mut ended = Vec::new();
        let mut kept = Vec::with_capacity(self.groups.len());
        for group in self.groups.drain(..) {
            match group_launch(config, &rows_of(config, &group.stream), secrets) {
                Some(launch) => {
                    group.send(GroupControl::Update(Box::new(launch)));
                    kept.push(group);
                }
                None => {
                    group.send(GroupControl::Shutdown);
                    ended.push(group.task);
                }
            }
        }
        self.groups = kept;
        ended
    }

    fn group(&self, stream: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.stream == stream)
    }

    /// The operator's bumper on a stream.
    pub(crate) fn bumper(&self, stream: &str, on: bool) -> bool {
        self.group(stream)
            .map(|g| g.send(GroupControl::Bumper(on)))
            .is_some()
    }

    /// Tries a stream's source again now, if it is not delivering.
    pub(crate) fn retry_source(&self, stream: &str) {
        if let Some(g) = self.group(stream) {
            g.send(GroupControl::RetrySource);
        }
    }

    /// The ingests' statuses, for the collector to measure.
    pub(crate) fn statuses(&self) -> Vec<Arc<Mutex<StreamStatus>>> {
        self.groups
            .iter()
            .map(|g| Arc::clone(&g.view.ingest))
            .collect()
    }

    /// Stops every group (after the outputs were told to stop) and returns
    /// their tasks.
    pub(crate) fn shutdown(&mut self) -> Vec<JoinHandle<()>> {
        self.groups
            .drain(..)
            .map(|g| {
                g.send(GroupControl::Shutdown);
                g.task
            })
            .collect()
    }
}

/// The rows of one `[[stream]]` that run with fallback.
fn rows_of<'a>(config: &'a Config, stream: &str) -> Vec<&'a StreamSpec> {
    config
        .streams
        .iter()
        .filter(|s| s.stream == stream && s.fallback)
        .collect()
}
