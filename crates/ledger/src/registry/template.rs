//! Jinja templates (minijinja), treated as untrusted input: strict about
//! undefined variables, and bounded in instructions (fuel), recursion depth
//! and output size, so a hostile template fails fast instead of hanging or
//! filling memory.

use std::io;

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

/// Instructions one template render may execute (~20 ms natively). Ordinary
/// prompts use a few hundred; a loop over 10 000 items fits comfortably.
pub const FUEL: u64 = 200_000;
/// Nesting depth (loops, macro calls); a self-recursive macro stops here.
pub const RECURSION_LIMIT: usize = 100;
/// Largest rendered output (all messages of a chat prompt together).
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// Most operators, filters, attribute lookups, subscripts and calls one tag
/// may hold. minijinja builds such a chain in a loop but walks the tree it
/// makes recursively, so a long one overflows the stack (500 chained calls
/// do on a 1 MiB stack) instead of failing; no prompt comes near this.
pub const MAX_CHAIN: usize = 200;

/// Names the engine provides (or sets inside macros and loops) that are not
/// variables a caller supplies.
const ENGINE_NAMES: &[&str] = &["loop", "self", "super", "caller", "varargs", "kwargs"];

thread_local! {
    static ENV: Environment<'static> = environment();
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    // Prompts are plain text: no HTML escaping, and whitespace is content.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_keep_trailing_newline(true);
    // `null` prints as nothing (not `none`), so optional variables can be
    // passed as null.
    env.set_formatter(
        |out, state, value| {
            if value.is_none() { Ok(()) } else { minijinja::escape_formatter(out, state, value) }
        },
    );
    env.set_debug(true);
    env
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// Parses `source` and returns the variables it reads from its context,
/// sorted.
///
/// # Errors
/// The first syntax error, with its position when known.
pub fn declared_variables(source: &str) -> Result<Vec<String>, SyntaxError> {
    if let Some(offset) = overlong_tag(source) {
        return Err(SyntaxError {
            message: chain_message(),
            line: Some(source[..offset].matches('\n').count() + 1),
            column: Some(column_of(source, offset)),
        });
    }
    ENV.with(|env| {
        let template = env.template_from_str(source).map_err(|e| SyntaxError {
            message: e.detail().map_or_else(|| e.kind().to_string(), str::to_owned),
            line: e.line(),
            column: e.range().map(|r| column_of(source, r.start)),
        })?;
        let globals: Vec<&str> = env.globals().map(|(name, _)| name).collect();
        let mut names: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|n| !ENGINE_NAMES.contains(&n.as_str()) && !globals.contains(&n.as_str()))
            .collect();
        names.sort();
        Ok(names)
    })
}

fn chain_message() -> String {
    format!("a tag chains more than {MAX_CHAIN} operators, filters, attribute lookups or calls")
}

/// The byte offset of the first tag holding more than [`MAX_CHAIN`] chain
/// links (an upper bound on the depth of the tree it parses to). Strings,
/// comments and `raw` blocks hold none.
fn overlong_tag(source: &str) -> Option<usize> {
    let b = source.as_bytes();
    let find =
        |from: usize, needle: &[u8]| b.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|at| from + at);
    let mut i = 0;
    while let Some(start) = find(i, b"{") {
        let close: &[u8] = match b.get(start + 1) {
            Some(b'{') => b"}}",
            Some(b'%') => b"%}",
            Some(b'#') => {
                i = find(start + 2, b"#}")? + 2;
                continue;
            }
            _ => {
                i = start + 1;
                continue;
            }
        };
        let (mut j, mut links) = (start + 2, 0);
        while !b[j..].starts_with(close) {
            let c = *b.get(j)?;
            match c {
                b'"' | b'\'' => {
                    j += 1;
                    while *b.get(j)? != c {
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                }
                b'|' | b'[' | b'(' | b'+' | b'-' | b'*' | b'/' | b'%' | b'~' | b'<' | b'>' | b'=' | b'!' => links += 1,
                b'.' if b.get(j + 1).is_some_and(|n| n.is_ascii_alphabetic() || *n == b'_') => links += 1,
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let word = j;
                    while b.get(j + 1).is_some_and(|n| n.is_ascii_alphanumeric() || *n == b'_') {
                        j += 1;
                    }
                    let word = &b[word..=j];
                    if matches!(word, b"and" | b"or" | b"not" | b"is" | b"in" | b"if") {
                        links += 1;
                    }
                    if close == b"%}" && word == b"raw" {
                        // The block's text runs to `endraw` and holds no tags.
                        j = find(j, b"endraw")?;
                        continue;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        if links > MAX_CHAIN {
            return Some(start);
        }
        i = j + 2;
    }
    None
}

/// 1-based column (in characters) of a byte offset.
fn column_of(source: &str, offset: usize) -> usize {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    source.get(line_start..offset).map_or(1, |s| s.chars().count() + 1)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// An undefined value was used (strict mode); the expression when known.
    Undefined { expression: Option<String>, line: Option<usize> },
    /// A fuel, recursion, size or range limit was hit.
    Limit { message: String },
    /// Anything else the template did wrong (unknown filter, bad operation).
    Failed { message: String, line: Option<usize> },
}

/// Renders `source` with `context`, drawing its output from `budget` bytes
/// (shared between the messages of one chat prompt).
///
/// # Errors
/// See [`RenderError`].
pub fn render(source: &str, context: &Value, budget: &mut usize) -> Result<String, RenderError> {
    if overlong_tag(source).is_some() {
        return Err(RenderError::Limit { message: chain_message() });
    }
    ENV.with(|env| {
        let template = env
            .template_from_str(source)
            .map_err(|e| RenderError::Failed { message: e.to_string(), line: e.line() })?;
        let mut out = Capped { bytes: Vec::new(), limit: *budget, overflowed: false };
        let result = template.render_captured_to(context, &mut out).map(drop);
        if out.overflowed {
            return Err(RenderError::Limit { message: format!("rendered output exceeds {} bytes", MAX_OUTPUT_BYTES) });
        }
        result.map_err(|e| classify(&e, source))?;
        *budget -= out.bytes.len();
        String::from_utf8(out.bytes).map_err(|e| RenderError::Failed { message: e.to_string(), line: None })
    })
}

fn classify(e: &minijinja::Error, source: &str) -> RenderError {
    let detail = e.detail().unwrap_or_default();
    match e.kind() {
        ErrorKind::OutOfFuel => RenderError::Limit {
            message: format!("template exceeded its budget of {FUEL} instructions (a loop or recursion is too large)"),
        },
        ErrorKind::InvalidOperation
            if detail.contains("recursion limit")
                || detail.contains("too many elements")
                || detail.contains("too large") =>
        {
            RenderError::Limit { message: format!("template limit: {detail}") }
        }
        ErrorKind::UndefinedError => RenderError::Undefined {
            expression: e.range().and_then(|r| source.get(r)).map(|s| s.trim().to_owned()),
            line: e.line(),
        },
        _ => RenderError::Failed { message: e.to_string(), line: e.line() },
    }
}

/// Collects output and fails the render once it passes `limit`.
struct Capped {
    bytes: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            self.overflowed = true;
            return Err(io::Error::other("output limit reached"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_str(source: &str, context: serde_json::Value) -> Result<String, RenderError> {
        render(source, &Value::from_serialize(&context), &mut MAX_OUTPUT_BYTES.clone())
    }

    #[test]
    fn variables_are_the_undeclared_names_sorted() {
        let source = "{{ zeta }} {% for x in items %}{{ loop.index }}{{ x.title }}{% endfor %}{% set y = alpha %}{{ y }}\
                      {{ range(2)|join }}{% macro m(a) %}{{ a }}{{ varargs }}{% endmacro %}{{ m(beta) }}";
        assert_eq!(declared_variables(source).unwrap(), ["alpha", "beta", "items", "zeta"]);
        assert_eq!(declared_variables("no variables").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn syntax_errors_have_a_line_and_column() {
        let e = declared_variables("first line\nsecond {% if %}").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.column, Some(14));
        assert!(e.message.contains("unexpected"), "{e:?}");
        let e = declared_variables("{{ unclosed").unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn renders_plain_text_without_escaping_and_keeps_whitespace() {
        let out = render_str("<b>{{ name }}</b> & co\n", serde_json::json!({ "name": "A & B" })).unwrap();
        assert_eq!(out, "<b>A & B</b> & co\n");
    }

    #[test]
    fn undefined_values_fail_in_strict_mode() {
        let e = render_str("Hi {{ user.name }}", serde_json::json!({ "user": {} })).unwrap_err();
        assert_eq!(e, RenderError::Undefined { expression: Some("user.name".into()), line: Some(1) });
    }

    #[test]
    fn hostile_templates_hit_a_limit_quickly() {
        let started = std::time::Instant::now();
        for source in [
            "{% for i in range(10**9) %}x{% endfor %}",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
            "{{ 'x' * 2000000 }}",
            "{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}",
            "{{ 'x' * 1000000000 }}",
        ] {
            match render_str(source, serde_json::json!({})) {
                Err(RenderError::Limit { .. }) => {}
                other => panic!("{source}: expected a limit error, got {other:?}"),
            }
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    /// Found by the hostile-input tests: each of these overflowed the stack
    /// in minijinja (500 chained calls do on a 1 MiB stack).
    #[test]
    fn long_chains_are_refused_before_they_overflow_the_stack() {
        for link in ["|upper", "+1", ".a", "()", "[0]", " and x", " ~ 'a'"] {
            let source = format!("Hi\n{{{{ x{} }}}}", link.repeat(100_000));
            let e = declared_variables(&source).unwrap_err();
            assert_eq!((e.line, e.column), (Some(2), Some(1)), "{link}: {e:?}");
            assert!(e.message.contains("chains more than"), "{e:?}");
            assert!(matches!(render_str(&source, serde_json::json!({ "x": "a" })), Err(RenderError::Limit { .. })));
            // A statement tag is held to the same limit; a chain at the limit is fine.
            assert!(declared_variables(&format!("{{% set y = x{} %}}", link.repeat(MAX_CHAIN + 1))).is_err());
            let at_limit = format!("{{{{ x{} }}}}", link.repeat(MAX_CHAIN / 2));
            assert!(declared_variables(&at_limit).is_ok(), "{link}");
        }
        // Strings, comments and raw blocks hold no links.
        let quoted = format!(
            "{{{{ '{}' }}}}{{# {} #}}{{% raw %}}{{{{ {} }}}}{{% endraw %}}",
            "|".repeat(1000),
            "|".repeat(1000),
            "|".repeat(1000)
        );
        assert_eq!(render_str(&quoted, serde_json::json!({})).unwrap().len(), 1000 + 1006);
        // Long conditions of the kind real templates have still parse.
        let condition = (0..60).map(|i| format!("x == {i}")).collect::<Vec<_>>().join(" or ");
        assert!(declared_variables(&format!("{{% if {condition} %}}y{{% endif %}}")).is_ok());
    }

    #[test]
    fn the_output_budget_is_shared_and_drawn_down() {
        let mut budget = 10;
        let context = Value::from_serialize(serde_json::json!({}));
        assert_eq!(render("12345", &context, &mut budget).unwrap(), "12345");
        assert_eq!(budget, 5);
        assert!(matches!(render("123456", &context, &mut budget), Err(RenderError::Limit { .. })));
    }

    #[test]
    fn other_errors_are_reported_with_their_line() {
        match render_str("a\n{{ x | no_such_filter }}", serde_json::json!({ "x": 1 })) {
            Err(RenderError::Failed { line, message }) => {
                assert_eq!(line, Some(2));
                assert!(message.contains("no_such_filter"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
