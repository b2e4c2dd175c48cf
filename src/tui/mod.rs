//! The operator console: draws snapshots, turns keys into commands.
//!
//! The shell here is thin on purpose: it owns the terminal (and always
//! gives it back, on quit, on error and on panic), waits for a snapshot, a
//! key, a resize or a signal, and redraws. What a key means lives in
//! [`app`], what a frame looks like in [`view`], and which keys exist in
//! [`keymap`].

pub mod app;
pub mod format;
pub mod history;
pub mod keymap;
pub mod view;

use crate::engine::{Command, Engine, Snapshot, now_millis};
use crate::server::ServerStats;
use crate::signals::{Signal, Signals};
use app::{App, Outcome};
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use std::io;
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Snapshots redraw at most this often (about 4 frames a second); keys and
/// resizes redraw at once.
const MIN_FRAME: Duration = Duration::from_millis(250);

/// While a stream waits for its retry, the countdown is redrawn this often
/// even if no snapshot comes.
const COUNTDOWN_TICK: Duration = Duration::from_secs(1);

/// Runs the console until the operator confirms quitting (or a SIGTERM or
/// SIGINT arrives), then returns so the caller can shut the engine down.
/// SIGHUP re-reads `streams.toml`. The terminal is restored however this
/// ends, including a panic. Returns an error if the terminal cannot be set
/// up or goes away, or if the engine ends on its own.
pub async fn run(engine: Engine, server: watch::Receiver<ServerStats>) -> io::Result<()> {
    let mut console = Console::enter()?;
    let result = event_loop(&mut console.terminal, &engine, server).await;
    drop(console);
    result
}

/// The terminal in raw mode on the alternate screen; leaving it (drop)
/// puts the terminal back as the operator had it.
struct Console {
    terminal: DefaultTerminal,
}

impl Console {
    fn enter() -> io::Result<Console> {
        install_cursor_hook();
        match ratatui::try_init() {
            Ok(mut terminal) => {
                terminal.hide_cursor()?;
                terminal.clear()?;
                Ok(Console { terminal })
            }
            Err(e) => {
                // Undo only what was done: with no terminal at all, writing
                // escape sequences would just litter a redirected output.
                if crossterm::terminal::is_raw_mode_enabled().unwrap_or(false) {
                    restore_terminal();
                }
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "cannot take over the terminal ({e}); run onair in a terminal, or use --headless"
                    ),
                ))
            }
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn restore_terminal() {
    ratatui::restore();
    let _ = crossterm::execute!(io::stdout(), crossterm::cursor::Show);
}

/// Shows the cursor again after a panic. Installed before ratatui's own
/// hook (which leaves raw mode and the alternate screen, then calls this
/// one), so the panic message lands on a normal terminal with a cursor.
fn install_cursor_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = crossterm::execute!(io::stdout(), crossterm::cursor::Show);
            previous(info);
        }));
    });
}

/// Everything the loop redraws from.
struct State {
    app: App,
    snapshot: Arc<Snapshot>,
    server: ServerStats,
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    engine: &Engine,
    mut server_rx: watch::Receiver<ServerStats>,
) -> io::Result<()> {
    let mut snapshots = engine.subscribe();
    let mut state = State {
        app: App::new(),
        snapshot: snapshots.borrow_and_update().clone(),
        server: server_rx.borrow_and_update().clone(),
    };
    state.app.observe(&state.snapshot);
    let mut server_open = true;
    let mut events = EventStream::new();
    let mut signals = Signals::new()?;

    draw(terminal, &mut state)?;
    let mut last_draw = Instant::now();
    let mut dirty = false;
    loop {
        let wake = next_wake(&state, dirty, last_draw);
        let mut draw_now = false;
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return Err(io::Error::other("the engine stopped on its own; see the log file"));
                }
                state.snapshot = snapshots.borrow_and_update().clone();
                state.app.observe(&state.snapshot);
                dirty = true;
            }
            changed = server_rx.changed(), if server_open => {
                match changed {
                    Ok(()) => {
                        state.server = server_rx.borrow_and_update().clone();
                        dirty = true;
                    }
                    Err(_) => server_open = false,
                }
            }
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                    match state.app.handle_key(key, &state.snapshot, now_millis()) {
                        Outcome::Nothing => {}
                        Outcome::Send(command) => engine.send(command),
                        Outcome::Quit => return Ok(()),
                    }
                    draw_now = true;
                }
                Some(Ok(Event::Resize(_, _))) => {
                    terminal.autoresize()?;
                    draw_now = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the terminal closed",
                    ));
                }
            },
            _ = crate::clock::sleep_until(wake), if wake.is_some() => dirty = true,
            signal = signals.next() => match signal {
                Signal::Reload => engine.send(Command::Reload),
                Signal::Stop => return Ok(()),
            },
        }
        if draw_now || (dirty && last_draw.elapsed() >= MIN_FRAME) {
            draw(terminal, &mut state)?;
            last_draw = Instant::now();
            dirty = false;
        }
    }
}

/// When the loop must wake without an event: the end of the frame budget
/// if a redraw is pending, the moment a flash line expires, or the next
/// second of a retry countdown.
fn next_wake(state: &State, dirty: bool, last_draw: Instant) -> Option<Instant> {
    if dirty {
        return Some(last_draw + MIN_FRAME);
    }
    let now = now_millis();
    let flash = state
        .app
        .flash(now)
        .map(|flash| Instant::now() + Duration::from_millis(flash.until.saturating_sub(now) + 20));
    let retrying = state
        .snapshot
        .streams
        .iter()
        .any(|s| matches!(s.state, crate::engine::StreamState::Retrying { .. }));
    let tick = retrying.then(|| last_draw + COUNTDOWN_TICK);
    match (flash, tick) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn draw(terminal: &mut DefaultTerminal, state: &mut State) -> io::Result<()> {
    let now = now_millis();
    let scene = view::Scene {
        snapshot: &state.snapshot,
        server: &state.server,
        app: &state.app,
        now,
        utc_offset_secs: local_utc_offset_secs(now),
    };
    let mut rendered = app::Rendered::default();
    terminal.draw(|frame| rendered = view::draw(frame, &scene))?;
    state.app.set_rendered(rendered);
    Ok(())
}

/// The local time zone's offset from UTC at `at`, from the system's `TZ`
/// settings (0 if it cannot be read).
fn local_utc_offset_secs(at: u64) -> i32 {
    let secs = (at / 1000) as libc::time_t;
    // SAFETY: localtime_r writes only into the `tm` we pass; a zeroed `tm` is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if ok { tm.tm_gmtoff as i32 } else { 0 }
}
