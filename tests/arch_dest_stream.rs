//! `analyze STREAM --against DEST.json --against DEST.mig` on the non-x86 fixtures
//! (tests/fixtures/arch): for every real load in loads.tsv the verdict agrees with real QEMU
//! (a failed load <=> at least one counted finding), and for every real failure a counted
//! finding names the section QEMU's message names. DEST.mig is the loading version's own
//! stream of the same device set, DEST.json its `-dump-vmstate` file.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Load {
    stream: String,
    loaded_by: String,
    arch: String,
    machine: String,
    set: String,
    ok: bool,
    message: String,
}

fn loads() -> Vec<Load> {
    let text = std::fs::read_to_string(root().join("tests/fixtures/arch/loads.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            Load {
                stream: c[0].into(),
                loaded_by: c[1].into(),
                arch: c[2].into(),
                machine: c[3].into(),
                set: c[4].into(),
                ok: c[5] == "ok",
                message: c.get(6).copied().unwrap_or("").into(),
            }
        })
        .collect()
}

fn dump_of(arch_dir: &Path, version: &str, arch: &str, machine: &str) -> PathBuf {
    let base = arch_dir.join(format!("dumps/qemu-{version}-{arch}-{machine}.json"));
    if base.exists() {
        base
    } else {
        base.with_extension("json.xz")
    }
}

/// The section QEMU's error names: the unknown section, else the device whose state failed.
fn failing_section(message: &str) -> Option<String> {
    let quoted_after = |marker: &str| {
        let at = message.find(marker)? + marker.len();
        let rest = &message[at..];
        Some(rest[..rest.find('\'')?].to_owned())
    };
    quoted_after("Unknown savevm section or instance '").or_else(|| quoted_after("of device '"))
}

/// The idstr part of a stream section label `idstr (id)`.
fn idstr(label: &str) -> &str {
    label.rsplit_once(" (").map_or(label, |(i, _)| i)
}

struct Verdict {
    rc: i32,
    counted: Vec<Value>,
}

fn run(load: &Load) -> Verdict {
    let dir = root().join("tests/fixtures/arch");
    let dest_stream = dir.join(format!(
        "streams/qemu-{}-{}-{}.mig.gz",
        load.loaded_by, load.arch, load.set
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_vmstate-check"))
        .arg("analyze")
        .arg(dir.join("streams").join(&load.stream))
        .arg("--against")
        .arg(dump_of(&dir, &load.loaded_by, &load.arch, &load.machine))
        .arg("--against")
        .arg(dest_stream)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let rc = out.status.code().unwrap_or(-1);
    let counted = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v["checks"][0]["diagnostics"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d["counted"] == true)
        .collect();
    Verdict { rc, counted }
}

/// Whether a finding is about `section` (its section label or its wire entity).
fn names(d: &Value, section: &str) -> bool {
    d["section"].as_str().is_some_and(|s| idstr(s) == section)
        || d["vmsd"].as_str() == Some(section)
}

fn judge(load: &Load, v: &Verdict) -> Result<(), String> {
    if v.rc >= 250 {
        return Err(format!("exit {} (input or stream error)", v.rc));
    }
    let kinds: Vec<&str> = v
        .counted
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    match (load.ok, v.counted.is_empty()) {
        (true, true) | (false, false) => {}
        (true, false) => return Err(format!("real load ok, counted {kinds:?}")),
        (false, true) => {
            return Err(format!(
                "real load failed ({}), nothing counted",
                load.message
            ))
        }
    }
    if !load.ok {
        let section = failing_section(&load.message)
            .ok_or_else(|| format!("no section in QEMU's message {:?}", load.message))?;
        if !v.counted.iter().any(|d| names(d, &section)) {
            return Err(format!(
                "QEMU failed at '{section}', counted findings name other sections: {kinds:?}"
            ));
        }
    }
    Ok(())
}

#[test]
fn every_arch_load_agrees_with_real_qemu() {
    let mut failures = Vec::new();
    let mut agreed = 0;
    // Two runs at a time (each decompresses an xz dump and two streams).
    let all = loads();
    let verdicts: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let half = all.len().div_ceil(2);
        let workers: Vec<_> = all
            .chunks(half.max(1))
            .map(|part| {
                scope.spawn(move || part.iter().map(|l| judge(l, &run(l))).collect::<Vec<_>>())
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    for (load, verdict) in all.iter().zip(verdicts) {
        let label = format!("{} into {}", load.stream, load.loaded_by);
        match verdict {
            Ok(()) => agreed += 1,
            Err(e) => failures.push(format!("{label}: {e}")),
        }
    }
    println!(
        "{agreed} of {} loads agree with real QEMU, {} disagree",
        all.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(agreed >= 84, "only {agreed} loads checked");
}

#[test]
fn failing_sections_are_read_from_qemu_messages() {
    assert_eq!(
        failing_section(
            "qemu-system-ppc64: Unknown savevm section or instance 'icp/server' 0. Make sure"
        ),
        Some("icp/server".into())
    );
    assert_eq!(
        failing_section("x: Unknown ramblock \"/rom@etc/acpi/tables\", cannot accept migration | x: error while loading state for instance 0x0 of device 'ram'"),
        Some("ram".into())
    );
    assert_eq!(idstr("cpu/slb (8)"), "cpu/slb");
}

/// A destination given only as a stream (no dump) still finds the real failures.
#[test]
fn a_destination_stream_alone_finds_the_cpu_register_list() {
    let dir = root().join("tests/fixtures/arch/streams");
    let out = Command::new(env!("CARGO_BIN_EXE_vmstate-check"))
        .arg("analyze")
        .arg(dir.join("qemu-10.0-aarch64-none.mig.gz"))
        .arg("--against")
        .arg(dir.join("qemu-7.2-aarch64-none.mig.gz"))
        .args(["--color", "never"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("error[cpu_register_list_mismatch]: \"cpu (6)\": field \"cpreg_vmstate_array_len\": SRC's stream sends 274, DEST's own stream (its cpu section) allows at most 258"),
        "{text}"
    );
}
