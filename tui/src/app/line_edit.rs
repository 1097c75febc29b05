//! Editing one line of text the way a shell does: characters, Backspace,
//! Ctrl-U (clear) and Ctrl-W (delete the last word). One place for the
//! filter, the command line and the form's fields.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key did to the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Changed,
    /// An editing key that changed nothing (the line is full or empty).
    Unchanged,
    /// Not an editing key: the caller handles it.
    Other,
}

pub fn edit(text: &mut String, key: KeyEvent, max_chars: usize) -> Edit {
    let control = key.modifiers.contains(KeyModifiers::CONTROL);
    let changed = |did: bool| if did { Edit::Changed } else { Edit::Unchanged };
    match key.code {
        KeyCode::Char('u') if control => changed(!std::mem::take(text).is_empty()),
        KeyCode::Char('w') if control => {
            let before = text.len();
            let kept = text.trim_end().len();
            let word_start = text[..kept].rfind(char::is_whitespace).map_or(0, |i| i + 1);
            text.truncate(word_start);
            changed(text.len() != before)
        }
        KeyCode::Char(_) if control || key.modifiers.contains(KeyModifiers::ALT) => Edit::Other,
        KeyCode::Backspace => changed(text.pop().is_some()),
        KeyCode::Char(c) if !c.is_control() => {
            if text.chars().count() >= max_chars {
                return Edit::Unchanged;
            }
            text.push(c);
            Edit::Changed
        }
        _ => Edit::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn shell_keys_edit_instead_of_typing_letters() {
        let mut line = "ping 10.0.0.5 web-1  ".to_owned();
        let ctrl = KeyModifiers::CONTROL;
        assert_eq!(
            edit(&mut line, key(KeyCode::Char('w'), ctrl), 64),
            Edit::Changed
        );
        assert_eq!(line, "ping 10.0.0.5 ");
        assert_eq!(
            edit(&mut line, key(KeyCode::Char('w'), ctrl), 64),
            Edit::Changed
        );
        assert_eq!(line, "ping ");
        assert_eq!(
            edit(&mut line, key(KeyCode::Char('u'), ctrl), 64),
            Edit::Changed
        );
        assert_eq!(line, "");
        assert_eq!(
            edit(&mut line, key(KeyCode::Char('u'), ctrl), 64),
            Edit::Unchanged
        );
        assert_eq!(
            edit(&mut line, key(KeyCode::Char('x'), ctrl), 64),
            Edit::Other
        );
        assert_eq!(
            edit(&mut line, key(KeyCode::Char('a'), KeyModifiers::NONE), 1),
            Edit::Changed
        );
        assert_eq!(
            edit(&mut line, key(KeyCode::Char('b'), KeyModifiers::NONE), 1),
            Edit::Unchanged
        );
        assert_eq!(line, "a");
    }
}
