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

/// Splits one line into pieces no wider than `width` columns. An empty
/// line stays one empty piece.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for c in clean(text).chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(c);
        used += w;
    }
    pieces.push(current);
    pieces
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
    }

    #[test]
    fn removes_control_characters() {
        assert_eq!(clean("frame=1\r\x1b[2Kdone\tok"), "frame=1[2Kdone ok");
    }

    #[test]
    fn marks_cut_text_with_an_ellipsis() {
        assert_eq!(wrap_at_most("abcdefgh", 3, 2), vec!["abc", "de…"]);
        assert_eq!(wrap_at_most("abc", 3, 2), vec!["abc"]);
    }
}
