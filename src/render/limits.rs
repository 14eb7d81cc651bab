//! Bounds that keep a render finite: output bytes, loop iterations, wall time, value sizes.

use std::io;
use std::time::Duration;

use liquid_core::model::ValueView;
use liquid_core::{Result, Runtime};

use super::runtime::{state, Stop};
use super::MAX_OUTPUT_BYTES;

/// For-loop iterations one render may start, over all loops (nested loops multiply).
pub const MAX_LOOP_ITERATIONS: u64 = 1_000_000;
/// Wall time one render may take; checked at every loop iteration.
pub const MAX_RENDER_TIME: Duration = Duration::from_secs(2);
/// Largest value a filter may produce (string bytes, or the summed size of a collection).
pub(crate) const MAX_VALUE_BYTES: usize = MAX_OUTPUT_BYTES;

/// A byte sink that refuses to grow past its limit, so a runaway template stops at the limit
/// instead of after it has allocated everything.
#[derive(Debug)]
pub(crate) struct LimitedWriter {
    pub(crate) buf: Vec<u8>,
    limit: usize,
    pub(crate) overflowed: bool,
}

impl LimitedWriter {
    pub(crate) fn new(limit: usize) -> Self {
        LimitedWriter {
            buf: Vec::new(),
            limit,
            overflowed: false,
        }
    }
}

impl io::Write for LimitedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            self.overflowed = true;
            return Err(io::Error::other("output limit reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Charges `n` loop iterations and checks the clock; errors once a budget is spent.
pub(crate) fn charge_iterations(runtime: &dyn Runtime, n: u64) -> Result<()> {
    let mut state = state(runtime);
    state.iterations = state.iterations.saturating_add(n);
    if state.iterations > MAX_LOOP_ITERATIONS {
        let reason = format!("more than {MAX_LOOP_ITERATIONS} loop iterations");
        return Err(state.stop(Stop::TooLong(reason)));
    }
    check_time_locked(&mut state)
}

/// Errors once the render has run longer than [`MAX_RENDER_TIME`].
pub(crate) fn check_time(runtime: &dyn Runtime) -> Result<()> {
    check_time_locked(&mut state(runtime))
}

fn check_time_locked(state: &mut super::runtime::RenderState) -> Result<()> {
    if state.started.elapsed() > MAX_RENDER_TIME {
        let reason = format!("rendering took longer than {MAX_RENDER_TIME:?}");
        return Err(state.stop(Stop::TooLong(reason)));
    }
    Ok(())
}

/// Errors (as "too large") when a produced value is bigger than [`MAX_VALUE_BYTES`].
pub(crate) fn check_value_size(runtime: &dyn Runtime, value: &dyn ValueView) -> Result<()> {
    if value_size(value, MAX_VALUE_BYTES) > MAX_VALUE_BYTES {
        return Err(state(runtime).stop(Stop::TooLarge));
    }
    Ok(())
}

/// Approximate size of a value in bytes (each element counts at least 1), stopping early once
/// `cap` is exceeded.
pub(crate) fn value_size(value: &dyn ValueView, cap: usize) -> usize {
    if let Some(scalar) = value.as_scalar() {
        return scalar.to_kstr().len();
    }
    let mut total = 0usize;
    if let Some(array) = value.as_array() {
        for item in array.values() {
            total = total.saturating_add(1 + value_size(item, cap - total.min(cap)));
            if total > cap {
                break;
            }
        }
    } else if let Some(object) = value.as_object() {
        for (key, item) in object.iter() {
            let item_size = value_size(item, cap - total.min(cap));
            total = total.saturating_add(1 + key.len() + item_size);
            if total > cap {
                break;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use liquid_core::model::Value;
    use std::io::Write;

    #[test]
    fn writer_stops_at_limit() {
        let mut w = LimitedWriter::new(4);
        assert!(w.write_all(b"abcd").is_ok());
        assert!(w.write_all(b"e").is_err());
        assert!(w.overflowed);
        assert_eq!(w.buf, b"abcd");
    }

    #[test]
    fn sizes() {
        let v = Value::Array(vec![Value::scalar("abc"), Value::Nil]);
        assert_eq!(value_size(&v, 100), 5);
        let big = Value::Array(vec![Value::Nil; 1000]);
        assert!(value_size(&big, 10) > 10);
    }
}
