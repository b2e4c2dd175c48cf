//! The console's meters, alarm flags and picture, drawn from fixed
//! snapshots into ratatui's TestBackend (the picture with Unicode
//! half-blocks, as in any terminal without graphics) and compared with
//! reviewed snapshots.

mod console_fixtures;

use console_fixtures::{NOW, snapshot_at};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use image::{DynamicImage, Rgb, RgbImage};
use onair::engine::{
    Alarm, AlarmKind, AudioLevels, ChannelLevel, Snapshot, StreamSnapshot, StreamState, Thumbnail,
};
use onair::server::ServerStats;
use onair::tui::app::App;
use onair::tui::view::{self, Scene};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

/// Colour bars, left to right.
const BARS: [[u8; 3]; 7] = [
    [235, 235, 235],
    [235, 235, 16],
    [16, 235, 235],
    [16, 235, 16],
    [235, 16, 235],
    [235, 16, 16],
    [16, 16, 235],
];

/// Colour bars over a black and white checkerboard, like a test card.
fn test_card() -> DynamicImage {
    let image = RgbImage::from_fn(320, 180, |x, y| {
        if y < 120 {
            Rgb(BARS[(x as usize * 7) / 320])
        } else if (x / 20 + y / 10) % 2 == 0 {
            Rgb([235, 235, 235])
        } else {
            Rgb([16, 16, 16])
        }
    });
    DynamicImage::ImageRgb8(image)
}

fn level(peak: f32, rms: f32) -> ChannelLevel {
    ChannelLevel {
        peak_dbfs: peak,
        rms_dbfs: rms,
    }
}

/// The fixture streams, with what the audience gets: `stage` loud on the
/// right channel and frozen for 12 s, a new `hall` stream silent and black,
/// `foyer` clipping.
fn snapshot() -> Snapshot {
    let mut snapshot = snapshot_at(NOW, 12.5);
    let stage = &mut snapshot.streams[0];
    stage.analysis = true;
    stage.audio = Some(AudioLevels {
        channels: vec![level(-18.2, -21.3), level(-6.4, -9.5)],
        at: NOW - 100,
    });
    stage.alarms = vec![Alarm {
        kind: AlarmKind::Frozen,
        since: NOW - 12_000,
        detail: "picture unchanged for 5 s".to_string(),
    }];
    stage.thumbnail = Some(Thumbnail {
        path: "/srv/venue/hls/.thumbs/stage.jpg".to_string(),
        updated_at: NOW - 1_000,
    });
    let running = |name: &str| StreamSnapshot {
        name: name.to_string(),
        enabled: true,
        state: StreamState::Running,
        pid: Some(42_000),
        running_since: Some(NOW - 600_000),
        analysis: true,
        output: "hls".to_string(),
        ..StreamSnapshot::default()
    };
    let mut hall = running("hall");
    hall.audio = Some(AudioLevels {
        channels: vec![level(-120.0, -120.0), level(-120.0, -120.0)],
        at: NOW - 50,
    });
    hall.alarms = vec![
        Alarm {
            kind: AlarmKind::Silent,
            since: NOW - 75_000,
            detail: "audio below -60 dBFS for 5 s".to_string(),
        },
        Alarm {
            kind: AlarmKind::Black,
            since: NOW - 9_000,
            detail: "picture black for 5 s".to_string(),
        },
    ];
    let mut foyer = running("foyer");
    foyer.audio = Some(AudioLevels {
        channels: vec![level(0.0, -4.0)],
        at: NOW - 80,
    });
    snapshot.streams.insert(1, hall);
    snapshot.streams.insert(2, foyer);
    snapshot
}

fn server() -> ServerStats {
    ServerStats {
        listen: "127.0.0.1:8080".to_string(),
        screens_connected: 2,
        requests: 1200,
        bytes: 64_000_000,
        error: None,
    }
}

/// An app that has seen the snapshot, with the stage's picture read.
fn app(snapshot: &Snapshot) -> App {
    let mut app = App::new();
    app.observe(snapshot);
    app.picture_mut().set("stage", NOW - 1_000, test_card());
    app
}

fn render(width: u16, height: u16, app: &mut App, snapshot: &Snapshot) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    let server = server();
    let scene = Scene {
        snapshot,
        server: &server,
        app,
        now: NOW,
        utc_offset_secs: 0,
    };
    let mut rendered = Default::default();
    terminal
        .draw(|frame| rendered = view::draw(frame, &scene))
        .expect("draw");
    app.set_rendered(rendered);
    terminal
}

/// Where `text` starts on screen.
fn find(terminal: &Terminal<TestBackend>, text: &str) -> Option<(u16, u16)> {
    let buffer = terminal.backend().buffer();
    let width = buffer.area.width;
    (0..buffer.area.height).find_map(|y| {
        let line: Vec<String> = (0..width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        let joined = line.concat();
        joined.find(text).map(|byte| {
            let x = joined[..byte].chars().count() as u16;
            (x, y)
        })
    })
}

fn fg_at(terminal: &Terminal<TestBackend>, at: (u16, u16)) -> Option<Color> {
    terminal.backend().buffer()[at].style().fg
}

/// Where `text` starts in the table row of `stream`.
fn find_in_row(terminal: &Terminal<TestBackend>, stream: &str, text: &str) -> Option<(u16, u16)> {
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height).find_map(|y| {
        let row: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        let name = row.trim_start_matches(['▶', ' ']);
        if !name.starts_with(&format!("{stream} ")) {
            return None;
        }
        let from = row.find(stream)? + stream.len();
        let byte = row[from..].find(text)? + from;
        Some((row[..byte].chars().count() as u16, y))
    })
}

/// The cells of the picture: half-blocks in true colour (a cell whose two
/// halves have the same colour is a space in that colour).
fn picture_cells(terminal: &Terminal<TestBackend>) -> Vec<(u16, u16)> {
    let buffer = terminal.backend().buffer();
    let mut cells = Vec::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            if matches!(buffer[(x, y)].style().fg, Some(Color::Rgb(..))) {
                cells.push((x, y));
            }
        }
    }
    cells
}

#[test]
fn meters_flags_and_picture_at_80x24() {
    let snapshot = snapshot();
    let mut app = app(&snapshot);
    let terminal = render(80, 24, &mut app, &snapshot);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn meters_flags_and_picture_at_160x48() {
    let snapshot = snapshot();
    let mut app = app(&snapshot);
    let terminal = render(160, 48, &mut app, &snapshot);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn the_picture_is_drawn_in_its_colours_left_to_right() {
    let snapshot = snapshot();
    let mut app = app(&snapshot);
    for (width, height) in [(80, 24), (160, 48)] {
        let terminal = render(width, height, &mut app, &snapshot);
        let cells = picture_cells(&terminal);
        assert!(
            cells.len() >= 100,
            "{width}x{height}: {} cells",
            cells.len()
        );
        let left = cells.iter().map(|c| c.0).min().expect("cells");
        let right = cells.iter().map(|c| c.0).max().expect("cells");
        let top = cells.iter().map(|c| c.1).min().expect("cells");
        let rgb = |x| match fg_at(&terminal, (x, top)) {
            Some(Color::Rgb(r, g, b)) => [r, g, b],
            other => panic!("{width}x{height}: not a picture cell: {other:?}"),
        };
        let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) < 40);
        assert!(
            close(rgb(left), BARS[0]),
            "white at the left: {:?}",
            rgb(left)
        );
        // The last column may blend with the edge.
        assert!(
            close(rgb(right - 1), BARS[6]),
            "blue at the right: {:?}",
            rgb(right - 1)
        );
    }
}

#[test]
fn meters_are_coloured_by_level_and_flags_are_red() {
    let snapshot = snapshot();
    let mut app = app(&snapshot);
    let terminal = render(160, 48, &mut app, &snapshot);
    // The table's meters: stage peaks at -6 (yellow), foyer clips (red),
    // hall is silent (dim).
    let (audio, _) = find(&terminal, "AUDIO").expect("an AUDIO column");
    for (stream, number, colour) in [
        ("stage", " -6", Color::Yellow),
        ("foyer", "  0", Color::Red),
        ("hall", " -∞", Color::DarkGray),
    ] {
        let (_, y) = find_in_row(&terminal, stream, number).expect("the stream's meter");
        assert_eq!(fg_at(&terminal, (audio, y)), Some(colour), "{stream}'s bar");
    }
    // Flags with how long the problem has lasted (the words alone when
    // two do not fit).
    for flag in ["FROZEN 12s", "SILENT BLACK"] {
        let at = find(&terminal, flag).unwrap_or_else(|| panic!("{flag} is shown"));
        assert_eq!(
            terminal.backend().buffer()[at].style().bg,
            Some(Color::Red),
            "{flag}"
        );
    }
    // The picture pane lists each channel with peak and RMS.
    assert!(find(&terminal, "-18 pk -21 rms").is_some());
    assert!(find(&terminal, " -6 pk -10 rms").is_some());
}

#[test]
fn v_hides_and_shows_the_picture() {
    let snapshot = snapshot();
    let mut app = app(&snapshot);
    let press = |app: &mut App| {
        app.handle_key(
            KeyEvent::new(KeyCode::Char('v'), KeyModifiers::NONE),
            &snapshot,
            NOW,
        )
    };
    press(&mut app);
    let hidden = render(80, 24, &mut app, &snapshot);
    assert!(picture_cells(&hidden).is_empty());
    assert!(find(&hidden, "picture hidden").is_some(), "flash line");
    assert!(find(&hidden, "-18 pk").is_some(), "the meters stay");
    press(&mut app);
    let shown = render(80, 24, &mut app, &snapshot);
    assert!(!picture_cells(&shown).is_empty());
}

#[test]
fn a_newly_raised_alarm_flashes_once() {
    let mut snapshot = snapshot();
    let mut app = app(&snapshot);
    snapshot.seq += 1;
    snapshot.streams[2].alarms.push(Alarm {
        kind: AlarmKind::Black,
        since: NOW - 5_000,
        detail: "picture black for 5 s".to_string(),
    });
    app.observe(&snapshot);
    let terminal = render(80, 24, &mut app, &snapshot);
    assert!(
        find(&terminal, "foyer: BLACK — picture black for 5 s").is_some(),
        "{}",
        terminal.backend()
    );
}

#[test]
fn a_wanted_picture_is_the_selected_streams_newer_one() {
    let snapshot = snapshot();
    let app = app(&snapshot);
    // The held picture is the newest: nothing to read.
    assert_eq!(app.picture().wanted(app.selected_stream(&snapshot)), None);
    let mut newer = snapshot.clone();
    if let Some(thumbnail) = newer.streams[0].thumbnail.as_mut() {
        thumbnail.updated_at = NOW + 1_000;
    }
    let wanted = app
        .picture()
        .wanted(app.selected_stream(&newer))
        .expect("a newer picture");
    assert_eq!(wanted.stream, "stage");
    assert_eq!(wanted.updated_at, NOW + 1_000);
}
