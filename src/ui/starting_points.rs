//! The starting points New Schema offers (UI.md). Each saves and renders
//! well-formed output against the sample event (tested below).

use super::i18n::Text;
use crate::model::ContentType;

/// One starting point: its key in `?start=`, label, content type and content.
pub struct StartingPoint {
    pub key: &'static str,
    pub label: Text,
    pub content_type: ContentType,
    pub content: &'static str,
}

pub const STARTING_POINTS: &[StartingPoint] = &[
    StartingPoint {
        key: "blank",
        label: Text::StartBlank,
        content_type: ContentType::Text,
        content: "",
    },
    StartingPoint {
        key: "event",
        label: Text::StartEvent,
        content_type: ContentType::Json,
        content: "{{ event | json }}\n",
    },
    StartingPoint {
        key: "slack",
        label: Text::StartSlack,
        content_type: ContentType::Json,
        content: r#"{
  "text": "Ticket {{ticket:ref}}: {{ticket:subject}}",
  "blocks": [
    {
      "type": "section",
      "text": {
        "type": "mrkdwn",
        "text": "*{{ticket:ref}}* {{ticket:subject}}\nPriority: *{{ticket:priority}}* · Status: {{ticket:status}} · Queue: {{ticket:queue}}"
      }
    },
    {
      "type": "context",
      "elements": [
        {"type": "mrkdwn", "text": "{{event:type}} at {{event:occurred_at}} by {{user:name}}"}
      ]
    }
  ]
}
"#,
    },
    StartingPoint {
        key: "teams",
        label: Text::StartTeams,
        content_type: ContentType::Json,
        content: r#"{
  "type": "message",
  "attachments": [
    {
      "contentType": "application/vnd.microsoft.card.adaptive",
      "content": {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
          {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
           "text": "{{ticket:ref}}: {{ticket:subject}}"},
          {"type": "FactSet", "facts": [
            {"title": "Priority", "value": "{{ticket:priority}}"},
            {"title": "Status", "value": "{{ticket:status}}"},
            {"title": "Queue", "value": "{{ticket:queue}}"},
            {"title": "Customer", "value": "{{customer:name}}"}
          ]}
        ]
      }
    }
  ]
}
"#,
    },
    StartingPoint {
        key: "mattermost",
        label: Text::StartMattermost,
        content_type: ContentType::Json,
        content: r#"{
  "username": "hookline",
  "text": "**{{ticket:ref}}: {{ticket:subject}}**\n| Priority | Status | Queue |\n|:--|:--|:--|\n| {{ticket:priority}} | {{ticket:status}} | {{ticket:queue}} |"
}
"#,
    },
    StartingPoint {
        key: "xml",
        label: Text::StartXml,
        content_type: ContentType::Xml,
        content: r#"<?xml version="1.0" encoding="UTF-8"?>
<ticketEvent type="{{event:type}}" occurredAt="{{event:occurred_at}}">
  <ticket id="{{ticket:id}}">
    <ref>{{ticket:ref}}</ref>
    <subject>{{ticket:subject}}</subject>
    <status>{{ticket:status}}</status>
    <priority>{{ticket:priority}}</priority>
    <queue>{{ticket:queue}}</queue>
  </ticket>
  <customer>
    <name>{{customer:name}}</name>
    <email>{{customer:email}}</email>
  </customer>
</ticketEvent>
"#,
    },
];

/// The starting point `key`, if there is one.
pub fn find(key: &str) -> Option<&'static StartingPoint> {
    STARTING_POINTS.iter().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    #[test]
    fn every_starting_point_saves_and_renders_well_formed_against_the_sample() {
        for start in STARTING_POINTS {
            render::validate_schema(start.content_type, start.content)
                .unwrap_or_else(|e| panic!("{}: {e}", start.key));
            let rendered = render::compile(start.content_type, start.content)
                .and_then(|t| t.render(render::sample_event()))
                .unwrap_or_else(|e| panic!("{}: {e}", start.key));
            assert!(
                rendered.unknown_placeholders.is_empty(),
                "{}: {:?}",
                start.key,
                rendered.unknown_placeholders
            );
            match start.content_type {
                ContentType::Json => {
                    let v: serde_json::Value = serde_json::from_str(&rendered.body)
                        .unwrap_or_else(|e| panic!("{}: {e}\n{}", start.key, rendered.body));
                    assert!(v.is_object(), "{}", start.key);
                }
                ContentType::Xml => {
                    let mut reader = quick_xml::Reader::from_str(&rendered.body);
                    loop {
                        match reader.read_event() {
                            Ok(quick_xml::events::Event::Eof) => break,
                            Ok(_) => {}
                            Err(e) => panic!("{}: {e}", start.key),
                        }
                    }
                    assert!(rendered.body.contains("<ref>T-1001</ref>"));
                }
                ContentType::Text => {}
            }
        }
        let slack = find("slack").map(|s| s.content).unwrap_or_default();
        let body = render::compile(ContentType::Json, slack)
            .and_then(|t| t.render(render::sample_event()))
            .map(|r| r.body)
            .unwrap_or_default();
        assert!(body.contains("Ticket T-1001: Sample ticket"), "{body}");
    }
}
