//! JUnit XML (`--format junit`): one `<testsuite>` per checked direction, one `<testcase>`
//! per wire entity checked (a vmsd of SRC), a `<failure>` on every test case with counted
//! findings. Uncounted findings (warnings, notes, suppressed ones) go to the test case's
//! `<system-out>`. Stale baseline entries form a test suite of their own, and an error that
//! ended the run is an `<error>` test case, so CI never reads a partial run as green.
//!
//! The XML is written with quick-xml, which escapes attribute values and text; characters
//! XML 1.0 cannot carry at all (most C0 controls) are replaced by U+FFFD first.

use std::io::{self, Write};

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use super::{CheckReport, FindingView, Printer, Report};

/// The JUnit printer.
pub struct Junit;

/// Replaces the characters XML 1.0 does not allow, even escaped, by U+FFFD.
fn xml_chars(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

fn line(f: &FindingView) -> String {
    match &f.suppressed {
        Some(s) => format!(
            "suppressed[{}]: {} (baseline entry {}: {})",
            f.rule,
            f.message(),
            s.entry,
            s.reason
        ),
        None => format!("{}[{}]: {}", f.severity_word(), f.rule, f.message()),
    }
}

/// A test case: its name and the findings under it.
struct Case<'a> {
    name: String,
    findings: Vec<&'a FindingView>,
}

fn cases(check: &CheckReport) -> Vec<Case<'_>> {
    let mut cases: Vec<Case> = check
        .entities
        .iter()
        .map(|e| Case {
            name: e.clone(),
            findings: Vec::new(),
        })
        .collect();
    for f in &check.findings {
        let entity = f.location().entity();
        match cases.iter_mut().find(|c| c.name == entity) {
            Some(case) => case.findings.push(f),
            None => cases.push(Case {
                name: entity.to_owned(),
                findings: vec![f],
            }),
        }
    }
    cases
}

fn write_case<W: Write>(
    w: &mut Writer<W>,
    classname: &str,
    name: &str,
    findings: &[&FindingView],
) -> io::Result<()> {
    let counted: Vec<&&FindingView> = findings.iter().filter(|f| f.counted).collect();
    let other: Vec<&&FindingView> = findings.iter().filter(|f| !f.counted).collect();
    let element = w
        .create_element("testcase")
        .with_attribute(("name", xml_chars(name).as_str()))
        .with_attribute(("classname", xml_chars(classname).as_str()));
    if findings.is_empty() {
        element.write_empty()?;
        return Ok(());
    }
    element.write_inner_content(|w| {
        if let Some(first) = counted.first() {
            let body: Vec<String> = counted.iter().map(|f| line(f)).collect();
            w.create_element("failure")
                .with_attribute(("message", xml_chars(&first.message()).as_str()))
                .with_attribute(("type", first.rule))
                .write_text_content(BytesText::new(&xml_chars(&body.join("\n"))))?;
        }
        if !other.is_empty() {
            let body: Vec<String> = other.iter().map(|f| line(f)).collect();
            w.create_element("system-out")
                .write_text_content(BytesText::new(&xml_chars(&body.join("\n"))))?;
        }
        Ok(())
    })?;
    Ok(())
}

impl Printer for Junit {
    fn print(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let mut w = Writer::new_with_indent(out, b' ', 2);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let suites: Vec<(String, Vec<Case>)> = report
            .checks
            .iter()
            .map(|c| (c.label(), cases(c)))
            .collect();
        let stale = report
            .baseline
            .as_ref()
            .map(|b| &b.stale[..])
            .unwrap_or(&[]);
        let failing = |cases: &[Case]| {
            cases
                .iter()
                .filter(|c| c.findings.iter().any(|f| f.counted))
                .count()
        };
        let tests: usize = suites.iter().map(|(_, c)| c.len()).sum::<usize>()
            + stale.len()
            + usize::from(report.error.is_some());
        let failures: usize = suites.iter().map(|(_, c)| failing(c)).sum::<usize>()
            + stale.iter().filter(|f| f.counted).count();
        let errors = usize::from(report.error.is_some());
        w.create_element("testsuites")
            .with_attribute(("name", "vmstate-check"))
            .with_attribute(("tests", tests.to_string().as_str()))
            .with_attribute(("failures", failures.to_string().as_str()))
            .with_attribute(("errors", errors.to_string().as_str()))
            .write_inner_content(|w| {
                for (label, cases) in &suites {
                    w.create_element("testsuite")
                        .with_attribute(("name", xml_chars(label).as_str()))
                        .with_attribute(("tests", cases.len().to_string().as_str()))
                        .with_attribute(("failures", failing(cases).to_string().as_str()))
                        .with_attribute(("errors", "0"))
                        .write_inner_content(|w| {
                            for case in cases {
                                write_case(w, label, &case.name, &case.findings)?;
                            }
                            Ok(())
                        })?;
                }
                if let Some(b) = &report.baseline {
                    if !b.stale.is_empty() {
                        let suite = format!("baseline {}", b.file);
                        w.create_element("testsuite")
                            .with_attribute(("name", xml_chars(&suite).as_str()))
                            .with_attribute(("tests", b.stale.len().to_string().as_str()))
                            .with_attribute((
                                "failures",
                                b.stale
                                    .iter()
                                    .filter(|f| f.counted)
                                    .count()
                                    .to_string()
                                    .as_str(),
                            ))
                            .with_attribute(("errors", "0"))
                            .write_inner_content(|w| {
                                for f in &b.stale {
                                    let entry = f
                                        .fields()
                                        .get("entry")
                                        .map(|v| v.to_string())
                                        .unwrap_or_default();
                                    write_case(w, &suite, &format!("entry {entry}"), &[f])?;
                                }
                                Ok(())
                            })?;
                    }
                }
                if let Some(err) = &report.error {
                    w.create_element("testsuite")
                        .with_attribute(("name", "vmstate-check"))
                        .with_attribute(("tests", "1"))
                        .with_attribute(("failures", "0"))
                        .with_attribute(("errors", "1"))
                        .write_inner_content(|w| {
                            w.create_element("testcase")
                                .with_attribute(("name", "run"))
                                .with_attribute(("classname", "vmstate-check"))
                                .write_inner_content(|w| {
                                    w.create_element("error")
                                        .with_attribute((
                                            "message",
                                            xml_chars(&err.message).as_str(),
                                        ))
                                        .with_attribute((
                                            "type",
                                            format!("exit {}", err.code).as_str(),
                                        ))
                                        .write_empty()?;
                                    Ok(())
                                })?;
                            Ok(())
                        })?;
                }
                Ok(())
            })?;
        w.into_inner().write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::xml_chars;

    #[test]
    fn characters_xml_cannot_hold_are_replaced() {
        assert_eq!(xml_chars("a\u{1}b\tc\n"), "a\u{fffd}b\tc\n");
        assert_eq!(xml_chars("<&>\"'"), "<&>\"'", "escaping is quick-xml's job");
    }
}
