//! o. Delivery to a webhook with `ordering: "per_ticket"` (issue 15): the
//! same drain as c, once with every event on its own ticket (the cost of
//! keeping turns) and once with the events spread over 100 tickets (each
//! ticket's deliveries one at a time, 100 lines side by side).

use serde_json::json;

use super::Bench;
use crate::cpu::cpu_note;
use crate::daemon::max_in_flight;

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
        let extra = json!({"timeout": "5m", "ordering": "per_ticket"});
        let d = self.drain_held(extra, tickets).await?;
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
            d.rate,
            "dl/s",
        );
        let figure = "delivery rate / receiver capacity (a)";
        if tickets == 0 {
            // Keeping turns must cost little: the same goal as c.
            self.report.target(s, figure, d.ratio, "%", 50.0, true);
        } else {
            // One request per ticket at a time, each next one due only after
            // the commit that ended the one before: a figure, not a goal.
            self.report.add(s, figure, d.ratio, "%");
        }
        self.report.note(
            s,
            format!(
                "{}/{} delivered in {:.1} s, {} missing, {} duplicates, {} unknown, all arrived: {}; exit {:?}; {}",
                d.unique, d.expected, d.took.as_secs_f64(), d.missing, d.dups, d.unknown, d.all, d.code,
                cpu_note(&d.cpu)
            ),
        );
        Ok(())
    }
}
