//! The picture pane: what the audience of the selected stream sees and
//! hears. The thumbnail (hidden and shown with `v`), the alarm flags, and
//! one meter per audio channel with its peak and RMS.

use super::Scene;
use super::detail::rule;
use super::meter;
use super::text::clean;
use crate::engine::StreamSnapshot;
use crate::tui::format;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// Rows of a 16:9 picture `width` cells wide, drawn with half-blocks (a
/// cell is one pixel wide and two high).
fn picture_rows(width: u16) -> u16 {
    (width as u32 * 9).div_ceil(32) as u16
}

/// A thumbnail older than this is labelled with its age.
const STALE_MILLIS: u64 = 6_000;

/// The rows the pane wants at `width` columns.
pub fn height(scene: &Scene, stream: Option<&StreamSnapshot>, width: u16) -> u16 {
    if stream.is_none_or(|s| !s.analysis) {
        return 2;
    }
    let picture = if scene.app.picture().shown() {
        picture_rows(width)
    } else {
        0
    };
    let channels = stream
        .and_then(|s| meter::fresh(s, scene.now))
        .map_or(1, |levels| levels.channels.len().min(8)) as u16;
    1 + picture + channels
}

/// Draws the pane.
pub fn draw(frame: &mut Frame, area: Rect, scene: &Scene, stream: Option<&StreamSnapshot>) {
    if area.height == 0 {
        return;
    }
    let picture = scene.app.picture();
    let name = stream.map_or(String::new(), |s| clean(&s.name));
    let mut title = vec![Span::raw(if area.width >= 48 {
        format!("{name} · picture and sound")
    } else {
        name
    })];
    if let Some(age) = stream
        .and_then(|s| picture.held_at(&s.name))
        .map(|at| scene.now.saturating_sub(at))
        .filter(|age| *age > STALE_MILLIS && picture.shown())
    {
        title.push(Span::styled(
            format!(" · {} old", format::duration(age)),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(stream) = stream {
        let flags = meter::flags(stream, scene.now);
        if !flags.is_empty() {
            title.push(Span::raw(" "));
            title.extend(flags);
        }
    }
    let block = rule(title, false);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(stream) = stream else {
        return;
    };
    if !stream.analysis {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "analysis is off",
                Style::new().fg(Color::DarkGray),
            )),
            inner,
        );
        return;
    }

    let sound = sound_lines(scene, stream, inner.width);
    let rows = if picture.shown() {
        picture_rows(inner.width).min(inner.height.saturating_sub(sound.len() as u16))
    } else {
        0
    };
    let [picture_area, sound_area] =
        Layout::vertical([Constraint::Length(rows), Constraint::Min(0)]).areas(inner);
    if rows > 0 && !picture.draw(frame, picture_area, &stream.name) {
        let why = if stream.thumbnail.is_some() {
            "reading the picture…"
        } else {
            "no picture yet"
        };
        frame.render_widget(
            Paragraph::new(Line::styled(why, Style::new().fg(Color::DarkGray)))
                .wrap(Wrap { trim: true }),
            picture_area,
        );
    }
    frame.render_widget(Paragraph::new(sound), sound_area);
}

/// One line per channel: a bar, the peak and the RMS level.
fn sound_lines(scene: &Scene, stream: &StreamSnapshot, width: u16) -> Vec<Line<'static>> {
    let Some(levels) = meter::fresh(stream, scene.now).filter(|_| stream.pid.is_some()) else {
        let text = if stream.pid.is_none() {
            "no sound: not running"
        } else {
            "no sound measured"
        };
        return vec![Line::styled(text, Style::new().fg(Color::DarkGray))];
    };
    let names = channel_names(levels.channels.len());
    levels
        .channels
        .iter()
        .take(8)
        .zip(names)
        .map(|(channel, name)| {
            // `L ██████···· -18 pk -21 rms`
            let figures = format!(
                " {} pk {} rms",
                meter::dbfs(channel.peak_dbfs),
                meter::dbfs(channel.rms_dbfs)
            );
            let bar_width = (width as usize)
                .saturating_sub(name.chars().count() + 1 + figures.chars().count())
                .max(4);
            let mut spans = vec![Span::raw(format!("{name} "))];
            spans.extend(meter::bar(channel.peak_dbfs, bar_width));
            spans.push(Span::styled(figures, meter::level_style(channel.peak_dbfs)));
            Line::from(spans)
        })
        .collect()
}

/// `L`/`R` for stereo, `M` for mono, numbers otherwise.
fn channel_names(count: usize) -> Vec<String> {
    match count {
        1 => vec!["M".to_string()],
        2 => vec!["L".to_string(), "R".to_string()],
        n => (1..=n).map(|i| i.to_string()).collect(),
    }
}
