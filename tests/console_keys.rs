//! Key handling: what each key press asks of the engine, from the fixed
//! four-stream snapshot (stage running, lobby retrying, program/youtube
//! failed, backstage stopped).

mod console_fixtures;

use console_fixtures::{NOW, attached, bare_stream, details, snapshot};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use onair::config::Profile;
use onair::engine::{Command, LogEntry, Snapshot, StreamState};
use onair::tui::app::{App, Focus, Level, Outcome, Pane, PaneExtent, Popup, Rendered};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

fn ready(snapshot: &Snapshot) -> App {
    let mut app = App::new();
    attached(&mut app, snapshot);
    app
}

fn press(app: &mut App, snapshot: &Snapshot, event: KeyEvent) -> Outcome {
    app.handle_key(event, snapshot, NOW)
}

fn send(command: Command) -> Outcome {
    Outcome::Send(command)
}

fn select(app: &mut App, snapshot: &Snapshot, name: &str) {
    press(app, snapshot, key(KeyCode::Home));
    for _ in 0..snapshot.streams.len() {
        if app.selected() == Some(name) {
            return;
        }
        press(app, snapshot, ch('j'));
    }
    assert_eq!(app.selected(), Some(name), "cannot select {name}");
}

#[test]
fn first_stream_is_selected_at_start() {
    let snapshot = snapshot();
    assert_eq!(ready(&snapshot).selected(), Some("stage"));
}

#[test]
fn arrows_and_j_k_move_the_selection_and_stop_at_the_ends() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    press(&mut app, &snapshot, ch('k'));
    assert_eq!(app.selected(), Some("stage"));
    press(&mut app, &snapshot, ch('j'));
    assert_eq!(app.selected(), Some("lobby"));
    press(&mut app, &snapshot, key(KeyCode::Down));
    assert_eq!(app.selected(), Some("program/youtube"));
    press(&mut app, &snapshot, key(KeyCode::Down));
    press(&mut app, &snapshot, key(KeyCode::Down));
    assert_eq!(app.selected(), Some("backstage"));
    press(&mut app, &snapshot, key(KeyCode::Up));
    assert_eq!(app.selected(), Some("program/youtube"));
    press(&mut app, &snapshot, ch('g'));
    assert_eq!(app.selected(), Some("stage"));
    press(&mut app, &snapshot, ch('G'));
    assert_eq!(app.selected(), Some("backstage"));
}

#[test]
fn enter_on_a_running_stream_stops_it_only_after_y() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    assert_eq!(
        press(&mut app, &snapshot, key(KeyCode::Enter)),
        Outcome::Nothing
    );
    match app.popup() {
        Some(Popup::Confirm(confirm)) => {
            assert_eq!(confirm.title, "Stop stage?");
            assert!(confirm.body.contains("pid 41234"), "{}", confirm.body);
        }
        other => panic!("expected a question, got {other:?}"),
    }
    // Keys other than y/n leave the question open and do nothing.
    assert_eq!(press(&mut app, &snapshot, ch('j')), Outcome::Nothing);
    assert_eq!(
        press(&mut app, &snapshot, key(KeyCode::Enter)),
        Outcome::Nothing
    );
    assert!(app.popup().is_some());
    assert_eq!(app.selected(), Some("stage"));
    assert_eq!(press(&mut app, &snapshot, ch('n')), Outcome::Nothing);
    assert!(app.popup().is_none());

    press(&mut app, &snapshot, ch(' '));
    assert_eq!(
        press(&mut app, &snapshot, ch('y')),
        send(Command::Stop {
            stream: "stage".into()
        })
    );
    assert!(app.popup().is_none());
}

#[test]
fn escape_cancels_a_stop() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    press(&mut app, &snapshot, key(KeyCode::Enter));
    assert_eq!(
        press(&mut app, &snapshot, key(KeyCode::Esc)),
        Outcome::Nothing
    );
    assert!(app.popup().is_none());
    assert_eq!(app.flash(NOW).map(|f| f.text.as_str()), Some("cancelled"));
}

#[test]
fn stopping_a_retrying_stream_asks_too() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    select(&mut app, &snapshot, "lobby");
    assert_eq!(
        press(&mut app, &snapshot, key(KeyCode::Enter)),
        Outcome::Nothing
    );
    assert_eq!(
        press(&mut app, &snapshot, ch('Y')),
        send(Command::Stop {
            stream: "lobby".into()
        })
    );
}

#[test]
fn space_on_a_stopped_stream_starts_it_at_once() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    select(&mut app, &snapshot, "backstage");
    assert_eq!(
        press(&mut app, &snapshot, ch(' ')),
        send(Command::Start {
            stream: "backstage".into()
        })
    );
    assert!(app.popup().is_none());
}

#[test]
fn enter_on_a_failed_stream_disables_it_without_asking() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    select(&mut app, &snapshot, "program/youtube");
    assert_eq!(
        press(&mut app, &snapshot, key(KeyCode::Enter)),
        send(Command::Stop {
            stream: "program/youtube".into()
        })
    );
}

#[test]
fn p_switches_to_the_other_profile() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    assert_eq!(
        press(&mut app, &snapshot, ch('p')),
        send(Command::SetProfile {
            stream: "stage".into(),
            profile: Profile::Stable
        })
    );
    select(&mut app, &snapshot, "lobby");
    assert_eq!(
        press(&mut app, &snapshot, ch('p')),
        send(Command::SetProfile {
            stream: "lobby".into(),
            profile: Profile::LowLatency
        })
    );
}

#[test]
fn r_restarts_the_selected_stream() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    select(&mut app, &snapshot, "program/youtube");
    assert_eq!(
        press(&mut app, &snapshot, ch('r')),
        send(Command::Restart {
            stream: "program/youtube".into()
        })
    );
}

#[test]
fn q_offers_to_detach_or_stop_and_says_how_many_streams_stop() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    app.observe_consoles(2);
    assert_eq!(press(&mut app, &snapshot, ch('q')), Outcome::Nothing);
    match app.popup() {
        // stage is running and lobby is retrying; the failed and the
        // stopped stream have nothing to stop.
        Some(Popup::Leave(leave)) => {
            assert_eq!(leave.live, 2);
            assert_eq!(leave.consoles, 2);
        }
        other => panic!("expected the leaving question, got {other:?}"),
    }
    assert_eq!(
        press(&mut app, &snapshot, key(KeyCode::Esc)),
        Outcome::Nothing
    );
    assert!(app.popup().is_none(), "Esc stays");
    press(&mut app, &snapshot, ch('q'));
    assert_eq!(press(&mut app, &snapshot, ch('q')), Outcome::Nothing);
    assert!(app.popup().is_none(), "q a second time stays too");
    press(&mut app, &snapshot, ch('q'));
    assert_eq!(
        press(&mut app, &snapshot, ch('y')),
        Outcome::Nothing,
        "y is no answer here: only d or s leave"
    );
    assert!(app.popup().is_some(), "an unknown key keeps the question");
    assert_eq!(press(&mut app, &snapshot, ch('d')), Outcome::Detach);
    press(&mut app, &snapshot, ch('q'));
    assert_eq!(press(&mut app, &snapshot, ch('s')), Outcome::StopEngine);
}

#[test]
fn ctrl_c_asks_like_q() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(press(&mut app, &snapshot, ctrl_c), Outcome::Nothing);
    assert!(matches!(app.popup(), Some(Popup::Leave(_))));
    assert_eq!(press(&mut app, &snapshot, ctrl_c), Outcome::Nothing);
    assert!(app.popup().is_none(), "Ctrl-C in the question stays");
}

#[test]
fn quitting_with_nothing_live_still_asks_and_says_so() {
    let snapshot = Snapshot {
        streams: vec![bare_stream("cam1", StreamState::Stopped)],
        ..Snapshot::default()
    };
    let mut app = ready(&snapshot);
    press(&mut app, &snapshot, ch('q'));
    match app.popup() {
        Some(Popup::Leave(leave)) => assert_eq!(leave.live, 0),
        other => panic!("expected the leaving question, got {other:?}"),
    }
}

#[test]
fn key_releases_and_repeats_are_ignored() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    for kind in [KeyEventKind::Release, KeyEventKind::Repeat] {
        let mut event = ch('r');
        event.kind = kind;
        assert_eq!(press(&mut app, &snapshot, event), Outcome::Nothing);
    }
}

#[test]
fn filter_narrows_the_table_and_keys_act_on_the_match() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    press(&mut app, &snapshot, ch('/'));
    assert!(app.filter_editing());
    // Typed letters go to the filter, not to the keymap: no restart here.
    for c in "LOB".chars() {
        assert_eq!(press(&mut app, &snapshot, ch(c)), Outcome::Nothing);
    }
    assert_eq!(app.filter(), "LOB");
    assert_eq!(app.selected(), Some("lobby"));
    let names: Vec<&str> = app
        .visible(&snapshot)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["lobby"]);
    press(&mut app, &snapshot, key(KeyCode::Enter));
    assert!(!app.filter_editing());
    assert_eq!(
        press(&mut app, &snapshot, ch('r')),
        send(Command::Restart {
            stream: "lobby".into()
        })
    );
    press(&mut app, &snapshot, key(KeyCode::Esc));
    assert_eq!(app.filter(), "");
    assert_eq!(app.visible(&snapshot).len(), 4);
    assert_eq!(app.selected(), Some("lobby"));
}

#[test]
fn a_filter_matching_nothing_leaves_keys_harmless() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    press(&mut app, &snapshot, ch('/'));
    for c in "zzz".chars() {
        press(&mut app, &snapshot, ch(c));
    }
    press(&mut app, &snapshot, key(KeyCode::Enter));
    assert_eq!(press(&mut app, &snapshot, ch('r')), Outcome::Nothing);
    assert_eq!(
        press(&mut app, &snapshot, key(KeyCode::Enter)),
        Outcome::Nothing
    );
    let flash = app.flash(NOW).expect("a flash line");
    assert_eq!(
        (flash.text.as_str(), flash.level),
        ("no stream selected", Level::Error)
    );
}

#[test]
fn help_opens_with_question_mark_and_the_next_key_only_closes_it() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    press(&mut app, &snapshot, ch('?'));
    assert_eq!(app.popup(), Some(&Popup::Help));
    assert_eq!(press(&mut app, &snapshot, ch('r')), Outcome::Nothing);
    assert!(app.popup().is_none());
}

#[test]
fn tab_and_l_focus_the_log_panes_where_arrows_scroll_instead_of_selecting() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    let pane = PaneExtent {
        lines: 30,
        height: 10,
    };
    app.set_rendered(Rendered {
        table_rows: 4,
        output: pane,
        history: pane,
        log: pane,
        screens: pane,
    });
    press(&mut app, &snapshot, key(KeyCode::Tab));
    assert_eq!(app.focus(), Focus::Output);
    press(&mut app, &snapshot, ch('k'));
    press(&mut app, &snapshot, key(KeyCode::Up));
    assert_eq!(app.scroll(Pane::Output), 2);
    assert_eq!(app.selected(), Some("stage"));
    press(&mut app, &snapshot, key(KeyCode::PageUp));
    assert_eq!(app.scroll(Pane::Output), 11);
    press(&mut app, &snapshot, key(KeyCode::Home));
    assert_eq!(app.scroll(Pane::Output), 20, "stops at the oldest line");
    press(&mut app, &snapshot, key(KeyCode::End));
    assert_eq!(app.scroll(Pane::Output), 0);

    press(&mut app, &snapshot, ch('l'));
    assert_eq!(app.focus(), Focus::History);
    press(&mut app, &snapshot, ch('l'));
    assert_eq!(app.focus(), Focus::Screens);
    press(&mut app, &snapshot, ch('k'));
    assert_eq!(app.scroll(Pane::Screens), 1);
    press(&mut app, &snapshot, ch('l'));
    assert_eq!(app.focus(), Focus::Log);
    press(&mut app, &snapshot, ch('k'));
    assert_eq!(app.scroll(Pane::Log), 1);
    press(&mut app, &snapshot, key(KeyCode::BackTab));
    assert_eq!(app.focus(), Focus::Screens);
    press(&mut app, &snapshot, key(KeyCode::Esc));
    assert_eq!(app.focus(), Focus::Streams);
    press(&mut app, &snapshot, ch('j'));
    assert_eq!(app.selected(), Some("lobby"));

    // Stream keys still act on the selected stream from a log pane.
    press(&mut app, &snapshot, key(KeyCode::Tab));
    assert_eq!(
        press(&mut app, &snapshot, ch('r')),
        send(Command::Restart {
            stream: "lobby".into()
        })
    );
}

#[test]
fn selection_survives_reloads_that_remove_or_reorder_streams() {
    let mut snapshot = snapshot();
    let mut app = ready(&snapshot);
    select(&mut app, &snapshot, "program/youtube");
    snapshot.streams.reverse();
    app.observe(&snapshot);
    assert_eq!(app.selected(), Some("program/youtube"));
    let index = snapshot
        .streams
        .iter()
        .position(|s| s.name == "program/youtube")
        .expect("present");
    snapshot.streams.remove(index);
    app.observe(&snapshot);
    assert_eq!(app.selected(), Some(snapshot.streams[index].name.as_str()));
}

#[test]
fn a_new_engine_error_flashes_in_the_footer_but_old_ones_do_not() {
    let mut snapshot = snapshot();
    let app = ready(&snapshot);
    assert!(
        app.flash(NOW).is_none(),
        "errors already in the log at start are not news"
    );
    let mut app = app;
    snapshot.taken_at = NOW + 1_000;
    app.observe(&snapshot);
    let fresh = LogEntry {
        seq: 4,
        at: NOW + 900,
        stream: Some("stage".into()),
        level: "error".into(),
        text: "exited with code 187".into(),
    };
    // The engine sends new entries only, but one sent twice is no news twice.
    app.observe_log(std::slice::from_ref(&fresh), NOW + 1_000);
    assert_eq!(app.log().back(), Some(&fresh));
    app.observe_log(&[fresh], NOW + 1_000);
    assert_eq!(app.log().iter().filter(|e| e.seq == 4).count(), 1);
    let flash = app.flash(NOW + 1_000).expect("a flash line");
    assert_eq!(flash.text, "stage: exited with code 187");
    assert_eq!(flash.level, Level::Error);
    assert!(app.flash(NOW + 10_000).is_none(), "flash lines expire");
}

#[test]
fn keys_with_no_streams_do_nothing_but_say_so() {
    let snapshot = Snapshot::default();
    let mut app = ready(&snapshot);
    assert_eq!(app.selected(), None);
    for event in [key(KeyCode::Enter), ch('p'), ch('r'), ch('j')] {
        assert_eq!(press(&mut app, &snapshot, event), Outcome::Nothing);
    }
    assert_eq!(press(&mut app, &snapshot, ch('q')), Outcome::Nothing);
    assert_eq!(press(&mut app, &snapshot, ch('d')), Outcome::Detach);
}

#[test]
fn details_show_only_for_the_stream_they_belong_to() {
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    assert_eq!(app.details().map(|d| d.name.as_str()), Some("stage"));
    press(&mut app, &snapshot, ch('j'));
    assert!(
        app.details().is_none(),
        "stage's output must not show under lobby while lobby's is on its way"
    );
    app.observe_details(details("lobby"));
    assert_eq!(app.details().map(|d| d.name.as_str()), Some("lobby"));
}

#[test]
fn the_log_keeps_only_the_newest_entries() {
    use onair::tui::app::LOG_KEPT;
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    let entries: Vec<LogEntry> = (10..10 + LOG_KEPT as u64 + 5)
        .map(|seq| LogEntry {
            seq,
            at: NOW,
            stream: None,
            level: "info".into(),
            text: format!("entry {seq}"),
        })
        .collect();
    app.observe_log(&entries, NOW);
    assert_eq!(app.log().len(), LOG_KEPT);
    assert_eq!(
        app.log().back().map(|e| e.seq),
        entries.last().map(|e| e.seq)
    );
}

#[test]
fn r_on_a_stopped_stream_says_how_to_start_it_instead_of_restarting() {
    use ratatui::{Terminal, backend::TestBackend};
    let snapshot = snapshot();
    let mut app = ready(&snapshot);
    select(&mut app, &snapshot, "backstage");
    assert_eq!(press(&mut app, &snapshot, ch('r')), Outcome::Nothing);
    // What the operator reads in the footer of the drawn console.
    let server = onair::server::ServerStats::default();
    let mut terminal = Terminal::new(TestBackend::new(120, 30)).expect("test terminal");
    let scene = onair::tui::view::Scene {
        snapshot: &snapshot,
        server: &server,
        app: &app,
        now: NOW,
        utc_offset_secs: 0,
    };
    terminal
        .draw(|frame| {
            onair::tui::view::draw(frame, &scene);
        })
        .expect("draw");
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("backstage is stopped: press Enter or Space to start it"),
        "{screen}"
    );
    assert!(!screen.contains("restarting"), "{screen}");
}

/// `stage` as a stream with fallback: on its slate by hand or not.
fn with_slate(forced: bool) -> Snapshot {
    let mut snapshot = snapshot();
    let stage = &mut snapshot.streams[0];
    if forced {
        stage.state = StreamState::Fallback {
            since: NOW - 5_000,
            reason: "bumper".into(),
            forced: true,
        };
    }
    stage.fallback = Some(onair::engine::FallbackSnapshot {
        on_air: if forced { "slate" } else { "live" }.into(),
        forced,
        ..Default::default()
    });
    snapshot
}

#[test]
fn b_puts_the_slate_on_the_air_and_takes_it_off_again() {
    let live = with_slate(false);
    let mut app = ready(&live);
    assert_eq!(
        press(&mut app, &live, ch('b')),
        send(Command::Bumper {
            stream: "stage".into(),
            on: true
        })
    );
    let held = with_slate(true);
    assert_eq!(
        press(&mut app, &held, ch('b')),
        send(Command::Bumper {
            stream: "stage".into(),
            on: false
        })
    );
    let flash = app.flash(NOW).expect("a flash line");
    assert_eq!(
        (flash.text.as_str(), flash.level),
        ("stage: back to live at the next keyframe", Level::Info)
    );
}

#[test]
fn b_on_a_stream_without_fallback_says_why_and_sends_nothing() {
    let snapshot = with_slate(false);
    let mut app = ready(&snapshot);
    select(&mut app, &snapshot, "lobby");
    assert_eq!(press(&mut app, &snapshot, ch('b')), Outcome::Nothing);
    let flash = app.flash(NOW).expect("a flash line");
    assert_eq!(
        (flash.text.as_str(), flash.level),
        (
            "lobby: no slate (fallback = false in streams.toml)",
            Level::Error
        )
    );
}
