//! A terminal backend that writes nothing for a frame in which no cell
//! changed. ratatui diffs each frame against the last and sends only the
//! changed cells, but still resets the colours after every draw and hides
//! the cursor on every frame: about 25 bytes a frame for nothing, which a
//! console redrawing each second for its clock would send over SSH all
//! day. Wrapped around the real backend, an idle screen sends no byte.

use ratatui::backend::{Backend, ClearType, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};

pub struct Quiet<B> {
    inner: B,
    /// What the terminal was last told about the cursor.
    cursor_hidden: Option<bool>,
}

impl<B> Quiet<B> {
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            cursor_hidden: None,
        }
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
        let mut content = content.peekable();
        if content.peek().is_none() {
            return Ok(());
        }
        self.inner.draw(content)
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
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
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

    #[test]
    fn an_unchanged_frame_writes_nothing() {
        let bytes = Bytes::default();
        let backend = Quiet::new(CrosstermBackend::new(bytes.clone()));
        let mut terminal = Terminal::with_options(
            backend,
            ratatui::TerminalOptions {
                viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 20, 2)),
            },
        )
        .expect("terminal");
        let len = || bytes.0.lock().map(|b| b.len()).unwrap_or(0);
        let frame = |terminal: &mut Terminal<_>, text: &'static str| {
            terminal
                .draw(|f| f.render_widget(Paragraph::new(text), f.area()))
                .expect("draws");
        };
        frame(&mut terminal, "hello");
        let first = len();
        assert!(first > 0);
        frame(&mut terminal, "hello");
        assert_eq!(len(), first, "nothing changed, nothing written");
        frame(&mut terminal, "hallo");
        assert!(len() > first);
    }
}
