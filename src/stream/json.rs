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

/// `v` as a pretty string (no trailing newline).
pub fn to_pretty(v: &Value) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_value(&mut out, v, 0);
    String::from_utf8_lossy(&out).into_owned()
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
