//! The bottom line: the filter being typed, a flash message, or the main
//! keys (taken from the keymap, so the footer never lies about a key).

use super::Scene;
use super::text::clean;
use crate::tui::app::Level;
use crate::tui::keymap::KEYMAP;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Draws the footer line.
pub fn draw(frame: &mut Frame, area: Rect, scene: &Scene) {
    frame.render_widget(Paragraph::new(line(scene, area.width as usize)), area);
}

fn line(scene: &Scene, width: usize) -> Line<'static> {
    let app = scene.app;
    if app.filter_editing() {
        return Line::from(vec![
            Span::styled(
                "filter /",
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            ),
            Span::raw(clean(app.filter())),
            Span::styled("▏", Style::new().fg(Color::Cyan)),
            Span::styled(
                "  Enter keeps it · Esc clears it",
                Style::new().fg(Color::DarkGray),
            ),
        ]);
    }
    if let Some(flash) = app.flash(scene.now) {
        let style = match flash.level {
            Level::Info => Style::new().fg(Color::Green),
            Level::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        };
        return Line::styled(clean(&flash.text), style);
    }
    // Each hint is kept whole or left out, so a narrow terminal loses a
    // hint rather than showing half of one.
    let mut spans = Vec::new();
    let mut used = 0;
    if !app.filter().is_empty() {
        let text = format!("filter /{}", clean(app.filter()));
        used += text.chars().count();
        spans.push(Span::styled(text, Style::new().fg(Color::Cyan)));
    }
    for binding in KEYMAP {
        let Some(word) = binding.footer else {
            continue;
        };
        let key_style = if binding.dangerous {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
        };
        let key = binding.keys.first().map(|k| k.label()).unwrap_or_default();
        let gap = if spans.is_empty() { 0 } else { 2 };
        let hint_width = gap + key.chars().count() + 1 + word.chars().count();
        if used + hint_width > width {
            continue;
        }
        used += hint_width;
        if gap > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(key, key_style));
        spans.push(Span::raw(format!(" {word}")));
    }
    Line::from(spans)
}
