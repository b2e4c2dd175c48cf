//! Text shaping for panes: control characters out, long lines wrapped at
//! the pane's width, so that FFmpeg's output can never push garbage into
//! the terminal or off the edge of a pane.

use unicode_width::UnicodeWidthChar;

/// The text with tabs turned into a space and other control characters
/// (a stray `\r` from FFmpeg's progress line, escape sequences) removed.
pub fn clean(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// Splits one line into pieces no wider than `width` columns, breaking
/// after a space when there is one (a word longer than the width is cut).
/// An empty line stays one empty piece.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for c in clean(text).chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width && !current.is_empty() {
            match current.rfind(' ').filter(|&at| at > 0) {
                Some(at) => {
                    let rest = current[at + 1..].to_string();
                    current.truncate(at);
                    pieces.push(std::mem::replace(&mut current, rest));
                    used = display_width(&current);
                }
                None => {
                    pieces.push(std::mem::take(&mut current));
                    used = 0;
                }
            }
            if c == ' ' && current.is_empty() {
                continue;
            }
        }
        current.push(c);
        used += w;
    }
    pieces.push(current);
    pieces
}

/// The text cut to `width` columns, ending with `…` when it was longer,
/// so a cut value never passes for a whole one (a masked key stays
/// visibly masked, not silently missing).
pub fn fit(text: &str, width: usize) -> String {
    let text = clean(text);
    if display_width(&text) <= width {
        return text;
    }
    let mut kept = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        kept.push(c);
        used += w;
    }
    if width > 0 {
        kept.push('…');
    }
    kept
}

/// Columns the text takes on a terminal.
pub fn display_width(text: &str) -> usize {
    text.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// At most `lines` pieces of the wrapped text; when some are cut off, the
/// last kept piece ends with `…`.
pub fn wrap_at_most(text: &str, width: usize, lines: usize) -> Vec<String> {
    let mut pieces = wrap(text, width);
    if pieces.len() > lines && lines > 0 {
        pieces.truncate(lines);
        if let Some(last) = pieces.last_mut() {
            let mut kept: String = last.chars().collect();
            while kept.chars().map(|c| c.width().unwrap_or(0)).sum::<usize>() + 1 > width.max(1) {
                kept.pop();
            }
            kept.push('…');
            *last = kept;
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_the_width_and_keeps_empty_lines() {
        assert_eq!(wrap("abcdefg", 3), vec!["abc", "def", "g"]);
        assert_eq!(wrap("", 3), vec![""]);
        assert_eq!(wrap("one two three", 8), vec!["one two", "three"]);
        assert_eq!(wrap("one two", 3), vec!["one", "two"]);
    }

    #[test]
    fn removes_control_characters() {
        assert_eq!(clean("frame=1\r\x1b[2Kdone\tok"), "frame=1[2Kdone ok");
    }

    #[test]
    fn fit_cuts_with_an_ellipsis_only_when_needed() {
        assert_eq!(fit("rtmp://host/live/****", 12), "rtmp://host…");
        assert_eq!(fit("hls", 12), "hls");
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn marks_cut_text_with_an_ellipsis() {
        assert_eq!(wrap_at_most("abcdefgh", 3, 2), vec!["abc", "de…"]);
        assert_eq!(wrap_at_most("abc", 3, 2), vec!["abc"]);
    }
}
