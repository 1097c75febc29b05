//! `swarm-tui test create|list|show|cancel`: network tests from scripts.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::Client;
use swarm_common::api::{all_pages, call};
use swarm_common::protocol::{
    AgentSummary, ResultsReply, ResultsRequest, SummaryReply, SummaryRequest, Test, TestIdRequest,
    TestKind, TestReply, TestResult, TestSpec, TestStatus, TestsListReply, TestsListRequest,
};
use swarm_common::subject::api;
use swarm_common::time::now_ms;

use super::Failure;
use super::say;
use crate::spec::{self, parse_kind};

#[derive(Debug, clap::Subcommand)]
pub enum TestCommand {
    /// Create a test: ping, traceroute or tcp from the selected agents.
    Create {
        #[arg(long, value_parser = parse_kind)]
        kind: TestKind,
        /// Host name or IP, resolved by each agent.
        #[arg(long)]
        target: String,
        /// Port (tcp).
        #[arg(long)]
        port: Option<u16>,
        /// Agent selector: an id, a glob (web-*), tag:<tag> or *; repeatable.
        #[arg(long = "agents", required = true, value_delimiter = ',')]
        agents: Vec<String>,
        /// Time between probes (default 1s; traceroute 30s).
        #[arg(long, value_parser = swarm_common::duration::parse_positive)]
        interval: Option<Duration>,
        /// How long each run lasts (default 5m).
        #[arg(long, value_parser = swarm_common::duration::parse_positive)]
        duration: Option<Duration>,
        /// Start later: in a duration (`10m`) or at a time (`2026-11-22T08:00:00Z`).
        #[arg(long, value_parser = parse_at)]
        at: Option<u64>,
        /// Run again every so often.
        #[arg(long, value_parser = swarm_common::duration::parse_positive)]
        every: Option<Duration>,
        /// Per-probe timeout (default 2s).
        #[arg(long, value_parser = swarm_common::duration::parse_positive)]
        timeout: Option<Duration>,
        /// A label for the test.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tests, newest last.
    List {
        #[arg(long, value_parser = parse_status)]
        status: Option<TestStatus>,
        #[arg(long)]
        json: bool,
    },
    /// A test's state and per-agent summary (hop table for traceroute).
    Show {
        id: String,
        /// Keep printing as results arrive, until the test ends.
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        json: bool,
    },
    /// Stop a test on every agent; it will not run again.
    Cancel {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn parse_status(raw: &str) -> Result<TestStatus, String> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned()))
        .map_err(|_| format!("{raw:?} is not one of scheduled, running, done, cancelled, failed"))
}

fn parse_at(raw: &str) -> Result<u64, String> {
    spec::parse_start(raw, now_ms())
}

fn ms(d: Option<Duration>) -> Option<u64> {
    d.map(swarm_common::duration::millis)
}

pub async fn run(client: &Client, timeout: Duration, command: &TestCommand) -> Result<(), Failure> {
    match command {
        TestCommand::Create {
            kind,
            target,
            port,
            agents,
            interval,
            duration,
            at,
            every,
            timeout: probe_timeout,
            name,
            json,
        } => {
            let spec = TestSpec {
                kind: *kind,
                target: target.clone(),
                port: *port,
                agents: agents.clone(),
                interval_ms: ms(*interval),
                duration_ms: ms(*duration),
                start_at: *at,
                repeat_every_ms: ms(*every),
                timeout_ms: ms(*probe_timeout),
                name: name.clone(),
            };
            let reply: TestReply = call(client, api::TESTS_CREATE, &spec, timeout).await?;
            if *json {
                print_json(&reply)?;
            } else {
                say!("{}", reply.test.id);
            }
        }
        TestCommand::List { status, json } => {
            let req = TestsListRequest {
                status: *status,
                ..TestsListRequest::default()
            };
            let tests =
                all_pages::<_, TestsListReply>(client, api::TESTS_LIST, req, timeout).await?;
            let reply = TestsListReply { tests, next: None };
            if *json {
                print_json(&reply)?;
            } else {
                say!(
                    "{:<16} {:<10} {:<10} {:<24} {:>6} {:>5}  {:<30} AGENTS",
                    "ID",
                    "KIND",
                    "STATUS",
                    "TARGET",
                    "RUNS",
                    "HOSTS",
                    "SCHEDULE"
                );
                let now = now_ms();
                for t in &reply.tests {
                    say!(
                        "{:<16} {:<10} {:<10} {:<24} {:>6} {:>5}  {:<30} {}",
                        t.id,
                        t.kind.as_str(),
                        t.status.as_str(),
                        crate::format::target(t),
                        t.runs,
                        t.agents.len(),
                        schedule(t, now).unwrap_or_else(|| "-".into()),
                        t.selectors.join(",")
                    );
                }
            }
        }
        TestCommand::Show { id, follow, json } => show(client, timeout, id, *follow, *json).await?,
        TestCommand::Cancel { id, json } => {
            let reply: TestReply = call(
                client,
                api::TESTS_CANCEL,
                &TestIdRequest { id: id.clone() },
                timeout,
            )
            .await?;
            if *json {
                print_json(&reply)?;
            } else {
                say!("{} {}", reply.test.id, reply.test.status.as_str());
            }
        }
    }
    Ok(())
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string(value).map_err(|e| Failure::internal(e.to_string()))?;
    say!("{text}");
    Ok(())
}

async fn show(
    client: &Client,
    timeout: Duration,
    id: &str,
    follow: bool,
    json: bool,
) -> Result<(), Failure> {
    let req = TestIdRequest { id: id.to_owned() };
    let mut since = 0u64;
    loop {
        let test: TestReply = call(client, api::TESTS_GET, &req, timeout).await?;
        let by_id = SummaryRequest {
            id: id.to_owned(),
            ..SummaryRequest::default()
        };
        let summary = SummaryReply {
            summary: all_pages::<_, SummaryReply>(client, api::TESTS_SUMMARY, by_id, timeout)
                .await?,
            next: None,
        };
        let latest = latest_results(client, timeout, &test.test, since).await?;
        if json {
            if follow {
                // One JSON line per new result, then the final state.
                for r in &latest {
                    print_json(r)?;
                }
            } else {
                print_json(&serde_json::json!({
                    "test": test.test,
                    "summary": summary.summary,
                    "latest": latest_per_agent(&latest),
                }))?;
            }
        } else {
            print_test(&test.test, &summary.summary, &latest_per_agent(&latest))?;
        }
        since = latest.iter().map(|r| r.ts + 1).max().unwrap_or(since);
        if !follow || test.test.status.is_final() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !json {
            say!();
        }
    }
}

/// Results since `since` (all of them for --follow JSON; enough to know
/// each agent's latest traceroute otherwise).
async fn latest_results(
    client: &Client,
    timeout: Duration,
    test: &Test,
    since: u64,
) -> Result<Vec<TestResult>, Failure> {
    let req = ResultsRequest {
        id: test.id.to_string(),
        agent: None,
        since: Some(since),
        limit: Some(10_000),
    };
    let reply: ResultsReply = call(client, api::TESTS_RESULTS, &req, timeout).await?;
    Ok(reply.results)
}

fn latest_per_agent(results: &[TestResult]) -> BTreeMap<String, TestResult> {
    let mut out = BTreeMap::new();
    for r in results {
        out.insert(r.agent.to_string(), r.clone());
    }
    out
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

/// A recurring test's period and next run (`every 5m, next 12:05:00Z
/// (in 3m 20s)`); `None` for a one-off test.
fn schedule(test: &Test, now: swarm_common::protocol::Millis) -> Option<String> {
    let every = test.repeat_every_ms?;
    let next = test.next_run.map_or_else(String::new, |at| {
        let time = swarm_common::time::rfc3339(at);
        let clock = time.get(11..).unwrap_or(&time);
        let wait = Duration::from_millis(at.saturating_sub(now));
        format!(
            ", next {clock} (in {})",
            swarm_common::duration::short(wait)
        )
    });
    Some(format!(
        "every {}{next}",
        swarm_common::duration::of_ms(every)
    ))
}

fn print_test(
    test: &Test,
    summary: &[AgentSummary],
    latest: &BTreeMap<String, TestResult>,
) -> Result<(), Failure> {
    say!(
        "{} {} {} [{}] runs {}{}{}",
        test.id,
        test.kind.as_str(),
        crate::format::target(test),
        test.status.as_str(),
        test.runs,
        schedule(test, now_ms())
            .map(|s| format!(" · {s}"))
            .unwrap_or_default(),
        test.error
            .as_ref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    say!(
        "{:<20} {:<11} {:>6} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "AGENT",
        "STATE",
        "SENT",
        "RECV",
        "LOSS%",
        "MIN",
        "P50",
        "P95",
        "P99",
        "MAX",
        "JITTER"
    );
    for a in &test.agents {
        let s = summary.iter().find(|s| s.agent == a.agent);
        say!(
            "{:<20} {:<11} {:>6} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}{}",
            a.agent.as_str(),
            a.state.as_str(),
            s.map_or(0, |s| s.sent),
            s.map_or(0, |s| s.received),
            s.map_or("-".into(), |s| format!("{:.1}", s.loss_pct)),
            opt(s.and_then(|s| s.rtt_min)),
            opt(s.and_then(|s| s.rtt_p50)),
            opt(s.and_then(|s| s.rtt_p95)),
            opt(s.and_then(|s| s.rtt_p99)),
            opt(s.and_then(|s| s.rtt_max)),
            opt(s.and_then(|s| s.jitter_ms)),
            a.error
                .as_ref()
                .map(|e| format!("  {e}"))
                .unwrap_or_default()
        );
    }
    if test.kind == TestKind::Traceroute {
        for (agent, r) in latest {
            say!(
                "\n{agent}: {}",
                if r.reached == Some(true) {
                    "reached"
                } else {
                    "not reached"
                }
            );
            say!("{:>4} {:<40} {:>7}  RTT (ms)", "TTL", "ADDRESS", "LOSS%");
            for h in r.hops.as_deref().unwrap_or_default() {
                let rtts: Vec<String> = h.rtt_ms.iter().map(|v| format!("{v:.3}")).collect();
                say!(
                    "{:>4} {:<40} {:>7.1}  {}",
                    h.ttl,
                    h.addr.as_deref().unwrap_or("*"),
                    h.loss_pct,
                    if rtts.is_empty() {
                        "*".to_owned()
                    } else {
                        rtts.join(" ")
                    }
                );
            }
        }
    }
    Ok(())
}
