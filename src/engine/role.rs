//! Where a stream task's FFmpeg sits in its stream's process layout, and
//! how the ingests of the whole engine space their restarts.

use super::child::Extras;
use crate::relay::{Relay, RelayCommand};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest restart delay of an ingest: while its source is lost the slate
/// is on the air and the audience waits for the source to be tried again.
/// A failed attempt costs FFmpeg about 60 ms of CPU; [`Pacer`] bounds how
/// many attempts the whole engine makes per second.
const INGEST_BACKOFF_CAP: Duration = Duration::from_secs(2);
/// Ingest restarts, engine-wide, are at least this far apart: with every
/// source of a venue down at once, retrying costs at most about half a core.
const INGEST_RESTART_GAP: Duration = Duration::from_millis(100);

/// Spaces the restarts of every ingest of the engine.
#[derive(Debug)]
pub(crate) struct Pacer {
    next: Mutex<tokio::time::Instant>,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer {
            next: Mutex::new(tokio::time::Instant::now()),
        }
    }
}

impl Pacer {
    /// The first free slot at or after `wanted`, now taken.
    pub(crate) fn reserve(&self, wanted: tokio::time::Instant) -> tokio::time::Instant {
        let Ok(mut next) = self.next.lock() else {
            return wanted;
        };
        let at = wanted.max(*next);
        *next = at + INGEST_RESTART_GAP;
        at
    }
}

/// Where a task's FFmpeg sits in its stream's process layout.
#[derive(Clone)]
pub(crate) enum Role {
    /// The row's only FFmpeg, from source to destination (`fallback = false`).
    Solo,
    /// The ingest of a stream with fallback: its transport stream (fd 3)
    /// goes to the relay; its restarts are paced engine-wide.
    Ingest {
        /// The stream's relay.
        relay: Relay,
        /// The engine's pacing of ingest restarts.
        pacer: Arc<Pacer>,
        /// The HLS output whose segments show the source's keyframes.
        segments: Option<PathBuf>,
    },
    /// One output of a stream with fallback: it reads the relay on stdin.
    Output(Relay),
}

impl Role {
    /// The longest restart delay: an ingest's is shorter than `usual`.
    pub(crate) fn backoff_cap(&self, usual: Duration) -> Duration {
        match self {
            Role::Ingest { .. } => INGEST_BACKOFF_CAP,
            _ => usual,
        }
    }

    /// How the task's journal lines start: an ingest speaks of the source.
    pub(crate) fn prefix(&self) -> &'static str {
        match self {
            Role::Ingest { .. } => "source ",
            _ => "",
        }
    }

    /// What a new process of this role needs: an ingest writes its
    /// transport stream to a pipe on fd 3 (the read end is returned).
    pub(crate) fn plumbing(&self) -> std::io::Result<(Extras, Option<OwnedFd>)> {
        let Role::Ingest { .. } = self else {
            return Ok((Extras::default(), None));
        };
        let (tx, rx) = tokio::net::unix::pipe::pipe()?;
        let extras = Extras {
            fd3: Some(tx.into_blocking_fd()?),
            background: false,
            ..Extras::default()
        };
        Ok((extras, Some(rx.into_nonblocking_fd()?)))
    }

    /// Hands a new process's stream to the relay: an ingest's pipe, or an
    /// output's stdin (which the task then no longer holds).
    pub(crate) fn connect(
        &self,
        name: &str,
        stdin: &mut Option<tokio::process::ChildStdin>,
        ts_pipe: Option<OwnedFd>,
    ) {
        match self {
            Role::Solo => {}
            Role::Ingest { relay, .. } => {
                if let Some(pipe) = ts_pipe {
                    relay.send(RelayCommand::AttachLive(pipe));
                }
            }
            Role::Output(relay) => {
                if let Some(Ok(input)) = stdin.take().map(|s| s.into_owned_fd()) {
                    relay.send(RelayCommand::AddOutput {
                        name: name.to_string(),
                        stdin: input,
                    });
                }
            }
        }
    }

    /// Before an output stops: its input is the relay, and closing it ends
    /// FFmpeg's input, so FFmpeg finishes its file (HLS gets its end tag).
    pub(crate) fn disconnect(&self, name: &str) {
        if let Role::Output(relay) = self {
            relay.send(RelayCommand::RemoveOutput {
                name: name.to_string(),
            });
        }
    }

    /// For an output: how many bytes its relay has handed out so far. An
    /// output given nothing to write is not stalled.
    pub(crate) fn relay_fed(&self) -> Option<u64> {
        match self {
            Role::Output(relay) => Some(
                relay
                    .counters()
                    .output_bytes
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
            _ => None,
        }
    }

    /// True for the FFmpeg that reads the source (and so learns about it).
    pub(crate) fn reads_source(&self) -> bool {
        !matches!(self, Role::Output(_))
    }

    /// Where the source's keyframes can be read back: a stream's own HLS
    /// directory, or for an ingest its stream's HLS output's.
    pub(crate) fn segments<'a>(&'a self, own: Option<&'a Path>) -> Option<&'a Path> {
        match self {
            Role::Ingest { segments, .. } => segments.as_deref(),
            Role::Solo => own,
            Role::Output(_) => None,
        }
    }
}
