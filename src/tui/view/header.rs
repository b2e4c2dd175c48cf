//! The two header lines: the machine and the HTTP server, then the state
//! of `streams.toml` (when it was loaded, or what is wrong with it).

use super::Scene;
use super::text::clean;
use crate::tui::format;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Lines the header takes.
pub const HEIGHT: u16 = 2;

pub fn draw(frame: &mut Frame, area: Rect, scene: &Scene) {
    let lines = vec![machine_line(scene), config_line(scene)];
    frame.render_widget(Paragraph::new(lines), area);
}

fn label(text: &str) -> Span<'static> {
    Span::styled(text.to_string(), Style::new().fg(Color::DarkGray))
}

fn value(text: String) -> Span<'static> {
    Span::styled(text, Style::new().add_modifier(Modifier::BOLD))
}

fn separator() -> Span<'static> {
    Span::styled("  ", Style::new())
}

fn machine_line(scene: &Scene) -> Line<'static> {
    let host = &scene.snapshot.host;
    let cores = host.cores.max(1);
    let mut spans = vec![
        Span::styled(
            "onair ",
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ),
        label("CPU "),
        value(format::percent(host.cpu_percent)),
        label(format!(" of {cores} cores").as_str()),
        separator(),
        label("RAM "),
        value(format!(
            "{}/{}",
            format::bytes(host.mem_used_bytes),
            format::bytes(host.mem_total_bytes)
        )),
        separator(),
    ];
    let server = scene.server;
    let listen = if server.listen.is_empty() {
        &scene.snapshot.listen
    } else {
        &server.listen
    };
    match &server.error {
        Some(error) => spans.push(Span::styled(
            format!("HTTP {}", clean(error)),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )),
        None => spans.push(value(format!("http://{}", clean(listen)))),
    }
    spans.push(separator());
    let screens = server.screens_connected;
    spans.push(value(screens.to_string()));
    spans.push(label(if screens == 1 { " screen" } else { " screens" }));
    spans.push(separator());
    spans.push(label("onair "));
    spans.push(Span::raw(format!(
        "{} {}",
        format::percent(host.onair_cpu_percent),
        format::bytes(host.onair_rss_bytes)
    )));
    Line::from(spans)
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
        spans.push(separator());
        spans.push(Span::styled(
            format!(
                "{pending} key change{} not yet written to {file}",
                if pending == 1 { "" } else { "s" }
            ),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(first) = config.warnings.first() {
        spans.push(separator());
        let more = config.warnings.len() - 1;
        let more = if more > 0 { format!(" (+{more} more)") } else { String::new() };
        spans.push(Span::styled(
            format!("warning: {}{more}", clean(first)),
            Style::new().fg(Color::Yellow),
        ));
    }
    Line::from(spans)
}
