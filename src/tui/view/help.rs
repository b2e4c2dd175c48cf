//! The `?` overlay: every key of the keymap with what it does.

use super::centered;
use crate::tui::keymap::KEYMAP;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

/// Width of the keys column.
const KEYS_WIDTH: usize = 15;

/// Draws the key list over everything, centred.
pub fn draw(frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = KEYMAP
        .iter()
        .map(|binding| {
            let key_style = if binding.dangerous {
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
            };
            Line::from(vec![
                Span::styled(format!("{:<KEYS_WIDTH$}", binding.keys_label()), key_style),
                Span::raw(binding.description),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    // Leaving's own keys are on q's line; 24 rows must hold it all.
    lines.push(Line::styled(
        "In a y/n question: y confirms, n or Esc cancels; leaving: Esc stays.",
        Style::new().fg(Color::DarkGray),
    ));
    lines.push(Line::styled(
        "Any key closes this help.",
        Style::new().fg(Color::DarkGray),
    ));
    let width = lines.iter().map(Line::width).max().unwrap_or(0) as u16 + 2;
    let height = lines.len() as u16 + 2;
    let popup = centered(area, width, height);
    let block = Block::bordered()
        .border_style(Style::new().fg(Color::Cyan))
        .title(Span::styled(
            " keys ",
            Style::new().add_modifier(Modifier::BOLD),
        ));
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
