//! The y/n question, in a cleared box in the middle of the screen.

use super::centered;
use super::text::wrap;
use crate::tui::app::Confirm;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

/// Widest a question box gets.
const MAX_WIDTH: u16 = 60;

/// Draws the question with its y/n keys.
pub fn draw_confirm(frame: &mut Frame, area: Rect, confirm: &Confirm) {
    let width = MAX_WIDTH.min(area.width);
    let inner_width = width.saturating_sub(4).max(1) as usize;
    let mut lines: Vec<Line> = wrap(&confirm.body, inner_width)
        .into_iter()
        .map(Line::raw)
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled(
            "y",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        Span::raw(" yes    "),
        Span::styled(
            "n",
            Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
        ),
        Span::raw(" no"),
    ]));
    let height = lines.len() as u16 + 2;
    let popup = centered(area, width, height);
    let block = Block::bordered()
        .border_style(Style::new().fg(Color::Red))
        .title(Span::styled(
            format!(" {} ", confirm.title),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ))
        .padding(ratatui::widgets::Padding::horizontal(1));
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
