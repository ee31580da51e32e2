//! Counting with bounded memory: the top keys of a table (Space-Saving,
//! Metwally et al. 2005) and the number of distinct values (exact up to a
//! limit, then HyperLogLog).
//!
//! Space-Saving keeps at most `capacity` keys. While there are no more
//! distinct keys than that, every count is exact. Beyond, a new key takes
//! the place of the smallest and inherits its count as a possible
//! overestimate (`error`); any key whose true count exceeds the smallest
//! kept count is guaranteed to be in the table.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};

/// A fast hasher for tables whose keys need no protection against chosen
/// collisions (the report reads logs, it serves nobody): FxHash's
/// multiply-rotate, 8 bytes at a time. SipHash took a tenth of the time.
#[derive(Default, Clone, Copy)]
pub struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// `HashMap`/`HashSet` hashing with [`Fx`].
pub type FxBuild = BuildHasherDefault<Fx>;

/// Longest key kept (the filter's own longest field is 1,024 bytes; no
/// address, host or reply worth ranking is longer than this).
pub const MAX_KEY: usize = 512;

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// One kept key, with the table's further columns `X`.
#[derive(Clone, Debug, Default)]
pub struct Slot<X> {
    /// The key.
    pub key: Box<str>,
    /// The ranking count (an overestimate by at most `error`).
    pub count: u64,
    /// How much of `count` may belong to keys this one replaced.
    pub error: u64,
    /// Further columns, counted since the key entered the table.
    pub extra: X,
    /// A label shown with the key (the client's rDNS name).
    pub label: Option<Box<str>>,
}

/// The top keys of one table.
#[derive(Debug)]
pub struct TopN<X = ()> {
    capacity: usize,
    index: HashMap<Box<str>, usize, FxBuild>,
    slots: Vec<Slot<X>>,
    /// (count, slot) ordered, to find the smallest; kept once the table is
    /// full (before, nothing is replaced and it is not needed).
    order: BTreeSet<(u64, usize)>,
    /// Keys replaced when the table was full.
    pub replaced: u64,
}

impl<X: Default> TopN<X> {
    /// A table keeping at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> TopN<X> {
        TopN {
            capacity: capacity.max(1),
            index: HashMap::default(),
            slots: Vec::new(),
            order: BTreeSet::new(),
            replaced: 0,
        }
    }

    /// Adds `weight` to `key`'s count; returns its slot for the extra columns.
    /// Keys are cut to [`MAX_KEY`] bytes: memory is bounded by the keys kept
    /// and by their length.
    pub fn add(&mut self, key: &str, weight: u64) -> Option<&mut Slot<X>> {
        let key = cut(key, MAX_KEY);
        let at = match self.index.get(key) {
            Some(&at) => at,
            None if self.slots.len() < self.capacity => {
                self.slots.push(Slot {
                    key: key.into(),
                    count: 0,
                    error: 0,
                    extra: X::default(),
                    label: None,
                });
                let at = self.slots.len() - 1;
                self.index.insert(key.into(), at);
                at
            }
            None => {
                if self.order.is_empty() {
                    self.order = self
                        .slots
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (s.count, i))
                        .collect();
                }
                self.replace_smallest(key)
            }
        };
        let ordered = !self.order.is_empty();
        let slot = self.slots.get_mut(at)?;
        if ordered {
            self.order.remove(&(slot.count, at));
        }
        slot.count = slot.count.saturating_add(weight);
        if ordered {
            self.order.insert((slot.count, at));
        }
        Some(slot)
    }

    fn replace_smallest(&mut self, key: &str) -> usize {
        let Some(&(min, at)) = self.order.iter().next() else {
            return 0;
        };
        self.replaced += 1;
        if let Some(slot) = self.slots.get_mut(at) {
            self.index.remove(&slot.key);
            *slot = Slot {
                key: key.into(),
                count: min,
                error: min,
                extra: X::default(),
                label: None,
            };
        }
        self.index.insert(key.into(), at);
        at
    }

    /// The `n` largest, largest first (ties by key, for stable output).
    pub fn top(&self, n: usize) -> Vec<&Slot<X>> {
        let mut all: Vec<&Slot<X>> = self.slots.iter().filter(|s| s.count > 0).collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        all.truncate(n);
        all
    }

    /// True while every count is exact (no key was ever replaced).
    pub fn exact(&self) -> bool {
        self.replaced == 0
    }
}

/// Exact distinct values kept before switching to HyperLogLog.
const EXACT_LIMIT: usize = 100_000;
/// HyperLogLog precision: 2^14 registers, about 0.8% standard error.
const P: u32 = 14;

/// The number of distinct values seen.
#[derive(Debug, Default)]
pub struct Distinct {
    exact: HashSet<u64, FxBuild>,
    registers: Option<Vec<u8>>,
}

/// A 64-bit hash of `value` (SipHash with fixed keys: the same in every run).
pub fn hash64(value: &(impl Hash + ?Sized)) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

impl Distinct {
    /// Counts `value`.
    pub fn add(&mut self, value: &str) {
        let h = hash64(value);
        match &mut self.registers {
            Some(registers) => observe(registers, h),
            None => {
                self.exact.insert(h);
                if self.exact.len() > EXACT_LIMIT {
                    let mut registers = vec![0u8; 1 << P];
                    for &h in &self.exact {
                        observe(&mut registers, h);
                    }
                    self.exact = HashSet::default();
                    self.registers = Some(registers);
                }
            }
        }
    }

    /// The count (an estimate once [`Distinct::is_exact`] is false).
    pub fn count(&self) -> u64 {
        match &self.registers {
            None => self.exact.len() as u64,
            Some(registers) => estimate(registers),
        }
    }

    /// True while the count is exact.
    pub fn is_exact(&self) -> bool {
        self.registers.is_none()
    }
}

fn observe(registers: &mut [u8], h: u64) {
    let index = (h >> (64 - P)) as usize;
    let rank = ((h << P) | (1 << (P - 1))).leading_zeros() + 1;
    if let Some(r) = registers.get_mut(index) {
        *r = (*r).max(rank as u8);
    }
}

fn estimate(registers: &[u8]) -> u64 {
    let m = registers.len() as f64;
    let sum: f64 = registers.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
    let raw = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
    let zeros = registers.iter().filter(|&&r| r == 0).count();
    let value = if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    };
    value.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_within_capacity() {
        let mut t = TopN::<u64>::new(10);
        for (k, n) in [("a", 5), ("b", 3), ("c", 9)] {
            for _ in 0..n {
                *t.add(k, 1).map(|s| &mut s.extra).unwrap() += 2;
            }
        }
        let top = t.top(2);
        assert_eq!((&*top[0].key, top[0].count, top[0].extra), ("c", 9, 18));
        assert_eq!((&*top[1].key, top[1].count), ("a", 5));
        assert!(t.exact());
    }

    #[test]
    fn heavy_hitter_survives_overflow() {
        let mut t = TopN::<()>::new(50);
        for i in 0..10_000u32 {
            t.add(&format!("noise{i}"), 1);
            if i % 10 == 0 {
                t.add("heavy", 1);
            }
        }
        assert!(!t.exact());
        assert!(t.slots.len() <= 50);
        let top = t.top(1);
        assert_eq!(&*top[0].key, "heavy");
        assert!(top[0].count - top[0].error <= 1000 && top[0].count >= 1000);
    }

    #[test]
    fn keys_are_cut() {
        let mut t = TopN::<()>::new(10);
        let long = "é".repeat(1000);
        t.add(&long, 1);
        t.add(&format!("{long}x"), 1);
        let top = t.top(5);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].count, 2);
        assert!(top[0].key.len() <= MAX_KEY && top[0].key.len() >= MAX_KEY - 1);
    }

    #[test]
    fn distinct_exact_then_estimated() {
        let mut d = Distinct::default();
        for i in 0..1000 {
            d.add(&format!("a{}", i % 500));
        }
        assert_eq!(d.count(), 500);
        for i in 0..300_000 {
            d.add(&format!("user{i}@example.test"));
        }
        assert!(!d.is_exact());
        let c = d.count() as f64;
        assert!((c - 300_500.0).abs() / 300_500.0 < 0.03, "{c}");
    }
}
