//! A trace's spans as a tree, built at query time: spans may arrive in any
//! order and their parents may never arrive at all.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::value::RawValue;

use super::span::StoredPayload;
use super::time::Rfc3339Us;
use crate::store::spans::{ExecutionLink, StoredSpan};

/// Deeper spans are shown as roots, so responses stay bounded in nesting.
pub const MAX_DEPTH: usize = 256;

/// One span in the tree as the API shows it, borrowing from the stored span.
/// Fields are in alphabetical order, the order responses have always shown.
#[derive(Debug, Serialize)]
pub struct SpanNode<'a> {
    attributes: &'a RawValue,
    children: Vec<SpanNode<'a>>,
    completion_tokens: Option<i64>,
    duration_ms: Option<f64>,
    ended_at: Option<Rfc3339Us>,
    events: &'a RawValue,
    execution: Option<&'a ExecutionLink>,
    execution_id: Option<&'a str>,
    input: StoredPayload<'a>,
    model: Option<&'a str>,
    name: &'a str,
    orphan: bool,
    output: StoredPayload<'a>,
    parent_span_id: Option<&'a str>,
    prompt_tokens: Option<i64>,
    service_name: Option<&'a str>,
    span_id: &'a str,
    span_type: Option<&'a str>,
    started_at: Rfc3339Us,
    status: &'a str,
}

impl<'a> SpanNode<'a> {
    fn new(s: &'a StoredSpan, orphan: bool, children: Vec<SpanNode<'a>>) -> Self {
        SpanNode {
            attributes: &s.attributes,
            children,
            completion_tokens: s.completion_tokens,
            duration_ms: s.ended_at_us.map(|e| (e - s.started_at_us) as f64 / 1000.0),
            ended_at: s.ended_at_us.map(Rfc3339Us),
            events: &s.events,
            execution: s.execution.as_ref(),
            execution_id: s.execution_id.as_deref(),
            input: StoredPayload(s.input.as_deref()),
            model: s.model.as_deref(),
            name: &s.name,
            orphan,
            output: StoredPayload(s.output.as_deref()),
            parent_span_id: s.parent_span_id.as_deref(),
            prompt_tokens: s.prompt_tokens,
            service_name: s.service_name.as_deref(),
            span_id: &s.span_id,
            span_type: s.span_type.as_deref(),
            started_at: Rfc3339Us(s.started_at_us),
            status: &s.status,
        }
    }
}

/// The roots of the tree (children ordered by start time, then span id)
/// and how many spans are shown as roots although they name a parent.
///
/// `spans` must be ordered by (started_at_us, span_id). A span whose parent
/// is missing, is itself, sits in a cycle, or lies deeper than
/// [`MAX_DEPTH`] is shown as a root with `"orphan": true`.
pub fn build(spans: &[StoredSpan]) -> (Vec<SpanNode<'_>>, usize) {
    let n = spans.len();
    let index: HashMap<&str, usize> = spans.iter().enumerate().map(|(i, s)| (s.span_id.as_str(), i)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut natural_roots = Vec::new();
    let mut orphan = vec![false; n];
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id.as_deref() {
            None => natural_roots.push(i),
            Some(p) => match index.get(p) {
                Some(&parent) if parent != i => children[parent].push(i),
                _ => {
                    orphan[i] = true;
                    natural_roots.push(i);
                }
            },
        }
    }
    // Breadth-first from the roots; anything unreached (a cycle) or too deep
    // becomes a root of its own.
    let mut visited = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut tree_children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut roots = Vec::new();
    let mut pending: std::collections::VecDeque<usize> = natural_roots.into();
    let mut next_unvisited = 0;
    loop {
        let root = match pending.pop_front() {
            Some(r) => r,
            None => {
                while next_unvisited < n && visited[next_unvisited] {
                    next_unvisited += 1;
                }
                if next_unvisited == n {
                    break;
                }
                orphan[next_unvisited] = true;
                next_unvisited
            }
        };
        if visited[root] {
            continue;
        }
        visited[root] = true;
        roots.push(root);
        let mut frontier = vec![(root, 1usize)];
        order.push(root);
        while let Some((node, depth)) = frontier.pop() {
            for &child in &children[node] {
                if visited[child] {
                    continue;
                }
                if depth >= MAX_DEPTH {
                    orphan[child] = true;
                    pending.push_back(child);
                    continue;
                }
                visited[child] = true;
                tree_children[node].push(child);
                order.push(child);
                frontier.push((child, depth + 1));
            }
        }
    }
    let orphans = orphan.iter().filter(|o| **o).count();
    // Build bottom-up: every child comes after its parent in `order`.
    let mut built: Vec<Option<SpanNode<'_>>> = std::iter::repeat_with(|| None).take(n).collect();
    for &i in order.iter().rev() {
        let kids: Vec<SpanNode<'_>> = tree_children[i].iter().filter_map(|c| built[*c].take()).collect();
        built[i] = Some(SpanNode::new(&spans[i], orphan[i], kids));
    }
    roots.sort_unstable();
    (roots.into_iter().filter_map(|r| built[r].take()).collect(), orphans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    fn span(id: &str, parent: Option<&str>, start: i64) -> StoredSpan {
        let raw = |text: &str| RawValue::from_string(text.to_owned()).unwrap();
        StoredSpan {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(str::to_owned),
            name: id.into(),
            span_type: None,
            service_name: None,
            status: "ok".into(),
            started_at_us: start,
            ended_at_us: None,
            execution_id: None,
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
            input: None,
            output: None,
            attributes: raw("{}"),
            events: raw("[]"),
            execution: None,
        }
    }

    /// The tree as the API shows it.
    fn shown(spans: &[StoredSpan]) -> (Vec<Json>, usize) {
        let (roots, orphans) = build(spans);
        (roots.iter().map(|r| serde_json::to_value(r).unwrap()).collect(), orphans)
    }

    fn shape(nodes: &[Json]) -> String {
        nodes
            .iter()
            .map(|n| {
                let kids = n["children"].as_array().unwrap();
                let mark = if n["orphan"] == true { "!" } else { "" };
                if kids.is_empty() {
                    format!("{}{mark}", n["span_id"].as_str().unwrap())
                } else {
                    format!("{}{mark}({})", n["span_id"].as_str().unwrap(), shape(kids))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn children_nest_in_start_order_and_orphans_surface() {
        let spans = vec![
            span("root", None, 1),
            span("b", Some("root"), 2),
            span("a", Some("root"), 2),
            span("lost", Some("gone"), 3),
            span("c", Some("a"), 4),
        ];
        let mut sorted = spans;
        sorted.sort_by(|x, y| (x.started_at_us, &x.span_id).cmp(&(y.started_at_us, &y.span_id)));
        let (roots, orphans) = shown(&sorted);
        assert_eq!(shape(&roots), "root(a(c) b) lost!");
        assert_eq!(orphans, 1);
    }

    #[test]
    fn cycles_and_self_parents_do_not_hide_spans() {
        let (roots, orphans) = shown(&[span("x", Some("y"), 1), span("y", Some("x"), 2), span("z", Some("z"), 3)]);
        assert_eq!(shape(&roots), "x!(y) z!");
        assert_eq!(orphans, 2);
    }

    #[test]
    fn nodes_show_every_field_in_alphabetical_order_with_stored_json_as_is() {
        let raw = |text: &str| RawValue::from_string(text.to_owned()).unwrap();
        let mut s = span("s", Some("p"), 1_714_557_600_000_000);
        s.ended_at_us = Some(s.started_at_us + 1_500);
        (s.span_type, s.service_name, s.model) = (Some("llm".into()), Some("svc".into()), Some("m".into()));
        (s.prompt_tokens, s.completion_tokens) = (Some(3), Some(4));
        (s.input, s.output) = (Some(r#"{"q":[1,2.5]}"#.into()), Some("not json".into()));
        (s.attributes, s.events) = (raw(r#"{"a":{"b":null},"z":1}"#), raw(r#"[{"name":"e"}]"#));
        s.execution_id = Some("x".into());
        s.execution = Some(ExecutionLink {
            id: "x".into(),
            model: "gpt".into(),
            prompt_id: None,
            prompt_name: Some("p".into()),
            prompt_version_id: None,
            provider: "openai".into(),
            status: "succeeded".into(),
            version: Some(2),
        });
        let (roots, _) = build(std::slice::from_ref(&s));
        assert_eq!(
            serde_json::to_string(&roots).unwrap(),
            concat!(
                r#"[{"attributes":{"a":{"b":null},"z":1},"children":[],"completion_tokens":4,"duration_ms":1.5,"#,
                r#""ended_at":"2024-05-01T10:00:00.001500Z","events":[{"name":"e"}],"execution":{"id":"x","#,
                r#""model":"gpt","prompt_id":null,"prompt_name":"p","prompt_version_id":null,"provider":"openai","#,
                r#""status":"succeeded","version":2},"execution_id":"x","input":{"q":[1,2.5]},"model":"m","#,
                r#""name":"s","orphan":true,"output":"not json","parent_span_id":"p","prompt_tokens":3,"#,
                r#""service_name":"svc","span_id":"s","span_type":"llm","started_at":"2024-05-01T10:00:00.000000Z","#,
                r#""status":"ok"}]"#
            )
        );
    }

    #[test]
    fn deep_chains_are_cut_into_bounded_trees() {
        let ids: Vec<String> = (0..MAX_DEPTH * 2 + 5).map(|i| format!("s{i:04}")).collect();
        let spans: Vec<StoredSpan> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| span(id, if i == 0 { None } else { Some(ids[i - 1].as_str()) }, i as i64))
            .collect();
        let (roots, orphans) = build(&spans);
        assert_eq!((roots.len(), orphans), (3, 2));
        let text = serde_json::to_string(&roots).unwrap();
        assert!(ids.iter().all(|id| text.contains(id.as_str())));
    }
}
