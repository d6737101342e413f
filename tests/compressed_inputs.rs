//! Compressed inputs (gzip, xz: recognised by magic, not by name) read exactly like the plain
//! files, and files of the wrong kind are named (a stream given to the checker, a dump given to
//! `analyze`, zstd/bzip2/zip containers, a gzip file that cannot be decompressed).

mod common;
mod stream_support;

use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use stream_support::analyze_stdin;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The plain bytes of a fixture stream (stored gzipped).
fn stream_bytes(name: &str) -> Vec<u8> {
    let f = std::fs::File::open(fixture(&format!("streams/{name}.mig.gz"))).unwrap();
    let mut data = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut data)
        .unwrap();
    data
}

#[test]
fn compressed_dumps_check_exactly_like_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let old = fixture("dumps/qemu-7.2-pc-q35-7.2.json");
    let new = fixture("dumps/qemu-10.0-pc-q35-7.2.json");
    let old_text = std::fs::read(&old).unwrap();
    let new_text = std::fs::read(&new).unwrap();
    // Names that say nothing (or lie) about the content: the magic decides.
    let old_xz = write(dir.path(), "old.json", &xz(&old_text));
    let new_gz = write(dir.path(), "new.dump", &gzip(&new_text));
    for extra in [&[][..], &["--precise"], &["--format", "json"]] {
        let plain = check_transcript(&old, &new, extra);
        let packed = check_transcript(&old_xz, &new_gz, extra);
        // JSON names the files; everything else must be identical.
        let names = |t: String| {
            t.replace(old_xz.to_str().unwrap(), "OLD")
                .replace(new_gz.to_str().unwrap(), "NEW")
                .replace(old.to_str().unwrap(), "OLD")
                .replace(new.to_str().unwrap(), "NEW")
        };
        assert_eq!(plain.0, packed.0, "{extra:?}");
        assert_eq!(names(plain.1), names(packed.1), "{extra:?}");
    }
    assert_eq!(check_transcript(&old_xz, &new_gz, &[]).0, 12);
}

#[test]
fn compressed_streams_decode_exactly_like_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = stream_bytes("qemu-10.0-q35");
    let plain = write(dir.path(), "q35.mig", &bytes);
    let xz_file = write(dir.path(), "q35.bin", &xz(&bytes));
    let gz_file = fixture("streams/qemu-10.0-q35.mig.gz");
    let dump = fixture("dumps/qemu-10.0-pc-q35-7.2.json");
    for args in [
        vec!["analyze"],
        vec!["analyze", "--dump", "desc"],
        vec!["analyze", "--memory"],
        vec!["analyze", "--against", dump.to_str().unwrap()],
    ] {
        let run_on = |file: &Path| {
            let mut a: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
            a.push(file.as_os_str());
            run(a)
        };
        let want = run_on(&plain);
        for file in [&xz_file, &gz_file] {
            let got = run_on(file);
            assert_eq!(got.status.code(), want.status.code(), "{args:?} {file:?}");
            let label = |o: &std::process::Output, f: &Path| {
                String::from_utf8_lossy(&o.stdout).replace(f.to_str().unwrap(), "FILE")
            };
            assert_eq!(label(&got, file), label(&want, &plain), "{args:?} {file:?}");
            assert!(
                got.stderr.is_empty(),
                "{}",
                String::from_utf8_lossy(&got.stderr)
            );
        }
    }
    // From a pipe too (the decompressor is a pipe-like input there as well).
    let want = run(["analyze".as_ref(), plain.as_os_str()]);
    let got = analyze_stdin(&[], &xz(&bytes));
    assert_eq!(got.status.code(), Some(0));
    assert_eq!(got.stdout, want.stdout);
    let got = analyze_stdin(&[], &gzip(&bytes));
    assert_eq!(got.stdout, want.stdout);
}

#[test]
fn mapped_ram_needs_a_plain_file_and_says_so() {
    // mapped-ram needs random access, which a decompressor cannot give: one clear line.
    let dir = tempfile::tempdir().unwrap();
    let gz = fixture("streams/qemu-10.0-q35-mapped-ram.mig.gz");
    let out = run(["analyze".as_ref(), gz.as_os_str()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(253), "{err}");
    assert!(err.contains("random access"), "{err}");
    drop(dir);
}

#[test]
fn a_dump_given_to_analyze_is_named() {
    // Exit 253 like any other input that is not a decodable stream, with the reason named.
    let dump = fixture("dumps/qemu-7.2-pc-q35-7.2.json");
    let out = run(["analyze".as_ref(), dump.as_os_str()]);
    assert_one_line_error(
        &out,
        253,
        &[
            dump.to_str().unwrap(),
            "this looks like a -dump-vmstate file, not a migration stream",
        ],
    );
    // Compressed, and on standard input, the same.
    let dir = tempfile::tempdir().unwrap();
    let xz_dump = write(dir.path(), "d.xz", &xz(&std::fs::read(&dump).unwrap()));
    let out = run(["analyze".as_ref(), xz_dump.as_os_str()]);
    assert_one_line_error(&out, 253, &["this looks like a -dump-vmstate file"]);
    let out = analyze_stdin(&[], &std::fs::read(&dump).unwrap());
    assert_one_line_error(&out, 253, &["this looks like a -dump-vmstate file"]);
}

#[test]
fn a_stream_given_to_the_checker_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let stream = write(dir.path(), "vm.json", &stream_bytes("qemu-7.2-q35"));
    let dump = fixture("dumps/qemu-10.0-pc-q35-7.2.json");
    let msg = "this looks like a migration stream (QEVM magic), not a -dump-vmstate file";
    for file in [stream.clone(), fixture("streams/qemu-7.2-q35.mig.gz")] {
        let out = run([
            "-s".as_ref(),
            file.as_os_str(),
            "-d".as_ref(),
            dump.as_os_str(),
        ]);
        assert_one_line_error(&out, 254, &[file.to_str().unwrap(), msg]);
    }
    // analyze --against takes a destination stream as well as a dump (told apart by content):
    // a stream against itself is clean.
    let out = run([
        "analyze".as_ref(),
        "--against".as_ref(),
        stream.as_os_str(),
        stream.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn foreign_containers_are_named_for_dumps_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    let dump = fixture("dumps/qemu-10.0-pc-q35-7.2.json");
    for (name, head) in [
        ("zstd", &[0x28u8, 0xb5, 0x2f, 0xfd, 0x04, 0x58][..]),
        ("bzip2", b"BZh91AY&SY"),
        ("zip archive", b"PK\x03\x04\x14\x00\x00\x00"),
    ] {
        let mut bytes = head.to_vec();
        bytes.extend([0u8; 64]);
        let file = write(dir.path(), "input.json", &bytes);
        let want = format!("this is a {name} file; decompress it first");
        let out = run([
            "-s".as_ref(),
            file.as_os_str(),
            "-d".as_ref(),
            dump.as_os_str(),
        ]);
        assert_one_line_error(&out, 254, &[file.to_str().unwrap(), &want]);
        let out = run(["analyze".as_ref(), file.as_os_str()]);
        assert_one_line_error(&out, 253, &[&want]);
    }
}

#[test]
fn damaged_gzip_and_xz_files_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let dump = fixture("dumps/qemu-10.0-pc-q35-7.2.json");
    let text = std::fs::read(&dump).unwrap();
    for (name, packed) in [("a gzip", gzip(&text)), ("an xz", xz(&text))] {
        // Cut in the middle: the decompressor fails before the JSON ends.
        let cut = write(dir.path(), "cut", &packed[..packed.len() / 2]);
        let out = run([
            "-s".as_ref(),
            cut.as_os_str(),
            "-d".as_ref(),
            dump.as_os_str(),
        ]);
        assert_one_line_error(
            &out,
            254,
            &[&format!(
                "this is {name} file, but it cannot be decompressed"
            )],
        );
        // A damaged header, the magic intact: gzip reserved flag bits set (RFC 1952 says
        // reject), xz stream flags that no longer match their CRC32.
        let mut bad = packed.clone();
        if name == "a gzip" {
            bad[3] |= 0xe0;
        } else {
            bad[7] ^= 0xff;
        }
        let bad = write(dir.path(), "bad", &bad);
        let out = run([
            "-s".as_ref(),
            bad.as_os_str(),
            "-d".as_ref(),
            dump.as_os_str(),
        ]);
        assert_one_line_error(&out, 254, &[&format!("this is {name} file")]);
    }
    let bytes = stream_bytes("qemu-10.0-q35");
    let packed = gzip(&bytes);
    let cut = write(dir.path(), "cut.mig", &packed[..packed.len() / 2]);
    let out = run(["analyze".as_ref(), cut.as_os_str()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(253), "{err}");
    assert!(
        err.contains("this is a gzip file, but it cannot be decompressed"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
