//! The collector: once a second, the CPU and memory of every FFmpeg, of
//! onair and of the host, the bitrate of each stream's newest HLS segment
//! and the age of its thumbnail. It runs as a task of its own, apart from the conductor that
//! handles commands, so that measuring never delays an operator's key.

use super::snapshot::{HostStats, Thumbnail};
use super::stats::Sampler;
use super::stream::{StreamStatus, Wakeups};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the figures are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// The streams the collector measures; the conductor replaces the list
/// whenever a reload adds or removes streams.
pub(crate) type Watched = Vec<Arc<Mutex<StreamStatus>>>;

/// The running collector: its host figures, and the task to end at shutdown.
pub(crate) struct Collector {
    /// The latest host figures.
    pub(crate) host: watch::Receiver<HostStats>,
    task: JoinHandle<()>,
}

impl Collector {
    /// Starts sampling `streams` until the sender of that list is dropped.
    /// Each sample fills in the streams' figures and wakes the conductor
    /// (`urgent`) so the new figures are published at once.
    pub(crate) fn spawn(streams: watch::Receiver<Watched>, wakeups: Arc<Wakeups>) -> Collector {
        let (host_tx, host) = watch::channel(HostStats::default());
        let task = tokio::spawn(run(streams, host_tx, wakeups));
        Collector { host, task }
    }

    /// Stops sampling.
    pub(crate) fn stop(self) {
        self.task.abort();
    }
}

async fn run(
    mut streams: watch::Receiver<Watched>,
    host: watch::Sender<HostStats>,
    wakeups: Arc<Wakeups>,
) {
    let mut sampler = Sampler::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = streams.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        }
        let watched = streams.borrow_and_update().clone();
        host.send_replace(sample(&mut sampler, &watched));
        wakeups.urgent.notify_one();
    }
}

/// The thumbnail at `path` and when it was written, if FFmpeg wrote one.
fn thumbnail(path: &std::path::Path) -> Option<Thumbnail> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let updated_at = modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    Some(Thumbnail {
        path: path.display().to_string(),
        updated_at,
    })
}

/// One sample: fills in each stream's CPU, RAM and HLS bitrate, returns the
/// host's figures.
fn sample(sampler: &mut Sampler, streams: &Watched) -> HostStats {
    let mut pids: Vec<u32> = streams
        .iter()
        .filter_map(|s| s.lock().ok().and_then(|st| st.pid))
        .collect();
    // A slate encoder counts for its stream while it runs (rows of one
    // stream share their relay, hence its encoder).
    let relays: Vec<_> = streams
        .iter()
        .filter_map(|s| s.lock().ok()?.group.as_ref().map(|g| g.relay.clone()))
        .collect();
    pids.extend(
        relays
            .iter()
            .filter_map(|r| r.lock().ok().and_then(|r| r.encoder_pid)),
    );
    let (host, usage) = sampler.sample(&pids);
    for relay in &relays {
        if let Ok(mut relay) = relay.lock() {
            relay.encoder_usage = relay.encoder_pid.and_then(|pid| usage.get(&pid).copied());
        }
    }
    for stream in streams {
        if let Ok(mut status) = stream.lock() {
            status.thumbnail = status.launch.thumbnail.as_deref().and_then(thumbnail);
            status.hls_kbps = match (&status.launch.hls_dir, status.pid) {
                (Some(dir), Some(_)) => crate::ffmpeg::last_segment_kbps(dir),
                _ => None,
            };
            match status.pid.and_then(|pid| usage.get(&pid)) {
                Some((cpu, rss)) => {
                    status.cpu_percent = Some(*cpu);
                    status.rss_bytes = Some(*rss);
                }
                None => {
                    status.cpu_percent = None;
                    status.rss_bytes = None;
                }
            }
        }
    }
    host
}
