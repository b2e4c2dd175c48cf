//! Audio meters and alarm flags, shared by the stream table and the
//! picture pane: a level bar with its dBFS (green; yellow above -9 dBFS;
//! red at clipping; dim when silent) and red flags with their duration.

use crate::engine::{AlarmKind, AudioLevels, StreamSnapshot, UnixMillis};
use crate::tui::format;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// The bottom of the bar's scale, dBFS; quieter than this reads as silence.
pub const FLOOR_DBFS: f32 = -60.0;
/// Louder than this, the meter turns yellow.
pub const HOT_DBFS: f32 = -9.0;
/// At or above this peak the signal clips: the meter turns red.
pub const CLIP_DBFS: f32 = -0.1;
/// Levels older than this are not shown (the stream stopped measuring).
pub const FRESH_MILLIS: u64 = 2_000;

/// Eighths of a cell, for a bar with sub-cell resolution.
const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/// The colour of a level.
pub fn level_style(peak_dbfs: f32) -> Style {
    if peak_dbfs < FLOOR_DBFS {
        Style::new().fg(Color::DarkGray)
    } else if peak_dbfs >= CLIP_DBFS {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else if peak_dbfs > HOT_DBFS {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new().fg(Color::Green)
    }
}

/// A level as a short number: `-18`, ` -6`, `  0`, ` -∞` for silence.
pub fn dbfs(level: f32) -> String {
    if level <= -100.0 {
        " -∞".to_string()
    } else {
        let rounded = level.round();
        // `-0` reads oddly.
        let rounded = if rounded == 0.0 { 0.0 } else { rounded };
        format!("{rounded:>3.0}")
    }
}

/// The bar alone: `width` cells from [`FLOOR_DBFS`] to 0 dBFS.
pub fn bar(level: f32, width: usize) -> Vec<Span<'static>> {
    let fraction = ((level - FLOOR_DBFS) / -FLOOR_DBFS).clamp(0.0, 1.0);
    let eighths = (fraction * (width * 8) as f32).round() as usize;
    let full = eighths / 8;
    let mut filled: String = "█".repeat(full);
    if full < width && eighths % 8 > 0 {
        filled.push(EIGHTHS[eighths % 8]);
    }
    let used = filled.chars().count();
    vec![
        Span::styled(filled, level_style(level)),
        Span::styled(
            "·".repeat(width.saturating_sub(used)),
            Style::new().fg(Color::DarkGray),
        ),
    ]
}

/// The levels, if measured recently.
pub fn fresh(stream: &StreamSnapshot, now: UnixMillis) -> Option<&AudioLevels> {
    stream
        .audio
        .as_ref()
        .filter(|a| now.saturating_sub(a.at) <= FRESH_MILLIS && !a.channels.is_empty())
}

/// The table's meter: a bar and the loudest channel's peak, in `width`
/// cells; `-` when there is nothing to show.
pub fn meter(stream: &StreamSnapshot, now: UnixMillis, width: usize) -> Line<'static> {
    let Some(levels) = fresh(stream, now).filter(|_| stream.pid.is_some()) else {
        return Line::from("-");
    };
    let peak = levels.peak_dbfs();
    let mut spans = bar(peak, width.saturating_sub(4));
    spans.push(Span::raw(" "));
    spans.push(Span::styled(dbfs(peak), level_style(peak)));
    Line::from(spans)
}

/// The word on a flag.
pub fn flag_word(kind: AlarmKind) -> &'static str {
    match kind {
        AlarmKind::Silent => "SILENT",
        AlarmKind::Black => "BLACK",
        AlarmKind::Frozen => "FROZEN",
    }
}

/// The style of an alarm flag.
pub fn flag_style() -> Style {
    Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD)
}

/// Every raised alarm as a red flag with how long its problem has lasted:
/// `SILENT 12s`.
pub fn flags(stream: &StreamSnapshot, now: UnixMillis) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    for alarm in &stream.alarms {
        if !spans.is_empty() {
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(
            format!(
                "{} {}",
                flag_word(alarm.kind),
                format::duration(now.saturating_sub(alarm.since))
            ),
            flag_style(),
        ));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(spans: &[Span]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn the_bar_spans_sixty_decibels() {
        assert_eq!(text(&bar(0.0, 6)), "██████");
        assert_eq!(text(&bar(-30.0, 6)), "███···");
        assert_eq!(text(&bar(-35.0, 6)), "██▌···");
        assert_eq!(text(&bar(-80.0, 6)), "······");
    }

    #[test]
    fn colours_follow_the_level() {
        assert_eq!(level_style(-20.0).fg, Some(Color::Green));
        assert_eq!(level_style(-6.0).fg, Some(Color::Yellow));
        assert_eq!(level_style(0.0).fg, Some(Color::Red));
        assert_eq!(level_style(-70.0).fg, Some(Color::DarkGray));
    }

    #[test]
    fn numbers_are_three_columns() {
        assert_eq!(dbfs(-18.2), "-18");
        assert_eq!(dbfs(-0.2), "  0");
        assert_eq!(dbfs(-120.0), " -∞");
        assert_eq!(dbfs(-6.0), " -6");
    }
}
