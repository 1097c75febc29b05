//! What this process may probe with, found out once at start-up by opening
//! the sockets the probes would use.

use socket2::{Domain, Protocol, Socket, Type};
use swarm_common::protocol::{ProbeCaps, TestKind};

/// How ICMP echo can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpMode {
    /// Datagram ICMP sockets: the process's group is in
    /// `net.ipv4.ping_group_range`.
    Unprivileged,
    /// Raw sockets: root or CAP_NET_RAW.
    Raw,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub icmp: IcmpMode,
    pub raw: bool,
}

const ICMP_HELP: &str = "ICMP needs this process's group in net.ipv4.ping_group_range \
     (e.g. sysctl -w net.ipv4.ping_group_range=\"0 2147483647\") or raw sockets \
     (run as root, or setcap cap_net_raw+ep swarm-agent)";
const RAW_HELP: &str = "traceroute needs raw sockets: run as root, or \
     setcap cap_net_raw+ep swarm-agent";

impl Caps {
    pub fn detect() -> Self {
        let dgram = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)).is_ok();
        let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).is_ok();
        let icmp = match (dgram, raw) {
            (true, _) => IcmpMode::Unprivileged,
            (false, true) => IcmpMode::Raw,
            (false, false) => IcmpMode::None,
        };
        Self { icmp, raw }
    }

    /// Why a kind cannot run here, saying exactly what to change.
    pub fn refuse(&self, kind: TestKind) -> Option<String> {
        match kind {
            TestKind::Ping if self.icmp == IcmpMode::None => Some(ICMP_HELP.to_owned()),
            TestKind::Traceroute if !self.raw => Some(RAW_HELP.to_owned()),
            _ => None,
        }
    }

    /// For HostInfo.
    pub fn report(&self) -> ProbeCaps {
        let icmp = match self.icmp {
            IcmpMode::Unprivileged => "unprivileged",
            IcmpMode::Raw => "raw",
            IcmpMode::None => "none",
        };
        let note = self
            .refuse(TestKind::Ping)
            .or_else(|| self.refuse(TestKind::Traceroute));
        ProbeCaps {
            icmp: icmp.to_owned(),
            traceroute: self.raw,
            tcp: true,
            note,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_to_change() {
        let none = Caps {
            icmp: IcmpMode::None,
            raw: false,
        };
        let ping = none.refuse(TestKind::Ping).unwrap_or_default();
        assert!(
            ping.contains("ping_group_range") && ping.contains("cap_net_raw"),
            "{ping}"
        );
        assert!(none.refuse(TestKind::Traceroute).is_some());
        assert_eq!(none.refuse(TestKind::Tcp), None);
        assert_eq!(none.report().icmp, "none");
        let root = Caps {
            icmp: IcmpMode::Raw,
            raw: true,
        };
        assert_eq!(root.refuse(TestKind::Ping), None);
        assert_eq!(root.refuse(TestKind::Traceroute), None);
        assert_eq!(root.report().note, None);
    }
}
