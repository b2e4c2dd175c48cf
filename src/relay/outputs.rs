//! The outputs a relay writes to: one bounded queue and one writer task
//! each, so an output never waits for another. An output that cannot keep
//! up loses its queue and picks up again at the next keyframe (after the
//! program tables); one that joins (a destination switched on, an output
//! FFmpeg restarted) starts at once on the cached current GOP.

use super::packet::{self, PACKET_SIZE};
use super::pump::RelayCounters;
use bytes::Bytes;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// Chunks queued per output before it counts as lagging.
const OUTPUT_QUEUE: usize = 64;
/// The stream since its last keyframe is kept up to this size, so an
/// output that (re)joins starts at once instead of waiting for a keyframe;
/// a stream with more bytes per GOP is joined at its next keyframe (the
/// memory of 64 such streams would be tens of megabytes).
const GOP_CACHE_BYTES: usize = 256 * 1024;

struct Output {
    name: String,
    queue: mpsc::Sender<Bytes>,
    synced: bool,
}

/// Every output of one relay, and the current GOP.
#[derive(Default)]
pub(super) struct Outputs {
    list: Vec<Output>,
    /// The outputs' stream from its last keyframe on, as the chunks that
    /// were sent (shared, not copied); empty when unknown or too large.
    gop: Vec<Bytes>,
    /// Bytes in `gop`.
    gop_bytes: usize,
}

impl Outputs {
    /// Starts writing to an output's stdin (replacing one of the same name).
    pub(super) fn add(&mut self, name: String, stdin: OwnedFd, tables: &[[u8; PACKET_SIZE]]) {
        self.remove(&name);
        let mut stdin = match pipe::Sender::from_owned_fd(stdin) {
            Ok(stdin) => stdin,
            Err(e) => {
                tracing::error!(output = %name, "cannot write to the output's stdin: {e}");
                return;
            }
        };
        let (queue, mut chunks) = mpsc::channel::<Bytes>(OUTPUT_QUEUE);
        tokio::spawn(async move {
            while let Some(chunk) = chunks.recv().await {
                if stdin.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            // Dropping stdin here is the output's end of input.
        });
        // The tables and the current GOP get it going at once.
        let mut synced = false;
        if !self.gop.is_empty() {
            let mut start = tables.concat();
            for chunk in &self.gop {
                start.extend_from_slice(chunk);
            }
            synced = queue.try_send(Bytes::from(start)).is_ok();
        }
        self.list.push(Output {
            name,
            queue,
            synced,
        });
    }

    /// Stops writing to an output: what is queued is written, then its
    /// stdin closes.
    pub(super) fn remove(&mut self, name: &str) {
        self.list.retain(|o| o.name != name);
    }

    /// Keeps the stream since its last keyframe.
    fn keep_gop(&mut self, chunk: &Bytes, video: Option<u16>) {
        match last_sync_point(chunk, video) {
            Some(at) => {
                self.gop.clear();
                self.gop.push(chunk.slice(at..));
                self.gop_bytes = chunk.len() - at;
            }
            None if !self.gop.is_empty() => {
                self.gop.push(chunk.clone());
                self.gop_bytes += chunk.len();
            }
            None => {}
        }
        if self.gop_bytes > GOP_CACHE_BYTES {
            self.gop = Vec::new();
            self.gop_bytes = 0;
        }
    }

    /// Queues a chunk of the outputs' stream for every output.
    pub(super) fn fan_out(
        &mut self,
        chunk: Bytes,
        video: Option<u16>,
        tables: &[[u8; PACKET_SIZE]],
        counters: &RelayCounters,
    ) {
        self.keep_gop(&chunk, video);
        self.list.retain_mut(|output| {
            let piece = if output.synced {
                chunk.clone()
            } else {
                let Some(at) = sync_point(&chunk, video) else {
                    return !output.queue.is_closed();
                };
                let mut joined = tables.concat();
                joined.extend_from_slice(&chunk[at..]);
                output.synced = true;
                Bytes::from(joined)
            };
            let len = piece.len() as u64;
            match output.queue.try_send(piece) {
                Ok(()) => {
                    counters.output_bytes.fetch_add(len, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    output.synced = false;
                    counters.output_overruns.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(output = %output.name, "output cannot keep up: resuming at the next keyframe");
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }
}

/// True for a packet where a reader can start: a keyframe on the video PID
/// (or any PES start when there is no video).
fn is_sync_point(p: &[u8], video: Option<u16>) -> bool {
    let pid = packet::pid(p);
    packet::starts_unit(p)
        && match video {
            Some(v) => pid == v && packet::random_access(p),
            None => pid != packet::PAT_PID && packet::pes_timestamps(p).is_some(),
        }
}

/// The first packet of `chunk` where a reader can start.
fn sync_point(chunk: &[u8], video: Option<u16>) -> Option<usize> {
    chunk
        .chunks_exact(PACKET_SIZE)
        .position(|p| is_sync_point(p, video))
        .map(|i| i * PACKET_SIZE)
}

/// The last packet of `chunk` where a reader can start.
fn last_sync_point(chunk: &[u8], video: Option<u16>) -> Option<usize> {
    chunk
        .chunks_exact(PACKET_SIZE)
        .rposition(|p| is_sync_point(p, video))
        .map(|i| i * PACKET_SIZE)
}
