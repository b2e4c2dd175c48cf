//! What the screens say they show: one report per open player page, kept
//! while the page keeps reporting, dropped when it falls silent.
//!
//! A stream can be `running` while a screen stays dark (a codec the browser
//! cannot decode, a TV that lost the network). The reports make that
//! visible: the board notices a screen that cannot play a stream which is
//! running fine, and says so once in the log (the console flashes it).
//! Pure logic with the time passed in; the HTTP server validates and
//! rate-limits reports before they reach it.

use super::snapshot::{StreamSnapshot, StreamState, UnixMillis};
use serde::{Deserialize, Serialize};

/// A page that has not reported for this long is gone (it reports every
/// few seconds; a TV switched off sends nothing more).
pub const SCREEN_TIMEOUT_MILLIS: u64 = 20_000;
/// How long a stream must have been running before a screen that still
/// shows nothing counts as one that cannot play it (a restarted stream
/// takes the screens a few seconds to pick up).
pub const CANNOT_PLAY_GRACE_MILLIS: u64 = 8_000;
/// At most this many pages are followed at once.
pub const MAX_SCREENS: usize = 256;
/// At most this many pages per address (one TV box may open a few).
pub const MAX_SCREENS_PER_ADDRESS: usize = 16;

/// What a screen shows right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreenState {
    /// Opening the stream; no picture yet.
    #[default]
    Loading,
    /// The picture moves.
    Playing,
    /// The picture stopped moving for a moment (buffering).
    Stalled,
    /// No picture: the "signal lost" slate is up.
    Lost,
}

impl ScreenState {
    /// Every state, in the order the header counts them.
    pub const ALL: [ScreenState; 4] = [
        ScreenState::Playing,
        ScreenState::Loading,
        ScreenState::Stalled,
        ScreenState::Lost,
    ];

    /// The word shown in the console, the API and metrics.
    pub fn label(self) -> &'static str {
        match self {
            ScreenState::Loading => "loading",
            ScreenState::Playing => "playing",
            ScreenState::Stalled => "stalled",
            ScreenState::Lost => "lost",
        }
    }
}

/// One page's report, as the engine keeps it (already validated, bounded
/// and cleaned by the HTTP server).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScreenReport {
    /// The page's own random id: with the address, what the report belongs to.
    pub id: String,
    /// The address the page reports from.
    pub address: String,
    /// The `[[screen]]` it shows, or `None` for a `/watch/<stream>` page.
    pub screen: Option<String>,
    /// The stream it plays.
    pub stream: String,
    /// What it shows.
    pub state: ScreenState,
    /// The last error that stopped its playback (`bufferAppendError`, ...).
    pub error: Option<String>,
    /// Seconds behind the live edge, as the player measures it.
    pub latency: Option<f64>,
    /// Picture width in pixels, once playing.
    pub width: Option<u32>,
    /// Picture height in pixels, once playing.
    pub height: Option<u32>,
    /// The browser's user agent.
    pub user_agent: String,
    /// When this page first reported.
    pub since: UnixMillis,
    /// When it last reported.
    pub updated_at: UnixMillis,
    /// Since when it has failed to play a running stream, if it does.
    pub cannot_play_since: Option<UnixMillis>,
}

impl ScreenReport {
    /// The name shown for it: the screen's, or `watch/<stream>`.
    pub fn name(&self) -> String {
        match &self.screen {
            Some(name) => name.clone(),
            None => format!("watch/{}", self.stream),
        }
    }
}

/// Why a report was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportRefused {
    /// Too many pages are followed already.
    #[error("too many screens are reporting (at most {MAX_SCREENS})")]
    TooManyScreens,
    /// Too many pages from one address.
    #[error("too many screens report from this address (at most {MAX_SCREENS_PER_ADDRESS})")]
    TooManyFromAddress,
}

/// Something worth a line in the engine's log.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenNews {
    /// The stream concerned.
    pub stream: String,
    /// What to log (already free of secrets: reports hold none).
    pub text: String,
    /// True for a screen that cannot play (logged as an error), false for good news.
    pub bad: bool,
}

/// Every page that reports, keyed by (address, id).
#[derive(Debug, Default)]
pub struct ScreenBoard {
    reports: Vec<ScreenReport>,
}

impl ScreenBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    /// The reports, in the order the pages first reported.
    pub fn reports(&self) -> &[ScreenReport] {
        &self.reports
    }

    /// Takes a report from a page. Only that page's own entry (same
    /// address, same id) is ever changed.
    pub fn report(
        &mut self,
        mut incoming: ScreenReport,
        streams: &[StreamSnapshot],
        now: UnixMillis,
    ) -> Result<Vec<ScreenNews>, ReportRefused> {
        incoming.updated_at = now;
        let at = self
            .reports
            .iter()
            .position(|r| r.address == incoming.address && r.id == incoming.id);
        match at {
            Some(i) => {
                let old = &self.reports[i];
                incoming.since = old.since;
                incoming.cannot_play_since = old.cannot_play_since;
                self.reports[i] = incoming;
            }
            None => {
                if self.reports.len() >= MAX_SCREENS {
                    return Err(ReportRefused::TooManyScreens);
                }
                let same_address = self
                    .reports
                    .iter()
                    .filter(|r| r.address == incoming.address)
                    .count();
                if same_address >= MAX_SCREENS_PER_ADDRESS {
                    return Err(ReportRefused::TooManyFromAddress);
                }
                incoming.since = now;
                incoming.cannot_play_since = None;
                self.reports.push(incoming);
            }
        }
        Ok(self.review(streams, now))
    }

    /// A page that says it closes is dropped at once.
    pub fn closed(&mut self, address: &str, id: &str) -> bool {
        let before = self.reports.len();
        self.reports
            .retain(|r| !(r.address == address && r.id == id));
        before != self.reports.len()
    }

    /// Drops silent pages and re-judges every screen against its stream;
    /// call about once a second. Returns what is worth logging.
    pub fn tick(&mut self, streams: &[StreamSnapshot], now: UnixMillis) -> Vec<ScreenNews> {
        let mut news = Vec::new();
        self.reports.retain(|r| {
            let alive = now.saturating_sub(r.updated_at) < SCREEN_TIMEOUT_MILLIS;
            if !alive {
                news.push(ScreenNews {
                    stream: r.stream.clone(),
                    text: format!(
                        "screen {} ({}) stopped reporting: dropped",
                        r.name(),
                        r.address
                    ),
                    bad: false,
                });
            }
            alive
        });
        news.extend(self.review(streams, now));
        news
    }

    /// How many screens are in each state, in [`ScreenState::ALL`] order.
    pub fn counts(reports: &[ScreenReport]) -> Vec<(ScreenState, usize)> {
        ScreenState::ALL
            .iter()
            .map(|s| (*s, reports.iter().filter(|r| r.state == *s).count()))
            .collect()
    }

    fn review(&mut self, streams: &[StreamSnapshot], now: UnixMillis) -> Vec<ScreenNews> {
        let mut news = Vec::new();
        for report in &mut self.reports {
            let stream = streams.iter().find(|s| s.name == report.stream);
            let failing = report.state == ScreenState::Lost
                && stream.is_some_and(|s| running_for(s, now) >= CANNOT_PLAY_GRACE_MILLIS);
            match (failing, report.cannot_play_since) {
                (true, None) => {
                    report.cannot_play_since = Some(now);
                    let error = report
                        .error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default();
                    let hint = stream
                        .and_then(|s| s.warnings.first())
                        .map(|w| format!(" — {w}"))
                        .unwrap_or_default();
                    news.push(ScreenNews {
                        stream: report.stream.clone(),
                        text: format!(
                            "screen {} ({}) cannot play {}{error}{hint}",
                            report.name(),
                            report.address,
                            report.stream
                        ),
                        bad: true,
                    });
                }
                (false, Some(_)) if report.state == ScreenState::Playing => {
                    report.cannot_play_since = None;
                    news.push(ScreenNews {
                        stream: report.stream.clone(),
                        text: format!(
                            "screen {} ({}) plays {} again",
                            report.name(),
                            report.address,
                            report.stream
                        ),
                        bad: false,
                    });
                }
                (false, Some(_)) if stream.is_none_or(|s| running_for(s, now) == 0) => {
                    // The stream itself is down: the screen is not to blame.
                    report.cannot_play_since = None;
                }
                _ => {}
            }
        }
        news
    }
}

/// The board as the engine shares it: the HTTP server reports into it
/// through [`super::Engine::report_screen`], the conductor ages it and
/// publishes it. News goes to the engine's log.
pub(crate) struct ScreenDesk {
    board: std::sync::Mutex<ScreenBoard>,
    journal: super::journal::Journal,
    wakeups: std::sync::Arc<super::stream::Wakeups>,
}

impl ScreenDesk {
    pub(crate) fn new(
        journal: super::journal::Journal,
        wakeups: std::sync::Arc<super::stream::Wakeups>,
    ) -> Self {
        ScreenDesk {
            board: std::sync::Mutex::new(ScreenBoard::new()),
            journal,
            wakeups,
        }
    }

    fn board(&self) -> std::sync::MutexGuard<'_, ScreenBoard> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tell(&self, news: Vec<ScreenNews>) {
        use super::journal::Level;
        for item in news {
            // A dark screen in front of the audience is an error: the console flashes it.
            let level = if item.bad { Level::Error } else { Level::Info };
            self.journal.record(level, Some(&item.stream), item.text);
        }
    }

    /// Takes a report; a change of state is published at once.
    pub(crate) fn report(
        &self,
        report: ScreenReport,
        streams: &[StreamSnapshot],
        now: UnixMillis,
    ) -> Result<(), ReportRefused> {
        let (news, changed) = {
            let mut board = self.board();
            let before = board
                .reports()
                .iter()
                .find(|r| r.address == report.address && r.id == report.id)
                .map(|r| (r.state, r.error.clone()));
            let after = (report.state, report.error.clone());
            let news = board.report(report, streams, now)?;
            (news, before.as_ref() != Some(&after))
        };
        let urgent = changed || !news.is_empty();
        self.tell(news);
        if urgent {
            self.wakeups.urgent.notify_one();
        } else {
            self.wakeups.changed.notify_one();
        }
        Ok(())
    }

    /// A page said it closes.
    pub(crate) fn closed(&self, address: &str, id: &str) {
        if self.board().closed(address, id) {
            self.wakeups.urgent.notify_one();
        }
    }

    /// Ages the board; call about once a second.
    pub(crate) fn tick(&self, streams: &[StreamSnapshot], now: UnixMillis) {
        let news = self.board().tick(streams, now);
        if !news.is_empty() {
            self.tell(news);
            self.wakeups.urgent.notify_one();
        }
    }

    /// The reports to publish.
    pub(crate) fn reports(&self) -> Vec<ScreenReport> {
        self.board().reports().to_vec()
    }
}

/// How long the stream has been running, in milliseconds (0 when it is not).
fn running_for(stream: &StreamSnapshot, now: UnixMillis) -> u64 {
    match (&stream.state, stream.running_since) {
        (StreamState::Running, Some(since)) => now.saturating_sub(since),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(name: &str, since: UnixMillis) -> StreamSnapshot {
        StreamSnapshot {
            name: name.into(),
            enabled: true,
            state: StreamState::Running,
            running_since: Some(since),
            ..StreamSnapshot::default()
        }
    }

    fn report(address: &str, id: &str, state: ScreenState) -> ScreenReport {
        ScreenReport {
            id: id.into(),
            address: address.into(),
            screen: Some("foyer".into()),
            stream: "stage".into(),
            state,
            ..ScreenReport::default()
        }
    }

    #[test]
    fn a_page_only_ever_changes_its_own_report() {
        let streams = [running("stage", 0)];
        let mut board = ScreenBoard::new();
        board
            .report(
                report("10.0.0.5", "a", ScreenState::Playing),
                &streams,
                1_000,
            )
            .expect("taken");
        board
            .report(report("10.0.0.6", "a", ScreenState::Lost), &streams, 2_000)
            .expect("taken");
        assert_eq!(
            board.reports().len(),
            2,
            "same id, other address: another page"
        );
        assert_eq!(board.reports()[0].state, ScreenState::Playing);
        board
            .report(
                report("10.0.0.5", "a", ScreenState::Stalled),
                &streams,
                3_000,
            )
            .expect("taken");
        assert_eq!(board.reports()[0].state, ScreenState::Stalled);
        assert_eq!(board.reports()[0].since, 1_000);
        assert_eq!(board.reports()[1].state, ScreenState::Lost);
    }

    #[test]
    fn a_screen_that_cannot_play_a_running_stream_is_logged_once() {
        let streams = [running("stage", 0)];
        let mut board = ScreenBoard::new();
        let mut lost = report("10.0.0.5", "a", ScreenState::Lost);
        lost.error = Some("bufferAppendError".into());
        let news = board.report(lost.clone(), &streams, 20_000).expect("taken");
        assert_eq!(news.len(), 1);
        assert!(news[0].bad);
        assert_eq!(
            news[0].text,
            "screen foyer (10.0.0.5) cannot play stage: bufferAppendError"
        );
        assert!(
            board
                .report(lost, &streams, 21_000)
                .expect("taken")
                .is_empty()
        );
        assert!(board.tick(&streams, 22_000).is_empty());
        let news = board
            .report(
                report("10.0.0.5", "a", ScreenState::Playing),
                &streams,
                23_000,
            )
            .expect("taken");
        assert_eq!(news.len(), 1);
        assert!(!news[0].bad);
        assert_eq!(board.reports()[0].cannot_play_since, None);
    }

    #[test]
    fn a_screen_is_not_blamed_while_its_stream_is_down_or_just_restarted() {
        let mut board = ScreenBoard::new();
        let down = [StreamSnapshot {
            name: "stage".into(),
            state: StreamState::Retrying {
                attempt: 1,
                retry_at: 0,
            },
            ..StreamSnapshot::default()
        }];
        let lost = report("10.0.0.5", "a", ScreenState::Lost);
        assert!(
            board
                .report(lost.clone(), &down, 10_000)
                .expect("taken")
                .is_empty()
        );
        let fresh = [running("stage", 9_000)];
        assert!(
            board
                .report(lost, &fresh, 10_000)
                .expect("taken")
                .is_empty()
        );
        // Still dark once the stream has run for the grace period: now it is the screen.
        let news = board.tick(&fresh, 9_000 + CANNOT_PLAY_GRACE_MILLIS);
        assert_eq!(news.len(), 1);
        assert!(news[0].bad);
    }

    #[test]
    fn silent_pages_are_dropped_and_closing_ones_at_once() {
        let streams = [running("stage", 0)];
        let mut board = ScreenBoard::new();
        board
            .report(report("10.0.0.5", "a", ScreenState::Playing), &streams, 0)
            .expect("taken");
        board
            .report(
                report("10.0.0.6", "b", ScreenState::Playing),
                &streams,
                10_000,
            )
            .expect("taken");
        let news = board.tick(&streams, SCREEN_TIMEOUT_MILLIS + 1);
        assert_eq!(news.len(), 1);
        assert_eq!(board.reports().len(), 1);
        assert!(
            !board.closed("10.0.0.5", "b"),
            "another address cannot close it"
        );
        assert!(board.closed("10.0.0.6", "b"));
        assert!(board.reports().is_empty());
    }

    #[test]
    fn the_board_is_bounded_in_all_and_per_address() {
        let streams = [running("stage", 0)];
        let mut board = ScreenBoard::new();
        for i in 0..MAX_SCREENS_PER_ADDRESS {
            board
                .report(
                    report("10.0.0.5", &i.to_string(), ScreenState::Playing),
                    &streams,
                    0,
                )
                .expect("taken");
        }
        assert_eq!(
            board.report(
                report("10.0.0.5", "extra", ScreenState::Playing),
                &streams,
                0
            ),
            Err(ReportRefused::TooManyFromAddress)
        );
        // Known pages still report.
        assert!(
            board
                .report(report("10.0.0.5", "0", ScreenState::Lost), &streams, 0)
                .is_ok()
        );
        for i in 0..(MAX_SCREENS - MAX_SCREENS_PER_ADDRESS) {
            let address = format!("10.1.{}.{}", i / 200, i % 200);
            board
                .report(report(&address, "x", ScreenState::Playing), &streams, 0)
                .expect("taken");
        }
        assert_eq!(
            board.report(report("10.9.9.9", "x", ScreenState::Playing), &streams, 0),
            Err(ReportRefused::TooManyScreens)
        );
    }

    #[test]
    fn counts_follow_the_header_order() {
        let reports = vec![
            report("a", "1", ScreenState::Playing),
            report("a", "2", ScreenState::Playing),
            report("a", "3", ScreenState::Lost),
        ];
        assert_eq!(
            ScreenBoard::counts(&reports),
            vec![
                (ScreenState::Playing, 2),
                (ScreenState::Loading, 0),
                (ScreenState::Stalled, 0),
                (ScreenState::Lost, 1)
            ]
        );
    }
}
