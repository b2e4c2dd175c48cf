//! The console's own state (selection, filter, focus, popups, scrolling)
//! and the translation of key presses into engine [`Command`]s.
//!
//! Nothing here touches the terminal or the engine: [`App::handle_key`] takes
//! a key, the latest snapshot and the time, and says what to do. That keeps
//! every key's behaviour unit-testable, including the y/n questions that
//! stand between the operator and a stopped stream.

use super::bell::Bell;
use super::history::CpuHistory;
use super::keymap::{self, Action};
use super::picture::Picture;
use crate::engine::{
    AlarmKind, Command, LogEntry, Snapshot, StreamDetails, StreamSnapshot, StreamState, UnixMillis,
};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::VecDeque;

/// Engine log entries the console keeps for its log pane.
pub const LOG_KEPT: usize = 200;

/// How long a flash line stays in the footer.
pub const FLASH_MILLIS: u64 = 4_000;

/// The part of the screen that receives scrolling keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The stream table: arrows select.
    Streams,
    /// The selected stream's FFmpeg output.
    Output,
    /// The selected stream's state changes.
    History,
    /// What every screen reports it shows.
    Screens,
    /// The engine's event log.
    Log,
}

impl Focus {
    /// The pane Tab goes to.
    pub fn next(self) -> Focus {
        match self {
            Focus::Streams => Focus::Output,
            Focus::Output => Focus::History,
            Focus::History => Focus::Screens,
            Focus::Screens => Focus::Log,
            Focus::Log => Focus::Streams,
        }
    }

    /// The pane Shift-Tab goes to.
    pub fn previous(self) -> Focus {
        match self {
            Focus::Streams => Focus::Log,
            Focus::Output => Focus::Streams,
            Focus::History => Focus::Output,
            Focus::Screens => Focus::History,
            Focus::Log => Focus::Screens,
        }
    }
}

/// A pane whose content scrolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// FFmpeg's stderr of the selected stream.
    Output,
    /// State changes of the selected stream.
    History,
    /// The screens' reports.
    Screens,
    /// The engine log.
    Log,
}

impl Pane {
    fn index(self) -> usize {
        match self {
            Pane::Output => 0,
            Pane::History => 1,
            Pane::Log => 2,
            Pane::Screens => 3,
        }
    }

    fn of(focus: Focus) -> Option<Pane> {
        match focus {
            Focus::Streams => None,
            Focus::Output => Some(Pane::Output),
            Focus::History => Some(Pane::History),
            Focus::Screens => Some(Pane::Screens),
            Focus::Log => Some(Pane::Log),
        }
    }
}

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Only the screen changes.
    Nothing,
    /// Send this to the engine.
    Send(Command),
    /// Leave the console; the engine and every stream keep running.
    Detach,
    /// Stop every stream and the engine, then leave.
    StopEngine,
}

/// A question that must be answered before something irreversible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// The popup's title, e.g. `Stop cam1?`.
    pub title: String,
    /// What will happen, in the operator's words.
    pub body: String,
    /// What `y` does.
    pub on_yes: Outcome,
    /// The flash line shown once `y` was pressed.
    pub done: String,
}

/// A centred box over the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    /// The key list.
    Help,
    /// A y/n question.
    Confirm(Confirm),
    /// What `q` asks: detach, or stop everything.
    Leave(Leave),
}

/// The leaving question: `d` detaches (every stream keeps running), `s`
/// stops every stream and the engine, Esc stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leave {
    /// Streams on the air now (what `s` would stop).
    pub live: usize,
    /// Consoles attached now, this one included.
    pub consoles: usize,
}

/// How serious a flash line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Acknowledges a key.
    Info,
    /// Something went wrong.
    Error,
}

/// A transient line in the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// The message.
    pub text: String,
    /// Its colour.
    pub level: Level,
    /// When it disappears.
    pub until: UnixMillis,
}

/// How much of a pane the last frame showed, so that scrolling stops at
/// the first line instead of running off into empty space.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaneExtent {
    /// Lines of content (after wrapping).
    pub lines: usize,
    /// Lines visible.
    pub height: usize,
}

impl PaneExtent {
    fn max_scroll(self) -> usize {
        self.lines.saturating_sub(self.height)
    }
}

/// What the last frame looked like, reported back by the view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Rows of the stream table that were visible.
    pub table_rows: usize,
    /// The output pane.
    pub output: PaneExtent,
    /// The history pane.
    pub history: PaneExtent,
    /// The engine log pane.
    pub log: PaneExtent,
    /// The screens pane.
    pub screens: PaneExtent,
}

impl Rendered {
    fn pane(&self, pane: Pane) -> PaneExtent {
        match pane {
            Pane::Output => self.output,
            Pane::History => self.history,
            Pane::Log => self.log,
            Pane::Screens => self.screens,
        }
    }
}

/// Whether a stream is on the air or about to be: stopping it takes
/// something off the screens, so it asks first.
pub fn is_live(state: &StreamState) -> bool {
    matches!(
        state,
        StreamState::Starting
            | StreamState::Running
            | StreamState::Stalled
            | StreamState::Retrying { .. }
    )
}

/// The console's state between two frames.
#[derive(Debug, Clone)]
pub struct App {
    selected: Option<String>,
    selected_index: usize,
    filter: String,
    filter_editing: bool,
    focus: Focus,
    scroll: [usize; 4],
    popup: Option<Popup>,
    flash: Option<Flash>,
    cpu: CpuHistory,
    rendered: Rendered,
    last_log_seq: Option<u64>,
    log: VecDeque<LogEntry>,
    details: Option<StreamDetails>,
    consoles: usize,
    picture: Picture,
    /// The alarms of the previous snapshot (`None` before the first one),
    /// so that a newly raised one is flashed once.
    seen_alarms: Option<Vec<(String, AlarmKind, UnixMillis)>>,
    bell: Bell,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// A console with nothing selected yet; the first snapshot selects the
    /// first stream.
    pub fn new() -> App {
        App {
            selected: None,
            selected_index: 0,
            filter: String::new(),
            filter_editing: false,
            focus: Focus::Streams,
            scroll: [0; 4],
            popup: None,
            flash: None,
            cpu: CpuHistory::default(),
            rendered: Rendered::default(),
            last_log_seq: None,
            log: VecDeque::new(),
            details: None,
            consoles: 1,
            picture: Picture::default(),
            seen_alarms: None,
            bell: Bell::default(),
        }
    }

    /// Takes in a new snapshot: records CPU for the sparklines, keeps the
    /// selection on an existing stream, flashes a newly raised alarm and
    /// tells the bell.
    pub fn observe(&mut self, snapshot: &Snapshot) {
        self.cpu.observe(snapshot);
        self.keep_selection_valid(snapshot);
        self.flash_new_alarms(snapshot);
        self.bell.observe(snapshot);
    }

    /// The terminal bell (whether it is muted).
    pub fn bell(&self) -> &Bell {
        &self.bell
    }

    /// Whether the terminal bell must ring now (see [`Bell::take`]).
    pub fn take_bell(&mut self, now: UnixMillis) -> bool {
        self.bell.take(now)
    }

    /// Takes in engine log entries newer than those seen, keeps the newest
    /// [`LOG_KEPT`], and flashes the newest error among them. The first
    /// batch (what happened before this console attached) flashes nothing.
    pub fn observe_log(&mut self, entries: &[LogEntry], now: UnixMillis) {
        let seen = self.last_log_seq;
        let fresh: Vec<&LogEntry> = entries
            .iter()
            .filter(|entry| seen.is_none_or(|seen| entry.seq > seen))
            .collect();
        if seen.is_some() {
            if let Some(entry) = fresh.iter().rev().find(|entry| entry.level == "error") {
                let text = match &entry.stream {
                    Some(stream) => format!("{stream}: {}", entry.text),
                    None => entry.text.clone(),
                };
                self.flash_error(text, now);
            }
        }
        for entry in fresh {
            self.last_log_seq = Some(entry.seq.max(self.last_log_seq.unwrap_or(0)));
            self.log.push_back(entry.clone());
        }
        if self.last_log_seq.is_none() {
            self.last_log_seq = Some(0);
        }
        while self.log.len() > LOG_KEPT {
            self.log.pop_front();
        }
    }

    /// The engine log entries kept, oldest first.
    pub fn log(&self) -> &VecDeque<LogEntry> {
        &self.log
    }

    /// Takes in the newest details (stderr tail, history) of a stream.
    pub fn observe_details(&mut self, details: StreamDetails) {
        self.details = Some(details);
    }

    /// The details of the selected stream, if they have arrived.
    pub fn details(&self) -> Option<&StreamDetails> {
        let selected = self.selected.as_deref()?;
        self.details.as_ref().filter(|d| d.name == selected)
    }

    /// Takes in how many consoles are attached (this one included).
    pub fn observe_consoles(&mut self, consoles: usize) {
        self.consoles = consoles;
    }

    /// How many consoles are attached, this one included.
    pub fn consoles(&self) -> usize {
        self.consoles
    }

    /// Flashes an alarm raised since the previous snapshot (the table
    /// keeps showing it as a flag for as long as it lasts).
    fn flash_new_alarms(&mut self, snapshot: &Snapshot) {
        let current: Vec<(String, AlarmKind, UnixMillis)> = snapshot
            .streams
            .iter()
            .flat_map(|s| s.alarms.iter().map(|a| (s.name.clone(), a.kind, a.since)))
            .collect();
        if let Some(seen) = &self.seen_alarms {
            let fresh = snapshot.streams.iter().find_map(|stream| {
                stream.alarms.iter().find_map(|alarm| {
                    let key = (stream.name.clone(), alarm.kind, alarm.since);
                    (!seen.contains(&key)).then(|| {
                        format!(
                            "{}: {} — {}",
                            stream.name,
                            alarm.kind.as_str().to_uppercase(),
                            alarm.detail
                        )
                    })
                })
            });
            if let Some(text) = fresh {
                self.flash = Some(Flash {
                    text,
                    level: Level::Error,
                    until: snapshot.taken_at + FLASH_MILLIS,
                });
            }
        }
        self.seen_alarms = Some(current);
    }

    /// The name of the selected stream.
    pub fn selected(&self) -> Option<&str> {
        self.selected.as_deref()
    }

    /// The text of the name filter (empty: every stream).
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Whether the footer is the filter's input line.
    pub fn filter_editing(&self) -> bool {
        self.filter_editing
    }

    /// The focused pane.
    pub fn focus(&self) -> Focus {
        self.focus
    }

    /// Lines a pane is scrolled up from its newest line (0: following).
    pub fn scroll(&self, pane: Pane) -> usize {
        self.scroll[pane.index()]
    }

    /// The popup over the table, if any.
    pub fn popup(&self) -> Option<&Popup> {
        self.popup.as_ref()
    }

    /// The flash line, while it lasts.
    pub fn flash(&self, now: UnixMillis) -> Option<&Flash> {
        self.flash.as_ref().filter(|flash| flash.until > now)
    }

    /// When the current flash line disappears (the event loop redraws then).
    pub fn flash_until(&self) -> Option<UnixMillis> {
        self.flash.as_ref().map(|flash| flash.until)
    }

    /// The selected stream's picture and how it is drawn.
    pub fn picture(&self) -> &Picture {
        &self.picture
    }

    /// The picture, to take in a newly read thumbnail.
    pub fn picture_mut(&mut self) -> &mut Picture {
        &mut self.picture
    }

    /// Recent CPU samples for the sparklines.
    pub fn cpu(&self) -> &CpuHistory {
        &self.cpu
    }

    /// Records what the last frame showed.
    pub fn set_rendered(&mut self, rendered: Rendered) {
        self.rendered = rendered;
        for pane in [Pane::Output, Pane::History, Pane::Log, Pane::Screens] {
            let max = rendered.pane(pane).max_scroll();
            let slot = &mut self.scroll[pane.index()];
            *slot = (*slot).min(max);
        }
    }

    /// The streams the table shows: those whose name contains the filter,
    /// ignoring case, in file order.
    pub fn visible<'a>(&self, snapshot: &'a Snapshot) -> Vec<&'a StreamSnapshot> {
        let needle = self.filter.to_lowercase();
        snapshot
            .streams
            .iter()
            .filter(|stream| needle.is_empty() || stream.name.to_lowercase().contains(&needle))
            .collect()
    }

    /// The selected stream in this snapshot, if it is visible.
    pub fn selected_stream<'a>(&self, snapshot: &'a Snapshot) -> Option<&'a StreamSnapshot> {
        let name = self.selected.as_deref()?;
        self.visible(snapshot).into_iter().find(|s| s.name == name)
    }

    /// Turns one key press into a change of the console's state and, maybe,
    /// a command for the engine. Key releases and repeats are ignored.
    pub fn handle_key(&mut self, key: KeyEvent, snapshot: &Snapshot, now: UnixMillis) -> Outcome {
        if key.kind != KeyEventKind::Press {
            return Outcome::Nothing;
        }
        match self.popup.take() {
            Some(Popup::Confirm(confirm)) => return self.answer(confirm, key, now),
            Some(Popup::Leave(leave)) => return self.leave(leave, key, now),
            Some(Popup::Help) => return Outcome::Nothing,
            None => {}
        }
        if self.filter_editing {
            self.edit_filter(key, snapshot);
            return Outcome::Nothing;
        }
        match keymap::action_for(&key) {
            Some(action) => self.apply(action, snapshot, now),
            None => Outcome::Nothing,
        }
    }

    fn answer(&mut self, confirm: Confirm, key: KeyEvent, now: UnixMillis) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('y' | 'Y') if !ctrl => {
                self.flash_info(confirm.done, now);
                confirm.on_yes
            }
            KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => {
                self.flash_info("cancelled".to_string(), now);
                Outcome::Nothing
            }
            KeyCode::Char('c') if ctrl => {
                self.flash_info("cancelled".to_string(), now);
                Outcome::Nothing
            }
            _ => {
                self.popup = Some(Popup::Confirm(confirm));
                Outcome::Nothing
            }
        }
    }

    fn leave(&mut self, leave: Leave, key: KeyEvent, now: UnixMillis) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('d' | 'D') if !ctrl => Outcome::Detach,
            KeyCode::Char('s' | 'S') if !ctrl => Outcome::StopEngine,
            KeyCode::Esc | KeyCode::Char('n' | 'N' | 'q') => {
                self.flash_info("staying".to_string(), now);
                Outcome::Nothing
            }
            KeyCode::Char('c') if ctrl => {
                self.flash_info("staying".to_string(), now);
                Outcome::Nothing
            }
            _ => {
                self.popup = Some(Popup::Leave(leave));
                Outcome::Nothing
            }
        }
    }

    fn edit_filter(&mut self, key: KeyEvent, snapshot: &Snapshot) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => self.filter_editing = false,
            KeyCode::Esc => {
                self.filter_editing = false;
                self.filter.clear();
            }
            KeyCode::Char('c') if ctrl => {
                self.filter_editing = false;
                self.filter.clear();
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Up => self.move_selection(snapshot, -1),
            KeyCode::Down => self.move_selection(snapshot, 1),
            KeyCode::Char(c) if !ctrl => self.filter.push(c),
            _ => {}
        }
        self.keep_selection_valid(snapshot);
    }

    fn apply(&mut self, action: Action, snapshot: &Snapshot, now: UnixMillis) -> Outcome {
        match action {
            Action::Up => self.step(snapshot, -1),
            Action::Down => self.step(snapshot, 1),
            Action::PageUp => self.step(snapshot, -(self.page(snapshot) as isize)),
            Action::PageDown => self.step(snapshot, self.page(snapshot) as isize),
            Action::Top => self.step(snapshot, isize::MIN / 2),
            Action::Bottom => self.step(snapshot, isize::MAX / 2),
            Action::Toggle => return self.toggle(snapshot, now),
            Action::SwitchProfile => {
                let Some(stream) = self.target(snapshot, now) else {
                    return Outcome::Nothing;
                };
                let profile = stream.profile.other();
                self.flash_info(
                    format!(
                        "{}: switching to {profile}, restarting this stream only",
                        stream.name
                    ),
                    now,
                );
                return Outcome::Send(Command::SetProfile {
                    stream: stream.name.clone(),
                    profile,
                });
            }
            Action::Restart => {
                let Some(stream) = self.target(snapshot, now) else {
                    return Outcome::Nothing;
                };
                if !stream.enabled {
                    // Restarting what the operator stopped would do nothing.
                    let keys = keymap::binding_of(Action::Toggle)
                        .map(|b| b.keys_label().replace(' ', " or "))
                        .unwrap_or_default();
                    self.flash_error(
                        format!("{} is stopped: press {keys} to start it", stream.name),
                        now,
                    );
                    return Outcome::Nothing;
                }
                self.flash_info(format!("{}: restarting", stream.name), now);
                return Outcome::Send(Command::Restart {
                    stream: stream.name.clone(),
                });
            }
            Action::Bumper => {
                let Some(stream) = self.target(snapshot, now) else {
                    return Outcome::Nothing;
                };
                let Some(fallback) = &stream.fallback else {
                    self.flash = Some(Flash {
                        text: format!(
                            "{}: no slate (fallback = false in streams.toml)",
                            stream.name
                        ),
                        level: Level::Error,
                        until: now + FLASH_MILLIS,
                    });
                    return Outcome::Nothing;
                };
                let on = !fallback.forced;
                let text = if on {
                    format!("{}: slate on the air (b again: back to live)", stream.name)
                } else {
                    format!("{}: back to live at the next keyframe", stream.name)
                };
                self.flash_info(text, now);
                return Outcome::Send(Command::Bumper {
                    stream: stream.name.clone(),
                    on,
                });
            }
            Action::TogglePicture => {
                self.picture.toggle();
                let text = if self.picture.shown() {
                    "picture shown (v hides it)"
                } else {
                    "picture hidden (v shows it)"
                };
                self.flash_info(text.to_string(), now);
            }
            Action::ToggleBell => {
                self.bell.toggle();
                let text = if self.bell.on() {
                    "bell on: alarms and failed or stalled streams ring the terminal's bell"
                } else {
                    "bell muted (m turns it back on)"
                };
                self.flash_info(text.to_string(), now);
            }
            Action::NextPane => self.focus = self.focus.next(),
            Action::PreviousPane => self.focus = self.focus.previous(),
            Action::Back => {
                if self.focus != Focus::Streams {
                    self.focus = Focus::Streams;
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                    self.keep_selection_valid(snapshot);
                }
                self.flash = None;
            }
            Action::Filter => {
                self.filter_editing = true;
                self.focus = Focus::Streams;
            }
            Action::Help => self.popup = Some(Popup::Help),
            Action::Quit => {
                self.popup = Some(Popup::Leave(Leave {
                    live: live_streams(snapshot),
                    consoles: self.consoles,
                }))
            }
        }
        Outcome::Nothing
    }

    fn toggle(&mut self, snapshot: &Snapshot, now: UnixMillis) -> Outcome {
        let Some(stream) = self.target(snapshot, now) else {
            return Outcome::Nothing;
        };
        let name = stream.name.clone();
        if !stream.enabled || stream.state == StreamState::Stopped {
            self.flash_info(format!("{name}: starting"), now);
            return Outcome::Send(Command::Start { stream: name });
        }
        if is_live(&stream.state) {
            let pid = stream
                .pid
                .map(|pid| format!(" (FFmpeg pid {pid})"))
                .unwrap_or_default();
            self.popup = Some(Popup::Confirm(Confirm {
                title: format!("Stop {name}?"),
                body: format!(
                    "{name} is {}{pid}. Its screens and destinations get nothing until it is started again.",
                    stream.state.label()
                ),
                on_yes: Outcome::Send(Command::Stop {
                    stream: name.clone(),
                }),
                done: format!("{name}: stopping"),
            }));
            return Outcome::Nothing;
        }
        self.flash_info(format!("{name}: disabled"), now);
        Outcome::Send(Command::Stop { stream: name })
    }

    /// The stream a stream key acts on; flashes why there is none.
    fn target<'a>(
        &mut self,
        snapshot: &'a Snapshot,
        now: UnixMillis,
    ) -> Option<&'a StreamSnapshot> {
        let stream = self.selected_stream(snapshot);
        if stream.is_none() {
            self.flash_error("no stream selected".to_string(), now);
        }
        stream
    }

    fn flash_error(&mut self, text: String, now: UnixMillis) {
        self.flash = Some(Flash {
            text,
            level: Level::Error,
            until: now + FLASH_MILLIS,
        });
    }

    fn flash_info(&mut self, text: String, now: UnixMillis) {
        self.flash = Some(Flash {
            text,
            level: Level::Info,
            until: now + FLASH_MILLIS,
        });
    }

    fn page(&self, snapshot: &Snapshot) -> usize {
        let height = match Pane::of(self.focus) {
            None => self.rendered.table_rows,
            Some(pane) => self.rendered.pane(pane).height,
        };
        let fallback = if Pane::of(self.focus).is_none() {
            snapshot.streams.len()
        } else {
            10
        };
        if height == 0 {
            fallback
        } else {
            height.saturating_sub(1).max(1)
        }
    }

    /// Moves the selection, or scrolls the focused pane (a positive step
    /// goes down the table, or towards the newest log line).
    fn step(&mut self, snapshot: &Snapshot, delta: isize) {
        match Pane::of(self.focus) {
            None => self.move_selection(snapshot, delta),
            Some(pane) => {
                let max = self.rendered.pane(pane).max_scroll() as isize;
                let slot = &mut self.scroll[pane.index()];
                *slot = (*slot as isize).saturating_sub(delta).clamp(0, max.max(0)) as usize;
            }
        }
    }

    fn move_selection(&mut self, snapshot: &Snapshot, delta: isize) {
        let visible = self.visible(snapshot);
        if visible.is_empty() {
            return;
        }
        let current = self
            .selected
            .as_deref()
            .and_then(|name| visible.iter().position(|s| s.name == name))
            .unwrap_or(0) as isize;
        let last = visible.len() as isize - 1;
        let index = current.saturating_add(delta).clamp(0, last) as usize;
        self.select(visible[index].name.clone(), index);
    }

    fn select(&mut self, name: String, index: usize) {
        if self.selected.as_deref() != Some(name.as_str()) {
            self.scroll[Pane::Output.index()] = 0;
            self.scroll[Pane::History.index()] = 0;
        }
        self.selected = Some(name);
        self.selected_index = index;
    }

    fn keep_selection_valid(&mut self, snapshot: &Snapshot) {
        let visible = self.visible(snapshot);
        if visible.is_empty() {
            return;
        }
        let found = self
            .selected
            .as_deref()
            .and_then(|name| visible.iter().position(|s| s.name == name));
        match found {
            Some(index) => self.selected_index = index,
            None => {
                let index = self.selected_index.min(visible.len() - 1);
                let index = if self.selected.is_none() { 0 } else { index };
                self.select(visible[index].name.clone(), index);
            }
        }
    }
}

/// How many streams are on the air or about to be.
pub fn live_streams(snapshot: &Snapshot) -> usize {
    snapshot
        .streams
        .iter()
        .filter(|s| is_live(&s.state))
        .count()
}
