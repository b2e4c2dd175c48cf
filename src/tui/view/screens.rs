//! The screens pane: every open screen page, what it says it shows, and
//! why not when it shows nothing. A stream can be `running` while a TV stays
//! dark; this is where the operator sees it.

use super::text::{clean, fit};
use crate::engine::{ScreenBoard, ScreenReport, ScreenState};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// The colour of a screen state.
pub fn state_style(state: ScreenState) -> Style {
    match state {
        ScreenState::Playing => Style::new().fg(Color::Green),
        ScreenState::Loading | ScreenState::Stalled => Style::new().fg(Color::Yellow),
        ScreenState::Lost => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

/// The header's count: `4 screens: 3 playing, 1 lost`; `compact` leaves
/// the playing ones out (`4 screens: 1 lost`) for narrow terminals.
pub fn count_spans(reports: &[ScreenReport], compact: bool) -> Vec<Span<'static>> {
    let total = reports.len();
    let mut spans = vec![Span::styled(
        format!("{total} screen{}", if total == 1 { "" } else { "s" }),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    let parts: Vec<(ScreenState, usize)> = ScreenBoard::counts(reports)
        .into_iter()
        .filter(|(state, n)| *n > 0 && !(compact && *state == ScreenState::Playing))
        .collect();
    for (i, (state, n)) in parts.iter().enumerate() {
        spans.push(Span::styled(
            if i == 0 { ": " } else { ", " },
            Style::new().fg(Color::DarkGray),
        ));
        spans.push(Span::styled(
            format!("{n} {}", state.label()),
            state_style(*state),
        ));
    }
    spans
}

/// One line per screen, in `width` columns:
/// `foyer  10.0.0.5  stage  playing  1.2 s  1280×720` or the error.
pub fn lines(reports: &[ScreenReport], width: usize) -> Vec<Line<'static>> {
    if reports.is_empty() {
        return vec![Line::styled(
            "no screen reports yet (screens report once they open /screen/<name>)",
            Style::new().fg(Color::DarkGray),
        )];
    }
    let name_width = reports
        .iter()
        .map(|r| r.name().chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 20);
    let address_width = reports
        .iter()
        .map(|r| r.address.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(7, 39);
    let stream_width = reports
        .iter()
        .map(|r| r.stream.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 20);
    reports
        .iter()
        .map(|r| {
            let latency = r
                .latency
                .map(|l| format!("{l:.1} s"))
                .unwrap_or_else(|| "-".to_string());
            let detail = match (&r.error, r.state, r.width, r.height) {
                (Some(error), state, _, _) if state != ScreenState::Playing => clean(error),
                (_, _, Some(w), Some(h)) => format!("{w}×{h}"),
                _ => String::new(),
            };
            let mut spans = vec![
                Span::raw(format!("{:<name_width$} ", fit(&r.name(), name_width))),
                Span::styled(
                    format!("{:<address_width$} ", fit(&r.address, address_width)),
                    Style::new().fg(Color::DarkGray),
                ),
                Span::raw(format!("{:<stream_width$} ", fit(&r.stream, stream_width))),
                Span::styled(format!("{:<8}", r.state.label()), state_style(r.state)),
                Span::raw(format!("{latency:>7}  ")),
            ];
            let used = name_width + address_width + stream_width + 3 + 8 + 9;
            let detail_style = if r.cannot_play_since.is_some() {
                Style::new().fg(Color::Red)
            } else {
                Style::new()
            };
            spans.push(Span::styled(
                fit(&detail, width.saturating_sub(used)),
                detail_style,
            ));
            Line::from(spans)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, state: ScreenState, error: Option<&str>) -> ScreenReport {
        ScreenReport {
            id: "abcdefgh".into(),
            address: "10.0.0.5".into(),
            screen: Some(name.into()),
            stream: "stage".into(),
            state,
            error: error.map(str::to_string),
            latency: Some(1.24),
            width: Some(1280),
            height: Some(720),
            ..ScreenReport::default()
        }
    }

    fn text(spans: &[Span]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn the_header_counts_screens_by_state() {
        let reports = vec![
            report("a", ScreenState::Playing, None),
            report("b", ScreenState::Playing, None),
            report("c", ScreenState::Playing, None),
            report("d", ScreenState::Lost, Some("bufferAppendError")),
        ];
        assert_eq!(
            text(&count_spans(&reports, false)),
            "4 screens: 3 playing, 1 lost"
        );
        assert_eq!(text(&count_spans(&reports, true)), "4 screens: 1 lost");
        assert_eq!(text(&count_spans(&[], false)), "0 screens");
    }

    #[test]
    fn a_dark_screen_shows_its_error_and_a_playing_one_its_picture() {
        let reports = vec![
            report("foyer", ScreenState::Playing, None),
            report("bar", ScreenState::Lost, Some("bufferAppendError")),
        ];
        let shown: Vec<String> = lines(&reports, 100)
            .iter()
            .map(|l| text(&l.spans))
            .collect();
        assert!(
            shown[0].contains("playing") && shown[0].contains("1280×720"),
            "{shown:?}"
        );
        assert!(shown[0].contains("1.2 s"), "{shown:?}");
        assert!(
            shown[1].contains("lost") && shown[1].contains("bufferAppendError"),
            "{shown:?}"
        );
    }
}
