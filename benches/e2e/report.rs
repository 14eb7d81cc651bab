//! The report: the table printed to stdout and the figures for
//! `target/bench/e2e.json`, and the number helpers they use.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct Row {
    pub scenario: &'static str,
    pub figure: String,
    pub value: Option<f64>,
    pub unit: &'static str,
    pub target: String,
    pub met: Option<bool>,
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub details: serde_json::Map<String, Value>,
}

impl Report {
    pub fn add(
        &mut self,
        scenario: &'static str,
        figure: &str,
        value: Option<f64>,
        unit: &'static str,
    ) {
        self.rows.push(Row {
            scenario,
            figure: figure.to_string(),
            value,
            unit,
            target: String::new(),
            met: None,
        });
    }

    /// A figure with a target: `at_least` (true: ≥ target, false: ≤).
    pub fn target(
        &mut self,
        scenario: &'static str,
        figure: &str,
        value: Option<f64>,
        unit: &'static str,
        target: f64,
        at_least: bool,
    ) {
        let met = value.map(|v| if at_least { v >= target } else { v <= target });
        let sign = if at_least { "≥" } else { "≤" };
        self.rows.push(Row {
            scenario,
            figure: figure.to_string(),
            value,
            unit,
            target: format!("{sign} {} {unit}", fmt_num(target)),
            met,
        });
    }

    pub fn note(&mut self, scenario: &'static str, text: String) {
        self.rows.push(Row {
            scenario,
            figure: text,
            value: None,
            unit: "",
            target: String::new(),
            met: None,
        });
    }

    pub fn detail(&mut self, key: &str, v: Value) {
        self.details.insert(key.to_string(), v);
    }

    pub fn print(&self) {
        let value = |r: &Row| match r.value {
            Some(v) => format!("{} {}", fmt_num(v), r.unit),
            None if r.unit.is_empty() => String::new(),
            None => "n/a".to_string(),
        };
        let w0 = self
            .rows
            .iter()
            .map(|r| r.scenario.chars().count())
            .max()
            .unwrap_or(0);
        let w1 = self
            .rows
            .iter()
            .filter(|r| r.value.is_some() || !r.unit.is_empty())
            .map(|r| r.figure.chars().count())
            .max()
            .unwrap_or(0);
        let w2 = self
            .rows
            .iter()
            .map(|r| value(r).chars().count())
            .max()
            .unwrap_or(0);
        let w3 = self
            .rows
            .iter()
            .map(|r| r.target.chars().count())
            .max()
            .unwrap_or(0);
        let pad =
            |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
        println!();
        println!(
            "{} | {} | {} | {} | met",
            pad("scenario", w0),
            pad("figure", w1),
            pad("value", w2),
            pad("target", w3)
        );
        println!("{}", "-".repeat(w0 + w1 + w2 + w3 + 16));
        for r in &self.rows {
            if r.value.is_none() && r.unit.is_empty() {
                println!("{} |   {}", pad(r.scenario, w0), r.figure);
                continue;
            }
            let met = match r.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            println!(
                "{} | {} | {} | {} | {met}",
                pad(r.scenario, w0),
                pad(&r.figure, w1),
                pad(&value(r), w2),
                pad(&r.target, w3)
            );
        }
    }

    pub fn rows_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|r| {
                    json!({"scenario": r.scenario, "figure": r.figure, "value": r.value,
                           "unit": r.unit, "target": r.target, "met": r.met})
                })
                .collect(),
        )
    }
}

pub fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        let n = v.round() as i64;
        let s = n.abs().to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if n < 0 {
            format!("-{out}")
        } else {
            out
        }
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub fn per_sec(count: usize, d: Duration) -> Option<f64> {
    (d > Duration::ZERO && count > 0).then(|| count as f64 / d.as_secs_f64())
}

pub fn span(a: Option<Instant>, b: Option<Instant>) -> Duration {
    match (a, b) {
        (Some(a), Some(b)) => b.saturating_duration_since(a),
        _ => Duration::ZERO,
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}
