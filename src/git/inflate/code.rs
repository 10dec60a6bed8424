//! Deflate's fixed length and distance tables, and the canonical Huffman code decoded by
//! comparing each length's limit: for the codes a commit head seldom needs.

use super::MAX_BITS;
/// A canonical Huffman code decoded by comparing a left-justified code with each length's
/// limit: no table to fill, for the codes read rarely (distances, long literals).
pub(super) struct Code {
    pub(super) limit: [u32; MAX_BITS + 2],
    pub(super) base: [i32; MAX_BITS + 1],
    pub(super) symbols: [u16; 288],
    pub(super) min_len: usize,
}

impl Code {
    pub(super) const fn empty() -> Code {
        Code {
            limit: [0; MAX_BITS + 2],
            base: [0; MAX_BITS + 1],
            symbols: [0; 288],
            min_len: MAX_BITS + 1,
        }
    }

    /// `None` for an over-subscribed set; an incomplete one decodes what it has.
    pub(super) fn build(&mut self, lengths: &[u8]) -> Option<()> {
        let mut count = [0u16; MAX_BITS + 1];
        for &len in lengths {
            *count.get_mut(usize::from(len))? += 1;
        }
        count[0] = 0;
        let mut offsets = [0u16; MAX_BITS + 2];
        let mut first: u32 = 0;
        self.min_len = MAX_BITS + 1;
        for len in 1..=MAX_BITS {
            if count[len] > 0 && self.min_len > MAX_BITS {
                self.min_len = len;
            }
            offsets[len + 1] = offsets[len] + count[len];
            self.base[len] = i32::from(offsets[len]) - first as i32;
            first += u32::from(count[len]);
            if first > 1 << len {
                return None;
            }
            self.limit[len] = first << (MAX_BITS - len);
            first <<= 1;
        }
        self.limit[MAX_BITS + 1] = u32::MAX;
        for (symbol, &len) in lengths.iter().enumerate() {
            if len > 0 {
                let at = &mut offsets[usize::from(len)];
                *self.symbols.get_mut(usize::from(*at))? = symbol as u16;
                *at += 1;
            }
        }
        Some(())
    }
}

pub(super) const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
pub(super) const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
pub(super) const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
pub(super) const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Distance code lengths zlib accepts: not over-subscribed, and complete unless there is
/// at most one code (of one bit).
pub(super) fn distances_usable(count: &[u16; MAX_BITS + 1]) -> bool {
    let mut left = 1i32;
    let mut longest = 0;
    for (len, &codes) in count.iter().enumerate().skip(1) {
        left = (left << 1) - i32::from(codes);
        if left < 0 {
            return false;
        }
        if codes > 0 {
            longest = len;
        }
    }
    left == 0 || longest <= 1
}

pub(super) const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];
