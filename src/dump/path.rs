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
                write_key(f, matches!(parent, JsonPath::Root), key)
            }
            JsonPath::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// Writes `.key`, or `["key"]` when the key is not an identifier or sits at the root (where
/// the keys are class names). Keys come from the file: escaped and cut, so a path stays one
/// short line.
fn write_key(f: &mut fmt::Formatter<'_>, at_root: bool, key: &str) -> fmt::Result {
    let plain =
        !at_root && !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        write!(f, ".{}", crate::error::escaped(key))
    } else {
        write!(f, "[{}]", crate::error::quoted(key))
    }
}

/// Where a [`super::Description`] sits in its file, kept as segments and rendered only when an
/// error names it: formatting every description's path while parsing cost a third of the
/// load time of a 800 KiB dump, and almost no run prints one.
///
/// Two paths always compare (and hash) equal: a description's place in its file is not part
/// of its layout, so two descriptions with the same content are equal wherever they sit.
#[derive(Debug, Clone, Default)]
pub struct DescPath(Box<[Segment]>);

#[derive(Debug, Clone)]
enum Segment {
    /// A key read from the file (the top-level class name, or any key the model does not
    /// expect on a description's path).
    Key(Box<str>),
    /// One of the keys that lead to a description (`Description`, `Fields`, `Subsections`).
    Known(&'static str),
    /// An array index.
    Index(usize),
}

impl DescPath {
    /// The segments of `path`, copied out of the parser's stack frames.
    pub fn of(path: &JsonPath<'_>) -> DescPath {
        let mut rev = Vec::with_capacity(8);
        let mut at = path;
        loop {
            match at {
                JsonPath::Root => break,
                JsonPath::Key(parent, key) => {
                    rev.push(match *key {
                        "Description" => Segment::Known("Description"),
                        "Fields" => Segment::Known("Fields"),
                        "Subsections" => Segment::Known("Subsections"),
                        other => Segment::Key(other.into()),
                    });
                    at = parent;
                }
                JsonPath::Index(parent, index) => {
                    rev.push(Segment::Index(*index));
                    at = parent;
                }
            }
        }
        rev.reverse();
        DescPath(rev.into_boxed_slice())
    }
}

impl fmt::Display for DescPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) => write_key(f, i == 0, key)?,
                Segment::Known(key) => write_key(f, i == 0, key)?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl PartialEq for DescPath {
    fn eq(&self, _: &DescPath) -> bool {
        true
    }
}

impl Eq for DescPath {}

impl std::hash::Hash for DescPath {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

#[cfg(test)]
mod tests {
    use super::{DescPath, JsonPath};

    #[test]
    fn renders_sections_quoted_and_members_dotted() {
        let root = JsonPath::Root;
        let sec = JsonPath::Key(&root, "e1000");
        let desc = JsonPath::Key(&sec, "Description");
        let fields = JsonPath::Key(&desc, "Fields");
        let third = JsonPath::Index(&fields, 3);
        let size = JsonPath::Key(&third, "size");
        assert_eq!(size.to_string(), r#"$["e1000"].Description.Fields[3].size"#);
        assert_eq!(DescPath::of(&size).to_string(), size.to_string());
        let odd = JsonPath::Key(&desc, "a b");
        assert_eq!(DescPath::of(&odd).to_string(), odd.to_string());
        assert_eq!(
            DescPath::of(&odd),
            DescPath::of(&root),
            "a place is not content"
        );
        assert_eq!(odd.to_string(), r#"$["e1000"].Description["a b"]"#);
        let forged = JsonPath::Key(&desc, "x\nvmstate-check: error: forged");
        assert_eq!(
            forged.to_string(),
            r#"$["e1000"].Description["x\nvmstate-check: error: forged"]"#
        );
        assert_eq!(DescPath::of(&forged).to_string(), forged.to_string());
        let huge = "k".repeat(1 << 20);
        let long = JsonPath::Key(&root, &huge).to_string();
        assert!(
            long.len() < 120 && long.ends_with("…(1048576 bytes)]"),
            "{long}"
        );
    }
}
