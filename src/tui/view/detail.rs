//! The panes under the table: the selected stream's FFmpeg command and
//! output, its recent state changes, and the engine's log. Each one
//! follows its newest line until the operator scrolls it.

use super::picture;
use super::text::{clean, wrap, wrap_at_most};
use super::{Scene, WIDE_COLUMNS};
use crate::engine::{ProcessRole, StreamSnapshot};
use crate::tui::app::{Focus, Pane, PaneExtent, Rendered};
use crate::tui::format;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// Lines of the FFmpeg command shown above its output when the output pane
/// is not focused (focusing it shows the whole command).
const COMMAND_LINES: usize = 2;

/// Columns of the picture pane on terminals narrower than [`WIDE_COLUMNS`].
const PICTURE_COLUMNS: u16 = 30;
/// Below this width there is no room for a picture beside the logs.
const PICTURE_MIN_TOTAL: u16 = 64;

/// Draws the panes (the picture and sound of the selected stream, its
/// FFmpeg output, its state changes and the engine log) and records the
/// extents of the scrolling ones in `rendered`.
pub fn draw(frame: &mut Frame, area: Rect, scene: &Scene, rendered: &mut Rendered) {
    if area.height == 0 {
        return;
    }
    let stream = scene.app.selected_stream(scene.snapshot);
    let picture_height =
        |width: u16| picture::height(scene, stream, width).min(area.height.saturating_sub(3));
    // The screens pane takes a line per screen (and its title), within limits.
    let reports = scene.snapshot.screen_reports.len().max(1) as u16;
    let (picture_area, output_area, history_area, screens_area, log_area) =
        if area.width >= WIDE_COLUMNS {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                    .spacing(1)
                    .areas(area);
            let [picture, rest] = Layout::vertical([
                Constraint::Length(picture_height(right.width)),
                Constraint::Min(0),
            ])
            .areas(right);
            let screens_height = (reports + 1).min(rest.height * 3 / 10).max(2);
            let [top, middle, bottom] = Layout::vertical([
                Constraint::Percentage(35),
                Constraint::Length(screens_height),
                Constraint::Min(0),
            ])
            .areas(rest);
            (Some(picture), left, top, middle, bottom)
        } else if area.width >= PICTURE_MIN_TOTAL {
            let [left, right] =
                Layout::horizontal([Constraint::Length(PICTURE_COLUMNS), Constraint::Min(0)])
                    .spacing(1)
                    .areas(area);
            let [picture, history] = Layout::vertical([
                Constraint::Length(picture_height(left.width)),
                Constraint::Min(0),
            ])
            .areas(left);
            let screens_height = (reports + 1).min(right.height / 5).max(2);
            let [output, screens, log] = Layout::vertical([
                Constraint::Percentage(55),
                Constraint::Length(screens_height),
                Constraint::Min(0),
            ])
            .areas(right);
            (Some(picture), output, history, screens, log)
        } else {
            let screens_height = (reports + 1).min(area.height / 5).max(2);
            let [a, b, c, d] = Layout::vertical([
                Constraint::Percentage(45),
                Constraint::Percentage(18),
                Constraint::Length(screens_height),
                Constraint::Min(0),
            ])
            .areas(area);
            (None, a, b, c, d)
        };
    if let Some(picture_area) = picture_area {
        picture::draw(frame, picture_area, scene, stream);
    }
    rendered.output = output_pane(frame, output_area, scene, stream);
    rendered.history = history_pane(frame, history_area, scene, stream);
    rendered.screens = screens_pane(frame, screens_area, scene);
    rendered.log = log_pane(frame, log_area, scene);
}

fn screens_pane(frame: &mut Frame, area: Rect, scene: &Scene) -> PaneExtent {
    let scroll = scene.app.scroll(Pane::Screens);
    let reports = &scene.snapshot.screen_reports;
    let title: String = super::screens::count_spans(reports, false)
        .iter()
        .map(|s| s.content.as_ref())
        .collect();
    let block = pane_block(title, scene.app.focus() == Focus::Screens, scroll);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = super::screens::lines(reports, inner.width as usize);
    scrolled_view(frame, inner, lines, scroll)
}

/// A pane's frame: a top rule carrying the title, highlighted when focused.
fn pane_block(title: String, focused: bool, scrolled: usize) -> Block<'static> {
    let mut spans = vec![Span::raw(title)];
    if scrolled > 0 {
        spans.push(Span::styled(
            format!(" ↑{scrolled} (End follows)"),
            Style::new().fg(Color::Yellow),
        ));
    }
    rule(spans, focused)
}

/// A top rule carrying a title made of `spans` (bold, unless a span has a
/// style of its own), highlighted when focused.
pub(super) fn rule(spans: Vec<Span<'static>>, focused: bool) -> Block<'static> {
    let (title_style, rule_style) = if focused {
        (
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Style::new().fg(Color::Cyan),
        )
    } else {
        (
            Style::new().add_modifier(Modifier::BOLD),
            Style::new().fg(Color::DarkGray),
        )
    };
    let mut title = vec![Span::raw(" ")];
    title.extend(spans.into_iter().map(|span| {
        if span.style == Style::default() {
            span.style(title_style)
        } else {
            span
        }
    }));
    title.push(Span::raw(" "));
    Block::new()
        .borders(Borders::TOP)
        .border_style(rule_style)
        .title(Line::from(title))
}

/// Shows the window of `lines` that ends `scroll` lines above the newest
/// one, and reports the pane's extent.
fn scrolled_view(
    frame: &mut Frame,
    area: Rect,
    lines: Vec<Line<'static>>,
    scroll: usize,
) -> PaneExtent {
    let height = area.height as usize;
    let total = lines.len();
    let max_scroll = total.saturating_sub(height);
    let scroll = scroll.min(max_scroll);
    let start = total.saturating_sub(height + scroll);
    let visible: Vec<Line> = lines.into_iter().skip(start).take(height).collect();
    frame.render_widget(Paragraph::new(visible), area);
    PaneExtent {
        lines: total,
        height,
    }
}

fn output_pane(
    frame: &mut Frame,
    area: Rect,
    scene: &Scene,
    stream: Option<&StreamSnapshot>,
) -> PaneExtent {
    let focused = scene.app.focus() == Focus::Output;
    let scroll = scene.app.scroll(Pane::Output);
    let title = match stream {
        Some(s) => {
            let pid = s.pid.map(|pid| format!(" · pid {pid}")).unwrap_or_default();
            format!(
                "{} → {}{pid} · {} · FFmpeg output",
                clean(&s.name),
                clean(&s.output),
                s.profile,
            )
        }
        None => "FFmpeg output".to_string(),
    };
    let block = pane_block(title, focused, scroll);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(stream) = stream else {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "no stream selected",
                Style::new().fg(Color::DarkGray),
            )),
            inner,
        );
        return PaneExtent::default();
    };
    let width = inner.width as usize;
    let command_cap = if focused {
        (inner.height as usize).saturating_sub(2).max(COMMAND_LINES)
    } else {
        COMMAND_LINES
    };
    let command_cap = command_cap.min((inner.height as usize).saturating_sub(1).max(1));
    // A stream with fallback runs two commands: its ingest and its output.
    let commands: Vec<&str> = stream.command.lines().collect();
    let per_command = (command_cap / commands.len().max(1)).max(1);
    let mut command: Vec<Line> = commands
        .iter()
        .flat_map(|c| wrap_at_most(&format!("$ {c}"), width, per_command))
        .map(|piece| Line::styled(piece, Style::new().fg(Color::Cyan)))
        .collect();
    // What the source is and what will not play stay in view above the output.
    command.extend(source_lines(stream, width));
    let command_height = (command.len() as u16).min(inner.height);
    let [command_area, output_area] =
        Layout::vertical([Constraint::Length(command_height), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(command), command_area);

    let mut lines: Vec<Line<'static>> = Vec::new();
    for text in process_lines(stream) {
        for piece in wrap(&text, width) {
            lines.push(Line::styled(piece, Style::new().fg(Color::Gray)));
        }
    }
    if let Some(error) = &stream.last_error {
        for piece in wrap(&format!("last error: {error}"), width) {
            lines.push(Line::styled(piece, Style::new().fg(Color::Red)));
        }
    }
    let stderr = scene
        .app
        .details()
        .map(|d| d.stderr.as_slice())
        .unwrap_or_default();
    if stderr.is_empty() {
        lines.push(Line::styled(
            "(no output from FFmpeg yet)",
            Style::new().fg(Color::DarkGray),
        ));
    }
    for raw in stderr {
        let style = if raw.to_ascii_lowercase().contains("error") {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        };
        for piece in wrap(raw, width) {
            lines.push(Line::styled(piece, style));
        }
    }
    scrolled_view(frame, output_area, lines, scroll)
}

/// The stream's processes with their CPU and memory, and what its relay
/// has on the air: a stream's figures in the table are these summed.
fn process_lines(stream: &StreamSnapshot) -> Vec<String> {
    let mut lines = Vec::new();
    if stream.processes.len() > 1 {
        let parts: Vec<String> = stream
            .processes
            .iter()
            .map(|p| {
                let figures = match (p.cpu_percent, p.rss_bytes) {
                    (Some(cpu), Some(rss)) => {
                        format!(" {} {}", format::percent(cpu), format::bytes(rss))
                    }
                    _ => String::new(),
                };
                let pid = p.pid.map(|pid| format!(" pid {pid}")).unwrap_or_default();
                format!("{}{pid} {}{figures}", role_name(p.role), p.state)
            })
            .collect();
        lines.push(parts.join(" · "));
    }
    if let Some(f) = &stream.fallback {
        let mut text = format!("on air: {}", f.on_air);
        if f.forced {
            text.push_str(" (bumper)");
        }
        text.push_str(&format!(
            " · slate: {} ({}) · {} fallback(s), {:.0} s on slate",
            f.slate, f.clip, f.fallbacks, f.slate_seconds_total
        ));
        if let Some(format) = &f.live_format {
            text.push_str(&format!(" · source: {format}"));
        }
        lines.push(text);
    }
    lines
}

/// `source: hevc 1280×720 25 fps · aac 48 kHz stereo → video h264 from hevc`,
/// then every warning.
fn source_lines(stream: &StreamSnapshot, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(source) = &stream.source {
        let handling = if stream.handling.is_empty() {
            String::new()
        } else {
            format!(" → video {}", stream.handling)
        };
        for piece in wrap(&format!("source: {}{handling}", source.summary()), width) {
            lines.push(Line::styled(piece, Style::new().fg(Color::Green)));
        }
    }
    for warning in &stream.warnings {
        for piece in wrap(&format!("warning: {}", clean(warning)), width) {
            lines.push(Line::styled(
                piece,
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ));
        }
    }
    lines
}

fn role_name(role: ProcessRole) -> &'static str {
    match role {
        ProcessRole::Stream => "ffmpeg",
        ProcessRole::Ingest => "ingest",
        ProcessRole::Output => "output",
        ProcessRole::Slate => "slate",
    }
}

fn history_pane(
    frame: &mut Frame,
    area: Rect,
    scene: &Scene,
    stream: Option<&StreamSnapshot>,
) -> PaneExtent {
    let scroll = scene.app.scroll(Pane::History);
    let title = match stream {
        Some(s) => format!("{} · state changes", clean(&s.name)),
        None => "state changes".to_string(),
    };
    let block = pane_block(title, scene.app.focus() == Focus::History, scroll);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = Vec::new();
    let history = stream
        .and(scene.app.details())
        .map(|d| d.history.as_slice())
        .unwrap_or_default();
    for change in history {
        let text = format!(
            "{} {}",
            format::clock(change.at, scene.utc_offset_secs),
            change.text
        );
        for piece in wrap(&text, width) {
            lines.push(Line::raw(piece));
        }
    }
    scrolled_view(frame, inner, lines, scroll)
}

fn log_pane(frame: &mut Frame, area: Rect, scene: &Scene) -> PaneExtent {
    let scroll = scene.app.scroll(Pane::Log);
    let block = pane_block(
        "engine log".to_string(),
        scene.app.focus() == Focus::Log,
        scroll,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = Vec::new();
    for entry in scene.app.log() {
        let style = match entry.level.as_str() {
            "error" => Style::new().fg(Color::Red),
            "warn" => Style::new().fg(Color::Yellow),
            _ => Style::new(),
        };
        let stream = entry
            .stream
            .as_deref()
            .map(|name| format!("{name}: "))
            .unwrap_or_default();
        let text = format!(
            "{} {stream}{}",
            format::clock(entry.at, scene.utc_offset_secs),
            entry.text
        );
        for piece in wrap(&text, width) {
            lines.push(Line::styled(piece, style));
        }
    }
    scrolled_view(frame, inner, lines, scroll)
}
