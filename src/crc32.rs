//! CRC-32 (IEEE 802.3, the one zlib and AWS event streams use), slicing by 16 bytes as
//! `crc32fast` does on wasm32. The 16 KiB of tables are computed on first use instead of shipped
//! as constants: built, they are ~15 KB of the gzipped Worker; computing them takes microseconds
//! once per isolate. `crc32fast` stays the oracle in the tests.

use std::sync::OnceLock;

type Tables = [[u32; 256]; 16];

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut t = [[0u32; 256]; 16];
        for (i, entry) in (0u32..).zip(t[0].iter_mut()) {
            *entry = (0..8).fold(i, |c, _| (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg()));
        }
        for k in 1..16 {
            for i in 0..256 {
                let prev = t[k - 1][i];
                t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            }
        }
        t
    })
}

/// The CRC-32 of `bytes`.
pub fn hash(bytes: &[u8]) -> u32 {
    let t = tables();
    let mut crc = !0u32;
    let mut blocks = bytes.chunks_exact(16);
    for b in &mut blocks {
        let w = crc ^ u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        crc = t[15][(w & 0xff) as usize]
            ^ t[14][((w >> 8) & 0xff) as usize]
            ^ t[13][((w >> 16) & 0xff) as usize]
            ^ t[12][(w >> 24) as usize];
        for (k, &byte) in b[4..].iter().enumerate() {
            crc ^= t[11 - k][usize::from(byte)];
        }
    }
    for &byte in blocks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ u32::from(byte)) & 0xff) as usize];
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        assert_eq!(hash(b""), 0);
        assert_eq!(hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            hash(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn same_as_crc32fast_at_every_length_and_offset() {
        let data: Vec<u8> = (0u32..600)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..17 {
            for end in start..data.len() {
                let slice = &data[start..end];
                assert_eq!(hash(slice), crc32fast::hash(slice), "{start}..{end}");
            }
        }
    }
}
