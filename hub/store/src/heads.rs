//! The open heads of every series, by (agent, series) id: a small index
//! over heads kept side by side in the order their series first came, so
//! one message's heads (one agent's series) lie together in memory and the
//! index stays in cache. As entries of a hash map, each head lay at a
//! place of its own, and waiting for it was most of a row's time in the
//! store.

use foldhash::HashMap;

use crate::head::Head;

/// (agent id, series id)
pub(crate) type Key = (u32, u32);

#[derive(Debug, Default)]
pub(crate) struct Heads {
    slots: HashMap<Key, usize>,
    heads: Vec<(Key, Head)>,
}

impl Heads {
    pub(crate) fn get(&self, key: &Key) -> Option<&Head> {
        let &slot = self.slots.get(key)?;
        self.heads.get(slot).map(|(_, head)| head)
    }

    pub(crate) fn get_mut(&mut self, key: &Key) -> Option<&mut Head> {
        let &slot = self.slots.get(key)?;
        self.heads.get_mut(slot).map(|(_, head)| head)
    }

    /// Puts a head in (in place of the one the series had) and returns it.
    pub(crate) fn insert(&mut self, key: Key, head: Head) -> &mut Head {
        let slot = match self.slots.get(&key) {
            Some(&slot) => {
                self.heads[slot] = (key, head);
                slot
            }
            None => {
                self.slots.insert(key, self.heads.len());
                self.heads.push((key, head));
                self.heads.len() - 1
            }
        };
        &mut self.heads[slot].1
    }

    /// Keeps the heads whose key `keep` says to keep.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Key) -> bool) {
        self.heads.retain(|(key, _)| keep(key));
        self.slots = self
            .heads
            .iter()
            .enumerate()
            .map(|(slot, (key, _))| (*key, slot))
            .collect();
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &Key> {
        self.heads.iter().map(|(key, _)| key)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Head> {
        self.heads.iter().map(|(_, head)| head)
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&Key, &mut Head)> {
        self.heads.iter_mut().map(|(key, head)| (&*key, head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(sealed_through: u64) -> Head {
        Head {
            sealed_through,
            ..Head::default()
        }
    }

    #[test]
    fn heads_are_found_replaced_and_forgotten_by_key() {
        let mut heads = Heads::default();
        heads.insert((1, 1), head(10));
        heads.insert((1, 2), head(20));
        heads.insert((2, 1), head(30));
        assert_eq!(heads.get(&(1, 2)).map(|h| h.sealed_through), Some(20));
        heads.insert((1, 2), head(21));
        assert_eq!(heads.get(&(1, 2)).map(|h| h.sealed_through), Some(21));
        assert_eq!(heads.values().count(), 3, "replaced, not added");
        heads.retain(|(agent, _)| *agent != 1);
        assert!(heads.get(&(1, 1)).is_none() && heads.get(&(1, 2)).is_none());
        if let Some(h) = heads.get_mut(&(2, 1)) {
            h.sealed_through = 31;
        }
        assert_eq!(heads.get(&(2, 1)).map(|h| h.sealed_through), Some(31));
        assert_eq!(heads.keys().collect::<Vec<_>>(), [&(2, 1)]);
        heads.insert((3, 1), head(40));
        assert_eq!(heads.get(&(3, 1)).map(|h| h.sealed_through), Some(40));
        assert_eq!(heads.iter_mut().count(), 2);
    }
}
