//! Documents gathered for one hand-over to the writer thread.

/// Documents, each followed by its newline, and where each one ends.
#[derive(Default)]
pub(super) struct Batch {
    pub bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    /// A batch that holds `bytes` without growing.
    pub fn with_capacity(bytes: usize) -> Batch {
        Batch {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(bytes / 512),
        }
    }

    /// Appends one document and its newline.
    pub fn push(&mut self, doc: &[u8]) {
        self.bytes.extend_from_slice(doc);
        self.bytes.push(b'\n');
        self.ends.push(self.bytes.len());
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Documents in the batch.
    pub fn len(&self) -> u64 {
        self.ends.len() as u64
    }

    /// The memory it holds.
    pub fn cost(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }

    /// Documents that end after byte `from` and at or before byte `to`.
    pub fn count(&self, from: usize, to: usize) -> u64 {
        let upto = |at: usize| self.ends.partition_point(|&end| end <= at);
        upto(to).saturating_sub(upto(from)) as u64
    }

    /// The documents from byte `at` (a document's start) on.
    pub fn docs_from(&self, at: usize) -> super::Docs<'_> {
        let first = self.ends.partition_point(|&end| end <= at);
        super::Docs::new(
            self.bytes.get(at..).unwrap_or_default(),
            self.ends.get(first..).unwrap_or_default(),
            at,
        )
    }

    /// Where the document that starts at byte `at` ends.
    pub fn end_of(&self, at: usize) -> usize {
        let i = self.ends.partition_point(|&end| end <= at);
        self.ends.get(i).copied().unwrap_or(self.bytes.len())
    }

    /// Takes `other` in without allocating, if there is room.
    pub fn take_in(&mut self, other: &Batch) -> bool {
        let room = self.bytes.capacity() - self.bytes.len() >= other.bytes.len()
            && self.ends.capacity() - self.ends.len() >= other.ends.len();
        if room {
            let base = self.bytes.len();
            self.bytes.extend_from_slice(&other.bytes);
            self.ends.extend(other.ends.iter().map(|end| end + base));
        }
        room
    }
}
