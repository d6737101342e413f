//! Entry points of the fuzz targets (`fuzz/`, cargo-fuzz) and of the stable fuzz smoke test
//! (`tests/fuzz_smoke.rs`): each runs one input through the library as the CLI would and
//! throws the result away. Any input is allowed; a panic, a hang or an unbounded allocation
//! is the bug the fuzzers look for. Kept in the library so the targets and the smoke test
//! cannot drift apart, and so an API change breaks them at compile time.

use std::path::Path;

use crate::check::stream::{check, Dest};
use crate::check::{compare_faithful, compare_precise as precise};
use crate::dump::{parse_dump, Dump};
use crate::rename::RenameTable;
use crate::stream::decode::{Decoder, NullSink};
use crate::stream::extract::Extractor;
use crate::stream::input::Input;
use crate::stream::output::StateWriter;

/// `dump_load`: parse a `-dump-vmstate` file and validate it for the layout modes.
pub fn dump_load(data: &[u8]) {
    if let Ok(dump) = parse_dump(Path::new("fuzz.json"), data) {
        let _ = dump.validate_for_layout();
        let _ = dump.records_array_lengths();
    }
}

/// `stream_state`: `analyze -d state -m` (every page decoded) and `analyze -d desc` (the
/// vmdesc found from the end) on one stream.
pub fn stream_state(data: &[u8]) {
    let _ = crate::stream::state_json(Input::from_bytes(data.to_vec()), true);
    let mut sink = NullSink;
    let mut dec = Decoder::new(Input::from_bytes(data.to_vec()), &mut sink);
    let _ = dec.find_vmdesc();
}

/// `stream_extract`: `analyze -x DIR --force` into `dir` (a scratch directory the caller
/// owns; its contents are overwritten).
pub fn stream_extract(data: &[u8], dir: &Path) {
    let Ok(mut ex) = Extractor::new(dir, true) else {
        return;
    };
    ex.reserve("desc.json");
    ex.reserve("state.json");
    let Ok(state) = ex.create(Path::new("state.json")) else {
        return;
    };
    let mut out = std::io::BufWriter::new(state);
    let mut writer = StateWriter::new(Some(&mut out), false).with_extractor(ex);
    {
        let mut dec = Decoder::new(Input::from_bytes(data.to_vec()), &mut writer);
        let _ = dec.run();
    }
}

/// Splits `data` at its first NUL (never valid inside JSON text): SRC and DEST dumps; without
/// a NUL the input is compared with itself.
fn two_dumps(data: &[u8]) -> Option<(Dump, Dump)> {
    let (a, b) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, data),
    };
    let src = parse_dump(Path::new("src.json"), a).ok()?;
    let dest = parse_dump(Path::new("dest.json"), b).ok()?;
    Some((src, dest))
}

/// `compare_precise`: `--precise` (and the default mode) on SRC NUL DEST, both directions.
pub fn compare_precise(data: &[u8]) {
    let Some((src, dest)) = two_dumps(data) else {
        return;
    };
    let renames = RenameTable::builtin();
    for (a, b) in [(&src, &dest), (&dest, &src)] {
        let mut out = Vec::new();
        let _ = precise(a, b, &renames, &mut out);
        let mut out = Vec::new();
        let _ = compare_faithful(a, b, &renames, &mut out);
    }
}

/// `analyze_against`: a be32 length, that many bytes of DEST dump, then the stream; decodes the
/// stream leniently and checks it against the dump, as `analyze STREAM --against DEST`
/// (the decoding is the CLI's own, [`crate::cli::against::decode`]).
pub fn analyze_against(data: &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let len = (u32::from_be_bytes(*len) as usize).min(rest.len());
    let (dump, stream) = rest.split_at(len);
    let Ok(dump) = parse_dump(Path::new("dest.json"), dump) else {
        return;
    };
    let (decoded, _) = crate::cli::against::decode(Input::from_bytes(stream.to_vec()));
    let dests = [Dest::Dump(&dump)];
    let _ = check(&decoded.view(), &dests, &RenameTable::builtin());
}
