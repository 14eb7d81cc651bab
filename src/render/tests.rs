//! Unit tests of the render module.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

fn event() -> serde_json::Value {
    json!({
        "id": "evt-1", "type": "priority_changed", "occurred_at": "2026-11-29T12:00:00Z",
        "ticket": {"id": 1234, "ref": "T-1234", "subject": "Printer on fire", "tags": ["hw", "urgent"],
                   "custom": {"region": "north"}, "assignee": null, "score": 7.5, "empty": ""},
        "customer": {"name": "Kari Nordmann", "vip": true}
    })
}

fn render(ct: ContentType, src: &str) -> Result<Rendered, RenderError> {
    compile(ct, src)?.render(&event())
}

fn body(ct: ContentType, src: &str) -> String {
    match render(ct, src) {
        Ok(r) => r.body,
        Err(e) => format!("ERROR: {e}"),
    }
}

fn unknowns(src: &str) -> Vec<String> {
    render(ContentType::Text, src)
        .map(|r| r.unknown_placeholders)
        .unwrap_or_else(|e| vec![format!("ERROR: {e}")])
}

fn parse_position(ct: ContentType, src: &str) -> Option<(usize, usize)> {
    match compile(ct, src) {
        Err(RenderError::Parse { line, column, .. }) => Some((line, column)),
        _ => None,
    }
}

#[test]
fn template_is_send_sync_and_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
    let t = std::sync::Arc::new(compile(ContentType::Text, "{{ticket:ref}}").expect("compiles"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || t.render(&event()).map(|r| r.body))
        })
        .collect();
    for h in handles {
        assert_eq!(
            h.join().ok().and_then(Result::ok).as_deref(),
            Some("T-1234")
        );
    }
}

#[test]
fn colon_form_edge_cases() {
    let t = ContentType::Text;
    assert_eq!(body(t, "{{ ticket : ref }}"), "T-1234");
    assert_eq!(body(t, "{{- ticket:ref -}}  x"), "T-1234x");
    assert_eq!(body(t, "{{ticket:subject | upcase}}"), "PRINTER ON FIRE");
    assert_eq!(body(t, "{{ticket:tags.1}}"), "urgent");
    assert_eq!(body(t, "{{event:occurred_at}}"), "2026-11-29T12:00:00Z");
    assert_eq!(body(t, "{{ event.type }}"), "priority_changed");
    assert_eq!(body(t, "{{ticket:ref}}{{ticket:ref}}"), "T-1234T-1234");
    // Colon text inside string literals and raw blocks is not a placeholder.
    assert_eq!(body(t, "{{ 'a:b' }}"), "a:b");
    assert_eq!(body(t, "{{ \"}}{{x:y}}\" }}"), "}}{{x:y}}");
    assert_eq!(
        body(t, "{% raw %}{{ticket:ref}}{% endraw %}"),
        "{{ticket:ref}}"
    );
    assert_eq!(
        body(t, "{{ ticket.ref | append: ':x' | prepend: 'a:' }}"),
        "a:T-1234:x"
    );
    // Models Liquid cannot name directly still work in the colon form.
    let ev = json!({"true_model": {"x": 1}, "my-model": {"a-b": 2}});
    let r = compile(t, "{{true_model:x}}/{{my-model:a-b}}/{{true_model:nope}}")
        .and_then(|t| t.render(&ev));
    assert_eq!(
        r.ok(),
        Some(Rendered {
            body: "1/2/".to_owned(),
            unknown_placeholders: vec!["true_model:nope".to_owned()],
        })
    );
}

#[test]
fn unknowns_are_reported_in_colon_form() {
    assert_eq!(
        unknowns("{{ticket:nope}}{{ ticket.nope }}"),
        ["ticket:nope"]
    );
    assert_eq!(unknowns("{{ nomodel.x.y }}"), ["nomodel:x.y"]);
    assert_eq!(unknowns("{{ nope }}{{event:nope}}"), ["nope", "event:nope"]);
    assert_eq!(
        unknowns("{% if ticket.a %}{% endif %}{% if ticket.b == 1 %}{% endif %}"),
        ["ticket:a", "ticket:b"]
    );
    assert_eq!(
        unknowns("{% for t in ticket.tags %}{{ t }}{{ forloop.index }}{% endfor %}"),
        Vec::<String>::new()
    );
    assert_eq!(
        unknowns("{% for t in ticket.nope %}{{ t }}{% endfor %}"),
        ["ticket:nope"]
    );
    // Present but null or empty is not unknown, nor is anything below null.
    assert_eq!(
        unknowns("{{ticket:assignee}}{{ticket:empty}}{{ticket:assignee.name}}"),
        Vec::<String>::new()
    );
    assert_eq!(
        unknowns("{% assign x = 1 %}{{ x }}{% capture c %}a{% endcapture %}{{ c }}"),
        Vec::<String>::new()
    );
}

#[test]
fn escaping_by_content_type() {
    let xml = ContentType::Xml;
    assert_eq!(
        body(xml, "<a>{{ ticket.tags }}</a>"),
        "<a>[&quot;hw&quot;,&quot;urgent&quot;]</a>"
    );
    assert_eq!(
        body(xml, "<a>{{ ticket.tags | json }}</a>"),
        "<a>[&quot;hw&quot;,&quot;urgent&quot;]</a>"
    );
    let js = ContentType::Json;
    assert_eq!(
        body(js, "\"{{ ticket.tags }}\""),
        "\"[\\\"hw\\\",\\\"urgent\\\"]\""
    );
    assert_eq!(
        body(js, "{{ ticket.custom | json }}"),
        "{\"region\":\"north\"}"
    );
    assert_eq!(body(js, "{{ ticket.assignee | json }}"), "null");
    assert_eq!(body(js, "{{ ticket.nope | json }}"), "null");
    assert_eq!(
        body(js, "{{ customer.vip }} {{ ticket.score }}"),
        "true 7.5"
    );
    // The json filter only escapes nothing when it is the last filter.
    assert_eq!(
        body(js, "\"{{ ticket.subject | json | append: '\"' }}\""),
        "\"\\\"Printer on fire\\\"\\\"\""
    );
    // Captured text is escaped once, when it is output.
    assert_eq!(
        body(
            js,
            "{% capture c %}\"{{ ticket.subject }}\"{% endcapture %}\"{{ c }}\""
        ),
        "\"\\\"Printer on fire\\\"\""
    );
    assert_eq!(body(ContentType::Text, "{{ 'ø' | upcase }}"), "Ø");
}

#[test]
fn parse_errors_point_into_the_original() {
    let j = ContentType::Json;
    assert_eq!(parse_position(j, "{{ x y }}"), Some((1, 4)));
    assert_eq!(
        parse_position(j, "a\nbb\n{{ticket:ref}} {{ x y }}"),
        Some((3, 19))
    );
    assert_eq!(
        parse_position(j, "{\n  \"a\": \"ø{{ x | nope }}\""),
        Some((2, 17))
    );
    assert_eq!(parse_position(j, "\n  {% nope %}"), Some((2, 6)));
    assert_eq!(parse_position(j, "{% if x %}\n"), Some((2, 1)));
    let message = compile(j, "{{ x | nope }}").err().map(|e| e.to_string());
    assert_eq!(
        message.as_deref(),
        Some("template does not parse at line 1, column 8: Unknown filter (filter: nope)")
    );
    let deep = "{% if a %}".repeat(100);
    assert!(matches!(
        compile(j, &deep),
        Err(RenderError::Parse {
            line: 1,
            column: 641,
            ..
        })
    ));
}

#[test]
fn content_over_limit_is_refused() {
    let big = "x".repeat(MAX_CONTENT_BYTES + 1);
    assert!(matches!(
        compile(ContentType::Text, &big),
        Err(RenderError::ContentTooLarge { .. })
    ));
}

#[test]
fn too_large_output_is_an_error() {
    let t = ContentType::Text;
    let loop_out =
        "{% for a in (1..2000) %}{% for b in (1..200) %}xxxxxxxxxx{% endfor %}{% endfor %}";
    assert_eq!(
        render(t, loop_out),
        Err(RenderError::TooLarge {
            limit: MAX_OUTPUT_BYTES
        })
    );
    let doubling = "{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}{{ s }}";
    assert_eq!(
        render(t, doubling),
        Err(RenderError::TooLarge {
            limit: MAX_OUTPUT_BYTES
        })
    );
    let replace = "{% assign s = 'aaaaaaaaaaaaaaaa' %}{% for i in (1..8) %}{% assign s = s | replace: 'a', s %}{% endfor %}";
    assert_eq!(
        render(t, replace),
        Err(RenderError::TooLarge {
            limit: MAX_OUTPUT_BYTES
        })
    );
    let capture = "{% capture c %}{% for i in (1..200000) %}xxxxxxxxxx{% endfor %}{% endcapture %}";
    assert_eq!(
        render(t, capture),
        Err(RenderError::TooLarge {
            limit: MAX_OUTPUT_BYTES
        })
    );
    let join = "{% assign a = 'a,b,c,d,e,f,g,h' | split: ',' %}{% assign s = 'x' %}{% for i in (1..20) %}{% assign s = a | join: s %}{% endfor %}";
    assert_eq!(
        render(t, join),
        Err(RenderError::TooLarge {
            limit: MAX_OUTPUT_BYTES
        })
    );
}

#[test]
fn runaway_loops_stop_quickly() {
    let started = Instant::now();
    for src in [
        "{% for a in (1..100000) %}{% for b in (1..100000) %}{% endfor %}{% endfor %}",
        "{% for a in (1..100000) %}{% for b in (1..100000) %}x{% endfor %}{% endfor %}",
        "{% for a in (1..9223372036854775807) %}{% endfor %}",
        "{% for a in (-9223372036854775807..9223372036854775807) %}{% endfor %}",
    ] {
        let r = render(ContentType::Text, src);
        assert!(
            matches!(
                r,
                Err(RenderError::TooLong { .. } | RenderError::TooLarge { .. })
            ),
            "{src}: {r:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(
        body(
            ContentType::Text,
            "{% for i in (1..9223372036854775807) limit: 3 offset: 2 %}{{ i }}{% endfor %}"
        ),
        "345"
    );
}

#[test]
fn bad_filter_arguments_are_errors_not_panics() {
    for src in [
        "{{ 1 | divided_by: 0 }}",
        "{{ 1 | modulo: 0 }}",
        "{{ -9223372036854775807 | minus: 10 }}",
        "{{ 9223372036854775807 | plus: 1 }}",
        "{{ 9223372036854775807 | times: 9223372036854775807 }}",
        "{{ 'x' | date: '%99999999Y' }}",
        "{{ 'now' | date: '%99999999Y' }}",
        "{{ 'abc' | slice: -9223372036854775807, 9223372036854775807 }}",
        "{{ 'abc' | truncate: -1 }}",
        "{{ -9223372036854775807 | minus: 1 | abs }}",
    ] {
        let _ = render(ContentType::Text, src);
    }
}

#[test]
fn loops_behave_like_liquid() {
    let t = ContentType::Text;
    assert_eq!(
        body(t, "{% for t in ticket.tags reversed %}{{ forloop.index }}{{ t }}{% unless forloop.last %},{% endunless %}{% endfor %}"),
        "1urgent,2hw"
    );
    assert_eq!(
        body(t, "{% for t in ticket.nope %}x{% else %}none{% endfor %}"),
        "none"
    );
    assert_eq!(
        body(t, "{% for i in (1..5) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
        "13"
    );
    assert_eq!(
        body(
            t,
            "{% for p in ticket.custom %}{{ p[0] }}={{ p[1] }}{% endfor %}"
        ),
        "region=north"
    );
    assert_eq!(
        body(t, "{% for a in (1..2) %}{% for b in (1..2) %}{{ forloop.parentloop.index }}{{ b }} {% endfor %}{% endfor %}"),
        "11 12 21 22 "
    );
}

#[test]
fn validate_schema_accepts_good_and_refuses_bad() {
    let j = ContentType::Json;
    let x = ContentType::Xml;
    assert_eq!(
        validate_schema(j, "{\"ref\": \"{{ticket:ref}}\", \"n\": {{ticket:nope}}}"),
        Ok(())
    );
    assert_eq!(
        validate_schema(j, "{\"tags\": {{ ticket.tags | json }}}"),
        Ok(())
    );
    assert_eq!(
        validate_schema(j, "[{% for t in ticket.nope %}1{% endfor %}]"),
        Ok(())
    );
    assert_eq!(
        validate_schema(
            x,
            "<?xml version=\"1.0\"?>\n<t a=\"{{ticket:subject}}\"><s>{{ticket:ref}}</s></t>\n"
        ),
        Ok(())
    );
    assert_eq!(validate_schema(ContentType::Text, "not { json"), Ok(()));
    for bad in ["{\"ref\": {{ticket:ref}}}", "{\"a\": 1", "{\"a\": 1} x", ""] {
        assert!(
            matches!(
                validate_schema(j, bad),
                Err(RenderError::NotWellFormed { kind: "JSON", .. })
            ),
            "{bad}"
        );
    }
    for bad in [
        "<a>",
        "<a></b>",
        "<a/><b/>",
        "text",
        "<a>&nope;</a>",
        "<a x='1' x='2'/>",
        "<a/>tail",
        "",
    ] {
        assert!(
            matches!(
                validate_schema(x, bad),
                Err(RenderError::NotWellFormed { kind: "XML", .. })
            ),
            "{bad}"
        );
    }
    let err = validate_schema(j, "{\n  \"a\": {{ x y }}\n}");
    assert!(
        matches!(
            err,
            Err(RenderError::Parse {
                line: 2,
                column: 11,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn sample_event_is_embedded() {
    assert_eq!(sample_event()["ticket"]["ref"], "T-1001");
}

#[test]
fn error_messages_read_well() {
    let e = render(ContentType::Text, "{{ ticket.ref | divided_by: 0 }}").err();
    let message = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.starts_with("template failed to render: "),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    assert!(!message.contains("__hl"), "{message}");
}
