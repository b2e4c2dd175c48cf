//! The rules for inputs and outputs: what a source or destination may be,
//! and which destinations hold a stream key written into the file itself.

use super::resolve::Resolver;
use super::schema::Text;
use super::{Input, Output};

impl Resolver<'_> {
    pub(super) fn input(&mut self, text: &Text) -> Input {
        let value = self.expand(text);
        if let Some(graph) = value.strip_prefix("lavfi:") {
            if graph.trim().is_empty() {
                self.problem(
                    text.span().start,
                    "`lavfi:` needs a filtergraph, e.g. \"lavfi:testsrc2=size=640x360:rate=25\"",
                );
            }
            return Input::Lavfi(graph.to_string());
        }
        if let Some(file) = value.strip_prefix("file://") {
            return Input::File(self.base.join(file));
        }
        if let Some((scheme, rest)) = value.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if scheme.is_empty()
                || !scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+')
            {
                self.problem(text.span().start, format!("`{scheme}` is not a URL scheme"));
            } else if rest.is_empty() || rest.starts_with('/') && scheme != "file" {
                self.problem(
                    text.span().start,
                    format!("input URL has no host after `{scheme}://`"),
                );
            }
            return Input::Network { scheme, url: value };
        }
        if value.is_empty() {
            self.problem(text.span().start, "input must not be empty");
        }
        let path = self.base.join(&value);
        if !path.exists() {
            self.problem(
                text.span().start,
                format!(
                    "input file `{value}` does not exist (paths are relative to the config file)"
                ),
            );
        }
        Input::File(path)
    }

    pub(super) fn output(
        &mut self,
        text: &Text,
        literal_keys: &mut Vec<String>,
        stream: &str,
    ) -> Output {
        let value = self.expand(text);
        if value == "hls" {
            return Output::Hls;
        }
        let lower = value.to_ascii_lowercase();
        let (output, rest) = if let Some(rest) = lower
            .strip_prefix("rtmp://")
            .or_else(|| lower.strip_prefix("rtmps://"))
        {
            (Output::Rtmp(value.clone()), rest)
        } else if let Some(rest) = lower.strip_prefix("srt://") {
            (Output::Srt(value.clone()), rest)
        } else {
            self.problem(
                text.span().start,
                "output must be \"hls\" or an rtmp://, rtmps:// or srt:// URL",
            );
            return Output::Hls;
        };
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with(':') {
            self.problem(text.span().start, "output URL has no host");
        }
        let raw = text.get_ref();
        let literal_key = !raw.contains("${")
            && match &output {
                Output::Rtmp(_) => rest
                    .split('?')
                    .next()
                    .is_some_and(|p| p.split('/').filter(|s| !s.is_empty()).count() >= 3),
                Output::Srt(_) => rest.contains("streamid=") || rest.contains("passphrase="),
                Output::Hls => false,
            };
        if literal_key {
            literal_keys.push(stream.to_string());
        }
        output
    }
}
