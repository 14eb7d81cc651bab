//! `for` and `capture` blocks with bounds.
//!
//! Adapted from liquid-lib 0.26 (MIT/Apache-2.0). liquid-lib's `for` materialises a whole range
//! (`(1..10000000000)` allocates before the first iteration), has no iteration limit, and hands
//! the loop variable to liquid's strict scope; its `capture` buffers without limit. These
//! versions charge every loop against the render's iteration and time budget before iterating,
//! iterate ranges lazily, scope the loop variable with the tolerant [`LoopFrame`], and capture
//! into a bounded buffer (values inside a capture are written unescaped: the captured text is
//! escaped once, when it is output).

use std::io::Write;

use liquid_core::model::{ObjectView, ScalarCow, Value, ValueCow, ValueView};
use liquid_core::parser::{BlockElement, TryMatchToken};
use liquid_core::runtime::{Interrupt, InterruptRegister};
use liquid_core::{
    BlockReflection, Error, Expression, Language, ParseBlock, Renderable, Result, Runtime,
    TagBlock, TagTokenIter, Template,
};

use super::limits::{charge_iterations, check_time, LimitedWriter, MAX_VALUE_BYTES};
use super::runtime::{state, LoopFrame, Stop};

/// `{% for var in array|range [limit: n] [offset: n] [reversed] %}…[{% else %}…]{% endfor %}`
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct ForBlock;

impl BlockReflection for ForBlock {
    fn start_tag(&self) -> &str {
        "for"
    }

    fn end_tag(&self) -> &str {
        "endfor"
    }

    fn description(&self) -> &str {
        "Iterates over an array, an object or a range, within the render's loop budget."
    }
}

impl ParseBlock for ForBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let var_name = arguments
            .expect_next("Identifier expected.")?
            .expect_identifier()
            .into_result()?
            .to_owned();
        arguments
            .expect_next("\"in\" expected.")?
            .expect_str("in")
            .into_result_custom_msg("\"in\" expected.")?;
        let range = parse_range(&mut arguments)?;
        let (limit, offset, reversed) = parse_options(&mut arguments)?;
        let (item_template, else_template) = parse_body(&mut tokens, options)?;
        tokens.assert_empty();
        Ok(Box::new(For {
            var_name,
            range,
            item_template,
            else_template,
            limit,
            offset,
            reversed,
        }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

fn parse_range(arguments: &mut TagTokenIter<'_>) -> Result<RangeExpression> {
    let token = arguments.expect_next("Array or range expected.")?;
    match token.expect_value() {
        TryMatchToken::Matches(array) => Ok(RangeExpression::Array(array)),
        TryMatchToken::Fails(token) => match token.expect_range() {
            TryMatchToken::Matches((start, stop)) => Ok(RangeExpression::Counted(start, stop)),
            TryMatchToken::Fails(token) => Err(token.raise_error()),
        },
    }
}

type LoopOptions = (Option<Expression>, Option<Expression>, bool);

fn parse_options(arguments: &mut TagTokenIter<'_>) -> Result<LoopOptions> {
    let (mut limit, mut offset, mut reversed) = (None, None, false);
    while let Some(token) = arguments.next() {
        match token.as_str() {
            "limit" => limit = Some(parse_attr(arguments)?),
            "offset" => offset = Some(parse_attr(arguments)?),
            "reversed" => reversed = true,
            _ => {
                return Err(
                    token.raise_custom_error("\"limit\", \"offset\" or \"reversed\" expected.")
                )
            }
        }
    }
    arguments.expect_nothing()?;
    Ok((limit, offset, reversed))
}

fn parse_attr(arguments: &mut TagTokenIter<'_>) -> Result<Expression> {
    arguments
        .expect_next("\":\" expected.")?
        .expect_str(":")
        .into_result_custom_msg("\":\" expected.")?;
    arguments
        .expect_next("Value expected.")?
        .expect_value()
        .into_result()
}

fn parse_body(
    tokens: &mut TagBlock<'_, '_>,
    options: &Language,
) -> Result<(Template, Option<Template>)> {
    let mut items = Vec::new();
    let mut else_template = None;
    while let Some(element) = tokens.next()? {
        match element {
            BlockElement::Tag(mut tag) if tag.name() == "else" => {
                tag.tokens().expect_nothing()?;
                else_template = Some(Template::new(tokens.parse_all(options)?));
                break;
            }
            BlockElement::Tag(tag) => items.push(tag.parse(tokens, options)?),
            element => items.push(element.parse(tokens, options)?),
        }
    }
    Ok((Template::new(items), else_template))
}

#[derive(Debug)]
enum RangeExpression {
    Array(Expression),
    Counted(Expression, Expression),
}

#[derive(Debug)]
struct For {
    var_name: String,
    range: RangeExpression,
    item_template: Template,
    else_template: Option<Template>,
    limit: Option<Expression>,
    offset: Option<Expression>,
    reversed: bool,
}

impl Renderable for For {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let limit = evaluate_attr(self.limit.as_ref(), runtime)?;
        let offset = evaluate_attr(self.offset.as_ref(), runtime)?.unwrap_or(0);
        match &self.range {
            RangeExpression::Array(expr) => {
                let value = expr.evaluate(runtime)?;
                let mut items = collect_items(value.as_view())?;
                items.drain(..offset.min(items.len()));
                items.truncate(limit.unwrap_or(usize::MAX));
                if self.reversed {
                    items.reverse();
                }
                self.run(items.into_iter(), writer, runtime)
            }
            RangeExpression::Counted(start, stop) => {
                let start = int_argument(start, runtime)?;
                let stop = int_argument(stop, runtime)?;
                let (first, count) = counted_window(start, stop, offset, limit);
                let reversed = self.reversed;
                let items = (0..count).map(move |k| {
                    let k = if reversed { count - 1 - k } else { k };
                    let k = i64::try_from(k).unwrap_or(i64::MAX);
                    ValueCow::Owned(Value::scalar(first.saturating_add(k)))
                });
                self.run(items, writer, runtime)
            }
        }
    }
}

impl For {
    /// Renders the body once per item, after charging all iterations to the budget.
    fn run<'v>(
        &self,
        items: impl ExactSizeIterator<Item = ValueCow<'v>>,
        writer: &mut dyn Write,
        runtime: &dyn Runtime,
    ) -> Result<()> {
        let len = items.len();
        if len == 0 {
            return match &self.else_template {
                Some(t) => t.render_to(writer, runtime),
                None => Ok(()),
            };
        }
        charge_iterations(runtime, len as u64)?;
        let parentloop = runtime.try_get(&[ScalarCow::new("forloop")]);
        let parentloop = parentloop.as_ref().map(|v| v.as_view());
        for (i, item) in items.enumerate() {
            check_time(runtime)?;
            let forloop = ForloopObject::new(i, len).with_parent(parentloop);
            let frame = LoopFrame {
                parent: runtime,
                var: &self.var_name,
                item: item.as_view(),
                forloop: &forloop,
            };
            self.item_template.render_to(writer, &frame)?;
            let interrupt = frame.registers().get_mut::<InterruptRegister>().reset();
            if interrupt == Some(Interrupt::Break) {
                break;
            }
        }
        Ok(())
    }
}

/// The items a `for` iterates: an array's elements (borrowed), an object's `[key, value]`
/// pairs, nothing for nil.
fn collect_items(value: &dyn ValueView) -> Result<Vec<ValueCow<'_>>> {
    if let Some(array) = value.as_array() {
        Ok(array.values().map(ValueCow::Borrowed).collect())
    } else if let Some(object) = value.as_object() {
        Ok(object
            .iter()
            .map(|(k, v)| {
                let pair = vec![Value::scalar(k.into_owned()), v.to_value()];
                ValueCow::Owned(Value::Array(pair))
            })
            .collect())
    } else if value.is_nil() || value.is_state() {
        Ok(Vec::new())
    } else {
        Err(Error::with_msg(format!(
            "Expected array, found `{}`",
            value.type_name()
        )))
    }
}

/// First value and count of `(start..stop)` after `offset` and `limit`, without materialising.
fn counted_window(start: i64, stop: i64, offset: usize, limit: Option<usize>) -> (i64, usize) {
    let total = (i128::from(stop) - i128::from(start) + 1).max(0);
    let offset = i128::try_from(offset).unwrap_or(i128::MAX).min(total);
    let mut count = total - offset;
    if let Some(limit) = limit {
        count = count.min(i128::try_from(limit).unwrap_or(i128::MAX));
    }
    let first = i64::try_from(i128::from(start) + offset).unwrap_or(i64::MAX);
    (first, usize::try_from(count).unwrap_or(usize::MAX))
}

fn int_argument(arg: &Expression, runtime: &dyn Runtime) -> Result<i64> {
    let value = arg.evaluate(runtime)?;
    value
        .as_scalar()
        .and_then(|v| v.to_integer())
        .ok_or_else(|| {
            Error::with_msg(format!(
                "Expected whole number, found `{}`",
                value.type_name()
            ))
        })
}

fn evaluate_attr(attr: Option<&Expression>, runtime: &dyn Runtime) -> Result<Option<usize>> {
    let Some(attr) = attr else {
        return Ok(None);
    };
    let n = int_argument(attr, runtime)?;
    Ok(Some(usize::try_from(n.max(0)).unwrap_or(usize::MAX)))
}

/// The `forloop` object of one iteration.
#[derive(Debug, Clone, ValueView, ObjectView)]
struct ForloopObject<'p> {
    length: i64,
    parentloop: Option<&'p dyn ValueView>,
    index0: i64,
    index: i64,
    rindex0: i64,
    rindex: i64,
    first: bool,
    last: bool,
}

impl<'p> ForloopObject<'p> {
    fn new(i: usize, len: usize) -> Self {
        let i = i64::try_from(i).unwrap_or(i64::MAX);
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        ForloopObject {
            length: len,
            parentloop: None,
            index0: i,
            index: i + 1,
            rindex0: len - i - 1,
            rindex: len - i,
            first: i == 0,
            last: i == len - 1,
        }
    }

    fn with_parent(mut self, parentloop: Option<&'p dyn ValueView>) -> Self {
        self.parentloop = parentloop;
        self
    }
}

/// `{% capture name %}…{% endcapture %}`, bounded to [`MAX_VALUE_BYTES`].
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct CaptureBlock;

impl BlockReflection for CaptureBlock {
    fn start_tag(&self) -> &str {
        "capture"
    }

    fn end_tag(&self) -> &str {
        "endcapture"
    }

    fn description(&self) -> &str {
        "Renders its body into a variable."
    }
}

impl ParseBlock for CaptureBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let id = arguments
            .expect_next("Identifier expected")?
            .expect_identifier()
            .into_result()?
            .to_owned();
        arguments.expect_nothing()?;
        let template = Template::new(tokens.parse_all(options)?);
        tokens.assert_empty();
        Ok(Box::new(Capture { id, template }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct Capture {
    id: String,
    template: Template,
}

impl Renderable for Capture {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        state(runtime).capture_depth += 1;
        let mut buf = LimitedWriter::new(MAX_VALUE_BYTES);
        let result = self.template.render_to(&mut buf, runtime);
        state(runtime).capture_depth -= 1;
        if buf.overflowed {
            return Err(state(runtime).stop(Stop::TooLarge));
        }
        result?;
        let text = String::from_utf8(buf.buf)
            .map_err(|_| Error::with_msg("captured text is not UTF-8"))?;
        runtime.set_global(self.id.clone().into(), Value::scalar(text));
        Ok(())
    }
}
