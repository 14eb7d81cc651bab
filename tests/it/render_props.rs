//! Property tests: escaping round-trips for any string, and no panics on any template.

use hookline::model::ContentType;
use hookline::render::{compile, sample_event, Template};
use proptest::prelude::*;
use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::json;

fn event_with_subject(subject: &str) -> serde_json::Value {
    json!({"id": "e", "type": "t", "ticket": {"subject": subject, "tags": [subject, 1]}})
}

fn compiled(ct: ContentType, src: &str) -> Template {
    match compile(ct, src) {
        Ok(t) => t,
        Err(e) => panic!("{src:?} does not compile: {e}"),
    }
}

/// The text content of `<v>…</v>`, unescaped by quick-xml.
fn xml_text(body: &str) -> Result<String, String> {
    let mut reader = Reader::from_str(body);
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Text(t) => text.push_str(&t.unescape().map_err(|e| e.to_string())?),
            Event::Eof => return Ok(text),
            _ => {}
        }
    }
}

/// Strings rich in what escaping must handle: quotes, backslashes, controls, non-ASCII.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('\''),
                Just('<'),
                Just('>'),
                Just('&'),
                Just('\n'),
                Just('\r'),
                Just('\t'),
                Just('\u{1}'),
                Just('\u{1f}'),
                Just('\u{7f}'),
                Just('é'),
                Just('😀'),
                Just('{'),
                Just('}'),
                Just('%'),
                any::<char>(),
            ],
            0..40,
        )
        .prop_map(|chars| chars.into_iter().collect()),
    ]
}

/// Template-ish strings: fragments of Liquid and the colon form, shuffled.
fn template_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("{%".to_owned()),
        Just("%}".to_owned()),
        Just(":".to_owned()),
        Just("|".to_owned()),
        Just("-".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("ticket".to_owned()),
        Just("ticket:ref".to_owned()),
        Just(" for t in ticket.tags ".to_owned()),
        Just(" endfor ".to_owned()),
        Just(" if ".to_owned()),
        Just(" endif ".to_owned()),
        Just(" raw ".to_owned()),
        Just(" endraw ".to_owned()),
        Just("capture c".to_owned()),
        Just(" json ".to_owned()),
        Just("(1..3)".to_owned()),
        Just("[0]".to_owned()),
        Just(".".to_owned()),
        Just(" upcase ".to_owned()),
        Just(" append: ".to_owned()),
        Just("event:type".to_owned()),
        "[a-z_ ]{0,6}".prop_map(|s| s),
        any::<String>(),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_string_round_trips(subject in tricky_string()) {
        let t = compiled(ContentType::Json, r#"{"v": "{{ticket:subject}}"}"#);
        let body = t.render(&event_with_subject(&subject)).map_err(|e| TestCaseError::fail(e.to_string()))?.body;
        let parsed: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| TestCaseError::fail(format!("{body:?}: {e}")))?;
        prop_assert_eq!(parsed["v"].as_str(), Some(subject.as_str()));
    }

    #[test]
    fn json_filter_round_trips(subject in tricky_string()) {
        let t = compiled(ContentType::Json, r#"{"v": {{ ticket.subject | json }}, "t": {{ ticket.tags | json }}}"#);
        let body = t.render(&event_with_subject(&subject)).map_err(|e| TestCaseError::fail(e.to_string()))?.body;
        let parsed: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| TestCaseError::fail(format!("{body:?}: {e}")))?;
        prop_assert_eq!(parsed["v"].as_str(), Some(subject.as_str()));
        prop_assert_eq!(&parsed["t"], &json!([subject, 1]));
    }

    #[test]
    fn xml_text_round_trips(subject in tricky_string()) {
        // XML cannot carry NUL at all; it is written as U+FFFD.
        let expected = subject.replace('\0', "\u{fffd}");
        let t = compiled(ContentType::Xml, "<v>{{ticket:subject}}</v>");
        let body = t.render(&event_with_subject(&subject)).map_err(|e| TestCaseError::fail(e.to_string()))?.body;
        let text = xml_text(&body).map_err(|e| TestCaseError::fail(format!("{body:?}: {e}")))?;
        prop_assert_eq!(text, expected);
    }

    #[test]
    fn random_templates_never_panic(src in template_string(), subject in tricky_string()) {
        for ct in [ContentType::Text, ContentType::Json, ContentType::Xml] {
            if let Ok(t) = compile(ct, &src) {
                let _ = t.render(&event_with_subject(&subject));
                let _ = t.render(sample_event());
            }
            let _ = hookline::render::validate_schema(ct, &src);
        }
    }
}
