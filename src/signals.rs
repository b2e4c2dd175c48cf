//! The signals every mode of onair answers the same way: `SIGHUP` re-reads
//! `streams.toml`, `SIGINT` and `SIGTERM` stop every stream. One place, so
//! the console, headless mode and a console that lost its terminal cannot
//! drift apart.

use crate::engine::{Command, Engine};
use std::io;
use tokio::signal::unix::{Signal as Listener, SignalKind, signal};

/// What a received signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `SIGHUP`: reload the config.
    Reload,
    /// `SIGINT` or `SIGTERM`: stop every stream and exit.
    Stop,
}

/// The listeners for onair's signals; while it exists, these signals no
/// longer end the process by default.
pub struct Signals {
    interrupt: Listener,
    terminate: Listener,
    hangup: Listener,
}

impl Signals {
    /// Starts listening; call inside the tokio runtime.
    pub fn new() -> io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal. Cancel-safe: a signal is never lost when this is
    /// one branch of a `select!`.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Stop,
            _ = self.terminate.recv() => Signal::Stop,
            _ = self.hangup.recv() => Signal::Reload,
        }
    }

    /// Asks the engine to reload on every `SIGHUP`, until a stop signal.
    pub async fn reload_until_stop(&mut self, engine: &Engine) {
        while self.next().await == Signal::Reload {
            engine.send(Command::Reload);
        }
    }
}

/// Prints a line on stderr if it is still there: after an SSH drop the
/// terminal is gone, and `eprintln!` would panic and take every stream down
/// with it.
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
