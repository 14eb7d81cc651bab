//! o. Delivery to a webhook with `ordering: "per_ticket"` (issue 15): the
//! same drain as c, once with every event on its own ticket (the cost of
//! keeping turns) and once with the events spread over 100 tickets (each
//! ticket's deliveries one at a time, 100 lines side by side).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{tempdir, Bench};
use crate::cpu::{cpu_note, CpuMeter};
use crate::daemon::{config_text, max_in_flight, setup_routes, start_daemon_with, wait_ready};
use crate::load::{arrival_cap, ingest, missing_and_unknown, wait_arrivals, TICKETS};
use crate::receiver::{MODE_HOLD, MODE_OK};
use crate::report::{per_sec, span};
use crate::sizes::{BATCH, BATCH_CONCURRENCY, IDLE_GIVE_UP};

/// Tickets the events are spread over in the second run.
const LINES: u64 = 100;

impl Bench {
    pub async fn scenario_ordered(&mut self) -> Result<(), String> {
        for tickets in [0, LINES] {
            self.ordered_run(tickets).await?;
        }
        Ok(())
    }

    /// One drain of `drain_events` deliveries; `tickets` = 0 gives each
    /// event its own ticket.
    async fn ordered_run(&mut self, tickets: u64) -> Result<(), String> {
        let n = self.sizes.drain_events;
        let dir = tempdir()?;
        // Repeated tickets must not be deduplicated away.
        let text =
            config_text(dir.path()).replace("dedup_window = \"1s\"", "dedup_window = \"0s\"");
        let daemon = start_daemon_with(dir.path(), &text)?;
        wait_ready(&daemon, &self.client).await?;
        setup_routes(
            &self.client,
            &daemon.base,
            &self.urls[..1],
            json!({"timeout": "5m", "ordering": "per_ticket"}),
        )
        .await?;
        self.rx.reset(MODE_HOLD);
        TICKETS.store(tickets, Ordering::SeqCst);
        let load = ingest(&self.client, &daemon.base, n, BATCH, BATCH_CONCURRENCY).await;
        TICKETS.store(0, Ordering::SeqCst);
        let expected = load.delivery_ids();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let released = Instant::now();
        self.rx.mode.store(MODE_OK, Ordering::SeqCst);
        let all = wait_arrivals(&self.rx, expected, arrival_cap(expected), IDLE_GIVE_UP).await;
        let cpu = cpu.finish(Some(daemon.pid));
        let took = released.elapsed();
        let (unique, dups, first, last) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let rate = per_sec(unique, span(first, last));
        let ratio = rate.zip(self.capacity).map(|(r, c)| r / c * 100.0);
        let (code, _) = daemon.stop_timed();
        let (s, what) = if tickets == 0 {
            (
                "o. ordered, own tickets",
                "deliveries/s, per_ticket webhook, every event its own ticket",
            )
        } else {
            (
                "o. ordered, 100 tickets",
                "deliveries/s, per_ticket webhook, events over 100 tickets",
            )
        };
        self.report.add(
            s,
            &format!("{what}, {} in flight", max_in_flight()),
            rate,
            "dl/s",
        );
        let figure = "delivery rate / receiver capacity (a)";
        if tickets == 0 {
            // Keeping turns must cost little: the same goal as c.
            self.report.target(s, figure, ratio, "%", 50.0, true);
        } else {
            // One request per ticket at a time, each next one due only after
            // the commit that ended the one before: a figure, not a goal.
            self.report.add(s, figure, ratio, "%");
        }
        self.report.note(
            s,
            format!(
                "{unique}/{expected} delivered in {:.1} s, {missing} missing, {dups} duplicates, {unknown} unknown, all arrived: {all}; exit {code:?}; {}",
                took.as_secs_f64(),
                cpu_note(&cpu)
            ),
        );
        Ok(())
    }
}
