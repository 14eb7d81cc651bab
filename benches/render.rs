//! Render and compile a typical ~1 KiB JSON schema with 10 placeholders.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hookline::model::ContentType;
use hookline::render::{compile, sample_event};

const SCHEMA: &str = r#"{
  "source": "helpdesk",
  "version": 1,
  "event": {"id": "{{event:id}}", "type": "{{event:type}}", "occurred_at": "{{event:occurred_at}}"},
  "ticket": {
    "id": {{ticket:id}},
    "ref": "{{ticket:ref}}",
    "subject": "{{ ticket.subject }}",
    "priority": "{{ticket:priority}}",
    "status": "{{ticket:status}}",
    "tags": {{ ticket.tags | json }}
  },
  "customer": {"name": "{{customer:name}}", "email": "{{ customer.email }}"},
  "links": {
    "self": "https://helpdesk.example.test/api/v1/tickets/by-ref/lookup?include=customer,changes",
    "ui": "https://helpdesk.example.test/agent/tickets/view?tab=conversation&panel=details"
  },
  "routing": {"team": "first-line", "region": "eu-north", "escalation": "standard", "notify": true},
  "meta": {
    "generator": "hookline",
    "comment": "This webhook body is rendered from a schema; every value above is escaped for JSON.",
    "padding": "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."
  }
}"#;

fn bench(c: &mut Criterion) {
    let event = sample_event();
    let template = match compile(ContentType::Json, SCHEMA) {
        Ok(t) => t,
        Err(e) => panic!("bench schema does not compile: {e}"),
    };
    c.bench_function("render 1KiB json schema, 10 placeholders", |b| {
        b.iter(|| template.render(black_box(event)))
    });
    c.bench_function("compile 1KiB json schema", |b| {
        b.iter(|| compile(ContentType::Json, black_box(SCHEMA)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
