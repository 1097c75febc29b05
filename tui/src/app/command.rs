//! The `:` command line: the console's actions typed out, for operators
//! who would rather type than navigate.
//!
//! `:ping TARGET [AGENTS...]`, `:tcp TARGET PORT [AGENTS...]`,
//! `:trace TARGET [AGENTS...]` create a test (agents default as for `p`);
//! `:host ID`, `:hosts`, `:tests`, `:window 6h`, `:filter TEXT`,
//! `:cancel ID`, `:alerts`, `:ack COMMENT` (the selected alert),
//! `:tag +TAG -TAG ...` (hub-side tags of the marked hosts, or the one in
//! view or under the cursor; a bare tag adds), `:forget [purge]` (the
//! same hosts, offline ones only), `:help`, `:q`.

use swarm_common::AgentId;
use swarm_common::protocol::{TestKind, TestSpec};

use super::{Action, App, WINDOWS};
use crate::event::Command;
use crate::spec;

/// Runs one command line; what went wrong is said in the status line.
pub fn run(app: &mut App, line: &str, commands: &mut Vec<Command>) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&verb, args)) = words.split_first() else {
        return;
    };
    // What a key can do too is an action; the rest have no key of their
    // own and act here.
    let action = match verb {
        "q" | "quit" => Ok(Action::Quit),
        "help" => Ok(Action::Help),
        "hosts" => Ok(Action::ShowHosts),
        "tests" => Ok(Action::OpenTests),
        "host" => host(app, args),
        "window" => window(args),
        "filter" => Ok(Action::Filter(args.join(" "))),
        "cancel" => match args {
            [id] => Ok(Action::CancelTest((*id).to_owned())),
            _ => Err("usage: :cancel TEST_ID".to_owned()),
        },
        "alerts" => Ok(Action::OpenAlerts),
        _ => {
            let done = match verb {
                "ping" | "tcp" | "trace" | "traceroute" => test(app, verb, args, commands),
                "ack" => app.ack_selected(&args.join(" "), commands),
                "tag" | "tags" => tags(app, args, commands),
                "forget" => forget(app, args, commands),
                _ => Err(format!("unknown command :{verb} (:help lists the keys)")),
            };
            if let Err(e) = done {
                app.notice = Some(e);
            }
            return;
        }
    };
    match action {
        Ok(action) => app.act(action, commands),
        Err(e) => app.notice = Some(e),
    }
}

fn forget(app: &mut App, args: &[&str], commands: &mut Vec<Command>) -> Result<(), String> {
    let purge = match args {
        [] => false,
        ["purge"] => true,
        _ => return Err("usage: :forget [purge] (the marked hosts, or the one chosen)".into()),
    };
    let agents = app.chosen_hosts();
    if agents.is_empty() {
        return Err("no host chosen: mark hosts with space or put the cursor on one".into());
    }
    app.notice = Some(format!("forgetting {} hosts…", agents.len()));
    commands.push(Command::ForgetHosts { agents, purge });
    Ok(())
}

fn tags(app: &mut App, args: &[&str], commands: &mut Vec<Command>) -> Result<(), String> {
    let usage = || "usage: :tag +TAG -TAG ... (on the marked hosts, or the one chosen)".to_owned();
    if args.is_empty() {
        return Err(usage());
    }
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    for word in args {
        let (list, tag) = match word.strip_prefix('-') {
            Some(tag) => (&mut remove, tag),
            None => (&mut add, word.strip_prefix('+').unwrap_or(word)),
        };
        swarm_common::limits::check_tag(tag)?;
        list.push(tag.to_owned());
    }
    let agents = app.chosen_hosts();
    if agents.is_empty() {
        return Err("no host chosen: mark hosts with space or put the cursor on one".into());
    }
    app.notice = Some(format!("changing hub tags on {} hosts…", agents.len()));
    commands.push(Command::EditTags {
        agents,
        add,
        remove,
    });
    Ok(())
}

fn host(app: &App, args: &[&str]) -> Result<Action, String> {
    let [name] = args else {
        return Err("usage: :host AGENT_ID".into());
    };
    let agent = AgentId::parse(name).map_err(|e| format!(":host {name}: {e}"))?;
    if !app.hosts.contains_key(&agent) {
        return Err(format!("no host {agent}"));
    }
    Ok(Action::OpenHost(agent))
}

fn window(args: &[&str]) -> Result<Action, String> {
    let labels: Vec<&str> = WINDOWS.iter().map(|(l, _)| *l).collect();
    match args {
        [w] => WINDOWS.iter().position(|(l, _)| l == w),
        _ => None,
    }
    .map(Action::SetWindow)
    .ok_or_else(|| format!("usage: :window {}", labels.join("|")))
}

fn test(
    app: &mut App,
    verb: &str,
    args: &[&str],
    commands: &mut Vec<Command>,
) -> Result<(), String> {
    let kind = match verb {
        "ping" => TestKind::Ping,
        "tcp" => TestKind::Tcp,
        _ => TestKind::Traceroute,
    };
    let usage = || match kind {
        TestKind::Tcp => "usage: :tcp TARGET PORT [AGENTS...]".to_owned(),
        _ => format!("usage: :{verb} TARGET [AGENTS...]"),
    };
    let (target, rest) = args.split_first().ok_or_else(usage)?;
    let (port, rest) = match kind {
        TestKind::Tcp => {
            let (port, rest) = rest.split_first().ok_or_else(usage)?;
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("port {port:?} must be 1-65535"))?;
            (Some(port), rest)
        }
        _ => (None, rest),
    };
    let agents = if rest.is_empty() {
        spec::split_selectors(&app.prefill_agents())
    } else {
        rest.iter().map(|s| (*s).to_owned()).collect()
    };
    commands.push(Command::CreateTest(Box::new(TestSpec {
        port,
        ..TestSpec::new(kind, *target, agents)
    })));
    app.notice = Some(format!("creating a {} test to {target}…", kind.as_str()));
    Ok(())
}
