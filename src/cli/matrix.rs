//! Glue of `vmstate-check matrix`: which dumps to pair (same machine type across versions,
//! two folders, or `--all-pairs`), loading them in parallel with each distinct content kept
//! once ([`crate::check::matrix`]), and reporting every pair through [`super::report::finish`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use clap::Args;

use super::CheckOpts;
use crate::check::matrix::{
    all_pairs, folder_pairs, same_machine_pairs, Comparator, Contents, Matrix, Member,
};
use crate::check::{compare_faithful, compare_precise};
use crate::dump::{load_dump, Dump};
use crate::error::{Error, InputError};
use crate::report::{CheckReport, EntityIndex, FindingView, Mode};

/// `matrix --help`: what it does and how to make its input.
pub const LONG_ABOUT: &str = "\
Check the dumps of several QEMU versions in one run. Each dump is compared with every other
dump of the same machine type (vmschkmachine.Name), in both directions; --all-pairs compares
every ordered pair instead. Given two folders (OLD_DIR NEW_DIR), every machine type present
in both is checked both ways, and machine types present in only one folder are reported on
stderr. Files with the machine type and the content of another (aliases such as `pc`) count
once.

Make the input with each QEMU binary, one dump per machine type:
    for m in $(qemu-system-x86_64 -M help | awk 'NR > 1 { print $1 }'); do
        qemu-system-x86_64 -nodefaults -M \"$m\" -dump-vmstate \"qemu-10.0/$m.json\"
    done
Dumps may be gzip- or xz-compressed (recognised by content, not by name). Dumps of one
binary differ only in the machine name, so each distinct content is compared once and the
result reported for every pair.";

/// `matrix --help`: exit codes and examples.
pub const AFTER_HELP: &str = concat!(
    crate::exit_codes_help!(),
    "
The count is summed over all pairs. 2 also for e.g. a folder and a file; 254 also when a
folder holds two different dumps of one machine type, or a dump has no machine name (without
--all-pairs).

Examples:
    vmstate-check matrix qemu-7.2/*.json qemu-10.0/*.json      # each machine type, both ways
    vmstate-check matrix qemu-7.2 qemu-10.0 --precise           # two folders
    vmstate-check matrix a.json b.json c.json --all-pairs       # every ordered pair"
);

/// Arguments of `vmstate-check matrix`.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Two or more -dump-vmstate files, or two folders of them (OLD_DIR NEW_DIR, one dump per
    /// machine type); each file is read once.
    #[arg(required = true, num_args = 2.., value_name = "DUMP.json|DIR")]
    pub dumps: Vec<PathBuf>,
    /// Compare every ordered pair of the dumps, whatever their machine types.
    #[arg(long)]
    pub all_pairs: bool,
    /// Options of the comparison.
    #[command(flatten)]
    pub opts: CheckOpts,
}

/// Runs `matrix`; returns the exit code (counted problems over all pairs, capped).
pub fn run(args: &MatrixArgs) -> Result<u8, Error> {
    let mode = super::mode(&args.opts)?;
    let baseline = args.opts.report.load_baseline()?;
    let renames = super::renames(&args.opts)?;
    let dirs = args.dumps.iter().filter(|p| p.is_dir()).count();
    let folders = match dirs {
        0 => None,
        2 if args.dumps.len() == 2 => Some((&args.dumps[0], &args.dumps[1])),
        _ => {
            return Err(Error::BadArguments(
                "matrix takes two or more dump files, or exactly two folders (OLD_DIR NEW_DIR)"
                    .to_owned(),
            ))
        }
    };
    if folders.is_some() && args.all_pairs {
        return Err(Error::BadArguments(
            "--all-pairs takes dump files, not folders".to_owned(),
        ));
    }
    let (files, split) = match folders {
        Some((old, new)) => {
            let mut files = dumps_in(old)?;
            let split = files.len();
            files.extend(dumps_in(new)?);
            (files, Some(split))
        }
        None => (args.dumps.clone(), None),
    };
    // Like `-s A -d B`: the layout modes refuse a dump with nothing to check.
    let (contents, members) = load_all(&files, mode != Mode::Faithful)?;

    let warn = |text: String| eprintln!("vmstate-check matrix: warning: {text}");
    let pairs = if args.all_pairs {
        all_pairs(members.len())
    } else {
        if let Some(m) = members.iter().find(|m| m.machine.is_none()) {
            return Err(InputError::WrongKind {
                file: m.file.clone(),
                what: "no vmschkmachine.Name: cannot pair it by machine type (use --all-pairs)"
                    .to_owned(),
            }
            .into());
        }
        // Files with the machine type and the content of an earlier one (the aliases `pc`
        // and `q35` that `-M help` lists beside the machine types they stand for) count once.
        let primary: Vec<usize> = (0..members.len())
            .filter(|&i| {
                !members[..i]
                    .iter()
                    .any(|m| m.machine == members[i].machine && m.content == members[i].content)
            })
            .collect();
        match split {
            Some(split) => {
                let old: Vec<usize> = primary.iter().copied().filter(|&i| i < split).collect();
                let new: Vec<usize> = primary.iter().copied().filter(|&i| i >= split).collect();
                for side in [&old, &new] {
                    refuse_duplicate_machines(&members, side)?;
                }
                let (pairs, alone) = folder_pairs(&members, &old, &new);
                for i in alone {
                    let (here, there) = if i < split {
                        (&args.dumps[0], &args.dumps[1])
                    } else {
                        (&args.dumps[1], &args.dumps[0])
                    };
                    warn(format!(
                        "machine type {} is only in {} ({}), not in {}: not checked",
                        members[i].machine.as_deref().unwrap_or_default(),
                        here.display(),
                        members[i].file.display(),
                        there.display()
                    ));
                }
                pairs
            }
            None => {
                let subset: Vec<Member> = primary.iter().map(|&i| members[i].clone()).collect();
                let (pairs, alone) = same_machine_pairs(&subset);
                for (machine, i) in alone {
                    warn(format!(
                        "machine type {machine} has one dump only ({}): not checked",
                        subset[i].file.display()
                    ));
                }
                pairs
                    .into_iter()
                    .map(|(s, d)| (primary[s], primary[d]))
                    .collect()
            }
        }
    };

    let compare: Comparator = match mode {
        Mode::Faithful => compare_faithful,
        Mode::Precise | Mode::Strict => compare_precise,
    };
    let mut matrix = Matrix::new(contents, &members, compare, &renames);
    let (done, failure) = match matrix.run(&pairs) {
        Ok(()) => (pairs.len(), None),
        Err((at, failed)) => (at, Some(failed)),
    };
    // One entity index per distinct SRC content (dumps of one binary share it).
    let mut indexes: std::collections::HashMap<usize, EntityIndex> = Default::default();
    let mut report = |s: usize, d: usize, found: &[crate::check::Diagnostic]| {
        let index = indexes
            .entry(members[s].content)
            .or_insert_with(|| EntityIndex::from_dump(matrix.dump(s)));
        CheckReport {
            src: members[s].file.display().to_string(),
            dest: members[d].file.display().to_string(),
            entities: index.entities(),
            sections_checked: None,
            origin: None,
            findings: found
                .iter()
                .map(|diag| FindingView::new(diag.clone(), mode, index))
                .collect(),
        }
    };
    let mut checks: Vec<CheckReport> = pairs[..done]
        .iter()
        .map(|&(s, d)| report(s, d, &matrix.findings(s, d)))
        .collect();
    let error = failure.map(|failed| {
        // The failing pair's findings before the error, as upstream prints them.
        let (s, d) = pairs[done];
        checks.push(report(s, d, &failed.diagnostics));
        failed.error.into()
    });
    super::report::finish(
        &args.opts.report,
        args.opts.force,
        mode,
        checks,
        baseline.as_ref(),
        error,
        true,
    )
}

/// The dumps of `dir`, sorted by name: its regular files named `*.json`, `*.json.gz` or
/// `*.json.xz` (the name only picks the files; their content decides how they are read).
/// Other files, such as a `VERSION` or `failed.tsv` beside the dumps, and hidden files are
/// left alone.
fn dumps_in(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let read_error = |source| InputError::Read {
        file: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dump = [".json", ".json.gz", ".json.xz"]
            .iter()
            .any(|end| name.ends_with(end));
        if is_dump && !name.starts_with('.') && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(InputError::WrongKind {
            file: dir.to_path_buf(),
            what: "the folder holds no dump (*.json, *.json.gz, *.json.xz)".to_owned(),
        }
        .into());
    }
    Ok(files)
}

/// A folder must hold one dump per machine type (aliases with the same content are already
/// left out).
fn refuse_duplicate_machines(members: &[Member], side: &[usize]) -> Result<(), Error> {
    for (k, &i) in side.iter().enumerate() {
        if let Some(&j) = side[..k]
            .iter()
            .find(|&&j| members[j].machine == members[i].machine)
        {
            return Err(InputError::WrongKind {
                file: members[i].file.clone(),
                what: format!(
                    "machine type {} is also in {}: a folder holds one dump per machine type",
                    members[i].machine.as_deref().unwrap_or_default(),
                    members[j].file.display()
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// Largest decompressed dump read whole into memory (real dumps are about 1 MiB); a larger
/// file is loaded through the streaming loader instead.
const MAX_WHOLE: u64 = 256 << 20;

/// The decompressed bytes of `file`, or `None` when anything is unusual (unreadable, a
/// foreign container, too large ...): the streaming loader then reads it and words the error.
fn read_whole(file: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let handle = std::fs::File::open(file).ok()?;
    let raw = std::io::BufReader::with_capacity(64 * 1024, handle);
    let decompressed = crate::compressed::Decompressed::new(raw).ok()?;
    if !decompressed.compression.is_supported() {
        return None;
    }
    let mut bytes = Vec::new();
    decompressed
        .take(MAX_WHOLE + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= MAX_WHOLE).then_some(bytes)
}

/// Where the top-level `"vmschkmachine"` value lies in a dump's bytes, found by a scan of the
/// top-level object that tracks strings and nesting only. `None` unless the text is an object
/// whose keys are plain (no escapes) and name `vmschkmachine` exactly once: such files are
/// always parsed whole.
fn machine_value_span(bytes: &[u8]) -> Option<std::ops::Range<usize>> {
    fn ws(b: &[u8], mut i: usize) -> usize {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    }
    /// End (one past the closing quote) of the string starting at `i`, and whether it had
    /// escapes.
    fn string_end(b: &[u8], i: usize) -> Option<(usize, bool)> {
        let mut j = i + 1;
        let mut escaped = false;
        while j < b.len() {
            match b[j] {
                b'"' => return Some((j + 1, escaped)),
                b'\\' => {
                    escaped = true;
                    j += 2;
                }
                _ => j += 1,
            }
        }
        None
    }
    /// End of the value starting at `i` (the rest is validated by the real parser).
    fn value_end(b: &[u8], i: usize) -> Option<usize> {
        match *b.get(i)? {
            b'"' => string_end(b, i).map(|(e, _)| e),
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut j = i;
                while j < b.len() {
                    match b[j] {
                        b'"' => {
                            j = string_end(b, j)?.0;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(j + 1);
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                None
            }
            _ => {
                let mut j = i;
                while j < b.len()
                    && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                {
                    j += 1;
                }
                Some(j)
            }
        }
    }
    let mut i = ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(bytes, i + 1);
    let mut found = None;
    while bytes.get(i) == Some(&b'"') {
        let (key_end, escaped) = string_end(bytes, i)?;
        if escaped {
            return None;
        }
        let is_machine = &bytes[i + 1..key_end - 1] == crate::dump::MACHINE_SECTION.as_bytes();
        i = ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        let start = ws(bytes, i + 1);
        let end = value_end(bytes, start)?;
        if is_machine {
            if found.is_some() {
                return None;
            }
            found = Some(start..end);
        }
        i = ws(bytes, end);
        match bytes.get(i) {
            Some(b',') => i = ws(bytes, i + 1),
            Some(b'}') => break,
            _ => return None,
        }
    }
    if bytes.get(i) != Some(&b'}') || ws(bytes, i + 1) != bytes.len() {
        return None;
    }
    found
}

/// The bytes of a dump already parsed, to recognise files that differ from it only inside
/// the `vmschkmachine` value.
struct ParsedBytes {
    bytes: Vec<u8>,
    machine: std::ops::Range<usize>,
    /// Its position in the load order (identifies it to the main thread).
    id: usize,
}

impl ParsedBytes {
    fn same_outside_machine(&self, bytes: &[u8], machine: &std::ops::Range<usize>) -> bool {
        bytes[..machine.start] == self.bytes[..self.machine.start]
            && bytes[machine.end..] == self.bytes[self.machine.end..]
    }
}

/// What a loading thread hands the main thread for file `i`.
enum Loaded {
    /// A parsed tree; `bytes_id`: it is the reference for files equal to it outside the
    /// machine value.
    Tree(Dump, Option<usize>),
    /// Equal, outside the machine value, to the tree with that `bytes_id`; the machine name.
    SameAs(usize, String),
}

/// Loads file `file`: the fast path reads it whole; a file whose bytes equal a parsed one
/// outside the `vmschkmachine` value is not parsed again (only that value is). Anything
/// unusual goes through [`load_dump`], which names the problem.
fn load_one(
    file: &Path,
    validate: bool,
    parsed: &std::sync::Mutex<Vec<std::sync::Arc<ParsedBytes>>>,
    next_id: &AtomicUsize,
) -> Result<Loaded, InputError> {
    let full = || -> Result<Loaded, InputError> {
        let dump = load_dump(file)?;
        if validate {
            dump.validate_for_layout()?;
        }
        Ok(Loaded::Tree(dump, None))
    };
    let Some(bytes) = read_whole(file) else {
        return full();
    };
    let span = machine_value_span(&bytes);
    if let Some(span) = &span {
        let known: Vec<_> = parsed.lock().map(|p| p.clone()).unwrap_or_default();
        if let Some(twin) = known.iter().find(|p| p.same_outside_machine(&bytes, span)) {
            // Parse only the machine value, with the real loader.
            let mut doc = b"{\"vmschkmachine\": ".to_vec();
            doc.extend_from_slice(&bytes[span.clone()]);
            doc.push(b'}');
            if let Ok(machine) = crate::dump::parse_dump(file, &doc) {
                if let Some(name) = machine.machine() {
                    return Ok(Loaded::SameAs(twin.id, name.to_owned()));
                }
            }
        }
    }
    let Ok(dump) = crate::dump::parse_dump(file, &bytes) else {
        return full();
    };
    if validate {
        dump.validate_for_layout()?;
    }
    let id = match span {
        Some(machine) if dump.machine().is_some() => {
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut p) = parsed.lock() {
                p.push(std::sync::Arc::new(ParsedBytes { bytes, machine, id }));
            }
            Some(id)
        }
        _ => None,
    };
    Ok(Loaded::Tree(dump, id))
}

/// Loads every file, on as many threads as there are cores, keeping each distinct content
/// once (a dump whose content is known is dropped right after loading, so memory holds the
/// distinct contents, not every dump). On errors, the first failing file in argument order
/// is reported. `validate`: refuse dumps a layout comparison cannot use
/// ([`Dump::validate_for_layout`]).
fn load_all(files: &[PathBuf], validate: bool) -> Result<(Contents, Vec<Member>), Error> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let next_id = AtomicUsize::new(0);
    let parsed = std::sync::Mutex::new(Vec::new());
    let mut contents = Contents::default();
    let mut members: Vec<Option<Member>> = vec![None; files.len()];
    let mut by_bytes_id: std::collections::HashMap<usize, usize> = Default::default();
    let mut twins: Vec<(usize, usize, String)> = Vec::new();
    let mut first_error: Option<(usize, InputError)> = None;
    std::thread::scope(|scope| {
        // A small bound: loaded trees wait in the channel only briefly.
        let (send, receive) = mpsc::sync_channel::<(usize, Result<Loaded, InputError>)>(workers);
        for _ in 0..workers {
            let send = send.clone();
            let (next, next_id, parsed) = (&next, &next_id, &parsed);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= files.len() {
                    break;
                }
                let loaded = load_one(&files[i], validate, parsed, next_id);
                if send.send((i, loaded)).is_err() {
                    break;
                }
            });
        }
        drop(send);
        for (i, loaded) in receive {
            match loaded {
                Ok(Loaded::Tree(dump, bytes_id)) => {
                    let member = contents.add(dump);
                    if let Some(id) = bytes_id {
                        by_bytes_id.insert(id, member.content);
                    }
                    members[i] = Some(member);
                }
                Ok(Loaded::SameAs(id, machine)) => twins.push((i, id, machine)),
                Err(e) => {
                    if first_error.as_ref().is_none_or(|(at, _)| i < *at) {
                        first_error = Some((i, e));
                    }
                }
            }
        }
    });
    if let Some((_, e)) = first_error {
        return Err(e.into());
    }
    for (i, id, machine) in twins {
        members[i] = Some(Member {
            file: files[i].clone(),
            machine: Some(machine),
            content: by_bytes_id[&id],
        });
    }
    let members = members
        .into_iter()
        .map(|m| m.expect("every file loaded"))
        .collect();
    Ok((contents, members))
}

#[cfg(test)]
mod tests {
    use super::machine_value_span;

    #[test]
    fn finds_the_one_top_level_machine_value() {
        let text = br#" {"a": {"vmschkmachine": 1, "s": "}{\""}, "vmschkmachine" : {"Name": "pc"} , "b": [1, {"c": "]"}]} "#;
        let span = machine_value_span(text).unwrap();
        assert_eq!(&text[span], br#"{"Name": "pc"}"#);
    }

    #[test]
    fn anything_unusual_means_a_full_parse() {
        for text in [
            &br#"{"vmschkmachine": {}, "vmschkmachine": {}}"#[..],
            br#"{"vmschkmach\u0069ne": {}}"#,
            br#"{"a": 1}"#,
            br#"[{"vmschkmachine": {}}]"#,
            br#"{"vmschkmachine": {"Name": "pc"}"#,
            br#"{"vmschkmachine": {"Name": "pc"}} x"#,
        ] {
            assert_eq!(
                machine_value_span(text),
                None,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
