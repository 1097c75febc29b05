//! Shorter cursor moves on the way to the terminal. ratatui moves the
//! cursor with absolute positions (`ESC [ row ; col H`, 6 to 9 bytes)
//! before every run of changed cells; most of those moves go right along
//! the row the cursor is already on (from a host's CPU to its RX, to its
//! sparkline), where `ESC [ n C` (3 to 5 bytes) does the same. With 50
//! busy hosts the moves were over half of what the console sent.
//!
//! This writer follows the cursor through the bytes it passes on (moves,
//! and one column per narrow character printed) and rewrites a move that
//! stays on the cursor's row and goes right into the relative one.
//! Anything it cannot follow (another escape sequence, a control or wide
//! character) makes the position unknown, and the next move stays
//! absolute.
//!
//! It follows the colours the same way: crossterm sets both colours each
//! time one changes (`ESC [ 38;5;2;49 m`) and resets everything after
//! every frame; this sends only the colour that changes, in the 16-colour
//! form (`ESC [ 32 m`, the palette the console keeps to), and drops a
//! reset of what is already reset. Until it has seen a full reset, or
//! after any sequence that might restore attributes, it passes colours on
//! as they come.

use std::io::{self, Write};

pub struct Compact<W: Write> {
    inner: W,
    /// Bytes written but not yet whole (an escape sequence or a UTF-8
    /// character cut between two writes).
    pending: Vec<u8>,
    /// What goes to `inner` at the next flush.
    out: Vec<u8>,
    /// Where the cursor is (row, column, 1-based), when known.
    cursor: Option<(u32, u32)>,
    /// The colours and attributes in force, when known.
    sgr: Option<Sgr>,
}

/// One colour as set on the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Colour {
    Default,
    /// One of the 256 indexed colours.
    Index(u8),
    /// Anything else (true colour), as its parameters.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Sgr {
    fg: Colour,
    bg: Colour,
    underline: Colour,
    /// Some attribute (bold, reverse...) may be on.
    attributes: bool,
}

impl Sgr {
    const RESET: Sgr = Sgr {
        fg: Colour::Default,
        bg: Colour::Default,
        underline: Colour::Default,
        attributes: false,
    };
}

/// Which colour a parameter sets.
#[derive(Clone, Copy)]
enum Layer {
    Fg,
    Bg,
    Underline,
}

impl<W: Write> Compact<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            out: Vec::new(),
            cursor: None,
            sgr: None,
        }
    }

    /// `ESC [ ... m`, with what is already in force left out.
    fn colours(&mut self, params: &str) {
        let params: Vec<&str> = params.split(';').collect();
        let mut out: Vec<String> = Vec::new();
        let mut i = 0;
        while i < params.len() {
            let p = params[i];
            let number = if p.is_empty() {
                Some(0)
            } else {
                p.parse::<u16>().ok()
            };
            let Some(number) = number else {
                // Not understood: passed on, and nothing is known.
                out.extend(params[i..].iter().map(|p| (*p).to_owned()));
                self.sgr = None;
                break;
            };
            let (layer, colour, used) = match number {
                0 => {
                    if self.sgr.as_ref() != Some(&Sgr::RESET) {
                        out.push("0".into());
                        self.sgr = Some(Sgr::RESET);
                    }
                    i += 1;
                    continue;
                }
                n @ 30..=37 => (Layer::Fg, Colour::Index((n - 30) as u8), 1),
                n @ 90..=97 => (Layer::Fg, Colour::Index((n - 90 + 8) as u8), 1),
                n @ 40..=47 => (Layer::Bg, Colour::Index((n - 40) as u8), 1),
                n @ 100..=107 => (Layer::Bg, Colour::Index((n - 100 + 8) as u8), 1),
                39 => (Layer::Fg, Colour::Default, 1),
                49 => (Layer::Bg, Colour::Default, 1),
                59 => (Layer::Underline, Colour::Default, 1),
                n @ (38 | 48 | 58) => {
                    let layer = match n {
                        38 => Layer::Fg,
                        48 => Layer::Bg,
                        _ => Layer::Underline,
                    };
                    match params.get(i + 1..) {
                        Some(["5", index, ..]) if index.parse::<u8>().is_ok() => {
                            (layer, Colour::Index(index.parse().unwrap_or(0)), 3)
                        }
                        Some(["2", r, g, b, ..]) => {
                            (layer, Colour::Other(format!("2;{r};{g};{b}")), 5)
                        }
                        // Not understood: passed on, and nothing is known.
                        _ => {
                            out.extend(params[i..].iter().map(|p| (*p).to_owned()));
                            self.sgr = None;
                            break;
                        }
                    }
                }
                _ => {
                    out.push(p.to_owned());
                    if let Some(sgr) = &mut self.sgr {
                        sgr.attributes = true;
                    }
                    i += 1;
                    continue;
                }
            };
            i += used;
            let current = self.sgr.as_mut().map(|sgr| match layer {
                Layer::Fg => &mut sgr.fg,
                Layer::Bg => &mut sgr.bg,
                Layer::Underline => &mut sgr.underline,
            });
            match current {
                Some(c) if *c == colour => {}
                Some(c) => {
                    out.push(colour_param(layer, &colour));
                    *c = colour;
                }
                None => out.push(colour_param(layer, &colour)),
            }
        }
        if !out.is_empty() {
            self.out
                .extend_from_slice(format!("\x1b[{}m", out.join(";")).as_bytes());
        }
    }

    /// Passes on every whole sequence and character in `pending`.
    fn process(&mut self) {
        let mut at = 0;
        while at < self.pending.len() {
            let rest = &self.pending[at..];
            let used = match rest[0] {
                0x1b => match escape_len(rest) {
                    Some(len) => {
                        let seq = rest[..len].to_vec();
                        self.escape(&seq);
                        len
                    }
                    None => break,
                },
                lead => {
                    let len = utf8_len(lead);
                    if rest.len() < len {
                        break;
                    }
                    let bytes = &rest[..len];
                    let narrow = std::str::from_utf8(bytes)
                        .ok()
                        .and_then(|s| s.chars().next())
                        .is_some_and(is_narrow);
                    self.cursor = match self.cursor {
                        Some((row, col)) if narrow => Some((row, col + 1)),
                        _ => None,
                    };
                    self.out.extend_from_slice(bytes);
                    len
                }
            };
            at += used;
        }
        self.pending.drain(..at);
    }

    fn escape(&mut self, seq: &[u8]) {
        if let Some((row, col)) = cursor_position(seq) {
            match self.cursor {
                Some((r, c)) if r == row && col == c => {}
                Some((r, c)) if r == row && col > c && col - c < 1_000 => {
                    let n = col - c;
                    if n == 1 {
                        self.out.extend_from_slice(b"\x1b[C");
                    } else {
                        self.out.extend_from_slice(format!("\x1b[{n}C").as_bytes());
                    }
                }
                _ => self.out.extend_from_slice(seq),
            }
            self.cursor = Some((row, col));
            return;
        }
        // Colours and attributes leave the cursor where it is.
        if let Some(params) = seq
            .strip_prefix(b"\x1b[")
            .and_then(|s| s.strip_suffix(b"m"))
            && let Ok(params) = std::str::from_utf8(params)
            && params.bytes().all(|b| b.is_ascii_digit() || b == b';')
        {
            self.colours(params);
            return;
        }
        // Anything else may move the cursor, or restore attributes (a
        // cursor restore, a screen switch).
        self.cursor = None;
        self.sgr = None;
        self.out.extend_from_slice(seq);
    }
}

impl<W: Write> Write for Compact<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        self.process();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.out)?;
        self.out.clear();
        self.inner.flush()
    }
}

impl<W: Write> Drop for Compact<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// The length of the escape sequence at the start of `bytes`: a CSI
/// (`ESC [` ... final byte) or a two-byte escape; `None` while cut short.
fn escape_len(bytes: &[u8]) -> Option<usize> {
    match bytes.get(1)? {
        b'[' => bytes
            .iter()
            .enumerate()
            .skip(2)
            .find(|(_, b)| (0x40..=0x7e).contains(*b))
            .map(|(i, _)| i + 1),
        _ => Some(2),
    }
}

/// A colour as the shortest SGR parameters: the 16 basic colours as
/// `30`-`37`, `90`-`97` (`40`... for the background).
fn colour_param(layer: Layer, colour: &Colour) -> String {
    let (base, bright, extended, default) = match layer {
        Layer::Fg => (30, 90, 38, 39),
        Layer::Bg => (40, 100, 48, 49),
        Layer::Underline => (0, 0, 58, 59),
    };
    match colour {
        Colour::Default => default.to_string(),
        Colour::Index(n @ 0..=7) if base > 0 => (base + u16::from(*n)).to_string(),
        Colour::Index(n @ 8..=15) if base > 0 => (bright + u16::from(*n) - 8).to_string(),
        Colour::Index(n) => format!("{extended};5;{n}"),
        Colour::Other(params) => format!("{extended};{params}"),
    }
}

/// `ESC [ row ; col H` as (row, col).
fn cursor_position(seq: &[u8]) -> Option<(u32, u32)> {
    let params = seq.strip_prefix(b"\x1b[")?.strip_suffix(b"H")?;
    let text = std::str::from_utf8(params).ok()?;
    let (row, col) = text.split_once(';')?;
    Some((row.parse().ok()?, col.parse().ok()?))
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

/// One column for sure, as ratatui counts it too: printable ASCII, Latin
/// and the like, and the punctuation, arrows, box drawing, blocks and
/// shapes the console draws with. Control characters move the cursor
/// otherwise; anything else may be two columns wide.
fn is_narrow(c: char) -> bool {
    (' '..='~').contains(&c)
        || ('\u{a0}'..'\u{1100}').contains(&c)
        || ('\u{2000}'..'\u{2c00}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut compact = Compact::new(&mut out);
            for chunk in chunks {
                compact.write_all(chunk).expect("writes");
            }
            compact.flush().expect("flushes");
        }
        out
    }

    #[test]
    fn a_move_right_on_the_same_row_becomes_relative() {
        let out = through(&[b"\x1b[3;5H37%\x1b[3;20H\x1b[38;5;2;49m\xe2\x96\x81\x1b[4;1Hx"]);
        assert_eq!(
            out,
            b"\x1b[3;5H37%\x1b[12C\x1b[32;49m\xe2\x96\x81\x1b[4;1Hx".to_vec(),
            "{}",
            String::from_utf8_lossy(&out)
        );
        // Next to the cursor: one step, or nothing at all.
        assert_eq!(through(&[b"\x1b[1;1Hab\x1b[1;4Hc"]), b"\x1b[1;1Hab\x1b[Cc");
        assert_eq!(through(&[b"\x1b[1;1Hab\x1b[1;3Hc"]), b"\x1b[1;1Habc");
    }

    #[test]
    fn what_it_cannot_follow_keeps_the_next_move_absolute() {
        // Cut in the middle of a move and of a character.
        let out = through(&[b"\x1b[2;1Ha\x1b[2", b";9Hb\xe2\x96", b"\x81\x1b[2;20H"]);
        assert_eq!(out, b"\x1b[2;1Ha\x1b[7Cb\xe2\x96\x81\x1b[9C".to_vec());
        // A wide character, a clear, a control character: unknown.
        for unknown in [&b"\xe4\xb8\xad"[..], b"\x1b[2J", b"\r"] {
            let out = through(&[b"\x1b[1;1H", unknown, b"\x1b[1;9H"]);
            assert!(
                out.ends_with(b"\x1b[1;9H"),
                "{}",
                String::from_utf8_lossy(&out)
            );
        }
        // A move left stays absolute.
        assert_eq!(through(&[b"\x1b[1;9Hx\x1b[1;2H"]), b"\x1b[1;9Hx\x1b[1;2H");
    }

    #[test]
    fn only_the_colour_that_changes_is_sent() {
        // After a reset, crossterm's "green on default" is just green, the
        // same again is nothing, and the end-of-frame reset of a state
        // already reset is nothing.
        let out = through(&[
            b"\x1b[0ma\x1b[38;5;2;49mb\x1b[38;5;2;49mc\x1b[39;49md\x1b[39m\x1b[49m\x1b[59m\x1b[0m",
        ]);
        assert_eq!(
            out,
            b"\x1b[0ma\x1b[32mbc\x1b[39md".to_vec(),
            "{}",
            String::from_utf8_lossy(&out)
        );
        // Reversed: an attribute, so the next reset is sent.
        let out = through(&[b"\x1b[0m\x1b[7mx\x1b[0m"]);
        assert_eq!(out, b"\x1b[0m\x1b[7mx\x1b[0m".to_vec());
        // Before any reset nothing is known: passed on whole.
        assert_eq!(through(&[b"\x1b[39;49mx"]), b"\x1b[39;49mx");
        // A screen switch may restore attributes: unknown again.
        let out = through(&[b"\x1b[0m\x1b[?1049h\x1b[0m"]);
        assert_eq!(out, b"\x1b[0m\x1b[?1049h\x1b[0m".to_vec());
        // Bright and true colours.
        let out = through(&[b"\x1b[0m\x1b[38;5;11;48;2;1;2;3mx"]);
        assert_eq!(out, b"\x1b[0m\x1b[93;48;2;1;2;3mx".to_vec());
    }
}
