//! Table-driven check of every case in `tests/data/render.json` (shared vectors).

use hookline::model::ContentType;
use hookline::render::compile;
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    content_type: ContentType,
    content: String,
    event: serde_json::Value,
    body: String,
    unknown_placeholders: Option<Vec<String>>,
}

#[test]
fn every_render_vector_passes() {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/render.json"
    ));
    let vectors: Vectors = serde_json::from_str(text).expect("render.json parses");
    assert!(!vectors.cases.is_empty(), "no cases");
    let mut failures = Vec::new();
    for case in &vectors.cases {
        if let Err(why) = check(case) {
            failures.push(format!("case {:?}: {why}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check(case: &Case) -> Result<(), String> {
    let template =
        compile(case.content_type, &case.content).map_err(|e| format!("compile: {e}"))?;
    let rendered = template
        .render(&case.event)
        .map_err(|e| format!("render: {e}"))?;
    if rendered.body != case.body {
        return Err(format!(
            "body {:?}, expected {:?}",
            rendered.body, case.body
        ));
    }
    match &case.unknown_placeholders {
        Some(expected) if *expected != rendered.unknown_placeholders => Err(format!(
            "unknown_placeholders {:?}, expected {:?}",
            rendered.unknown_placeholders, expected
        )),
        _ => Ok(()),
    }
}
