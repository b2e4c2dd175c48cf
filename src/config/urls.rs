//! The rules for inputs and outputs: what a source or destination may be,
//! and which destinations hold a stream key written into the file itself.

use super::resolve::Resolver;
use super::schema::Text;
use super::{Input, Output};

/// The password of `user:password@host/...` (the part after `://`).
fn url_password(rest: &str) -> Option<&str> {
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (password.len() >= 3).then_some(password)
}

impl Resolver<'_> {
    pub(super) fn input(&mut self, text: &Text) -> Input {
        let value = self.expand_secret(text);
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
            // A camera's password is masked wherever it may appear, even
            // outside a URL (userinfo in URLs is masked anyway).
            if let Some(password) = url_password(rest) {
                self.secrets.push(password.to_string());
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
        let value = self.expand_secret(text);
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

#[cfg(test)]
mod tests {
    use super::url_password;

    #[test]
    fn a_camera_password_is_found_in_its_url() {
        assert_eq!(
            url_password("admin:s3cret@10.0.0.9:554/h264"),
            Some("s3cret")
        );
        assert_eq!(url_password("admin:p@ss@10.0.0.9/x"), Some("p@ss"));
        assert_eq!(url_password("10.0.0.9/user:pw@x"), None);
        assert_eq!(url_password("admin@10.0.0.9/x"), None);
    }
}
