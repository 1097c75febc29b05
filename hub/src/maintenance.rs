//! Maintenance on a stopped hub's data directory: stats, prune, wipe,
//! export, backup and restore. A running hub holds the directory's lock,
//! and every command then refuses with that reason.

use std::io::Write;
use std::path::{Path, PathBuf};

use swarm_common::time::now_ms;

use crate::Retention;
use crate::store::{Level, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("no data directory at {0}")]
    Missing(PathBuf),
    #[error(
        "data directory {0} is in use by a running swarm-hub: stop it first (maintenance works on a stopped hub's data)"
    )]
    InUse(PathBuf),
    #[error(transparent)]
    Store(StoreError),
    #[error("{0}")]
    Refused(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, MaintenanceError>;

/// Opens an existing data directory, never creating one.
pub fn open(dir: &Path) -> Result<Store> {
    if !dir.join("conf").is_file() {
        return Err(MaintenanceError::Missing(dir.to_owned()));
    }
    Store::open(dir).map_err(|e| match e {
        StoreError::Locked { path } => MaintenanceError::InUse(path),
        other => MaintenanceError::Store(other),
    })
}

fn store_err(e: StoreError) -> MaintenanceError {
    MaintenanceError::Store(e)
}

pub fn stats(dir: &Path, out: &mut impl Write) -> Result<()> {
    let store = open(dir)?;
    let s = store.stats().map_err(store_err)?;
    let hosts = store.records().hosts().map_err(store_err)?.len();
    let (tests, results) = store.records().counts();
    let io = |e| MaintenanceError::Io {
        what: "cannot write to",
        path: PathBuf::from("stdout"),
        source: e,
    };
    writeln!(
        out,
        "data directory   {}\nhosts            {hosts}\nagents           {}\nseries           {}\nraw samples      {} ({} in chunks: {} in sled, {} hourly blocks in day files)\n1-min buckets    {} ({} hourly blocks)\n1-hour buckets   {} ({} daily blocks)\ntests            {tests}\ntest results     {results}\nlog batches      {}\nstored data      {} bytes (what --max-data-mib caps)\nbytes on disk    {}",
        dir.display(),
        s.agents,
        s.series,
        s.samples_in_chunks + s.samples_in_heads,
        s.samples_in_chunks,
        s.chunks,
        s.blocks[Level::Raw],
        s.rollup_buckets[Level::Minute],
        s.blocks[Level::Minute],
        s.rollup_buckets[Level::Hour],
        s.blocks[Level::Hour],
        s.wal_batches,
        s.data_bytes,
        s.bytes_on_disk,
    )
    .map_err(io)
}

pub fn prune(dir: &Path, retention: &Retention, out: &mut impl Write) -> Result<()> {
    let store = open(dir)?;
    let (removed, capped) = retention.enforce(&store, now_ms()).map_err(store_err)?;
    let capped = capped
        .map(|r| format!("\nsize cap: {r}"))
        .unwrap_or_default();
    writeln!(
        out,
        "removed {} raw samples, {} rollup buckets and {} test results{capped}",
        removed.raw_samples, removed.rollup_buckets, removed.results
    )
    .map_err(|source| MaintenanceError::Io {
        what: "cannot write to",
        path: PathBuf::from("stdout"),
        source,
    })
}

/// Removes everything in the data directory; refuses without `yes`.
pub fn wipe(dir: &Path, yes: bool) -> Result<()> {
    if !yes {
        return Err(MaintenanceError::Refused(format!(
            "wipe deletes every host, sample and test in {}; run again with --yes",
            dir.display()
        )));
    }
    // Opening proves no hub holds the directory.
    drop(open(dir)?);
    std::fs::remove_dir_all(dir).map_err(|source| MaintenanceError::Io {
        what: "cannot remove",
        path: dir.to_owned(),
        source,
    })
}

/// Output of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

/// Streams one series' raw samples, one line each.
pub fn export(
    dir: &Path,
    agent: &str,
    series: &str,
    window: (u64, u64),
    format: Format,
    out: &mut impl Write,
) -> Result<usize> {
    let store = open(dir)?;
    if !store
        .series_of(agent)
        .map_err(store_err)?
        .iter()
        .any(|s| s == series)
    {
        return Err(MaintenanceError::Refused(format!(
            "agent {agent:?} has no series {series:?}"
        )));
    }
    let io = |source| MaintenanceError::Io {
        what: "cannot write to",
        path: PathBuf::from("stdout"),
        source,
    };
    if format == Format::Csv {
        writeln!(out, "ts,agent,series,value").map_err(io)?;
    }
    let mut n = 0usize;
    let written = store
        .for_each_raw(agent, series, window, |ts, v| {
            n += 1;
            match format {
                Format::Csv => writeln!(out, "{ts},{agent},{},{v}", csv_field(series)),
                Format::Json => writeln!(
                    out,
                    "{}",
                    serde_json::json!({"ts": ts, "agent": agent, "series": series, "value": v})
                ),
            }
        })
        .map_err(store_err)?;
    written.map_err(io)?;
    Ok(n)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Copies a stopped hub's data directory to `dest` (new or empty), then
/// opens the copy to prove it is whole.
pub fn backup(dir: &Path, dest: &Path) -> Result<()> {
    let store = open(dir)?;
    store.checkpoint().map_err(store_err)?;
    ensure_empty(dest)?;
    copy_dir(dir, dest)?;
    drop(store);
    drop(open(dest)?);
    Ok(())
}

/// Restores a backup into a data directory that is new or empty.
pub fn restore(backup: &Path, dir: &Path) -> Result<()> {
    drop(open(backup)?);
    ensure_empty(dir)?;
    copy_dir(backup, dir)?;
    drop(open(dir)?);
    Ok(())
}

fn ensure_empty(dir: &Path) -> Result<()> {
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(MaintenanceError::Refused(format!(
            "{} is not empty; choose a new directory",
            dir.display()
        )));
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| MaintenanceError::Io { what, path, source }
    };
    std::fs::create_dir_all(to).map_err(io("cannot create", to))?;
    for entry in std::fs::read_dir(from).map_err(io("cannot read", from))? {
        let entry = entry.map_err(io("cannot read", from))?;
        let target = to.join(entry.file_name());
        if entry
            .file_type()
            .map_err(io("cannot read", &entry.path()))?
            .is_dir()
        {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(io("cannot copy to", &target))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SampleRow;

    /// 1,000 samples 10 s apart: closed hours go to day files.
    fn seeded(dir: &Path) {
        let store = Store::open(dir).expect("open");
        let points: Vec<(u64, f64)> = (0..1_000u64)
            .map(|i| (1_000_000 + i * 10_000, i as f64))
            .collect();
        store
            .ingest(&SampleRow::of_series("a", "cpu_pct", &points))
            .expect("ingest");
        store.checkpoint().expect("checkpoint");
    }

    #[test]
    fn export_streams_csv_and_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        seeded(dir.path());
        let mut csv = Vec::new();
        let n = export(
            dir.path(),
            "a",
            "cpu_pct",
            (1_000_000, 1_020_000),
            Format::Csv,
            &mut csv,
        )
        .expect("export");
        assert_eq!(n, 3);
        assert_eq!(
            String::from_utf8_lossy(&csv),
            "ts,agent,series,value\n1000000,a,cpu_pct,0\n1010000,a,cpu_pct,1\n1020000,a,cpu_pct,2\n"
        );
        let mut json = Vec::new();
        export(
            dir.path(),
            "a",
            "cpu_pct",
            (0, u64::MAX),
            Format::Json,
            &mut json,
        )
        .expect("export");
        assert_eq!(String::from_utf8_lossy(&json).lines().count(), 1_000);
        assert!(matches!(
            export(
                dir.path(),
                "a",
                "nope",
                (0, 1),
                Format::Csv,
                &mut Vec::new()
            ),
            Err(MaintenanceError::Refused(_))
        ));
    }

    #[test]
    fn refusals_are_clear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nothing");
        let err = stats(&missing, &mut Vec::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("no data directory at"), "{err}");
        seeded(dir.path());
        let running = Store::open(dir.path()).expect("a running hub holds the lock");
        let err = stats(dir.path(), &mut Vec::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("in use by a running swarm-hub"), "{err}");
        drop(running);
        assert!(matches!(
            wipe(dir.path(), false),
            Err(MaintenanceError::Refused(_))
        ));
        let mut out = Vec::new();
        stats(dir.path(), &mut out).expect("stats");
        assert!(String::from_utf8_lossy(&out).contains("raw samples      1000"));
    }

    #[test]
    fn backup_restore_and_wipe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        seeded(&data);
        let copy = dir.path().join("backup");
        backup(&data, &copy).expect("backup");
        assert!(copy.join("blocks/raw").is_dir(), "day files are backed up");
        assert!(copy.join("index").is_dir(), "and their index");
        assert!(
            matches!(backup(&data, &copy), Err(MaintenanceError::Refused(_))),
            "not over a backup"
        );
        wipe(&data, true).expect("wipe");
        assert!(matches!(open(&data), Err(MaintenanceError::Missing(_))));
        restore(&copy, &data).expect("restore");
        let store = open(&data).expect("restored");
        assert_eq!(
            store
                .query_raw("a", "cpu_pct", 0, u64::MAX)
                .expect("raw")
                .len(),
            1_000
        );
    }
}
