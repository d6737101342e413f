//! Schema checks shared by the integration tests: every JSON report validates against
//! `schema/report.schema.json`, every SARIF log against the OASIS SARIF 2.1.0 schema
//! (`tests/schemas/`), and every JUnit document parses back as well-formed XML.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn validator(rel: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{rel}: not a usable schema: {e}"))
}

fn check(validator: &jsonschema::Validator, what: &str, text: &str) -> Value {
    let value: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON: {e}\n{text}"));
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not validate:\n{}",
        errors.join("\n")
    );
    value
}

/// Parses `text` as a JSON report and asserts it validates against the committed schema.
pub fn assert_valid_report(text: &str) -> Value {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    check(
        V.get_or_init(|| validator("schema/report.schema.json")),
        "JSON report",
        text,
    )
}

/// Parses `text` as SARIF and asserts it validates against the SARIF 2.1.0 schema.
pub fn assert_valid_sarif(text: &str) -> Value {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    check(
        V.get_or_init(|| validator("tests/schemas/sarif-schema-2.1.0.json")),
        "SARIF log",
        text,
    )
}

/// What a JUnit document holds, read back with quick-xml.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Junit {
    /// `<testsuite>` elements.
    pub suites: usize,
    /// `<testcase>` elements.
    pub cases: usize,
    /// `<failure>` elements.
    pub failures: usize,
    /// `<error>` elements.
    pub errors: usize,
    /// The `tests`, `failures` and `errors` attributes of `<testsuites>`.
    pub declared: (usize, usize, usize),
    /// Text of every `<failure>` and `<system-out>`, unescaped.
    pub text: String,
    /// The `name` of every `<testsuite>`, unescaped, in document order.
    pub suite_names: Vec<String>,
}

/// Parses a JUnit document (asserting it is well-formed XML with matching tags) and checks
/// that the declared counts of `<testsuites>` and of each `<testsuite>` match its content.
pub fn assert_junit(text: &str) -> Junit {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut junit = Junit::default();
    let mut suite_cases = 0;
    let mut suite_declared = 0;
    let mut in_text = false;
    #[allow(deprecated)]
    let attr = |e: &quick_xml::events::BytesStart, name: &str| -> usize {
        e.try_get_attribute(name)
            .unwrap()
            .map(|a| a.unescape_value().unwrap().parse().unwrap())
            .unwrap_or(0)
    };
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("JUnit not well-formed: {e}\n{text}"))
        {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "testsuites" => {
                junit.declared = (attr(&e, "tests"), attr(&e, "failures"), attr(&e, "errors"));
            }
            Event::Start(e) if e.name().as_ref() == "testsuite" => {
                junit.suites += 1;
                #[allow(deprecated)]
                let name = e
                    .try_get_attribute("name")
                    .unwrap()
                    .map(|a| a.unescape_value().unwrap().into_owned())
                    .unwrap_or_default();
                junit.suite_names.push(name);
                suite_cases = 0;
                suite_declared = attr(&e, "tests");
            }
            Event::End(e) if e.name().as_ref() == "testsuite" => {
                assert_eq!(
                    suite_cases, suite_declared,
                    "a testsuite's tests attribute is wrong"
                );
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "testcase" => {
                junit.cases += 1;
                suite_cases += 1;
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "failure" => {
                junit.failures += 1;
                in_text = true;
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "error" => junit.errors += 1,
            Event::Start(e) if e.name().as_ref() == "system-out" => in_text = true,
            Event::End(e) if matches!(e.name().as_ref(), "failure" | "system-out") => {
                in_text = false
            }
            Event::Text(t) if in_text => {
                junit.text.push_str(&t.into_inner());
                junit.text.push('\n');
            }
            Event::GeneralRef(r) if in_text => {
                let name = r.into_inner().into_owned();
                let c = match name.as_str() {
                    "lt" => "<",
                    "gt" => ">",
                    "amp" => "&",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                };
                junit.text.push_str(c);
            }
            _ => {}
        }
    }
    assert_eq!(junit.declared.0, junit.cases, "testsuites tests=");
    assert_eq!(junit.declared.2, junit.errors, "testsuites errors=");
    junit
}
