//! A terminal backend that writes nothing for a frame in which no cell
//! changed. ratatui diffs each frame against the last and sends only the
//! changed cells, but still resets the colours after every draw and hides
//! the cursor on every frame: about 25 bytes a frame for nothing, which a
//! console redrawing each second for its clock would send over SSH all
//! day. Wrapped around the real backend, an idle screen sends no byte.
//!
//! It also closes short gaps: between two changed cells of a row, a cursor
//! move (`ESC [ n C` at best, 3 or 4 bytes, see [`crate::compact`]) costs
//! more than sending again the one to three unchanged cells in between
//! (`2.5 MB/s` becoming `4.8 MB/s` changes the `2` and the `5`, around an
//! unchanged `.`). It keeps what it sent, so it knows those cells.

use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};

/// At most this many bytes of unchanged cells are sent again instead of
/// a cursor move (which takes 3 to 5).
const MAX_FILL_BYTES: usize = 3;

pub struct Quiet<B> {
    inner: B,
    /// What the terminal was last told about the cursor.
    cursor_hidden: Option<bool>,
    /// What the terminal shows, as sent through here (`None`: not known,
    /// as after a clear).
    shown: Vec<Vec<Option<Cell>>>,
}

impl<B> Quiet<B> {
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            cursor_hidden: None,
            shown: Vec::new(),
        }
    }

    /// The unchanged cells from `from` up to `to` on row `y`, when they
    /// are known, look like `prev` (no colour change to send) and cost
    /// fewer bytes than a cursor move.
    fn gap(&self, y: u16, from: u16, to: u16, prev: &Cell) -> Option<Vec<(u16, u16, Cell)>> {
        if !narrow(prev.symbol()) {
            return None;
        }
        let row = self.shown.get(usize::from(y))?;
        let mut bytes = 0;
        let mut cells = Vec::new();
        for x in from..to {
            let cell = row.get(usize::from(x))?.as_ref()?;
            bytes += cell.symbol().len();
            if bytes > MAX_FILL_BYTES || cell.style() != prev.style() || !narrow(cell.symbol()) {
                return None;
            }
            cells.push((x, y, cell.clone()));
        }
        Some(cells)
    }

    fn remember(&mut self, x: u16, y: u16, cell: &Cell) {
        let (x, y) = (usize::from(x), usize::from(y));
        if self.shown.len() <= y {
            self.shown.resize(y + 1, Vec::new());
        }
        let row = &mut self.shown[y];
        if row.len() <= x {
            row.resize(x + 1, None);
        }
        row[x] = Some(cell.clone());
    }

    pub fn inner(&self) -> &B {
        &self.inner
    }
}

impl<B: Backend> Backend for Quiet<B> {
    type Error = B::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let mut sent: Vec<(u16, u16, Cell)> = Vec::new();
        for (x, y, cell) in content {
            if let Some((px, py, prev)) = sent.last()
                && *py == y
                && x > px + 1
                && let Some(gap) = self.gap(y, px + 1, x, prev)
            {
                sent.extend(gap);
            }
            sent.push((x, y, cell.clone()));
        }
        if sent.is_empty() {
            return Ok(());
        }
        for (x, y, cell) in &sent {
            self.remember(*x, *y, cell);
        }
        self.inner
            .draw(sent.iter().map(|(x, y, cell)| (*x, *y, cell)))
    }

    fn append_lines(&mut self, n: u16) -> Result<(), Self::Error> {
        self.inner.append_lines(n)
    }

    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        if self.cursor_hidden == Some(true) {
            return Ok(());
        }
        self.cursor_hidden = Some(true);
        self.inner.hide_cursor()
    }

    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        if self.cursor_hidden == Some(false) {
            return Ok(());
        }
        self.cursor_hidden = Some(false);
        self.inner.show_cursor()
    }

    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.inner.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(position)
    }

    fn clear(&mut self) -> Result<(), Self::Error> {
        self.shown.clear();
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.shown.clear();
        self.inner.clear_region(clear_type)
    }

    fn size(&self) -> Result<Size, Self::Error> {
        self.inner.size()
    }

    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()
    }
}

/// One column wide for sure: ASCII, box drawing and block elements (the
/// console's bars); a wide character would shift what follows it.
fn narrow(symbol: &str) -> bool {
    let mut chars = symbol.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => c.is_ascii() || ('\u{2500}'..='\u{259f}').contains(&c),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use ratatui::Terminal;
    use ratatui::backend::CrosstermBackend;
    use ratatui::widgets::Paragraph;

    use super::*;

    #[derive(Clone, Default)]
    struct Bytes(Arc<Mutex<Vec<u8>>>);

    impl Write for Bytes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A 20-column terminal writing into `Bytes`, and a way to draw text.
    fn terminal(height: u16) -> (Terminal<Quiet<CrosstermBackend<Bytes>>>, Bytes) {
        let bytes = Bytes::default();
        let terminal = Terminal::with_options(
            Quiet::new(CrosstermBackend::new(bytes.clone())),
            ratatui::TerminalOptions {
                viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 20, height)),
            },
        )
        .expect("terminal");
        (terminal, bytes)
    }

    fn frame(terminal: &mut Terminal<Quiet<CrosstermBackend<Bytes>>>, text: &'static str) {
        terminal
            .draw(|f| f.render_widget(Paragraph::new(text), f.area()))
            .expect("draws");
    }

    #[test]
    fn an_unchanged_frame_writes_nothing() {
        let (mut terminal, bytes) = terminal(2);
        let len = || bytes.0.lock().map(|b| b.len()).unwrap_or(0);
        frame(&mut terminal, "hello");
        let first = len();
        assert!(first > 0);
        frame(&mut terminal, "hello");
        assert_eq!(len(), first, "nothing changed, nothing written");
        frame(&mut terminal, "hallo");
        assert!(len() > first);
    }

    #[test]
    fn a_short_gap_is_sent_again_instead_of_a_cursor_move() {
        let (mut terminal, bytes) = terminal(1);
        frame(&mut terminal, "2.5 MB/s");
        frame(&mut terminal, "4.8 MB/s");
        let sent = bytes.0.lock().map(|b| b.clone()).unwrap_or_default();
        let sent = String::from_utf8_lossy(&sent);
        // One move, then `4.8` in one run: the unchanged `.` is sent
        // again rather than a second move to the `8`.
        let second = sent.rsplit("[?25l").next().unwrap_or_default();
        assert!(second.starts_with("\u{1b}[1;1H4.8\u{1b}"), "{second:?}");
    }
}
