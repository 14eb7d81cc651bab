//! The regular expressions of `matches` conditions, compiled once per
//! distinct pattern and held to a memory budget. A Unicode-aware pattern
//! such as `(?i)^\w+ on \w+$` takes ≈ 150 KB compiled; 10,000 of them would
//! take gigabytes. Equal patterns share one compiled regex, each one is
//! bounded in size, and all of a plan's together are bounded too.

use std::collections::HashMap;

use regex_automata::meta::{self, Regex};

/// Largest compiled program of one regex.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Lazy-DFA cache per regex and thread.
const REGEX_DFA_LIMIT: usize = 1024 * 1024;
/// All distinct regexes of the rules together, compiled.
pub const REGEX_TOTAL_LIMIT: usize = 32 * 1024 * 1024;

/// The regexes compiled so far for one plan (or one save, with the other
/// stored groups counted in).
#[derive(Debug)]
pub struct Regexes {
    by_pattern: HashMap<String, Regex>,
    bytes: usize,
    limit: usize,
}

impl Default for Regexes {
    fn default() -> Self {
        Regexes::with_limit(REGEX_TOTAL_LIMIT)
    }
}

impl Regexes {
    pub fn with_limit(limit: usize) -> Regexes {
        Regexes {
            by_pattern: HashMap::new(),
            bytes: 0,
            limit,
        }
    }

    /// Compiled bytes held now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The compiled `pattern`, shared with any earlier equal one.
    pub fn get(&mut self, pattern: &str) -> Result<Regex, String> {
        if let Some(re) = self.by_pattern.get(pattern) {
            return Ok(re.clone());
        }
        let config = meta::Config::new()
            .nfa_size_limit(Some(REGEX_SIZE_LIMIT))
            .onepass_size_limit(Some(REGEX_SIZE_LIMIT))
            .dfa_size_limit(Some(REGEX_SIZE_LIMIT))
            .hybrid_cache_capacity(REGEX_DFA_LIMIT);
        let re = Regex::builder()
            .configure(config)
            .build(pattern)
            .map_err(|e| format!("is not a valid regular expression: {e}"))?;
        let size = re.memory_usage();
        if self.bytes + size > self.limit {
            return Err(format!(
                "would take the compiled regular expressions of all rules past {} MiB \
                 ({} KiB for this one); share a pattern between conditions or make it \
                 cheaper, e.g. [a-z] or (?-u)\\w instead of a Unicode \\w",
                self.limit / (1024 * 1024),
                size.div_ceil(1024)
            ));
        }
        self.bytes += size;
        self.by_pattern.insert(pattern.to_string(), re.clone());
        Ok(re)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_patterns_share_one_compiled_regex() {
        let mut regexes = Regexes::default();
        regexes.get(r"(?i)^\w+ on \w+$").expect("compiles");
        let once = regexes.bytes();
        for _ in 0..1000 {
            regexes.get(r"(?i)^\w+ on \w+$").expect("compiles");
        }
        assert_eq!(regexes.bytes(), once);
    }

    #[test]
    fn the_total_is_bounded() {
        let mut regexes = Regexes::with_limit(1024 * 1024);
        let mut refused = None;
        for i in 0..1000 {
            if let Err(e) = regexes.get(&format!(r"(?i)^\w+ on \w+ {i}$")) {
                refused = Some((i, e));
                break;
            }
        }
        let (i, e) = refused.expect("the budget ends it");
        assert!(i > 0 && e.contains("past 1 MiB"), "{i}: {e}");
        assert!(regexes.bytes() <= 1024 * 1024);
    }

    #[test]
    fn one_huge_regex_is_refused_on_its_own() {
        let mut regexes = Regexes::default();
        let e = regexes.get(r"\w{1000}").expect_err("too big");
        assert!(e.contains("valid regular expression"), "{e}");
    }
}
