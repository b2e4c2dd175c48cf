//! The relay's task: reads the live pipe, plays the slate clip when live is
//! lost, runs both through the [`Splicer`], and writes the one resulting
//! stream to every output's stdin.
//!
//! An output never waits for another: each has its own bounded queue and
//! writer task. An output that cannot keep up loses its queue and picks up
//! again at the next keyframe (after the program tables), which is also how
//! an output that joins late (a destination switched on, an output FFmpeg
//! restarted) starts: with a picture it can decode.

use super::clip::{Clip, ClipPlayer};
use super::outputs::Outputs;
use super::packet::{PACKET_SIZE, SYNC_BYTE};
use super::policy::{self, LiveWatch};
use super::splice::{Feed, Splicer};
use bytes::Bytes;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Bytes asked for per read; FFmpeg flushes about one PES per write.
const READ_SIZE: usize = 32 * 1024;
/// How much of a new live run is kept for probing what it sends: a second
/// or more of video with its parameter sets and keyframe.
const HEAD_BYTES: usize = 384 * 1024;
/// How long a new live run is recorded for probing, at most.
const HEAD_TIME: Duration = Duration::from_secs(2);

/// What the stream's supervisor tells the relay.
#[derive(Debug)]
pub enum RelayCommand {
    /// A new ingest process started; its transport stream comes on this
    /// pipe's read end.
    AttachLive(OwnedFd),
    /// The slate to play from now on (encoded to match the live feed).
    SlateClip(Arc<Clip>),
    /// A new output process; it reads the stream on `stdin`. Replaces an
    /// output of the same name.
    AddOutput {
        /// The output's row name (`cam`, `program/youtube`).
        name: String,
        /// The write end of its standard input.
        stdin: OwnedFd,
    },
    /// Close an output's input: its FFmpeg finishes its file and exits.
    RemoveOutput {
        /// The output's row name.
        name: String,
    },
    /// The operator's bumper: the slate whatever live does (true), or not.
    Bumper(bool),
    /// Whether a lost source is replaced by the slate.
    Fallback(bool),
}

/// What the relay tells the stream's supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// The slate is wanted but there is no clip to play yet: encode one.
    SlateMissing,
    /// The outputs now carry this feed.
    OnAir(Feed),
    /// The outputs carry nothing: the feed on the air ended.
    OffAir,
    /// Live counts as lost: it ended, or delivered nothing for a while.
    LiveLost,
    /// The first seconds of a new live run, for probing what it sends.
    LiveHead(Vec<u8>),
    /// The program's streams changed (another codec): the outputs were let
    /// go and start again on the new one.
    ProgramChanged,
}

/// Running totals, read by the engine for the console and metrics.
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// Bytes read from the live feed.
    pub live_bytes: AtomicU64,
    /// Bytes of slate played.
    pub slate_bytes: AtomicU64,
    /// Bytes handed to outputs (all outputs together).
    pub output_bytes: AtomicU64,
    /// Times an output could not keep up and was resynchronised.
    pub output_overruns: AtomicU64,
}

impl RelayCounters {
    /// Megabytes handed to the outputs so far.
    pub fn output_mb(&self) -> f64 {
        self.output_bytes.load(Ordering::Relaxed) as f64 / 1e6
    }
}

/// A handle on one stream's relay.
#[derive(Debug, Clone)]
pub struct Relay {
    commands: mpsc::UnboundedSender<RelayCommand>,
    counters: Arc<RelayCounters>,
}

/// The runtime every relay runs on: threads of its own, so that the media
/// path never waits for the engine, the console or the HTTP server (nor
/// they for it). Created on first use, it lives as long as the process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("onair-relay")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the relay's runtime: {e}"))
    })
}

impl Relay {
    /// Starts the relay task of one stream on the relay runtime; events
    /// come on the returned receiver. The task ends when every handle is
    /// dropped.
    pub fn start(fallback: bool) -> (Relay, mpsc::UnboundedReceiver<RelayEvent>, JoinHandle<()>) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let counters = Arc::new(RelayCounters::default());
        let pump = Pump::new(fallback, event_tx, Arc::clone(&counters));
        let task = runtime().spawn(pump.run(command_rx));
        (Relay { commands, counters }, events, task)
    }

    /// Sends a command; ignored once the relay has ended.
    pub fn send(&self, command: RelayCommand) {
        let _ = self.commands.send(command);
    }

    /// The running totals.
    pub fn counters(&self) -> &RelayCounters {
        &self.counters
    }
}

/// One feed's pipe and what is left of its last read.
struct Reader {
    pipe: pipe::Receiver,
    buf: Vec<u8>,
}

impl Reader {
    fn new(pipe: pipe::Receiver) -> Reader {
        Reader {
            pipe,
            buf: Vec::with_capacity(READ_SIZE + PACKET_SIZE),
        }
    }
}

/// Reads more into a feed's buffer; `None` reads never complete.
async fn read_more(reader: &mut Option<Reader>) -> std::io::Result<usize> {
    match reader {
        Some(r) => {
            // Into the spare capacity: nothing is zeroed for nothing.
            r.buf.reserve(READ_SIZE);
            r.pipe.read_buf(&mut r.buf).await
        }
        None => std::future::pending().await,
    }
}

/// The first seconds of a live run, kept for probing.
struct Head {
    bytes: Vec<u8>,
    /// Set by the first packet: FFmpeg may take seconds to open its source.
    until: Option<Instant>,
}

struct Pump {
    splicer: Splicer,
    fallback: bool,
    bumper: bool,
    live: LiveWatch,
    live_lost: bool,
    clip: Option<Arc<Clip>>,
    player: Option<ClipPlayer>,
    missing_reported: bool,
    outputs: Outputs,
    events: mpsc::UnboundedSender<RelayEvent>,
    counters: Arc<RelayCounters>,
    head: Option<Head>,
    out: Vec<u8>,
}

impl Pump {
    fn new(
        fallback: bool,
        events: mpsc::UnboundedSender<RelayEvent>,
        counters: Arc<RelayCounters>,
    ) -> Pump {
        Pump {
            splicer: Splicer::new(),
            fallback,
            bumper: false,
            live: LiveWatch::starting(std::time::Instant::now()),
            live_lost: false,
            clip: None,
            player: None,
            missing_reported: false,
            outputs: Outputs::default(),
            events,
            counters,
            head: None,
            out: Vec::with_capacity(READ_SIZE),
        }
    }

    fn emit(&self, event: RelayEvent) {
        let _ = self.events.send(event);
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<RelayCommand>) {
        let mut live: Option<Reader> = None;
        loop {
            self.decide();
            self.play_slate();
            let wake = self.next_wake();
            tokio::select! {
                command = commands.recv() => match command {
                    None => break,
                    Some(RelayCommand::AttachLive(fd)) => {
                        self.splicer.reset(Feed::Live);
                        live = match pipe::Receiver::from_owned_fd(fd) {
                            Ok(pipe) => Some(Reader::new(pipe)),
                            Err(e) => {
                                tracing::error!("cannot read the ingest's pipe: {e}");
                                None
                            }
                        };
                        self.live.attached = true;
                        self.head = Some(Head {
                            bytes: Vec::with_capacity(HEAD_BYTES + PACKET_SIZE),
                            until: None,
                        });
                    }
                    Some(RelayCommand::SlateClip(clip)) => {
                        self.clip = Some(clip);
                        self.missing_reported = false;
                        if self.player.is_some() {
                            // A new clip starts its own run on the slate feed.
                            self.splicer.reset(Feed::Slate);
                            self.player = Some(ClipPlayer::start(Instant::now()));
                        }
                    }
                    Some(RelayCommand::AddOutput { name, stdin }) => {
                        self.outputs.add(name, stdin, self.splicer.tables());
                    }
                    Some(RelayCommand::RemoveOutput { name }) => self.outputs.remove(&name),
                    Some(RelayCommand::Bumper(on)) => self.bumper = on,
                    Some(RelayCommand::Fallback(on)) => self.fallback = on,
                },
                read = read_more(&mut live) => self.after_read(read, &mut live),
                _ = sleep_until_opt(wake) => {}
            }
        }
    }

    fn after_read(&mut self, read: std::io::Result<usize>, reader: &mut Option<Reader>) {
        let now = std::time::Instant::now();
        match read {
            Ok(n) if n > 0 => {
                self.counters
                    .live_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
                self.live.delivered(now);
                if let Some(r) = reader.as_mut() {
                    let buf = std::mem::take(&mut r.buf);
                    let used = self.take_packets(Feed::Live, &buf);
                    r.buf = buf;
                    r.buf.drain(..used);
                }
            }
            _ => {
                // End of the pipe: the ingest is gone.
                *reader = None;
                let was_on_air = self.splicer.active() == Some(Feed::Live);
                self.splicer.reset(Feed::Live);
                self.live.ended(now);
                self.finish_head();
                if was_on_air {
                    self.emit(RelayEvent::OffAir);
                }
            }
        }
    }

    /// Runs every whole packet of `buf` through the splicer and hands the
    /// result to the outputs; returns how many bytes were used.
    fn take_packets(&mut self, feed: Feed, buf: &[u8]) -> usize {
        let mut at = 0;
        self.out.clear();
        while at + PACKET_SIZE <= buf.len() {
            if buf[at] != SYNC_BYTE {
                // Lost sync (should not happen on a pipe): find the next packet.
                at += buf[at..]
                    .iter()
                    .position(|b| *b == SYNC_BYTE)
                    .unwrap_or(buf.len() - at);
                continue;
            }
            let p = &buf[at..at + PACKET_SIZE];
            if feed == Feed::Live {
                self.record_head(p);
            }
            let switched = self.splicer.push(feed, p, &mut self.out);
            if self.splicer.take_program_changed() {
                // Outputs that copy cannot follow another codec: their input
                // ends, they finish and start again on the new program.
                self.out.clear();
                self.outputs = Outputs::default();
                self.emit(RelayEvent::ProgramChanged);
            }
            if let Some(switched) = switched {
                if switched == Feed::Live {
                    // Live is on the air again: the slate stops playing.
                    self.player = None;
                    self.splicer.reset(Feed::Slate);
                }
                self.emit(RelayEvent::OnAir(switched));
            }
            at += PACKET_SIZE;
        }
        if !self.out.is_empty() {
            // The chunk takes the buffer as it is; the next one gets a new one.
            let chunk = Bytes::from(std::mem::replace(
                &mut self.out,
                Vec::with_capacity(buf.len()),
            ));
            let video = self.splicer.video_pid();
            self.outputs
                .fan_out(chunk, video, self.splicer.tables(), &self.counters);
        }
        at
    }

    /// Hands the outputs whatever part of the slate clip is due.
    fn play_slate(&mut self) {
        let (Some(player), Some(clip)) = (self.player.as_mut(), self.clip.clone()) else {
            return;
        };
        let mut due = Vec::new();
        player.due(&clip, Instant::now(), &mut due);
        if !due.is_empty() {
            self.counters
                .slate_bytes
                .fetch_add(due.len() as u64, Ordering::Relaxed);
            self.take_packets(Feed::Slate, &due);
        }
    }

    fn record_head(&mut self, p: &[u8]) {
        let Some(head) = self.head.as_mut() else {
            return;
        };
        head.bytes.extend_from_slice(p);
        let until = *head.until.get_or_insert_with(|| Instant::now() + HEAD_TIME);
        if head.bytes.len() >= HEAD_BYTES || Instant::now() >= until {
            self.finish_head();
        }
    }

    fn finish_head(&mut self) {
        if let Some(head) = self.head.take() {
            if !head.bytes.is_empty() {
                self.emit(RelayEvent::LiveHead(head.bytes));
            }
        }
    }

    /// Applies the policy: which feed is wanted, whether the slate plays.
    fn decide(&mut self) {
        let now = std::time::Instant::now();
        if self
            .head
            .as_ref()
            .and_then(|h| h.until)
            .is_some_and(|until| Instant::now() >= until)
        {
            self.finish_head();
        }
        let lost = self.live.is_lost(now);
        if lost && !self.live_lost {
            self.emit(RelayEvent::LiveLost);
        }
        self.live_lost = lost;
        let slate = policy::wants_slate(self.fallback, self.bumper, &self.live, now);
        self.splicer
            .want(if slate { Feed::Slate } else { Feed::Live });
        if !slate {
            // Live is wanted; the slate keeps playing until live's keyframe.
            return;
        }
        if self.clip.is_none() {
            if !self.missing_reported {
                self.missing_reported = true;
                self.emit(RelayEvent::SlateMissing);
            }
            return;
        }
        if self.player.is_none() {
            self.splicer.reset(Feed::Slate);
            self.player = Some(ClipPlayer::start(Instant::now()));
        }
    }

    /// The next instant something must happen without any data arriving.
    fn next_wake(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut consider = |at: Instant| {
            let at = at.max(now);
            next = Some(next.map_or(at, |n| n.min(at)));
        };
        if !self.live_lost {
            consider(Instant::from_std(self.live.lost_at));
        }
        if let (Some(player), Some(clip)) = (&self.player, &self.clip) {
            consider(player.next_due(clip));
        }
        if let Some(until) = self.head.as_ref().and_then(|h| h.until) {
            consider(until);
        }
        next
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
