//! Helpers of the `stream_*` tests: a builder of hand-made migration streams, fixture
//! gunzipping and running `vmstate-check analyze`.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Byte-level builder of a migration stream (format: shared/docs/migration-stream-format.md).
pub struct StreamBuilder {
    /// Bytes so far.
    pub bytes: Vec<u8>,
    /// vmdesc `devices` entries, added by [`StreamBuilder::full`].
    pub devices: Vec<Value>,
    /// Write section footers.
    pub footers: bool,
}

/// A RAM page record for [`StreamBuilder::ram_pages`].
pub enum Rec<'a> {
    /// ZERO record (block name, offset).
    Zero(&'a str, u64),
    /// PAGE record with the page filled with this byte.
    Page(&'a str, u64, u8),
}

impl StreamBuilder {
    /// Header only.
    pub fn new() -> Self {
        let mut bytes = b"QEVM".to_vec();
        bytes.extend_from_slice(&3u32.to_be_bytes());
        StreamBuilder {
            bytes,
            devices: Vec::new(),
            footers: true,
        }
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }
    fn be16(&mut self, v: u16) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn be32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn be64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn counted(&mut self, s: &str) -> &mut Self {
        self.bytes.push(s.len() as u8);
        self.bytes.extend_from_slice(s.as_bytes());
        self
    }
    fn footer(&mut self, id: u32) {
        if self.footers {
            self.u8(0x7e).be32(id);
        }
    }
    /// Configuration record with optional capabilities subsection.
    pub fn config(mut self, machine: &str, caps: &[&str]) -> Self {
        self.u8(7).be32(machine.len() as u32);
        self.bytes.extend_from_slice(machine.as_bytes());
        if !caps.is_empty() {
            self.u8(5).counted("configuration/capabilities").be32(1);
            self.be32(caps.len() as u32);
            for c in caps {
                self.counted(c);
            }
        }
        self
    }
    /// COMMAND record.
    pub fn command(mut self, cmd: u16, data: &[u8]) -> Self {
        self.u8(8).be16(cmd).be16(data.len() as u16);
        self.bytes.extend_from_slice(data);
        self
    }
    /// PACKAGED command wrapping `inner` (records without header).
    pub fn packaged(self, inner: &[u8]) -> Self {
        let mut s = self.command(7, &(inner.len() as u32).to_be_bytes());
        s.bytes.extend_from_slice(inner);
        s
    }
    /// `ram` START section with MEM_SIZE and the block list, then EOS.
    pub fn ram_start(mut self, id: u32, blocks: &[(&str, u64)]) -> Self {
        self.u8(1).be32(id).counted("ram").be32(0).be32(4);
        let total: u64 = blocks.iter().map(|b| b.1).sum();
        self.be64(total | 0x04);
        for (name, len) in blocks {
            self.counted(name).be64(*len);
        }
        self.be64(0x10);
        self.footer(id);
        self
    }
    /// `ram` PART (or END) section with page records, then EOS.
    pub fn ram_pages(mut self, id: u32, end: bool, recs: &[Rec]) -> Self {
        self.u8(if end { 3 } else { 2 }).be32(id);
        let mut last: Option<&str> = None;
        for r in recs {
            let (name, off, flag) = match r {
                Rec::Zero(n, o) => (*n, *o, 0x02u64),
                Rec::Page(n, o, _) => (*n, *o, 0x08u64),
            };
            if last == Some(name) {
                self.be64(off | flag | 0x20);
            } else {
                self.be64(off | flag).counted(name);
            }
            last = Some(name);
            match r {
                Rec::Zero(..) => {
                    self.u8(0);
                }
                Rec::Page(_, _, b) => self.bytes.extend(std::iter::repeat_n(*b, 4096)),
            }
        }
        self.be64(0x10);
        self.footer(id);
        self
    }
    /// FULL section whose payload is `payload`, described by `fields` (vmdesc field list).
    pub fn full(
        mut self,
        id: u32,
        idstr: &str,
        instance: u32,
        payload: &[u8],
        fields: Value,
    ) -> Self {
        self.u8(4).be32(id).counted(idstr).be32(instance).be32(1);
        self.bytes.extend_from_slice(payload);
        self.footer(id);
        self.devices
            .push(json!({"name": idstr, "instance_id": instance,
            "vmsd_name": idstr, "version": 1, "fields": fields}));
        self
    }
    /// EOF, then the vmdesc if `vmdesc`.
    pub fn finish(mut self, vmdesc: bool) -> Vec<u8> {
        self.u8(0);
        if vmdesc {
            let desc = json!({"page_size": 4096, "devices": self.devices});
            let text = serde_json::to_vec(&desc).expect("json");
            self.u8(6).be32(text.len() as u32);
            self.bytes.extend_from_slice(&text);
        }
        self.bytes
    }
}

impl Default for StreamBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Gunzips `tests/fixtures/streams/NAME.mig.gz` into `dir`; returns the path.
pub fn fixture_stream(dir: &Path, name: &str) -> PathBuf {
    let src = root()
        .join("tests/fixtures/streams")
        .join(format!("{name}.mig.gz"));
    let f = std::fs::File::open(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let mut data = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut data)
        .expect("gunzip fixture");
    let out = dir.join(format!("{name}.mig"));
    std::fs::write(&out, data).expect("write fixture");
    out
}

/// Names (without `.mig.gz`) of every fixture stream.
pub fn fixture_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("tests/fixtures/streams"))
        .expect("fixture dir")
        .filter_map(|e| {
            let n = e.ok()?.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".mig.gz").map(str::to_string)
        })
        .collect();
    v.sort();
    v
}

/// Runs `vmstate-check analyze ARGS`.
pub fn analyze<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_vmstate-check"))
        .arg("analyze")
        .args(args)
        .output()
        .expect("binary runs")
}

/// Runs `vmstate-check analyze ARGS -` with `stdin` piped in.
pub fn analyze_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmstate-check"))
        .arg("analyze")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut si = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let t = std::thread::spawn(move || {
        let _ = si.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = t.join();
    out
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

/// Stdout as a string.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as a string.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An insta snapshot kept in the repository's `snapshots/` folder, named without the module.
pub fn snapshot(name: &str, text: &str) {
    insta::with_settings!({snapshot_path => "../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, text);
    });
}

/// Outline of a state JSON for snapshots: every top-level key with its number of entries,
/// one line each after `indent`.
pub fn outline(v: &Value, indent: &str) -> String {
    let mut s = String::new();
    for (k, e) in v.as_object().expect("object") {
        let n = match e {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 1,
        };
        s.push_str(&format!("{indent}{k}: {n}\n"));
    }
    s
}

/// FNV-1a 64: a stable digest of large outputs for snapshots (no extra crate).
pub fn fnv(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}
