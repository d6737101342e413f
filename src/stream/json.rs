//! JSON text in the exact layout of Python's `json.dumps(obj, indent=4)` (the layout of the
//! upstream analyzer), so the two outputs can be diffed byte for byte: 4-space indent, `": "`
//! and `","` separators, `{}` / `[]` for empty containers, non-ASCII escaped as `\uXXXX`.

use serde_json::Value;
use std::io::{self, Write};

/// Writes `s` as a JSON string literal with Python's `ensure_ascii` escaping.
pub fn write_str(out: &mut dyn Write, s: &str) -> io::Result<()> {
    let mut buf = String::with_capacity(s.len() + 2);
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            '\u{8}' => buf.push_str("\\b"),
            '\u{c}' => buf.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    buf.push_str(&format!("\\u{:04x}", u));
                }
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
    out.write_all(buf.as_bytes())
}

/// Writes the indentation for nesting `level`.
pub fn write_indent(out: &mut dyn Write, level: usize) -> io::Result<()> {
    for _ in 0..level {
        out.write_all(b"    ")?;
    }
    Ok(())
}

/// Writes `v` pretty-printed, assuming the cursor is already indented for `level`.
pub fn write_value(out: &mut dyn Write, v: &Value, level: usize) -> io::Result<()> {
    match v {
        Value::Null => out.write_all(b"null"),
        Value::Bool(b) => out.write_all(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.write_all(n.to_string().as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            if a.is_empty() {
                return out.write_all(b"[]");
            }
            out.write_all(b"[")?;
            for (i, e) in a.iter().enumerate() {
                out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
                write_indent(out, level + 1)?;
                write_value(out, e, level + 1)?;
            }
            out.write_all(b"\n")?;
            write_indent(out, level)?;
            out.write_all(b"]")
        }
        Value::Object(m) => {
            if m.is_empty() {
                return out.write_all(b"{}");
            }
            out.write_all(b"{")?;
            for (i, (k, e)) in m.iter().enumerate() {
                out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
                write_indent(out, level + 1)?;
                write_str(out, k)?;
                out.write_all(b": ")?;
                write_value(out, e, level + 1)?;
            }
            out.write_all(b"\n")?;
            write_indent(out, level)?;
            out.write_all(b"}")
        }
    }
}

/// Receiver of one decoded value, event by event, so that a device section is never held in
/// memory as a tree: the payload decoder calls these in document order. Objects take
/// `key` + one value per entry; arrays take values. A hex string is `begin_hex`, any number
/// of `hex` chunks, `end_hex`.
pub trait ValueWriter {
    /// Key of the next entry of the innermost object.
    fn key(&mut self, key: &str) -> io::Result<()>;
    /// Opens an object (as a value).
    fn begin_object(&mut self) -> io::Result<()>;
    /// Closes the innermost object.
    fn end_object(&mut self) -> io::Result<()>;
    /// Opens an array (as a value).
    fn begin_array(&mut self) -> io::Result<()>;
    /// Closes the innermost array.
    fn end_array(&mut self) -> io::Result<()>;
    /// A string value.
    fn string(&mut self, s: &str) -> io::Result<()>;
    /// A boolean value.
    fn bool(&mut self, b: bool) -> io::Result<()>;
    /// Opens a string value of space-separated hex bytes.
    fn begin_hex(&mut self) -> io::Result<()>;
    /// More bytes of the open hex string.
    fn hex(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Closes the hex string.
    fn end_hex(&mut self) -> io::Result<()>;
}

/// A [`ValueWriter`] that keeps nothing (`--against`, `-d desc` over a pipe).
#[derive(Debug, Default)]
pub struct DiscardValues;

impl ValueWriter for DiscardValues {
    fn key(&mut self, _: &str) -> io::Result<()> {
        Ok(())
    }
    fn begin_object(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn end_object(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn begin_array(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn end_array(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn string(&mut self, _: &str) -> io::Result<()> {
        Ok(())
    }
    fn bool(&mut self, _: bool) -> io::Result<()> {
        Ok(())
    }
    fn begin_hex(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn hex(&mut self, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn end_hex(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct Frame {
    array: bool,
    children: usize,
}

/// State of a value being written in the layout of [`write_value`] (Python's `indent=4`),
/// starting at nesting `base` with the cursor already indented; every call names the byte
/// sink, so the same state can write to stdout or to a buffer.
#[derive(Debug, Default)]
pub struct Pretty {
    base: usize,
    stack: Vec<Frame>,
    in_hex: bool,
    hex_started: bool,
    key_pending: bool,
}

impl Pretty {
    /// State for one value at nesting `base`.
    pub fn new(base: usize) -> Self {
        Pretty {
            base,
            ..Default::default()
        }
    }

    fn before_value(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.key_pending = false;
        let level = self.base + self.stack.len();
        if let Some(top) = self.stack.last_mut() {
            if top.array {
                out.write_all(if top.children == 0 { b"\n" } else { b",\n" })?;
                top.children += 1;
                write_indent(out, level)?;
            }
        }
        Ok(())
    }

    fn close(&mut self, out: &mut dyn Write, bracket: &[u8]) -> io::Result<()> {
        let frame = self.stack.pop();
        if frame.is_some_and(|f| f.children > 0) {
            out.write_all(b"\n")?;
            write_indent(out, self.base + self.stack.len())?;
        }
        out.write_all(bracket)
    }

    /// Closes whatever is open (a hex string, a key without value, objects, arrays), so the
    /// text written so far is valid JSON after a decoding error.
    pub fn close_all(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if self.in_hex {
            self.end_hex(out)?;
        }
        if self.key_pending {
            self.key_pending = false;
            out.write_all(b"null")?;
        }
        while let Some(f) = self.stack.last() {
            let b: &[u8] = if f.array { b"]" } else { b"}" };
            self.close(out, b)?;
        }
        Ok(())
    }

    /// Key of the next entry of the innermost object.
    pub fn key(&mut self, out: &mut dyn Write, key: &str) -> io::Result<()> {
        let level = self.base + self.stack.len();
        if let Some(top) = self.stack.last_mut() {
            out.write_all(if top.children == 0 { b"\n" } else { b",\n" })?;
            top.children += 1;
        }
        write_indent(out, level)?;
        write_str(out, key)?;
        self.key_pending = true;
        out.write_all(b": ")
    }
    /// Opens an object.
    pub fn begin_object(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.before_value(out)?;
        self.stack.push(Frame {
            array: false,
            children: 0,
        });
        out.write_all(b"{")
    }
    /// Closes the innermost object.
    pub fn end_object(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.close(out, b"}")
    }
    /// Opens an array.
    pub fn begin_array(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.before_value(out)?;
        self.stack.push(Frame {
            array: true,
            children: 0,
        });
        out.write_all(b"[")
    }
    /// Closes the innermost array.
    pub fn end_array(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.close(out, b"]")
    }
    /// A string value.
    pub fn string(&mut self, out: &mut dyn Write, s: &str) -> io::Result<()> {
        self.before_value(out)?;
        write_str(out, s)
    }
    /// A boolean value.
    pub fn bool(&mut self, out: &mut dyn Write, b: bool) -> io::Result<()> {
        self.before_value(out)?;
        out.write_all(if b { b"true" } else { b"false" })
    }
    /// Opens a hex string.
    pub fn begin_hex(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.before_value(out)?;
        self.in_hex = true;
        self.hex_started = false;
        out.write_all(b"\"")
    }
    /// More bytes of the open hex string.
    pub fn hex(&mut self, out: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = Vec::with_capacity(bytes.len() * 3);
        for b in bytes {
            if self.hex_started {
                buf.push(b' ');
            }
            self.hex_started = true;
            buf.push(HEX[(b >> 4) as usize]);
            buf.push(HEX[(b & 15) as usize]);
        }
        out.write_all(&buf)
    }
    /// Closes the hex string.
    pub fn end_hex(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.in_hex = false;
        out.write_all(b"\"")
    }
}

/// [`ValueWriter`] writing one value in the layout of [`write_value`] to a byte sink.
pub struct PrettyWriter<'a> {
    out: &'a mut dyn Write,
    state: Pretty,
}

impl<'a> PrettyWriter<'a> {
    /// Writer of one value at nesting `base`.
    pub fn new(out: &'a mut dyn Write, base: usize) -> Self {
        PrettyWriter {
            out,
            state: Pretty::new(base),
        }
    }
}

impl ValueWriter for PrettyWriter<'_> {
    fn key(&mut self, key: &str) -> io::Result<()> {
        self.state.key(self.out, key)
    }
    fn begin_object(&mut self) -> io::Result<()> {
        self.state.begin_object(self.out)
    }
    fn end_object(&mut self) -> io::Result<()> {
        self.state.end_object(self.out)
    }
    fn begin_array(&mut self) -> io::Result<()> {
        self.state.begin_array(self.out)
    }
    fn end_array(&mut self) -> io::Result<()> {
        self.state.end_array(self.out)
    }
    fn string(&mut self, s: &str) -> io::Result<()> {
        self.state.string(self.out, s)
    }
    fn bool(&mut self, b: bool) -> io::Result<()> {
        self.state.bool(self.out, b)
    }
    fn begin_hex(&mut self) -> io::Result<()> {
        self.state.begin_hex(self.out)
    }
    fn hex(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.state.hex(self.out, bytes)
    }
    fn end_hex(&mut self) -> io::Result<()> {
        self.state.end_hex(self.out)
    }
}

/// `v` as a pretty string (no trailing newline).
pub fn to_pretty(v: &Value) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_value(&mut out, v, 0);
    String::from_utf8_lossy(&out).into_owned()
}

/// A [`ValueWriter`] that builds the value as a [`serde_json::Value`] tree, for consumers that
/// look at a few sections' values (the `--against` facts of `cpu` sections); the decoder
/// bounds each value by the section's payload, so the tree is bounded too.
#[derive(Debug, Default)]
pub struct ValueTree {
    /// Open containers, innermost last, each with the key it will be stored under.
    stack: Vec<(Option<String>, serde_json::Value)>,
    /// Key of the next entry of the innermost object.
    key: Option<String>,
    /// Hex bytes of the open hex string.
    hex: Option<String>,
    /// The finished top-level value, once the outermost container is closed.
    done: Option<serde_json::Value>,
}

impl ValueTree {
    /// Takes the finished value (None while a container is open or nothing was written).
    pub fn take(&mut self) -> Option<serde_json::Value> {
        self.stack.clear();
        self.key = None;
        self.hex = None;
        self.done.take()
    }

    fn put(&mut self, value: serde_json::Value) {
        let key = self.key.take();
        match self.stack.last_mut() {
            Some((_, serde_json::Value::Object(map))) => {
                map.insert(key.unwrap_or_default(), value);
            }
            Some((_, serde_json::Value::Array(items))) => items.push(value),
            Some(_) => {}
            None => self.done = Some(value),
        }
    }

    fn open(&mut self, value: serde_json::Value) {
        let key = self.key.take();
        self.stack.push((key, value));
    }

    fn close(&mut self) {
        if let Some((key, value)) = self.stack.pop() {
            self.key = key;
            self.put(value);
        }
    }
}

impl ValueWriter for ValueTree {
    fn key(&mut self, key: &str) -> io::Result<()> {
        self.key = Some(key.to_owned());
        Ok(())
    }
    fn begin_object(&mut self) -> io::Result<()> {
        self.open(serde_json::Value::Object(serde_json::Map::new()));
        Ok(())
    }
    fn end_object(&mut self) -> io::Result<()> {
        self.close();
        Ok(())
    }
    fn begin_array(&mut self) -> io::Result<()> {
        self.open(serde_json::Value::Array(Vec::new()));
        Ok(())
    }
    fn end_array(&mut self) -> io::Result<()> {
        self.close();
        Ok(())
    }
    fn string(&mut self, s: &str) -> io::Result<()> {
        self.put(serde_json::Value::String(s.to_owned()));
        Ok(())
    }
    fn bool(&mut self, b: bool) -> io::Result<()> {
        self.put(serde_json::Value::Bool(b));
        Ok(())
    }
    fn begin_hex(&mut self) -> io::Result<()> {
        self.hex = Some(String::new());
        Ok(())
    }
    fn hex(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::fmt::Write as _;
        if let Some(text) = &mut self.hex {
            for b in bytes {
                if !text.is_empty() {
                    text.push(' ');
                }
                let _ = write!(text, "{b:02x}");
            }
        }
        Ok(())
    }
    fn end_hex(&mut self) -> io::Result<()> {
        let text = self.hex.take().unwrap_or_default();
        self.put(serde_json::Value::String(text));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_layout() {
        let v: Value =
            serde_json::from_str(r#"{"a": [1, {"b": "é\n"}], "e": {}, "l": [], "t": true}"#)
                .unwrap();
        assert_eq!(
            to_pretty(&v),
            "{\n    \"a\": [\n        1,\n        {\n            \"b\": \"\\u00e9\\n\"\n        }\n    ],\n    \"e\": {},\n    \"l\": [],\n    \"t\": true\n}"
        );
    }
}
