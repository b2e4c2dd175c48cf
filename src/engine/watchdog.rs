//! The stall watchdog of one FFmpeg run: FFmpeg's `-progress` blocks are
//! its heartbeat, and a media time that stops advancing for the stream's
//! `stall_timeout` is a stall.
//!
//! Time is counted from what onair has *read*, so when onair itself was
//! paused (a VM pause, a loaded box, `SIGSTOP`) the progress FFmpeg wrote
//! meanwhile is still waiting in the pipe: it is read before a stall is
//! declared ([`Watchdog::catch_up`]).

use crate::ffmpeg::{Progress, ProgressParser};
use std::time::Duration;
use tokio::io::AsyncBufRead;
use tokio::time::Instant;

/// Extra time the watchdog gives a new FFmpeg to produce its first output
/// (opening and probing a network source can take several seconds).
pub(crate) const STARTUP_GRACE: Duration = Duration::from_secs(10);

/// How long the pipe may stay quiet while catching up before what was
/// waiting in it counts as read.
const CATCH_UP_QUIET: Duration = Duration::from_millis(100);

/// At most this many lines are read while catching up (about ten minutes of
/// progress blocks), so a runaway writer cannot hold the watchdog.
const CATCH_UP_LINES: usize = 20_000;

/// What one line of progress output meant.
pub(crate) struct Heard {
    /// A complete progress block, if the line closed one.
    pub progress: Option<Progress>,
    /// True when this block is the run's first that advanced: it is running.
    pub started: bool,
    /// True when the media time advanced.
    pub advanced: bool,
}

/// Watches one run's progress.
pub(crate) struct Watchdog {
    parser: ProgressParser,
    last_out_time: Option<i64>,
    last_advance: Instant,
    running_since: Option<Instant>,
}

impl Watchdog {
    /// A watchdog for a run that starts now.
    pub(crate) fn new() -> Watchdog {
        Watchdog {
            parser: ProgressParser::new(),
            last_out_time: None,
            last_advance: Instant::now(),
            running_since: None,
        }
    }

    /// Takes one line of FFmpeg's progress output.
    pub(crate) fn hear(&mut self, line: &str) -> Heard {
        let Some(progress) = self.parser.feed(line) else {
            return Heard {
                progress: None,
                started: false,
                advanced: false,
            };
        };
        let advanced = match (progress.out_time_us, self.last_out_time) {
            (Some(now), Some(before)) => now > before,
            (Some(now), None) => now > 0,
            _ => false,
        };
        let mut started = false;
        if advanced {
            self.last_out_time = progress.out_time_us;
            self.last_advance = Instant::now();
            if self.running_since.is_none() {
                self.running_since = Some(self.last_advance);
                started = true;
            }
        }
        Heard {
            progress: Some(progress),
            started,
            advanced,
        }
    }

    /// True once the media time has advanced in this run.
    pub(crate) fn is_running(&self) -> bool {
        self.running_since.is_some()
    }

    /// How long the run may go without progress before it is a stall.
    pub(crate) fn allowed(&self, stall_timeout: Duration) -> Duration {
        if self.is_running() {
            stall_timeout
        } else {
            stall_timeout + STARTUP_GRACE
        }
    }

    /// When the run is stalled if nothing advances before.
    pub(crate) fn stall_at(&self, stall_timeout: Duration) -> Instant {
        self.last_advance + self.allowed(stall_timeout)
    }

    /// Starts the wait for progress again without counting it as progress:
    /// an output that was given nothing to write cannot be late.
    pub(crate) fn excuse(&mut self) {
        self.last_advance = Instant::now();
    }

    /// How long the run made progress: from its first advance to its last.
    /// The time it then spent stalled, or dying, does not count.
    pub(crate) fn healthy(&self) -> Duration {
        self.running_since
            .map_or(Duration::ZERO, |since| self.last_advance - since)
    }

    /// Reads whatever progress is already waiting in the pipe and returns
    /// true if the media time advanced: then the run is not stalled, onair
    /// just had not been listening. Called when the stall timer fires;
    /// `also` gets every line read (the same pipe carries other news).
    pub(crate) async fn catch_up<R>(
        &mut self,
        lines: &mut Option<tokio::io::Lines<R>>,
        mut also: impl FnMut(&str, Heard),
    ) -> bool
    where
        R: AsyncBufRead + Unpin,
    {
        let before = self.last_advance;
        let Some(reader) = lines.as_mut() else {
            return false;
        };
        for _ in 0..CATCH_UP_LINES {
            match tokio::time::timeout(CATCH_UP_QUIET, reader.next_line()).await {
                Ok(Ok(Some(line))) => {
                    let heard = self.hear(&line);
                    also(&line, heard);
                }
                Ok(_) => {
                    *lines = None;
                    break;
                }
                Err(_) => break,
            }
        }
        self.last_advance > before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(out_time_us: i64) -> String {
        format!("frame=1\nout_time_us={out_time_us}\nprogress=continue\n")
    }

    #[tokio::test]
    async fn progress_waiting_in_the_pipe_counts_before_a_stall() {
        let mut watchdog = Watchdog::new();
        let backlog = format!("{}{}{}", block(1_000), block(2_000), block(3_000));
        let (mut writer, reader) = tokio::io::duplex(4096);
        tokio::io::AsyncWriteExt::write_all(&mut writer, backlog.as_bytes())
            .await
            .expect("write");
        let mut lines = Some(tokio::io::AsyncBufReadExt::lines(
            tokio::io::BufReader::new(reader),
        ));
        let mut blocks = 0;
        assert!(
            watchdog
                .catch_up(&mut lines, |_, h| blocks +=
                    usize::from(h.progress.is_some()))
                .await
        );
        assert_eq!(blocks, 3);
        assert!(watchdog.is_running());
        // Nothing more waiting: a real stall.
        assert!(!watchdog.catch_up(&mut lines, |_, _| {}).await);
    }

    #[tokio::test]
    async fn stalled_time_is_not_healthy_time() {
        let mut watchdog = Watchdog::new();
        let before = Instant::now();
        for line in block(1_000).lines() {
            watchdog.hear(line);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        for line in block(2_000).lines() {
            watchdog.hear(line);
        }
        let last_progress = Instant::now();
        // No progress from here on: this time is not healthy.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let healthy = watchdog.healthy();
        assert!(healthy >= Duration::from_millis(20), "{healthy:?}");
        assert!(healthy <= last_progress - before, "{healthy:?}");
    }
}
