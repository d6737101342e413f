//! Decoding of VMState payloads (FULL sections, subsections) driven by the vmdesc.
//!
//! The payload has no tags or lengths: the vmdesc entry of the section says which fields were
//! written, with their type and measured size. Values are rendered like the upstream analyzer
//! (integers as zero-padded hex strings, bools as JSON booleans, everything else as hex bytes)
//! so that outputs can be compared byte for byte.

use super::error::{Result, StreamError};
use super::input::Input;
use serde_json::{Map, Value};

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

/// Decoder of one section payload; keeps the field path for error messages.
pub struct PayloadDecoder<'a> {
    input: &'a mut Input,
    path: Vec<String>,
    /// Non-fatal oddities (struct size disagreeing with its nested description ...).
    pub warnings: Vec<String>,
    /// Accept a subsection whose name in the stream differs from the vmdesc (the layout of
    /// the vmdesc entry is still used); `--against` needs the names really sent.
    pub lenient: bool,
    /// Subsections met: (nesting depth, vmdesc name, name in the stream, version in the
    /// stream), in stream order.
    pub subsections_seen: Vec<(usize, String, String, u32)>,
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

impl<'a> PayloadDecoder<'a> {
    /// Decoder reading from `input` at its current position.
    pub fn new(input: &'a mut Input) -> Self {
        PayloadDecoder {
            input,
            path: Vec::new(),
            warnings: Vec::new(),
            lenient: false,
            subsections_seen: Vec::new(),
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
    /// vmdesc device, struct or subsection object.
    pub fn vmsd(&mut self, desc: &Value) -> Result<Map<String, Value>> {
        let mut obj = Map::new();
        self.fields(arr_key(desc, "fields"), &mut obj)?;
        self.subsections(arr_key(desc, "subsections"), &mut obj)?;
        Ok(obj)
    }

    fn fields(&mut self, fields: &[Value], obj: &mut Map<String, Value>) -> Result<()> {
        let mut prev: Option<(&str, bool)> = None;
        for f in fields {
            let name = str_key(f, "name").ok_or_else(|| self.err("vmdesc field without a name"))?;
            let array_len = f.get("array_len").and_then(Value::as_u64);
            let index = f.get("index").and_then(Value::as_u64);
            let arrayish = array_len.is_some() || index.is_some();
            // Same name as the previous entry and one of them is an array element: the
            // entries are pieces of one array (10.0 last element without index, nullptr runs).
            let continues = prev.is_some_and(|(p, pa)| p == name && (pa || arrayish));
            let mut values = Vec::new();
            let count = array_len.unwrap_or(1);
            if count > MAX_ELEMENTS {
                return Err(self.err(format!("field '{name}': array_len {count} is too large")));
            }
            for i in 0..count {
                let label = match (array_len, index) {
                    (Some(_), _) => format!("{name}[{i}]"),
                    (None, Some(ix)) => format!("{name}[{ix}]"),
                    _ => name.to_string(),
                };
                self.path.push(label);
                let v = self.element(f);
                self.path.pop();
                values.push(v?);
            }
            if continues {
                match obj.get_mut(name) {
                    Some(Value::Array(list)) => list.extend(values),
                    Some(other) => {
                        let first = other.take();
                        let mut list = vec![first];
                        list.extend(values);
                        *other = Value::Array(list);
                    }
                    None => {
                        obj.insert(name.to_string(), Value::Array(values));
                    }
                }
            } else if arrayish {
                obj.insert(name.to_string(), Value::Array(values));
            } else if let Some(v) = values.pop() {
                obj.insert(name.to_string(), v);
            }
            prev = Some((name, arrayish));
        }
        Ok(())
    }

    fn subsections(&mut self, subs: &[Value], obj: &mut Map<String, Value>) -> Result<()> {
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
                self.warnings.push(format!(
                    "subsection '{got}' at offset {at} in the stream, the vmdesc lists '{name}' (decoded with the vmdesc layout)"
                ));
            }
            let version = self.input.be32().map_err(|e| e.at_path(&self.path()))?;
            self.subsections_seen
                .push((self.path.len(), name.to_string(), got.clone(), version));
            if let Some(want) = s.get("version").and_then(Value::as_u64) {
                if want != version as u64 {
                    self.warnings.push(format!(
                        "subsection '{name}' at offset {at}: stream version {version}, vmdesc version {want}"
                    ));
                }
            }
            self.path.push(got.clone());
            let v = self.vmsd(s);
            self.path.pop();
            obj.insert(got, Value::Object(v?));
        }
        Ok(())
    }

    fn element(&mut self, f: &Value) -> Result<Value> {
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
                let obj = self.vmsd(inner)?;
                let used = self.input.pos() - start;
                if used != size {
                    self.warnings.push(format!(
                        "field '{}' at offset {start}: vmdesc size {size}, nested description read {used} bytes",
                        self.path()
                    ));
                }
                Ok(Value::Object(obj))
            }
            "bool" if size == 1 => {
                let b = self.input.u8().map_err(|e| here(e, &self.path()))?;
                Ok(Value::Bool(b != 0))
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
                Ok(Value::String("nullptr".into()))
            }
            "capability" => {
                let s = self
                    .input
                    .counted_string()
                    .map_err(|e| here(e, &self.path()))?;
                Ok(Value::String(s))
            }
            _ => {
                if let Some((width, signed)) = int_type(ty).filter(|(w, _)| *w as u64 == size) {
                    let mut b = [0u8; 8];
                    self.input
                        .read_exact(&mut b[8 - width..])
                        .map_err(|e| here(e, &self.path()))?;
                    return Ok(Value::String(format_int(
                        u64::from_be_bytes(b),
                        width,
                        signed,
                    )));
                }
                let b = self
                    .input
                    .bytes(size, MAX_ELEMENT)
                    .map_err(|e| here(e, &self.path()))?;
                Ok(Value::String(hex_bytes(&b)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let mut inp = Input::from_bytes(bytes);
        let v = PayloadDecoder::new(&mut inp).vmsd(&desc).unwrap();
        assert_eq!(
            Value::Object(v),
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
        let mut inp = Input::from_bytes(bytes);
        let mut pd = PayloadDecoder::new(&mut inp);
        let v = pd.vmsd(&desc).unwrap();
        assert!(v.contains_key("d/b"));
        assert!(
            pd.warnings[0].contains("'d/b' at offset 0"),
            "{:?}",
            pd.warnings
        );
    }

    #[test]
    fn missing_subsection_marker_is_an_error() {
        let desc = json!({"fields": [], "subsections": [{"vmsd_name": "d/a", "fields": []}]});
        let mut inp = Input::from_bytes(vec![0x7e]);
        let e = PayloadDecoder::new(&mut inp).vmsd(&desc).unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.to_string().contains("expected subsection 'd/a'"), "{e}");
    }
}
