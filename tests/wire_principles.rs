//! One small case per principle of the wire model (issue 6) that the other rule tests do not
//! cover: wire identity and shared vmsds, name collisions (vga vs vmware-svga), each certainty
//! class, silent misreads (field shifts), the destination as a stream, RAM block lists.

mod common;
mod stream_support;

use common::precise;
use serde_json::{json, Value};
use std::path::Path;
use stream_support::*;
use vmstate_check::check::{Certainty, Diagnostic};

fn f(name: &str, size: i64) -> Value {
    json!({"field": name, "version_id": 0, "field_exists": false, "size": size})
}

fn desc(name: &str, fields: Vec<Value>) -> Value {
    json!({"name": name, "version_id": 1, "minimum_version_id": 1, "Fields": fields})
}

/// A dump of `(class, description)` entries.
fn dump(classes: &[(&str, Value)]) -> Value {
    let mut m = serde_json::Map::new();
    for (class, d) in classes {
        m.insert(
            (*class).to_owned(),
            json!({"Name": class, "version_id": 1, "minimum_version_id": 1, "Description": d}),
        );
    }
    Value::Object(m)
}

fn counted(d: &[Diagnostic]) -> Vec<&'static str> {
    d.iter()
        .filter(|x| x.severity() == vmstate_check::check::Severity::Error)
        .map(Diagnostic::rule)
        .collect()
}

#[test]
fn identity_is_the_vmsd_not_the_class() {
    // 7.2 class serial-mm and 10.0 class isa-serial both carry vmsd "serial": one entity, a
    // class rename is a wire-compatible note, not a missing section.
    let serial = desc("serial", vec![f("divider", 2), f("rbr", 1)]);
    let src = dump(&[("serial-mm", serial.clone())]);
    let dest = dump(&[("isa-serial", serial)]);
    let d = precise(&src, &dest);
    assert_eq!(counted(&d), Vec::<&str>::new(), "{d:?}");
    let renamed: Vec<&Diagnostic> = d.iter().filter(|x| x.rule() == "class_renamed").collect();
    assert_eq!(renamed.len(), 1, "{d:?}");
    assert_eq!(renamed[0].certainty, Certainty::WireCompatible);
    // Classes sharing a vmsd are judged once, as members of the entity.
    let esp = desc("pciespscsi", vec![f("a", 4), f("b", 4)]);
    let esp_new = desc("pciespscsi", vec![f("a", 4), f("b", 4), f("c", 1)]);
    let d = precise(
        &dump(&[("am53c974", esp.clone()), ("dc390", esp)]),
        &dump(&[("am53c974", esp_new.clone()), ("dc390", esp_new)]),
    );
    assert_eq!(
        counted(&d),
        ["field_not_sent"],
        "one finding for the entity, not one per class: {d:?}"
    );
    let v = serde_json::to_value(&d[d.iter().position(|x| x.rule() == "field_not_sent").unwrap()])
        .unwrap();
    assert_eq!(v["classes"], json!(["am53c974", "dc390"]), "{v}");
}

#[test]
fn a_vmsd_name_collision_is_resolved_by_layout() {
    // vmsd "vga" is the class vmsd of VGA (PCI config + a nested "vga" struct) and, nested,
    // the common state; vmware-svga registers that common "vga" state on its own. The SRC
    // section "vga" of vmware-svga must match the nested description, not the class vmsd.
    let common = desc("vga", vec![f("latch", 4), f("sr_index", 1)]);
    let pci_vga = desc(
        "vga",
        vec![
            f("config", 256),
            json!({"field": "vga", "version_id": 0, "field_exists": false, "size": 5, "Description": common}),
        ],
    );
    let src = dump(&[("vmware-svga", common.clone())]);
    let dest = dump(&[
        ("VGA", pci_vga.clone()),
        ("vmware-svga-other", desc("vmware_svga", vec![f("x", 4)])),
    ]);
    let d = precise(&src, &dest);
    assert_eq!(
        counted(&d),
        Vec::<&str>::new(),
        "the nested vga fits: {d:?}"
    );
    // No candidate fits: the best one's findings, and vmsd_ambiguous says others were tried.
    let other = desc("vga", vec![f("latch", 2), f("sr_index", 1)]);
    let d = precise(&dump(&[("vmware-svga", other)]), &dest);
    assert!(d.iter().any(|x| x.rule() == "vmsd_ambiguous"), "{d:?}");
    assert!(!counted(&d).is_empty(), "{d:?}");
}

#[test]
fn each_certainty_class() {
    // certain: a field DEST reads that SRC never sends.
    let d = precise(
        &dump(&[("dev", desc("dev", vec![f("a", 4)]))]),
        &dump(&[("dev", desc("dev", vec![f("a", 4), f("b", 4)]))]),
    );
    assert_eq!(
        d.iter()
            .map(|x| (x.rule(), x.certainty.clone()))
            .collect::<Vec<_>>(),
        [("field_not_sent", Certainty::Certain)]
    );
    // conditional: a subsection DEST does not know is sent only when its needed() says so.
    let mut with_sub = desc("dev", vec![f("a", 4)]);
    with_sub["Subsections"] = json!([desc("dev/extra", vec![f("e", 1)])]);
    let d = precise(
        &dump(&[("dev", with_sub)]),
        &dump(&[("dev", desc("dev", vec![f("a", 4)]))]),
    );
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].rule(), "subsection_missing");
    match &d[0].certainty {
        Certainty::Conditional(c) => assert!(c.contains("dev/extra"), "{c}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        counted(&d),
        Vec::<&str>::new(),
        "conditional findings count only with --strict"
    );
    // wire-compatible: the same bytes under another name.
    let d = precise(
        &dump(&[("dev", desc("dev", vec![f("old_name", 4)]))]),
        &dump(&[("dev", desc("dev", vec![f("new_name", 4)]))]),
    );
    assert_eq!(
        d.iter()
            .map(|x| (x.rule(), x.certainty.clone()))
            .collect::<Vec<_>>(),
        [("field_renamed", Certainty::WireCompatible)]
    );
}

#[test]
fn a_shift_from_dumps_is_still_a_counted_break() {
    // Dumps cannot show what is sent (field_exists tests), so the aligner pairs the names:
    // SRC [a, lun, drq] against DEST [a, ti_cmd, lun] is a field DEST reads that SRC does not
    // send and one SRC sends that DEST does not read; both certain and counted.
    let src = dump(&[(
        "esp",
        desc("esp", vec![f("a", 4), f("lun", 1), f("drq", 1)]),
    )]);
    let dest = dump(&[(
        "esp",
        desc("esp", vec![f("a", 4), f("ti_cmd", 1), f("lun", 1)]),
    )]);
    let d = precise(&src, &dest);
    assert_eq!(counted(&d), ["field_not_sent", "field_not_read"], "{d:?}");
    assert!(d.iter().all(|x| x.certainty == Certainty::Certain));
}

#[test]
fn a_shift_between_streams_is_a_counted_misread() {
    // The exact layouts of two vmdescs: SRC sends [a, lun, drq], DEST (its own stream) reads
    // [a, ti_cmd, lun]. The bytes agree, so QEMU loads without error, but DEST's lun receives
    // SRC's drq: lun exists on both sides at different places, so this is no rename.
    let dir = tempfile::tempdir().unwrap();
    let fields = |names: [&str; 3]| {
        json!([{"name": names[0], "type": "uint32", "size": 4},
               {"name": names[1], "type": "uint8", "size": 1},
               {"name": names[2], "type": "uint8", "size": 1}])
    };
    let src = StreamBuilder::new()
        .config("pc-q35-7.2", &[])
        .full(
            2,
            "esp",
            0,
            &[0, 0, 0, 0, 1, 0],
            fields(["a", "lun", "drq"]),
        )
        .finish(true);
    let dest = StreamBuilder::new()
        .config("pc-q35-7.2", &[])
        .full(
            2,
            "esp",
            0,
            &[0, 0, 0, 0, 0, 1],
            fields(["a", "ti_cmd", "lun"]),
        )
        .finish(true);
    let (rc, kinds, v) = against(dir.path(), &src, &[&dest]);
    assert_eq!(kinds, ["field_shift"], "{v:#}");
    assert_eq!(rc, 1);
    let text = v.to_string();
    assert!(text.contains("ti_cmd") && text.contains("drq"), "{v}");
}

/// `analyze SRC --against DEST --format json`: exit code and the counted diagnostics' kinds.
fn against(dir: &Path, src: &[u8], dests: &[&[u8]]) -> (i32, Vec<String>, Value) {
    let s = write(dir, "src.mig", src);
    let mut args = vec!["--format".to_owned(), "json".to_owned()];
    for (k, d) in dests.iter().enumerate() {
        args.push("--against".into());
        args.push(
            write(dir, &format!("dest{k}.mig"), d)
                .to_string_lossy()
                .into_owned(),
        );
    }
    args.push(s.to_string_lossy().into_owned());
    let o = analyze(args.iter().map(String::as_str));
    let v: Value =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    let kinds = v["checks"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["counted"] == true)
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect();
    (o.status.code().unwrap(), kinds, v)
}

fn u32_field(name: &str) -> Value {
    json!([{"name": name, "type": "uint32", "size": 4}])
}

#[test]
fn the_destination_as_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let src = StreamBuilder::new()
        .config("pc-q35-7.2", &[])
        .full(2, "timer", 0, &[0, 0, 0, 1], u32_field("t"))
        .full(3, "newdev", 0, &[0, 0, 0, 2], u32_field("x"))
        .finish(true);
    // DEST's own stream: it sends timer with the same layout, and no "newdev" at all.
    let dest = StreamBuilder::new()
        .config("pc-q35-7.2", &[])
        .full(2, "timer", 0, &[0, 0, 0, 9], u32_field("t"))
        .finish(true);
    let (rc, kinds, v) = against(dir.path(), &src, &[&dest]);
    assert_eq!(kinds, ["section_missing"], "{v:#}");
    assert_eq!(rc, 1);
    // The same stream against itself: clean.
    let (rc, kinds, _) = against(dir.path(), &src, &[&src]);
    assert_eq!((rc, kinds), (0, vec![]));
    // A layout the destination writes differently: found from its stream alone.
    let dest_wide = StreamBuilder::new()
        .config("pc-q35-7.2", &[])
        .full(
            2,
            "timer",
            0,
            &[0; 8],
            json!([{"name": "t", "type": "uint64", "size": 8}]),
        )
        .full(3, "newdev", 0, &[0, 0, 0, 2], u32_field("x"))
        .finish(true);
    let (rc, kinds, v) = against(dir.path(), &src, &[&dest_wide]);
    assert!(
        rc >= 1
            && kinds
                .iter()
                .any(|k| k == "field_size_mismatch" || k == "layout_mismatch"),
        "{v:#}"
    );
}

#[test]
fn ram_block_lists_from_a_destination_stream() {
    let dir = tempfile::tempdir().unwrap();
    let stream = |blocks: &[(&str, u64)]| {
        StreamBuilder::new()
            .config("pc-q35-7.2", &[])
            .ram_start(1, blocks)
            .ram_pages(1, true, &[])
            .finish(true)
    };
    let src = stream(&[("pc.ram", 1 << 20), ("extra.rom", 0x10000)]);
    let same = stream(&[("pc.ram", 1 << 20), ("extra.rom", 0x10000)]);
    assert_eq!(against(dir.path(), &src, &[&same]).1, Vec::<String>::new());
    // DEST has no "extra.rom": the load fails.
    let (rc, kinds, v) = against(dir.path(), &src, &[&stream(&[("pc.ram", 1 << 20)])]);
    assert_eq!(kinds, ["ram_block_missing"], "{v:#}");
    assert_eq!(rc, 1);
    // A block of another used length.
    let (_, kinds, v) = against(
        dir.path(),
        &src,
        &[&stream(&[("pc.ram", 2 << 20), ("extra.rom", 0x10000)])],
    );
    assert_eq!(kinds, ["ram_block_size_mismatch"], "{v:#}");
}
