//! The stream table: one row per stream, columns dropped by priority when
//! the terminal is narrow, never wrapped.

use super::Scene;
use super::meter;
use super::text::fit;
use crate::config::Profile;
use crate::engine::{StreamSnapshot, StreamState};
use crate::tui::format;
use crate::tui::history::CPU_WINDOW_MILLIS;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

/// The marker in front of the selected row.
const MARKER: &str = "▶";
/// Columns taken by the marker and its space.
const MARKER_WIDTH: u16 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    State,
    Alarms,
    Audio,
    Profile,
    Video,
    Output,
    Uptime,
    Cpu,
    Spark,
    Ram,
    Fps,
    Bitrate,
    Speed,
    Restarts,
    LastEvent,
}

/// Columns in the order they are given up when space runs out: the last
/// one goes first.
const PRIORITY: [Column; 16] = [
    Column::Name,
    Column::State,
    Column::Alarms,
    Column::Audio,
    Column::Cpu,
    Column::Profile,
    Column::Uptime,
    Column::Spark,
    Column::Ram,
    Column::Restarts,
    Column::Fps,
    Column::Video,
    Column::Bitrate,
    Column::Speed,
    Column::Output,
    Column::LastEvent,
];

/// Columns in the order they are shown.
const ORDER: [Column; 16] = [
    Column::Name,
    Column::State,
    Column::Alarms,
    Column::Audio,
    Column::Profile,
    Column::Video,
    Column::Output,
    Column::Uptime,
    Column::Cpu,
    Column::Spark,
    Column::Ram,
    Column::Fps,
    Column::Bitrate,
    Column::Speed,
    Column::Restarts,
    Column::LastEvent,
];

/// Room for one flag with its duration (`SILENT 12m03s`).
const ALARMS_WIDTH: u16 = 13;

/// The raised alarms in `width` cells: every flag with its duration if they
/// fit, else the words alone, else the first flag and how many more.
fn alarm_flags(stream: &StreamSnapshot, now: u64, width: usize) -> Line<'static> {
    let full = meter::flags(stream, now);
    if full.is_empty() {
        return Line::default();
    }
    let words: Vec<Span> = stream
        .alarms
        .iter()
        .map(|a| Span::styled(meter::flag_word(a.kind), meter::flag_style()))
        .flat_map(|s| [Span::raw(" "), s])
        .skip(1)
        .collect();
    let first: Vec<Span> = full
        .iter()
        .take(1)
        .cloned()
        .chain(
            (stream.alarms.len() > 1)
                .then(|| {
                    [
                        Span::raw(" "),
                        Span::styled(
                            format!("+{}", stream.alarms.len() - 1),
                            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                        ),
                    ]
                })
                .into_iter()
                .flatten(),
        )
        .collect();
    let fits = |spans: &Vec<Span>| spans.iter().map(Span::width).sum::<usize>() <= width;
    let chosen = [full, words, first]
        .into_iter()
        .find(fits)
        .unwrap_or_else(|| {
            vec![Span::styled(
                meter::flag_word(stream.alarms[0].kind),
                meter::flag_style(),
            )]
        });
    Line::from(chosen)
}

/// The last-event column only appears with at least this much room.
const LAST_EVENT_MIN: u16 = 12;

impl Column {
    fn title(self) -> &'static str {
        match self {
            Column::Name => "STREAM",
            Column::State => "STATE",
            Column::Alarms => "ALARMS",
            Column::Audio => "AUDIO",
            Column::Profile => "PROFILE",
            Column::Video => "VIDEO",
            Column::Output => "OUTPUT",
            Column::Uptime => "UPTIME",
            Column::Cpu => "CPU",
            Column::Spark => "CPU 60s",
            Column::Ram => "RAM",
            Column::Fps => "FPS",
            Column::Bitrate => "BITRATE",
            Column::Speed => "SPEED",
            Column::Restarts => "RST",
            Column::LastEvent => "LAST EVENT",
        }
    }

    fn right_aligned(self) -> bool {
        matches!(
            self,
            Column::Cpu
                | Column::Ram
                | Column::Fps
                | Column::Bitrate
                | Column::Speed
                | Column::Restarts
        )
    }
}

/// Draws the table; returns how many stream rows fit.
pub fn draw(frame: &mut Frame, area: Rect, scene: &Scene) -> usize {
    let streams = scene.app.visible(scene.snapshot);
    let rows_fit = area.height.saturating_sub(1) as usize;
    if area.height == 0 {
        return 0;
    }
    let widths = column_widths(&streams, area.width);
    let columns: Vec<Column> = ORDER
        .iter()
        .copied()
        .filter(|c| widths.iter().any(|(w, _)| w == c))
        .collect();
    let width_of = |column: Column| {
        widths
            .iter()
            .find(|(c, _)| *c == column)
            .map_or(0, |(_, w)| *w)
    };

    let selected = scene.app.selected();
    let selected_index = streams
        .iter()
        .position(|s| Some(s.name.as_str()) == selected);
    let offset = match selected_index {
        Some(index) if rows_fit > 0 && index >= rows_fit => index + 1 - rows_fit,
        _ => 0,
    };

    let header = Row::new(
        std::iter::once(Cell::from(""))
            .chain(columns.iter().map(|&c| align(c, c.title().to_string())))
            .collect::<Vec<_>>(),
    )
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));

    let rows: Vec<Row> = streams
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows_fit)
        .map(|(index, stream)| {
            let is_selected = Some(index) == selected_index;
            let marker = if is_selected { MARKER } else { "" };
            let cells = std::iter::once(Cell::from(marker)).chain(
                columns
                    .iter()
                    .map(|&c| cell(c, stream, scene, width_of(c) as usize)),
            );
            let mut style = if matches!(stream.state, StreamState::Stopped) {
                Style::new().fg(Color::DarkGray)
            } else {
                Style::new()
            };
            if is_selected {
                style = style.add_modifier(Modifier::REVERSED);
            }
            Row::new(cells.collect::<Vec<_>>()).style(style)
        })
        .collect();

    let constraints: Vec<Constraint> = std::iter::once(Constraint::Length(MARKER_WIDTH - 1))
        .chain(columns.iter().map(|&c| Constraint::Length(width_of(c))))
        .collect();
    let mut table = Table::new(rows, constraints)
        .header(header)
        .column_spacing(1);
    if streams.is_empty() {
        let text = if scene.snapshot.streams.is_empty() {
            "no streams in the config"
        } else {
            "no stream matches the filter (Esc clears it)"
        };
        table = Table::new(
            vec![Row::new(vec![Cell::from(""), Cell::from(text)])],
            [Constraint::Length(MARKER_WIDTH - 1), Constraint::Fill(1)],
        )
        .column_spacing(1);
    }
    frame.render_widget(table, area);
    rows_fit
}

/// The columns that fit in `total` columns of terminal, with their widths.
fn column_widths(streams: &[&StreamSnapshot], total: u16) -> Vec<(Column, u16)> {
    let name_width = streams
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(Column::Name.title().len(), 24) as u16;
    let output_width = streams
        .iter()
        .map(|s| s.output.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(Column::Output.title().len(), 24) as u16;
    let video_width = streams
        .iter()
        .map(|s| video_text(s).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(Column::Video.title().len(), 16) as u16;
    let spark_width = if total >= 180 { 20 } else { 10 };
    let audio_width = if total >= 200 { 15 } else { 11 };

    let mut used = MARKER_WIDTH;
    let mut chosen = Vec::new();
    for column in PRIORITY {
        let width = match column {
            Column::Name => name_width,
            Column::State => 12,
            Column::Alarms => ALARMS_WIDTH,
            Column::Audio => audio_width,
            Column::Profile => 7,
            Column::Video => video_width,
            Column::Output => output_width,
            Column::Uptime => 6,
            Column::Cpu => 6,
            Column::Spark => spark_width,
            Column::Ram => 6,
            Column::Fps => 5,
            Column::Bitrate => 7,
            Column::Speed => 5,
            Column::Restarts => 3,
            Column::LastEvent => LAST_EVENT_MIN,
        };
        let spacing = if chosen.is_empty() { 0 } else { 1 };
        if used + spacing + width > total {
            break;
        }
        let width = if column == Column::LastEvent {
            total - used - spacing
        } else {
            width
        };
        used += spacing + width;
        chosen.push((column, width));
    }
    chosen
}

fn align(column: Column, text: String) -> Cell<'static> {
    let line = Line::from(text);
    if column.right_aligned() {
        Cell::from(line.alignment(Alignment::Right))
    } else {
        Cell::from(line)
    }
}

fn dash() -> String {
    "-".to_string()
}

fn cell(column: Column, stream: &StreamSnapshot, scene: &Scene, width: usize) -> Cell<'static> {
    let now = scene.now;
    let text = match column {
        Column::Name => fit(&stream.name, width),
        Column::State => return state_cell(stream, now),
        Column::Alarms => return Cell::from(alarm_flags(stream, now, width)),
        Column::Audio => return Cell::from(meter::meter(stream, now, width)),
        Column::Profile => match stream.profile {
            Profile::LowLatency => "low-lat".to_string(),
            Profile::Stable => "stable".to_string(),
        },
        Column::Video => {
            let style = if stream.warnings.is_empty() {
                Style::new()
            } else {
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
            };
            return Cell::from(fit(&video_text(stream), width)).style(style);
        }
        Column::Output => fit(&stream.output, width),
        Column::Uptime => match (&stream.state, stream.running_since) {
            (StreamState::Running | StreamState::Stalled, Some(since)) => {
                format::duration(now.saturating_sub(since))
            }
            _ => dash(),
        },
        Column::Cpu => live(stream, stream.cpu_percent).map_or_else(dash, format::percent),
        Column::Spark => {
            let samples = scene.app.cpu().samples(&stream.name);
            let line = format::sparkline(&samples, now, CPU_WINDOW_MILLIS, width);
            return Cell::from(line).style(Style::new().fg(Color::Cyan));
        }
        Column::Ram => live(stream, stream.rss_bytes).map_or_else(dash, format::bytes),
        Column::Fps => live(stream, stream.fps).map_or_else(dash, format::fps),
        Column::Bitrate => live(stream, stream.bitrate_kbps).map_or_else(dash, format::bitrate),
        Column::Speed => live(stream, stream.speed).map_or_else(dash, format::speed),
        Column::Restarts => stream.restarts.to_string(),
        Column::LastEvent => return last_event_cell(stream, width),
    };
    align(column, text)
}

/// A measurement of the current FFmpeg; none without a process, so that
/// a stopped stream never shows its last process's numbers as current.
fn live<T>(stream: &StreamSnapshot, value: Option<T>) -> Option<T> {
    stream.pid.and(value)
}

fn state_cell(stream: &StreamSnapshot, now: u64) -> Cell<'static> {
    let (text, color) = match &stream.state {
        // Running, but something will not play as configured: see VIDEO and the detail pane.
        StreamState::Running if !stream.warnings.is_empty() => {
            ("running !".to_string(), Some(Color::Yellow))
        }
        StreamState::Running => ("running".to_string(), Some(Color::Green)),
        StreamState::Starting => ("starting".to_string(), Some(Color::Yellow)),
        StreamState::Stalled => ("stalled".to_string(), Some(Color::Yellow)),
        StreamState::Retrying { attempt, retry_at } => (
            format!("retry {} #{attempt}", format::countdown(*retry_at, now)),
            Some(Color::Yellow),
        ),
        StreamState::Failed { .. } => ("FAILED".to_string(), Some(Color::Red)),
        StreamState::Stopped => ("stopped".to_string(), None),
        // 12 columns: "fallback 59s", "bumper 1m02s".
        StreamState::Fallback { since, forced, .. } => (
            format!(
                "{} {}",
                if *forced { "bumper" } else { "fallback" },
                format::duration(now.saturating_sub(*since))
            ),
            Some(Color::Yellow),
        ),
    };
    let style = match color {
        Some(color) => Style::new().fg(color).add_modifier(Modifier::BOLD),
        None => Style::new(),
    };
    Cell::from(text).style(style)
}

/// What the stream does with its video (`copy`, `h264 from hevc`), with a
/// `!` when something will not play as configured.
fn video_text(stream: &StreamSnapshot) -> String {
    let label = if stream.handling.is_empty() {
        "-"
    } else {
        stream.handling.as_str()
    };
    if stream.warnings.is_empty() {
        label.to_string()
    } else {
        format!("{label} !")
    }
}

fn last_event_cell(stream: &StreamSnapshot, width: usize) -> Cell<'static> {
    if let StreamState::Failed { reason } = &stream.state {
        return Cell::from(fit(reason, width)).style(Style::new().fg(Color::Red));
    }
    if let StreamState::Fallback { reason, .. } = &stream.state {
        return Cell::from(fit(reason, width)).style(Style::new().fg(Color::Yellow));
    }
    if let (StreamState::Running, Some(warning)) = (&stream.state, stream.warnings.first()) {
        return Cell::from(fit(warning, width)).style(Style::new().fg(Color::Yellow));
    }
    let troubled = !matches!(stream.state, StreamState::Running | StreamState::Stopped);
    if let (true, Some(error)) = (troubled, &stream.last_error) {
        return Cell::from(fit(error, width)).style(Style::new().fg(Color::Yellow));
    }
    let text = stream
        .last_change
        .as_ref()
        .map(|change| fit(&change.text, width))
        .unwrap_or_default();
    Cell::from(text)
}
