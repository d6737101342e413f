//! SARIF 2.1.0 (`--format sarif`), built from serde-sarif's generated types (so the key names
//! and nesting are the schema's, not hand-typed), for GitHub code scanning and other viewers.
//!
//! One run; `tool.driver.rules` is the whole rule catalogue ([`super::rules`]: summary,
//! explanation, fix, default level, certainty and modes as properties), each result points at
//! its rule by id and index, carries a `partialFingerprints` entry `vmstateCheck/v1` (see
//! [`super::fingerprints`]), a physical location (the check's DEST file, line 1) and a logical
//! location (the wire entity and field). `level` says what the gate did: counted findings are
//! `error`, uncounted ones `warning` or `note`; a finding a baseline accepted keeps its level
//! and gets an external `suppressions` entry with the baseline's reason.

use std::collections::BTreeMap;
use std::io::{self, Write};

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::json;
use serde_sarif::sarif;

use super::rules::{self, Rule};
use super::{fingerprints, FindingView, Printer, Report, TOOL_NAME, TOOL_VERSION};
use crate::check::Severity;

/// The SARIF printer.
pub struct Sarif;

/// Characters that cannot stand in a URI reference's path (RFC 3986), besides controls.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn uri(path: &str) -> String {
    utf8_percent_encode(path, PATH).to_string()
}

fn text(s: &str) -> sarif::MultiformatMessageString {
    sarif::MultiformatMessageString::builder().text(s).build()
}

fn level_of(severity: Severity) -> sarif::ResultLevel {
    match severity {
        Severity::Error => sarif::ResultLevel::Error,
        Severity::Warning => sarif::ResultLevel::Warning,
        Severity::Note => sarif::ResultLevel::Note,
    }
}

fn descriptor(rule: &Rule) -> sarif::ReportingDescriptor {
    let mut props = BTreeMap::new();
    let certainty: Vec<&str> = rule
        .certainty
        .iter()
        .map(|c| rules::certainty_name(*c))
        .collect();
    let modes: Vec<&str> = rule.modes.iter().map(|m| rules::mode_name(*m)).collect();
    props.insert("certainty".to_owned(), json!(certainty));
    props.insert("modes".to_owned(), json!(modes));
    sarif::ReportingDescriptor::builder()
        .id(rule.id)
        .short_description(text(rule.summary))
        .full_description(text(rule.explanation))
        .help(
            sarif::MultiformatMessageString::builder()
                .text(format!("{}\n\nFix: {}", rule.summary, rules::fix(rule)))
                .markdown(rule.explanation)
                .build(),
        )
        .default_configuration(sarif::ReportingConfiguration {
            level: Some(json!(level_of(rule.severity).to_string())),
            ..Default::default()
        })
        .properties(sarif::PropertyBag {
            additional_properties: props,
            ..Default::default()
        })
        .build()
}

fn result(f: &FindingView, scope: &str, file: &str, fingerprint: String) -> sarif::Result {
    let level = match (&f.suppressed, f.counted, f.severity) {
        (Some(_), _, s) => level_of(s),
        (None, true, _) => sarif::ResultLevel::Error,
        (None, false, Severity::Note) => sarif::ResultLevel::Note,
        (None, false, _) => sarif::ResultLevel::Warning,
    };
    let l = f.location();
    let mut qualified = l.entity().to_owned();
    for part in [&l.subsection, &l.field].into_iter().flatten() {
        qualified.push('/');
        qualified.push_str(part);
    }
    let location = sarif::Location {
        physical_location: Some(sarif::PhysicalLocation {
            artifact_location: Some(sarif::ArtifactLocation {
                uri: Some(uri(file)),
                ..Default::default()
            }),
            region: Some(sarif::Region {
                start_line: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        }),
        logical_locations: Some(vec![sarif::LogicalLocation {
            name: Some(l.entity().to_owned()),
            fully_qualified_name: Some(qualified),
            kind: Some("object".to_owned()),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let mut props = BTreeMap::new();
    props.insert("counted".to_owned(), json!(f.counted));
    props.insert("certainty".to_owned(), json!(f.certainty));
    if let Some(c) = f.condition() {
        props.insert("condition".to_owned(), json!(c));
    }
    props.insert("check".to_owned(), json!(scope));
    if let Some(section) = &l.section {
        props.insert("section".to_owned(), json!(section));
    }
    let mut partial = BTreeMap::new();
    partial.insert("vmstateCheck/v1".to_owned(), fingerprint);
    let mut result = sarif::Result::builder()
        .rule_id(f.rule)
        .level(level)
        .message(sarif::Message {
            text: Some(format!("{scope}: {}", f.message())),
            ..Default::default()
        })
        .locations(vec![location])
        .partial_fingerprints(partial)
        .properties(sarif::PropertyBag {
            additional_properties: props,
            ..Default::default()
        })
        .build();
    result.rule_index = rules::index(f.rule).map(|i| i as i64);
    result.suppressions = f.suppressed.as_ref().map(|s| {
        vec![sarif::Suppression::builder()
            .kind(json!("external"))
            .justification(match &s.accepted_by {
                Some(by) => format!("{} (accepted by {by})", s.reason),
                None => s.reason.clone(),
            })
            .build()]
    });
    result
}

impl Printer for Sarif {
    fn print(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let mut prints = fingerprints(report).into_iter();
        let mut results = Vec::new();
        for check in &report.checks {
            let label = check.label();
            for f in &check.findings {
                results.push(result(
                    f,
                    &label,
                    &check.dest,
                    prints.next().unwrap_or_default(),
                ));
            }
        }
        if let Some(b) = &report.baseline {
            for f in &b.stale {
                results.push(result(
                    f,
                    &format!("baseline {}", b.file),
                    &b.file,
                    prints.next().unwrap_or_default(),
                ));
            }
        }
        let counts = report.counts();
        let mut run_props = BTreeMap::new();
        run_props.insert("mode".to_owned(), json!(report.mode.as_str()));
        run_props.insert(
            "counts".to_owned(),
            json!({
                "errors": counts.errors, "warnings": counts.warnings, "notes": counts.notes,
                "counted": counts.counted, "suppressed": counts.suppressed,
            }),
        );
        let mut invocation = sarif::Invocation::builder()
            .execution_successful(report.error.is_none())
            .exit_code(i64::from(report.exit_code()))
            .build();
        invocation.exit_code_description = report.error.as_ref().map(|e| e.message.clone());
        let log = sarif::Sarif {
            schema: Some(
                "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
                    .to_owned(),
            ),
            version: json!("2.1.0"),
            runs: vec![sarif::Run::builder()
                .tool(
                    sarif::Tool::builder()
                        .driver(
                            sarif::ToolComponent::builder()
                                .name(TOOL_NAME)
                                .version(TOOL_VERSION)
                                .semantic_version(TOOL_VERSION)
                                .rules(rules::catalogue().map(descriptor).collect::<Vec<_>>())
                                .build(),
                        )
                        .build(),
                )
                .results(results)
                .invocations(vec![invocation])
                .properties(sarif::PropertyBag { additional_properties: run_props, ..Default::default() })
                .build()],
            inline_external_properties: None,
            properties: None,
        };
        let mut text = serde_json::to_string_pretty(&log).map_err(io::Error::other)?;
        text.push('\n');
        out.write_all(text.as_bytes())
    }
}
