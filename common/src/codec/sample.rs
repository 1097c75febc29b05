//! [`MetricsSample`] from MessagePack in the plain case, without serde's
//! generic machinery: the hub decodes one of these for every message it
//! ingests, and through serde that was two thirds of the instructions it
//! spent on a message (a UTF-8 check of every field name, a dispatch on
//! every value; about 17,000 instructions for a sample of 19 series).
//!
//! "Plain" is what agents send: a map with the contract's field names,
//! each value of its own type or nil. Anything else (an unknown or
//! repeated field, another type, a struct as an array, bytes left over)
//! gives `None`, and the caller decodes with serde, whose result (a value
//! or an error) is the reference: a sample decoded here is always the
//! one serde would give (`tests/fuzz_decoders.rs` holds them to it).
//! The bytes are read with `rmp`'s decoding functions.

use std::collections::BTreeMap;

use rmp::Marker;
use rmp::decode;

use crate::AgentId;
use crate::protocol::{
    CpuTimes, DiskIo, DiskUsage, Interface, MetricsSample, NetUsage, ProcessUsage, Temperature,
    TopProcesses,
};

/// A sample decoded without serde, or `None` when it is not the plain case.
pub fn metrics(bytes: &[u8]) -> Option<MetricsSample> {
    let mut rd = bytes;
    let sample = sample(&mut rd)?;
    rd.is_empty().then_some(sample)
}

type Reader<'a> = &'a [u8];

/// Reads a struct's map: each arm is a field's name and what reads its
/// value (a `?` in it makes a value not of its type not the plain case).
/// A key of no arm, or a field given twice (which serde refuses), is not
/// the plain case either. Keys are MessagePack strings compared as
/// bytes: matching ASCII names needs no UTF-8 check.
macro_rules! read_fields {
    ($rd:ident, { $($name:literal => $read:expr),* $(,)? }) => {
        let mut seen = 0u64;
        for _ in 0..map_len($rd)? {
            let len = decode::read_str_len($rd).ok()? as usize;
            let key = take($rd, len)?;
            #[allow(unused_assignments)]
            let mut bit = 1u64;
            $(
                if key == $name {
                    if seen & bit != 0 {
                        return None;
                    }
                    seen |= bit;
                    $read;
                    continue;
                }
                bit <<= 1;
            )*
            return None;
        }
    };
}

fn sample(rd: &mut Reader<'_>) -> Option<MetricsSample> {
    let (mut agent, mut ts) = (None, None);
    // Agent and time are set below: without them it is not the plain case.
    let mut s = MetricsSample::new(AgentId::parse("a").ok()?, 0);
    read_fields!(rd, {
        b"agent" => agent = Some(AgentId::parse(text(rd)?).ok()?),
        b"ts" => ts = Some(int(rd)?),
        b"cpu_pct" => s.cpu_pct = opt(rd, float)?,
        b"load" => s.load = opt(rd, load)?,
        b"mem_total" => s.mem_total = opt(rd, int)?,
        b"mem_used" => s.mem_used = opt(rd, int)?,
        b"mem_available" => s.mem_available = opt(rd, int)?,
        b"swap_total" => s.swap_total = opt(rd, int)?,
        b"swap_used" => s.swap_used = opt(rd, int)?,
        b"disks" => s.disks = list(rd, disk)?,
        b"net" => s.net = opt(rd, net)?,
        b"uptime_s" => s.uptime_s = opt(rd, int)?,
        b"procs" => s.procs = opt(rd, int)?,
        b"custom" => s.custom = custom(rd)?,
        b"cpu" => s.cpu = opt(rd, cpu)?,
        b"cores" => s.cores = list(rd, float)?,
        b"mem_free" => s.mem_free = opt(rd, int)?,
        b"mem_cached" => s.mem_cached = opt(rd, int)?,
        b"mem_buffers" => s.mem_buffers = opt(rd, int)?,
        b"disk_io" => s.disk_io = list(rd, disk_io)?,
        b"interfaces" => s.interfaces = list(rd, interface)?,
        b"temps" => s.temps = list(rd, temperature)?,
        b"top" => s.top = opt(rd, top)?,
    });
    s.agent = agent?;
    s.ts = ts?;
    Some(s)
}

fn take<'a>(rd: &mut Reader<'a>, len: usize) -> Option<&'a [u8]> {
    if rd.len() < len {
        return None;
    }
    let (head, tail) = rd.split_at(len);
    *rd = tail;
    Some(head)
}

fn peek(rd: &Reader<'_>) -> Option<Marker> {
    rd.first().map(|&b| Marker::from_u8(b))
}

/// `None` for nil, else the value.
fn opt<T>(
    rd: &mut Reader<'_>,
    value: impl FnOnce(&mut Reader<'_>) -> Option<T>,
) -> Option<Option<T>> {
    if peek(rd)? == Marker::Null {
        *rd = &rd[1..];
        return Some(None);
    }
    value(rd).map(Some)
}

/// A string value, borrowed from the message (UTF-8 checked, as serde does).
fn text<'a>(rd: &mut Reader<'a>) -> Option<&'a str> {
    let (value, rest) = decode::read_str_from_slice(*rd).ok()?;
    *rd = rest;
    Some(value)
}

fn string(rd: &mut Reader<'_>) -> Option<String> {
    text(rd).map(str::to_owned)
}

/// An integer that fits `T` (serde takes any MessagePack integer in range).
fn int<T: num_traits::FromPrimitive>(rd: &mut Reader<'_>) -> Option<T> {
    match peek(rd)? {
        Marker::FixPos(_)
        | Marker::FixNeg(_)
        | Marker::U8
        | Marker::U16
        | Marker::U32
        | Marker::U64
        | Marker::I8
        | Marker::I16
        | Marker::I32
        | Marker::I64 => decode::read_int(rd).ok(),
        _ => None,
    }
}

/// A float, or an integer taken as one (as serde does).
fn float(rd: &mut Reader<'_>) -> Option<f64> {
    match peek(rd)? {
        Marker::F64 => decode::read_f64(rd).ok(),
        Marker::F32 => decode::read_f32(rd).ok().map(f64::from),
        Marker::FixPos(_) | Marker::U8 | Marker::U16 | Marker::U32 | Marker::U64 => {
            int::<u64>(rd).map(|v| v as f64)
        }
        Marker::FixNeg(_) | Marker::I8 | Marker::I16 | Marker::I32 | Marker::I64 => {
            int::<i64>(rd).map(|v| v as f64)
        }
        _ => None,
    }
}

fn list<T>(
    rd: &mut Reader<'_>,
    mut item: impl FnMut(&mut Reader<'_>) -> Option<T>,
) -> Option<Vec<T>> {
    if !matches!(
        peek(rd)?,
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32
    ) {
        return None;
    }
    let len = decode::read_array_len(rd).ok()? as usize;
    // Each item takes a byte at least: a length beyond the bytes left is
    // not believed.
    let mut out = Vec::with_capacity(len.min(rd.len()));
    for _ in 0..len {
        out.push(item(rd)?);
    }
    Some(out)
}

fn load(rd: &mut Reader<'_>) -> Option<[f64; 3]> {
    match list(rd, float)?.as_slice() {
        &[a, b, c] => Some([a, b, c]),
        _ => None,
    }
}

fn custom(rd: &mut Reader<'_>) -> Option<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for _ in 0..map_len(rd)? {
        let name = string(rd)?;
        out.insert(name, float(rd)?);
    }
    Some(out)
}

fn map_len(rd: &mut Reader<'_>) -> Option<u32> {
    if !matches!(peek(rd)?, Marker::FixMap(_) | Marker::Map16 | Marker::Map32) {
        return None;
    }
    decode::read_map_len(rd).ok()
}

fn disk(rd: &mut Reader<'_>) -> Option<DiskUsage> {
    let mut d = DiskUsage::new(String::new());
    let mut mount = None;
    read_fields!(rd, {
        b"mount" => mount = Some(string(rd)?),
        b"fs" => d.fs = opt(rd, string)?,
        b"total" => d.total = opt(rd, int)?,
        b"used" => d.used = opt(rd, int)?,
        b"available" => d.available = opt(rd, int)?,
        b"inodes_total" => d.inodes_total = opt(rd, int)?,
        b"inodes_used" => d.inodes_used = opt(rd, int)?,
    });
    d.mount = mount?;
    Some(d)
}

fn net(rd: &mut Reader<'_>) -> Option<NetUsage> {
    let mut n = NetUsage::default();
    read_fields!(rd, {
        b"rx_bytes" => n.rx_bytes = opt(rd, int)?,
        b"tx_bytes" => n.tx_bytes = opt(rd, int)?,
        b"rx_bps" => n.rx_bps = opt(rd, float)?,
        b"tx_bps" => n.tx_bps = opt(rd, float)?,
    });
    Some(n)
}

fn cpu(rd: &mut Reader<'_>) -> Option<CpuTimes> {
    let mut c = CpuTimes::default();
    read_fields!(rd, {
        b"user" => c.user = opt(rd, float)?,
        b"nice" => c.nice = opt(rd, float)?,
        b"system" => c.system = opt(rd, float)?,
        b"iowait" => c.iowait = opt(rd, float)?,
        b"irq" => c.irq = opt(rd, float)?,
        b"softirq" => c.softirq = opt(rd, float)?,
        b"steal" => c.steal = opt(rd, float)?,
        b"idle" => c.idle = opt(rd, float)?,
    });
    Some(c)
}

fn disk_io(rd: &mut Reader<'_>) -> Option<DiskIo> {
    let mut d = DiskIo::new(String::new());
    let mut device = None;
    read_fields!(rd, {
        b"device" => device = Some(string(rd)?),
        b"read_bps" => d.read_bps = opt(rd, float)?,
        b"write_bps" => d.write_bps = opt(rd, float)?,
        b"read_ops" => d.read_ops = opt(rd, float)?,
        b"write_ops" => d.write_ops = opt(rd, float)?,
        b"busy_pct" => d.busy_pct = opt(rd, float)?,
    });
    d.device = device?;
    Some(d)
}

fn interface(rd: &mut Reader<'_>) -> Option<Interface> {
    let mut i = Interface::new(String::new());
    let mut name = None;
    read_fields!(rd, {
        b"name" => name = Some(string(rd)?),
        b"rx_bps" => i.rx_bps = opt(rd, float)?,
        b"tx_bps" => i.tx_bps = opt(rd, float)?,
        b"rx_pps" => i.rx_pps = opt(rd, float)?,
        b"tx_pps" => i.tx_pps = opt(rd, float)?,
        b"rx_bytes" => i.rx_bytes = opt(rd, int)?,
        b"tx_bytes" => i.tx_bytes = opt(rd, int)?,
        b"rx_errors" => i.rx_errors = opt(rd, int)?,
        b"tx_errors" => i.tx_errors = opt(rd, int)?,
        b"rx_drops" => i.rx_drops = opt(rd, int)?,
        b"tx_drops" => i.tx_drops = opt(rd, int)?,
    });
    i.name = name?;
    Some(i)
}

fn temperature(rd: &mut Reader<'_>) -> Option<Temperature> {
    let (mut label, mut celsius, mut critical) = (None, None, None);
    read_fields!(rd, {
        b"label" => label = Some(string(rd)?),
        b"celsius" => celsius = Some(float(rd)?),
        b"critical" => critical = opt(rd, float)?,
    });
    Some(Temperature {
        label: label?,
        celsius: celsius?,
        critical,
    })
}

fn top(rd: &mut Reader<'_>) -> Option<TopProcesses> {
    let mut t = TopProcesses::default();
    let mut ts = None;
    read_fields!(rd, {
        b"ts" => ts = Some(int(rd)?),
        b"by_cpu" => t.by_cpu = list(rd, process)?,
        b"by_mem" => t.by_mem = list(rd, process)?,
    });
    t.ts = ts?;
    Some(t)
}

fn process(rd: &mut Reader<'_>) -> Option<ProcessUsage> {
    let (mut pid, mut name, mut user, mut cpu_pct, mut rss) = (None, None, None, None, None);
    read_fields!(rd, {
        b"pid" => pid = Some(int(rd)?),
        b"name" => name = Some(string(rd)?),
        b"user" => user = opt(rd, string)?,
        b"cpu_pct" => cpu_pct = opt(rd, float)?,
        b"rss" => rss = opt(rd, int)?,
    });
    Some(ProcessUsage {
        pid: pid?,
        name: name?,
        user,
        cpu_pct,
        rss,
    })
}
