//! CPU use, from /proc: the daemon (per thread), the receiver's threads and
//! the rest of this process (the load generator).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

use crate::report::round3;

pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// utime + stime in ticks from a `/proc/.../stat` file.
pub fn stat_ticks(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let Some(close) = text.rfind(')') else {
        return 0;
    };
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // After the comm: state is field 3 (index 0), utime 14 (index 11), stime 15.
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

/// Ticks of this process's threads: (receiver threads, the rest).
pub fn bench_ticks() -> (u64, u64) {
    let (mut receiver, mut other) = (0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for task in tasks.flatten().take(10_000) {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let ticks = stat_ticks(&task.path().join("stat"));
        if comm.starts_with("actix") || comm.starts_with("receiver") {
            receiver += ticks;
        } else {
            other += ticks;
        }
    }
    (receiver, other)
}

/// Thread id → (name, ticks) of process `pid`.
pub fn thread_ticks(pid: u32) -> HashMap<u32, (String, u64)> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten().take(10_000) {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let ticks = stat_ticks(&task.path().join("stat"));
        out.insert(tid, (comm.trim().to_string(), ticks));
    }
    out
}

pub struct CpuMeter {
    at: Instant,
    daemon_threads: HashMap<u32, (String, u64)>,
    daemon: u64,
    receiver: u64,
    other: u64,
    hz: f64,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>, hz: f64) -> CpuMeter {
        let (receiver, other) = bench_ticks();
        CpuMeter {
            at: Instant::now(),
            daemon_threads: pid.map(thread_ticks).unwrap_or_default(),
            daemon: pid.map_or(0, |p| stat_ticks(Path::new(&format!("/proc/{p}/stat")))),
            receiver,
            other,
            hz,
        }
    }

    /// Percent of one core: daemon, receiver, load generator (rest of bench).
    pub fn finish(&self, pid: Option<u32>) -> Value {
        let secs = self.at.elapsed().as_secs_f64().max(1e-9);
        let (receiver, other) = bench_ticks();
        let daemon = pid.map_or(0, |p| stat_ticks(Path::new(&format!("/proc/{p}/stat"))));
        let pct = |now: u64, then: u64| {
            (now.saturating_sub(then) as f64 / self.hz / secs * 100.0).round()
        };
        // Thread names are cut to 15 characters (every actix thread is
        // "actix-rt|system"), so each is named `name#n`, n its rank by
        // thread id, i.e. by creation order (#0 is the main thread).
        let mut now: Vec<(u32, (String, u64))> = pid
            .map(thread_ticks)
            .unwrap_or_default()
            .into_iter()
            .collect();
        now.sort_by_key(|(tid, _)| *tid);
        let mut threads: Vec<(String, f64)> = now
            .into_iter()
            .enumerate()
            .map(|(rank, (tid, (name, t)))| {
                let then = self.daemon_threads.get(&tid).map_or(0, |x| x.1);
                (format!("{name}#{rank}"), pct(t, then))
            })
            .filter(|(_, p)| *p > 0.0)
            .collect();
        threads.sort_by(|a, b| b.1.total_cmp(&a.1));
        json!({
            "daemon_threads_pct_of_core": threads
                .iter()
                .map(|(n, p)| json!({"thread": n, "pct": p}))
                .collect::<Vec<_>>(),
            "wall_s": round3(secs),
            "daemon_pct_of_core": pct(daemon, self.daemon),
            "receiver_pct_of_core": pct(receiver, self.receiver),
            "loadgen_pct_of_core": pct(other, self.other),
        })
    }
}

pub fn cpu_note(v: &Value) -> String {
    let busiest: Vec<String> = v["daemon_threads_pct_of_core"]
        .as_array()
        .into_iter()
        .flatten()
        .take(3)
        .map(|t| format!("{} {}", t["thread"].as_str().unwrap_or("?"), t["pct"]))
        .collect();
    let threads = if busiest.is_empty() {
        String::new()
    } else {
        format!(" [daemon threads: {}]", busiest.join(", "))
    };
    format!(
        "CPU (% of a core): daemon {}, receiver {}, load gen {}{threads}",
        v["daemon_pct_of_core"], v["receiver_pct_of_core"], v["loadgen_pct_of_core"]
    )
}
