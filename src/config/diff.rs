//! The difference between the running config and a newly saved one, as the
//! smallest set of actions: a stream that did not change keeps its FFmpeg.

use super::{Config, StreamSpec};
use crate::ffmpeg;

/// What a reload has to do, stream by stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// New enabled streams, and streams switched from disabled to enabled.
    pub start: Vec<String>,
    /// Removed streams, and streams switched from enabled to disabled.
    pub stop: Vec<String>,
    /// Enabled streams whose FFmpeg command line changed.
    pub restart: Vec<String>,
    /// Streams that changed only in what onair itself uses (the watchdog
    /// timeout, their line in the file): updated in place, no restart.
    pub update: Vec<String>,
    /// `[server].listen` changed: the HTTP server must move.
    pub listen_changed: bool,
    /// Screens were added, removed or changed: the screens must hear of it.
    pub screens_changed: bool,
}

impl Plan {
    /// True when applying the plan touches no process and no screen.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
            && self.stop.is_empty()
            && self.restart.is_empty()
            && !self.listen_changed
            && !self.screens_changed
    }

    /// A one-line account for the log and the console.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "no change".to_string();
        }
        let mut parts = Vec::new();
        for (verb, names) in [
            ("start", &self.start),
            ("stop", &self.stop),
            ("restart", &self.restart),
        ] {
            if !names.is_empty() {
                parts.push(format!("{verb} {}", names.join(", ")));
            }
        }
        if self.listen_changed {
            parts.push("move the HTTP server".to_string());
        }
        if self.screens_changed {
            parts.push("update screens".to_string());
        }
        parts.join("; ")
    }
}

/// Compares two configs by stream name. A stream restarts only when the
/// FFmpeg command it would run differs, which covers its own fields, the
/// profile overrides it uses, `hls_dir` and the FFmpeg binary at once.
pub fn diff(old: &Config, new: &Config) -> Plan {
    let mut plan = Plan::default();
    for spec in &new.streams {
        match old.stream(&spec.name) {
            None => {
                if spec.enabled {
                    plan.start.push(spec.name.clone());
                }
            }
            Some(before) => {
                let command_changed = ffmpeg::commands(old, before) != ffmpeg::commands(new, spec);
                match (before.enabled, spec.enabled) {
                    (false, true) => plan.start.push(spec.name.clone()),
                    (true, false) => plan.stop.push(spec.name.clone()),
                    (true, true) if command_changed => plan.restart.push(spec.name.clone()),
                    _ if !same_settings(before, spec) => plan.update.push(spec.name.clone()),
                    _ => {}
                }
            }
        }
    }
    for spec in &old.streams {
        if new.stream(&spec.name).is_none() && spec.enabled {
            plan.stop.push(spec.name.clone());
        }
    }
    plan.listen_changed = old.server.listen != new.server.listen;
    plan.screens_changed = old.screens != new.screens;
    plan
}

/// Equal but for where the stream sits in the file.
fn same_settings(a: &StreamSpec, b: &StreamSpec) -> bool {
    StreamSpec {
        line: 0,
        ..a.clone()
    } == StreamSpec {
        line: 0,
        ..b.clone()
    }
}
