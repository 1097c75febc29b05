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
