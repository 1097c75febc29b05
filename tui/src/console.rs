//! The console's loop: input, network events and the clock go into the
//! state; the screen is redrawn only when the state says it changed, and
//! network updates at most [`MIN_FRAME`] apart, so an idle console over SSH
//! writes nothing; a key press is drawn at once.

use std::io::Stdout;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};
use swarm_common::AgentId;
use swarm_common::nats::NatsArgs;
use swarm_common::time::now_ms;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::{App, Look};
use crate::compact::Compact;
use crate::event::{Command, Event};
use crate::quiet::Quiet;
use crate::{net, ui};

/// Redraw cap: at most five frames a second.
pub const MIN_FRAME: Duration = Duration::from_millis(200);
/// Network events applied per wake-up before drawing again.
const EVENT_BURST: usize = 512;

/// Where the console opens and how it draws.
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub host: Option<AgentId>,
    pub tests: bool,
    pub look: Look,
}

/// What the console draws on: the terminal, through [`Quiet`] so that a
/// frame in which nothing changed sends nothing, and [`Compact`] so that
/// cursor moves are short.
type Screen = Terminal<Quiet<CrosstermBackend<Compact<Stdout>>>>;

pub async fn run(args: NatsArgs, start: Start) -> anyhow::Result<()> {
    // `try_init` puts the terminal in raw mode on the alternate screen and
    // installs the panic hook that restores it; the console then draws on
    // its own quiet backend over the same stdout.
    drop(ratatui::try_init()?);
    let backend = Quiet::new(CrosstermBackend::new(Compact::new(std::io::stdout())));
    let result = match Terminal::new(backend) {
        Ok(mut terminal) => event_loop(&mut terminal, args, start).await,
        Err(e) => Err(e.into()),
    };
    ratatui::restore();
    result
}

async fn event_loop(terminal: &mut Screen, args: NatsArgs, start: Start) -> anyhow::Result<()> {
    let (event_tx, events) = mpsc::channel::<Event>(4096);
    let (command_tx, commands) = mpsc::channel::<Command>(64);
    let network = tokio::spawn(net::run(args, event_tx, commands));

    let mut app = App::new(now_ms());
    app.look = start.look;
    let mut initial = Vec::new();
    if let Some(agent) = start.host {
        app.open_host(agent, &mut initial);
    } else if start.tests {
        app.open_tests(&mut initial);
    }
    for c in initial {
        let _ = command_tx.try_send(c);
    }
    let result = drive(terminal, EventStream::new(), events, &command_tx, app).await;
    network.abort();
    result.map(drop)
}

/// The loop itself, on any backend and any input stream (a test drives it
/// on `TestBackend` with scripted keys): applies input, network events and
/// the clock to `app`, sends out the commands they give, and draws only
/// when the state changed. Input goes first, so a key is never queued
/// behind a burst of updates. Returns the state it ended with, at `q` or
/// at the end of the input.
pub async fn drive<B, I>(
    terminal: &mut Terminal<B>,
    mut input: I,
    mut events: mpsc::Receiver<Event>,
    command_tx: &mpsc::Sender<Command>,
    mut app: App,
) -> anyhow::Result<App>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    I: Stream<Item = std::io::Result<TermEvent>> + Unpin,
{
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    // A key press is answered at once, whatever the frame cap says: the
    // cap is for the flow of network updates.
    let mut urgent = false;
    let mut last_draw: Option<Instant> = None;

    while !app.quit {
        if dirty && (urgent || last_draw.is_none_or(|t| t.elapsed() >= MIN_FRAME)) {
            app.clamp_selection();
            terminal.draw(|frame| ui::draw(frame, &app))?;
            last_draw = Some(Instant::now());
            dirty = false;
            urgent = false;
        }
        let next_frame = match (dirty, last_draw) {
            (true, Some(t)) => t + MIN_FRAME,
            _ => Instant::now() + Duration::from_secs(3600),
        };
        let apply = |event: Event, app: &mut App| {
            let (changed, out) = app.apply(event);
            for command in out {
                // A full queue means the network task is far behind: the
                // refresh will be asked for again.
                let _ = command_tx.try_send(command);
            }
            changed
        };
        tokio::select! {
            biased;
            term = input.next() => match term {
                Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => {
                    let changed = apply(Event::Key(key), &mut app);
                    dirty |= changed;
                    urgent |= changed;
                }
                Some(Ok(TermEvent::Resize(_, _))) => dirty |= apply(Event::Resize, &mut app),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            event = events.recv() => {
                let Some(event) = event else { break };
                dirty |= apply(event, &mut app);
                for _ in 0..EVENT_BURST {
                    match events.try_recv() {
                        Ok(event) => dirty |= apply(event, &mut app),
                        Err(_) => break,
                    }
                }
            }
            _ = clock.tick() => dirty |= apply(Event::Tick(now_ms()), &mut app),
            () = tokio::time::sleep_until(next_frame) => {}
        }
    }
    Ok(app)
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::fixtures;

    fn keys(codes: &[KeyCode]) -> impl Stream<Item = std::io::Result<TermEvent>> + Unpin {
        let events: Vec<std::io::Result<TermEvent>> = codes
            .iter()
            .map(|c| Ok(TermEvent::Key(KeyEvent::new(*c, KeyModifiers::NONE))))
            .collect();
        futures::stream::iter(events)
    }

    #[tokio::test]
    async fn keys_that_change_nothing_draw_nothing_and_the_rest_draw_at_once() {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
        let (_events_tx, events) = mpsc::channel(8);
        let (command_tx, mut commands) = mpsc::channel(8);
        // `x` in the hosts table does nothing; `t` opens the tests view
        // (and asks for the list); Down there with no tests does nothing.
        let input = keys(&[KeyCode::Char('x'), KeyCode::Char('t'), KeyCode::Down]);
        let app = drive(&mut terminal, input, events, &command_tx, fixtures::app())
            .await
            .expect("runs");
        assert_eq!(app.view, crate::app::View::Tests);
        // The first frame, then one for `t`: nothing for the others.
        assert_eq!(terminal.get_frame().count(), 2);
        assert!(
            terminal
                .backend()
                .to_string()
                .contains("No network tests yet")
        );
        assert_eq!(commands.try_recv().ok(), Some(Command::RefreshTests));
    }

    #[tokio::test]
    async fn q_ends_the_loop() {
        let mut terminal = Terminal::new(TestBackend::new(40, 10)).expect("terminal");
        let (_events_tx, events) = mpsc::channel(8);
        let (command_tx, _commands) = mpsc::channel(8);
        let input = keys(&[KeyCode::Char('q'), KeyCode::Char('?')]);
        let app = drive(&mut terminal, input, events, &command_tx, fixtures::app())
            .await
            .expect("runs");
        assert!(app.quit);
        assert!(!app.help_open(), "nothing after q is read");
    }
}
