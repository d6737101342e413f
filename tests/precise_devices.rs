//! `--precise --devices CLASS,...` and `--devices-from STREAM`: a dump-vs-dump check restricted
//! to the wire entities one VM carries, on the real q35 dumps and streams.

mod common;

use common::{assert_one_line_error, fixture, run};
use serde_json::Value;

fn dumps() -> (String, String) {
    (
        fixture("dumps/qemu-10.0-pc-q35-7.2.json")
            .display()
            .to_string(),
        fixture("dumps/qemu-7.2-pc-q35-7.2.json")
            .display()
            .to_string(),
    )
}

/// `--precise --format json` 10.0 -> 7.2 with `extra`: exit code and the counted diagnostics
/// as (kind, vmsd, field).
fn counted(extra: &[&str]) -> (i32, Vec<(String, String, String)>) {
    let (new, old) = dumps();
    let mut args = vec!["--precise", "--format", "json", "-s", &new, "-d", &old];
    args.extend_from_slice(extra);
    let o = run(&args);
    let report: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    let found = report["checks"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["counted"] == true)
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            (s("kind"), s("vmsd"), s("field"))
        })
        .collect();
    (o.status.code().unwrap(), found)
}

#[test]
fn devices_from_a_stream_keeps_only_its_entities() {
    let (rc_all, all) = counted(&[]);
    assert!(all.len() > 5, "the whole dump has many findings: {all:?}");
    assert_eq!(rc_all as usize, all.len());
    // The 10.0 am53c974 stream: of everything, only the esp field 7.2 does not read remains.
    let stream = fixture("sets/qemu-10.0-q35-scsi-am53c974.mig.gz");
    let (rc, found) = counted(&["--devices-from", stream.to_str().unwrap()]);
    assert_eq!(
        found,
        [(
            "field_not_read".to_owned(),
            "pciespscsi".to_owned(),
            "esp.drq_state".to_owned()
        )]
    );
    assert_eq!(rc, 1);
    assert!(all.contains(&found[0]));
    // A stream without esp: no counted finding (the real load of this VM into 7.2 succeeds).
    let plain = fixture("streams/qemu-10.0-q35.mig.gz");
    assert_eq!(
        counted(&["--devices-from", plain.to_str().unwrap()]),
        (0, vec![])
    );
}

#[test]
fn devices_by_class_name_select_the_shared_vmsd() {
    // dc390 shares vmsd pciespscsi with am53c974: naming either selects the entity.
    let esp = counted(&["--devices", "dc390"]);
    assert_eq!(esp, counted(&["--devices", "am53c974"]));
    assert_eq!(esp.1.len(), 1, "{esp:?}");
    assert_eq!(esp.1[0].1, "pciespscsi");
    // A comma list is the union.
    let (_, both) = counted(&["--devices", "am53c974,e1000e"]);
    let (_, e1000e) = counted(&["--devices", "e1000e"]);
    assert_eq!(both.len(), esp.1.len() + e1000e.len(), "{both:?}");
}

#[test]
fn bad_device_arguments_are_one_line_errors() {
    let (new, old) = dumps();
    let base = ["--precise", "-s", new.as_str(), "-d", old.as_str()];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        run(&a)
    };
    assert_one_line_error(
        &with(&["--devices", "no-such-class"]),
        2,
        &["no-such-class"],
    );
    // A dump is not a stream.
    assert_one_line_error(
        &with(&["--devices-from", &old]),
        254,
        &[&old, "migration stream"],
    );
    assert_one_line_error(
        &with(&["--devices-from", "/nonexistent.mig"]),
        254,
        &["/nonexistent.mig"],
    );
    // A truncated stream: the decoder's error, with the file.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.mig");
    std::fs::write(&cut, b"QEVM\0\0\0\x03\x07").unwrap();
    let o = with(&["--devices-from", cut.to_str().unwrap()]);
    assert_one_line_error(&o, 253, &[cut.to_str().unwrap()]);
    // Only for the precise analysis (faithful mode is upstream's, whole dumps).
    let o = run([
        "-s",
        new.as_str(),
        "-d",
        old.as_str(),
        "--devices",
        "e1000e",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--precise"));
}

#[test]
fn help_documents_the_device_options() {
    let o = run(["--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("--devices <CLASS,...>"), "{help}");
    assert!(help.contains("--devices-from <STREAM>"), "{help}");
}
