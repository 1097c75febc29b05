//! The agent's spool reading segment files it did not write (a damaged
//! disk, a half-written file): never a panic, and what it hands back is
//! what was pushed before the damage, in order.
//!
//! `PROPTEST_CASES=N` sets the cases (default 300 here: each case writes
//! files).

use proptest::prelude::*;
use swarm_agent::spool::Spool;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn damaged_segments_never_panic(
        garbage in proptest::collection::vec(any::<u8>(), 0..4096),
        records in 1usize..20,
        flip in any::<(usize, u8)>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        // A file of pure garbage where a segment would be.
        std::fs::write(dir.path().join(format!("{:016}.seg", 1)), &garbage).expect("write");
        if let Ok(mut spool) = Spool::open(dir.path(), 1 << 20) {
            while let Ok(Some((seq, _))) = spool.oldest() {
                if spool.delivered(seq).is_err() {
                    break;
                }
            }
        }

        // A real segment with one byte damaged.
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut spool = Spool::open(dir.path(), 1 << 20).expect("open");
            for i in 0..records {
                spool.push(&format!("swarm.metrics.a{i}"), format!("payload {i}").as_bytes());
            }
        }
        let seg = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "seg"))
            .expect("a segment");
        let mut bytes = std::fs::read(&seg).expect("read");
        let at = flip.0 % bytes.len();
        bytes[at] ^= flip.1 | 1;
        std::fs::write(&seg, &bytes).expect("write");
        let mut spool = Spool::open(dir.path(), 1 << 20).expect("reopen");
        let mut seen = Vec::new();
        while let Ok(Some((seq, batch))) = spool.oldest() {
            seen.extend(batch.into_iter().map(|r| r.subject));
            if spool.delivered(seq).is_err() {
                break;
            }
        }
        // Whatever survives is a prefix of what was pushed, in order.
        for (i, subject) in seen.iter().enumerate() {
            prop_assert_eq!(subject, &format!("swarm.metrics.a{i}"));
        }
    }
}
