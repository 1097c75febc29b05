//! Network namespaces a test builds for itself, so probes never leave the
//! machine: this process's namespace is the "host", a `router` namespace
//! one hop away, a `target` namespace two hops away.
//!
//! ```text
//! host (this process) 10.R.1.1 ── veth ── 10.R.1.2 router 10.R.2.1 ── veth ── 10.R.2.2 target
//! ```
//!
//! Everything is removed on drop. Needs root (or CAP_NET_ADMIN) and
//! iproute2; [`Topology::build`] says why when it cannot.

use std::net::Ipv4Addr;
use std::process::Command;

pub struct Topology {
    tag: String,
    subnet: u8,
}

impl Topology {
    /// Builds the topology, or says why it cannot be built here.
    pub fn build() -> Result<Self, String> {
        let pid = std::process::id();
        // One /16-ish block per test process and call, inside 10.200-249.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let subnet = 200 + ((pid + n * 7) % 50) as u8;
        let tag = format!("sw{}x{n}", pid % 100_000);
        let topo = Self { tag, subnet };
        topo.create()?;
        Ok(topo)
    }

    fn ns(&self, role: &str) -> String {
        format!("{}{role}", self.tag)
    }

    fn create(&self) -> Result<(), String> {
        let (r, t) = (self.ns("r"), self.ns("t"));
        let s = self.subnet;
        let (h0, r0, r1, t0) = (
            format!("{}h0", self.tag),
            format!("{}r0", self.tag),
            format!("{}r1", self.tag),
            format!("{}t0", self.tag),
        );
        let steps: Vec<Vec<String>> = vec![
            sv(&["netns", "add", &r]),
            sv(&["netns", "add", &t]),
            sv(&["link", "add", &h0, "type", "veth", "peer", "name", &r0]),
            sv(&["link", "set", &r0, "netns", &r]),
            sv(&["addr", "add", &format!("10.{s}.1.1/24"), "dev", &h0]),
            sv(&["link", "set", &h0, "up"]),
            sv(&[
                "-n",
                &r,
                "addr",
                "add",
                &format!("10.{s}.1.2/24"),
                "dev",
                &r0,
            ]),
            sv(&["-n", &r, "link", "set", &r0, "up"]),
            sv(&["-n", &r, "link", "set", "lo", "up"]),
            sv(&[
                "link", "add", &r1, "netns", &r, "type", "veth", "peer", "name", &t0, "netns", &t,
            ]),
            sv(&[
                "-n",
                &r,
                "addr",
                "add",
                &format!("10.{s}.2.1/24"),
                "dev",
                &r1,
            ]),
            sv(&["-n", &r, "link", "set", &r1, "up"]),
            sv(&[
                "-n",
                &t,
                "addr",
                "add",
                &format!("10.{s}.2.2/24"),
                "dev",
                &t0,
            ]),
            sv(&["-n", &t, "link", "set", &t0, "up"]),
            sv(&["-n", &t, "link", "set", "lo", "up"]),
            sv(&[
                "-n",
                &t,
                "route",
                "add",
                "default",
                "via",
                &format!("10.{s}.2.1"),
            ]),
            sv(&[
                "route",
                "add",
                &format!("10.{s}.2.0/24"),
                "via",
                &format!("10.{s}.1.2"),
            ]),
        ];
        for step in steps {
            ip(&step)?;
        }
        let forward = Command::new("ip")
            .args([
                "netns",
                "exec",
                &r,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])
            .output()
            .map_err(|e| format!("cannot run sysctl in {r}: {e}"))?;
        if !forward.status.success() {
            return Err(format!(
                "cannot enable forwarding in {r}: {}",
                String::from_utf8_lossy(&forward.stderr).trim()
            ));
        }
        Ok(())
    }

    /// The router's address on the host's link (hop 1).
    pub fn router(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.subnet, 1, 2)
    }

    /// The target (hop 2).
    pub fn target(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.subnet, 2, 2)
    }

    /// An address on the target's link that nobody holds: echoes to it are
    /// never answered, and go nowhere but into the test's namespaces.
    pub fn silent(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.subnet, 2, 99)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = ip(&sv(&[
            "route",
            "del",
            &format!("10.{}.2.0/24", self.subnet),
        ]));
        let _ = ip(&sv(&["link", "del", &format!("{}h0", self.tag)]));
        let _ = ip(&sv(&["netns", "del", &self.ns("r")]));
        let _ = ip(&sv(&["netns", "del", &self.ns("t")]));
    }
}

fn sv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

fn ip(args: &[String]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
