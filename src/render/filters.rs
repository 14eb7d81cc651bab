//! Filters: the escaping filters the translator appends, `json`, and size guards around the
//! standard filters; plus the Liquid language (tags, blocks, filters) schemas are parsed with.

use std::fmt;
use std::sync::OnceLock;

use liquid_core::model::{Value, ValueView};
use liquid_core::parser::{FilterArguments, ParameterReflection};
use liquid_core::{
    Error, Expression, Filter, FilterReflection, Language, ParseFilter, Result, Runtime,
};
use liquid_lib::stdlib;

use super::escape::{push_json_value, push_output, push_xml};
use super::limits::{check_time, check_value_size, MAX_VALUE_BYTES};
use super::runtime::{state, Stop};
use crate::model::ContentType;

/// The Liquid language of schemas, built once.
///
/// Left out on purpose: `include`/`render` (no partials), `cycle` and `tablerow` (they write
/// values without the escaping filter), `ifchanged` (buffers its body without a bound).
///
/// Why liquid-core's `Language` and not the `liquid` crate's `ParserBuilder` (0.26): the
/// builder's `.tag`/`.block`/`.filter` make the same registrations as below (keyed by the
/// reflection's name), but what it builds cannot be used here. `ParserBuilder::build` gives a
/// `liquid::Parser` whose `Language` is private, and `Parser::parse` gives a
/// `liquid::Template` whose `liquid_core::Template` is private; such a template renders only
/// through `render_to(writer, globals)`, which wraps the globals in liquid's own runtime.
/// Schemas must render in `runtime::EventRuntime` instead: a missing path renders as
/// nil (0 when validating) and is recorded as an unknown placeholder, where liquid's runtime
/// fails the render with `Unknown variable`; and its `RenderState` register (unknown
/// placeholders, the stop reason behind `TooLarge`/`TooLong`) is read after the render, which
/// a runtime made and dropped inside `render_to` does not allow. So the language is assembled
/// here and parsed with `liquid_core::parser::parse` (`super::compile`).
pub(crate) fn language() -> &'static Language {
    static LANGUAGE: OnceLock<Language> = OnceLock::new();
    LANGUAGE.get_or_init(build_language)
}

fn build_language() -> Language {
    let mut lang = Language::empty();
    register_tags(&mut lang);
    register_blocks(&mut lang);
    register_standard_filters(&mut lang);
    let own: [OutputFilter; 7] = [
        OutputFilter::escape("__hl_esc_json", ContentType::Json),
        OutputFilter::escape("__hl_esc_xml", ContentType::Xml),
        OutputFilter::escape("__hl_esc_text", ContentType::Text),
        OutputFilter::raw("__hl_raw_json", ContentType::Json),
        OutputFilter::raw("__hl_raw_xml", ContentType::Xml),
        OutputFilter::raw("__hl_raw_text", ContentType::Text),
        OutputFilter::json(),
    ];
    for filter in own {
        lang.filters
            .register(filter.name.to_owned(), Box::new(filter));
    }
    lang
}

fn register_tags(lang: &mut Language) {
    let tags: [Box<dyn liquid_core::ParseTag>; 5] = [
        Box::new(stdlib::AssignTag),
        Box::new(stdlib::BreakTag),
        Box::new(stdlib::ContinueTag),
        Box::new(stdlib::IncrementTag),
        Box::new(stdlib::DecrementTag),
    ];
    for tag in tags {
        lang.tags.register(tag.reflection().tag().to_owned(), tag);
    }
}

fn register_blocks(lang: &mut Language) {
    let blocks: [Box<dyn liquid_core::ParseBlock>; 7] = [
        Box::new(stdlib::RawBlock),
        Box::new(stdlib::IfBlock),
        Box::new(stdlib::UnlessBlock),
        Box::new(stdlib::CommentBlock),
        Box::new(stdlib::CaseBlock),
        Box::new(super::blocks::ForBlock),
        Box::new(super::blocks::CaptureBlock),
    ];
    for block in blocks {
        lang.blocks
            .register(block.reflection().start_tag().to_owned(), block);
    }
}

/// Registers liquid's standard filters, each behind a [`Bounded`] guard.
fn register_standard_filters(lang: &mut Language) {
    use Guard::{Arithmetic, Date, Join, Plain, Replace};
    let filters: Vec<(Box<dyn ParseFilter>, Guard)> = vec![
        (Box::new(stdlib::Abs), Arithmetic(Op::Abs)),
        (Box::new(stdlib::Append), Plain),
        (Box::new(stdlib::AtLeast), Plain),
        (Box::new(stdlib::AtMost), Plain),
        (Box::new(stdlib::Capitalize), Plain),
        (Box::new(stdlib::Ceil), Plain),
        (Box::new(stdlib::Compact), Plain),
        (Box::new(stdlib::Concat), Plain),
        (Box::new(stdlib::Date), Date),
        (Box::new(stdlib::Default), Plain),
        (Box::new(stdlib::DividedBy), Arithmetic(Op::Div)),
        (Box::new(stdlib::Downcase), Plain),
        (Box::new(stdlib::Escape), Plain),
        (Box::new(stdlib::EscapeOnce), Plain),
        (Box::new(stdlib::First), Plain),
        (Box::new(stdlib::Floor), Plain),
        (Box::new(stdlib::Join), Join),
        (Box::new(stdlib::Last), Plain),
        (Box::new(stdlib::Lstrip), Plain),
        (Box::new(stdlib::Map), Plain),
        (Box::new(stdlib::Minus), Arithmetic(Op::Sub)),
        (Box::new(stdlib::Modulo), Arithmetic(Op::Rem)),
        (Box::new(stdlib::NewlineToBr), Plain),
        (Box::new(stdlib::Plus), Arithmetic(Op::Add)),
        (Box::new(stdlib::Prepend), Plain),
        (Box::new(stdlib::Remove), Plain),
        (Box::new(stdlib::RemoveFirst), Plain),
        (Box::new(stdlib::Replace), Replace),
        (Box::new(stdlib::ReplaceFirst), Plain),
        (Box::new(stdlib::Reverse), Plain),
        (Box::new(stdlib::Round), Plain),
        (Box::new(stdlib::Rstrip), Plain),
        (Box::new(stdlib::Size), Plain),
        (Box::new(stdlib::Slice), Plain),
        (Box::new(stdlib::Sort), Plain),
        (Box::new(stdlib::SortNatural), Plain),
        (Box::new(stdlib::Split), Plain),
        (Box::new(stdlib::Strip), Plain),
        (Box::new(stdlib::StripHtml), Plain),
        (Box::new(stdlib::StripNewlines), Plain),
        (Box::new(stdlib::Times), Arithmetic(Op::Mul)),
        (Box::new(stdlib::Truncate), Plain),
        (Box::new(stdlib::TruncateWords), Plain),
        (Box::new(stdlib::Uniq), Plain),
        (Box::new(stdlib::Upcase), Plain),
        (Box::new(stdlib::UrlDecode), Plain),
        (Box::new(stdlib::UrlEncode), Plain),
        (Box::new(stdlib::Where), Plain),
    ];
    for (inner, guard) in filters {
        let name = inner.reflection().name().to_owned();
        lang.filters
            .register(name, Box::new(Bounded { inner, guard }));
    }
}

/// What a guarded filter checks before it runs (after it runs, every output is size-checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// Output is at most a small multiple of its inputs: the output check suffices.
    Plain,
    /// `replace` multiplies: input length × replacement length.
    Replace,
    /// `join` multiplies: element count × separator length.
    Join,
    /// `date` formats take padding widths (`%999999999Y`).
    Date,
    /// Integer math that overflows panics in liquid-lib (debug) or wraps (release).
    Arithmetic(Op),
}

/// The integer operation of a math filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Abs,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl Op {
    /// `None` when the operation overflows (or divides by zero).
    fn checked(self, a: i64, b: Option<i64>) -> Option<i64> {
        match (self, b) {
            (Op::Abs, _) => a.checked_abs(),
            (Op::Add, Some(b)) => a.checked_add(b),
            (Op::Sub, Some(b)) => a.checked_sub(b),
            (Op::Mul, Some(b)) => a.checked_mul(b),
            (Op::Div, Some(b)) => a.checked_div(b),
            (Op::Rem, Some(b)) => a.checked_rem(b),
            (_, None) => Some(0),
        }
    }
}

/// A standard filter wrapped with size checks.
#[derive(Clone)]
struct Bounded {
    inner: Box<dyn ParseFilter>,
    guard: Guard,
}

impl ParseFilter for Bounded {
    fn parse(&self, arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let positional: Vec<Expression> = arguments.positional.collect();
        let keyword: Vec<_> = arguments.keyword.collect();
        let args = match self.guard {
            Guard::Plain | Guard::Arithmetic(Op::Abs) => Vec::new(),
            _ => positional.clone(),
        };
        let inner = self.inner.parse(FilterArguments {
            positional: Box::new(positional.into_iter()),
            keyword: Box::new(keyword.into_iter()),
        })?;
        Ok(Box::new(BoundedFilter {
            inner,
            guard: self.guard,
            args,
        }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self.inner.reflection()
    }
}

#[derive(Debug)]
struct BoundedFilter {
    inner: Box<dyn Filter>,
    guard: Guard,
    args: Vec<Expression>,
}

impl fmt::Display for BoundedFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Filter for BoundedFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        // Filters are where the work is (up to MAX_VALUE_BYTES per call), so the clock is
        // checked here as well as in loops.
        check_time(runtime)?;
        if self.estimate(input, runtime)? > MAX_VALUE_BYTES {
            return Err(state(runtime).stop(Stop::TooLarge));
        }
        let output = self.inner.evaluate(input, runtime)?;
        check_value_size(runtime, &output)?;
        Ok(output)
    }
}

impl BoundedFilter {
    /// The output size the arguments imply, for the filters that can multiply their input.
    fn estimate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<usize> {
        let arg = |i: usize| -> Result<Option<String>> {
            self.args
                .get(i)
                .map(|e| e.evaluate(runtime).map(|v| v.to_kstr().as_str().to_owned()))
                .transpose()
        };
        Ok(match self.guard {
            Guard::Plain => 0,
            Guard::Replace => {
                let search = arg(0)?.unwrap_or_default();
                let replace_len = arg(1)?.map_or(0, |r| r.len());
                replace_estimate(&input.to_kstr(), &search, replace_len)
            }
            Guard::Join => {
                let separator_len = arg(0)?.map_or(1, |s| s.len());
                join_estimate(input, separator_len)
            }
            Guard::Arithmetic(op) => {
                self.check_arithmetic(op, input, runtime)?;
                0
            }
            Guard::Date => {
                let format = arg(0)?.unwrap_or_default();
                if has_wide_padding(&format) {
                    return Err(Error::with_msg("date format padding wider than 3 digits"));
                }
                0
            }
        })
    }
}

impl BoundedFilter {
    /// Refuses integer operations that would overflow, before liquid-lib performs them.
    fn check_arithmetic(&self, op: Op, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<()> {
        let Some(a) = input.as_scalar().and_then(|s| s.to_integer()) else {
            return Ok(());
        };
        let b = match self.args.first() {
            Some(expr) => match expr
                .evaluate(runtime)?
                .as_scalar()
                .and_then(|s| s.to_integer())
            {
                Some(b) => Some(b),
                None => return Ok(()),
            },
            None => None,
        };
        if b == Some(0) && matches!(op, Op::Div | Op::Rem) {
            return Ok(()); // liquid-lib reports division by zero itself
        }
        match op.checked(a, b) {
            Some(_) => Ok(()),
            None => {
                Err(Error::with_msg("integer overflow").context("filter", self.inner.to_string()))
            }
        }
    }
}

fn replace_estimate(input: &str, search: &str, replace_len: usize) -> usize {
    let matches = if search.is_empty() {
        input.chars().count() + 1
    } else {
        input.matches(search).count()
    };
    input
        .len()
        .saturating_add(matches.saturating_mul(replace_len))
}

fn join_estimate(input: &dyn ValueView, separator_len: usize) -> usize {
    let Some(array) = input.as_array() else {
        return 0;
    };
    let items: usize = array
        .values()
        .map(|v| v.to_kstr().len())
        .fold(0, usize::saturating_add);
    let count = usize::try_from(array.size()).unwrap_or(usize::MAX);
    items.saturating_add(count.saturating_sub(1).saturating_mul(separator_len))
}

/// True when a strftime format asks for padding of 4 or more digits (`%1000Y`).
fn has_wide_padding(format: &str) -> bool {
    format.split('%').skip(1).any(|spec| {
        let spec = spec.trim_start_matches(['-', '_', '0', '^', '#']);
        spec.chars().take_while(char::is_ascii_digit).count() > 3
    })
}

/// The filters the translator appends to output expressions, and `json`.
#[derive(Debug, Clone)]
struct OutputFilter {
    name: &'static str,
    content_type: ContentType,
    kind: OutputKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputKind {
    /// Writes any value escaped for the content type.
    Escape,
    /// Writes the text of a trailing `json` filter: as is, or XML-escaped in XML.
    Raw,
    /// `json`: a value as a whole JSON value (strings quoted, arrays and objects whole).
    Json,
}

impl OutputFilter {
    fn escape(name: &'static str, content_type: ContentType) -> Self {
        let kind = OutputKind::Escape;
        OutputFilter {
            name,
            content_type,
            kind,
        }
    }

    fn raw(name: &'static str, content_type: ContentType) -> Self {
        let kind = OutputKind::Raw;
        OutputFilter {
            name,
            content_type,
            kind,
        }
    }

    fn json() -> Self {
        let (name, content_type, kind) = ("json", ContentType::Text, OutputKind::Json);
        OutputFilter {
            name,
            content_type,
            kind,
        }
    }

    /// Inside `{% capture %}` values are captured unescaped; they are escaped when output.
    fn effective_type(&self, runtime: &dyn Runtime) -> ContentType {
        if state(runtime).capture_depth > 0 {
            ContentType::Text
        } else {
            self.content_type
        }
    }
}

impl fmt::Display for OutputFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl FilterReflection for OutputFilter {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        match self.kind {
            OutputKind::Json => "Writes a value as a complete JSON value.",
            _ => "Writes a value escaped for the schema's content type (added automatically).",
        }
    }

    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }

    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }
}

impl ParseFilter for OutputFilter {
    fn parse(&self, mut arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        if arguments.positional.next().is_some() || arguments.keyword.next().is_some() {
            return Err(Error::with_msg(format!(
                "`{}` takes no arguments",
                self.name
            )));
        }
        Ok(Box::new(self.clone()))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

impl Filter for OutputFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let mut out = String::new();
        match self.kind {
            OutputKind::Escape => push_output(&mut out, input, self.effective_type(runtime)),
            OutputKind::Raw => match self.effective_type(runtime) {
                ContentType::Xml => push_xml(&mut out, &input.to_kstr()),
                _ => out.push_str(&input.to_kstr()),
            },
            OutputKind::Json => {
                push_json_value(&mut out, input);
                if out.len() > MAX_VALUE_BYTES {
                    return Err(state(runtime).stop(Stop::TooLarge));
                }
            }
        }
        Ok(Value::scalar(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates() {
        assert_eq!(replace_estimate("aaa", "a", 10), 33);
        assert_eq!(replace_estimate("ab", "", 1), 5);
        assert!(has_wide_padding("%Y %1000d"));
        assert!(has_wide_padding("%-_99999Y"));
        assert!(!has_wide_padding("%Y-%m-%d %H:%M 2026 %010d"));
    }
}
