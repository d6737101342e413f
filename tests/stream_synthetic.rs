//! `vmstate-check analyze` on hand-built streams: every record kind, stdin, missing vmdesc,
//! footers, --memory, --extract with hostile block names.

mod stream_support;

use serde_json::{json, Value};
use stream_support::*;

fn sample() -> StreamBuilder {
    StreamBuilder::new()
        .config("pc-q35-7.2", &[])
        .command(1, &[])
        .command(2, &1u32.to_be_bytes())
        .ram_start(1, &[("pc.ram", 0x4000), ("/rom@etc/acpi/tables", 0x1000)])
        .ram_pages(
            1,
            false,
            &[
                Rec::Zero("pc.ram", 0),
                Rec::Page("pc.ram", 0x1000, 0xab),
                Rec::Zero("/rom@etc/acpi/tables", 0),
            ],
        )
        .command(11, &[])
        .ram_pages(1, true, &[Rec::Page("pc.ram", 0x3000, 0x01)])
        .full(
            2,
            "timer",
            0,
            &[0, 0, 0, 0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xfe, 1],
            json!([
                {"name": "ticks", "type": "uint64", "size": 8},
                {"name": "neg", "type": "int32", "size": 4},
                {"name": "on", "type": "bool", "size": 1}
            ]),
        )
}

const SAMPLE_STATE: &str = r#"{
    "ram (1)": {
        "section sizes": {
            "pc.ram": "0x0000000000004000",
            "/rom@etc/acpi/tables": "0x0000000000001000"
        }
    },
    "timer (2)": {
        "ticks": "0x0000000000000005",
        "neg": "0xfffffffe (-2)",
        "on": true
    }
}
"#;

#[test]
fn state_of_a_hand_built_stream() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "s.mig", &sample().finish(true));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), SAMPLE_STATE);
    assert_eq!(stderr(&o), "");
}

#[test]
fn stdin_gives_the_same_output_as_a_file() {
    let o = analyze_stdin(&[], &sample().finish(true));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), SAMPLE_STATE);
    let o = analyze_stdin(&["--dump", "desc"], &sample().finish(true));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["devices"][0]["name"], "timer");
}

#[test]
fn footers_are_optional() {
    let mut b = sample();
    b.footers = false;
    let dir = tempfile::tempdir().unwrap();
    // Rebuild without footers from the start.
    let mut s = StreamBuilder::new();
    s.footers = false;
    let s = s
        .ram_start(1, &[("pc.ram", 0x4000), ("/rom@etc/acpi/tables", 0x1000)])
        .full(
            2,
            "timer",
            0,
            &[7],
            json!([{"name": "on", "type": "uint8", "size": 1}]),
        );
    let f = write(dir.path(), "nf.mig", &s.finish(true));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("\"on\": \"0x07\""));
}

#[test]
fn mismatched_footer_is_an_error_with_offset_and_section() {
    let mut bytes = sample().finish(true);
    // The timer footer is the last 5 bytes before EOF + vmdesc; find "7e 00 00 00 02".
    let pos = bytes
        .windows(5)
        .rposition(|w| w == [0x7e, 0, 0, 0, 2])
        .unwrap();
    bytes[pos + 4] = 9;
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "bad.mig", &bytes);
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    let err = stderr(&o);
    assert!(err.contains(&format!("offset {pos} ")), "{err}");
    assert!(err.contains("section 'timer (2)'"), "{err}");
    assert!(err.contains("footer id 9"), "{err}");
    // What was decoded is still printed, as valid JSON.
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v.get("timer (2)").is_some());
}

#[test]
fn without_vmdesc_ram_is_decoded_and_the_first_device_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "nodesc.mig", &sample().finish(false));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    let err = stderr(&o);
    assert!(err.contains("section 'timer (2)'"), "{err}");
    assert!(err.contains("no vmdesc"), "{err}");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v["ram (1)"]["section sizes"]["pc.ram"],
        "0x0000000000004000"
    );
    // Same on a pipe.
    let o = analyze_stdin(&[], &sample().finish(false));
    assert_eq!(o.status.code(), Some(253));
    assert!(stderr(&o).contains("section 'timer (2)'"));
    // --dump desc says there is none.
    let o = analyze(["--dump", "desc", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(253));
    assert!(stderr(&o).contains("no vmdesc"));
}

#[test]
fn memory_lists_every_page_record() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "m.mig", &sample().finish(true));
    let o = analyze(["-m", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let mem = v["ram (1)"]["memory"].as_object().unwrap();
    let keys: Vec<&str> = mem.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "pc.ram (0x0000000000000000)",
            "pc.ram (0x0000000000001000)",
            "/rom@etc/acpi/tables (0x0000000000000000)",
            "pc.ram (0x0000000000003000)"
        ]
    );
    assert_eq!(mem["pc.ram (0x0000000000000000)"], "Filled with 0x00");
    let page = mem["pc.ram (0x0000000000001000)"].as_str().unwrap();
    assert_eq!(page.len(), 4096 * 3 - 1);
    assert!(page.split(' ').all(|b| b == "ab"));
    // Device sections still follow the RAM entry.
    assert_eq!(v["timer (2)"]["on"], true);
}

#[test]
fn resent_pages_get_distinct_keys() {
    let s = StreamBuilder::new()
        .ram_start(1, &[("pc.ram", 0x2000)])
        .ram_pages(1, false, &[Rec::Page("pc.ram", 0x1000, 1)])
        .ram_pages(1, true, &[Rec::Page("pc.ram", 0x1000, 2)]);
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "r.mig", &s.finish(true));
    let o = analyze(["-m", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let mem = v["ram (1)"]["memory"].as_object().unwrap();
    assert!(mem["pc.ram (0x0000000000001000)"]
        .as_str()
        .unwrap()
        .starts_with("01 01"));
    assert!(mem["pc.ram (0x0000000000001000) (copy 2)"]
        .as_str()
        .unwrap()
        .starts_with("02 02"));
}

#[test]
fn commands_and_packaged_nested_stream() {
    let inner = StreamBuilder::new().full(
        5,
        "dev",
        0,
        &[0x12, 0x34],
        json!([{"name": "x", "type": "uint16", "size": 2}]),
    );
    let devices = inner.devices.clone();
    let inner_bytes = inner.bytes[8..].to_vec(); // records only, no header
    let mut s = StreamBuilder::new()
        .config("pc-q35-7.2", &[])
        .command(1, &[])
        .command(2, &1u32.to_be_bytes())
        .command(3, &[0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x10, 0])
        .ram_start(1, &[("pc.ram", 0x1000)])
        .packaged(&inner_bytes)
        .command(4, &[]);
    s.devices = devices;
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "p.mig", &s.finish(true));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["dev (5)"]["x"], "0x1234");
}

#[test]
fn unknown_command_and_record_type_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "c.mig",
        &StreamBuilder::new().command(12, &[]).finish(true),
    );
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    assert!(stderr(&o).contains("offset 8 (0x8)"), "{}", stderr(&o));
    assert!(stderr(&o).contains("unknown command 12"), "{}", stderr(&o));
    let mut b = StreamBuilder::new().finish(false);
    b[8] = 0x42;
    let f = write(dir.path(), "t.mig", &b);
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    assert!(
        stderr(&o).contains("unknown record type 0x42"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn not_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "x.mig", b"{\"hello\": 1}");
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    assert!(
        stderr(&o).contains("not a migration stream"),
        "{}",
        stderr(&o)
    );
    let o = analyze([dir.path().join("missing.mig")]);
    assert_eq!(o.status.code(), Some(254));
}

#[test]
fn extract_keeps_hostile_block_names_inside_dir() {
    let s = StreamBuilder::new()
        .ram_start(
            1,
            &[
                ("pc.ram", 0x3000),
                ("/../x", 0x1000),
                ("/rom@etc/acpi/tables", 0x1000),
            ],
        )
        .ram_pages(
            1,
            true,
            &[
                Rec::Page("pc.ram", 0x2000, 0x5a),
                Rec::Page("/../x", 0, 0x77),
                Rec::Zero("pc.ram", 0),
            ],
        );
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "h.mig", &s.finish(true));
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = analyze(["-x", out.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "desc.json\npc.ram\n%2e%2e/x\nrom@etc/acpi/tables\nstate.json\n"
    );
    // Nothing escaped: no file named x next to out/.
    assert!(!tmp.path().join("x").exists());
    let x = std::fs::read(out.join("%2e%2e/x")).unwrap();
    assert_eq!(x, vec![0x77; 4096]);
    let ram = std::fs::read(out.join("pc.ram")).unwrap();
    assert_eq!(ram.len(), 0x3000);
    assert!(ram[..0x2000].iter().all(|&b| b == 0));
    assert!(ram[0x2000..].iter().all(|&b| b == 0x5a));
    let state: Value =
        serde_json::from_slice(&std::fs::read(out.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        state["ram (1)"]["section sizes"]["/../x"],
        "0x0000000000001000"
    );
    let desc: Value =
        serde_json::from_slice(&std::fs::read(out.join("desc.json")).unwrap()).unwrap();
    assert_eq!(desc["page_size"], 4096);

    // A second run refuses to overwrite, --force overwrites.
    let o = analyze(["-x", out.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(252), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("refusing to overwrite"),
        "{}",
        stderr(&o)
    );
    let o = analyze(["-x", out.to_str().unwrap(), "--force", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn extract_does_not_follow_symlinked_directories() {
    let s = StreamBuilder::new().ram_start(1, &[("/rom@etc/acpi/tables", 0x1000)]);
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "h.mig", &s.finish(true));
    let out = tmp.path().join("out");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("rom@etc")).unwrap();
    let o = analyze(["-x", out.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(252), "{}", stderr(&o));
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
}

#[test]
fn extract_requires_a_directory_argument() {
    let o = analyze(["-x"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn unknown_iterables_are_named() {
    // spapr/htab and s390-storage_attributes are decoded (tests/stream_arch.rs); another
    // iterable handler has no vmdesc entry and no known encoding.
    let dir = tempfile::tempdir().unwrap();
    let mut b = StreamBuilder::new();
    b.bytes.push(1);
    b.bytes.extend_from_slice(&7u32.to_be_bytes());
    b.bytes.push(12);
    b.bytes.extend_from_slice(b"dirty-bitmap");
    b.bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 9, 9]);
    let f = write(dir.path(), "db.mig", &b.finish(true));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    assert!(
        stderr(&o).contains("offset 34 (0x22), section 'dirty-bitmap (7)'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn huge_block_lengths_do_not_allocate() {
    // A 1 PiB block with one page near its end: --memory must not size anything by the
    // block length (the output and the resent-page index are sparse).
    let s = StreamBuilder::new()
        .ram_start(1, &[("big", 1 << 50)])
        .ram_pages(
            1,
            true,
            &[Rec::Page("big", 1 << 49, 3), Rec::Page("big", 1 << 49, 4)],
        );
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "big.mig", &s.finish(true));
    let o = analyze(["-m", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mem = v["ram (1)"]["memory"].as_object().unwrap();
    assert_eq!(mem.len(), 2);
    assert!(mem.contains_key("big (0x0002000000000000) (copy 2)"));
}

#[test]
fn deeply_nested_packages_are_refused_not_a_stack_overflow() {
    // 10000 PACKAGED commands, each wrapping the next.
    let mut inner: Vec<u8> = vec![0]; // innermost: EOF
    for _ in 0..10000 {
        let mut outer = vec![8, 0, 7, 0, 4];
        outer.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        outer.extend_from_slice(&inner);
        inner = outer;
    }
    let mut s = StreamBuilder::new();
    s.bytes.extend_from_slice(&inner);
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "nest.mig", &s.finish(true));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253), "{}", stderr(&o));
    assert!(stderr(&o).contains("nested too deeply"), "{}", stderr(&o));
}
