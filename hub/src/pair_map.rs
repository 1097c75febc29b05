//! A map keyed by a pair of names (agent and rule, test and agent), two
//! levels deep so the hot paths look a pair up by `&str` without building
//! a key, and ask "anything for this outer name?" with one lookup. Keys are
//! allocated only when a pair is first inserted.
//!
//! A fast hash (foldhash, seeded per process): every sample of every agent
//! goes through these maps, and the names are validated and capped in
//! number before they get here.

use foldhash::HashMap;

#[derive(Debug)]
pub struct PairMap<V> {
    outer: HashMap<String, HashMap<String, V>>,
    len: usize,
}

impl<V> Default for PairMap<V> {
    fn default() -> Self {
        Self {
            outer: HashMap::default(),
            len: 0,
        }
    }
}

impl<V> PairMap<V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether some pair has this outer name.
    pub fn has_outer(&self, outer: &str) -> bool {
        self.outer.contains_key(outer)
    }

    pub fn get(&self, outer: &str, inner: &str) -> Option<&V> {
        self.outer.get(outer).and_then(|m| m.get(inner))
    }

    pub fn get_mut(&mut self, outer: &str, inner: &str) -> Option<&mut V> {
        self.outer.get_mut(outer).and_then(|m| m.get_mut(inner))
    }

    /// Sets a pair's value, returning the one it replaces.
    pub fn insert(&mut self, outer: &str, inner: &str, value: V) -> Option<V> {
        if let Some(slot) = self.get_mut(outer, inner) {
            return Some(std::mem::replace(slot, value));
        }
        self.outer
            .entry(outer.to_owned())
            .or_default()
            .insert(inner.to_owned(), value);
        self.len += 1;
        None
    }

    /// The pair's value, made by `make` if it has none.
    pub fn get_or_insert_with(
        &mut self,
        outer: &str,
        inner: &str,
        make: impl FnOnce() -> V,
    ) -> &mut V {
        if self.get(outer, inner).is_none() {
            self.insert(outer, inner, make());
        }
        // Just inserted when missing: the lookup cannot fail.
        match self.get_mut(outer, inner) {
            Some(value) => value,
            None => unreachable!("a pair inserted a line above is missing"),
        }
    }

    /// Removes a pair; an outer name left with nothing goes too.
    pub fn remove(&mut self, outer: &str, inner: &str) -> Option<V> {
        let inners = self.outer.get_mut(outer)?;
        let value = inners.remove(inner)?;
        if inners.is_empty() {
            self.outer.remove(outer);
        }
        self.len -= 1;
        Some(value)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.outer.values().flat_map(HashMap::values)
    }

    /// Every pair as (outer, inner, value), in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &V)> {
        self.outer
            .iter()
            .flat_map(|(o, inners)| inners.iter().map(move |(i, v)| (o.as_str(), i.as_str(), v)))
    }

    /// Keeps the pairs `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str, &mut V) -> bool) {
        self.outer.retain(|o, inners| {
            inners.retain(|i, v| keep(o, i, v));
            !inners.is_empty()
        });
        self.recount();
    }

    /// Keeps the outer names `keep` says yes to, with all their pairs.
    pub fn retain_outer(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.outer.retain(|o, _| keep(o));
        self.recount();
    }

    fn recount(&mut self) {
        self.len = self.outer.values().map(HashMap::len).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_counted_and_empty_outer_names_leave() {
        let mut m = PairMap::default();
        assert_eq!(m.insert("a", "r1", 1), None);
        assert_eq!(m.insert("a", "r2", 2), None);
        assert_eq!(m.insert("a", "r1", 3), Some(1));
        assert_eq!(m.len(), 2);
        assert_eq!(m.get("a", "r1"), Some(&3));
        assert_eq!(m.remove("a", "r1"), Some(3));
        assert!(m.has_outer("a"));
        assert_eq!(m.remove("a", "r2"), Some(2));
        assert!(!m.has_outer("a"), "an outer name with no pairs goes");
        assert!(m.is_empty());
        *m.get_or_insert_with("b", "r", || 0) += 5;
        *m.get_or_insert_with("b", "r", || 0) += 5;
        assert_eq!(m.get("b", "r"), Some(&10));
        m.insert("c", "r", 1);
        m.retain(|_, _, v| *v > 1);
        assert_eq!(m.len(), 1);
        m.retain_outer(|o| o != "b");
        assert!(m.is_empty());
    }
}
