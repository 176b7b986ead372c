//! A trace's spans as a tree, built at query time: spans may arrive in any
//! order and their parents may never arrive at all.

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use super::span::payload_value;
use super::time::format_us;
use crate::store::spans::StoredSpan;

/// Deeper spans are shown as roots, so responses stay bounded in nesting.
pub const MAX_DEPTH: usize = 256;

/// The roots of the tree (children ordered by start time, then span id)
/// and how many spans are shown as roots although they name a parent.
///
/// `spans` must be ordered by (started_at_us, span_id). A span whose parent
/// is missing, is itself, sits in a cycle, or lies deeper than
/// [`MAX_DEPTH`] is shown as a root with `"orphan": true`.
pub fn build(spans: Vec<StoredSpan>) -> (Vec<Json>, usize) {
    let n = spans.len();
    let index: HashMap<&str, usize> = spans.iter().enumerate().map(|(i, s)| (s.span.span_id.as_str(), i)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut natural_roots = Vec::new();
    let mut orphan = vec![false; n];
    for (i, s) in spans.iter().enumerate() {
        match s.span.parent_span_id.as_deref() {
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
    let mut built: Vec<Option<Json>> = vec![None; n];
    let mut spans: Vec<Option<StoredSpan>> = spans.into_iter().map(Some).collect();
    for &i in order.iter().rev() {
        let kids: Vec<Json> = tree_children[i].iter().filter_map(|c| built[*c].take()).collect();
        if let Some(s) = spans[i].take() {
            built[i] = Some(node(s, orphan[i], kids));
        }
    }
    roots.sort_unstable();
    (roots.into_iter().filter_map(|r| built[r].take()).collect(), orphans)
}

fn node(stored: StoredSpan, orphan: bool, children: Vec<Json>) -> Json {
    let s = stored.span;
    json!({
        "span_id": s.span_id,
        "parent_span_id": s.parent_span_id,
        "name": s.name,
        "span_type": s.span_type,
        "service_name": s.service_name,
        "status": s.status,
        "started_at": format_us(s.started_at_us),
        "ended_at": s.ended_at_us.map(format_us),
        "duration_ms": s.ended_at_us.map(|e| (e - s.started_at_us) as f64 / 1000.0),
        "execution_id": s.execution_id,
        "execution": stored.execution,
        "model": s.model,
        "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens,
        "input": payload_value(s.input.as_deref()),
        "output": payload_value(s.output.as_deref()),
        "attributes": s.attributes,
        "events": s.events,
        "orphan": orphan,
        "children": children,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineage::span::SpanRecord;

    fn span(id: &str, parent: Option<&str>, start: i64) -> StoredSpan {
        StoredSpan {
            span: SpanRecord {
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
                attributes: json!({}),
                events: json!([]),
            },
            created_at: 0,
            execution: None,
        }
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
        sorted.sort_by(|x, y| (x.span.started_at_us, &x.span.span_id).cmp(&(y.span.started_at_us, &y.span.span_id)));
        let (roots, orphans) = build(sorted);
        assert_eq!(shape(&roots), "root(a(c) b) lost!");
        assert_eq!(orphans, 1);
    }

    #[test]
    fn cycles_and_self_parents_do_not_hide_spans() {
        let (roots, orphans) = build(vec![span("x", Some("y"), 1), span("y", Some("x"), 2), span("z", Some("z"), 3)]);
        assert_eq!(shape(&roots), "x!(y) z!");
        assert_eq!(orphans, 2);
    }

    #[test]
    fn deep_chains_are_cut_into_bounded_trees() {
        let ids: Vec<String> = (0..MAX_DEPTH * 2 + 5).map(|i| format!("s{i:04}")).collect();
        let spans: Vec<StoredSpan> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| span(id, if i == 0 { None } else { Some(ids[i - 1].as_str()) }, i as i64))
            .collect();
        let (roots, orphans) = build(spans);
        assert_eq!((roots.len(), orphans), (3, 2));
        let text = serde_json::to_string(&roots).unwrap();
        assert!(ids.iter().all(|id| text.contains(id.as_str())));
    }
}
