//! Fits a drawn frame to the terminal: without colour (`NO_COLOR`) the
//! colours go and grey becomes dim; in ASCII mode block, box and symbol
//! characters become ASCII ones. One pass over the buffer, so every view
//! degrades the same way.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use crate::app::Look;

pub fn apply(buf: &mut Buffer, look: Look) {
    if look.color && look.unicode {
        return;
    }
    for cell in buf.content.iter_mut() {
        if !look.color {
            if cell.fg == Color::DarkGray {
                cell.modifier.insert(Modifier::DIM);
            }
            cell.fg = Color::Reset;
            cell.bg = Color::Reset;
        }
        if !look.unicode && !cell.symbol().is_ascii() {
            let ascii = ascii_of(cell.symbol());
            cell.set_symbol(ascii);
        }
    }
}

/// The ASCII stand-in of a symbol the console draws.
fn ascii_of(symbol: &str) -> &'static str {
    match symbol {
        "▁" => "_",
        "▂" => ".",
        "▃" => "-",
        "▄" => "=",
        "▅" => "+",
        "▆" => "*",
        "▇" => "%",
        "█" => "#",
        "░" => ":",
        "─" | "━" | "═" => "-",
        "│" | "┃" | "║" | "▏" => "|",
        "┌" | "┐" | "└" | "┘" | "├" | "┤" | "┬" | "┴" | "┼" | "╭" | "╮" | "╰" | "╯" => {
            "+"
        }
        "●" => "*",
        "○" => "o",
        "…" | "·" => ".",
        "×" => "x",
        "°" => "o",
        "↑" => "^",
        "↓" => "v",
        "⏎" => "<",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    use super::*;

    #[test]
    fn ascii_and_no_colour() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 6, 1));
        buf.set_string(0, 0, "▁█│●é", Style::new().fg(Color::DarkGray));
        apply(
            &mut buf,
            Look {
                color: false,
                unicode: false,
            },
        );
        let text: String = buf.content.iter().map(|c| c.symbol()).collect();
        assert_eq!(text, "_#|*? ");
        assert!(buf.content.iter().all(|c| c.fg == Color::Reset));
        assert!(buf.content[0].modifier.contains(Modifier::DIM));
    }
}
