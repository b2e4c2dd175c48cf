//! `[[screen]]` sections: the stream each screen plays and its overlays.

use super::resolve::{NAME_RULE, Resolver, valid_name};
use super::schema::{self, Text};
use super::*;
use std::collections::HashSet;
use toml::Spanned;

impl Resolver<'_> {
    pub(super) fn screen(
        &mut self,
        section: &schema::ScreenSection,
        streams: &HashSet<String>,
    ) -> Option<ScreenSpec> {
        let name = section.name.get_ref().clone();
        if !valid_name(&name) {
            self.problem(
                section.name.span().start,
                format!("invalid screen name `{name}`: {NAME_RULE}"),
            );
        }
        let stream = section.stream.get_ref().clone();
        if !streams.contains(&stream) {
            self.problem(
                section.stream.span().start,
                format!("screen `{name}` plays `{stream}`, which is not a stream in this file"),
            );
        }
        let banner = self.text_overlay(&section.banner, Position::Bottom, "banner");
        let ticker = self.text_overlay(&section.ticker, Position::Bottom, "ticker");
        let logo = section.logo.as_ref().and_then(|o| {
            let overlay = o.get_ref();
            let position = self.position(&overlay.position, Position::TopRight);
            match &overlay.image {
                Some(image) => {
                    let value = self.expand(image);
                    if value.contains("..") || value.starts_with('/') || value.is_empty() {
                        self.problem(
                            image.span().start,
                            "logo image must be a file name inside assets/",
                        );
                        None
                    } else {
                        Some(ImageOverlay {
                            image: value,
                            position,
                        })
                    }
                }
                None => {
                    self.problem(
                        o.span().start,
                        "logo needs `image = \"file.png\"` (a file in assets/)",
                    );
                    None
                }
            }
        });
        let clock = section.clock.as_ref().map(|o| {
            let overlay = o.get_ref();
            let position = self.position(&overlay.position, Position::TopLeft);
            let format = match &overlay.format {
                None => "24h".to_string(),
                Some(f) => {
                    let value = f.get_ref().clone();
                    if !["24h", "24h:ss", "12h", "12h:ss"].contains(&value.as_str()) {
                        self.problem(
                            f.span().start,
                            "clock format must be \"24h\", \"24h:ss\", \"12h\" or \"12h:ss\"",
                        );
                    }
                    value
                }
            };
            ClockOverlay { format, position }
        });
        Some(ScreenSpec {
            name,
            stream,
            banner,
            ticker,
            logo,
            clock,
        })
    }

    fn text_overlay(
        &mut self,
        section: &Option<Spanned<schema::OverlaySection>>,
        default: Position,
        what: &str,
    ) -> Option<TextOverlay> {
        let o = section.as_ref()?;
        let overlay = o.get_ref();
        let position = self.position(&overlay.position, default);
        match &overlay.text {
            Some(text) => Some(TextOverlay {
                text: self.expand(text),
                position,
            }),
            None => {
                self.problem(o.span().start, format!("{what} needs `text = \"...\"`"));
                None
            }
        }
    }

    fn position(&mut self, text: &Option<Text>, default: Position) -> Position {
        match text {
            None => default,
            Some(t) => Position::parse(t.get_ref()).unwrap_or_else(|| {
                self.problem(
                    t.span().start,
                    format!(
                        "unknown position `{}`: use top-left, top, top-right, left, center, right, bottom-left, bottom or bottom-right",
                        t.get_ref()
                    ),
                );
                default
            }),
        }
    }
}
