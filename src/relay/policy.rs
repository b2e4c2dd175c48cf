//! When the outputs should carry the slate: a pure decision from what the
//! live feed has done lately, the operator's bumper and the stream's
//! `fallback` setting.

use std::time::{Duration, Instant};

/// Live silent this long, while it was on the outputs, counts as lost: the
/// slate is asked for. FFmpeg's muxer interleaves audio and video within
/// 0.7 s, so a healthy feed is never this quiet.
pub const QUIET: Duration = Duration::from_millis(1500);
/// A stream that starts gets this long for its source to deliver before
/// the slate is put up (opening an RTSP camera or probing takes seconds).
pub const FIRST_DELIVERY: Duration = Duration::from_secs(5);
/// What the relay knows about the live feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveWatch {
    /// After this instant without live data, live counts as lost.
    pub lost_at: Instant,
    /// True while a live process is attached (its pipe is open).
    pub attached: bool,
}

impl LiveWatch {
    /// A stream that just started: live gets [`FIRST_DELIVERY`].
    pub fn starting(now: Instant) -> LiveWatch {
        LiveWatch {
            lost_at: now + FIRST_DELIVERY,
            attached: false,
        }
    }

    /// Live data arrived.
    pub fn delivered(&mut self, now: Instant) {
        self.lost_at = now + QUIET;
    }

    /// The live process ended: lost at once.
    pub fn ended(&mut self, now: Instant) {
        self.attached = false;
        self.lost_at = self.lost_at.min(now);
    }

    /// True when live has not delivered in time.
    pub fn is_lost(&self, now: Instant) -> bool {
        now >= self.lost_at
    }
}

/// True when the outputs should carry the slate rather than live.
pub fn wants_slate(fallback: bool, bumper: bool, live: &LiveWatch, now: Instant) -> bool {
    bumper || (fallback && live.is_lost(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_stream_waits_for_its_source_before_the_slate() {
        let t0 = Instant::now();
        let live = LiveWatch::starting(t0);
        assert!(!wants_slate(
            true,
            false,
            &live,
            t0 + Duration::from_secs(4)
        ));
        assert!(wants_slate(true, false, &live, t0 + FIRST_DELIVERY));
    }

    #[test]
    fn live_that_goes_quiet_or_ends_is_lost() {
        let t0 = Instant::now();
        let mut live = LiveWatch::starting(t0);
        live.attached = true;
        live.delivered(t0);
        assert!(!wants_slate(
            true,
            false,
            &live,
            t0 + Duration::from_secs(1)
        ));
        assert!(wants_slate(true, false, &live, t0 + QUIET));
        live.delivered(t0 + QUIET);
        live.ended(t0 + QUIET + Duration::from_millis(10));
        assert!(wants_slate(
            true,
            false,
            &live,
            t0 + QUIET + Duration::from_millis(10)
        ));
        assert!(!live.attached);
    }

    #[test]
    fn without_fallback_only_the_bumper_puts_the_slate_up() {
        let t0 = Instant::now();
        let live = LiveWatch::starting(t0);
        let later = t0 + Duration::from_secs(60);
        assert!(!wants_slate(false, false, &live, later));
        assert!(wants_slate(false, true, &live, later));
        let mut healthy = live;
        healthy.delivered(later);
        assert!(wants_slate(true, true, &healthy, later), "bumper wins");
    }
}
