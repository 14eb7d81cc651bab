//! Integer literals too large for liquid: liquid-core's parser panics on an
//! integer literal outside `i64` (it unwraps the conversion). The template is
//! checked for them before it is parsed, so no panic is reached at all.

/// The first integer literal inside a Liquid tag or output that does not fit
/// an `i64`: its byte offset in `text` and the message. Quoted strings and
/// the fraction of a float are not integer literals.
pub fn oversized_integer(text: &str) -> Option<(usize, String)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        let opens = bytes[i] == b'{' && (bytes[i + 1] == b'{' || bytes[i + 1] == b'%');
        if !opens {
            i += 1;
            continue;
        }
        let close: &[u8] = if bytes[i + 1] == b'{' { b"}}" } else { b"%}" };
        let start = i + 2;
        let end = find(bytes, start, close).unwrap_or(bytes.len());
        if let Some(found) = scan_markup(text, start, end) {
            return Some(found);
        }
        i = end + 2;
    }
    None
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    (from..bytes.len().saturating_sub(needle.len() - 1)).find(|&k| bytes[k..].starts_with(needle))
}

/// Looks at the markup between `start` and `end` (exclusive).
fn scan_markup(text: &str, start: usize, end: usize) -> Option<(usize, String)> {
    let bytes = text.as_bytes();
    let mut k = start;
    while k < end {
        let b = bytes[k];
        if b == b'"' || b == b'\'' {
            k = (k + 1..end).find(|&j| bytes[j] == b).map_or(end, |j| j + 1);
            continue;
        }
        if !b.is_ascii_digit() {
            k += 1;
            continue;
        }
        let run_start = k;
        while k < end && bytes[k].is_ascii_digit() {
            k += 1;
        }
        let before = run_start.checked_sub(1).map(|p| bytes[p]);
        let part_of_name = before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
        let fraction = before == Some(b'.')
            && run_start >= 2
            && bytes[run_start - 2].is_ascii_digit()
            && !(run_start >= 3 && bytes[run_start - 3] == b'.');
        let is_float = k + 1 < end && bytes[k] == b'.' && bytes[k + 1].is_ascii_digit();
        if part_of_name || fraction || is_float {
            continue;
        }
        let literal_start = if before == Some(b'-') {
            run_start - 1
        } else {
            run_start
        };
        let literal = &text[literal_start..k];
        if literal.parse::<i64>().is_err() {
            return Some((
                literal_start,
                format!(
                    "integer {literal} is out of range ({} to {})",
                    i64::MIN,
                    i64::MAX
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::oversized_integer;

    #[test]
    fn literals_that_fit_pass() {
        for ok in [
            "{{ 9223372036854775807 | plus: 1 }}",
            "{{ -9223372036854775808 }}",
            "{% for a in (1..9223372036854775807) %}{% endfor %}",
            "{{ 1.99999999999999999999999 }}",
            "{{ '99999999999999999999' }}",
            "{{ x99999999999999999999 }}",
            "99999999999999999999 outside any tag",
        ] {
            assert_eq!(oversized_integer(ok), None, "{ok}");
        }
    }

    #[test]
    fn literals_past_i64_are_found() {
        for (bad, at) in [
            ("{{ 9223372036854775808 }}", 3),
            ("ab{% for a in (1..99999999999999999999) %}{% endfor %}", 18),
            ("{{ -9223372036854775809 }}", 3),
            ("{{ x | plus: 18446744073709551616 }}", 13),
        ] {
            assert_eq!(oversized_integer(bad).map(|f| f.0), Some(at), "{bad}");
        }
    }
}
