//! The outputs a relay writes to, each on its own, so an output never
//! waits for another. A chunk is written to an output's pipe at once when
//! the pipe takes it; what it does not take goes to the output's bounded
//! queue, which a writer task of its own drains. An output that cannot keep
//! up loses its queue and picks up again at the next keyframe (after the
//! program tables); one that joins (a destination switched on, an output
//! FFmpeg restarted) starts at once on the cached current GOP.

use super::packet::{self, PACKET_SIZE};
use super::pump::RelayCounters;
use bytes::Bytes;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    pipe: Arc<pipe::Sender>,
    queue: mpsc::Sender<Bytes>,
    /// Chunks handed to the writer task and not yet written: while there
    /// are any, a new chunk must queue behind them.
    queued: Arc<AtomicUsize>,
    synced: bool,
}

/// What became of a chunk for one output.
enum Delivery {
    Done,
    Lagging,
    Closed,
}

impl Output {
    /// Writes a chunk now if the pipe takes it, else queues the rest.
    fn deliver(&self, chunk: Bytes) -> Delivery {
        let mut rest = chunk;
        if self.queued.load(Ordering::Acquire) == 0 {
            match self.pipe.try_write(&rest) {
                Ok(n) if n == rest.len() => return Delivery::Done,
                Ok(n) => rest = rest.slice(n..),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return Delivery::Closed,
            }
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        match self.queue.try_send(rest) {
            Ok(()) => Delivery::Done,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                Delivery::Lagging
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Closed,
        }
    }
}

/// Writes a whole chunk, waiting for the pipe as needed; false when the
/// output is gone.
async fn write_all(pipe: &pipe::Sender, mut chunk: &[u8]) -> bool {
    while !chunk.is_empty() {
        if pipe.writable().await.is_err() {
            return false;
        }
        match pipe.try_write(chunk) {
            Ok(n) => chunk = &chunk[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
    }
    true
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
        let pipe = match pipe::Sender::from_owned_fd(stdin) {
            Ok(pipe) => Arc::new(pipe),
            Err(e) => {
                tracing::error!(output = %name, "cannot write to the output's stdin: {e}");
                return;
            }
        };
        let (queue, mut chunks) = mpsc::channel::<Bytes>(OUTPUT_QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let (writer, left) = (Arc::clone(&pipe), Arc::clone(&queued));
        tokio::spawn(async move {
            while let Some(chunk) = chunks.recv().await {
                let written = write_all(&writer, &chunk).await;
                left.fetch_sub(1, Ordering::AcqRel);
                if !written {
                    break;
                }
            }
            // The last holder of the pipe drops it: the output's end of input.
        });
        let mut output = Output {
            name,
            pipe,
            queue,
            queued,
            synced: false,
        };
        // The tables and the current GOP get it going at once.
        if !self.gop.is_empty() {
            let mut start = tables.concat();
            for chunk in &self.gop {
                start.extend_from_slice(chunk);
            }
            output.synced = matches!(output.deliver(Bytes::from(start)), Delivery::Done);
        }
        self.list.push(output);
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
            match output.deliver(piece) {
                Delivery::Done => {
                    counters.output_bytes.fetch_add(len, Ordering::Relaxed);
                    true
                }
                Delivery::Lagging => {
                    output.synced = false;
                    counters.output_overruns.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(output = %output.name, "output cannot keep up: resuming at the next keyframe");
                    true
                }
                Delivery::Closed => false,
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
