//! Logging set-up of the binaries: text (colours only on a terminal) or
//! JSON lines (`--log-format json`) for `jq` and log shippers.

use std::io::IsTerminal;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, fields.
    Json,
}

/// Installs the global subscriber writing to stderr with a tracing
/// filter such as `info` or `swarm_hub=debug`; the error names the bad
/// filter.
pub fn init(filter: &str, format: LogFormat) -> Result<(), String> {
    init_to(
        filter,
        format,
        std::io::stderr,
        std::io::stderr().is_terminal(),
    )
}

/// The same, to `writer` (the console logs to a file, never the screen).
pub fn init_to<W>(filter: &str, format: LogFormat, writer: W, ansi: bool) -> Result<(), String>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("bad log filter {filter:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    }
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_are_one_object_each_and_a_bad_filter_is_named() {
        assert!(init("=nonsense=", LogFormat::Json).is_err_and(|e| e.contains("=nonsense=")));
        let buffer = Buffer::default();
        let writer = buffer.clone();
        init_to("info", LogFormat::Json, move || writer.clone(), false).expect("first init");
        tracing::info!(agent = "web-1", "host forgotten");
        tracing::debug!("filtered out");
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["fields"]["message"], "host forgotten");
        assert_eq!(lines[0]["fields"]["agent"], "web-1");
    }
}
