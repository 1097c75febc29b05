//! Custom metrics from the plugin directory (`PROTOCOL.md`, "Custom
//! metrics from plugins"): each interval the agent runs the executables
//! there and reads the `*.prom` files (node_exporter's textfile collector
//! form), all in the Prometheus text format. What the hub may choose is
//! only which installed plugins run; nothing it sends is ever run.
//!
//! Every plugin is bounded: it runs in its own process group, killed whole
//! when it is late; its stdout is read up to [`OUTPUT_CAP`] and its stderr
//! keeps only a tail, so a runaway plugin costs a bounded amount of memory
//! and time. A failing plugin is a status in HostInfo, never an error of
//! the agent.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};
use swarm_common::limits::MAX_CUSTOM;
use swarm_common::protocol::fleet::{MAX_PLUGINS, PluginStatus, check_plugin_name};
use swarm_common::text::printable;
use swarm_common::time::now_ms;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes read from one plugin's stdout or one `.prom` file.
pub const OUTPUT_CAP: usize = 64 * 1024;
/// Longest folded metric name (`name{k=v,...}`), as the hub accepts it.
pub const MAX_NAME_BYTES: usize = 128;
/// Longest error text in a status.
pub const MAX_ERROR_BYTES: usize = 256;
/// Bytes of stderr kept: enough for its last line.
const STDERR_TAIL: usize = 4096;
/// Longest stderr line quoted in an error.
const STDERR_LINE_BYTES: usize = 200;
/// How long a killed plugin may take to be reaped before it is left to
/// the runtime (a process stuck in the kernel cannot hold up a run).
const REAP_GRACE: Duration = Duration::from_secs(1);

/// What one run of the plugins gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginRun {
    /// Folded name (`name` or `name{k=v,...}`) to value, at most
    /// [`MAX_CUSTOM`].
    pub metrics: BTreeMap<String, f64>,
    /// One per plugin that ran, by name.
    pub statuses: Vec<PluginStatus>,
}

/// Runs the plugins of one directory.
#[derive(Debug)]
pub struct Plugins {
    dir: PathBuf,
    timeout: Duration,
    enabled: Option<Vec<String>>,
    /// The last reason the directory could not be listed, so it is logged
    /// once rather than every interval.
    scan_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Executable,
    Textfile,
}

/// What a plugin left before it was parsed.
struct Outcome {
    /// Complete lines only: a line cut by a cap is not a value.
    text: String,
    errors: Vec<String>,
    /// Whether `text` counts: a plugin that failed or was late may have
    /// written half of what it meant to.
    usable: bool,
    last_run: u64,
    duration_ms: u64,
}

impl Plugins {
    pub fn new(dir: PathBuf, timeout: Duration) -> Self {
        Self {
            dir,
            timeout,
            enabled: None,
            scan_error: None,
        }
    }

    /// Which installed plugins run, by name; `None` runs them all. Names
    /// that are not installed are passed over.
    pub fn set_enabled(&mut self, enabled: Option<Vec<String>>) {
        self.enabled = enabled;
    }

    /// The plugins present: executable regular files and `*.prom` files
    /// with valid names, sorted, at most [`MAX_PLUGINS`].
    pub fn installed(&self) -> Vec<String> {
        self.scan()
            .unwrap_or_default()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    fn scan(&self) -> std::io::Result<Vec<(String, Kind)>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if check_plugin_name(&name).is_err() {
                continue;
            }
            // Follows symlinks: a plugin may be linked in from elsewhere.
            let Ok(meta) = std::fs::metadata(entry.path()) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            // A `.prom` file is read even when it has an execute bit.
            let kind = if name.ends_with(".prom") {
                Kind::Textfile
            } else if meta.permissions().mode() & 0o111 != 0 {
                Kind::Executable
            } else {
                continue;
            };
            found.push((name, kind));
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.truncate(MAX_PLUGINS);
        Ok(found)
    }

    /// Runs the enabled plugins concurrently, each within the timeout, and
    /// gathers their metrics: at most [`MAX_CUSTOM`] in all, a name given
    /// twice kept from the first plugin by name.
    pub async fn run(&mut self) -> PluginRun {
        let found = match self.scan() {
            Ok(found) => {
                self.scan_error = None;
                found
            }
            Err(e) => {
                let why = e.to_string();
                if self.scan_error.as_ref() != Some(&why) {
                    tracing::warn!("cannot list plugins in {}: {why}", self.dir.display());
                    self.scan_error = Some(why);
                }
                Vec::new()
            }
        };
        let chosen: Vec<(String, Kind)> = found
            .into_iter()
            .filter(|(name, _)| self.enabled.as_ref().is_none_or(|e| e.contains(name)))
            .collect();
        let (dir, timeout) = (&self.dir, self.timeout);
        let outcomes = futures::future::join_all(chosen.iter().map(|(name, kind)| {
            let path = dir.join(name);
            async move {
                match kind {
                    Kind::Executable => run_executable(&path, dir, timeout).await,
                    Kind::Textfile => read_textfile(&path).await,
                }
            }
        }))
        .await;

        let mut run = PluginRun::default();
        for ((name, _), outcome) in chosen.into_iter().zip(outcomes) {
            run.statuses.push(gather(name, outcome, &mut run.metrics));
        }
        run
    }
}

/// Parses one plugin's outcome into `metrics` and says how it fared.
fn gather(name: String, outcome: Outcome, metrics: &mut BTreeMap<String, f64>) -> PluginStatus {
    let mut errors = outcome.errors;
    let mut given = 0u32;
    if outcome.usable {
        let parsed = parse(&outcome.text);
        let (mut repeated, mut dropped) = (0usize, 0usize);
        for (key, value) in parsed.metrics {
            if metrics.contains_key(&key) {
                repeated += 1;
            } else if metrics.len() >= MAX_CUSTOM {
                dropped += 1;
            } else {
                metrics.insert(key, value);
                given += 1;
            }
        }
        if let Some(first) = parsed.first_rejected {
            errors.push(format!(
                "{} not understood, first: {first}",
                plural(parsed.rejected, "line")
            ));
        }
        if repeated > 0 {
            errors.push(format!(
                "{} given before (the first is kept)",
                plural(repeated, "metric")
            ));
        }
        if dropped > 0 {
            errors.push(format!(
                "{} dropped: the agent sends at most {MAX_CUSTOM}",
                plural(dropped, "metric")
            ));
        }
    }
    let error = (!errors.is_empty()).then(|| printable(&errors.join("; "), MAX_ERROR_BYTES));
    PluginStatus {
        name,
        ok: error.is_none(),
        error,
        last_run: Some(outcome.last_run),
        duration_ms: Some(outcome.duration_ms),
        metrics: Some(given),
    }
}

/// `1 line`, `3 lines`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Kills the plugin's process group, also when the run is dropped midway
/// (agent shutdown), so no plugin outlives the agent's interest in it.
/// Disarmed once the plugin is reaped: only until then is its pid sure to
/// name its group and nothing else.
struct Group(Option<Pid>);

impl Group {
    fn kill(&self) {
        if let Some(pid) = self.0 {
            // ESRCH (already gone) is what we wanted anyway.
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn run_executable(path: &Path, dir: &Path, timeout: Duration) -> Outcome {
    let last_run = now_ms();
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(path);
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // The agent's own settings (the NATS password among them) are none of
    // a plugin's business.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SWARM_") {
            cmd.env_remove(key);
        }
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Outcome {
                text: String::new(),
                errors: vec![format!("cannot start: {e}")],
                usable: false,
                last_run,
                duration_ms: elapsed_ms(started),
            };
        }
    };
    // With process_group(0) the group's id is the child's pid.
    let mut group = Group(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw),
    );
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let finished = tokio::time::timeout(timeout, async {
        let (out, err) = tokio::join!(read_capped(stdout, &group), read_tail(stderr));
        (out, err, child.wait().await)
    })
    .await;

    let mut errors = Vec::new();
    let mut usable = false;
    let mut text = String::new();
    match finished {
        Err(_) => {
            group.kill();
            if let Ok(Ok(_)) = tokio::time::timeout(REAP_GRACE, child.wait()).await {
                group.0 = None;
            }
            errors.push(format!("timed out after {}", exact(timeout)));
        }
        Ok((out, err, status)) => {
            if status.is_ok() {
                group.0 = None;
            }
            text = out.text;
            if out.over {
                // Killed for it, so its exit status says nothing more.
                errors.push(format!(
                    "output over {} KiB; the lines before it are kept",
                    OUTPUT_CAP / 1024
                ));
                usable = true;
            } else {
                match status {
                    Ok(s) if s.success() => usable = true,
                    Ok(s) => errors.push(failure(s, &err)),
                    Err(e) => errors.push(format!("cannot wait for it: {e}")),
                }
            }
        }
    }
    Outcome {
        text,
        errors,
        usable,
        last_run,
        duration_ms: elapsed_ms(started),
    }
}

/// `exited with 3: <last line of stderr>`.
fn failure(status: ExitStatus, stderr: &[u8]) -> String {
    let mut msg = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => status.to_string(),
    };
    let stderr = String::from_utf8_lossy(stderr);
    if let Some(line) = stderr.lines().rev().find(|l| !l.trim().is_empty()) {
        msg.push_str(": ");
        msg.push_str(&printable(line.trim(), STDERR_LINE_BYTES));
    }
    msg
}

/// `2s`, `1500ms`: the short form only where it loses nothing.
fn exact(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() < 60 {
        swarm_common::duration::short(d)
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

struct Capped {
    text: String,
    over: bool,
}

/// Up to [`OUTPUT_CAP`] bytes; past it the plugin is killed (it would
/// otherwise block on a full pipe until its timeout) and the cut last line
/// is dropped.
async fn read_capped(pipe: Option<impl AsyncRead + Unpin>, group: &Group) -> Capped {
    let mut buf = Vec::new();
    if let Some(pipe) = pipe {
        // A read error ends the output like EOF does; its exit status tells.
        let _ = pipe.take(OUTPUT_CAP as u64 + 1).read_to_end(&mut buf).await;
    }
    let over = buf.len() > OUTPUT_CAP;
    if over {
        group.kill();
    }
    Capped {
        text: complete_lines(buf, over),
        over,
    }
}

/// The text of `buf`; when it was cut, only up to its last newline.
fn complete_lines(mut buf: Vec<u8>, cut: bool) -> String {
    if cut {
        let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        buf.truncate(end);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last [`STDERR_TAIL`] bytes (or more, up to twice that) of stderr,
/// read to its end so the plugin never blocks on it.
async fn read_tail(pipe: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut tail = Vec::new();
    let Some(mut pipe) = pipe else { return tail };
    let mut chunk = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > 2 * STDERR_TAIL {
            tail.drain(..tail.len() - STDERR_TAIL);
        }
    }
    tail
}

async fn read_textfile(path: &Path) -> Outcome {
    let last_run = now_ms();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = match tokio::fs::File::open(path).await {
        Ok(file) => file
            .take(OUTPUT_CAP as u64 + 1)
            .read_to_end(&mut buf)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    let mut errors = Vec::new();
    if let Err(e) = &read {
        errors.push(format!("cannot read: {e}"));
    }
    let over = buf.len() > OUTPUT_CAP;
    if over {
        errors.push(format!(
            "file over {} KiB; the lines before it are kept",
            OUTPUT_CAP / 1024
        ));
    }
    Outcome {
        text: complete_lines(buf, over),
        errors,
        usable: read.is_ok(),
        last_run,
        duration_ms: elapsed_ms(started),
    }
}

/// The metrics of one plugin's text, in order, and what was not taken.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub metrics: Vec<(String, f64)>,
    pub rejected: usize,
    /// The first rejected line, shortened, with why.
    pub first_rejected: Option<String>,
}

/// Parses the Prometheus text exposition format, strictly.
///
/// Not the `prometheus-parse` crate: it splits labels on every `,` and `=`
/// (a quoted `a="x,y"` comes apart), skips malformed labels and lines
/// silently, does not allow `:` in names, and regroups samples into
/// histograms and summaries; here each sample line is one metric, and a
/// line that is not understood is counted and shown to the operator.
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for (n, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(None) => {}
            Ok(Some(metric)) => parsed.metrics.push(metric),
            Err(why) => {
                parsed.rejected += 1;
                if parsed.first_rejected.is_none() {
                    parsed.first_rejected = Some(format!(
                        "line {}: {} ({why})",
                        n + 1,
                        printable(line.trim(), 80)
                    ));
                }
            }
        }
    }
    parsed
}

/// One line: `None` for blank and `#` lines, else the folded name and the
/// value. A trailing timestamp is checked and ignored.
pub fn parse_line(line: &str) -> Result<Option<(String, f64)>, &'static str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (name, rest) = split_name(line, true).ok_or("bad metric name")?;
    let (labels, rest) = match rest.strip_prefix('{') {
        Some(inner) => parse_labels(inner)?,
        None if rest.is_empty() || rest.starts_with([' ', '\t']) => (Vec::new(), rest),
        None => return Err("bad metric name"),
    };
    if !rest.starts_with([' ', '\t']) {
        return Err("no value");
    }
    let mut fields = rest.split_ascii_whitespace();
    let value: f64 = fields
        .next()
        .ok_or("no value")?
        .parse()
        .map_err(|_| "bad value")?;
    if !value.is_finite() {
        return Err("not a finite number");
    }
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().map_err(|_| "bad timestamp")?;
    }
    if fields.next().is_some() {
        return Err("text after the value");
    }
    let folded = fold(name, labels);
    if folded.len() > MAX_NAME_BYTES {
        return Err("name with labels over 128 bytes");
    }
    Ok(Some((folded, value)))
}

/// A metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or, without `colon`, a label
/// name, and what follows it.
fn split_name(s: &str, colon: bool) -> Option<(&str, &str)> {
    let ok = |b: u8, first: bool| {
        b.is_ascii_alphabetic()
            || b == b'_'
            || (colon && b == b':')
            || (!first && b.is_ascii_digit())
    };
    let end = s
        .bytes()
        .enumerate()
        .position(|(i, b)| !ok(b, i == 0))
        .unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

/// Label names and unescaped values, as given.
type Labels<'a> = Vec<(&'a str, String)>;

/// `k="v",...}` and what follows the brace. Values are unescaped; one that
/// would make the folded name ambiguous (`,`, `}`, `=`) or unprintable is
/// refused rather than escaped, so a folded name reads back as written.
fn parse_labels(mut s: &str) -> Result<(Labels<'_>, &str), &'static str> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let (key, rest) = split_name(s, false).ok_or("bad label name")?;
        let rest = rest.trim_start().strip_prefix('=').ok_or("bad label")?;
        let rest = rest.trim_start().strip_prefix('"').ok_or("bad label")?;
        let (value, rest) = unquote(rest).ok_or("unterminated label value")?;
        if value
            .chars()
            .any(|c| matches!(c, ',' | '}' | '=') || c.is_control())
        {
            return Err("label value has , } = or a control character");
        }
        if labels.iter().any(|(k, _)| *k == key) {
            return Err("label given twice");
        }
        labels.push((key, value));
        s = rest.trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("bad label");
        }
    }
}

/// The text up to the closing quote, with `\\`, `\"` and `\n` unescaped.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// `name{k=v,k2=v2}`, labels by key; an empty value is no label, as in
/// Prometheus.
fn fold(name: &str, mut labels: Labels<'_>) -> String {
    labels.retain(|(_, v)| !v.is_empty());
    if labels.is_empty() {
        return name.to_owned();
    }
    labels.sort();
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<Option<(String, f64)>, &'static str> {
        parse_line(line)
    }

    #[test]
    fn lines_of_the_text_format() {
        assert_eq!(one("queue 7"), Ok(Some(("queue".into(), 7.0))));
        assert_eq!(
            one("  a:b_c 1.5e3 1700000000000"),
            Ok(Some(("a:b_c".into(), 1500.0)))
        );
        assert_eq!(
            one(r#"temp{zone="b",core="0"} -3.5"#),
            Ok(Some(("temp{core=0,zone=b}".into(), -3.5)))
        );
        assert_eq!(
            one(r#"x{ a = "1" , b="" , } 2"#),
            Ok(Some(("x{a=1}".into(), 2.0)))
        );
        assert_eq!(
            one(r#"x{path="C:\\tmp \"q\""} 1"#),
            Ok(Some((r#"x{path=C:\tmp "q"}"#.into(), 1.0)))
        );
        assert_eq!(one("# HELP queue depth"), Ok(None));
        assert_eq!(one("# TYPE queue gauge"), Ok(None));
        assert_eq!(one(""), Ok(None));
    }

    #[test]
    fn what_is_refused() {
        for (line, why) in [
            ("9lives 1", "bad metric name"),
            ("a-b 1", "bad metric name"),
            ("x NaN", "not a finite number"),
            ("x +Inf", "not a finite number"),
            ("x one", "bad value"),
            ("x 1 soon", "bad timestamp"),
            ("x 1 2 3", "text after the value"),
            ("x", "no value"),
            (
                r#"x{a="1,2"} 1"#,
                "label value has , } = or a control character",
            ),
            (
                r#"x{a="b=c"} 1"#,
                "label value has , } = or a control character",
            ),
            (
                r#"x{a="}"} 1"#,
                "label value has , } = or a control character",
            ),
            (
                r#"x{a="l\nm"} 1"#,
                "label value has , } = or a control character",
            ),
            (r#"x{a="1",a="2"} 1"#, "label given twice"),
            (r#"x{a="1" 1"#, "bad label"),
            (r#"x{a="1} 1"#, "unterminated label value"),
            (r#"x{a=1} 1"#, "bad label"),
            (r#"x{:a="1"} 1"#, "bad label name"),
        ] {
            assert_eq!(one(line), Err(why), "{line}");
        }
        let long = format!("{} 1", "n".repeat(129));
        assert_eq!(one(&long), Err("name with labels over 128 bytes"));
        assert!(one(&format!("{} 1", "n".repeat(128))).is_ok_and(|m| m.is_some()));
    }

    #[test]
    fn rejected_lines_are_counted() {
        let parsed = parse("a 1\nb two\nc 3\nd{ 4\n");
        assert_eq!(parsed.metrics, vec![("a".into(), 1.0), ("c".into(), 3.0)]);
        assert_eq!(parsed.rejected, 2);
        assert_eq!(
            parsed.first_rejected.as_deref(),
            Some("line 2: b two (bad value)")
        );
    }

    #[test]
    fn a_cut_line_is_dropped() {
        assert_eq!(complete_lines(b"a 1\nb 12".to_vec(), true), "a 1\n");
        assert_eq!(complete_lines(b"b 12".to_vec(), true), "");
        assert_eq!(complete_lines(b"b 12".to_vec(), false), "b 12");
    }

    #[test]
    fn the_first_plugin_wins_and_the_total_is_capped() {
        let outcome = |text: String| Outcome {
            text,
            errors: Vec::new(),
            usable: true,
            last_run: 1,
            duration_ms: 2,
        };
        let mut metrics = BTreeMap::new();
        let first = gather("a".into(), outcome("x 1\n".into()), &mut metrics);
        assert!(first.ok);
        let many: String = (0..300).map(|i| format!("m{i} {i}\n")).collect();
        let second = gather("b".into(), outcome(format!("x 2\n{many}")), &mut metrics);
        assert_eq!(metrics.len(), MAX_CUSTOM);
        assert_eq!(metrics.get("x"), Some(&1.0));
        assert!(!second.ok);
        assert_eq!(second.metrics, Some(255));
        let error = second.error.unwrap_or_default();
        assert!(error.contains("1 metric given before"), "{error}");
        assert!(error.contains("45 metrics dropped"), "{error}");
    }
}
