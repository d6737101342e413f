//! Decoding of VMState payloads (FULL sections, subsections) driven by the vmdesc.
//!
//! The payload has no tags or lengths: the vmdesc entry of the section says which fields were
//! written, with their type and measured size. Values are rendered like the upstream analyzer
//! (integers as zero-padded hex strings, bools as JSON booleans, everything else as hex bytes)
//! so that outputs can be compared byte for byte.

use super::error::{Result, StreamError};
use super::input::Input;
use super::json::ValueWriter;
use serde_json::Value;

/// Largest single field element accepted (the vmdesc is input too).
const MAX_ELEMENT: u64 = 64 << 20;
/// Largest element count of one array entry.
const MAX_ELEMENTS: u64 = 1 << 24;

/// Space-separated lowercase hex bytes, the upstream rendering of opaque data.
pub fn hex_bytes(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

/// Integer rendering: `0x` + 2×width hex digits, plus ` (-N)` for negative signed values.
pub fn format_int(raw: u64, width: usize, signed: bool) -> String {
    let mut s = format!("0x{:0w$x}", raw, w = width * 2);
    if signed {
        let bits = width * 8;
        let v = if bits >= 64 {
            raw as i64
        } else {
            ((raw << (64 - bits)) as i64) >> (64 - bits)
        };
        if v < 0 {
            s.push_str(&format!(" ({v})"));
        }
    }
    s
}

/// Width and signedness of an integer VMStateInfo name such as `uint32`, `int32 equal`,
/// `int32 le`, `uint8 equal`; `None` for other types.
pub fn int_type(ty: &str) -> Option<(usize, bool)> {
    let base = ty.split(' ').next().unwrap_or(ty);
    let (signed, bits) = match base.strip_prefix('u') {
        Some(rest) => (false, rest.strip_prefix("int")?),
        None => (true, base.strip_prefix("int")?),
    };
    let width = match bits {
        "8" => 1,
        "16" => 2,
        "32" => 4,
        "64" => 8,
        _ => return None,
    };
    Some((width, signed))
}

/// Largest element count of one zero-size array entry, and the budget of zero-size elements
/// per stream: such elements cost work but consume no stream bytes, so a hostile vmdesc
/// could otherwise ask for billions of them.
const MAX_EMPTY_ELEMENTS: u64 = 1 << 20;
/// Largest array of pointers resolved by the section footer (QEMU 7.2 vmdesc quirk).
const MAX_POINTER_ARRAY: u64 = 1 << 16;
/// Furthest the footer of such a section is looked for.
const MAX_POINTER_WINDOW: u64 = 4 << 20;

/// A non-fatal oddity met while decoding a payload, located in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadWarning {
    /// A nested struct read another number of bytes than its vmdesc `size`.
    StructSize {
        /// Field path.
        path: String,
        /// Offset of the struct.
        offset: u64,
        /// Size in the vmdesc.
        vmdesc: u64,
        /// Bytes its description read.
        decoded: u64,
    },
    /// A subsection carries another name than the vmdesc entry used to decode it.
    SubsectionName {
        /// Offset of the subsection marker.
        offset: u64,
        /// Name in the stream.
        stream: String,
        /// Name in the vmdesc.
        vmdesc: String,
    },
    /// A subsection carries another version than its vmdesc entry.
    SubsectionVersion {
        /// Offset of the subsection marker.
        offset: u64,
        /// Subsection name.
        name: String,
        /// Version in the stream.
        stream: u32,
        /// Version in the vmdesc.
        vmdesc: u64,
    },
    /// QEMU 7.2's vmdesc of an array of pointers whose first element is NULL describes every
    /// element as an empty struct of one byte; the elements were read by QEMU's own rule
    /// (`VMS_ARRAY_OF_POINTER`: a NULL element is the byte 0x30, a set one its struct) and
    /// the array's end was found by the section footer.
    PointerArray {
        /// Field path.
        path: String,
        /// Offset of the array.
        offset: u64,
        /// Elements declared.
        elements: u64,
        /// Set (non-NULL) elements found.
        set: u64,
        /// Bytes of each set element.
        element_size: u64,
        /// Offset of the section footer that ends the section.
        footer: u64,
    },
}

impl std::fmt::Display for PayloadWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadWarning::StructSize {
                path,
                offset,
                vmdesc,
                decoded,
            } => write!(
                f,
                "field '{path}' at offset {offset}: vmdesc size {vmdesc}, nested description read {decoded} bytes"
            ),
            PayloadWarning::SubsectionName {
                offset,
                stream,
                vmdesc,
            } => write!(
                f,
                "subsection '{stream}' at offset {offset} in the stream, the vmdesc lists '{vmdesc}' (decoded with the vmdesc layout)"
            ),
            PayloadWarning::SubsectionVersion {
                offset,
                name,
                stream,
                vmdesc,
            } => write!(
                f,
                "subsection '{name}' at offset {offset}: stream version {stream}, vmdesc version {vmdesc}"
            ),
            PayloadWarning::PointerArray {
                path,
                offset,
                elements,
                set,
                element_size,
                footer,
            } => write!(
                f,
                "field '{path}' at offset {offset}: the vmdesc describes {elements} elements as empty structs of 1 byte (QEMU 7.2 vmdesc of an array of pointers); read by QEMU's rule for arrays of pointers instead: {} NULL (0x30 markers) and {set} set of {element_size} bytes each (shown as raw bytes), the section footer at offset {footer} confirming the length",
                elements - set
            ),
        }
    }
}

/// Decoder of one section payload; keeps the field path for error messages and writes the
/// decoded values to a [`ValueWriter`] as it reads them.
pub struct PayloadDecoder<'a> {
    input: &'a mut Input,
    out: &'a mut dyn ValueWriter,
    path: Vec<String>,
    /// Non-fatal oddities, in stream order.
    pub warnings: Vec<PayloadWarning>,
    /// Accept a subsection whose name in the stream differs from the vmdesc (the layout of
    /// the vmdesc entry is still used); `--against` needs the names really sent.
    pub lenient: bool,
    /// Subsections met: (nesting depth, vmdesc name, name in the stream, version in the
    /// stream), in stream order.
    pub subsections_seen: Vec<(usize, String, String, u32)>,
    /// Section id of the FULL section being decoded, so an array of pointers described
    /// wrongly by a QEMU 7.2 vmdesc can be measured up to the section footer.
    pub footer_id: Option<u32>,
    /// Zero-size elements still allowed (shared over a stream by the caller).
    pub empty_budget: u64,
}

fn str_key<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn arr_key<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Elements of one vmdesc field entry (`array_len`, else one).
fn element_count(f: &Value) -> u64 {
    f.get("array_len").and_then(Value::as_u64).unwrap_or(1)
}

/// True for QEMU 7.2's description of an array of pointers whose first element is NULL:
/// type struct, an empty struct description (no fields), one byte.
fn is_null_pointer_struct(f: &Value) -> bool {
    str_key(f, "type") == Some("struct")
        && f.get("size").and_then(Value::as_u64) == Some(1)
        && f.get("struct").is_some_and(|s| {
            s.as_object().is_some_and(|o| !o.contains_key("fields"))
                || (arr_key(s, "fields").is_empty() && arr_key(s, "subsections").is_empty())
        })
}

/// Bytes a vmsd description occupies on the wire when that is fixed by the vmdesc alone
/// (fields with sizes, subsections with their headers); None when it is not.
fn fixed_size(desc: &Value) -> Option<u64> {
    let mut total: u64 = 0;
    for f in arr_key(desc, "fields") {
        let size = f.get("size")?.as_u64()?;
        if is_null_pointer_struct(f) || str_key(f, "type") == Some("capability") {
            return None;
        }
        let n = f.get("array_len").and_then(Value::as_u64).unwrap_or(1);
        total = total.checked_add(size.checked_mul(n)?)?;
    }
    for s in arr_key(desc, "subsections") {
        let name = str_key(s, "vmsd_name")?;
        total = total.checked_add(6 + name.len() as u64)?;
        total = total.checked_add(fixed_size(s)?)?;
    }
    Some(total)
}

fn io_err(e: std::io::Error) -> StreamError {
    super::output::out_err(e)
}

impl<'a> PayloadDecoder<'a> {
    /// Decoder reading from `input` at its current position, writing values to `out`.
    pub fn new(input: &'a mut Input, out: &'a mut dyn ValueWriter) -> Self {
        PayloadDecoder {
            input,
            out,
            path: Vec::new(),
            warnings: Vec::new(),
            lenient: false,
            subsections_seen: Vec::new(),
            footer_id: None,
            empty_budget: MAX_EMPTY_ELEMENTS,
        }
    }

    /// Current field path, dot-separated.
    pub fn path(&self) -> String {
        self.path.join(".")
    }

    fn err(&self, msg: impl Into<String>) -> StreamError {
        StreamError::invalid(self.input.pos(), msg).at_path(&self.path())
    }

    /// Decodes a vmsd payload (fields, then subsections) described by `desc`, which is a
    /// vmdesc device, struct or subsection object, and writes it as one object.
    pub fn vmsd(&mut self, desc: &Value) -> Result<()> {
        self.out.begin_object().map_err(io_err)?;
        // A section's own payload is followed by nothing but its footer.
        let tail = (self.path.is_empty() && self.footer_id.is_some()).then_some(0);
        self.vmsd_entries(desc, tail)?;
        self.out.end_object().map_err(io_err)
    }

    /// The entries of a vmsd object; `tail` is what follows it inside the section when known
    /// (for measuring an array of pointers against the footer).
    fn vmsd_entries(&mut self, desc: &Value, tail: Option<u64>) -> Result<()> {
        let subs = arr_key(desc, "subsections");
        self.fields(arr_key(desc, "fields"), subs, tail)?;
        self.subsections(subs)
    }

    /// Bytes that follow field `fields[next - 1]` up to the end of its section, when the
    /// vmdesc fixes them: the rest of the fields, the subsections, then `tail`. Only asked
    /// for the rare array of pointers, so the common path stays linear.
    fn bytes_after(
        fields: &[Value],
        next: usize,
        subs: &[Value],
        tail: Option<u64>,
    ) -> Option<u64> {
        let mut sum = tail?;
        for g in &fields[next..] {
            let n = g.get("array_len").and_then(Value::as_u64).unwrap_or(1);
            let sz = g.get("size").and_then(Value::as_u64)?;
            if is_null_pointer_struct(g) || str_key(g, "type") == Some("capability") {
                return None;
            }
            sum = sum.checked_add(sz.checked_mul(n)?)?;
        }
        for s in subs {
            let name = str_key(s, "vmsd_name")?;
            sum = sum
                .checked_add(6 + name.len() as u64)?
                .checked_add(fixed_size(s)?)?;
        }
        Some(sum)
    }

    fn fields(&mut self, fields: &[Value], subs: &[Value], tail: Option<u64>) -> Result<()> {
        let mut i = 0;
        while i < fields.len() {
            let f = &fields[i];
            let name = str_key(f, "name").ok_or_else(|| self.err("vmdesc field without a name"))?;
            // Consecutive entries with the same name are pieces of one array (10.0 splits
            // arrays of pointers into runs of NULL and set elements, and leaves the last
            // element without an index): one JSON list unless it has exactly one element,
            // which is a plain value (as upstream merges them).
            let mut j = i + 1;
            let mut elements = element_count(f);
            while j < fields.len() && str_key(&fields[j], "name") == Some(name) {
                elements = elements.saturating_add(element_count(&fields[j]));
                j += 1;
            }
            // (An `array_len` of 0, which QEMU never writes, is an empty list.)
            let list = elements != 1;
            self.out.key(name).map_err(io_err)?;
            if list {
                self.out.begin_array().map_err(io_err)?;
            }
            for (k, piece) in fields[i..j].iter().enumerate() {
                // What follows this piece inside the section, when fixed (arrays of
                // pointers described by QEMU 7.2 are measured against the footer).
                let rest = if is_null_pointer_struct(piece) {
                    Self::bytes_after(fields, i + k + 1, subs, tail)
                } else {
                    None
                };
                self.field(piece, name, rest)?;
            }
            if list {
                self.out.end_array().map_err(io_err)?;
            }
            i = j;
        }
        Ok(())
    }

    /// One vmdesc field entry: its elements, written as values (the caller wrote the key and,
    /// for arrays, opened the list).
    fn field(&mut self, f: &Value, name: &str, rest: Option<u64>) -> Result<()> {
        let array_len = f.get("array_len").and_then(Value::as_u64);
        let index = f.get("index").and_then(Value::as_u64);
        let count = array_len.unwrap_or(1);
        if count > MAX_ELEMENTS {
            return Err(self.err(format!("field '{name}': array_len {count} is too large")));
        }
        if is_null_pointer_struct(f) {
            if let (Some(id), Some(rest), true) = (self.footer_id, rest, self.path.is_empty()) {
                return self.pointer_array(name, count, id, rest);
            }
        }
        let size = f.get("size").and_then(Value::as_u64).unwrap_or(0);
        if size == 0 {
            if count > self.empty_budget {
                return Err(self.err(format!(
                    "field '{name}': {count} elements of 0 bytes exceed what any QEMU stream holds"
                )));
            }
            self.empty_budget -= count;
        }
        for i in 0..count {
            let label = match (array_len, index) {
                (Some(_), _) => format!("{name}[{i}]"),
                (None, Some(ix)) => format!("{name}[{ix}]"),
                _ => name.to_string(),
            };
            self.path.push(label);
            let r = self.element(f);
            self.path.pop();
            r?;
        }
        Ok(())
    }

    /// QEMU 7.2 quirk (see [`PayloadWarning::PointerArray`]): `count` elements, each the
    /// byte 0x30 (NULL) or a set struct of one unknown size S, followed by `rest` bytes and
    /// the footer of section `id`. Finds the footer, then the S that parses exactly.
    fn pointer_array(&mut self, name: &str, count: u64, id: u32, rest: u64) -> Result<()> {
        let start = self.input.pos();
        let here = |msg: String| StreamError::invalid(start, msg).at_path(name);
        if count > MAX_POINTER_ARRAY {
            return Err(here(format!(
                "array of pointers of {count} elements is too large to measure"
            )));
        }
        let end = self.input.len().unwrap_or(start);
        let window = end.saturating_sub(start).min(MAX_POINTER_WINDOW) as usize;
        let mut buf = vec![0u8; window];
        self.input.read_at(start, &mut buf)?;
        let mut marker = [0x7eu8; 5];
        marker[1..].copy_from_slice(&id.to_be_bytes());
        let n = count as usize;
        let mut found = None;
        let mut p = n + rest as usize;
        while p + 5 <= buf.len() {
            if buf[p..p + 5] == marker {
                let region = &buf[..p - rest as usize];
                if let Some(s) = pointer_layout(region, n) {
                    found = Some((p, s));
                    break;
                }
            }
            p += 1;
        }
        let Some((footer, element_size)) = found else {
            return Err(here(format!(
                "the vmdesc describes '{name}' as {count} empty structs of 1 byte (QEMU 7.2, array of pointers) and no section footer matches QEMU's layout of such an array"
            )));
        };
        let mut set = 0;
        for i in 0..count {
            self.path.push(format!("{name}[{i}]"));
            let b = self.input.u8();
            self.path.pop();
            let b = b?;
            if b == 0x30 {
                self.out.string("nullptr").map_err(io_err)?;
            } else {
                set += 1;
                self.out.begin_hex().map_err(io_err)?;
                self.out.hex(&[b]).map_err(io_err)?;
                self.hex_run(element_size - 1)?;
                self.out.end_hex().map_err(io_err)?;
            }
        }
        self.warnings.push(PayloadWarning::PointerArray {
            path: name.to_string(),
            offset: start,
            elements: count,
            set,
            element_size,
            footer: start + footer as u64,
        });
        Ok(())
    }

    /// Writes the next `n` stream bytes into the open hex string, in bounded chunks.
    fn hex_run(&mut self, n: u64) -> Result<()> {
        let mut left = n;
        let mut buf = [0u8; 4096];
        while left > 0 {
            let take = left.min(buf.len() as u64) as usize;
            self.input
                .read_exact(&mut buf[..take])
                .map_err(|e| e.at_path(&self.path()))?;
            self.out.hex(&buf[..take]).map_err(io_err)?;
            left -= take as u64;
        }
        Ok(())
    }

    fn subsections(&mut self, subs: &[Value]) -> Result<()> {
        for s in subs {
            let name = str_key(s, "vmsd_name")
                .ok_or_else(|| self.err("vmdesc subsection without vmsd_name"))?;
            let at = self.input.pos();
            let marker = self.input.u8().map_err(|e| e.at_path(&self.path()))?;
            if marker != 0x05 {
                return Err(StreamError::invalid(
                    at,
                    format!("expected subsection '{name}' (byte 0x05), found 0x{marker:02x}"),
                )
                .at_path(&self.path()));
            }
            let got = self
                .input
                .counted_string()
                .map_err(|e| e.at_path(&self.path()))?;
            if got != name && !self.lenient {
                // Decoded with the vmdesc layout and keyed by the name really sent (as
                // upstream does); the destination would reject or misread it.
                self.warnings.push(PayloadWarning::SubsectionName {
                    offset: at,
                    stream: got.clone(),
                    vmdesc: name.to_string(),
                });
            }
            let version = self.input.be32().map_err(|e| e.at_path(&self.path()))?;
            self.subsections_seen
                .push((self.path.len(), name.to_string(), got.clone(), version));
            if let Some(want) = s.get("version").and_then(Value::as_u64) {
                if want != version as u64 {
                    self.warnings.push(PayloadWarning::SubsectionVersion {
                        offset: at,
                        name: name.to_string(),
                        stream: version,
                        vmdesc: want,
                    });
                }
            }
            self.out.key(&got).map_err(io_err)?;
            self.path.push(got);
            let r = self.vmsd(s);
            self.path.pop();
            r?;
        }
        Ok(())
    }

    fn element(&mut self, f: &Value) -> Result<()> {
        let ty = str_key(f, "type").unwrap_or("unknown");
        let size = f
            .get("size")
            .and_then(Value::as_u64)
            .ok_or_else(|| self.err("vmdesc field without a size"))?;
        if size > MAX_ELEMENT {
            return Err(self.err(format!("vmdesc size {size} is too large")));
        }
        let start = self.input.pos();
        let here = |e: StreamError, p: &str| e.at_path(p);
        match ty {
            "struct" => {
                let Some(inner) = f.get("struct") else {
                    return Err(self.err("struct field without a 'struct' description"));
                };
                self.vmsd(inner)?;
                let used = self.input.pos() - start;
                if used != size {
                    self.warnings.push(PayloadWarning::StructSize {
                        path: self.path(),
                        offset: start,
                        vmdesc: size,
                        decoded: used,
                    });
                }
                Ok(())
            }
            "bool" if size == 1 => {
                let b = self.input.u8().map_err(|e| here(e, &self.path()))?;
                self.out.bool(b != 0).map_err(io_err)
            }
            "nullptr" if size == 1 => {
                let b = self.input.u8().map_err(|e| here(e, &self.path()))?;
                if b != 0x30 {
                    return Err(StreamError::invalid(
                        start,
                        format!("nullptr marker should be 0x30, found 0x{b:02x}"),
                    )
                    .at_path(&self.path()));
                }
                self.out.string("nullptr").map_err(io_err)
            }
            "capability" => {
                let s = self
                    .input
                    .counted_string()
                    .map_err(|e| here(e, &self.path()))?;
                self.out.string(&s).map_err(io_err)
            }
            _ => {
                if let Some((width, signed)) = int_type(ty).filter(|(w, _)| *w as u64 == size) {
                    let mut b = [0u8; 8];
                    self.input
                        .read_exact(&mut b[8 - width..])
                        .map_err(|e| here(e, &self.path()))?;
                    return self
                        .out
                        .string(&format_int(u64::from_be_bytes(b), width, signed))
                        .map_err(io_err);
                }
                if let Some(len) = self.input.len() {
                    let pos = self.input.pos();
                    if pos.saturating_add(size) > len {
                        return Err(StreamError::new(
                            len,
                            super::error::ErrorKind::Truncated {
                                needed: pos.saturating_add(size) - len,
                            },
                        )
                        .at_path(&self.path()));
                    }
                }
                self.out.begin_hex().map_err(io_err)?;
                self.hex_run(size)?;
                self.out.end_hex().map_err(io_err)
            }
        }
    }
}

/// The size S of the set elements when `region` is exactly `n` elements, each 0x30 (NULL)
/// or S bytes not starting with 0x30; the layout with the fewest set elements wins.
fn pointer_layout(region: &[u8], n: usize) -> Option<u64> {
    let len = region.len();
    if len < n {
        return None;
    }
    if len == n {
        return region.iter().all(|&b| b == 0x30).then_some(1);
    }
    let extra = len - n;
    for k in 1..=n {
        if extra % k != 0 {
            continue;
        }
        let s = extra / k + 1;
        let (mut pos, mut set) = (0usize, 0usize);
        for _ in 0..n {
            if pos >= len {
                set = usize::MAX;
                break;
            }
            if region[pos] == 0x30 {
                pos += 1;
            } else {
                set += 1;
                pos += s;
            }
        }
        if pos == len && set == k {
            return Some(s as u64);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::json::PrettyWriter;
    use serde_json::json;

    /// Decodes `bytes` with `desc`; the value as JSON and the warnings.
    fn decode(desc: &Value, bytes: Vec<u8>) -> (Result<Value>, Vec<PayloadWarning>) {
        let mut inp = Input::from_bytes(bytes);
        let mut text = Vec::new();
        let mut w = PrettyWriter::new(&mut text, 0);
        let mut pd = PayloadDecoder::new(&mut inp, &mut w);
        pd.footer_id = Some(9);
        let r = pd.vmsd(desc);
        let warnings = std::mem::take(&mut pd.warnings);
        (
            r.map(|()| serde_json::from_slice(&text).expect("valid JSON")),
            warnings,
        )
    }

    #[test]
    fn ints() {
        assert_eq!(format_int(0xffffffff, 4, true), "0xffffffff (-1)");
        assert_eq!(format_int(0xffffffff, 4, false), "0xffffffff");
        assert_eq!(format_int(5, 2, true), "0x0005");
        assert_eq!(format_int(u64::MAX, 8, true), "0xffffffffffffffff (-1)");
        assert_eq!(int_type("int32 le"), Some((4, true)));
        assert_eq!(int_type("uint8 equal"), Some((1, false)));
        assert_eq!(int_type("int128"), None);
        assert_eq!(int_type("buffer"), None);
    }

    #[test]
    fn arrays_structs_subsections() {
        let desc = json!({
            "fields": [
                {"name": "a", "array_len": 2, "type": "uint16", "size": 2},
                {"name": "p", "index": 0, "type": "uint8", "size": 1},
                {"name": "p", "type": "uint8", "size": 1},
                {"name": "s", "type": "struct", "struct": {"vmsd_name": "x", "version": 1,
                    "fields": [{"name": "b", "type": "bool", "size": 1}]}, "size": 1},
                {"name": "n", "type": "nullptr", "size": 1},
                {"name": "n", "array_len": 2, "type": "int8", "size": 1},
                {"name": "t", "type": "timer", "size": 2}
            ],
            "subsections": [{"vmsd_name": "dev/sub", "version": 1,
                "fields": [{"name": "c", "type": "int32", "size": 4}]}]
        });
        let mut bytes = vec![0, 1, 0xff, 0xfe, 7, 8, 1, 0x30, 0x80, 1, 0xaa, 0xbb, 5];
        bytes.push(7);
        bytes.extend_from_slice(b"dev/sub");
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(&(-2i32).to_be_bytes());
        let v = decode(&desc, bytes).0.unwrap();
        assert_eq!(
            v,
            json!({"a": ["0x0001", "0xfffe"], "p": ["0x07", "0x08"], "s": {"b": true},
                   "n": ["nullptr", "0x80 (-128)", "0x01"], "t": "aa bb",
                   "dev/sub": {"c": "0xfffffffe (-2)"}})
        );
    }

    #[test]
    fn subsection_name_differing_from_the_vmdesc_is_a_warning() {
        let desc = json!({"fields": [], "subsections": [{"vmsd_name": "d/a", "fields": []}]});
        let mut bytes = vec![5, 3];
        bytes.extend_from_slice(b"d/b");
        bytes.extend_from_slice(&1u32.to_be_bytes());
        let (v, warnings) = decode(&desc, bytes);
        assert!(v.unwrap().get("d/b").is_some());
        assert!(
            warnings[0].to_string().contains("'d/b' at offset 0"),
            "{warnings:?}"
        );
    }

    #[test]
    fn missing_subsection_marker_is_an_error() {
        let desc = json!({"fields": [], "subsections": [{"vmsd_name": "d/a", "fields": []}]});
        let e = decode(&desc, vec![0x7e]).0.unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.to_string().contains("expected subsection 'd/a'"), "{e}");
    }

    /// QEMU 7.2's s390_css: css[256] described as empty 1-byte structs; in the stream 254
    /// NULL markers, a 6-byte struct, one more NULL, then a uint8 and the footer.
    #[test]
    fn array_of_pointers_described_as_empty_structs_is_measured_by_the_footer() {
        let desc = json!({"fields": [
            {"name": "a", "type": "uint8", "size": 1},
            {"name": "css", "array_len": 256, "type": "struct", "struct": {}, "size": 1},
            {"name": "default_cssid", "type": "uint8", "size": 1}
        ]});
        let mut bytes = vec![7];
        bytes.extend(std::iter::repeat_n(0x30, 254));
        bytes.extend_from_slice(&[1, 0x30, 0x30, 2, 3, 4]);
        bytes.push(0x30);
        bytes.push(0xfe);
        bytes.extend_from_slice(&[0x7e, 0, 0, 0, 9, 0]);
        let (v, warnings) = decode(&desc, bytes);
        let v = v.unwrap();
        let css = v["css"].as_array().unwrap();
        assert_eq!(css.len(), 256);
        assert_eq!(css[254], "01 30 30 02 03 04");
        assert_eq!(css[255], "nullptr");
        assert_eq!(css[0], "nullptr");
        assert_eq!(v["default_cssid"], "0xfe");
        assert_eq!(
            warnings,
            [PayloadWarning::PointerArray {
                path: "css".into(),
                offset: 1,
                elements: 256,
                set: 1,
                element_size: 6,
                footer: 1 + 255 + 6 + 1,
            }]
        );
        assert!(
            warnings[0].to_string().contains("255 NULL"),
            "{}",
            warnings[0]
        );
    }

    #[test]
    fn array_of_pointers_without_a_matching_footer_is_an_error() {
        let desc = json!({"fields": [
            {"name": "css", "array_len": 4, "type": "struct", "struct": {}, "size": 1}
        ]});
        // Footer of another section id.
        let e = decode(&desc, vec![0x30, 0x30, 1, 2, 0x30, 0x7e, 0, 0, 0, 8])
            .0
            .unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.to_string().contains("no section footer"), "{e}");
    }

    #[test]
    fn zero_size_elements_have_a_budget() {
        let desc = json!({"fields": [
            {"name": "z", "array_len": 16_000_000u64, "type": "buffer", "size": 0}
        ]});
        let e = decode(&desc, vec![]).0.unwrap_err();
        assert!(e.to_string().contains("elements of 0 bytes"), "{e}");
    }

    #[test]
    fn pointer_layout_prefers_the_fewest_set_elements() {
        assert_eq!(pointer_layout(&[0x30, 0x30, 0x30], 3), Some(1));
        assert_eq!(pointer_layout(&[0x30, 1, 2, 3, 0x30], 3), Some(3));
        assert_eq!(pointer_layout(&[0x30, 1, 2, 3], 3), None);
        assert_eq!(pointer_layout(&[1, 2], 3), None);
    }
}
