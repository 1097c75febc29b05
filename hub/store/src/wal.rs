//! The write-ahead log: one record per ingest batch, appended to segment
//! files `DIR/wal/NNNNNNNNNNNNNNNNNNNN.log` (a fresh one at each
//! checkpoint and at start-up), replayed at start-up and deleted once a
//! checkpoint has made what they hold durable in chunks. A record is
//! `len u32 LE | crc32 u32 LE | rows`, and its rows, per row
//! `agent varint | series varint | ts varint | value f64 LE`, where ts is
//! the zigzag delta from the row before (the first row's from 0). About
//! 11 bytes a row instead of 24: the log is most of what ingest writes.
//!
//! A file of its own, not a sled tree: a record is one `write`, where as
//! a sled value it was copied, checksummed and written again by sled's
//! own log, as a file of its own once a page of records passed sled's
//! blob threshold (measured: a fifth of the store's time a row).

use swarm_common::protocol::Millis;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::blocks::io_error;
use crate::{Result, StoreError, keys};

/// (agent id, series id, ts, value)
pub type Row = (u32, u32, Millis, f64);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

pub fn encode(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 12);
    encode_into(&mut out, rows);
    out
}

/// [`encode`] appended to `out`.
pub fn encode_into(out: &mut Vec<u8>, rows: &[Row]) {
    out.reserve(rows.len() * 12);
    let mut prev = 0u64;
    for &(agent, series, ts, value) in rows {
        put_varint(out, u64::from(agent));
        put_varint(out, u64::from(series));
        let delta = ts.wrapping_sub(prev) as i64;
        put_varint(out, ((delta << 1) ^ (delta >> 63)) as u64);
        out.extend_from_slice(&value.to_le_bytes());
        prev = ts;
    }
}

/// The rows of a record; `None` if it is damaged.
pub fn decode(mut bytes: &[u8]) -> Option<Vec<Row>> {
    let mut rows = Vec::with_capacity(bytes.len() / 11);
    let mut prev = 0u64;
    while !bytes.is_empty() {
        let agent = u32::try_from(take_varint(&mut bytes)?).ok()?;
        let series = u32::try_from(take_varint(&mut bytes)?).ok()?;
        let zigzag = take_varint(&mut bytes)?;
        let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        let ts = prev.wrapping_add(delta as u64);
        let (value, rest) = bytes.split_first_chunk::<8>()?;
        bytes = rest;
        rows.push((agent, series, ts, f64::from_le_bytes(*value)));
        prev = ts;
    }
    Some(rows)
}

/// The log's segments, appended to under the store's lock; synced by
/// [`SyncHandle`] without it.
pub(crate) struct Wal {
    dir: PathBuf,
    current: Segment,
    /// Records in each segment not yet trimmed, by segment number.
    records: BTreeMap<u64, usize>,
    /// Where earlier layouts kept the log: replayed once, then cleared.
    legacy: sled::Tree,
    /// The record being written, reused from batch to batch.
    buf: Vec<u8>,
    sync: SyncHandle,
}

struct Segment {
    number: u64,
    file: Arc<File>,
    path: PathBuf,
    /// Bytes of whole records in it.
    len: u64,
    /// A failed write could not be cut off: the next record goes to a
    /// fresh segment.
    torn: bool,
}

/// Makes the log's appends so far durable, from any thread, without the
/// store's lock (a rotation syncs the segment it leaves, so the current
/// one is all there is to sync).
#[derive(Clone)]
pub(crate) struct SyncHandle(Arc<Mutex<(Arc<File>, PathBuf)>>);

impl SyncHandle {
    pub(crate) fn sync(&self) -> Result<()> {
        let (file, path) = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        file.sync_data().map_err(io_error(&path))
    }
}

const HEADER: usize = 8;

impl Wal {
    /// Opens the log in `data_dir/wal`, starting a fresh segment after
    /// those already there (replayed by [`Wal::batches`]).
    pub(crate) fn open(data_dir: &Path, db: &sled::Db) -> Result<Self> {
        let dir = data_dir.join("wal");
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let mut records = BTreeMap::new();
        for number in segment_numbers(&dir)? {
            records.insert(number, 0);
        }
        let next = records.keys().next_back().map_or(0, |n| n + 1);
        let current = Segment::create(&dir, next)?;
        records.insert(next, 0);
        let sync = SyncHandle(Arc::new(Mutex::new((
            current.file.clone(),
            current.path.clone(),
        ))));
        Ok(Self {
            dir,
            current,
            records,
            legacy: db.open_tree("wal")?,
            buf: Vec::new(),
            sync,
        })
    }

    pub(crate) fn sync_handle(&self) -> SyncHandle {
        self.sync.clone()
    }

    /// The tree earlier layouts logged in (closed with the others).
    pub(crate) fn legacy_tree(&self) -> &sled::Tree {
        &self.legacy
    }

    /// Batches in the log.
    pub(crate) fn len(&self) -> usize {
        self.records.values().sum::<usize>() + self.legacy.len()
    }

    pub(crate) fn append(&mut self, rows: &[Row]) -> Result<()> {
        self.buf.clear();
        self.buf.resize(HEADER, 0);
        encode_into(&mut self.buf, rows);
        let body = &self.buf[HEADER..];
        let len = u32::try_from(body.len()).map_err(|_| StoreError::Corrupt {
            tree: "wal",
            reason: format!("a batch of {} bytes", body.len()),
        })?;
        let crc = crc32fast::hash(body);
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        self.buf[4..HEADER].copy_from_slice(&crc.to_le_bytes());
        if self.current.torn {
            self.rotate()?;
        }
        let segment = &mut self.current;
        if let Err(e) = (&*segment.file).write_all(&self.buf) {
            // Part of a record (a full disk) would end the replay of its
            // segment there, hiding every record after it: cut it off.
            segment.torn = segment.file.set_len(segment.len).is_err();
            return Err(io_error(&segment.path)(e));
        }
        segment.len += self.buf.len() as u64;
        *self.records.entry(segment.number).or_insert(0) += 1;
        Ok(())
    }

    /// Starts a fresh segment (the one left is made durable first) and
    /// returns its number: every segment before it may go once what the
    /// heads hold now is durable.
    pub(crate) fn rotate(&mut self) -> Result<u64> {
        self.current
            .file
            .sync_data()
            .map_err(io_error(&self.current.path))?;
        let next = Segment::create(&self.dir, self.current.number + 1)?;
        *self.sync.0.lock().unwrap_or_else(|p| p.into_inner()) =
            (next.file.clone(), next.path.clone());
        self.records.insert(next.number, 0);
        self.current = next;
        Ok(self.current.number)
    }

    /// Deletes the segments before `upto` (their rows are in durable
    /// chunks now), and what earlier layouts logged.
    pub(crate) fn trim_before(&mut self, upto: u64) -> Result<()> {
        let kept = self.records.split_off(&upto);
        for number in std::mem::replace(&mut self.records, kept).into_keys() {
            let path = segment_path(&self.dir, number);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path)(e)),
            }
        }
        if !self.legacy.is_empty() {
            self.legacy.clear()?;
        }
        Ok(())
    }

    /// Every batch, oldest first: what earlier layouts logged in sled,
    /// then each segment before the current one. A record that is cut
    /// short or fails its checksum (a write a crash interrupted) ends its
    /// segment: it is said, never fatal.
    pub(crate) fn batches(&self) -> Result<impl Iterator<Item = Result<Vec<Row>>> + use<>> {
        let legacy = self.legacy.iter().filter_map(|item| {
            let (key, value) = match item {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e.into())),
            };
            let rows = decode(&value);
            if rows.is_none() {
                tracing::error!(
                    "skipping undecodable write-ahead log record {:?}",
                    keys::u64_from(&key)
                );
            }
            rows.map(Ok)
        });
        let current = self.current.number;
        let mut readers = Vec::new();
        for &number in self.records.keys().filter(|&&n| n < current) {
            let path = segment_path(&self.dir, number);
            let file = File::open(&path).map_err(io_error(&path))?;
            let left = file.metadata().map_err(io_error(&path))?.len();
            readers.push(SegmentReader {
                file: BufReader::new(file),
                path,
                left,
                done: false,
            });
        }
        Ok(legacy.chain(readers.into_iter().flatten()))
    }
}

impl Segment {
    fn create(dir: &Path, number: u64) -> Result<Self> {
        let path = segment_path(dir, number);
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let len = file.metadata().map_err(io_error(&path))?.len();
        // The new name must survive a power loss with what is appended.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
        Ok(Self {
            number,
            file: Arc::new(file),
            path,
            len,
            torn: false,
        })
    }
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.log"))
}

/// The numbers of the segments in `dir`, oldest first.
fn segment_numbers(dir: &Path) -> Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        if let Some(number) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// The records of one segment, read one at a time.
struct SegmentReader {
    file: BufReader<File>,
    path: PathBuf,
    /// Bytes of the file not read yet: a damaged length never asks for more.
    left: u64,
    done: bool,
}

/// What a segment holds next.
enum Record {
    Rows(Vec<Row>),
    End,
    /// Cut short or damaged: a write a crash interrupted.
    Torn,
}

impl SegmentReader {
    /// Reads within the bytes the file had when opened, so a read that
    /// fails is the disk's failure, never the end of a torn record.
    fn record(&mut self) -> std::io::Result<Record> {
        if self.left == 0 {
            return Ok(Record::End);
        }
        if self.left < HEADER as u64 {
            return Ok(Record::Torn);
        }
        let mut header = [0u8; HEADER];
        self.file.read_exact(&mut header)?;
        self.left -= HEADER as u64;
        let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        if u64::from(len) > self.left {
            return Ok(Record::Torn);
        }
        let mut body = vec![0u8; len as usize];
        self.file.read_exact(&mut body)?;
        self.left -= u64::from(len);
        if crc32fast::hash(&body) != u32::from_le_bytes([c0, c1, c2, c3]) {
            return Ok(Record::Torn);
        }
        Ok(decode(&body).map_or(Record::Torn, Record::Rows))
    }
}

impl Iterator for SegmentReader {
    type Item = Result<Vec<Row>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let record = self.record();
        self.done = !matches!(record, Ok(Record::Rows(_)));
        match record {
            Ok(Record::Rows(rows)) => Some(Ok(rows)),
            Ok(Record::End) => None,
            Ok(Record::Torn) => {
                tracing::warn!(
                    "{}: the write-ahead log ends in a record cut short or damaged (a write a crash interrupted); replaying what came before it",
                    self.path.display()
                );
                None
            }
            Err(e) => Some(Err(io_error(&self.path)(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_compactly_and_damage_is_refused() {
        let rows: Vec<Row> = vec![
            (0, 0, 1_700_000_000_000, 1.5),
            (0, 1, 1_700_000_000_000, -0.0),
            (3, 200, 1_700_000_001_003, f64::NAN),
            (u32::MAX, u32::MAX, 0, f64::MAX),
            (1, 1, u64::MAX, 2.0),
            (1, 1, 5, 3.0),
        ];
        let bytes = encode(&rows);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.len(), rows.len());
        for (a, b) in rows.iter().zip(&back) {
            assert_eq!((a.0, a.1, a.2), (b.0, b.1, b.2));
            assert_eq!(a.3.to_bits(), b.3.to_bits());
        }
        let typical: Vec<Row> = (0..100u32)
            .map(|i| {
                (
                    7,
                    i % 20,
                    1_700_000_000_000 + u64::from(i / 20) * 1_000,
                    1.0,
                )
            })
            .collect();
        assert!(encode(&typical).len() < 100 * 12);
        for cut in 0..bytes.len() {
            if let Some(rows) = decode(&bytes[..cut]) {
                assert!(rows.len() < 6, "a cut record never decodes whole");
            }
        }
        assert_eq!(decode(&[0xff; 11]), None);
    }

    fn rows(n: u32) -> Vec<Row> {
        (0..n).map(|i| (1, i, 1_000 + u64::from(i), 0.5)).collect()
    }

    fn replayed(wal: &Wal) -> Vec<usize> {
        wal.batches()
            .expect("segments")
            .map(|rows| rows.expect("readable").len())
            .collect()
    }

    #[test]
    fn segments_replay_in_order_and_a_torn_tail_ends_only_its_segment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::Config::new().temporary(true).open().expect("sled");
        let mut wal = Wal::open(dir.path(), &db).expect("open");
        wal.append(&rows(3)).expect("append");
        let second = wal.rotate().expect("rotate");
        wal.append(&rows(4)).expect("append");
        wal.append(&rows(5)).expect("append");
        assert_eq!(wal.len(), 3);
        let torn = wal.current.path.clone();
        drop(wal);
        // A crash cut the last record short.
        let len = std::fs::metadata(&torn).expect("segment").len();
        let file = OpenOptions::new().write(true).open(&torn).expect("open");
        file.set_len(len - 3).expect("truncate");

        let mut wal = Wal::open(dir.path(), &db).expect("reopen");
        assert_eq!(replayed(&wal), vec![3, 4], "all but the torn record");
        // What a checkpoint made durable goes, with the segments before it.
        let upto = wal.rotate().expect("rotate");
        assert!(upto > second);
        wal.trim_before(upto).expect("trim");
        assert_eq!(
            replayed(&Wal::open(dir.path(), &db).expect("reopen")),
            Vec::<usize>::new()
        );
        assert_eq!(
            segment_numbers(&dir.path().join("wal"))
                .expect("list")
                .len(),
            2
        );
    }

    #[test]
    fn a_damaged_record_or_length_is_said_and_skipped_never_read_past() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::Config::new().temporary(true).open().expect("sled");
        let mut wal = Wal::open(dir.path(), &db).expect("open");
        wal.append(&rows(2)).expect("append");
        wal.append(&rows(6)).expect("append");
        let path = wal.current.path.clone();
        drop(wal);
        let mut bytes = std::fs::read(&path).expect("segment");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).expect("damage");
        let wal = Wal::open(dir.path(), &db).expect("reopen");
        assert_eq!(
            replayed(&wal),
            vec![2],
            "the damaged record is not replayed"
        );

        // A length past the end of the file is not allocated for.
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 4]);
        std::fs::write(&path, &huge).expect("damage");
        assert_eq!(replayed(&wal), Vec::<usize>::new());
    }

    #[test]
    fn what_earlier_layouts_logged_in_sled_is_replayed_first_then_cleared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::Config::new().temporary(true).open().expect("sled");
        let legacy = db.open_tree("wal").expect("tree");
        legacy
            .insert(keys::u64_key(0), encode(&rows(7)))
            .expect("legacy record");
        let mut wal = Wal::open(dir.path(), &db).expect("open");
        wal.append(&rows(1)).expect("append");
        let upto = wal.rotate().expect("rotate");
        assert_eq!(replayed(&wal), vec![7, 1]);
        wal.trim_before(upto).expect("trim");
        assert!(legacy.is_empty());
        assert_eq!(replayed(&wal), Vec::<usize>::new());
    }
}
