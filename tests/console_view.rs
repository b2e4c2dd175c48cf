//! The console's frames, drawn from fixed snapshots into ratatui's
//! TestBackend and compared with reviewed snapshots.

mod console_fixtures;

use console_fixtures::{NOW, attached, select_details, snapshot, snapshot_at};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onair::engine::Snapshot;
use onair::server::ServerStats;
use onair::tui::app::App;
use onair::tui::keymap::KEYMAP;
use onair::tui::view::{self, Scene};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

fn server() -> ServerStats {
    ServerStats {
        listen: "127.0.0.1:8080".to_string(),
        screens_connected: 2,
        requests: 1200,
        bytes: 64_000_000,
        error: None,
    }
}

/// An app that has seen the last minute of snapshots (a CPU ramp on
/// `stage`, so its sparkline has a shape).
fn app_after_a_minute() -> App {
    let mut app = App::new();
    for second in 0..=60u64 {
        let cpu = 5.0 + (second % 20) as f32 * 2.0;
        app.observe(&snapshot_at(NOW - (60 - second) * 1000, cpu));
    }
    attached(&mut app, &snapshot());
    app
}

fn render(
    width: u16,
    height: u16,
    app: &mut App,
    snapshot: &Snapshot,
    now: u64,
) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    let server = server();
    let scene = Scene {
        snapshot,
        server: &server,
        app,
        now,
        utc_offset_secs: 0,
    };
    let mut rendered = Default::default();
    terminal
        .draw(|frame| rendered = view::draw(frame, &scene))
        .expect("draw");
    app.set_rendered(rendered);
    terminal
}

fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    terminal.backend().to_string()
}

/// A key, and the details the engine sends when the selection changed.
fn press(app: &mut App, snapshot: &Snapshot, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE), snapshot, NOW);
    select_details(app);
}

#[test]
fn main_view_at_80x24() {
    let mut app = app_after_a_minute();
    let terminal = render(80, 24, &mut app, &snapshot(), NOW);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn main_view_at_160x48() {
    let mut app = app_after_a_minute();
    let terminal = render(160, 48, &mut app, &snapshot(), NOW);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn leaving_question_at_80x24_says_how_many_streams_stop() {
    let mut app = app_after_a_minute();
    app.observe_consoles(2);
    let snapshot = snapshot();
    press(&mut app, &snapshot, KeyCode::Char('q'));
    let terminal = render(80, 24, &mut app, &snapshot, NOW);
    let text = screen_text(&terminal);
    assert!(text.contains("Leave onair?"), "{text}");
    assert!(
        text.contains("detach: 2 live streams keep running"),
        "{text}"
    );
    assert!(text.contains("2 streams will stop"), "{text}");
    assert!(text.contains("(the other"), "{text}");
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn help_at_80x24_lists_every_key_of_the_keymap() {
    let mut app = app_after_a_minute();
    let snapshot = snapshot();
    press(&mut app, &snapshot, KeyCode::Char('?'));
    let terminal = render(80, 24, &mut app, &snapshot, NOW);
    let text = screen_text(&terminal);
    for binding in KEYMAP {
        assert!(
            text.contains(binding.description),
            "help misses {:?}:\n{text}",
            binding.action
        );
        assert!(
            text.contains(&binding.keys_label()),
            "help misses {}",
            binding.keys_label()
        );
    }
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn footer_shows_the_keymap_keys() {
    let mut app = app_after_a_minute();
    let terminal = render(80, 24, &mut app, &snapshot(), NOW);
    let buffer = terminal.backend().buffer();
    let footer: String = (0..80)
        .map(|x| buffer[(x, 23)].symbol().to_string())
        .collect();
    for binding in KEYMAP.iter().filter(|b| b.footer.is_some()) {
        let hint = format!(
            "{} {}",
            binding.keys[0].label(),
            binding.footer.unwrap_or_default()
        );
        assert!(footer.contains(&hint), "footer lacks {hint:?}: {footer}");
    }
}

#[test]
fn config_error_is_shown_in_red_with_its_location() {
    let mut app = app_after_a_minute();
    let mut snapshot = snapshot();
    snapshot.config.error = Some(
        "/srv/venue/streams.toml:12:9: unknown field `outptu`, expected one of ...".to_string(),
    );
    snapshot.config.pending_writes = vec!["stage: enabled = false".to_string()];
    let terminal = render(160, 48, &mut app, &snapshot, NOW);
    let buffer = terminal.backend().buffer();
    let line: String = (0..160)
        .map(|x| buffer[(x, 1)].symbol().to_string())
        .collect();
    let at = line
        .find("streams.toml:12:9")
        .unwrap_or_else(|| panic!("no FILE:LINE:COL in {line:?}"));
    assert_eq!(buffer[(at as u16, 1)].fg, Color::Red);
    assert!(line.contains("1 key change not yet written"), "{line}");
    assert!(!line.contains("loaded at"), "{line}");
}

#[test]
fn header_says_when_the_config_was_loaded_in_local_time() {
    let mut app = App::new();
    let snapshot = snapshot();
    let server = server();
    let mut terminal = Terminal::new(TestBackend::new(100, 24)).expect("test terminal");
    let scene = Scene {
        snapshot: &snapshot,
        server: &server,
        app: &app,
        now: NOW,
        utc_offset_secs: 2 * 3600,
    };
    terminal
        .draw(|frame| {
            view::draw(frame, &scene);
        })
        .expect("draw");
    app.observe(&snapshot);
    let text = screen_text(&terminal);
    // loaded_at is NOW - 1 h = 14:06:40 UTC, 16:06:40 at UTC+2.
    assert!(text.contains("loaded at 16:06:40"), "{text}");
    assert!(text.contains("http://127.0.0.1:8080"), "{text}");
    assert!(text.contains("2 screens"), "{text}");
}

#[test]
fn header_counts_the_attached_consoles() {
    let snapshot = snapshot();
    let mut app = app_after_a_minute();
    let text = screen_text(&render(160, 24, &mut app, &snapshot, NOW));
    assert!(text.contains("1 console "), "{text}");
    app.observe_consoles(3);
    let text = screen_text(&render(160, 24, &mut app, &snapshot, NOW));
    assert!(text.contains("3 consoles"), "{text}");
}

#[test]
fn retry_countdown_follows_the_clock() {
    let mut app = app_after_a_minute();
    let snapshot = snapshot();
    let first = screen_text(&render(80, 24, &mut app, &snapshot, NOW));
    let later = screen_text(&render(80, 24, &mut app, &snapshot, NOW + 2_000));
    assert!(first.contains("retry 5s #3"), "{first}");
    assert!(later.contains("retry 3s #3"), "{later}");
}

#[test]
fn narrow_terminals_drop_columns_instead_of_wrapping() {
    let snapshot = snapshot();
    let mut wide_columns = usize::MAX;
    for width in [160u16, 120, 100, 80, 60, 40, 30] {
        let mut app = app_after_a_minute();
        let terminal = render(width, 24, &mut app, &snapshot, NOW);
        let buffer = terminal.backend().buffer();
        let header: String = (0..width)
            .map(|x| buffer[(x, 2)].symbol().to_string())
            .collect();
        assert!(header.contains("STREAM"), "{width}: {header}");
        if width >= 40 {
            assert!(header.contains("STATE"), "{width}: {header}");
        }
        let columns = header.split_whitespace().count();
        assert!(
            columns <= wide_columns,
            "{width} columns shows more than a wider one"
        );
        wide_columns = columns;
        // Each stream stays on exactly one row: the row under the header
        // starts with the marker and the first stream's name.
        let row: String = (0..width)
            .map(|x| buffer[(x, 3)].symbol().to_string())
            .collect();
        assert!(row.starts_with("▶ stage"), "{width}: {row:?}");
    }
}

#[test]
fn tiny_terminals_do_not_panic() {
    let snapshot = snapshot();
    for (w, h) in [(1, 1), (10, 3), (20, 5), (80, 4), (200, 2)] {
        let mut app = app_after_a_minute();
        press(&mut app, &snapshot, KeyCode::Char('q'));
        render(w, h, &mut app, &snapshot, NOW);
        let mut app = app_after_a_minute();
        press(&mut app, &snapshot, KeyCode::Char('?'));
        render(w, h, &mut app, &snapshot, NOW);
    }
}

#[test]
fn many_streams_scroll_so_the_selection_stays_visible() {
    let mut snapshot = snapshot();
    let template = snapshot.streams[0].clone();
    snapshot.streams = (1..=16)
        .map(|i| {
            let mut s = template.clone();
            s.name = format!("cam{i:02}");
            s
        })
        .collect();
    let mut app = App::new();
    attached(&mut app, &snapshot);
    render(80, 24, &mut app, &snapshot, NOW);
    for _ in 0..15 {
        press(&mut app, &snapshot, KeyCode::Down);
    }
    let text = screen_text(&render(80, 24, &mut app, &snapshot, NOW));
    assert!(text.contains("▶ cam16"), "{text}");
    assert!(!text.contains("cam01 "), "{text}");
}

#[test]
fn stream_output_and_state_changes_of_the_selected_stream_are_shown() {
    let mut app = app_after_a_minute();
    let snapshot = snapshot();
    let text = screen_text(&render(160, 48, &mut app, &snapshot, NOW));
    assert!(text.contains("$ ffmpeg -hide_banner"), "{text}");
    assert!(
        text.contains("Opening 'hls/stage/index.m3u8.tmp'"),
        "{text}"
    );
    assert!(text.contains("running: pid 41234"), "{text}");
    press(&mut app, &snapshot, KeyCode::Char('j'));
    let text = screen_text(&render(160, 48, &mut app, &snapshot, NOW));
    assert!(
        text.contains("last error: rtsp://****@10.0.0.12/stream1: Connection refused"),
        "{text}"
    );
}

#[test]
fn a_stream_on_its_slate_is_yellow_with_its_age_and_lists_its_processes() {
    use onair::engine::{FallbackSnapshot, ProcessRole, ProcessSnapshot, StreamState};
    let mut app = app_after_a_minute();
    let mut snapshot = snapshot();
    let stage = &mut snapshot.streams[0];
    stage.state = StreamState::Fallback {
        since: NOW - 12_000,
        reason: "source: Connection refused".into(),
        forced: false,
    };
    stage.processes = vec![
        ProcessSnapshot {
            role: ProcessRole::Ingest,
            pid: Some(41_300),
            cpu_percent: Some(1.5),
            rss_bytes: Some(20_000_000),
            state: "retrying".into(),
        },
        ProcessSnapshot {
            role: ProcessRole::Output,
            pid: Some(41_234),
            cpu_percent: Some(2.0),
            rss_bytes: Some(30_000_000),
            state: "running".into(),
        },
    ];
    stage.fallback = Some(FallbackSnapshot {
        on_air: "slate".into(),
        fallbacks: 1,
        slate_seconds: 12.0,
        slate_seconds_total: 12.0,
        slate: "built-in card".into(),
        clip: "h264 320x180".into(),
        ..Default::default()
    });
    let terminal = render(160, 48, &mut app, &snapshot, NOW);
    let text = screen_text(&terminal);
    assert!(text.contains("fallback 12s"), "{text}");
    let (x, y) = text
        .lines()
        .enumerate()
        .find_map(|(y, line)| line.find("fallback 12s").map(|x| (x, y)))
        .expect("the state cell");
    let column = text.lines().nth(y).expect("line")[..x].chars().count();
    let cell = &terminal.backend().buffer()[(column as u16, y as u16)];
    assert_eq!(cell.fg, Color::Yellow);
    assert!(
        text.contains("ingest pid 41300 retrying") && text.contains("output pid 41234 running"),
        "{text}"
    );
    assert!(
        text.contains("on air: slate · slate: built-in card (h264 320x180) · 1 fallback(s)"),
        "{text}"
    );
}
