//! `[server].on_alarm`: a program the operator chooses, run when a stream
//! fails, stalls or falls back, and when a content alarm starts or ends.
//!
//! The program gets `ONAIR_STREAM`, `ONAIR_EVENT` and `ONAIR_DETAIL` in its
//! environment and the same as one JSON line on stdin (so `curl --data
//! @-` posts it without a shell). Per stream, at most one runs at a time;
//! the next waits its turn. One that runs longer than [`TIMEOUT`] is killed
//! with its process group. Whatever it does, it is logged and never stops
//! anything else.

use super::child::{self, Spawner};
use super::journal::{Journal, Level};
use crate::secrets;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Notify;

/// How long one run of the program may take before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Notices waiting per stream; beyond this the oldest is dropped (and
/// logged): a program that cannot keep up must not grow memory forever.
const QUEUE_LIMIT: usize = 32;

/// One thing to tell the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice {
    /// `ONAIR_STREAM`.
    pub stream: String,
    /// `ONAIR_EVENT`: `failed`, `stalled`, `fallback`, `silent`,
    /// `silent_end`, `black`, `black_end`, `frozen`, `frozen_end`.
    pub event: String,
    /// `ONAIR_DETAIL`: the same words the console and the log show.
    pub detail: String,
}

/// A handle on the runner; cheap to clone, one per stream task.
#[derive(Clone)]
pub(crate) struct OnAlarm {
    inner: Arc<Inner>,
}

struct Inner {
    program: Mutex<Vec<String>>,
    secrets: Mutex<Arc<Vec<String>>>,
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    spawner: Spawner,
    journal: Journal,
}

#[derive(Default)]
struct Queue {
    pending: Mutex<VecDeque<Notice>>,
    wake: Notify,
}

impl OnAlarm {
    /// A runner for `program` (empty: nothing is ever run).
    pub(crate) fn new(program: Vec<String>, spawner: Spawner, journal: Journal) -> OnAlarm {
        OnAlarm {
            inner: Arc::new(Inner {
                program: Mutex::new(program),
                secrets: Mutex::new(Arc::new(Vec::new())),
                queues: Mutex::new(HashMap::new()),
                spawner,
                journal,
            }),
        }
    }

    /// The program after a reload, and the values to mask in what it prints.
    pub(crate) fn configure(&self, program: Vec<String>, secret_values: Arc<Vec<String>>) {
        if let Ok(mut p) = self.inner.program.lock() {
            *p = program;
        }
        if let Ok(mut s) = self.inner.secrets.lock() {
            *s = secret_values;
        }
    }

    /// Queues a notice for the stream's turn; never blocks.
    pub(crate) fn notify(&self, stream: &str, event: &str, detail: &str) {
        if self.program().is_empty() {
            return;
        }
        let notice = Notice {
            stream: stream.to_string(),
            event: event.to_string(),
            detail: detail.to_string(),
        };
        let queue = {
            let Ok(mut queues) = self.inner.queues.lock() else {
                return;
            };
            match queues.get(stream) {
                Some(queue) => Arc::clone(queue),
                None => {
                    let queue = Arc::new(Queue::default());
                    queues.insert(stream.to_string(), Arc::clone(&queue));
                    tokio::spawn(serve(self.clone(), Arc::clone(&queue)));
                    queue
                }
            }
        };
        let dropped = queue.pending.lock().ok().and_then(|mut pending| {
            pending.push_back(notice);
            (pending.len() > QUEUE_LIMIT)
                .then(|| pending.pop_front())
                .flatten()
        });
        if let Some(old) = dropped {
            self.inner.journal.record(
                Level::Warn,
                Some(stream),
                format!(
                    "on_alarm is falling behind: dropped the `{}` notice",
                    old.event
                ),
            );
        }
        queue.wake.notify_one();
    }

    fn program(&self) -> Vec<String> {
        self.inner
            .program
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    fn mask(&self, text: &str) -> String {
        let secrets = self
            .inner
            .secrets
            .lock()
            .map(|s| Arc::clone(&s))
            .unwrap_or_default();
        secrets::mask_text(text, &secrets)
    }

    /// Runs the program once for `notice` and logs anything that went wrong.
    async fn run(&self, notice: &Notice) {
        let program = self.program();
        let Some(name) = program.first().cloned() else {
            return;
        };
        let shown = self.mask(&name);
        let failed = |text: String| {
            self.inner
                .journal
                .record(Level::Warn, Some(&notice.stream), text)
        };
        let env = vec![
            ("ONAIR_STREAM".to_string(), notice.stream.clone()),
            ("ONAIR_EVENT".to_string(), notice.event.clone()),
            ("ONAIR_DETAIL".to_string(), notice.detail.clone()),
        ];
        let mut child = match self.inner.spawner.spawn_with_env(program, env).await {
            Ok(child) => child,
            Err(e) => {
                return failed(format!(
                    "on_alarm: cannot run `{shown}` ({e}): check [server].on_alarm"
                ));
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            let line = serde_json::json!({
                "stream": notice.stream,
                "event": notice.event,
                "detail": notice.detail,
            });
            // A program that does not read its input is fine.
            let _ = stdin.write_all(format!("{line}\n").as_bytes()).await;
        }
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let output = async {
            let drain = async {
                if let Some(mut out) = stdout {
                    let mut sink = Vec::new();
                    let _ = out.read_to_end(&mut sink).await;
                }
            };
            let last_error_line = async {
                let mut last = None;
                if let Some(err) = stderr {
                    let mut lines = BufReader::new(err).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if !line.trim().is_empty() {
                            last = Some(line);
                        }
                    }
                }
                last
            };
            tokio::join!(drain, last_error_line).1
        };
        let finished = tokio::time::timeout(TIMEOUT, async {
            let last = output.await;
            (child.wait().await, last)
        })
        .await;
        match finished {
            Err(_) => {
                child::kill_now(&mut child).await;
                failed(format!(
                    "on_alarm: `{shown}` ran longer than {} s for `{}`: killed",
                    TIMEOUT.as_secs(),
                    notice.event
                ));
            }
            Ok((Ok(status), _)) if status.success() => {
                tracing::info!(stream = %notice.stream, event = %notice.event, "on_alarm: `{shown}` done");
            }
            Ok((status, last)) => {
                let exit = status.map_or_else(
                    |e| format!("failed ({e})"),
                    |s| crate::ffmpeg::errors::describe_exit(Some(s)),
                );
                let said = last
                    .map(|l| format!(": {}", self.mask(l.trim())))
                    .unwrap_or_default();
                failed(format!(
                    "on_alarm: `{shown}` {exit} for `{}`{said}",
                    notice.event
                ));
            }
        }
    }
}

/// One stream's turn-taking: notices run one after the other, forever.
async fn serve(runner: OnAlarm, queue: Arc<Queue>) {
    loop {
        let next = queue.pending.lock().ok().and_then(|mut p| p.pop_front());
        match next {
            Some(notice) => runner.run(&notice).await,
            None => queue.wake.notified().await,
        }
    }
}
