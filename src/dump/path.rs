//! JSON paths built on the stack while parsing, rendered only when an error needs them.

use std::fmt;

/// A JSON path as a chain of segments borrowed from the parser's stack frames.
#[derive(Debug, Clone, Copy)]
pub enum JsonPath<'a> {
    /// `$`, the document root.
    Root,
    /// `parent.key` (or `parent["key"]` when the key is not an identifier).
    Key(&'a JsonPath<'a>, &'a str),
    /// `parent[index]`.
    Index(&'a JsonPath<'a>, usize),
}

impl fmt::Display for JsonPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonPath::Root => f.write_str("$"),
            JsonPath::Key(parent, key) => {
                parent.fmt(f)?;
                let plain = !key.is_empty()
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !matches!(parent, JsonPath::Root);
                // Keys come from the file: escaped and cut, so a path stays one short line.
                if plain {
                    write!(f, ".{}", crate::error::escaped(key))
                } else {
                    write!(f, "[{}]", crate::error::quoted(key))
                }
            }
            JsonPath::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::JsonPath;

    #[test]
    fn renders_sections_quoted_and_members_dotted() {
        let root = JsonPath::Root;
        let sec = JsonPath::Key(&root, "e1000");
        let desc = JsonPath::Key(&sec, "Description");
        let fields = JsonPath::Key(&desc, "Fields");
        let third = JsonPath::Index(&fields, 3);
        let size = JsonPath::Key(&third, "size");
        assert_eq!(size.to_string(), r#"$["e1000"].Description.Fields[3].size"#);
        let odd = JsonPath::Key(&desc, "a b");
        assert_eq!(odd.to_string(), r#"$["e1000"].Description["a b"]"#);
        let forged = JsonPath::Key(&desc, "x\nvmstate-check: error: forged");
        assert_eq!(
            forged.to_string(),
            r#"$["e1000"].Description["x\nvmstate-check: error: forged"]"#
        );
        let huge = "k".repeat(1 << 20);
        let long = JsonPath::Key(&root, &huge).to_string();
        assert!(
            long.len() < 120 && long.ends_with("…(1048576 bytes)]"),
            "{long}"
        );
    }
}
