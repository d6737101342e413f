//! Release matrices: which dumps to compare with which, and comparing each distinct content
//! once.
//!
//! QEMU's `-dump-vmstate` lists every device class the binary knows, whatever machine is
//! selected (`-M` only changes the `vmschkmachine` entry: softmmu/vl.c calls
//! `dump_vmstate_json_to_file()` on the class list, migration/savevm.c), so the 50-odd dumps
//! of one binary share one content. [`Contents`] keeps one tree per distinct content (the
//! sections minus `vmschkmachine`, in order, plus where `vmschkmachine` sits); a pair of
//! dumps is compared once per pair of contents and the result is reused for every pair of
//! files with those contents, with only the machine-type finding made for each pair.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use super::{Diagnostic, Finding};
use crate::dump::{Dump, Section, MACHINE_SECTION};
use crate::error::InputError;

/// A comparator: [`super::compare_faithful`] or [`super::compare_precise`].
pub type Comparator =
    fn(&Dump, &Dump, &crate::rename::RenameTable, &mut Vec<Diagnostic>) -> Result<(), InputError>;

/// One dump of the matrix: its file, its machine type and which distinct content it has.
#[derive(Debug, Clone)]
pub struct Member {
    /// The file named on the command line (or found in a folder).
    pub file: PathBuf,
    /// `vmschkmachine.Name`, when the dump has one.
    pub machine: Option<String>,
    /// Index of its content in [`Contents`].
    pub content: usize,
}

/// The distinct contents of the loaded dumps, one tree each.
#[derive(Default)]
pub struct Contents {
    trees: Vec<Dump>,
    /// Whether content `i` can be shared (it has a `vmschkmachine` entry with a name); other
    /// dumps keep a content of their own and are compared as they are.
    shared: Vec<bool>,
    by_hash: HashMap<u64, Vec<usize>>,
}

/// Machine names put into the two trees while a pair of contents is compared, so that the
/// machine-type finding appears at its place and can be rewritten for each pair of files.
const SRC_PLACEHOLDER: &str = "\u{0}vmstate-check: source machine";
const DEST_PLACEHOLDER: &str = "\u{0}vmstate-check: destination machine";

fn machine_index(dump: &Dump) -> Option<usize> {
    dump.sections.iter().position(|s| s.key == MACHINE_SECTION)
}

/// Whether two dumps have the same content: the same sections minus `vmschkmachine`, in the
/// same order, with `vmschkmachine` at the same place.
fn same_content(a: &Dump, b: &Dump) -> bool {
    fn rest(d: &Dump) -> impl Iterator<Item = &Section> {
        d.sections.iter().filter(|s| s.key != MACHINE_SECTION)
    }
    machine_index(a) == machine_index(b) && rest(a).eq(rest(b))
}

/// A hash of what [`same_content`] compares.
fn content_hash(dump: &Dump) -> u64 {
    let mut h = DefaultHasher::new();
    machine_index(dump).hash(&mut h);
    for s in dump.sections.iter().filter(|s| s.key != MACHINE_SECTION) {
        s.hash(&mut h);
    }
    h.finish()
}

impl Contents {
    /// Adds a loaded dump; returns it as a [`Member`]. A dump whose content is already known
    /// is dropped (only its file and machine name are kept).
    pub fn add(&mut self, dump: Dump) -> Member {
        let machine = dump.machine().map(str::to_owned);
        let file = dump.file.clone();
        let shareable = machine.is_some();
        if shareable {
            let hash = content_hash(&dump);
            let candidates = self.by_hash.entry(hash).or_default();
            if let Some(&found) = candidates
                .iter()
                .find(|&&i| same_content(&self.trees[i], &dump))
            {
                return Member {
                    file,
                    machine,
                    content: found,
                };
            }
            candidates.push(self.trees.len());
        }
        self.trees.push(dump);
        self.shared.push(shareable);
        Member {
            file,
            machine,
            content: self.trees.len() - 1,
        }
    }

    /// How many distinct contents there are.
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    /// Whether no dump was added.
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }

    fn set_machine(&mut self, content: usize, name: &str) {
        if let Some(s) = self.trees[content]
            .sections
            .iter_mut()
            .find(|s| s.key == MACHINE_SECTION)
        {
            s.name = Some(name.to_owned());
        }
    }
}

/// The findings of one pair of contents, with the machine-type finding (if the dumps have one)
/// standing at its place, to be rewritten for each pair of files.
struct ContentResult {
    diagnostics: Vec<Diagnostic>,
    /// Index of the placeholder machine-type finding in `diagnostics`.
    machine_at: Option<usize>,
}

/// The findings of one pair of files.
pub enum PairFindings<'a> {
    /// Shared with every other pair of the same contents (same machine type on both sides,
    /// or dumps compared as they are).
    Shared(&'a [Diagnostic]),
    /// Rewritten for this pair (the machine types differ).
    Own(Vec<Diagnostic>),
}

impl std::ops::Deref for PairFindings<'_> {
    type Target = [Diagnostic];
    fn deref(&self) -> &[Diagnostic] {
        match self {
            PairFindings::Shared(d) => d,
            PairFindings::Own(d) => d,
        }
    }
}

/// Compares pairs of members, each pair of contents once.
pub struct Matrix<'a> {
    contents: Contents,
    members: &'a [Member],
    compare: Comparator,
    renames: &'a crate::rename::RenameTable,
    /// Per pair of shared contents: the findings with the placeholder machine finding.
    by_contents: HashMap<(usize, usize), ContentResult>,
    /// Per pair of members (not contents) compared as they are, because at least one of the
    /// two has no machine name to rewrite.
    as_is: HashMap<(usize, usize), Vec<Diagnostic>>,
    /// Per pair of shared contents: the findings without the machine finding (same machines).
    same_machine: HashMap<(usize, usize), Vec<Diagnostic>>,
}

/// A comparison that stopped on an input error: the findings made before it and the error.
pub struct Failed {
    /// Findings made before the error (upstream prints them before its traceback).
    pub diagnostics: Vec<Diagnostic>,
    /// The error, naming the pair's own file.
    pub error: InputError,
}

impl<'a> Matrix<'a> {
    /// A matrix over `members`, whose contents are in `contents`.
    pub fn new(
        contents: Contents,
        members: &'a [Member],
        compare: Comparator,
        renames: &'a crate::rename::RenameTable,
    ) -> Self {
        Matrix {
            contents,
            members,
            compare,
            renames,
            by_contents: HashMap::new(),
            as_is: HashMap::new(),
            same_machine: HashMap::new(),
        }
    }

    /// The loaded tree of member `i` (shared by every member with the same content).
    pub fn dump(&self, i: usize) -> &Dump {
        &self.contents.trees[self.members[i].content]
    }

    /// How many distinct pairs of contents were compared so far.
    pub fn comparisons(&self) -> usize {
        self.by_contents.len() + self.as_is.len()
    }

    /// Compares every pair (indices into the members) in turn, the findings of pair `i` in
    /// `out[i]`; stops at the first input error, returned with the findings made before it
    /// (the error is re-derived from the pair's own files so that it names them).
    pub fn run(&mut self, pairs: &[(usize, usize)]) -> Result<(), (usize, Failed)> {
        for (at, &(s, d)) in pairs.iter().enumerate() {
            self.prepare(s, d).map_err(|f| (at, f))?;
        }
        Ok(())
    }

    /// Makes sure the findings of pair (s, d) are computed.
    fn prepare(&mut self, s: usize, d: usize) -> Result<(), Failed> {
        let (ms, md) = (&self.members[s], &self.members[d]);
        let key = (ms.content, md.content);
        let shared = self.contents.shared[ms.content] && self.contents.shared[md.content];
        if !shared {
            if self.as_is.contains_key(&(s, d)) {
                return Ok(());
            }
            let (src_machine, dest_machine) = (ms.machine.clone(), md.machine.clone());
            if let Some(m) = &src_machine {
                self.contents.set_machine(key.0, m);
            }
            if let Some(m) = &dest_machine {
                self.contents.set_machine(key.1, m);
            }
            let mut out = Vec::new();
            let r = self.compare_contents(key, &mut out);
            if r.is_err() {
                return Err(self.direct(s, d));
            }
            self.as_is.insert((s, d), out);
            return Ok(());
        }
        if !self.by_contents.contains_key(&key) {
            let mut diagnostics = Vec::new();
            let outcome = if key.0 == key.1 {
                // One tree on both sides: compare it with a copy that has the other name.
                let mut dest = self.contents.trees[key.1].clone();
                self.contents.set_machine(key.0, SRC_PLACEHOLDER);
                if let Some(sec) = dest.sections.iter_mut().find(|x| x.key == MACHINE_SECTION) {
                    sec.name = Some(DEST_PLACEHOLDER.to_owned());
                }
                (self.compare)(
                    &self.contents.trees[key.0],
                    &dest,
                    self.renames,
                    &mut diagnostics,
                )
            } else {
                self.contents.set_machine(key.0, SRC_PLACEHOLDER);
                self.contents.set_machine(key.1, DEST_PLACEHOLDER);
                self.compare_contents(key, &mut diagnostics)
            };
            if outcome.is_err() {
                return Err(self.direct(s, d));
            }
            let machine_at = diagnostics.iter().position(|x| {
                matches!(&x.finding, Finding::MachineTypeMismatch { src, dest }
                    if src == SRC_PLACEHOLDER && dest == DEST_PLACEHOLDER)
            });
            let mut without = diagnostics.clone();
            if let Some(at) = machine_at {
                without.remove(at);
            }
            self.same_machine.insert(key, without);
            self.by_contents.insert(
                key,
                ContentResult {
                    diagnostics,
                    machine_at,
                },
            );
        }
        Ok(())
    }

    fn compare_contents(
        &self,
        key: (usize, usize),
        out: &mut Vec<Diagnostic>,
    ) -> Result<(), InputError> {
        (self.compare)(
            &self.contents.trees[key.0],
            &self.contents.trees[key.1],
            self.renames,
            out,
        )
    }

    /// Loads the pair's own files again and compares them directly: the error path, so that
    /// the error and the findings before it are exactly those of these two files.
    fn direct(&self, s: usize, d: usize) -> Failed {
        let load = |m: &Member| crate::dump::load_dump(&m.file);
        let (src, dest) = match (load(&self.members[s]), load(&self.members[d])) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                return Failed {
                    diagnostics: Vec::new(),
                    error: e,
                }
            }
        };
        let mut diagnostics = Vec::new();
        match (self.compare)(&src, &dest, self.renames, &mut diagnostics) {
            Err(error) => Failed { diagnostics, error },
            // Cannot happen (the contents are equal); keep the findings and say so plainly.
            Ok(()) => Failed {
                diagnostics,
                error: InputError::WrongKind {
                    file: self.members[s].file.clone(),
                    what: "the comparison failed on shared content but not on the file itself"
                        .to_owned(),
                },
            },
        }
    }

    /// The findings of pair (s, d), which [`Matrix::run`] has computed.
    pub fn findings(&self, s: usize, d: usize) -> PairFindings<'_> {
        let (ms, md) = (&self.members[s], &self.members[d]);
        let key = (ms.content, md.content);
        if let Some(found) = self.as_is.get(&(s, d)) {
            return PairFindings::Shared(found);
        }
        let result = &self.by_contents[&key];
        let (Some(at), Some(src), Some(dest)) = (result.machine_at, &ms.machine, &md.machine)
        else {
            return PairFindings::Shared(&result.diagnostics);
        };
        if src == dest {
            return PairFindings::Shared(&self.same_machine[&key]);
        }
        let mut own = result.diagnostics.clone();
        own[at].finding = Finding::MachineTypeMismatch {
            src: src.clone(),
            dest: dest.clone(),
        };
        PairFindings::Own(own)
    }
}

/// Every ordered pair of distinct positions `0..n` (`--all-pairs`): (0,1), (0,2) ... (1,0) ...
pub fn all_pairs(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .collect()
}

/// A machine type with a single dump, and that dump's position.
pub type Unpaired = (String, usize);

/// Pairs of dumps of the same machine type, every ordered pair within a machine type (both
/// directions), in argument order. Returns the pairs and the machine types that have a single
/// dump (nothing to compare with), with that dump's position. Members without a machine name
/// are not paired (the caller refuses them first).
pub fn same_machine_pairs(members: &[Member]) -> (Vec<(usize, usize)>, Vec<Unpaired>) {
    let mut pairs = Vec::new();
    let mut alone = Vec::new();
    for (i, a) in members.iter().enumerate() {
        let Some(machine) = &a.machine else { continue };
        let mut partners = 0;
        for (j, b) in members.iter().enumerate() {
            if i != j && b.machine.as_ref() == Some(machine) {
                pairs.push((i, j));
                partners += 1;
            }
        }
        if partners == 0 {
            alone.push((machine.clone(), i));
        }
    }
    (pairs, alone)
}

/// Pairs between two folders: for every machine type in both (in the order of `old`), old →
/// new then new → old. `old` and `new` are positions into the members. Returns the pairs and
/// the positions of the dumps whose machine type is only in one folder.
pub fn folder_pairs(
    members: &[Member],
    old: &[usize],
    new: &[usize],
) -> (Vec<(usize, usize)>, Vec<usize>) {
    let find = |side: &[usize], machine: &Option<String>| {
        side.iter()
            .copied()
            .find(|&i| members[i].machine == *machine)
    };
    let mut pairs = Vec::new();
    let mut alone = Vec::new();
    for &o in old {
        match find(new, &members[o].machine) {
            Some(n) => {
                pairs.push((o, n));
                pairs.push((n, o));
            }
            None => alone.push(o),
        }
    }
    for &n in new {
        if find(old, &members[n].machine).is_none() {
            alone.push(n);
        }
    }
    (pairs, alone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::parse_dump;
    use std::path::Path;

    fn dump(name: &str, machine: &str, body: &str) -> Dump {
        let text = format!(r#"{{"vmschkmachine": {{"Name": "{machine}"}}, {body}}}"#);
        parse_dump(Path::new(name), text.as_bytes()).unwrap()
    }

    fn member(m: Option<&str>) -> Member {
        Member {
            file: PathBuf::from("x"),
            machine: m.map(str::to_owned),
            content: 0,
        }
    }

    #[test]
    fn equal_contents_are_kept_once_whatever_the_machine() {
        let body = r#""a": {"Name": "a", "version_id": 1}"#;
        let mut c = Contents::default();
        let a = c.add(dump("a.json", "pc-q35-7.2", body));
        let b = c.add(dump("b.json", "pc-i440fx-7.2", body));
        let other = c.add(dump(
            "c.json",
            "pc",
            r#""a": {"Name": "a", "version_id": 2}"#,
        ));
        assert_eq!(a.content, b.content);
        assert_ne!(a.content, other.content);
        assert_eq!(c.len(), 2);
        assert_eq!(b.machine.as_deref(), Some("pc-i440fx-7.2"));
    }

    #[test]
    fn key_order_is_content() {
        let mut c = Contents::default();
        let a = c.add(dump("a", "m", r#""a": {}, "b": {}"#));
        let b = c.add(dump("b", "m", r#""b": {}, "a": {}"#));
        assert_ne!(a.content, b.content, "upstream reports in key order");
    }

    #[test]
    fn pairing_by_machine_and_by_folder() {
        let members = [
            member(Some("q35")),
            member(Some("pc")),
            member(Some("q35")),
            member(Some("isapc")),
            member(Some("pc")),
        ];
        let (pairs, alone) = same_machine_pairs(&members);
        assert_eq!(pairs, [(0, 2), (1, 4), (2, 0), (4, 1)]);
        assert_eq!(alone, [("isapc".to_owned(), 3)]);
        let (pairs, alone) = folder_pairs(&members, &[0, 1, 3], &[2, 4]);
        assert_eq!(pairs, [(0, 2), (2, 0), (1, 4), (4, 1)]);
        assert_eq!(alone, [3]);
        assert_eq!(
            all_pairs(3),
            [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
        );
    }
}
