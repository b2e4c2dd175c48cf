//! Every key of the console in one table.
//!
//! The same [`KEYMAP`] decides what a key press does, writes the footer and
//! fills the `?` help overlay, so the three can never disagree: adding a key
//! here is the only way to add a key.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What the operator asked for, before the console decides what it means
/// for the stream under the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Previous stream, or scroll up in a log pane.
    Up,
    /// Next stream, or scroll down in a log pane.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// First stream, or the oldest line of a log pane.
    Top,
    /// Last stream, or back to following the newest line.
    Bottom,
    /// Start a stopped stream, stop a live one.
    Toggle,
    /// Switch low-latency ↔ stable.
    SwitchProfile,
    /// Restart the stream's FFmpeg.
    Restart,
    /// Put the stream's slate on the air by hand, or take it off.
    Bumper,
    /// Hide or show the selected stream's picture.
    TogglePicture,
    /// Mute or unmute the terminal bell.
    ToggleBell,
    /// Focus the next pane.
    NextPane,
    /// Focus the previous pane.
    PreviousPane,
    /// Back to the table; clears the filter.
    Back,
    /// Type a filter.
    Filter,
    /// Show the help overlay.
    Help,
    /// Leave the console: detach, or stop everything.
    Quit,
}

/// One key, as the terminal reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPress {
    /// The key.
    pub code: KeyCode,
    /// Ctrl or Alt, when they matter (Shift is part of the character).
    pub modifiers: KeyModifiers,
}

impl KeyPress {
    const fn plain(code: KeyCode) -> KeyPress {
        KeyPress {
            code,
            modifiers: KeyModifiers::NONE,
        }
    }

    const fn char(c: char) -> KeyPress {
        KeyPress::plain(KeyCode::Char(c))
    }

    const fn ctrl(c: char) -> KeyPress {
        KeyPress {
            code: KeyCode::Char(c),
            modifiers: KeyModifiers::CONTROL,
        }
    }

    /// Whether a key event from the terminal is this key. Shift is ignored
    /// (it is already in the character, and terminals disagree about
    /// reporting it); Ctrl and Alt must match.
    pub fn matches(&self, event: &KeyEvent) -> bool {
        let significant = KeyModifiers::CONTROL | KeyModifiers::ALT;
        self.code == event.code && (event.modifiers & significant) == self.modifiers
    }

    /// How the key is written in the footer and the help.
    pub fn label(&self) -> String {
        let key = match self.code {
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::PageUp => "PgUp".to_string(),
            KeyCode::PageDown => "PgDn".to_string(),
            KeyCode::Home => "Home".to_string(),
            KeyCode::End => "End".to_string(),
            KeyCode::Enter => "Enter".to_string(),
            KeyCode::Tab => "Tab".to_string(),
            KeyCode::BackTab => "Shift-Tab".to_string(),
            KeyCode::Esc => "Esc".to_string(),
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            other => format!("{other:?}"),
        };
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{key}")
        } else {
            key
        }
    }
}

/// One row of the keymap.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Every key that triggers it.
    pub keys: &'static [KeyPress],
    /// What it does.
    pub action: Action,
    /// One line for the help overlay.
    pub description: &'static str,
    /// It can take a stream off the air; the console asks y/n first
    /// whenever it would.
    pub dangerous: bool,
    /// The word shown next to its first key in the footer, if it has a
    /// place there.
    pub footer: Option<&'static str>,
}

impl Binding {
    /// All its keys, as the help writes them: `↑ k`.
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(KeyPress::label)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The console's keys, in the order the help lists them.
pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: &[KeyPress::plain(KeyCode::Up), KeyPress::char('k')],
        action: Action::Up,
        description: "previous stream (in a log pane: scroll up)",
        dangerous: false,
        footer: None,
    },
    Binding {
        keys: &[KeyPress::plain(KeyCode::Down), KeyPress::char('j')],
        action: Action::Down,
        description: "next stream (in a log pane: scroll down)",
        dangerous: false,
        footer: None,
    },
    Binding {
        keys: &[KeyPress::plain(KeyCode::PageUp), KeyPress::ctrl('u')],
        action: Action::PageUp,
        description: "a page up",
        dangerous: false,
        footer: None,
    },
    Binding {
        keys: &[KeyPress::plain(KeyCode::PageDown), KeyPress::ctrl('d')],
        action: Action::PageDown,
        description: "a page down",
        dangerous: false,
        footer: None,
    },
    Binding {
        keys: &[KeyPress::plain(KeyCode::Home), KeyPress::char('g')],
        action: Action::Top,
        description: "first stream (in a log pane: oldest line)",
        dangerous: false,
        footer: None,
    },
    Binding {
        keys: &[KeyPress::plain(KeyCode::End), KeyPress::char('G')],
        action: Action::Bottom,
        description: "last stream (in a log pane: follow new lines)",
        dangerous: false,
        footer: None,
    },
    Binding {
        keys: &[KeyPress::plain(KeyCode::Enter), KeyPress::char(' ')],
        action: Action::Toggle,
        description: "start the stream, or stop it (asks y/n if it is live)",
        dangerous: true,
        footer: Some("start/stop"),
    },
    Binding {
        keys: &[KeyPress::char('p')],
        action: Action::SwitchProfile,
        description: "switch profile low-latency <-> stable (restarts it alone)",
        dangerous: false,
        footer: Some("profile"),
    },
    Binding {
        keys: &[KeyPress::char('r')],
        action: Action::Restart,
        description: "restart the stream's FFmpeg (also retries a failed one)",
        dangerous: false,
        footer: Some("restart"),
    },
    Binding {
        keys: &[KeyPress::char('b')],
        action: Action::Bumper,
        description: "bumper: the slate on the air by hand, or back to live",
        dangerous: false,
        footer: None,
    },
    Binding {
        keys: &[KeyPress::char('v')],
        action: Action::TogglePicture,
        description: "hide or show the selected stream's picture",
        dangerous: false,
        footer: None,
    },
    Binding {
        keys: &[KeyPress::char('m')],
        action: Action::ToggleBell,
        description: "mute or unmute the bell that rings on alarms and failures",
        dangerous: false,
        footer: None,
    },
    Binding {
        keys: &[KeyPress::plain(KeyCode::Tab), KeyPress::char('l')],
        action: Action::NextPane,
        description: "next pane: streams > output > history > screens > log",
        dangerous: false,
        footer: Some("logs"),
    },
    Binding {
        keys: &[KeyPress::plain(KeyCode::BackTab), KeyPress::char('h')],
        action: Action::PreviousPane,
        description: "previous pane",
        dangerous: false,
        footer: None,
    },
    Binding {
        keys: &[KeyPress::plain(KeyCode::Esc)],
        action: Action::Back,
        description: "back to the streams; clear the filter",
        dangerous: false,
        footer: None,
    },
    Binding {
        keys: &[KeyPress::char('/')],
        action: Action::Filter,
        description: "filter streams by name (Enter keeps it, Esc clears it)",
        dangerous: false,
        footer: Some("filter"),
    },
    Binding {
        keys: &[KeyPress::char('?')],
        action: Action::Help,
        description: "this help",
        dangerous: false,
        footer: Some("help"),
    },
    Binding {
        keys: &[KeyPress::char('q'), KeyPress::ctrl('c')],
        action: Action::Quit,
        description: "leave: d detaches (streams keep running), s stops all",
        dangerous: false,
        footer: Some("quit"),
    },
];

/// The binding a key press triggers, if any.
pub fn binding_for(event: &KeyEvent) -> Option<&'static Binding> {
    KEYMAP
        .iter()
        .find(|binding| binding.keys.iter().any(|key| key.matches(event)))
}

/// The action a key press triggers, if any.
pub fn action_for(event: &KeyEvent) -> Option<Action> {
    binding_for(event).map(|binding| binding.action)
}

/// The binding of an action (every action has exactly one).
pub fn binding_of(action: Action) -> Option<&'static Binding> {
    KEYMAP.iter().find(|binding| binding.action == action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn no_key_is_bound_twice() {
        let all: Vec<KeyPress> = KEYMAP.iter().flat_map(|b| b.keys.iter().copied()).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(
                !all[i + 1..].contains(a),
                "{} is bound to two actions",
                a.label()
            );
        }
    }

    #[test]
    fn every_action_has_one_binding() {
        for binding in KEYMAP {
            let same = KEYMAP.iter().filter(|b| b.action == binding.action).count();
            assert_eq!(same, 1, "{:?} appears {same} times", binding.action);
        }
    }

    #[test]
    fn shift_is_ignored_but_ctrl_is_not() {
        assert_eq!(
            action_for(&key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('p'), KeyModifiers::CONTROL)),
            None
        );
    }

    #[test]
    fn labels_read_like_keys() {
        assert_eq!(
            binding_of(Action::Toggle).unwrap().keys_label(),
            "Enter Space"
        );
        assert_eq!(binding_of(Action::Quit).unwrap().keys_label(), "q Ctrl-c");
    }
}
