//! Merging the delivery-log pages of several instances (CLUSTER.md, Reading
//! the log). Delivery ids are ULIDs, ordered by time across instances, and a
//! page's cursor is "ids below this one", so one cursor serves every
//! instance. Pure.

use serde::{Deserialize, Serialize};

/// One instance's page (or the merged one): newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<serde_json::Value>,
    /// Where this instance stopped reading; `None` when it has nothing more.
    pub next: Option<String>,
}

fn id_of(item: &serde_json::Value) -> &str {
    item["id"].as_str().unwrap_or("")
}

/// The first `limit` items of all pages, newest first, and the cursor to go
/// on from. An instance that stopped early (its page ended at `next`) has
/// not said what lies below `next`, so the merged page shows nothing below
/// the highest such point, and goes on from there.
pub fn merge(pages: Vec<Page>, limit: usize) -> Page {
    let boundary = pages.iter().filter_map(|p| p.next.clone()).max();
    let mut items: Vec<serde_json::Value> = pages
        .into_iter()
        .flat_map(|p| p.items)
        .filter(|item| boundary.as_deref().is_none_or(|b| id_of(item) >= b))
        .collect();
    items.sort_by(|a, b| id_of(b).cmp(id_of(a)));
    items.dedup_by(|a, b| id_of(a) == id_of(b));
    if items.len() > limit {
        items.truncate(limit);
        let next = items.last().map(|i| id_of(i).to_string());
        return Page { items, next };
    }
    Page {
        items,
        next: boundary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ids: &[&str], next: Option<&str>) -> Page {
        Page {
            items: ids.iter().map(|id| serde_json::json!({"id": id})).collect(),
            next: next.map(str::to_string),
        }
    }

    fn ids(p: &Page) -> Vec<&str> {
        p.items.iter().map(id_of).collect()
    }

    #[test]
    fn pages_interleave_newest_first() {
        let m = merge(
            vec![page(&["dl_5", "dl_3"], None), page(&["dl_4", "dl_1"], None)],
            10,
        );
        assert_eq!(ids(&m), ["dl_5", "dl_4", "dl_3", "dl_1"]);
        assert_eq!(m.next, None);
    }

    #[test]
    fn a_full_page_goes_on_from_its_last_item() {
        let m = merge(
            vec![
                page(&["dl_5", "dl_3"], Some("dl_3")),
                page(&["dl_4", "dl_2"], Some("dl_2")),
            ],
            3,
        );
        assert_eq!(ids(&m), ["dl_5", "dl_4", "dl_3"]);
        assert_eq!(m.next.as_deref(), Some("dl_3"));
    }

    #[test]
    fn nothing_below_where_an_instance_stopped_is_shown() {
        // b scanned down to dl_6 only (a filter matching few): a's dl_2 could
        // come after b's unread part, so it waits for the next page.
        let m = merge(
            vec![page(&["dl_8", "dl_2"], None), page(&["dl_7"], Some("dl_6"))],
            10,
        );
        assert_eq!(ids(&m), ["dl_8", "dl_7"]);
        assert_eq!(m.next.as_deref(), Some("dl_6"));
        // The next page, from dl_6 on, shows it.
        let m = merge(vec![page(&["dl_2"], None), page(&[], None)], 10);
        assert_eq!(ids(&m), ["dl_2"]);
        assert_eq!(m.next, None);
    }

    #[test]
    fn walking_the_pages_shows_every_item_once() {
        // Two instances' logs, newest first; each answers at most 2 per page.
        let a = ["dl_9", "dl_6", "dl_5", "dl_1"];
        let b = ["dl_8", "dl_7", "dl_4", "dl_3", "dl_2"];
        let answer = |log: &[&str], before: Option<&str>| {
            let rest: Vec<&str> = log
                .iter()
                .copied()
                .filter(|id| before.is_none_or(|c| *id < c))
                .collect();
            let items: Vec<&str> = rest.iter().copied().take(2).collect();
            let next = (rest.len() > 2).then(|| items[1]);
            page(&items, next)
        };
        let (mut seen, mut before) = (Vec::new(), None::<String>);
        for _ in 0..10 {
            let m = merge(
                vec![answer(&a, before.as_deref()), answer(&b, before.as_deref())],
                3,
            );
            seen.extend(ids(&m).into_iter().map(str::to_string));
            before = m.next;
            if before.is_none() {
                break;
            }
        }
        assert_eq!(
            seen,
            ["dl_9", "dl_8", "dl_7", "dl_6", "dl_5", "dl_4", "dl_3", "dl_2", "dl_1"]
        );
    }
}
