//! Unit cases for every upstream message and every path of the field walk, on small
//! hand-written dumps. Real dumps are covered by tests/real_dumps.rs.

use std::path::Path;

use serde_json::{json, Value};
use vmstate_check::check::{compare_faithful, Diagnostic, Finding};
use vmstate_check::dump::{parse_dump as parse, Dump};
use vmstate_check::rename::RenameTable;
use vmstate_check::render::text::upstream_output;

fn dump(name: &str, v: &Value) -> Dump {
    parse(Path::new(name), v.to_string().as_bytes()).expect("test dump parses")
}

/// Runs the faithful check; returns (stdout text, counted problems).
fn run(src: &Value, dest: &Value) -> (String, usize) {
    let (out, diags) = run_diags(src, dest);
    (out, diags.iter().filter(|d| d.counted_upstream()).count())
}

fn run_diags(src: &Value, dest: &Value) -> (String, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    compare_faithful(
        &dump("src.json", src),
        &dump("dest.json", dest),
        &RenameTable::builtin(),
        &mut diags,
    )
    .expect("no input error");
    (upstream_output(&diags), diags)
}

fn field(name: &str, size: i64) -> Value {
    json!({"field": name, "version_id": 0, "field_exists": false, "size": size})
}

fn structf(name: &str, size: i64, desc: Value) -> Value {
    json!({"field": name, "version_id": 0, "field_exists": false, "size": size, "Description": desc})
}

fn desc(name: &str, fields: Vec<Value>) -> Value {
    json!({"name": name, "version_id": 1, "minimum_version_id": 1, "Fields": fields})
}

fn section(desc: Value) -> Value {
    let v = desc["version_id"].clone();
    let m = desc["minimum_version_id"].clone();
    json!({"Name": "x", "version_id": v, "minimum_version_id": m, "Description": desc})
}

fn one(sec: &str, d: Value) -> Value {
    json!({ sec: section(d) })
}

#[test]
fn identical_dumps_are_silent() {
    let d = one("dev", desc("dev", vec![field("a", 4), field("b", 2)]));
    assert_eq!(run(&d, &d), (String::new(), 0));
}

#[test]
fn missing_section_and_section_renames_both_ways() {
    let src = json!({"gone": section(desc("gone", vec![])), "ICH9 LPC": section(desc("ICH9LPC", vec![]))});
    let dest = json!({"ICH9-LPC": section(desc("ICH9LPC", vec![]))});
    assert_eq!(
        run(&src, &dest),
        ("Section \"gone\" does not exist in dest\n".into(), 1)
    );
    let src = json!({"e1000": section(desc("e1000", vec![]))});
    let dest = json!({"e1000-82540em": section(desc("e1000", vec![]))});
    assert_eq!(run(&src, &dest), (String::new(), 0));
}

#[test]
fn machine_type_warning_is_not_counted() {
    let src = json!({"vmschkmachine": {"Name": "pc-q35-7.2"}});
    let dest = json!({"vmschkmachine": {"Name": "pc-q35-10.0"}});
    assert_eq!(
        run(&src, &dest),
        (
            "Warning: checking incompatible machine types: \"pc-q35-7.2\", \"pc-q35-10.0\"\n"
                .into(),
            0
        )
    );
}

#[test]
fn section_and_description_version_errors() {
    let mut s = desc("dev", vec![]);
    s["version_id"] = json!(3);
    let src = one("dev", s);
    let dest = one("dev", desc("dev", vec![]));
    assert_eq!(
        run(&src, &dest),
        (
            "Section \"dev\" version error: 3 > 1\nSection \"dev\" Description \"dev\": version error: 3 > 1\n".into(),
            2
        )
    );
}

#[test]
fn minimum_version_fragment_runs_into_the_next_line_and_is_not_counted() {
    // Real dumps carry the same numbers at both levels: fragment + description-level error.
    let src = one("x", desc("x", vec![]));
    let mut d = desc("x", vec![]);
    d["version_id"] = json!(2);
    d["minimum_version_id"] = json!(2);
    let dest = one("x", d);
    assert_eq!(
        run(&src, &dest),
        (
            "Section \"x\" Section \"x\" Description \"x\": minimum version error: 1 < 2\n".into(),
            1
        )
    );
}

#[test]
fn minimum_version_fragment_as_the_very_last_output() {
    let src = json!({"x": {"version_id": 1, "minimum_version_id": 1}});
    let dest = json!({"x": {"version_id": 3, "minimum_version_id": 2}});
    assert_eq!(run(&src, &dest), ("Section \"x\" ".into(), 0));
}

#[test]
fn entry_missing_at_section_and_description_level() {
    let mut s = section(desc("dev", vec![]));
    s["Extra"] = json!({"anything": [1, 2]});
    let src = json!({"dev": s, "nodesc": section(desc("nodesc", vec![]))});
    let mut d = desc("dev", vec![]);
    d.as_object_mut().unwrap().remove("Fields");
    let mut nodesc = section(desc("nodesc", vec![]));
    nodesc.as_object_mut().unwrap().remove("Description");
    let dest = json!({"dev": section(d), "nodesc": nodesc});
    assert_eq!(
        run(&src, &dest),
        (
            "Section \"dev\" Description \"dev\": Entry \"Fields\" missing\nSection \"dev\": Entry \"Extra\" missing\nSection \"nodesc\": Entry \"Description\" missing\n".into(),
            3
        )
    );
}

#[test]
fn description_name_mismatch_and_rename_table_keyed_by_section() {
    let src = one("dev", desc("old", vec![field("a", 1)]));
    let dest = one("dev", desc("new", vec![field("zz", 9)]));
    assert_eq!(
        run(&src, &dest),
        (
            "Section \"dev\": Description \"old\" missing, got \"new\" instead; skipping\n".into(),
            1
        )
    );
    let src = one("ich9-ahci", desc("ahci", vec![]));
    let dest = one("ich9-ahci", desc("ich9_ahci", vec![]));
    assert_eq!(run(&src, &dest), (String::new(), 0));
}

#[test]
fn subsections_missing_and_compared_recursively() {
    let mut s = desc("dev", vec![field("a", 4)]);
    s["Subsections"] = json!([
        desc("dev/one", vec![field("x", 4)]),
        desc("dev/two", vec![])
    ]);
    let mut d = desc("dev", vec![field("a", 4)]);
    d["Subsections"] = json!([
        desc("dev/three", vec![]),
        desc("dev/one", vec![field("x", 8)])
    ]);
    assert_eq!(
        run(&one("dev", s), &one("dev", d)),
        (
            "Section \"dev\" Description \"dev/one\" Field \"x\" size mismatch: 4 , 8\nSection \"dev\", Description \"dev\": Subsection \"dev/two\" not found\n".into(),
            2
        )
    );
}

#[test]
fn dest_runs_out_of_fields() {
    let src = one("dev", desc("dev", vec![field("a", 4), field("b", 4)]));
    let dest = one("dev", desc("dev", vec![field("a", 4)]));
    assert_eq!(
        run(&src, &dest),
        ("Section \"dev\", Description \"dev\": expected field \"b\", while dest has no further fields\n".into(), 1)
    );
}

#[test]
fn extra_dest_fields_after_the_last_src_field_are_not_reported_upstream() {
    let src = one("dev", desc("dev", vec![field("a", 4)]));
    let dest = one("dev", desc("dev", vec![field("a", 4), field("b", 4)]));
    assert_eq!(run(&src, &dest), (String::new(), 0));
}

#[test]
fn field_mismatch_stops_the_walk_and_field_renames_use_the_description_key() {
    let src = one(
        "dev",
        desc("dev", vec![field("a", 4), field("b", 4), field("c", 1)]),
    );
    let dest = one(
        "dev",
        desc("dev", vec![field("a", 4), field("q", 4), field("c", 2)]),
    );
    assert_eq!(
        run(&src, &dest),
        ("Section \"dev\", Description \"dev\": expected field \"b\", got \"q\"; skipping rest\n".into(), 1)
    );
    let src = one("e1000", desc("e1000", vec![field("dev", 4)]));
    let dest = one("e1000", desc("e1000", vec![field("parent_obj", 4)]));
    assert_eq!(run(&src, &dest), (String::new(), 0));
}

#[test]
fn size_mismatch_missing_description_and_nested_descriptions() {
    let inner_s = desc("inner", vec![field("p", 2)]);
    let inner_d = desc("inner", vec![field("p", 4)]);
    let src = one(
        "dev",
        desc(
            "dev",
            vec![
                field("a", 4),
                structf("s", 8, inner_s.clone()),
                structf("t", 8, inner_s),
            ],
        ),
    );
    let dest = one(
        "dev",
        desc(
            "dev",
            vec![field("a", 8), structf("s", 99, inner_d), field("t", 8)],
        ),
    );
    assert_eq!(
        run(&src, &dest),
        (
            "Section \"dev\" Description \"dev\" Field \"a\" size mismatch: 4 , 8\nSection \"dev\" Description \"inner\" Field \"p\" size mismatch: 2 , 4\nSection \"dev\", Description \"dev\", Field \"t\": missing description\n".into(),
            3
        )
    );
}

#[test]
fn field_version_errors_use_the_description_name() {
    let mut f = field("a", 4);
    f["version_id"] = json!(5);
    let src = one("dev", desc("dev", vec![f]));
    let dest = one("dev", desc("dev", vec![field("a", 4)]));
    let (out, diags) = run_diags(&src, &dest);
    assert_eq!(
        out,
        "Section \"dev\" Description \"dev\": version error: 5 > 0\n"
    );
    assert!(matches!(&diags[0].finding, Finding::VersionTooNew { field: Some(f), .. } if f == "a"));
}

#[test]
fn empty_description_name_uses_the_section_form() {
    let mut s = desc("", vec![]);
    s["version_id"] = json!(2);
    let mut d = desc("", vec![]);
    d["minimum_version_id"] = json!(1);
    let src = json!({"dev": {"version_id": 1, "Description": s}});
    let dest = json!({"dev": {"version_id": 1, "Description": d}});
    assert_eq!(
        run(&src, &dest),
        ("Section \"dev\" version error: 2 > 1\n".into(), 1)
    );
}

#[test]
fn dest_moved_fields_into_a_substruct() {
    // 1f42d22233b4-style change: dest wraps the first fields into `parent_obj`.
    let src = one(
        "dev",
        desc("dev", vec![field("a", 4), field("b", 4), field("c", 1)]),
    );
    let wrapped = desc("sub", vec![field("a", 4), field("b", 4)]);
    let dest = one(
        "dev",
        desc(
            "dev",
            vec![structf("parent_obj", 8, wrapped), field("c", 1)],
        ),
    );
    assert_eq!(run(&src, &dest), (String::new(), 0));
    // and a real difference inside the substruct is still found
    let wrapped = desc("sub", vec![field("a", 4), field("b", 2)]);
    let dest = one(
        "dev",
        desc(
            "dev",
            vec![structf("parent_obj", 8, wrapped), field("c", 1)],
        ),
    );
    assert_eq!(
        run(&src, &dest),
        (
            "Section \"dev\" Description \"dev\" Field \"b\" size mismatch: 4 , 2\n".into(),
            1
        )
    );
}

#[test]
fn src_substruct_that_dest_flattened() {
    let wrapped = desc("sub", vec![field("a", 4), field("b", 4)]);
    let src = one(
        "dev",
        desc(
            "dev",
            vec![structf("parent_obj", 8, wrapped), field("c", 1)],
        ),
    );
    let dest = one(
        "dev",
        desc("dev", vec![field("a", 4), field("b", 4), field("c", 1)]),
    );
    assert_eq!(run(&src, &dest), (String::new(), 0));
    let dest = one(
        "dev",
        desc("dev", vec![field("a", 4), field("b", 4), field("d", 1)]),
    );
    assert_eq!(
        run(&src, &dest),
        ("Section \"dev\", Description \"dev\": expected field \"c\", got \"d\"; skipping rest\n".into(), 1)
    );
}

#[test]
fn unused_of_equal_total_size_matches_with_num() {
    let mut arr = field("regs", 4);
    arr["num"] = json!(4);
    let src = one("dev", desc("dev", vec![arr, field("z", 1)]));
    let dest = one("dev", desc("dev", vec![field("unused", 16), field("z", 1)]));
    assert_eq!(run(&src, &dest), (String::new(), 0));
}

#[test]
fn dest_unused_absorbs_several_src_fields() {
    let src = one(
        "dev",
        desc(
            "dev",
            vec![field("a", 4), field("b", 4), field("c", 8), field("z", 1)],
        ),
    );
    let dest = one("dev", desc("dev", vec![field("unused", 16), field("z", 1)]));
    assert_eq!(run(&src, &dest), (String::new(), 0));
}

#[test]
fn dest_unused_that_does_not_add_up() {
    let src = one(
        "dev",
        desc("dev", vec![field("a", 4), field("b", 8), field("z", 1)]),
    );
    let dest = one("dev", desc("dev", vec![field("unused", 6), field("z", 1)]));
    assert_eq!(
        run(&src, &dest),
        (
            "Section \"dev\", Description \"dev\": unused size mismatch near \" b\"\n".into(),
            1
        )
    );
}

#[test]
fn src_unused_absorbs_several_dest_fields() {
    let src = one("dev", desc("dev", vec![field("unused", 12), field("z", 1)]));
    let dest = one(
        "dev",
        desc("dev", vec![field("a", 4), field("b", 8), field("z", 1)]),
    );
    assert_eq!(run(&src, &dest), (String::new(), 0));
    let dest = one(
        "dev",
        desc("dev", vec![field("a", 4), field("b", 16), field("z", 1)]),
    );
    // here the DEST field is named (upstream's second branch)
    assert_eq!(
        run(&src, &dest),
        (
            "Section \"dev\", Description \"dev\": unused size mismatch near \" b\"\n".into(),
            1
        )
    );
}

#[test]
fn missing_key_is_an_input_error_naming_file_and_path() {
    let src = one(
        "dev",
        desc("dev", vec![json!({"field": "a", "version_id": 0})]),
    );
    let dest = one("dev", desc("dev", vec![field("a", 4)]));
    let mut diags = Vec::new();
    let err = compare_faithful(
        &dump("src.json", &src),
        &dump("dest.json", &dest),
        &RenameTable::builtin(),
        &mut diags,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "src.json: $[\"dev\"].Description.Fields[0]: missing key \"size\", needed to compare this entry"
    );
}
