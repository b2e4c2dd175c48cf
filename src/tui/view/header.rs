//! The two header lines: the machine, the HTTP server and the consoles
//! attached, then the state of `streams.toml` (when it was loaded, or what
//! is wrong with it).

use super::Scene;
use super::text::clean;
use crate::tui::format;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Below this width the header counts only the screens that do not play.
const COMPACT_BELOW: u16 = 120;

/// Lines the header takes.
pub const HEIGHT: u16 = 2;

/// Draws both header lines.
pub fn draw(frame: &mut Frame, area: Rect, scene: &Scene) {
    let lines = vec![machine_line(scene, area.width), config_line(scene)];
    frame.render_widget(Paragraph::new(lines), area);
}

fn label(text: &str) -> Span<'static> {
    Span::styled(text.to_string(), Style::new().fg(Color::DarkGray))
}

fn value(text: String) -> Span<'static> {
    Span::styled(text, Style::new().add_modifier(Modifier::BOLD))
}

/// Joins groups of spans with two spaces, keeping only the groups that
/// fit whole in `width` columns (in order; a group that does not fit ends
/// the line), so that nothing is cut in the middle of a number.
fn fitted(groups: Vec<Vec<Span<'static>>>, width: u16) -> Line<'static> {
    let mut spans = Vec::new();
    let mut used = 0usize;
    for group in groups {
        let gap = if spans.is_empty() { 0 } else { 2 };
        let group_width: usize = group.iter().map(Span::width).sum();
        if used + gap + group_width > width as usize {
            break;
        }
        if gap > 0 {
            spans.push(Span::raw("  "));
        }
        used += gap + group_width;
        spans.extend(group);
    }
    Line::from(spans)
}

fn machine_line(scene: &Scene, width: u16) -> Line<'static> {
    let host = &scene.snapshot.host;
    let cores = host.cores.max(1);
    let server = scene.server;
    let listen = if server.listen.is_empty() {
        &scene.snapshot.listen
    } else {
        &server.listen
    };
    let http = match &server.error {
        Some(error) => vec![Span::styled(
            format!("HTTP {}", clean(error)),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )],
        None => vec![value(format!("http://{}", clean(listen)))],
    };
    let screens = server.screens_connected;
    let consoles = scene.app.consoles();
    let mut groups = vec![vec![Span::styled(
        "onair",
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
    )]];
    if !scene.app.bell().on() {
        // Said up front: a muted console must not look like a quiet venue.
        groups.push(vec![Span::styled(
            "bell muted (m)",
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )]);
    }
    groups.extend([
        vec![
            label("CPU "),
            value(format::percent(host.cpu_percent)),
            label(&format!(" of {cores} cores")),
        ],
        vec![
            label("RAM "),
            value(format!(
                "{}/{}",
                format::bytes(host.mem_used_bytes),
                format::bytes(host.mem_total_bytes)
            )),
        ],
        if scene.snapshot.screen_reports.is_empty() {
            vec![
                value(screens.to_string()),
                label(if screens == 1 { " screen" } else { " screens" }),
            ]
        } else {
            super::screens::count_spans(&scene.snapshot.screen_reports, width < COMPACT_BELOW)
        },
        http,
        vec![
            value(consoles.to_string()),
            label(if consoles == 1 {
                " console"
            } else {
                " consoles"
            }),
        ],
        vec![
            label("engine "),
            Span::raw(format!(
                "{} {}",
                format::percent(host.onair_cpu_percent),
                format::bytes(host.onair_rss_bytes)
            )),
        ],
    ]);
    fitted(groups, width)
}

fn config_line(scene: &Scene) -> Line<'static> {
    let config = &scene.snapshot.config;
    let file = std::path::Path::new(&config.path)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| config.path.clone());
    let mut spans = Vec::new();
    if let Some(error) = &config.error {
        let first_line = error.lines().next().unwrap_or_default();
        spans.push(Span::styled(
            format!("config error {}", clean(first_line)),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(
            " (previous config still running)",
            Style::new().fg(Color::Red),
        ));
    } else {
        spans.push(label("config "));
        spans.push(value(clean(&file)));
        match config.loaded_at {
            Some(at) => {
                spans.push(label(" loaded at "));
                spans.push(value(format::clock(at, scene.utc_offset_secs)));
            }
            None => spans.push(label(" not loaded")),
        }
    }
    let pending = config.pending_writes.len();
    if pending > 0 {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            format!(
                "{pending} key change{} not yet written to {file}",
                if pending == 1 { "" } else { "s" }
            ),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(first) = config.warnings.first() {
        spans.push(Span::raw("  "));
        let more = config.warnings.len() - 1;
        let more = if more > 0 {
            format!(" (+{more} more)")
        } else {
            String::new()
        };
        spans.push(Span::styled(
            format!("warning: {}{more}", clean(first)),
            Style::new().fg(Color::Yellow),
        ));
    }
    Line::from(spans)
}
