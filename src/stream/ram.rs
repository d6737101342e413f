//! Types of the RAM section (`ram`, version 4): block list, page records, mapped-ram headers.

/// Flag bits in the low bits of every RAM record's be64 (migration/ram.c).
pub mod flags {
    /// Obsolete full-page record, never sent since 2009.
    pub const FULL: u64 = 0x01;
    /// Page filled with one byte value (always 0 in modern QEMU); was "COMPRESS".
    pub const ZERO: u64 = 0x02;
    /// Total RAM size plus the block list.
    pub const MEM_SIZE: u64 = 0x04;
    /// One raw page follows.
    pub const PAGE: u64 = 0x08;
    /// End of this section's RAM data.
    pub const EOS: u64 = 0x10;
    /// Same block as the previous page record (no block name follows).
    pub const CONTINUE: u64 = 0x20;
    /// XBZRLE-encoded delta against the previous content of the page.
    pub const XBZRLE: u64 = 0x40;
    /// RDMA hook (reserved value).
    pub const HOOK: u64 = 0x80;
    /// zlib-compressed page of the removed multi-thread compression (QEMU < 9.1).
    pub const COMPRESS_PAGE: u64 = 0x100;
    /// multifd synchronisation marker.
    pub const MULTIFD_FLUSH: u64 = 0x200;
}

/// mapped-ram header of one block (fixed-offset file layout, QEMU 9.0+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedRam {
    /// Header version (1).
    pub version: u32,
    /// Page size used for the bitmap and page area.
    pub page_size: u64,
    /// Absolute file offset of the page bitmap.
    pub bitmap_offset: u64,
    /// Absolute file offset of page 0.
    pub pages_offset: u64,
}

/// One RAMBlock as listed after the MEM_SIZE record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamBlock {
    /// Block idstr (`pc.ram`, `/rom@etc/acpi/tables`, `0000:00:02.0/vga.vram` ...).
    pub name: String,
    /// Used length in bytes.
    pub used_length: u64,
    /// Block page size, only sent with postcopy-ram for blocks with non-host page size.
    pub page_size: Option<u64>,
    /// Guest address of the memory region, only sent with x-ignore-shared.
    pub addr: Option<u64>,
    /// mapped-ram header, only with the mapped-ram capability.
    pub mapped: Option<MappedRam>,
}

/// Content of one page record, as handed to the output.
#[derive(Debug, Clone, Copy)]
pub enum Page<'a> {
    /// Page filled with this byte.
    Fill(u8),
    /// Raw page bytes.
    Data(&'a [u8]),
    /// XBZRLE-encoded delta against the page's previous content.
    Xbzrle(&'a [u8]),
}

/// Applies an XBZRLE delta to `page` in place (runs of ULEB128 zero-run / non-zero-run
/// lengths, non-zero runs carrying the new bytes). Returns false on a malformed delta.
pub fn xbzrle_apply(delta: &[u8], page: &mut [u8]) -> bool {
    fn uleb(d: &[u8], i: &mut usize) -> Option<usize> {
        let mut v: usize = 0;
        for shift in (0..35).step_by(7) {
            let b = *d.get(*i)?;
            *i += 1;
            v |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let (mut i, mut d) = (0usize, 0usize);
    while i < delta.len() {
        let Some(zrun) = uleb(delta, &mut i) else {
            return false;
        };
        d = match d.checked_add(zrun) {
            Some(x) if x <= page.len() => x,
            _ => return false,
        };
        if i >= delta.len() {
            break;
        }
        let Some(nz) = uleb(delta, &mut i) else {
            return false;
        };
        let (Some(dend), Some(iend)) = (d.checked_add(nz), i.checked_add(nz)) else {
            return false;
        };
        if dend > page.len() || iend > delta.len() {
            return false;
        }
        page[d..dend].copy_from_slice(&delta[i..iend]);
        d = dend;
        i = iend;
    }
    true
}

/// Checks that `delta` is a well-formed XBZRLE delta for a page of `page_size` bytes (the
/// encoding of migration/xbzrle.c `xbzrle_decode_buffer`, which refuses the same deltas):
/// the reason when it is not. Needs no previous page content, so every mode can check it.
pub fn xbzrle_check(delta: &[u8], page_size: usize) -> std::result::Result<(), String> {
    let mut page = vec![0u8; page_size];
    if xbzrle_apply(delta, &mut page) {
        Ok(())
    } else {
        Err(format!(
            "its runs do not fit a page of {page_size} bytes or a length is cut off"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xbzrle() {
        let mut page = [0u8; 8];
        // skip 2, write 3 bytes, skip 1, write 1 byte
        assert!(xbzrle_apply(&[2, 3, 1, 2, 3, 1, 1, 9], &mut page));
        assert_eq!(page, [0, 0, 1, 2, 3, 0, 9, 0]);
        assert!(!xbzrle_apply(&[9], &mut page));
        assert!(!xbzrle_apply(&[0, 9, 1], &mut page));
        assert!(xbzrle_check(&[2, 3, 1, 2, 3], 8).is_ok());
        assert!(xbzrle_check(&[0x80], 8).is_err());
    }
}
