//! NATS connection options shared by every binary: servers, credentials,
//! TLS, reconnect backoff, and the watching of asynchronous server errors
//! (a denied publish returns Ok; the violation arrives later as an event).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::{Client, ConnectErrorKind, ConnectOptions, Event, ServerError};
use tokio::sync::watch;

/// Connection flags of every binary (`PROTOCOL.md`, Command lines).
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    /// NATS servers, comma separated.
    #[arg(
        long = "nats",
        env = "SWARM_NATS_URL",
        value_delimiter = ',',
        default_value = "nats://127.0.0.1:4222",
        global = true
    )]
    pub servers: Vec<String>,
    /// NATS credentials file (JWT + nkey seed).
    #[arg(long, env = "SWARM_NATS_CREDS", global = true)]
    pub creds: Option<PathBuf>,
    /// User name; the password comes from SWARM_NATS_PASSWORD or --password-file, never a flag value.
    #[arg(long, env = "SWARM_NATS_USER", global = true)]
    pub user: Option<String>,
    /// File holding the password for --user (first line).
    #[arg(long, env = "SWARM_NATS_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// CA certificate(s) to verify the server with (PEM).
    #[arg(long, env = "SWARM_TLS_CA", global = true)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate for mutual TLS (PEM).
    #[arg(long, env = "SWARM_TLS_CERT", requires = "tls_key", global = true)]
    pub tls_cert: Option<PathBuf>,
    /// Key of the client certificate (PEM).
    #[arg(long, env = "SWARM_TLS_KEY", requires = "tls_cert", global = true)]
    pub tls_key: Option<PathBuf>,
    /// Subject prefix of this client's reply inboxes. Default: `_INBOX.<user>`
    /// with --user (what the roles of `swarm-hub access` allow), the
    /// agent's `_INBOX.agent-<id>` for agents, else `_INBOX`.
    #[arg(long, env = "SWARM_INBOX_PREFIX", global = true)]
    pub inbox_prefix: Option<String>,
    /// Connect only over TLS: a server that does not offer it is refused,
    /// so no password or data ever crosses the network in the clear.
    #[arg(long, env = "SWARM_REQUIRE_TLS", global = true)]
    pub require_tls: bool,
}

impl Default for NatsArgs {
    fn default() -> Self {
        Self::for_url("nats://127.0.0.1:4222")
    }
}

impl NatsArgs {
    /// Plain options for one server URL (tests, examples).
    pub fn for_url(url: &str) -> Self {
        Self {
            servers: vec![url.to_owned()],
            creds: None,
            user: None,
            password_file: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            inbox_prefix: None,
            require_tls: false,
        }
    }

    /// The inbox prefix this client uses (see `--inbox-prefix`).
    pub fn effective_inbox_prefix(&self) -> Option<String> {
        self.inbox_prefix
            .clone()
            .or_else(|| self.user.as_deref().map(crate::roles::inbox_prefix))
    }

    pub fn servers_display(&self) -> String {
        self.servers.join(",")
    }
}

/// Why the options could not be built or the server refused us.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("--user {user} needs a password: set SWARM_NATS_PASSWORD or --password-file")]
    MissingPassword { user: String },
    #[error("cannot read {what} {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the NATS server refused our credentials ({0})")]
    AuthRefused(String),
    #[error("cannot reach NATS at {servers}: {reason}")]
    Unreachable { servers: String, reason: String },
}

/// State of the link to NATS, for status lines and health reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected yet or lost; the text says why.
    Down(String),
    Connected,
}

/// Shared, cheap-to-read health of one NATS connection: link state and
/// counters of asynchronous server errors.
#[derive(Debug)]
pub struct NatsHealth {
    state: watch::Sender<LinkState>,
    server_errors: AtomicU64,
    permission_violations: AtomicU64,
    slow_consumer: AtomicU64,
}

impl NatsHealth {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: watch::Sender::new(LinkState::Down("connecting".into())),
            server_errors: AtomicU64::new(0),
            permission_violations: AtomicU64::new(0),
            slow_consumer: AtomicU64::new(0),
        })
    }

    pub fn subscribe(&self) -> watch::Receiver<LinkState> {
        self.state.subscribe()
    }

    pub fn state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    pub fn is_connected(&self) -> bool {
        *self.state.borrow() == LinkState::Connected
    }

    pub fn permission_violations(&self) -> u64 {
        self.permission_violations.load(Ordering::Relaxed)
    }

    pub fn server_errors(&self) -> u64 {
        self.server_errors.load(Ordering::Relaxed)
    }

    pub fn slow_consumer_events(&self) -> u64 {
        self.slow_consumer.load(Ordering::Relaxed)
    }

    fn set(&self, state: LinkState) {
        // Notify watchers only on a real change, so "connected" twice in a
        // row (connect result, then the client's event) is one transition.
        self.state.send_if_modified(|current| {
            let changed = *current != state;
            *current = state;
            changed
        });
    }

    fn on_event(&self, event: Event) {
        match event {
            Event::Connected => {
                tracing::info!("connected to NATS");
                self.set(LinkState::Connected);
            }
            Event::Disconnected => {
                tracing::warn!("disconnected from NATS; reconnecting");
                self.set(LinkState::Down("disconnected, reconnecting".into()));
            }
            Event::ServerError(ServerError::Other(text))
                if text.to_ascii_lowercase().contains("permissions violation") =>
            {
                // Protocol text is all we get for this event; the server's
                // wording has been stable since 2.0.
                self.permission_violations.fetch_add(1, Ordering::Relaxed);
                self.server_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("NATS refused an operation: {text}");
            }
            Event::ServerError(ServerError::SlowConsumer(sid)) | Event::SlowConsumer(sid) => {
                self.slow_consumer.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("NATS slow consumer on subscription {sid}: messages dropped");
            }
            Event::ServerError(err) => {
                self.server_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("NATS server error: {err}");
            }
            Event::ClientError(err) => tracing::warn!("NATS client error: {err}"),
            Event::LameDuckMode => tracing::warn!("NATS server entering lame duck mode"),
            Event::Draining | Event::Closed => {
                self.set(LinkState::Down("closed".into()));
            }
        }
    }
}

/// Longest wait between reconnect attempts, before jitter: near the 2 s
/// NATS clients use by default, so every binary is back within about 3 s
/// of the bus coming back, however long it was gone.
pub const MAX_BACKOFF_MS: u64 = 2_000;

/// Reconnect backoff: exponential from 250 ms to 2 s, with ±25% jitter so a
/// fleet does not reconnect in lockstep.
pub fn backoff(attempt: usize) -> Duration {
    let exp = attempt.min(6) as u32;
    let base_ms = (250u64 << exp).min(MAX_BACKOFF_MS);
    let jitter = rand::random_range(0.75..1.25);
    Duration::from_millis((base_ms as f64 * jitter) as u64)
}

/// Builds the client options; `inbox_prefix` keeps one role's replies apart.
pub async fn options(
    args: &NatsArgs,
    name: &str,
    health: Arc<NatsHealth>,
) -> Result<ConnectOptions, NatsError> {
    let mut opts = match &args.creds {
        Some(path) => ConnectOptions::with_credentials_file(path.clone())
            .await
            .map_err(|source| NatsError::ReadFile {
                what: "credentials file",
                path: path.clone(),
                source,
            })?,
        None => ConnectOptions::new(),
    };
    if let Some(user) = &args.user {
        let password = password(args, user)?;
        if !args.require_tls
            && args.tls_ca.is_none()
            && !args.servers.iter().all(|s| is_loopback(s))
        {
            tracing::warn!(
                "sending the password of {user} without TLS; set --tls-ca (and --require-tls) so it cannot be read on the way"
            );
        }
        opts = opts.user_and_password(user.clone(), password);
    }
    if args.require_tls {
        opts = opts.require_tls(true);
    }
    if let Some(ca) = &args.tls_ca {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        opts = opts
            .add_client_certificate(cert.clone(), key.clone())
            .require_tls(true);
    }
    if let Some(prefix) = args.effective_inbox_prefix() {
        opts = opts.custom_inbox_prefix(prefix);
    }
    Ok(opts
        .name(name)
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .reconnect_delay_callback(backoff)
        .event_callback(move |event| {
            let health = health.clone();
            async move { health.on_event(event) }
        }))
}

/// Whether a server URL names this machine (`127.0.0.0/8`, `::1`,
/// `localhost`), where a plaintext password does not cross a network.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(h, _)| h),
        None => host_port.split(':').next().unwrap_or(host_port),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn password(args: &NatsArgs, user: &str) -> Result<String, NatsError> {
    if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path).map_err(|source| NatsError::ReadFile {
            what: "password file",
            path: path.clone(),
            source,
        })?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    std::env::var("SWARM_NATS_PASSWORD").map_err(|_| NatsError::MissingPassword {
        user: user.to_owned(),
    })
}

/// Connects once; the error says whether the server is unreachable or
/// refused our credentials.
pub async fn connect_once(
    args: &NatsArgs,
    name: &str,
    health: Arc<NatsHealth>,
) -> Result<Client, NatsError> {
    let opts = options(args, name, health.clone()).await?;
    match opts.connect(args.servers.clone()).await {
        Ok(client) => {
            health.set(LinkState::Connected);
            Ok(client)
        }
        Err(err) => {
            let reason = err.to_string();
            health.set(LinkState::Down(reason.clone()));
            match err.kind() {
                ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
                    Err(NatsError::AuthRefused(reason))
                }
                _ => Err(NatsError::Unreachable {
                    servers: args.servers_display(),
                    reason,
                }),
            }
        }
    }
}

/// Connects, retrying with backoff for as long as it takes; every failure is
/// logged once per attempt with its cause. Fails only for local mistakes
/// (unreadable credentials, missing password) that retrying cannot fix.
pub async fn connect_with_retry(
    args: &NatsArgs,
    name: &str,
    health: Arc<NatsHealth>,
) -> Result<Client, NatsError> {
    let mut attempt = 0usize;
    loop {
        match connect_once(args, name, health.clone()).await {
            Ok(client) => return Ok(client),
            Err(err @ (NatsError::MissingPassword { .. } | NatsError::ReadFile { .. })) => {
                return Err(err);
            }
            Err(err) => {
                let wait = backoff(attempt);
                tracing::warn!("{err}; retrying in {}", crate::duration::short(wait));
                attempt += 1;
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Why a message could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Encode(#[from] crate::codec::CodecError),
    #[error("cannot publish to {subject}: {source}")]
    Nats {
        subject: String,
        source: async_nats::PublishError,
    },
}

/// Publishes a payload as named MessagePack with the contract's header.
pub async fn publish_msgpack<T: serde::Serialize + ?Sized>(
    client: &Client,
    subject: String,
    value: &T,
) -> Result<(), PublishError> {
    let body = crate::codec::to_msgpack(value)?;
    client
        .publish_with_headers(subject.clone(), crate::codec::msgpack_headers(), body)
        .await
        .map_err(|source| PublishError::Nats { subject, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_servers() {
        for url in [
            "nats://127.0.0.1:4222",
            "localhost:4222",
            "nats://u@[::1]:4222",
            "127.9.9.9",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "nats://10.0.0.5:4222",
            "tls://bus.example.net:4222",
            "nats://[2001:db8::1]:4222",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 0..50 {
            let d = backoff(attempt);
            assert!(d >= Duration::from_millis(187), "attempt {attempt}: {d:?}");
            assert!(
                d <= Duration::from_millis(2_500),
                "attempt {attempt}: {d:?}"
            );
        }
        assert!(backoff(0) < backoff(10));
    }
}
