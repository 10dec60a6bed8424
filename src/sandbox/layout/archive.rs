//! A layer's bytes: a ustar header, deterministic pseudo-random content, and gzip made of
//! stored deflate blocks (with its CRC-32), hashed as they are written.

use std::io::{self, Write};

use sha2::{Digest, Sha256};

use crate::sandbox::SandboxError;

/// A ustar header for one regular file.
pub(super) fn tar_header(name: &str, size: u64, mtime: u64) -> Result<[u8; 512], SandboxError> {
    // 11 octal digits is the ustar size limit.
    const MAX_SIZE: u64 = 0o77_777_777_777;
    if size > MAX_SIZE {
        return Err(SandboxError::Invalid(format!(
            "layer of {size} bytes exceeds the 8 GiB tar limit"
        )));
    }
    if name.len() > 100 {
        return Err(SandboxError::Invalid(format!(
            "tar entry name {name:?} is longer than 100 bytes"
        )));
    }
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    put_octal(&mut header[100..108], 0o644);
    put_octal(&mut header[108..116], 0);
    put_octal(&mut header[116..124], 0);
    put_octal(&mut header[124..136], size);
    put_octal(&mut header[136..148], mtime.min(MAX_SIZE));
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field set to spaces.
    header[148..156].fill(b' ');
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Ok(header)
}

fn put_octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let digits = format!("{value:0width$o}");
    field[..width].copy_from_slice(&digits.as_bytes()[digits.len() - width..]);
    field[width] = 0;
}

/// `SplitMix64`: tiny, fast and fully specified, so layer bytes never change with a dependency
/// upgrade (unlike `rand`'s `StdRng`, whose algorithm is not a stability promise).
pub(super) struct SplitMix64(pub(super) u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Passes bytes through while computing their SHA-256 and length.
pub(super) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(super) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Returns the inner writer, the lowercase hex digest and the byte count.
    pub(super) fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.len)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Largest payload of one stored deflate block.
const STORED_BLOCK: usize = 65_535;

/// A gzip encoder that does not compress: the payload goes into "stored" deflate blocks.
/// Our random payload would not shrink anyway, and this needs no compression crate.
pub(super) struct StoredGzip<W: Write> {
    inner: W,
    pending: Vec<u8>,
    crc: u32,
    len: u64,
}

impl<W: Write> StoredGzip<W> {
    pub(super) fn new(mut inner: W) -> io::Result<Self> {
        // Magic, deflate, no flags, mtime 0 (reproducible), no extra flags, OS "unknown".
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
        Ok(Self {
            inner,
            pending: Vec::with_capacity(STORED_BLOCK),
            crc: 0,
            len: 0,
        })
    }

    fn emit_block(&mut self, last: bool) -> io::Result<()> {
        // The block is never longer than STORED_BLOCK, so this cannot truncate.
        let len = self.pending.len() as u16;
        self.inner.write_all(&[u8::from(last)])?;
        self.inner.write_all(&len.to_le_bytes())?;
        self.inner.write_all(&(!len).to_le_bytes())?;
        self.inner.write_all(&self.pending)?;
        self.pending.clear();
        Ok(())
    }

    pub(super) fn finish(mut self) -> io::Result<W> {
        self.emit_block(true)?;
        self.inner.write_all(&self.crc.to_le_bytes())?;
        // ISIZE is the length modulo 2^32 by definition.
        self.inner.write_all(&(self.len as u32).to_le_bytes())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for StoredGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.crc = crc32_update(self.crc, buf);
        self.len += buf.len() as u64;
        let mut rest = buf;
        while !rest.is_empty() {
            let take = (STORED_BLOCK - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == STORED_BLOCK {
                self.emit_block(false)?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// CRC-32 (IEEE) slice-by-8 tables; slicing keeps multi-hundred-MB layers fast even in
/// unoptimized test builds.
const CRC_TABLES: [[u32; 256]; 8] = {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        tables[0][i] = c;
        i += 1;
    }
    let mut t = 1;
    while t < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[t - 1][i];
            tables[t][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        t += 1;
    }
    tables
};

pub(super) fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let t = &CRC_TABLES;
    let mut c = !crc;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let lo = c ^ u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let hi = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        c = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = t[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}
