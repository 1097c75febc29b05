//! The agent's on-disk spool: what could not be delivered while the bus was
//! unreachable, kept in order in a bounded set of segment files, replayed
//! when the bus is back, oldest dropped (and counted) when full.
//!
//! A segment is a file of records `len u32 | crc32 u32 | subject_len u16 |
//! subject | payload` (little-endian). A record cut short by a crash fails
//! its length or checksum and ends the segment there; nothing before it is
//! lost.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Segments are closed at this size, so that replay and dropping work on
/// whole files.
const SEGMENT_BYTES: u64 = 1 << 20;
/// Segments per spool at least: when full, an eighth goes at a time.
const MIN_SEGMENTS: u64 = 8;
const MIN_SEGMENT_BYTES: u64 = 4 << 10;
const HEADER: usize = 4 + 4 + 2;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool limit {0} bytes is too small (at least 32 KiB)")]
    TooSmall(u64),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One message waiting for the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub subject: String,
    pub payload: Vec<u8>,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    bytes: u64,
    records: u64,
}

/// Depth and counters, reported in HostInfo.
pub type SpoolState = swarm_common::protocol::SpoolInfo;

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    /// Size at which a segment is closed: an eighth of the limit, at most
    /// 1 MiB, so that dropping the oldest segment frees a bounded share.
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    writer: Option<BufWriter<File>>,
    state: SpoolState,
}

impl Spool {
    /// Opens (or creates) a spool and counts what an earlier run left.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, SpoolError> {
        if max_bytes < MIN_SEGMENTS * MIN_SEGMENT_BYTES {
            return Err(SpoolError::TooSmall(max_bytes));
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut seqs: Vec<u64> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        seqs.sort_unstable();
        let mut spool = Self {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: (max_bytes / MIN_SEGMENTS).clamp(MIN_SEGMENT_BYTES, SEGMENT_BYTES),
            segments: VecDeque::new(),
            writer: None,
            state: SpoolState::default(),
        };
        for seq in seqs {
            let path = spool.path(seq);
            let records = read_segment(&path)?;
            let bytes = std::fs::metadata(&path).map_err(io(&path))?.len();
            spool.state.records += records.len() as u64;
            spool.state.bytes += bytes;
            spool.segments.push_back(Segment {
                seq,
                bytes,
                records: records.len() as u64,
            });
        }
        Ok(spool)
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:016}.seg"))
    }

    pub fn state(&self) -> SpoolState {
        self.state.clone()
    }

    pub fn is_empty(&self) -> bool {
        self.state.records == 0
    }

    /// Appends a record; on a full spool the oldest segment goes first. A
    /// write the disk refuses drops the record, counted.
    pub fn push(&mut self, subject: &str, payload: &[u8]) {
        if let Err(e) = self.try_push(subject, payload) {
            self.state.dropped += 1;
            // Start a fresh segment next time: the current one may be torn.
            self.writer = None;
            tracing::warn!("spool: record dropped: {e}");
        }
    }

    fn try_push(&mut self, subject: &str, payload: &[u8]) -> Result<(), SpoolError> {
        let subject_len = u16::try_from(subject.len()).unwrap_or(u16::MAX);
        let body_len = 2 + usize::from(subject_len) + payload.len();
        let size = (8 + body_len) as u64;
        let needs_new = match self.segments.back() {
            Some(last) => self.writer.is_none() || last.bytes + size > self.segment_bytes,
            None => true,
        };
        if needs_new {
            self.rotate()?;
        }
        while self.state.bytes + size > self.max_bytes && self.segments.len() > 1 {
            self.drop_oldest("full")?;
        }
        let mut body = Vec::with_capacity(body_len);
        body.extend_from_slice(&subject_len.to_le_bytes());
        body.extend_from_slice(&subject.as_bytes()[..usize::from(subject_len)]);
        body.extend_from_slice(payload);
        let mut record = Vec::with_capacity(8 + body.len());
        record.extend_from_slice(&(body.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        record.extend_from_slice(&body);
        let path = self.current_path();
        let writer = self.writer.as_mut().ok_or_else(|| SpoolError::Io {
            path: path.clone(),
            source: std::io::Error::other("no open segment"),
        })?;
        writer.write_all(&record).map_err(io(&path))?;
        // Flushed to the file (not fsynced): survives the agent's own
        // crash; a power loss may cost the last records, never the order.
        writer.flush().map_err(io(&path))?;
        if let Some(last) = self.segments.back_mut() {
            last.bytes += size;
            last.records += 1;
        }
        self.state.bytes += size;
        self.state.records += 1;
        Ok(())
    }

    fn current_path(&self) -> PathBuf {
        self.path(self.segments.back().map_or(0, |s| s.seq))
    }

    fn rotate(&mut self) -> Result<(), SpoolError> {
        let seq = self.segments.back().map_or(1, |s| s.seq + 1);
        let path = self.path(seq);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        self.writer = Some(BufWriter::new(file));
        self.segments.push_back(Segment {
            seq,
            bytes: 0,
            records: 0,
        });
        Ok(())
    }

    /// Gives up the oldest segment (one that cannot be read), counting its
    /// records as dropped.
    pub fn discard_oldest(&mut self) -> Result<(), SpoolError> {
        self.drop_oldest("unreadable")
    }

    fn drop_oldest(&mut self, why: &str) -> Result<(), SpoolError> {
        if let Some(old) = self.segments.pop_front() {
            let path = self.path(old.seq);
            std::fs::remove_file(&path).map_err(io(&path))?;
            self.state.dropped += old.records;
            self.state.records -= old.records;
            self.state.bytes -= old.bytes;
            tracing::warn!("spool {why}: dropped the oldest {} records", old.records);
        }
        Ok(())
    }

    /// The oldest segment's records, for replay; the segment being written
    /// is closed first so that new records go to a new one.
    pub fn oldest(&mut self) -> Result<Option<(u64, Vec<Record>)>, SpoolError> {
        let Some(first) = self.segments.front() else {
            return Ok(None);
        };
        let seq = first.seq;
        if self.segments.len() == 1 {
            self.writer = None;
        }
        let records = read_segment(&self.path(seq))?;
        Ok(Some((seq, records)))
    }

    /// Removes a segment once all its records were delivered.
    pub fn delivered(&mut self, seq: u64) -> Result<(), SpoolError> {
        let Some(pos) = self.segments.iter().position(|s| s.seq == seq) else {
            return Ok(());
        };
        if let Some(seg) = self.segments.remove(pos) {
            let path = self.path(seq);
            std::fs::remove_file(&path).map_err(io(&path))?;
            self.state.records -= seg.records;
            self.state.bytes -= seg.bytes;
            self.state.replayed += seg.records;
            if self.segments.is_empty() {
                self.writer = None;
            }
        }
        Ok(())
    }
}

/// Reads a segment's records up to the first torn or corrupt one.
fn read_segment(path: &Path) -> Result<Vec<Record>, SpoolError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io(path))?;
    let mut out = Vec::new();
    let mut rest = bytes.as_slice();
    while rest.len() >= HEADER {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let Some(body) = rest.get(8..8 + len) else {
            break;
        };
        if crc32fast::hash(body) != crc || body.len() < 2 {
            break;
        }
        let subject_len = usize::from(u16::from_le_bytes([body[0], body[1]]));
        let Some(subject) = body.get(2..2 + subject_len) else {
            break;
        };
        out.push(Record {
            subject: String::from_utf8_lossy(subject).into_owned(),
            payload: body[2 + subject_len..].to_vec(),
        });
        rest = &rest[8 + len..];
    }
    if !rest.is_empty() {
        tracing::warn!(
            "spool segment {} ends in {} unreadable bytes (a write cut short); ignored",
            path.display(),
            rest.len()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(i: u32) -> Vec<u8> {
        let mut p = i.to_le_bytes().to_vec();
        p.resize(1_000, 7);
        p
    }

    fn drain(spool: &mut Spool) -> Vec<u32> {
        let mut seen = Vec::new();
        while let Some((seq, records)) = spool.oldest().expect("read") {
            for r in records {
                seen.push(u32::from_le_bytes([
                    r.payload[0],
                    r.payload[1],
                    r.payload[2],
                    r.payload[3],
                ]));
            }
            spool.delivered(seq).expect("delete");
        }
        seen
    }

    #[test]
    fn keeps_order_across_restarts_and_replays_everything() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut spool = Spool::open(dir.path(), 8 << 20).expect("open");
            for i in 0..3_000 {
                spool.push("swarm.metrics.a", &payload(i));
            }
        }
        let mut spool = Spool::open(dir.path(), 8 << 20).expect("reopen");
        assert_eq!(spool.state().records, 3_000);
        spool.push("swarm.metrics.a", &payload(3_000));
        assert_eq!(drain(&mut spool), (0..=3_000).collect::<Vec<_>>());
        let state = spool.state();
        assert_eq!(
            (state.records, state.bytes, state.dropped, state.replayed),
            (0, 0, 0, 3_001)
        );
        assert!(spool.is_empty());
    }

    #[test]
    fn drops_oldest_first_and_counts_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 2 << 20).expect("open");
        for i in 0..10_000 {
            spool.push("s", &payload(i));
        }
        let state = spool.state();
        assert!(state.bytes <= 2 << 20, "{state:?}");
        let kept = drain(&mut spool);
        assert_eq!(kept.len() as u64 + state.dropped, 10_000);
        let first = kept[0];
        assert_eq!(
            u64::from(first),
            state.dropped,
            "exactly the oldest are missing"
        );
        assert_eq!(kept, (first..10_000).collect::<Vec<_>>());
    }

    #[test]
    fn a_torn_tail_loses_only_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut spool = Spool::open(dir.path(), 8 << 20).expect("open");
            for i in 0..10 {
                spool.push("s", &payload(i));
            }
        }
        let seg = dir.path().join(format!("{:016}.seg", 1));
        let len = std::fs::metadata(&seg).expect("segment").len();
        let file = OpenOptions::new().write(true).open(&seg).expect("open");
        file.set_len(len - 10).expect("truncate");
        let mut spool = Spool::open(dir.path(), 8 << 20).expect("reopen");
        assert_eq!(drain(&mut spool), (0..9).collect::<Vec<_>>());
        assert!(
            Spool::open(dir.path(), 1_000).is_err(),
            "too small a limit is refused"
        );
    }
}
