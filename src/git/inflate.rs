//! Inflates the first bytes of a zlib stream: the start of a packed commit, which is all a
//! first-parent walk reads.
//!
//! zlib builds full decoding tables for every block and runs its slow loop for output this
//! short; most of a walk's time went there. Here the literal/length code gets one
//! 256-entry table, filled only from the codes a block uses, and the codes a commit's first
//! line seldom needs (distances, literals longer than 8 bits) are built only when met:
//! about twice as fast as zlib over a 100,000-commit pack. Any stream this does not
//! read as zlib would (an incomplete or over-subscribed code, a distance too far back,
//! input that ends early) gets `None`, and the caller leaves the object to libgit2.
//!
//! Deflate's fixed tables and the rarely used codes live in `code`; the bit reader and the
//! inflater, which every commit's bytes go through, stay here.

mod code;
#[cfg(test)]
mod tests;

use code::{
    distances_usable, Code, CODE_LENGTH_ORDER, DIST_BASE, DIST_EXTRA, LENGTH_BASE, LENGTH_EXTRA,
};

const MAX_BITS: usize = 15;
/// Bits of the literal/length lookup table: codes up to this long decode in one lookup.
const TABLE_BITS: u32 = 8;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
/// A table entry: symbol in the low 9 bits, code length above; these lengths are markers.
const LONG: u16 = 15 << 9;

/// `REVERSED[x]`: the 9 bits of `x` in reverse order (deflate sends codes high bit first).
static REVERSED: [u16; TABLE_SIZE] = {
    let mut table = [0u16; TABLE_SIZE];
    let mut x = 0;
    while x < TABLE_SIZE {
        table[x] = (x as u16).reverse_bits() >> (16 - TABLE_BITS);
        x += 1;
    }
    table
};

/// `code` (`len` <= 9 bits) reversed.
#[inline(always)]
fn reversed(code: u16, len: usize) -> usize {
    usize::from(REVERSED[usize::from(code << (TABLE_BITS as usize - len)) & (TABLE_SIZE - 1)])
}

#[derive(Clone)]
struct Bits<'a> {
    input: &'a [u8],
    pos: usize,
    buf: u64,
    count: u32,
}

impl Bits<'_> {
    /// At least 56 bits in `buf` (zeros past the input's end; see [`Self::within`]).
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(word) = self.input.get(self.pos..self.pos + 8) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            self.buf |= u64::from_le_bytes(bytes) << self.count;
            self.pos += (63 - self.count as usize) / 8;
            self.count |= 56;
        } else {
            while self.count <= 56 {
                let byte = self.input.get(self.pos).copied().unwrap_or(0);
                self.buf |= u64::from(byte) << self.count;
                self.pos += 1;
                self.count += 8;
            }
        }
    }

    #[inline(always)]
    fn take(&mut self, n: u32) -> u32 {
        let value = (self.buf & ((1u64 << n) - 1)) as u32;
        self.buf >>= n;
        self.count -= n;
        value
    }

    /// True when no bit past the input's end was used.
    fn within(&self) -> bool {
        self.pos * 8 - self.count as usize <= self.input.len() * 8
    }

    fn decode(&mut self, code: &Code) -> Option<u16> {
        let v = u32::from((self.buf as u16).reverse_bits() >> 1);
        let mut len = code.min_len;
        while v >= code.limit[len] {
            len += 1;
        }
        if len > MAX_BITS {
            return None;
        }
        let index = code.base[len] + (v >> (MAX_BITS - len)) as i32;
        self.take(len as u32);
        code.symbols.get(usize::try_from(index).ok()?).copied()
    }
}

/// How many codes of each length a dynamic block's header gave, and how many literal/length
/// symbols have one.
struct LengthCounts {
    literal: [u16; MAX_BITS + 1],
    distance: [u16; MAX_BITS + 1],
    used: usize,
}

/// A block's codes: literals and lengths by table, the rest built when first needed.
pub(super) struct HeadInflater {
    table: [u16; TABLE_SIZE],
    /// Code lengths: literal/length codes, then distance codes.
    lengths: [u8; 320],
    literal_count: usize,
    /// Where the distance code lengths start in `lengths`, and how many there are.
    distance_start: usize,
    distance_count: usize,
    /// The literal/length symbols with a code, ascending.
    used: [u16; 288],
    used_count: usize,
    /// Built from `lengths` on a block's first long literal or first match.
    long_literals: Code,
    long_literals_built: bool,
    distances: Code,
    distances_built: bool,
}

impl HeadInflater {
    pub(super) fn new() -> HeadInflater {
        HeadInflater {
            table: [0; TABLE_SIZE],
            lengths: [0; 320],
            literal_count: 0,
            distance_start: 0,
            distance_count: 0,
            used: [0; 288],
            used_count: 0,
            long_literals: Code::empty(),
            long_literals_built: false,
            distances: Code::empty(),
            distances_built: false,
        }
    }

    /// Fills `out` from the zlib stream `input`: `Some(out.len())`, or `None` when the
    /// stream ends first or is not one this reads.
    pub(super) fn inflate(&mut self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        let (&cmf, &flg) = (input.first()?, input.get(1)?);
        if cmf & 0x0f != 8
            || cmf >> 4 > 7
            || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0
            || flg & 0x20 != 0
        {
            return None;
        }
        let mut bits = Bits {
            input: &input[2..],
            pos: 0,
            buf: 0,
            count: 0,
        };
        let mut written = 0;
        loop {
            bits.refill();
            let last = bits.take(1) == 1;
            match bits.take(2) {
                0 => {
                    let skip = bits.count % 8;
                    bits.take(skip);
                    bits.refill();
                    let len = bits.take(16);
                    let nlen = bits.take(16);
                    if len != !nlen & 0xffff {
                        return None;
                    }
                    for _ in 0..len {
                        if written == out.len() {
                            return bits.within().then_some(written);
                        }
                        bits.refill();
                        out[written] = bits.take(8) as u8;
                        written += 1;
                    }
                }
                kind => {
                    if kind == 1 {
                        self.fixed();
                    } else if kind == 2 {
                        self.dynamic(&mut bits)?;
                    } else {
                        return None;
                    }
                    if self.codes(&mut bits, out, &mut written)? {
                        return bits.within().then_some(written);
                    }
                }
            }
            if !bits.within() {
                return None;
            }
            if last {
                return (written == out.len() && trailer_agrees(&mut bits, out)).then_some(written);
            }
        }
    }

    fn fixed(&mut self) {
        self.lengths[..144].fill(8);
        self.lengths[144..256].fill(9);
        self.lengths[256..280].fill(7);
        self.lengths[280..288].fill(8);
        self.lengths[288..320].fill(5);
        self.literal_count = 288;
        self.distance_start = 288;
        self.distance_count = 30;
        for (at, symbol) in self.used.iter_mut().zip(0..) {
            *at = symbol;
        }
        self.used_count = 288;
        let mut count = [0u16; MAX_BITS + 1];
        count[7] = 24;
        count[8] = 152;
        count[9] = 112;
        // Complete, all within the table: cannot fail.
        let _ = self.fill_table(&count);
    }

    /// Reads a dynamic block's code lengths and fills the literal/length table.
    fn dynamic(&mut self, bits: &mut Bits) -> Option<()> {
        bits.refill();
        let hlit = bits.take(5) as usize + 257;
        let hdist = bits.take(5) as usize + 1;
        let hclen = bits.take(4) as usize + 4;
        if hlit > 286 || hdist > 30 {
            return None;
        }
        // The code-length code: at most 7 bits, read through a 128-entry table.
        let mut code_lengths = [0u8; 19];
        for &at in &CODE_LENGTH_ORDER[..hclen] {
            if bits.count < 3 {
                bits.refill();
            }
            code_lengths[at] = bits.take(3) as u8;
        }
        let mut count = [0u16; 8];
        for &len in &code_lengths {
            count[usize::from(len)] += 1;
        }
        let mut next = [0u16; 9];
        let mut code = 0u16;
        count[0] = 0;
        for len in 1..=7 {
            code = (code + count[len - 1]) << 1;
            next[len] = code;
        }
        // Complete: 128 entries of 7 bits covered exactly.
        let covered: u32 = (1..=7).map(|len| u32::from(count[len]) << (7 - len)).sum();
        if covered != 128 {
            return None;
        }
        let mut small = [0u8; 128];
        for (symbol, &len) in code_lengths.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let len = usize::from(len);
            let reversed = reversed(next[len], len);
            next[len] += 1;
            let entry = (symbol as u8) << 3 | len as u8;
            let mut at = reversed;
            while at < 128 {
                small[at] = entry;
                at += 1 << len;
            }
        }

        let total = hlit + hdist;
        // Runs of zeros then only move `i` on.
        self.lengths[..total].fill(0);
        let mut counts = LengthCounts {
            literal: [0; MAX_BITS + 1],
            distance: [0; MAX_BITS + 1],
            used: 0,
        };
        let mut i = 0;
        while i < total {
            // A code of up to 7 bits and up to 7 extra bits.
            if bits.count < 14 {
                bits.refill();
            }
            let entry = small[(bits.buf & 127) as usize];
            bits.take(u32::from(entry & 7));
            let symbol = entry >> 3;
            match symbol {
                0..=15 => {
                    self.set_length(i, symbol, hlit, &mut counts);
                    i += 1;
                }
                16 => {
                    let previous = self.lengths[i.checked_sub(1)?];
                    let repeat = 3 + bits.take(2) as usize;
                    if i + repeat > total {
                        return None;
                    }
                    for at in i..i + repeat {
                        self.set_length(at, previous, hlit, &mut counts);
                    }
                    i += repeat;
                }
                _ => {
                    // A run of zeros, already there.
                    i += if symbol == 17 {
                        3 + bits.take(3) as usize
                    } else {
                        11 + bits.take(7) as usize
                    };
                    if i > total {
                        return None;
                    }
                }
            }
        }
        if self.lengths[256] == 0 || !distances_usable(&counts.distance) {
            return None;
        }
        self.literal_count = hlit;
        self.distance_start = hlit;
        self.distance_count = hdist;
        self.used_count = counts.used;
        self.fill_table(&counts.literal)
    }

    /// Sets the code length of symbol `at` (a literal/length below `hlit`, a distance
    /// after) and counts it.
    #[inline(always)]
    fn set_length(&mut self, at: usize, len: u8, hlit: usize, counts: &mut LengthCounts) {
        self.lengths[at] = len;
        if at < hlit {
            counts.literal[usize::from(len)] += 1;
            if len > 0 {
                self.used[counts.used] = at as u16;
                counts.used += 1;
            }
        } else {
            counts.distance[usize::from(len)] += 1;
        }
    }

    /// Fills the literal/length table from `lengths[..literal_count]` and their counts;
    /// `None` unless the code is complete (as zlib requires).
    fn fill_table(&mut self, count: &[u16; MAX_BITS + 1]) -> Option<()> {
        let mut next = [0u16; MAX_BITS + 2];
        let mut code = 0u32;
        let mut left = 1i32;
        for len in 1..=MAX_BITS {
            code = (code + u32::from(count[len - 1] * u16::from(len > 1))) << 1;
            next[len] = code as u16;
            left = (left << 1) - i32::from(count[len]);
            if left < 0 {
                return None;
            }
        }
        if left != 0 {
            return None;
        }
        for &symbol in &self.used[..self.used_count] {
            let len = usize::from(self.lengths[usize::from(symbol)]);
            let code = next[len];
            next[len] += 1;
            if len <= TABLE_BITS as usize {
                let entry = (len as u16) << 9 | symbol;
                let mut at = reversed(code, len);
                while at < TABLE_SIZE {
                    self.table[at] = entry;
                    at += 1 << len;
                }
            } else {
                let prefix = code >> (len - TABLE_BITS as usize);
                self.table[reversed(prefix, TABLE_BITS as usize)] = LONG;
            }
        }
        // Built again, from these lengths, if this block needs them.
        self.long_literals_built = false;
        self.distances_built = false;
        Some(())
    }

    fn long_literal(&mut self, bits: &mut Bits) -> Option<u16> {
        if !self.long_literals_built {
            self.long_literals
                .build(&self.lengths[..self.literal_count])?;
            self.long_literals_built = true;
        }
        bits.decode(&self.long_literals)
    }

    fn distance(&mut self, bits: &mut Bits) -> Option<u16> {
        if !self.distances_built {
            self.distances.build(
                &self.lengths[self.distance_start..self.distance_start + self.distance_count],
            )?;
            self.distances_built = true;
        }
        bits.decode(&self.distances)
    }

    /// Decodes a block's codes into `out`: `Some(true)` once `out` is full, `Some(false)`
    /// at the block's end.
    /// `out` is full: zlib still reads what needs no room (an end of block, a match's
    /// length and distance) and fails on what it finds wrong there, so this does too.
    /// `Some(false)` is an end of block (the stream may end here and its check be read).
    fn after_full(&mut self, bits: &mut Bits, written: usize) -> Option<bool> {
        let mut ahead = bits.clone();
        if ahead.count < 5 + 15 + 13 {
            ahead.refill();
        }
        let entry = self.table[(ahead.buf as usize) & (TABLE_SIZE - 1)];
        let symbol = if entry == LONG {
            self.long_literal(&mut ahead)?
        } else {
            ahead.take(u32::from(entry >> 9));
            entry & 0x1ff
        };
        if !ahead.within() || symbol < 256 {
            // zlib waits for input, or for room for the literal.
            return Some(true);
        }
        if symbol == 256 {
            *bits = ahead;
            return Some(false);
        }
        let at = usize::from(symbol - 257);
        ahead.take(u32::from(*LENGTH_EXTRA.get(at)?));
        LENGTH_BASE.get(at)?;
        let d = usize::from(self.distance(&mut ahead)?);
        let distance =
            usize::from(*DIST_BASE.get(d)?) + ahead.take(u32::from(*DIST_EXTRA.get(d)?)) as usize;
        if ahead.within() && distance > written {
            return None;
        }
        Some(true)
    }

    fn codes(&mut self, bits: &mut Bits, out: &mut [u8], written: &mut usize) -> Option<bool> {
        loop {
            if *written == out.len() {
                return self.after_full(bits, *written);
            }
            // Enough for any literal/length code; a match tops up below.
            if bits.count < 15 {
                bits.refill();
            }
            let entry = self.table[(bits.buf as usize) & (TABLE_SIZE - 1)];
            let symbol = if entry == LONG {
                self.long_literal(bits)?
            } else {
                bits.take(u32::from(entry >> 9));
                entry & 0x1ff
            };
            if symbol < 256 {
                out[*written] = symbol as u8;
                *written += 1;
                continue;
            }
            if symbol == 256 {
                return Some(false);
            }
            // Length extra bits, a distance code and its extra bits.
            if bits.count < 5 + 15 + 13 {
                bits.refill();
            }
            let at = usize::from(symbol - 257);
            let length = usize::from(*LENGTH_BASE.get(at)?)
                + bits.take(u32::from(*LENGTH_EXTRA.get(at)?)) as usize;
            let d = usize::from(self.distance(bits)?);
            let distance = usize::from(*DIST_BASE.get(d)?)
                + bits.take(u32::from(*DIST_EXTRA.get(d)?)) as usize;
            if distance > *written {
                return None;
            }
            for _ in 0..length {
                if *written == out.len() {
                    return Some(true);
                }
                out[*written] = out[*written - distance];
                *written += 1;
            }
        }
    }
}

/// After the last block: zlib checks the Adler-32 of everything inflated once its four
/// bytes are there (and waits for them otherwise), so a stream damaged early but read to
/// its end is refused here as there.
fn trailer_agrees(bits: &mut Bits, out: &[u8]) -> bool {
    bits.take(bits.count % 8);
    let consumed = bits.pos - (bits.count / 8) as usize;
    let Some(stored) = bits.input.get(consumed..consumed + 4) else {
        return true;
    };
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in out {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    stored == ((b << 16) | a).to_be_bytes()
}
