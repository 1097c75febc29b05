//! What the operator asks for, whichever way: a key and a `:` command
//! that mean the same map to the same [`Action`], carried out in one
//! place ([`App::act`]), so that "cancel a test" or "open a host" is
//! written once.

use swarm_common::AgentId;

use super::{App, Overlay, View};
use crate::event::Command;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    ShowHosts,
    OpenTests,
    OpenAlerts,
    OpenHost(AgentId),
    /// One test's live results.
    OpenResults(String),
    /// The new-test form, its agents filled in as `p` does.
    NewTest,
    /// The `:` line, with this text already typed.
    CommandLine(String),
    /// Start typing the hosts filter.
    EditFilter,
    /// Set the hosts filter and show the table.
    Filter(String),
    /// Index into [`super::WINDOWS`].
    SetWindow(usize),
    /// Names the test and waits for `y`.
    AskCancel(String),
    /// Cancels now (after `y`, or typed out as `:cancel ID`).
    CancelTest(String),
}

impl App {
    /// Carries out one action; the commands it needs go to the network
    /// task.
    pub fn act(&mut self, action: Action, commands: &mut Vec<Command>) {
        match action {
            Action::Quit => self.quit = true,
            Action::Help => self.overlay = Some(Overlay::Help),
            Action::ShowHosts => self.view = View::Hosts,
            Action::OpenTests => self.open_tests(commands),
            Action::OpenAlerts => self.open_alerts(commands),
            Action::OpenHost(agent) => self.open_host(agent, commands),
            Action::OpenResults(id) => self.open_test_results(id, commands),
            Action::NewTest => self.open_form(),
            Action::CommandLine(text) => self.overlay = Some(Overlay::CommandLine(text)),
            Action::EditFilter => self.overlay = Some(Overlay::Filter),
            Action::Filter(text) => {
                self.table.filter = text;
                self.table.selected = 0;
                self.view = View::Hosts;
            }
            Action::SetWindow(window) => {
                self.host.window = window.min(super::WINDOWS.len() - 1);
                if let View::Host(agent) = self.view.clone() {
                    self.open_host(agent, commands);
                }
            }
            Action::AskCancel(id) => self.ask_cancel(&id),
            Action::CancelTest(id) => {
                self.notice = Some(format!("cancelling {id}…"));
                commands.push(Command::CancelTest(id));
            }
        }
    }
}
