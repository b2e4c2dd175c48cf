//! The operator console: a client of the engine that draws its snapshots
//! and turns keys into commands.
//!
//! The shell here is thin on purpose: it owns the terminal (and always
//! gives it back, on leaving, on error and on panic), waits for an update
//! from the engine, a key, a resize or a signal, and redraws. What a key
//! means lives in [`app`], what a frame looks like in [`view`], and which
//! keys exist in [`keymap`]. The console holds no process and no server:
//! closing it, however it closes, never touches a stream.

pub mod app;
pub mod bell;
pub mod format;
pub mod history;
pub mod keymap;
pub mod picture;
pub mod view;

use crate::control::{Event, Request, Session, Update};
use crate::engine::{Snapshot, now_millis};
use crate::server::ServerStats;
use crate::signals::Signals;
use app::{App, Outcome};
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use std::io;
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::time::Instant;

/// Updates redraw at most this often (about 4 frames a second); keys and
/// resizes redraw at once.
const MIN_FRAME: Duration = Duration::from_millis(250);

/// While a stream waits for its retry, the countdown is redrawn this often
/// even if no update comes.
const COUNTDOWN_TICK: Duration = Duration::from_secs(1);

/// How a console session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leave {
    /// The operator detached, or the terminal went away (an SSH drop, a
    /// hang-up, a stop signal to the console): every stream keeps running.
    Detach,
    /// The operator asked to stop every stream and the engine; `live`
    /// streams were on the air.
    Stop {
        /// Streams on the air when asked.
        live: usize,
    },
    /// The engine ended (another console or `onair stop` stopped it).
    EngineStopped(String),
    /// The connection to the engine broke without a word (the engine died).
    EngineLost(String),
}

/// Runs the console on an attached session until the operator leaves, the
/// terminal goes away (a hang-up, or any stop signal: they all detach), or
/// the engine ends. The terminal is restored however
/// this ends, including a panic. Returns an error only if the terminal
/// cannot be set up.
pub async fn run(session: &mut Session, signals: &mut Signals) -> io::Result<Leave> {
    let mut console = Console::enter()?;
    // Asking the terminal what it can draw reads stdin: before any key is read.
    let picture = tokio::task::spawn_blocking(picture::Picture::detect)
        .await
        .unwrap_or_default();
    let result = event_loop(&mut console.terminal, session, signals, picture).await;
    drop(console);
    result
}

/// The terminal in raw mode on the alternate screen; leaving it (drop)
/// puts the terminal back as the operator had it.
struct Console {
    /// Never dropped: ratatui's drop shows the cursor and prints (with a
    /// panicking `eprintln!`) when it cannot, which is exactly what happens
    /// after an SSH drop. [`restore_terminal`] does it quietly instead.
    terminal: std::mem::ManuallyDrop<DefaultTerminal>,
}

impl Console {
    fn enter() -> io::Result<Console> {
        install_restore_hook();
        // Nothing here asks the terminal anything (ratatui's `clear` reads
        // the cursor position, which spins forever on a terminal that hangs
        // up at that moment): the screen is cleared by a plain sequence.
        let entered = crossterm::terminal::enable_raw_mode()
            .and_then(|()| {
                crossterm::execute!(
                    io::stdout(),
                    EnterAlternateScreen,
                    crossterm::cursor::Hide,
                    crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
                )
            })
            .and_then(|()| {
                ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(io::stdout()))
            });
        match entered {
            Ok(terminal) => Ok(Console {
                terminal: std::mem::ManuallyDrop::new(terminal),
            }),
            Err(e) => {
                // Undo only what was done: with no terminal at all, writing
                // escape sequences would just litter a redirected output.
                if crossterm::terminal::is_raw_mode_enabled().unwrap_or(false) {
                    restore_terminal();
                }
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "cannot take over the terminal ({e}); run onair in a terminal, or use `onair status`"
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

/// Puts the terminal back, quietly: after an SSH drop there is no terminal
/// left to restore, and complaining about it (on a stderr that is gone
/// too) must not turn a detach into a crash.
fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

/// Restores the terminal before a panic message is printed, so that it
/// lands on a normal screen with a cursor.
fn install_restore_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
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

impl State {
    /// Takes in what the engine says changed.
    fn apply(&mut self, update: Update) {
        if let Some(snapshot) = update.snapshot {
            self.snapshot = snapshot;
            self.app.observe(&self.snapshot);
        }
        if let Some(http) = update.http {
            self.server = http;
        }
        if let Some(consoles) = update.consoles {
            self.app.observe_consoles(consoles);
        }
        if !update.log.is_empty() {
            self.app.observe_log(&update.log, now_millis());
        }
        if let Some(details) = update.details {
            self.app.observe_details(details);
        }
    }
}

/// Why the connection to the engine ended, as a [`Leave`].
fn engine_gone(event: Result<Option<Event>, crate::control::frame::FrameError>) -> Leave {
    match event {
        Ok(Some(Event::Closing { reason })) => Leave::EngineStopped(reason),
        Ok(None) => Leave::EngineLost("it closed the connection".to_string()),
        Err(e) => Leave::EngineLost(e.to_string()),
        Ok(Some(Event::Update(_))) => Leave::EngineLost("unexpected update".to_string()),
    }
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    session: &mut Session,
    signals: &mut Signals,
    picture: picture::Picture,
) -> io::Result<Leave> {
    let mut state = State {
        app: App::new(),
        snapshot: Arc::new(Snapshot::default()),
        server: ServerStats::default(),
    };
    *state.app.picture_mut() = picture;
    let mut pictures = picture::Reader::default();
    // The first picture comes before the first frame, so the dashboard is
    // drawn whole, with the first stream selected.
    let mut watched = None;
    if session
        .send(&Request::Watch { details: None })
        .await
        .is_err()
    {
        return Ok(Leave::EngineLost("it closed the connection".to_string()));
    }
    loop {
        let event = tokio::select! {
            event = session.next() => event,
            // A hang-up is the terminal going away; a stop signal to the
            // console is the operator closing it. Neither touches a stream.
            _ = signals.next() => return Ok(Leave::Detach),
        };
        match event {
            Ok(Some(Event::Update(update))) => {
                let has_snapshot = update.snapshot.is_some();
                state.apply(*update);
                if has_snapshot {
                    break;
                }
            }
            other => return Ok(engine_gone(other)),
        }
    }
    let mut events = EventStream::new();
    if draw(terminal, &mut state).is_err() {
        return Ok(Leave::Detach);
    }
    let mut last_draw = Instant::now();
    let mut dirty = false;
    loop {
        let wanted = state.app.selected().map(str::to_string);
        if wanted != watched {
            let request = Request::Watch {
                details: wanted.clone(),
            };
            if session.send(&request).await.is_err() {
                return Ok(Leave::EngineLost("it closed the connection".to_string()));
            }
            watched = wanted;
        }
        pictures.request(&mut state.app, &state.snapshot);
        let wake = next_wake(&state, dirty, last_draw);
        let mut draw_now = false;
        tokio::select! {
            event = session.next() => match event {
                Ok(Some(Event::Update(update))) => {
                    state.apply(*update);
                    dirty = true;
                }
                other => return Ok(engine_gone(other)),
            },
            (request, image) = pictures.next() => {
                state.app.picture_mut().loaded(request, image);
                dirty = true;
            }
            event = events.next() => match event {
                Some(Ok(TermEvent::Key(key))) if key.kind == KeyEventKind::Press => {
                    match state.app.handle_key(key, &state.snapshot, now_millis()) {
                        Outcome::Nothing => {}
                        Outcome::Send(command) => {
                            if session.send(&Request::Command { command }).await.is_err() {
                                return Ok(Leave::EngineLost("it closed the connection".to_string()));
                            }
                        }
                        Outcome::Detach => return Ok(Leave::Detach),
                        Outcome::StopEngine => {
                            return Ok(Leave::Stop {
                                live: app::live_streams(&state.snapshot),
                            });
                        }
                    }
                    draw_now = true;
                }
                Some(Ok(TermEvent::Resize(_, _))) => {
                    terminal.autoresize()?;
                    draw_now = true;
                }
                Some(Ok(_)) => {}
                // The terminal is gone (an SSH drop): detach.
                Some(Err(_)) | None => return Ok(Leave::Detach),
            },
            _ = crate::clock::sleep_until(wake), if wake.is_some() => dirty = true,
            _ = signals.next() => return Ok(Leave::Detach),
        }
        if draw_now || (dirty && last_draw.elapsed() >= MIN_FRAME) {
            // A terminal that cannot be drawn on any more has gone away.
            if draw(terminal, &mut state).is_err() {
                return Ok(Leave::Detach);
            }
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
    if state.app.take_bell(now) {
        // After the frame that shows why.
        ring(terminal.backend_mut())?;
    }
    Ok(())
}

/// Rings the terminal's bell (one BEL byte; the terminal decides whether
/// that is a sound, a flash or a mark on its tab).
fn ring(out: &mut impl io::Write) -> io::Result<()> {
    out.write_all(b"\x07")?;
    out.flush()
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
