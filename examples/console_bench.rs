//! Console benchmarks, on the real drawing code:
//! - 10,000 hosts: a frame of the hosts view (TestBackend, 160x48), the
//!   cost of applying 10,000 metric updates, and key press to redrawn
//!   frame while 10,000 updates a second arrive (in the console's bursts);
//! - 50 hosts updating every second for 60 s through the console's
//!   backend (crossterm, quiet on unchanged frames, short cursor moves)
//!   into a byte counter:
//!   what the console writes to the terminal (over SSH), with the redraw
//!   cap of 5 frames a second.
//!
//! cargo run --release -p swarm-tui --example console-bench

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use swarm_common::nats::LinkState;
use swarm_tui::app::App;
use swarm_tui::compact::Compact;
use swarm_tui::event::Event;
use swarm_tui::fixtures::{NOW, info, sample};
use swarm_tui::quiet::Quiet;
use swarm_tui::ui;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn fleet(n: usize) -> (App, Vec<String>) {
    let mut app = App::new(NOW);
    app.apply(Event::Nats(LinkState::Connected));
    app.apply(Event::HubHosts(Vec::new()));
    let names: Vec<String> = (0..n).map(|i| format!("host-{i:05}")).collect();
    for (i, name) in names.iter().enumerate() {
        app.apply(Event::Hello(Box::new(info(name, &["bench"]))));
        app.apply(Event::Metrics(Box::new(sample(
            name,
            NOW,
            (i % 100) as f64,
            50.0,
            1_000.0,
        ))));
    }
    (app, names)
}

/// Counts what the terminal would receive.
#[derive(Clone, Default)]
struct Counter(Rc<Cell<u64>>);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.set(self.0.get() + buf.len() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut app, names) = fleet(10_000);
    let mut terminal = Terminal::new(TestBackend::new(160, 48))?;

    // Frames of the hosts view, each after 100 updates (so the frame is
    // rebuilt and diffed, never a no-op).
    let mut frames = Vec::new();
    let mut ts = NOW;
    for round in 0..300usize {
        ts += 10;
        for name in names.iter().skip(round * 100 % 9_900).take(100) {
            app.apply(Event::Metrics(Box::new(sample(name, ts, 42.0, 50.0, 9.0))));
        }
        let t = Instant::now();
        terminal.draw(|f| ui::draw(f, &app))?;
        frames.push(t.elapsed().as_secs_f64() * 1e3);
    }
    frames.sort_by(f64::total_cmp);
    println!(
        "10,000 hosts, hosts view 160x48: frame median {:.3} ms, p99 {:.3} ms",
        percentile(&frames, 0.5),
        percentile(&frames, 0.99)
    );

    // 10,000 metric updates applied.
    let updates: Vec<Event> = names
        .iter()
        .map(|n| Event::Metrics(Box::new(sample(n, ts + 1_000, 7.0, 50.0, 9.0))))
        .collect();
    let t = Instant::now();
    for event in updates {
        app.apply(event);
    }
    let apply_ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "10,000 metric updates applied in {apply_ms:.2} ms ({:.1} % of each second)",
        apply_ms / 10.0
    );

    // Key press to redrawn frame while updates stream in: the console
    // applies at most one burst of 512 events before it looks at input,
    // so a key waits for at most one burst, then its own apply and draw.
    let mut latencies = Vec::new();
    let mut ts = ts + 1_000;
    for round in 0..50usize {
        ts += 100;
        let burst: Vec<Event> = names
            .iter()
            .skip(round * 512 % 9_000)
            .take(512)
            .map(|n| Event::Metrics(Box::new(sample(n, ts, 9.0, 50.0, 9.0))))
            .collect();
        let t = Instant::now();
        for event in burst {
            app.apply(event);
        }
        let key = if round % 2 == 0 {
            KeyCode::Down
        } else {
            KeyCode::Up
        };
        app.apply(Event::Key(KeyEvent::new(key, KeyModifiers::NONE)));
        app.clamp_selection();
        terminal.draw(|f| ui::draw(f, &app))?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "key press to redraw under 10,000 updates/s: median {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.5),
        latencies[latencies.len() - 1]
    );

    // Bytes to the terminal: 50 hosts, one update each per second, spread
    // over the second; 5 frames a second at most (the console's cap).
    // Values either wander as real hosts' do, or jump at random (the
    // worst case: every sparkline cell changes).
    for (width, height, jumpy) in [
        (80u16, 24u16, false),
        (160, 48, false),
        (80, 24, true),
        (160, 48, true),
    ] {
        let (mut app, names) = fleet(50);
        let counter = Counter::default();
        let mut terminal = Terminal::with_options(
            Quiet::new(CrosstermBackend::new(Compact::new(counter.clone()))),
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, width, height)),
            },
        )?;
        terminal.draw(|f| ui::draw(f, &app))?;
        let first = counter.0.get();
        let seconds = 60u64;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for s in 1..=seconds {
            let now = NOW + s * 1_000;
            for frame in 0..5u64 {
                for name in names.iter().skip(frame as usize * 10).take(10) {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let (cpu, rx) = if jumpy {
                        ((state % 10_000) as f64 / 100.0, (state % 5_000_000) as f64)
                    } else {
                        // A few percent and a few per cent of traffic
                        // around each host's own level.
                        let level = (name.len() * 7 % 60) as f64;
                        (
                            level + (state % 400) as f64 / 100.0,
                            1e5 + (state % 5_000) as f64,
                        )
                    };
                    let ts = now + frame * 200;
                    app.apply(Event::Metrics(Box::new(sample(name, ts, cpu, 50.0, rx))));
                }
                if frame == 0 {
                    app.apply(Event::Tick(now));
                }
                terminal.draw(|f| ui::draw(f, &app))?;
            }
        }
        let total = counter.0.get() - first;
        println!(
            "50 hosts updating every second, {width}x{height}, {}: {:.0} bytes/s to the terminal (first frame {first} bytes)",
            if jumpy {
                "values jumping at random"
            } else {
                "values wandering"
            },
            total as f64 / seconds as f64
        );
        // Idle: nothing changes, nothing is drawn (the console only draws
        // when its state changed); a redraw of an unchanged state (the
        // clock's tick) writes nothing through the quiet backend.
        let before = counter.0.get();
        terminal.draw(|f| ui::draw(f, &app))?;
        println!(
            "  an unchanged frame drawn again: {} bytes",
            counter.0.get() - before
        );
    }
    Ok(())
}
