//! Word wrapping of styled lines into a known number of rows, so that a
//! box (the form, the status line, a results reason) can be sized to its
//! text before it is drawn: a message is given the rows it needs instead
//! of being cut at the edge or spilling out of its border.

use ratatui::text::{Line, Span};

/// `line` broken at spaces into rows of at most `width` columns (a word
/// longer than a row is split); styles are kept. Continuation rows start
/// with `indent` spaces.
pub fn wrap(line: &Line<'_>, width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = width.max(indent + 1).max(1);
    let mut rows: Vec<Vec<Span<'static>>> = vec![Vec::new()];
    let mut used = 0;
    for span in &line.spans {
        let style = span.style.patch(line.style);
        for word in words(&span.content) {
            let mut word = word.to_owned();
            loop {
                let w = Span::raw(word.as_str()).width();
                if used + w <= width {
                    used += w;
                    push(&mut rows, word, style);
                    break;
                }
                if word.trim().is_empty() {
                    // Spaces at a break are dropped.
                    break;
                }
                if used > indent {
                    // The word starts the next row.
                    rows.push(vec![Span::raw(" ".repeat(indent))]);
                    used = indent;
                    word = word.trim_start().to_owned();
                    continue;
                }
                // Longer than a row: as much as fits, the rest below.
                let (head, tail) = split_at_width(&word, width - used);
                push(&mut rows, head.to_owned(), style);
                rows.push(vec![Span::raw(" ".repeat(indent))]);
                used = indent;
                word = tail.to_owned();
                if word.is_empty() {
                    break;
                }
            }
        }
    }
    rows.into_iter().map(Line::from).collect()
}

/// The words of `text`, each with the spaces before it.
fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = true;
    for (i, c) in text.char_indices() {
        if c == ' ' && !in_space {
            out.push(&text[start..i]);
            start = i;
            in_space = true;
        } else if c != ' ' {
            in_space = false;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn push(rows: &mut [Vec<Span<'static>>], text: String, style: ratatui::style::Style) {
    if let Some(row) = rows.last_mut() {
        row.push(Span::styled(text, style));
    }
}

/// Splits after `width` characters (the console's text is one column a
/// character).
fn split_at_width(word: &str, width: usize) -> (&str, &str) {
    match word.char_indices().nth(width) {
        Some((i, _)) => word.split_at(i),
        None => (word, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rows: &[Line<'_>]) -> Vec<String> {
        rows.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn words_move_down_and_long_ones_split() {
        let line = Line::from("port: a tcp test needs a port (1-65535)");
        assert_eq!(
            text(&wrap(&line, 16, 2)),
            ["port: a tcp test", "  needs a port", "  (1-65535)"]
        );
        let long = Line::from("x abcdefghij");
        assert_eq!(text(&wrap(&long, 6, 0)), ["x", "abcdef", "ghij"]);
        assert_eq!(text(&wrap(&Line::from("fits"), 10, 0)), ["fits"]);
    }
}
