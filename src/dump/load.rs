//! Loading a `-dump-vmstate` file straight into the typed tree (no intermediate `Value`), with
//! the JSON path of every value at hand for error messages.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{DescPath, Description, Dump, Field, JsonPath, Section};
use crate::error::InputError;

/// How many leading bytes of a dump are looked at to tell a migration stream or a foreign
/// container from a dump (see [`crate::compressed`]).
const SNIFF_LEN: usize = 4096;

/// Plain regular files up to this size are read whole and parsed from memory; larger ones
/// (and compressed files, pipes) are streamed through a small buffer, so a huge input never
/// has its bytes all in memory next to the tree built from them. Real dumps are about 1 MiB;
/// at 16 MiB the bytes held while parsing (at most 16 MiB) stay inside the README's memory
/// bound (8 MiB + 4 x the dumps: the tree costs at most 3.5 x).
const SLURP_LIMIT: u64 = 16 << 20;

/// The largest read buffer kept for the next dump (inside the README's constant term).
const KEPT_BUFFER: usize = 4 << 20;

thread_local! {
    /// The bytes of the last plain dump read on this thread, kept for the next one.
    static SLURP_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Reads and parses the dump at `file` (plain, gzip or xz, recognised by magic).
pub fn load_dump(file: &Path) -> Result<Dump, InputError> {
    let read_error = |source| InputError::Read {
        file: file.to_path_buf(),
        source,
    };
    let wrong_kind = |what: String| InputError::WrongKind {
        file: file.to_path_buf(),
        what,
    };
    // Invalid data is the decompressor's "this is a gzip file, but it cannot be ..."; any
    // other failure (a directory, an I/O error) is a read error, not a JSON problem.
    let io_error = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            wrong_kind(e.to_string())
        } else {
            read_error(e)
        }
    };
    let handle = std::fs::File::open(file).map_err(read_error)?;
    // A pipe or a device has no usable length: it is streamed.
    let handle_len = handle
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let raw = std::io::BufReader::with_capacity(64 * 1024, handle);
    let (reader, compression, content) =
        crate::compressed::open_content(raw, SNIFF_LEN).map_err(io_error)?;
    if let Some(what) = compression.unsupported_message() {
        return Err(wrong_kind(what));
    }
    if content == crate::compressed::Content::MigrationStream {
        return Err(wrong_kind(
            "this looks like a migration stream (QEVM magic), not a -dump-vmstate file; decode it with `vmstate-check analyze`, or check it with `analyze --against DEST.json`".to_owned(),
        ));
    }
    let size = handle_len.unwrap_or(u64::MAX);
    if compression == crate::compressed::Compression::Plain && size <= SLURP_LIMIT {
        // serde_json parses a byte slice several times faster than a reader (it scans
        // strings with memchr instead of byte by byte); a plain file of a sane size is
        // read whole into a buffer that the next dump reuses (every fresh page costs a page
        // fault, about 2 us here), dropped if it grew past the constant term.
        let mut reader = reader;
        return SLURP_BUFFER.with(|buffer| {
            let mut bytes = buffer.take();
            bytes.clear();
            // Exact: `read_to_end` zeroes all spare capacity before reading into it.
            bytes.reserve_exact(size as usize);
            let parsed = match std::io::Read::read_to_end(&mut reader, &mut bytes) {
                Ok(_) => parse_dump(file, &bytes),
                Err(e) => Err(io_error(e)),
            };
            if bytes.capacity() <= KEPT_BUFFER {
                buffer.set(bytes);
            }
            parsed
        });
    }
    parse(file, serde_json::Deserializer::from_reader(reader)).map_err(|err| {
        if err.is_io() {
            io_error(std::io::Error::from(err))
        } else {
            InputError::syntax(file, &err)
        }
    })
}

/// Parses dump text; `file` only names the source in errors.
pub fn parse_dump(file: &Path, bytes: &[u8]) -> Result<Dump, InputError> {
    parse(file, serde_json::Deserializer::from_slice(bytes))
        .map_err(|err| InputError::syntax(file, &err))
}

fn parse<'de, R: serde_json::de::Read<'de>>(
    file: &Path,
    mut de: serde_json::Deserializer<R>,
) -> Result<Dump, serde_json::Error> {
    let sections = DumpSeed
        .deserialize(&mut de)
        .and_then(|sections| de.end().map(|()| sections))?;
    Ok(Dump::from_sections(file.to_path_buf(), sections))
}

/// Records `key` in `keys` unless already there (a duplicated key keeps its first position).
fn note_key(keys: &mut Vec<String>, key: &str) {
    if !keys.iter().any(|k| k == key) {
        keys.push(key.to_owned());
    }
}

/// An object key of a section, description or field: one of the keys the model reads,
/// without an allocation, else (a key no QEMU writes) owned.
enum Key {
    Known(&'static str),
    Other(String),
}

impl Key {
    fn as_str(&self) -> &str {
        match self {
            Key::Known(k) => k,
            Key::Other(k) => k,
        }
    }
}

/// The keys of the objects below the top level that `-dump-vmstate` writes
/// (migration/savevm.c `dump_vmstate_vmsd`, `dump_vmstate_vmsf`).
const KNOWN_KEYS: [&str; 11] = [
    "field",
    "version_id",
    "field_exists",
    "size",
    "num",
    "Description",
    "name",
    "Fields",
    "Subsections",
    "minimum_version_id",
    "Name",
];

/// Reads an object key as a [`Key`]: a key per value of every field made a `String` each,
/// the largest share of the allocations of a load.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Key, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match KNOWN_KEYS.iter().find(|k| **k == v) {
            Some(k) => Key::Known(k),
            None => Key::Other(v.to_owned()),
        })
    }
}

struct DumpSeed;

impl<'de> DeserializeSeed<'de> for DumpSeed {
    type Value = Vec<Section>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DumpSeed {
    type Value = Vec<Section>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a -dump-vmstate object ({\"vmschkmachine\": ..., \"CLASS\": ...}) at $")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut sections = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let root = JsonPath::Root;
            let path = JsonPath::Key(&root, &key);
            let mut section = map.next_value_seed(SectionSeed { path: &path })?;
            section.key = key;
            sections.push(section);
        }
        Ok(sections)
    }
}

struct SectionSeed<'p> {
    path: &'p JsonPath<'p>,
}

impl<'de> DeserializeSeed<'de> for SectionSeed<'_> {
    type Value = Section;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SectionSeed<'_> {
    type Value = Section;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object for {}", self.path)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut section = Section::default();
        while let Some(name) = map.next_key_seed(KeySeed)? {
            let key = name.as_str();
            note_key(&mut section.keys, key);
            let path = JsonPath::Key(self.path, key);
            match key {
                "Name" => section.name = Some(next_scalar(&mut map, &path)?),
                "version_id" => section.version_id = Some(next_scalar(&mut map, &path)?),
                "minimum_version_id" => {
                    section.minimum_version_id = Some(next_scalar(&mut map, &path)?)
                }
                "Description" => {
                    section.description =
                        Some(map.next_value_seed(DescriptionSeed { path: &path })?)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(section)
    }
}

struct DescriptionSeed<'p> {
    path: &'p JsonPath<'p>,
}

impl<'de> DeserializeSeed<'de> for DescriptionSeed<'_> {
    type Value = Description;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DescriptionSeed<'_> {
    type Value = Description;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a description object for {}", self.path)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut desc = Description {
            path: DescPath::of(self.path),
            ..Description::default()
        };
        while let Some(name) = map.next_key_seed(KeySeed)? {
            let key = name.as_str();
            note_key(&mut desc.keys, key);
            let path = JsonPath::Key(self.path, key);
            match key {
                "name" => desc.name = Some(next_scalar(&mut map, &path)?),
                "version_id" => desc.version_id = Some(next_scalar(&mut map, &path)?),
                "minimum_version_id" => {
                    desc.minimum_version_id = Some(next_scalar(&mut map, &path)?)
                }
                "Fields" => desc.fields = Some(map.next_value_seed(ListSeed::<Field>::new(&path))?),
                "Subsections" => {
                    desc.subsections =
                        Some(map.next_value_seed(ListSeed::<Description>::new(&path))?)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(desc)
    }
}

struct FieldSeed<'p> {
    path: &'p JsonPath<'p>,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Field;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a field object for {}", self.path)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut field = Field::default();
        while let Some(name) = map.next_key_seed(KeySeed)? {
            let key = name.as_str();
            let path = JsonPath::Key(self.path, key);
            match key {
                "field" => field.field = Some(next_scalar(&mut map, &path)?),
                "version_id" => field.version_id = Some(next_scalar(&mut map, &path)?),
                "minimum_version_id" => {
                    field.minimum_version_id = Some(next_scalar(&mut map, &path)?)
                }
                "field_exists" => field.field_exists = Some(next_scalar(&mut map, &path)?),
                "num" => field.num = Some(next_scalar(&mut map, &path)?),
                "size" => field.size = Some(next_scalar(&mut map, &path)?),
                "Description" => {
                    field.description = Some(Box::new(
                        map.next_value_seed(DescriptionSeed { path: &path })?,
                    ))
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(field)
    }
}

/// A JSON array whose elements are all read as `K`, each with its own path.
struct ListSeed<'p, K> {
    path: &'p JsonPath<'p>,
    kind: PhantomData<K>,
}

impl<'p, K> ListSeed<'p, K> {
    fn new(path: &'p JsonPath<'p>) -> Self {
        ListSeed {
            path,
            kind: PhantomData,
        }
    }
}

impl<'de, K: ElementKind> DeserializeSeed<'de> for ListSeed<'_, K> {
    type Value = Vec<K::Output>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de, K: ElementKind> Visitor<'de> for ListSeed<'_, K> {
    type Value = Vec<K::Output>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array for {}", self.path)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // The elements gather in a scratch list kept per thread and nesting level, then move
        // into one allocation of the exact length: growing every list by doubling (and
        // shrinking it after) touched twice the memory of the lists, a page fault per page.
        let mut scratch = K::scratch().with(|pool| pool.borrow_mut().pop().unwrap_or_default());
        let read = loop {
            let path = JsonPath::Index(self.path, scratch.len());
            let element = Element::<K> {
                path: &path,
                kind: PhantomData,
            };
            match seq.next_element_seed(element) {
                Ok(Some(item)) => scratch.push(item),
                Ok(None) => break Ok(scratch.drain(..).collect::<Vec<_>>()),
                Err(e) => break Err(e),
            }
        };
        scratch.clear();
        K::scratch().with(|pool| pool.borrow_mut().push(scratch));
        read
    }
}

/// What a list holds: fields or (subsection) descriptions.
trait ElementKind {
    type Output: 'static;
    fn read<'de, D: Deserializer<'de>>(path: &JsonPath, de: D) -> Result<Self::Output, D::Error>;
    /// The scratch lists of this element type, one per nesting level in use.
    fn scratch() -> &'static std::thread::LocalKey<RefCell<Vec<Vec<Self::Output>>>>;
}

thread_local! {
    static FIELD_SCRATCH: RefCell<Vec<Vec<Field>>> = const { RefCell::new(Vec::new()) };
    static DESCRIPTION_SCRATCH: RefCell<Vec<Vec<Description>>> = const { RefCell::new(Vec::new()) };
}

impl ElementKind for Field {
    type Output = Field;
    fn scratch() -> &'static std::thread::LocalKey<RefCell<Vec<Vec<Field>>>> {
        &FIELD_SCRATCH
    }
    fn read<'de, D: Deserializer<'de>>(path: &JsonPath, de: D) -> Result<Field, D::Error> {
        FieldSeed { path }.deserialize(de)
    }
}

impl ElementKind for Description {
    type Output = Description;
    fn scratch() -> &'static std::thread::LocalKey<RefCell<Vec<Vec<Description>>>> {
        &DESCRIPTION_SCRATCH
    }
    fn read<'de, D: Deserializer<'de>>(path: &JsonPath, de: D) -> Result<Description, D::Error> {
        DescriptionSeed { path }.deserialize(de)
    }
}

struct Element<'p, K> {
    path: &'p JsonPath<'p>,
    kind: PhantomData<K>,
}

impl<'de, K: ElementKind> DeserializeSeed<'de> for Element<'_, K> {
    type Value = K::Output;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        K::read(self.path, de)
    }
}

/// Reads the next map value as a scalar of type `T`, naming `path` in a type error.
fn next_scalar<'de, 'p, A, T>(map: &mut A, path: &'p JsonPath<'p>) -> Result<T, A::Error>
where
    A: MapAccess<'de>,
    Scalar<'p, T>: DeserializeSeed<'de, Value = T>,
{
    map.next_value_seed(Scalar::new(path))
}

/// A typed scalar (integer, string or boolean) whose type error names its JSON path.
struct Scalar<'p, T> {
    path: &'p JsonPath<'p>,
    kind: PhantomData<T>,
}

impl<'p, T> Scalar<'p, T> {
    fn new(path: &'p JsonPath<'p>) -> Self {
        Scalar {
            path,
            kind: PhantomData,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Scalar<'_, i64> {
    type Value = i64;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<i64, D::Error> {
        de.deserialize_i64(self)
    }
}

impl<'de> Visitor<'de> for Scalar<'_, i64> {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an integer for {}", self.path)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("{}: integer {v} is too large", self.path)))
    }
}

impl<'de> DeserializeSeed<'de> for Scalar<'_, String> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<String, D::Error> {
        de.deserialize_string(self)
    }
}

impl<'de> Visitor<'de> for Scalar<'_, String> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a string for {}", self.path)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

impl<'de> DeserializeSeed<'de> for Scalar<'_, bool> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        de.deserialize_bool(self)
    }
}

impl<'de> Visitor<'de> for Scalar<'_, bool> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a boolean for {}", self.path)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_dump;
    use std::path::Path;

    fn err(text: &str) -> String {
        parse_dump(Path::new("x.json"), text.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn keeps_key_order_and_python_duplicate_semantics() {
        let dump = parse_dump(
            Path::new("x.json"),
            br#"{"b": {"Name": "b", "version_id": 1}, "a": {"version_id": 2, "zz": [1], "version_id": 3}, "b": {"version_id": 9}}"#,
        )
        .unwrap();
        let keys: Vec<_> = dump.sections.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(dump.get("b").unwrap().version_id, Some(9));
        assert_eq!(dump.get("b").unwrap().name, None);
        let a = dump.get("a").unwrap();
        assert_eq!(a.version_id, Some(3));
        assert_eq!(a.keys, ["version_id", "zz"]);
    }

    #[test]
    fn type_errors_name_the_json_path_and_position() {
        let msg = err(
            r#"{"e1000": {"Description": {"name": "e1000", "Fields": [{"field": "a", "size": 4}, {"field": "b", "size": "4"}]}}}"#,
        );
        assert!(msg.starts_with("x.json: "), "{msg}");
        assert!(
            msg.contains(r#"$["e1000"].Description.Fields[1].size"#),
            "{msg}"
        );
        assert!(msg.contains("line 1 column"), "{msg}");
    }

    #[test]
    fn top_level_array_is_rejected() {
        let msg = err("[1, 2]");
        assert!(msg.contains("-dump-vmstate object"), "{msg}");
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let msg = err("{} x");
        assert!(msg.contains("trailing characters"), "{msg}");
    }
}
