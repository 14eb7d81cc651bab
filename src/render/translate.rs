//! Source-to-source translation run before Liquid parses a schema.
//!
//! liquid 0.26's grammar cannot be extended, so the colon form `{{MODEL:ATTRIBUTE}}` is rewritten
//! into a Liquid variable path here, and every output expression gets an escaping filter appended
//! (`{{ x | upcase }}` → `{{ x | upcase | __hl_esc_json }}`), so escaping by content type holds
//! for every value, whatever filters the author used. A source map records where each piece of
//! the translated text came from, so parse errors can name the line and column the author wrote.
//!
//! The scanner also refuses nesting deep enough to overflow the stack in Liquid's recursive
//! parser and renderer (blocks, `elsif` chains, `and`/`or` chains, brackets).

use crate::model::ContentType;

/// Deepest block nesting accepted (`elsif` counts as one more level, as Liquid nests it).
pub(crate) const MAX_BLOCK_DEPTH: usize = 64;
/// Deepest `[`/`(` nesting accepted inside one tag or expression.
pub(crate) const MAX_BRACKET_DEPTH: usize = 16;
/// Most `and`/`or` operators accepted in one tag (Liquid builds them into a recursive tree).
pub(crate) const MAX_CONDITION_OPERATORS: usize = 64;

/// Tags that open a block closed by `end<name>`.
const BLOCK_TAGS: &[&str] = &[
    "if",
    "unless",
    "case",
    "for",
    "capture",
    "comment",
    "ifchanged",
    "tablerow",
];

/// The translated template text plus the map back to the original.
#[derive(Debug)]
pub(crate) struct Translated {
    pub(crate) text: String,
    spans: Vec<Span>,
}

/// One piece of translated text: copied verbatim from `orig`, or inserted at `orig`.
#[derive(Debug, Clone, Copy)]
struct Span {
    trans: usize,
    orig: usize,
    copied: bool,
}

/// A problem found by the scanner itself, at a byte offset of the original template.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub(crate) offset: usize,
    pub(crate) message: String,
}

impl Translated {
    /// Maps a byte offset of the translated text back to the original template.
    pub(crate) fn to_original(&self, trans: usize) -> usize {
        let idx = self.spans.partition_point(|s| s.trans <= trans);
        match idx.checked_sub(1).and_then(|i| self.spans.get(i)) {
            Some(span) if span.copied => span.orig + (trans - span.trans),
            Some(span) => span.orig,
            None => 0,
        }
    }
}

/// Builds the translated text and its source map.
struct Out<'a> {
    src: &'a str,
    text: String,
    spans: Vec<Span>,
}

impl<'a> Out<'a> {
    fn new(src: &'a str) -> Self {
        let text = String::with_capacity(src.len() + src.len() / 4 + 16);
        Out {
            src,
            text,
            spans: Vec::new(),
        }
    }

    fn copy(&mut self, from: usize, to: usize) {
        if from >= to {
            return;
        }
        self.spans.push(Span {
            trans: self.text.len(),
            orig: from,
            copied: true,
        });
        self.text.push_str(&self.src[from..to]);
    }

    fn insert(&mut self, text: &str, orig: usize) {
        self.spans.push(Span {
            trans: self.text.len(),
            orig,
            copied: false,
        });
        self.text.push_str(text);
    }
}

/// Translates `src` for `content_type`; see the module documentation.
pub(crate) fn translate(src: &str, content_type: ContentType) -> Result<Translated, ScanError> {
    let mut out = Out::new(src);
    let mut nesting = Nesting::default();
    let bytes = src.as_bytes();
    let mut pos = 0;
    let mut copied_to = 0;
    while let Some(open) = find_open(bytes, pos) {
        let next = if bytes[open + 1] == b'{' {
            expression(&mut out, open, copied_to, content_type)?
        } else {
            tag(&mut out, open, copied_to, &mut nesting)?
        };
        match next {
            Some(end) => {
                pos = end;
                copied_to = end;
            }
            None => break,
        }
    }
    out.copy(copied_to, src.len());
    Ok(Translated {
        text: out.text,
        spans: out.spans,
    })
}

/// The next `{{` or `{%` at or after `from`.
fn find_open(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < bytes.len() {
        if bytes[i] == b'{' && (bytes[i + 1] == b'{' || bytes[i + 1] == b'%') {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The index of the closing `<delim>}` after `from`, skipping string literals.
/// `None` when it never closes (Liquid will then report the error itself).
fn find_close(bytes: &[u8], from: usize, delim: u8) -> Option<usize> {
    let mut i = from;
    while i + 1 < bytes.len() {
        match bytes[i] {
            q @ (b'"' | b'\'') => {
                let len = bytes[i + 1..].iter().position(|&b| b == q)?;
                i += len + 2;
            }
            b if b == delim && bytes[i + 1] == b'}' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The inner text range of a `{{ … }}`/`{% … %}` starting at `open` and closing at `close`,
/// without the whitespace-control hyphens.
fn inner_range(bytes: &[u8], open: usize, close: usize) -> (usize, usize) {
    let start = if bytes.get(open + 2) == Some(&b'-') && open + 3 <= close {
        open + 3
    } else {
        open + 2
    };
    let end = if close > start && bytes[close - 1] == b'-' {
        close - 1
    } else {
        close
    };
    (start, end)
}

/// Handles one `{{ … }}`: translates the colon form and appends the escaping filter.
/// Returns the offset after it, or `None` when it never closes.
fn expression(
    out: &mut Out<'_>,
    open: usize,
    copied_to: usize,
    content_type: ContentType,
) -> Result<Option<usize>, ScanError> {
    let bytes = out.src.as_bytes();
    let Some(close) = find_close(bytes, open + 2, b'}') else {
        return Ok(None);
    };
    let (start, end) = inner_range(bytes, open, close);
    let inner = &out.src[start..end];
    check_brackets(inner, open)?;
    out.copy(copied_to, start);
    let chain = match colon_form(inner) {
        Some(liquid) => {
            out.insert(&format!(" {liquid} "), start);
            liquid
        }
        None => {
            out.copy(start, end);
            inner.to_owned()
        }
    };
    out.insert(output_filter(&chain, content_type), end);
    out.copy(end, close + 2);
    Ok(Some(close + 2))
}

/// The filter appended to an output expression: `json` output is a whole JSON value that only
/// needs the content type's outer escaping; everything else is escaped as a value.
fn output_filter(chain: &str, content_type: ContentType) -> &'static str {
    let ends_in_json = last_filter(chain).is_some_and(|f| f == "json");
    match (ends_in_json, content_type) {
        (true, ContentType::Json) => " | __hl_raw_json ",
        (true, ContentType::Xml) => " | __hl_raw_xml ",
        (true, ContentType::Text) => " | __hl_raw_text ",
        (false, ContentType::Json) => " | __hl_esc_json ",
        (false, ContentType::Xml) => " | __hl_esc_xml ",
        (false, ContentType::Text) => " | __hl_esc_text ",
    }
}

/// The last top-level `| filter` of an expression (without arguments), if any.
fn last_filter(chain: &str) -> Option<&str> {
    let mut last = None;
    let mut quote = None;
    for (i, c) in chain.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '|') => last = Some(i + 1),
            _ => {}
        }
    }
    last.map(|i| chain[i..].trim())
}

/// Handles one `{% … %}`: tracks nesting, skips `{% raw %}` bodies verbatim.
fn tag(
    out: &mut Out<'_>,
    open: usize,
    copied_to: usize,
    nesting: &mut Nesting,
) -> Result<Option<usize>, ScanError> {
    let bytes = out.src.as_bytes();
    let Some(close) = find_close(bytes, open + 2, b'%') else {
        return Ok(None);
    };
    let (start, end) = inner_range(bytes, open, close);
    let inner = &out.src[start..end];
    check_brackets(inner, open)?;
    check_operators(inner, open)?;
    let name = tag_name(inner);
    nesting.visit(name, open)?;
    let mut after = close + 2;
    if name == "raw" {
        nesting.close();
        match find_end_raw(out.src, after) {
            Some(end) => after = end,
            None => return Ok(None),
        }
    }
    out.copy(copied_to, after);
    Ok(Some(after))
}

/// The first word of a tag's inner text.
fn tag_name(inner: &str) -> &str {
    let inner = inner.trim_start();
    let end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    &inner[..end]
}

/// The offset just after the `{% endraw %}` that closes a raw block starting at `from`.
fn find_end_raw(src: &str, from: usize) -> Option<usize> {
    let bytes = src.as_bytes();
    let mut pos = from;
    loop {
        let open = pos + src.get(pos..)?.find("{%")?;
        let close = find_close(bytes, open + 2, b'%')?;
        let (start, end) = inner_range(bytes, open, close);
        if src[start..end].trim() == "endraw" {
            return Some(close + 2);
        }
        pos = open + 2;
    }
}

/// Block nesting depth, counting each `elsif` as one more level until its `endif`.
#[derive(Default)]
struct Nesting {
    open: Vec<usize>,
    depth: usize,
}

impl Nesting {
    fn visit(&mut self, name: &str, at: usize) -> Result<(), ScanError> {
        if BLOCK_TAGS.contains(&name) || name == "raw" {
            self.open.push(1);
            self.depth += 1;
        } else if name == "elsif" {
            if let Some(levels) = self.open.last_mut() {
                *levels += 1;
                self.depth += 1;
            }
        } else if name.starts_with("end") {
            self.close();
        }
        if self.depth > MAX_BLOCK_DEPTH {
            return Err(ScanError {
                offset: at,
                message: format!("blocks are nested more than {MAX_BLOCK_DEPTH} deep"),
            });
        }
        Ok(())
    }

    fn close(&mut self) {
        if let Some(levels) = self.open.pop() {
            self.depth -= levels;
        }
    }
}

/// Refuses `[`/`(` nesting deeper than [`MAX_BRACKET_DEPTH`] outside string literals.
fn check_brackets(inner: &str, at: usize) -> Result<(), ScanError> {
    let mut depth = 0usize;
    let mut quote = None;
    for c in inner.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '(') => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return Err(ScanError {
                        offset: at,
                        message: format!("brackets are nested more than {MAX_BRACKET_DEPTH} deep"),
                    });
                }
            }
            (None, ']' | ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Refuses more than [`MAX_CONDITION_OPERATORS`] `and`/`or` words in one tag.
fn check_operators(inner: &str, at: usize) -> Result<(), ScanError> {
    let count = inner
        .split_whitespace()
        .filter(|w| *w == "and" || *w == "or")
        .count();
    if count > MAX_CONDITION_OPERATORS {
        return Err(ScanError {
            offset: at,
            message: format!("more than {MAX_CONDITION_OPERATORS} `and`/`or` in one condition"),
        });
    }
    Ok(())
}

/// Translates `MODEL:ATTR[.ATTR…] [| filters]` into a Liquid filter chain, or `None` when the
/// expression is not in the colon form (valid Liquid never starts with `name:`).
pub(crate) fn colon_form(inner: &str) -> Option<String> {
    let s = inner.trim();
    let model_len = s.find(|c: char| !is_name_char(c)).unwrap_or(s.len());
    let (model, rest) = s.split_at(model_len);
    if !model.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        return None;
    }
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let attr_len = rest
        .find(|c: char| !(is_name_char(c) || c == '.'))
        .unwrap_or(rest.len());
    let (attr, tail) = rest.split_at(attr_len);
    let tail = tail.trim();
    if !(tail.is_empty() || tail.starts_with('|')) {
        return None;
    }
    let mut path = root_expr(model);
    for segment in attr.split('.') {
        if segment.is_empty() {
            return None;
        }
        push_segment(&mut path, segment);
    }
    if !tail.is_empty() {
        path.push(' ');
        path.push_str(tail);
    }
    Some(path)
}

/// Characters of a model or attribute name in the colon form.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// The Liquid expression naming a top-level model. Names Liquid cannot parse as a variable
/// (e.g. `true_x`, which lexes as the literal `true`) go through the `__hl_root` alias.
fn root_expr(model: &str) -> String {
    const LITERALS: &[&str] = &["nil", "null", "true", "false", "empty", "blank"];
    if is_plain_identifier(model) && !LITERALS.iter().any(|l| model.starts_with(l)) {
        model.to_owned()
    } else {
        format!("__hl_root[\"{model}\"]")
    }
}

/// Appends `.segment`, or `["segment"]` when it is not a plain identifier.
fn push_segment(path: &mut String, segment: &str) {
    if is_plain_identifier(segment) {
        path.push('.');
        path.push_str(segment);
    } else {
        path.push_str("[\"");
        path.push_str(segment);
        path.push_str("\"]");
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn is_plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(src: &str) -> String {
        translate(src, ContentType::Text)
            .map(|t| t.text)
            .unwrap_or_default()
    }

    #[test]
    fn colon_forms() {
        assert_eq!(colon_form("ticket:ref").as_deref(), Some("ticket.ref"));
        assert_eq!(colon_form(" ticket : ref ").as_deref(), Some("ticket.ref"));
        assert_eq!(
            colon_form("ticket:custom.region").as_deref(),
            Some("ticket.custom.region")
        );
        assert_eq!(colon_form("event:type").as_deref(), Some("event.type"));
        assert_eq!(
            colon_form("ticket:tags.0").as_deref(),
            Some("ticket.tags[\"0\"]")
        );
        assert_eq!(
            colon_form("ticket:due-at").as_deref(),
            Some("ticket[\"due-at\"]")
        );
        assert_eq!(
            colon_form("true_model:x").as_deref(),
            Some("__hl_root[\"true_model\"].x")
        );
        assert_eq!(
            colon_form("ticket:subject | upcase").as_deref(),
            Some("ticket.subject | upcase")
        );
    }

    #[test]
    fn not_colon_forms() {
        for inner in [
            "ticket.ref",
            "x | default: 'a:b'",
            "\"a:b\"",
            "ticket:",
            "ticket:a..b",
            "ticket:ref extra",
            ":ref",
            "1:2",
        ] {
            assert_eq!(colon_form(inner), None, "{inner}");
        }
    }

    #[test]
    fn appends_escaping_filter() {
        assert_eq!(
            tr("a{{ticket:ref}}b"),
            "a{{ ticket.ref  | __hl_esc_text }}b"
        );
        assert_eq!(tr("{{- x -}}"), "{{- x  | __hl_esc_text -}}");
        assert_eq!(tr("{{ x | json }}"), "{{ x | json  | __hl_raw_text }}");
        assert_eq!(
            tr("{{ x | append: '| json' }}"),
            "{{ x | append: '| json'  | __hl_esc_text }}"
        );
    }

    #[test]
    fn leaves_strings_tags_and_raw_alone() {
        assert_eq!(tr("{{ \"}}\" }}"), "{{ \"}}\"  | __hl_esc_text }}");
        assert_eq!(
            tr("{% assign a = \"{{t:x}}\" %}"),
            "{% assign a = \"{{t:x}}\" %}"
        );
        let raw = "{% raw %}{{ticket:ref}}{% endraw %}";
        assert_eq!(tr(raw), raw);
        let raw = "{%- raw -%}{{x}}{%- endraw -%}{{y}}";
        assert_eq!(
            tr(raw),
            "{%- raw -%}{{x}}{%- endraw -%}{{y | __hl_esc_text }}"
        );
    }

    #[test]
    fn unclosed_is_left_for_liquid() {
        assert_eq!(tr("a {{ b"), "a {{ b");
        assert_eq!(tr("{{ 'b }}"), "{{ 'b }}");
        assert_eq!(tr("{% if x"), "{% if x");
    }

    #[test]
    fn source_map_points_into_the_original() {
        let src = "ab{{ticket:ref}}cd{{ x }}";
        let t = translate(src, ContentType::Json).expect("translates");
        let cd = t.text.find("cd").expect("cd kept");
        assert_eq!(t.to_original(cd), 16);
        let x = t.text.rfind('x').expect("x kept");
        assert_eq!(t.to_original(x), src.rfind('x').unwrap_or_default());
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = "{% if a %}".repeat(MAX_BLOCK_DEPTH + 1);
        assert!(translate(&deep, ContentType::Text).is_err());
        let ok = "{% if a %}{% endif %}".repeat(MAX_BLOCK_DEPTH + 1);
        assert!(translate(&ok, ContentType::Text).is_ok());
        let elsif = format!("{{% if a %}}{}", "{% elsif b %}".repeat(MAX_BLOCK_DEPTH));
        assert!(translate(&elsif, ContentType::Text).is_err());
        let brackets = format!("{{{{ {}x{} }}}}", "a[".repeat(20), "]".repeat(20));
        assert!(translate(&brackets, ContentType::Text).is_err());
        let ors = format!(
            "{{% if a{} %}}",
            " or a".repeat(MAX_CONDITION_OPERATORS + 1)
        );
        assert!(translate(&ors, ContentType::Text).is_err());
    }
}
