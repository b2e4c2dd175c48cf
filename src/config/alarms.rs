//! The thresholds of the content alarms, as `streams.toml` sets them: a
//! server-wide default in `[server]`, overridden per `[[stream]]`.

use std::time::Duration;

/// When a stream's content counts as a problem worth an alarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmSettings {
    /// Audio quieter than this (peak of the loudest channel, dBFS) is silence.
    pub silent_below_dbfs: f32,
    /// Silence this long raises `silent`; `None` never does.
    pub silent_after: Option<Duration>,
    /// A black picture this long raises `black`; `None` never does.
    pub black_after: Option<Duration>,
    /// An unchanged picture this long raises `frozen`; `None` never does
    /// (for a still or synthetic source).
    pub frozen_after: Option<Duration>,
}

impl Default for AlarmSettings {
    fn default() -> Self {
        AlarmSettings {
            silent_below_dbfs: -60.0,
            silent_after: Some(Duration::from_secs(5)),
            black_after: Some(Duration::from_secs(5)),
            frozen_after: Some(Duration::from_secs(5)),
        }
    }
}

/// The file's keys for alarms, in `[server]` (defaults) or `[[stream]]`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AlarmKeys {
    pub silent_below: Option<f64>,
    pub silent_after: Option<f64>,
    pub black_after: Option<f64>,
    pub frozen_after: Option<f64>,
}

impl AlarmSettings {
    /// These settings with the keys that are set replacing them; a
    /// duration of 0 turns that alarm off.
    pub(crate) fn with(self, keys: AlarmKeys) -> AlarmSettings {
        let after = |secs: Option<f64>, current: Option<Duration>| match secs {
            None => current,
            Some(s) if s <= 0.0 => None,
            Some(s) => Some(Duration::from_secs_f64(s)),
        };
        AlarmSettings {
            silent_below_dbfs: keys
                .silent_below
                .map_or(self.silent_below_dbfs, |v| v as f32),
            silent_after: after(keys.silent_after, self.silent_after),
            black_after: after(keys.black_after, self.black_after),
            frozen_after: after(keys.frozen_after, self.frozen_after),
        }
    }
}

/// Why an alarm key's value cannot be used, or `None` when it can.
pub(crate) fn check_after(secs: f64) -> Option<&'static str> {
    (!(0.0..=86_400.0).contains(&secs) || secs.is_nan())
        .then_some("must be a number of seconds from 0 (off) to 86400")
}

/// Why a `silent_below` value cannot be used, or `None` when it can.
pub(crate) fn check_level(dbfs: f64) -> Option<&'static str> {
    (!(-120.0..=0.0).contains(&dbfs) || dbfs.is_nan())
        .then_some("must be a level in dBFS from -120 to 0, e.g. -60")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_turns_an_alarm_off_and_unset_keys_keep_the_default() {
        let settings = AlarmSettings::default().with(AlarmKeys {
            frozen_after: Some(0.0),
            black_after: Some(2.5),
            ..AlarmKeys::default()
        });
        assert_eq!(settings.frozen_after, None);
        assert_eq!(settings.black_after, Some(Duration::from_millis(2500)));
        assert_eq!(settings.silent_after, Some(Duration::from_secs(5)));
        assert_eq!(settings.silent_below_dbfs, -60.0);
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert!(check_after(-1.0).is_some());
        assert!(check_after(f64::NAN).is_some());
        assert!(check_after(0.0).is_none());
        assert!(check_level(3.0).is_some());
        assert!(check_level(-60.0).is_none());
    }
}
