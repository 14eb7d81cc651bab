//! r. A realistic load (issue 16): the specification's sample event (about
//! 700 bytes, every model) rendered through a 1 KB JSON schema with 10
//! placeholders, posted as single requests (concurrency 64), to one webhook
//! and fanned out to 10.

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::json;

use super::{tempdir, Bench};
use crate::cpu::{cpu_note, CpuMeter};
use crate::daemon::{setup_routes_with, start_daemon, wait_ready};
use crate::load::{arrival_cap, ingest, missing_and_unknown, wait_arrivals, REALISTIC};
use crate::receiver::MODE_OK;
use crate::report::{per_sec, span};
use crate::sizes::{CONCURRENCY, IDLE_GIVE_UP};

/// About 1 KB once rendered, with 10 placeholders from five models.
const SCHEMA: &str = r#"{
  "source": "helpdesk", "kind": "ticket.priority_changed", "version": 2,
  "ticket": {"id": {{ticket:id}}, "ref": "{{ticket:ref}}", "subject": {{ ticket.subject | json }},
             "status": "{{ticket:status}}", "priority": "{{ticket:priority}}", "queue": "{{ticket:queue}}"},
  "change": {"field": "priority", "from": "{{changes:priority.from}}", "to": "{{changes:priority.to}}"},
  "customer": {"name": {{ customer.name | json }}, "email": "{{customer:email}}"},
  "notes": "Routed by hookline to the on-call integration. This text pads the body to about one kilobyte, as a real integration's envelope with its fixed metadata, links and descriptions would: see https://helpdesk.example/tickets and https://status.example for the current state of the service, and https://docs.example/integrations/webhooks for the meaning of each member of this message, its versioning rules, the retry policy and how to verify the signature headers that come with it.",
  "links": {"self": "https://helpdesk.example/api/tickets/{{ticket:id}}", "ui": "https://helpdesk.example/ui/tickets/{{ticket:ref}}"}
}"#;

impl Bench {
    pub async fn scenario_realistic(&mut self) -> Result<(), String> {
        for webhooks in [1usize, 10] {
            self.realistic_run(webhooks).await?;
        }
        Ok(())
    }

    async fn realistic_run(&mut self, webhooks: usize) -> Result<(), String> {
        let n = self.sizes.drain_events / webhooks.max(1);
        let dir = tempdir()?;
        let daemon = start_daemon(dir.path())?;
        wait_ready(&daemon, &self.client).await?;
        setup_routes_with(
            &self.client,
            &daemon.base,
            &self.urls[..webhooks],
            json!({}),
            SCHEMA,
        )
        .await?;
        self.rx.reset(MODE_OK);
        REALISTIC.store(true, Ordering::SeqCst);
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let started = Instant::now();
        let load = ingest(&self.client, &daemon.base, n, 1, CONCURRENCY).await;
        REALISTIC.store(false, Ordering::SeqCst);
        let expected = load.delivery_ids();
        let all = wait_arrivals(&self.rx, expected, arrival_cap(expected), IDLE_GIVE_UP).await;
        let cpu = cpu.finish(Some(daemon.pid));
        let (unique, dups, first, last) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let acked = per_sec(load.acks.len(), load.elapsed);
        let end = load.last_ack().max(last);
        let e2e = all
            .then(|| per_sec(load.acks.len(), span(Some(started), end)))
            .flatten();
        let deliveries = per_sec(unique, span(first, last));
        let share = deliveries.zip(self.capacity).map(|(r, c)| r / c * 100.0);
        let (code, _) = daemon.stop_timed();
        let s = if webhooks == 1 {
            "r. realistic, 1 webhook"
        } else {
            "r. realistic, fan-out 10"
        };
        self.report.add(
            s,
            "events/s acknowledged (sample event, single, concurrency 64)",
            acked,
            "ev/s",
        );
        self.report.add(
            s,
            "events/s acknowledged and delivered (end to end)",
            e2e,
            "ev/s",
        );
        self.report
            .add(s, "deliveries/s (first→last arrival)", deliveries, "dl/s");
        self.report
            .add(s, "deliveries/s / receiver capacity (a)", share, "%");
        self.report.note(
            s,
            format!(
                "{} events acked, {} request errors, {unique}/{expected} delivered, {missing} missing, {dups} duplicates, {unknown} unknown; exit {code:?}; {}",
                load.acks.len(),
                load.errors,
                cpu_note(&cpu)
            ),
        );
        Ok(())
    }
}
