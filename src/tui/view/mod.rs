//! Drawing: one frame from a snapshot, the server's stats and the
//! console's state. Pure: the time and the time zone come in as arguments,
//! so the same inputs always draw the same screen (the snapshot tests rely
//! on it).

mod detail;
mod footer;
mod header;
mod help;
mod meter;
mod picture;
mod popup;
mod screens;
mod table;
mod text;

use super::app::{App, Popup, Rendered};
use crate::engine::{Snapshot, UnixMillis};
use crate::server::ServerStats;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

/// Terminals at least this wide get the detail panes side by side.
pub const WIDE_COLUMNS: u16 = 120;

/// Everything one frame is drawn from.
#[derive(Debug, Clone, Copy)]
pub struct Scene<'a> {
    /// The engine's latest picture.
    pub snapshot: &'a Snapshot,
    /// The HTTP server's latest stats.
    pub server: &'a ServerStats,
    /// The console's own state.
    pub app: &'a App,
    /// The time to draw countdowns, uptimes and sparklines against.
    pub now: UnixMillis,
    /// Local time minus UTC, in seconds, for the clock times shown.
    pub utc_offset_secs: i32,
}

/// Draws the whole console and reports what it showed, so that scrolling
/// and paging know the size of each pane.
pub fn draw(frame: &mut Frame, scene: &Scene) -> Rendered {
    let area = frame.area();
    let [header_area, body, footer_area] = Layout::vertical([
        Constraint::Length(header::HEIGHT),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);

    header::draw(frame, header_area, scene);
    footer::draw(frame, footer_area, scene);

    let visible_rows = scene.app.visible(scene.snapshot).len().max(1) as u16;
    let lower_min = body.height.saturating_mul(2) / 5;
    let table_height = (visible_rows + 1)
        .min(body.height.saturating_sub(lower_min))
        .max(2.min(body.height));
    let [table_area, lower] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(body);

    let mut rendered = Rendered {
        table_rows: table::draw(frame, table_area, scene),
        ..Rendered::default()
    };
    detail::draw(frame, lower, scene, &mut rendered);

    match scene.app.popup() {
        Some(Popup::Help) => help::draw(frame, area),
        Some(Popup::Confirm(confirm)) => popup::draw_confirm(frame, area, confirm),
        Some(Popup::Leave(leave)) => popup::draw_leave(frame, area, leave),
        None => {}
    }
    rendered
}

/// A rectangle of at most `width` × `height` in the middle of `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}
