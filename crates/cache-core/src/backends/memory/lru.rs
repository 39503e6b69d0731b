//! [`Lru`]: a hash map kept in recency order, the one ordered structure an exact LRU needs (Django's
//! `OrderedDict` with the most recently used key at the front).
//!
//! Nodes live densely in one `Vec` and are chained into a doubly linked list by index; a `HashTable` maps
//! each key's hash to its node's index. Every operation is O(1) (a cull of `n` entries is O(n)), and none
//! allocates except when the `Vec` or the table grows: the caller hashes and boxes the key before taking the
//! store's lock, and gets back what it removed, to drop after releasing it. Removing a node moves the last
//! node into its slot (`swap_remove`), so there are no holes to skip and no free list to keep.
//!
//! The structure knows nothing of expiry or bounds; [`Store`](super::store::Store) applies Django's rules
//! on top. It keeps one running total, the bytes of keys and values held, so the byte bound costs nothing
//! to check.

use bytes::Bytes;
use hashbrown::HashTable;

use crate::backend::Expiry;

/// No node: the end of the list, or the link of an empty list.
const NIL: usize = usize::MAX;

/// A stored value and when it stops being visible.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) value: Bytes,
    pub(super) expiry: Expiry,
}

/// One key's node: its entry and its neighbours in recency order.
pub(super) struct Node {
    key: Box<str>,
    /// The key's hash, kept so that moving a node to another slot need not hash the key again.
    hash: u64,
    pub(super) entry: Entry,
    /// The more recently used neighbour (towards the front), or [`NIL`].
    prev: usize,
    /// The less recently used neighbour (towards the back), or [`NIL`].
    next: usize,
}

impl Node {
    /// The bytes this node counts against the byte bound: its key and its value.
    fn size(&self) -> usize {
        self.key.len() + self.entry.value.len()
    }
}

/// A key in the map: the index of its node, valid until the next removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot(usize);

/// Entries by key, in recency order: the front is the most recently used, the back the least.
pub(super) struct Lru {
    nodes: Vec<Node>,
    by_hash: HashTable<usize>,
    head: usize,
    tail: usize,
    bytes: usize,
}

impl Lru {
    /// An empty map.
    pub(super) fn new() -> Self {
        Lru {
            nodes: Vec::new(),
            by_hash: HashTable::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
        }
    }

    /// The number of entries, expired ones included until something removes them.
    pub(super) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The bytes of keys and values held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The slot of `key`, whose hash is `hash`.
    pub(super) fn find(&self, hash: u64, key: &str) -> Option<Slot> {
        let nodes = &self.nodes;
        self.by_hash
            .find(hash, |&index| {
                nodes[index].hash == hash && *nodes[index].key == *key
            })
            .map(|&index| Slot(index))
    }

    /// The entry in `slot`.
    pub(super) fn entry(&self, slot: Slot) -> &Entry {
        &self.nodes[slot.0].entry
    }

    /// Replaces the entry in `slot`, returning the old one. Its place in the order does not change.
    pub(super) fn replace(&mut self, slot: Slot, entry: Entry) -> Entry {
        let node = &mut self.nodes[slot.0];
        self.bytes = self.bytes - node.entry.value.len() + entry.value.len();
        std::mem::replace(&mut node.entry, entry)
    }

    /// Sets the expiry of the entry in `slot`, leaving its place in the order.
    pub(super) fn set_expiry(&mut self, slot: Slot, expiry: Expiry) {
        self.nodes[slot.0].entry.expiry = expiry;
    }

    /// Makes `slot` the most recently used.
    pub(super) fn move_to_front(&mut self, slot: Slot) {
        if self.head != slot.0 {
            self.unlink(slot.0);
            self.link_front(slot.0);
        }
    }

    /// Adds a key that is not in the map, as the most recently used.
    pub(super) fn push_front(&mut self, key: Box<str>, hash: u64, entry: Entry) -> Slot {
        let index = self.nodes.len();
        let node = Node {
            key,
            hash,
            entry,
            prev: NIL,
            next: NIL,
        };
        self.bytes += node.size();
        self.nodes.push(node);
        let nodes = &self.nodes;
        self.by_hash
            .insert_unique(hash, index, |&index| nodes[index].hash);
        self.link_front(index);
        Slot(index)
    }

    /// Removes the node in `slot`. Every other slot stays valid except the last node's, which moves into
    /// `slot`.
    pub(super) fn remove(&mut self, slot: Slot) -> Node {
        let index = slot.0;
        self.unlink(index);
        let hash = self.nodes[index].hash;
        if let Ok(found) = self.by_hash.find_entry(hash, |&at| at == index) {
            found.remove();
        }
        let last = self.nodes.len() - 1;
        let node = self.nodes.swap_remove(index);
        if index != last {
            self.relocated(last, index);
        }
        self.bytes -= node.size();
        node
    }

    /// Removes the least recently used node, if any.
    pub(super) fn pop_back(&mut self) -> Option<Node> {
        (self.tail != NIL).then(|| self.remove(Slot(self.tail)))
    }

    /// Removes every node, returning them in no particular order.
    pub(super) fn take_all(&mut self) -> Vec<Node> {
        self.by_hash.clear();
        self.head = NIL;
        self.tail = NIL;
        self.bytes = 0;
        std::mem::take(&mut self.nodes)
    }

    /// The keys from most to least recently used (tests only).
    #[cfg(test)]
    pub(super) fn keys(&self) -> Vec<&str> {
        let mut keys = Vec::with_capacity(self.nodes.len());
        let mut at = self.head;
        while at != NIL {
            keys.push(&*self.nodes[at].key);
            at = self.nodes[at].next;
        }
        keys
    }

    /// Takes `index` out of the list, leaving its own links stale.
    fn unlink(&mut self, index: usize) {
        let (prev, next) = (self.nodes[index].prev, self.nodes[index].next);
        match prev {
            NIL => self.head = next,
            prev => self.nodes[prev].next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.nodes[next].prev = prev,
        }
    }

    /// Puts the unlinked `index` at the front of the list.
    fn link_front(&mut self, index: usize) {
        let old_head = self.head;
        {
            let node = &mut self.nodes[index];
            node.prev = NIL;
            node.next = old_head;
        }
        match old_head {
            NIL => self.tail = index,
            old_head => self.nodes[old_head].prev = index,
        }
        self.head = index;
    }

    /// Points everything that referred to the node at `from` (its neighbours, the list's ends, the table)
    /// at `to`, where `swap_remove` has just moved it.
    fn relocated(&mut self, from: usize, to: usize) {
        let (prev, next, hash) = {
            let node = &self.nodes[to];
            (node.prev, node.next, node.hash)
        };
        match prev {
            NIL => self.head = to,
            prev => self.nodes[prev].next = to,
        }
        match next {
            NIL => self.tail = to,
            next => self.nodes[next].prev = to,
        }
        if let Some(index) = self.by_hash.find_mut(hash, |&at| at == from) {
            *index = to;
        }
    }
}

#[cfg(test)]
mod tests {

    use proptest::prelude::*;

    use super::*;

    fn entry(value: &'static str) -> Entry {
        Entry {
            value: Bytes::from_static(value.as_bytes()),
            expiry: Expiry::Never,
        }
    }

    /// A map and the hasher its keys are hashed with, as a store holds them.
    struct Map {
        lru: Lru,
        hasher: ahash::RandomState,
    }

    impl Map {
        fn new() -> Self {
            Map {
                lru: Lru::new(),
                hasher: ahash::RandomState::new(),
            }
        }

        fn find(&self, key: &str) -> Option<Slot> {
            self.lru.find(self.hasher.hash_one(key), key)
        }

        fn put(&mut self, key: &str, value: &'static str) {
            match self.find(key) {
                Some(slot) => {
                    self.lru.replace(slot, entry(value));
                    self.lru.move_to_front(slot);
                }
                None => {
                    self.lru
                        .push_front(key.into(), self.hasher.hash_one(key), entry(value));
                }
            }
        }
    }

    #[test]
    fn keeps_recency_order_through_moves_and_removals() {
        let mut map = Map::new();
        for key in ["a", "b", "c", "d"] {
            map.put(key, "v");
        }
        assert_eq!(map.lru.keys(), ["d", "c", "b", "a"]);
        let a = map.find("a").expect("a");
        map.lru.move_to_front(a);
        assert_eq!(map.lru.keys(), ["a", "d", "c", "b"]);
        let c = map.find("c").expect("c");
        map.lru.remove(c);
        assert_eq!(map.lru.keys(), ["a", "d", "b"]);
        assert_eq!(map.lru.pop_back().map(|node| node.key), Some("b".into()));
        assert_eq!(map.lru.keys(), ["a", "d"]);
        assert!(map.find("b").is_none() && map.find("c").is_none());
        assert_eq!(map.lru.len(), 2);
        assert_eq!(map.lru.take_all().len(), 2);
        assert_eq!(map.lru.keys(), Vec::<&str>::new());
        assert!(map.lru.pop_back().is_none());
    }

    #[test]
    fn counts_the_bytes_of_keys_and_values() {
        let mut map = Map::new();
        map.put("ab", "xyz");
        map.put("c", "1");
        assert_eq!(map.lru.bytes(), 7);
        map.put("ab", "x");
        assert_eq!(map.lru.bytes(), 5);
        let c = map.find("c").expect("c");
        map.lru.remove(c);
        assert_eq!(map.lru.bytes(), 3);
        map.lru.take_all();
        assert_eq!(map.lru.bytes(), 0);
    }

    /// The operations the map is checked with against a plain list of keys, front first.
    #[derive(Debug, Clone)]
    enum Op {
        Put(u8),
        Touch(u8),
        Remove(u8),
        PopBack,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..12).prop_map(Op::Put),
            (0u8..12).prop_map(Op::Touch),
            (0u8..12).prop_map(Op::Remove),
            Just(Op::PopBack),
        ]
    }

    proptest! {
        #[test]
        fn agrees_with_a_plain_list(ops in proptest::collection::vec(op(), 0..200)) {
            let mut map = Map::new();
            let mut model: Vec<String> = Vec::new();
            for op in ops {
                match op {
                    Op::Put(k) => {
                        let key = k.to_string();
                        map.put(&key, "v");
                        model.retain(|m| *m != key);
                        model.insert(0, key);
                    }
                    Op::Touch(k) => {
                        let key = k.to_string();
                        if let Some(slot) = map.find(&key) {
                            map.lru.move_to_front(slot);
                            model.retain(|m| *m != key);
                            model.insert(0, key);
                        }
                    }
                    Op::Remove(k) => {
                        let key = k.to_string();
                        if let Some(slot) = map.find(&key) {
                            map.lru.remove(slot);
                        }
                        model.retain(|m| *m != key);
                    }
                    Op::PopBack => {
                        let popped = map.lru.pop_back().map(|node| node.key.to_string());
                        prop_assert_eq!(popped, model.pop());
                    }
                }
                prop_assert_eq!(map.lru.keys(), model.iter().map(String::as_str).collect::<Vec<_>>());
                // Each key holds the one-byte value "v".
                prop_assert_eq!(map.lru.bytes(), model.iter().map(|key| key.len() + 1).sum::<usize>());
                for key in &model {
                    prop_assert!(map.find(key).is_some());
                }
            }
        }
    }
}
