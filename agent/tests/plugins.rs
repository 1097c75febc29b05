//! Plugins as real processes: shell scripts written into a temporary
//! plugin directory, run by the agent's runner.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use swarm_agent::plugins::{PluginRun, Plugins};
use swarm_common::protocol::fleet::PluginStatus;

/// One test at a time: a script still open for writing in one test while
/// another forks would make its exec fail with "text file busy".
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An executable `#!/bin/sh` script `name` in `dir`.
fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    let written = std::fs::write(&path, format!("#!/bin/sh\n{body}\n"))
        .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)));
    if let Err(e) = written {
        panic!("cannot write {}: {e}", path.display());
    }
}

fn status<'a>(run: &'a PluginRun, name: &str) -> &'a PluginStatus {
    run.statuses
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no status for {name}: {:?}", run.statuses))
}

fn error(status: &PluginStatus) -> &str {
    status.error.as_deref().unwrap_or("")
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: dead all
/// the same).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[tokio::test]
async fn executables_and_textfiles_give_metrics_and_the_rest_is_ignored() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    script(
        dir.path(),
        "queues.sh",
        r#"echo '# HELP queue_depth Messages waiting.'
echo '# TYPE queue_depth gauge'
echo 'queue_depth{queue="mail",host="a"} 7'
echo 'queue_depth{queue="sms",host="a"} 2 1700000000000'
echo 'up 1'"#,
    );
    std::fs::write(
        dir.path().join("raid.prom"),
        "# from cron\nraid_degraded{md=\"md0\"} 0\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not a plugin").expect("write");
    script(dir.path(), ".hidden", "echo hidden 1");
    std::fs::create_dir(dir.path().join("sub.d")).expect("mkdir");

    let mut plugins = Plugins::new(dir.path().to_owned(), Duration::from_secs(5));
    assert_eq!(plugins.installed(), vec!["queues.sh", "raid.prom"]);
    let run = plugins.run().await;
    let names: Vec<&str> = run.metrics.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec![
            "queue_depth{host=a,queue=mail}",
            "queue_depth{host=a,queue=sms}",
            "raid_degraded{md=md0}",
            "up",
        ]
    );
    assert_eq!(run.metrics["queue_depth{host=a,queue=mail}"], 7.0);
    assert_eq!(run.statuses.len(), 2);
    for s in &run.statuses {
        assert!(s.ok, "{s:?}");
        assert!(s.last_run.is_some() && s.duration_ms.is_some());
    }
    assert_eq!(status(&run, "queues.sh").metrics, Some(3));
    assert_eq!(status(&run, "raid.prom").metrics, Some(1));
}

#[tokio::test]
async fn a_late_plugin_is_killed_with_its_children_and_others_are_not_held_up() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("child.pid");
    script(
        dir.path(),
        "slow.sh",
        &format!(
            "sleep 30 &\necho $! > '{}'\necho 'early 1'\nsleep 30",
            pid_file.display()
        ),
    );
    script(dir.path(), "fast.sh", "echo 'fast 1'");

    let mut plugins = Plugins::new(dir.path().to_owned(), Duration::from_secs(1));
    let started = Instant::now();
    let run = plugins.run().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");

    let slow = status(&run, "slow.sh");
    assert!(!slow.ok);
    assert_eq!(error(slow), "timed out after 1s");
    assert_eq!(slow.metrics, Some(0));
    assert!(status(&run, "fast.sh").ok);
    assert_eq!(run.metrics.get("fast"), Some(&1.0));
    // What a late plugin wrote may be half of what it meant to.
    assert_eq!(run.metrics.get("early"), None);

    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("the plugin wrote its child's pid")
        .trim()
        .parse()
        .expect("a pid");
    let deadline = Instant::now() + Duration::from_secs(3);
    while !gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone(pid), "the plugin's child {pid} outlived it");
}

#[tokio::test]
async fn a_failing_plugin_says_why_and_gives_nothing() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    script(
        dir.path(),
        "crash.sh",
        "echo 'partial 1'\necho 'starting' >&2\necho 'cannot open /dev/widget' >&2\nexit 3",
    );
    // A plugin that writes a lot to stderr is drained, and only the end is
    // quoted.
    script(
        dir.path(),
        "noisy.sh",
        "yes complaint | head -n 200000 >&2\nprintf 'last\\033[31m words' >&2\nexit 1",
    );
    let mut plugins = Plugins::new(dir.path().to_owned(), Duration::from_secs(10));
    let run = plugins.run().await;
    let crash = status(&run, "crash.sh");
    assert!(!crash.ok);
    assert_eq!(error(crash), "exited with 3: cannot open /dev/widget");
    assert!(run.metrics.is_empty(), "{:?}", run.metrics);
    assert_eq!(
        error(status(&run, "noisy.sh")),
        "exited with 1: last\\u{1b}[31m words"
    );
}

#[tokio::test]
async fn a_flood_of_output_is_cut_at_64_kib() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    script(dir.path(), "flood.sh", "exec yes 'flood 1'");
    std::fs::write(dir.path().join("big.prom"), "big 2\n".repeat(20_000)).expect("write");
    let mut plugins = Plugins::new(dir.path().to_owned(), Duration::from_secs(20));
    let started = Instant::now();
    let run = plugins.run().await;
    // Stopped at the cap, not at the timeout.
    assert!(started.elapsed() < Duration::from_secs(10));
    let flood = status(&run, "flood.sh");
    assert!(!flood.ok);
    assert!(error(flood).starts_with("output over 64 KiB"), "{flood:?}");
    assert_eq!(flood.metrics, Some(1));
    assert_eq!(run.metrics.get("flood"), Some(&1.0));
    let big = status(&run, "big.prom");
    assert!(error(big).starts_with("file over 64 KiB"), "{big:?}");
    assert_eq!(run.metrics.get("big"), Some(&2.0));
}

#[tokio::test]
async fn bad_lines_are_counted_and_the_good_ones_kept() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    script(
        dir.path(),
        "mixed.sh",
        r#"echo 'good 1'
echo 'temp NaN'
echo 'label{v="a,b"} 3'
echo 'what is this'"#,
    );
    let mut plugins = Plugins::new(dir.path().to_owned(), Duration::from_secs(5));
    let run = plugins.run().await;
    let mixed = status(&run, "mixed.sh");
    assert!(!mixed.ok);
    assert_eq!(mixed.metrics, Some(1));
    assert_eq!(
        error(mixed),
        "3 lines not understood, first: line 2: temp NaN (not a finite number)"
    );
    assert_eq!(run.metrics.len(), 1);
}

#[tokio::test]
async fn only_the_enabled_plugins_run() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    script(dir.path(), "a.sh", "echo 'a 1'");
    script(dir.path(), "b.sh", "echo 'b 2'");
    let mut plugins = Plugins::new(dir.path().to_owned(), Duration::from_secs(5));
    plugins.set_enabled(Some(vec!["b.sh".into(), "not-installed".into()]));
    let run = plugins.run().await;
    assert_eq!(run.statuses.len(), 1);
    assert_eq!(run.statuses[0].name, "b.sh");
    assert_eq!(run.metrics.keys().collect::<Vec<_>>(), vec!["b"]);
    // Installed is what is there, whatever runs.
    assert_eq!(plugins.installed(), vec!["a.sh", "b.sh"]);

    plugins.set_enabled(None);
    assert_eq!(plugins.run().await.statuses.len(), 2);
    plugins.set_enabled(Some(Vec::new()));
    assert!(plugins.run().await.statuses.is_empty());
}

#[tokio::test]
async fn a_missing_directory_is_no_plugins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plugins = Plugins::new(dir.path().join("absent"), Duration::from_secs(1));
    assert!(plugins.installed().is_empty());
    assert_eq!(plugins.run().await, PluginRun::default());
}

/// Answers the agent's publish as the hub's stream would: the agent
/// publishes through JetStream, and a plain subscriber that stays silent
/// would make it wait for an acknowledgement every time.
async fn ack(client: &async_nats::Client, msg: &async_nats::Message) {
    if let Some(reply) = &msg.reply {
        let _ = client
            .publish(reply.clone(), r#"{"stream":"SWARM_INGEST","seq":1}"#.into())
            .await;
    }
}

/// Through a real bus: samples carry the plugins' metrics, HostInfo their
/// statuses, and a steady outcome is not announced again every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_publishes_plugin_metrics_and_statuses() {
    use futures::StreamExt;
    use swarm_agent::{Agent, AgentConfig};
    use swarm_common::nats::NatsArgs;
    use swarm_common::protocol::{HostInfo, MetricsSample};
    use swarm_common::testkit::NatsServer;
    use swarm_common::{AgentId, codec};

    let _serial = SERIAL.lock().await;
    let server = NatsServer::start();
    let plugin_dir = tempfile::tempdir().expect("tempdir");
    script(
        plugin_dir.path(),
        "ok.sh",
        r#"echo 'jobs{state="queued"} 4'"#,
    );
    script(
        plugin_dir.path(),
        "broken.sh",
        "echo 'no such device' >&2; exit 2",
    );
    let client = async_nats::connect(server.url()).await.expect("connect");
    let mut samples = client.subscribe("swarm.metrics.plug-1").await.expect("sub");
    let mut hello_sub = client.subscribe("swarm.hello.plug-1").await.expect("sub");
    // Acknowledged as they come, so the agent never waits on them.
    let (hello_tx, mut hellos) = tokio::sync::mpsc::unbounded_channel::<HostInfo>();
    let acker = client.clone();
    tokio::spawn(async move {
        while let Some(msg) = hello_sub.next().await {
            ack(&acker, &msg).await;
            let _ = hello_tx.send(codec::from_msgpack(&msg.payload).expect("a hello"));
        }
    });
    // The agent publishes only once a hub answers its ping: stand in for one.
    let mut pings = client
        .subscribe(format!("$SRV.PING.{}", swarm_common::subject::SERVICE_NAME))
        .await
        .expect("sub");
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(ping) = pings.next().await {
            if let Some(reply) = ping.reply {
                let _ = responder.publish(reply, "{}".into()).await;
            }
        }
    });
    client.flush().await.expect("flush");

    let config = AgentConfig {
        interval: Duration::from_millis(200),
        plugins_dir: Some(plugin_dir.path().to_owned()),
        ..AgentConfig::new(
            AgentId::parse("plug-1").expect("id"),
            NatsArgs::for_url(&server.url()),
            tempfile::tempdir().expect("spool dir").keep(),
        )
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(Agent::new(config).run(async {
        let _ = stopped.await;
    }));

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut with_metric = 0;
    while with_metric < 10 && Instant::now() < deadline {
        let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), samples.next()).await
        else {
            break;
        };
        ack(&client, &msg).await;
        let sample: MetricsSample = codec::from_msgpack(&msg.payload).expect("a sample");
        if sample.custom.get("jobs{state=queued}") == Some(&4.0) {
            with_metric += 1;
        }
    }
    assert_eq!(with_metric, 10, "samples with the plugin's metric");

    let mut last: Option<HostInfo> = None;
    let mut count = 0;
    while let Ok(Some(info)) = tokio::time::timeout(Duration::from_millis(300), hellos.recv()).await
    {
        count += 1;
        last = Some(info);
    }
    // One on connect, and one when the first run's statuses came, if the
    // connection was quicker than the plugins; not one per run (ten or more
    // ran by now).
    assert!((1..=3).contains(&count), "{count} hellos");
    let plugins = last.expect("a hello").plugins;
    assert_eq!(plugins.len(), 2, "{plugins:?}");
    assert_eq!(plugins[0].name, "broken.sh");
    assert_eq!(
        plugins[0].error.as_deref(),
        Some("exited with 2: no such device")
    );
    assert!(plugins[1].ok && plugins[1].metrics == Some(1));

    // Nobody acknowledges samples any more: leave, so the agent's last
    // ones are not kept waiting for an ack while it stops.
    drop(samples);
    client.flush().await.expect("flush");
    let _ = stop.send(());
    agent.await.expect("agent task").expect("agent ran");
}
