//! The law fixtures of ../shared/web4-vectors/law-fixtures: valid ones parse and
//! validate, invalid ones are refused with a located message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use web4_core::law::{LawDataset, LawError};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/web4-vectors/law-fixtures").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {} is missing: {e}", p.display()))
}

#[test]
fn valid_fixtures_are_accepted() {
    for (name, norms) in [("minimal.yaml", 1), ("full-featured.yaml", 3), ("starter-law.yaml", 6)] {
        let law = LawDataset::from_text(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(law.version(), "1.0.0", "{name}");
        assert_eq!(law.as_json()["norms"].as_array().unwrap().len(), norms, "{name}");
        assert!(law.law_hash().to_string().starts_with("sha256:"));
    }
}

#[test]
fn invalid_fixtures_are_refused_with_their_location() {
    let cases = [
        (
            "invalid-bad-operator.yaml",
            "norms[0].operator: unknown operator \"LIKE\", expected one of <=, >=, ==, !=, <, >, in, not_in, matches",
        ),
        ("invalid-missing-norm-id.yaml", "norms[0].id: required"),
    ];
    for (name, want) in cases {
        match LawDataset::from_text(&fixture(name)) {
            Err(LawError::Invalid(issues)) => {
                let got: Vec<String> = issues.iter().map(ToString::to_string).collect();
                assert_eq!(got, [want], "{name}");
            }
            other => panic!("{name}: expected a validation error, got {other:?}"),
        }
    }
}

#[test]
fn yaml_and_json_forms_of_one_law_hash_alike_and_syntax_errors_name_the_line() {
    let yaml = fixture("full-featured.yaml");
    let law = LawDataset::from_text(&yaml).unwrap();
    let json = serde_json::to_string_pretty(law.as_json()).unwrap();
    assert_eq!(LawDataset::from_text(&json).unwrap().law_hash(), law.law_hash());
    match LawDataset::from_text("version: \"1\"\nnorms: [\n  - id: x\n") {
        Err(LawError::Syntax(m)) => assert!(m.contains("line"), "{m}"),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}
