//! Locating and parsing the vmdesc JSON appended after the EOF record.
//!
//! The vmdesc is `0x06`, be32 length N, N bytes of JSON, ending exactly at end of file. It is
//! found by scanning backwards: JSON text contains no control bytes (only tab/CR/LF as
//! whitespace), so the first control byte met from the end is the marker or one of the four
//! length bytes; only those five positions are candidates. This is bounded by the JSON size
//! and does not depend on the byte values of the length (unlike the upstream NUL/brace rule).

use super::error::{Result, StreamError};
use super::input::Input;
use serde_json::Value;

/// Largest vmdesc accepted (the format allows 4 GiB; real ones are tens of KiB).
pub const MAX_VMDESC: u64 = 256 << 20;

/// A located and parsed vmdesc.
#[derive(Debug, Clone)]
pub struct Vmdesc {
    /// Offset of the 0x06 marker.
    pub offset: u64,
    /// The JSON, keys in stream order.
    pub json: Value,
}

impl Vmdesc {
    /// The `devices` array (empty if absent or not an array).
    pub fn devices(&self) -> &[Value] {
        self.json
            .get("devices")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The `page_size` value if present and sane (power of two, 512 B .. 1 MiB).
    pub fn page_size(&self) -> Option<u64> {
        self.json
            .get("page_size")
            .and_then(Value::as_u64)
            .filter(|p| p.is_power_of_two() && (512..=(1 << 20)).contains(p))
    }
}

fn is_json_byte(b: u8) -> bool {
    b >= 0x20 || b == b'\t' || b == b'\n' || b == b'\r'
}

/// Finds the vmdesc of a random-access input; `Ok(None)` when the stream has none.
/// The read position is restored afterwards.
pub fn locate(input: &mut Input) -> Result<Option<Vmdesc>> {
    let Some(size) = input.len() else {
        return Ok(None);
    };
    let back = input.pos();
    let found = scan(input, size);
    input.seek_to(back)?;
    let Some((p, n)) = found? else {
        return Ok(None);
    };
    if n > MAX_VMDESC {
        return Err(StreamError::invalid(
            p + 1,
            format!("vmdesc length {n} exceeds the limit of {MAX_VMDESC} bytes"),
        ));
    }
    // Parsed straight from the input, so the text is never held beside its tree.
    let saved = input.pos();
    input.seek_to(p + 5)?;
    let parsed = serde_json::from_reader::<_, Value>(std::io::BufReader::with_capacity(
        64 * 1024,
        Region {
            input: &mut *input,
            left: n,
        },
    ));
    input.seek_to(saved)?;
    let json = parsed.map_err(|e| {
        StreamError::invalid(
            p + 5,
            format!("vmdesc JSON of {n} bytes does not parse: {e}"),
        )
    })?;
    if !json.is_object() {
        return Err(StreamError::invalid(p + 5, "vmdesc JSON is not an object"));
    }
    Ok(Some(Vmdesc { offset: p, json }))
}

/// `left` bytes of an input from its current position, as a reader.
struct Region<'a> {
    input: &'a mut Input,
    left: u64,
}

impl std::io::Read for Region<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.input
            .read_exact(&mut buf[..n])
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Returns (marker offset, JSON length).
fn scan(input: &mut Input, size: u64) -> Result<Option<(u64, u64)>> {
    const STEP: u64 = 64 * 1024;
    let floor = input.min_offset();
    let mut end = size;
    let mut buf = vec![0u8; STEP as usize];
    // Find the highest position holding a non-JSON byte.
    let ctrl = 'outer: loop {
        if end <= floor {
            return Ok(None);
        }
        let start = end.saturating_sub(STEP).max(floor);
        let chunk = &mut buf[..(end - start) as usize];
        input.seek_to(start)?;
        input.read_exact(chunk)?;
        for i in (0..chunk.len()).rev() {
            if !is_json_byte(chunk[i]) {
                break 'outer start + i as u64;
            }
        }
        if size - start > MAX_VMDESC + 5 {
            return Ok(None);
        }
        end = start;
    };
    let mut hdr = [0u8; 9];
    for p in (ctrl.saturating_sub(4).max(floor)..=ctrl).rev() {
        let avail = (size - p).min(9) as usize;
        if avail < 6 {
            continue;
        }
        input.seek_to(p)?;
        input.read_exact(&mut hdr[..avail])?;
        if hdr[0] != 0x06 || hdr[5] != b'{' {
            continue;
        }
        let n = u32::from_be_bytes([hdr[1], hdr[2], hdr[3], hdr[4]]) as u64;
        if p + 5 + n == size {
            return Ok(Some((p, n)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_with_desc(json: &[u8], prefix: &[u8]) -> Vec<u8> {
        let mut v = prefix.to_vec();
        v.push(0); // EOF
        v.push(6);
        v.extend_from_slice(&(json.len() as u32).to_be_bytes());
        v.extend_from_slice(json);
        v
    }

    #[test]
    fn finds_desc_even_with_brace_in_length() {
        // Length 0xab7b has a '{' byte in it: the upstream heuristic fails on this.
        let mut json = b"{\"page_size\": 4096, \"devices\": [], \"pad\": \"".to_vec();
        while json.len() < 0xab7b - 2 {
            json.push(b'x');
        }
        json.extend_from_slice(b"\"}");
        let s = stream_with_desc(&json, b"QEVM\0\0\0\x03");
        let mut inp = Input::from_bytes(s);
        let d = locate(&mut inp).unwrap().unwrap();
        assert_eq!(d.offset, 9);
        assert_eq!(d.page_size(), Some(4096));
        assert_eq!(inp.pos(), 0);
    }

    #[test]
    fn none_without_desc() {
        let mut inp = Input::from_bytes(b"QEVM\0\0\0\x03\0".to_vec());
        assert!(locate(&mut inp).unwrap().is_none());
        let mut inp = Input::from_bytes(Vec::new());
        assert!(locate(&mut inp).unwrap().is_none());
    }

    #[test]
    fn bad_json_is_an_error() {
        let s = stream_with_desc(b"{\"page_size\": ", b"QEVM\0\0\0\x03");
        let mut inp = Input::from_bytes(s);
        let e = locate(&mut inp).unwrap_err();
        assert_eq!(e.offset, 14);
    }
}
