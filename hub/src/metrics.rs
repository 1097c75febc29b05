//! `GET /metrics` for Prometheus (`--metrics-listen ADDR`): per host the
//! latest values, host info and tags, firing alerts, and the hub's own
//! counters, in the OpenMetrics text format (`PROTOCOL.md`, "v2:
//! Prometheus"). Built afresh at each scrape from the registry, so a host
//! that goes offline keeps only `swarm_host_up 0` and its info, and a
//! forgotten one is gone.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use swarm_common::protocol::alerts::AlertState;
use swarm_common::protocol::{HostStatus, MetricsSample, Millis};
use swarm_common::time::now_ms;

use crate::HubState;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;
type Values = Family<Labels, Gauge<f64, AtomicU64>>;

/// Serves `/metrics` on a bound listener until the task is aborted (the
/// caller binds, so a port in use is an error at start-up).
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<HubState>) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("serving Prometheus metrics on http://{addr}/metrics");
    }
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let state = state.clone();
            async move { scrape(state).await }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("the metrics server stopped: {e}");
    }
}

async fn scrape(state: Arc<HubState>) -> impl IntoResponse {
    // The registry is walked under its lock: off the async threads.
    match tokio::task::spawn_blocking(move || exposition(&state)).await {
        Ok(Ok(text)) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("cannot encode the metrics: {e}\n"),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("the scrape failed: {e}\n"),
        ),
    }
}

/// One family per metric, registered under its name, help and unit.
struct Families {
    registry: Registry,
}

impl Families {
    fn gauge(&mut self, name: &str, help: &str, unit: Option<Unit>) -> Values {
        let family = Values::default();
        match unit {
            Some(unit) => self
                .registry
                .register_with_unit(name, help, unit, family.clone()),
            None => self.registry.register(name, help, family.clone()),
        }
        family
    }

    fn counter(&mut self, name: &str, help: &str) -> Family<Labels, Counter> {
        let family = Family::<Labels, Counter>::default();
        self.registry.register(name, help, family.clone());
        family
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn set(family: &Values, labels: Labels, value: Option<f64>) {
    if let Some(v) = value.filter(|v| v.is_finite()) {
        family.get_or_create(&labels).set(v);
    }
}

/// The whole exposition as text.
pub fn exposition(state: &HubState) -> Result<String, std::fmt::Error> {
    let mut f = Families {
        registry: Registry::default(),
    };
    let up = f.gauge(
        "swarm_host_up",
        "1 when the host is online, 0 when offline",
        None,
    );
    let info = f.gauge(
        "swarm_host_info",
        "Host information and merged tags (value 1)",
        None,
    );
    let cpu = f.gauge("swarm_cpu_percent", "CPU busy, percent of all cores", None);
    let mem_used = f.gauge("swarm_memory_used", "Memory used", Some(Unit::Bytes));
    let mem_total = f.gauge("swarm_memory_total", "Memory installed", Some(Unit::Bytes));
    let swap_used = f.gauge("swarm_swap_used", "Swap used", Some(Unit::Bytes));
    let disk_ratio = f.gauge("swarm_disk_used_ratio", "Disk used, by mount", None);
    let disk_size = f.gauge("swarm_disk_size", "Disk size, by mount", Some(Unit::Bytes));
    let rx = f.gauge(
        "swarm_network_receive_bytes_per_second",
        "Bytes received per second, all interfaces",
        None,
    );
    let tx = f.gauge(
        "swarm_network_transmit_bytes_per_second",
        "Bytes sent per second, all interfaces",
        None,
    );
    let load = [
        f.gauge("swarm_load1", "Load average over 1 minute", None),
        f.gauge("swarm_load5", "Load average over 5 minutes", None),
        f.gauge("swarm_load15", "Load average over 15 minutes", None),
    ];
    let uptime = f.gauge("swarm_uptime", "Host uptime", Some(Unit::Seconds));
    let custom = f.gauge("swarm_custom", "Custom metrics by name", None);
    let detail = Detail {
        cpu_mode: f.gauge(
            "swarm_cpu_mode_percent",
            "CPU time by mode (user, system, iowait, steal, ...), percent of all cores",
            None,
        ),
        iface_rx: f.gauge(
            "swarm_network_interface_receive_bytes_per_second",
            "Bytes received per second, by interface",
            None,
        ),
        iface_tx: f.gauge(
            "swarm_network_interface_transmit_bytes_per_second",
            "Bytes sent per second, by interface",
            None,
        ),
        disk_read: f.gauge(
            "swarm_disk_read_bytes_per_second",
            "Bytes read per second, by block device",
            None,
        ),
        disk_write: f.gauge(
            "swarm_disk_write_bytes_per_second",
            "Bytes written per second, by block device",
            None,
        ),
        disk_busy: f.gauge(
            "swarm_disk_busy_ratio",
            "Share of time the device had I/O in flight, by block device",
            None,
        ),
        inodes: f.gauge(
            "swarm_disk_inodes_used_ratio",
            "Inodes used, by mount",
            None,
        ),
        temp: f.gauge("swarm_temperature_celsius", "Temperature, by sensor", None),
    };
    let spool = f.gauge(
        "swarm_agent_spool_messages",
        "Messages waiting in the agent's spool, as its last HostInfo said",
        None,
    );
    let spool_dropped = f.gauge(
        "swarm_agent_spool_dropped_messages",
        "Messages the agent's full spool dropped since it started, as its last HostInfo said",
        None,
    );
    let firing = f.gauge(
        "swarm_alert_firing",
        "1 for each firing alert, by agent, rule and severity",
        None,
    );

    let now = now_ms();
    // The newest sample time the hub holds: how far ingest is behind.
    let mut newest: Millis = 0;
    state.registry.for_each(now, |agent, status, record, tags| {
        let a = agent.as_str();
        let online = status == HostStatus::Online;
        up.get_or_create(&labels(&[("agent", a)]))
            .set(if online { 1.0 } else { 0.0 });
        let host = record.info.as_ref();
        let field = |v: Option<&String>| v.cloned().unwrap_or_default();
        info.get_or_create(&vec![
            ("agent".to_owned(), a.to_owned()),
            (
                "hostname".to_owned(),
                field(host.and_then(|i| i.hostname.as_ref())),
            ),
            ("os".to_owned(), field(host.and_then(|i| i.os.as_ref()))),
            (
                "kernel".to_owned(),
                field(host.and_then(|i| i.kernel.as_ref())),
            ),
            ("arch".to_owned(), field(host.and_then(|i| i.arch.as_ref()))),
            ("tags".to_owned(), tags.join(",")),
        ])
        .set(1.0);
        if let Some(sp) = host.and_then(|i| i.spool.as_ref()).filter(|_| online) {
            set(&spool, labels(&[("agent", a)]), Some(sp.records as f64));
            set(
                &spool_dropped,
                labels(&[("agent", a)]),
                Some(sp.dropped as f64),
            );
        }
        let Some(s) = record.latest.as_ref().filter(|_| online) else {
            return;
        };
        newest = newest.max(s.ts);
        let by_agent = || labels(&[("agent", a)]);
        set(&cpu, by_agent(), s.cpu_pct);
        set(&mem_used, by_agent(), s.mem_used.map(|v| v as f64));
        set(&mem_total, by_agent(), s.mem_total.map(|v| v as f64));
        set(&swap_used, by_agent(), s.swap_used.map(|v| v as f64));
        set(&uptime, by_agent(), s.uptime_s.map(|v| v as f64));
        set(&rx, by_agent(), s.net.as_ref().and_then(|n| n.rx_bps));
        set(&tx, by_agent(), s.net.as_ref().and_then(|n| n.tx_bps));
        if let Some(l) = s.load {
            for (family, v) in load.iter().zip(l) {
                set(family, by_agent(), Some(v));
            }
        }
        disks(s, a, &disk_ratio, &disk_size);
        detail.set(s, a);
        for (name, v) in &s.custom {
            set(&custom, labels(&[("agent", a), ("name", name)]), Some(*v));
        }
    });
    for alert in state
        .alerts
        .list(Some(AlertState::Firing), None, &state.registry, now)
    {
        firing
            .get_or_create(&labels(&[
                ("agent", &alert.agent),
                ("rule", &alert.rule),
                ("severity", alert.severity.as_str()),
            ]))
            .set(1.0);
    }
    let latency = f.gauge(
        "swarm_test_latency",
        "Latest answered probe of a running network test, by test and agent",
        Some(Unit::Seconds),
    );
    let lost = f.gauge(
        "swarm_test_probe_lost",
        "1 when the latest probe of a running network test got no answer",
        None,
    );
    for (test, agent, probe) in state.test_latest.current(|t| state.tests.is_active(t)) {
        let l = || labels(&[("test", &test), ("agent", &agent)]);
        set(&latency, l(), probe.latency_ms.map(|ms| ms / 1000.0));
        set(
            &lost,
            l(),
            Some(if probe.latency_ms.is_some() { 0.0 } else { 1.0 }),
        );
    }
    if newest > 0 {
        let lag = f.gauge(
            "swarm_hub_ingest_lag",
            "Now less the newest sample time ingested (grows when the hub falls behind)",
            Some(Unit::Seconds),
        );
        lag.get_or_create(&Vec::new())
            .set(now.saturating_sub(newest) as f64 / 1000.0);
    }
    match state.store.disk_bytes() {
        Ok(bytes) => {
            f.gauge(
                "swarm_hub_store",
                "Bytes the store takes on disk",
                Some(Unit::Bytes),
            )
            .get_or_create(&Vec::new())
            .set(bytes as f64);
        }
        Err(e) => tracing::warn!("cannot size the store for /metrics: {e}"),
    }
    hub_counters(&mut f, state);
    let mut text = String::new();
    encode(&mut text, &f.registry)?;
    Ok(text)
}

/// Families of the host detail (`PROTOCOL.md`, "host detail").
struct Detail {
    cpu_mode: Values,
    iface_rx: Values,
    iface_tx: Values,
    disk_read: Values,
    disk_write: Values,
    disk_busy: Values,
    inodes: Values,
    temp: Values,
}

impl Detail {
    fn set(&self, s: &MetricsSample, agent: &str) {
        if let Some(cpu) = &s.cpu {
            for (mode, v) in cpu.kinds() {
                set(
                    &self.cpu_mode,
                    labels(&[("agent", agent), ("mode", mode)]),
                    v,
                );
            }
        }
        for i in &s.interfaces {
            let l = || labels(&[("agent", agent), ("iface", &i.name)]);
            set(&self.iface_rx, l(), i.rx_bps);
            set(&self.iface_tx, l(), i.tx_bps);
        }
        for d in &s.disk_io {
            let l = || labels(&[("agent", agent), ("device", &d.device)]);
            set(&self.disk_read, l(), d.read_bps);
            set(&self.disk_write, l(), d.write_bps);
            set(&self.disk_busy, l(), d.busy_pct.map(|p| p / 100.0));
        }
        for d in &s.disks {
            let l = labels(&[("agent", agent), ("mount", &d.mount)]);
            set(&self.inodes, l, d.inodes_pct().map(|p| p / 100.0));
        }
        for t in &s.temps {
            let l = labels(&[("agent", agent), ("sensor", &t.label)]);
            set(&self.temp, l, Some(t.celsius));
        }
    }
}

fn disks(s: &MetricsSample, agent: &str, ratio: &Values, size: &Values) {
    for d in &s.disks {
        let l = || labels(&[("agent", agent), ("mount", &d.mount)]);
        set(ratio, l(), d.used_pct().map(|p| p / 100.0));
        set(size, l(), d.total.map(|v| v as f64));
    }
}

/// The hub's own counts, from the same figures as `$SRV.STATS`.
fn hub_counters(f: &mut Families, state: &HubState) {
    let stats = state.stats_json();
    let count = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let plain = |f: &mut Families, name: &str, help: &str, v: u64| {
        let counter = Counter::<u64>::default();
        counter.inc_by(v);
        f.registry.register(name, help, counter);
    };
    plain(
        f,
        "swarm_hub_messages",
        "Messages the hub took in",
        count(&stats["messages"]),
    );
    plain(
        f,
        "swarm_hub_samples_stored",
        "Samples written to the store",
        count(&stats["samples_stored"]),
    );
    plain(
        f,
        "swarm_hub_store_errors",
        "Failed store writes",
        count(&stats["store_errors"]),
    );
    plain(
        f,
        "swarm_hub_alert_events",
        "Alert state changes",
        count(&stats["alerts"]["events"]),
    );
    let rejected = f.counter("swarm_hub_rejected", "Messages refused, by reason");
    if let Some(reasons) = stats["rejected"].as_object() {
        for (reason, n) in reasons {
            rejected
                .get_or_create(&labels(&[("reason", reason)]))
                .inc_by(count(n));
        }
    }
    let notifications = f.counter("swarm_hub_notifications", "Alert notifications, by outcome");
    for outcome in ["sent", "failed", "retries", "dropped"] {
        notifications
            .get_or_create(&labels(&[("outcome", outcome)]))
            .inc_by(count(&stats["notifications"][outcome]));
    }
    let gauge = |f: &mut Families, name: &str, help: &str, v: f64| {
        let gauge = Gauge::<f64, AtomicU64>::default();
        gauge.set(v);
        f.registry.register(name, help, gauge);
    };
    gauge(
        f,
        "swarm_hub_hosts",
        "Hosts the hub holds",
        count(&stats["hosts"]) as f64,
    );
    let low = stats["disk_low"].as_bool() == Some(true);
    gauge(
        f,
        "swarm_hub_disk_low",
        "1 while the data disk is below its floor",
        if low { 1.0 } else { 0.0 },
    );
}
