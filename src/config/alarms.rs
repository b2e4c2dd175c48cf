//! The thresholds of the content alarms, as `streams.toml` sets them: a
//! server-wide default in `[server]`, overridden per `[[stream]]`.

use super::resolve::Resolver;
use super::schema::Text;
use std::time::Duration;
use toml::Spanned;

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
fn check_after(secs: f64) -> Option<&'static str> {
    (!(0.0..=86_400.0).contains(&secs) || secs.is_nan())
        .then_some("must be a number of seconds from 0 (off) to 86400")
}

/// Why a `silent_below` value cannot be used, or `None` when it can.
fn check_level(dbfs: f64) -> Option<&'static str> {
    (!(-120.0..=0.0).contains(&dbfs) || dbfs.is_nan())
        .then_some("must be a level in dBFS from -120 to 0, e.g. -60")
}

type Key = Option<Spanned<f64>>;

impl Resolver<'_> {
    /// The alarm keys of a `[server]` or `[[stream]]` section; a value out
    /// of range is a problem at its place and is left unset.
    pub(super) fn alarm_keys(
        &mut self,
        silent_below: &Key,
        silent_after: &Key,
        black_after: &Key,
        frozen_after: &Key,
    ) -> AlarmKeys {
        let mut checked = |value: &Key, name: &str, check: fn(f64) -> Option<&'static str>| {
            let value = value.as_ref()?;
            match check(*value.get_ref()) {
                None => Some(*value.get_ref()),
                Some(why) => {
                    self.problem(value.span().start, format!("{name} {why}"));
                    None
                }
            }
        };
        AlarmKeys {
            silent_below: checked(silent_below, "silent_below", check_level),
            silent_after: checked(silent_after, "silent_after", check_after),
            black_after: checked(black_after, "black_after", check_after),
            frozen_after: checked(frozen_after, "frozen_after", check_after),
        }
    }

    /// `[server].on_alarm`: a program and its arguments, `${VAR}` expanded
    /// (a webhook token stays masked wherever it could be shown).
    pub(super) fn on_alarm(&mut self, value: &Option<Vec<Text>>) -> Vec<String> {
        let Some(list) = value else {
            return Vec::new();
        };
        let argv = self.expand_list(value);
        match (list.first(), argv.first()) {
            (Some(first), Some(program)) if program.trim().is_empty() => {
                self.problem(
                    first.span().start,
                    "on_alarm starts with the program to run, e.g. [\"/usr/local/bin/page-me\", \"--urgent\"]",
                );
                Vec::new()
            }
            (Some(_), Some(program)) if program.contains('/') && !program.starts_with('/') => {
                let mut argv = argv.clone();
                argv[0] = self.base.join(program).display().to_string();
                argv
            }
            _ => argv,
        }
    }
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

    fn load(text: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        crate::config::load_str(
            text,
            std::path::Path::new("/etc/onair/streams.toml"),
            &|name| (name == "HOOK_TOKEN").then(|| "s3cret".to_string()),
        )
    }

    #[test]
    fn the_server_sets_defaults_and_each_stream_may_override_them() {
        let config = load(
            "[server]\nblack_after = 8\nsilent_below = -50\non_alarm = [\"hooks/page\", \"--token=${HOOK_TOKEN}\"]\n\
             [[stream]]\nname = \"a\"\ninput = \"lavfi:testsrc2\"\n\
             [[stream]]\nname = \"b\"\ninput = \"lavfi:testsrc2\"\nfrozen_after = 0\nblack_after = 3\nanalysis = false\n",
        )
        .expect("valid");
        let a = &config.streams[0];
        assert_eq!(a.alarms.black_after, Some(Duration::from_secs(8)));
        assert_eq!(a.alarms.silent_below_dbfs, -50.0);
        assert_eq!(a.alarms.frozen_after, Some(Duration::from_secs(5)));
        assert!(a.analysis);
        let b = &config.streams[1];
        assert_eq!(b.alarms.black_after, Some(Duration::from_secs(3)));
        assert_eq!(b.alarms.frozen_after, None);
        assert!(!b.analysis);
        assert_eq!(
            config.server.on_alarm,
            ["/etc/onair/hooks/page", "--token=s3cret"]
        );
        assert!(config.secrets.contains(&"s3cret".to_string()));
    }

    #[test]
    fn only_the_first_destination_of_a_stream_analyses_its_source() {
        let config = load(
            "[[stream]]\nname = \"p\"\ninput = \"rtmp://127.0.0.1/live/p\"\noutputs = [\n\
             { name = \"one\", url = \"hls\" },\n\
             { name = \"two\", url = \"rtmp://127.0.0.1/live/two\" },\n]\n",
        )
        .expect("valid");
        let analysis: Vec<bool> = config.streams.iter().map(|s| s.analysis).collect();
        assert_eq!(analysis, [true, false]);
    }

    #[test]
    fn a_bad_threshold_is_refused_at_its_place() {
        let error = load(
            "[server]\nsilent_below = 6\n[[stream]]\nname = \"a\"\ninput = \"lavfi:testsrc2\"\nblack_after = -1\n",
        )
        .expect_err("invalid")
        .to_string();
        assert!(
            error.contains("streams.toml:2:16: silent_below must be a level"),
            "{error}"
        );
        assert!(
            error.contains("streams.toml:6:15: black_after must be a number of seconds"),
            "{error}"
        );
        let error = load("[server]\non_alarm = [\"\"]\n")
            .expect_err("invalid")
            .to_string();
        assert!(
            error.contains("2:13: on_alarm starts with the program"),
            "{error}"
        );
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
