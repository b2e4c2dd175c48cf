//! The questions, in a cleared box in the middle of the screen: a y/n
//! before stopping a stream, and what `q` asks (detach or stop everything).

use super::centered;
use super::text::wrap;
use crate::tui::app::{Confirm, Leave};
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

/// Draws the leaving question: `d` detach, `s` stop everything, Esc stay.
pub fn draw_leave(frame: &mut Frame, area: Rect, leave: &Leave) {
    let width = MAX_WIDTH.min(area.width);
    let inner_width = width.saturating_sub(4).max(1) as usize;
    let keeps = match leave.live {
        0 => "no stream is live".to_string(),
        1 => "the live stream keeps running".to_string(),
        n => format!("{n} live streams keep running"),
    };
    let stops = match leave.live {
        0 => "nothing goes off the air".to_string(),
        1 => "1 stream will stop".to_string(),
        n => format!("{n} streams will stop"),
    };
    let others = match leave.consoles.saturating_sub(1) {
        0 => String::new(),
        1 => " (the other console closes)".to_string(),
        n => format!(" (the {n} other consoles close)"),
    };
    let key = |k: &'static str, color: Color| {
        Span::styled(k, Style::new().fg(color).add_modifier(Modifier::BOLD))
    };
    let mut lines = Vec::new();
    let mut choice = |k: Span<'static>, pad: &str, text: String| {
        for (i, piece) in wrap(&text, inner_width.saturating_sub(5).max(1))
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 {
                vec![k.clone(), Span::raw(pad.to_string())]
            } else {
                vec![Span::raw("     ")]
            };
            let mut spans = lead;
            spans.push(Span::raw(piece));
            lines.push(Line::from(spans));
        }
    };
    choice(
        key("d", Color::Green),
        "    ",
        format!("detach: {keeps}; come back with `onair`"),
    );
    choice(
        key("s", Color::Red),
        "    ",
        format!("stop everything: {stops}{others}"),
    );
    choice(key("Esc", Color::Cyan), "  ", "stay".to_string());
    let height = lines.len() as u16 + 2;
    let popup = centered(area, width, height);
    let block = Block::bordered()
        .border_style(Style::new().fg(Color::Yellow))
        .title(Span::styled(
            " Leave onair? ",
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ))
        .padding(ratatui::widgets::Padding::horizontal(1));
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
