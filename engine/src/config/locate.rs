//! Where a key is in the config text: dotted paths (`risk.max_position`,
//! `instruments[0].tick_size`, `strategies[1].params.qty`) mapped to their line, and a byte
//! offset (from a parser error's span) mapped back to the innermost key around it.

use std::ops::Range;

use toml_edit::{ImDocument, Item, Table, Value};

/// One key of the document.
#[derive(Debug)]
struct Entry {
    path: String,
    /// 1-based line of the key.
    line: usize,
    /// Byte span of the value (a table's header for tables).
    value: Range<usize>,
}

/// The keys of one config text, with their lines. Empty if the text is not TOML.
#[derive(Debug, Default)]
pub(crate) struct Locator {
    entries: Vec<Entry>,
    line_starts: Vec<usize>,
}

impl Locator {
    /// Indexes `text`.
    pub(crate) fn new(text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let mut me = Self {
            entries: Vec::new(),
            line_starts,
        };
        if let Ok(doc) = ImDocument::parse(text) {
            me.table("", doc.as_table());
        }
        me
    }

    /// 1-based line of byte `offset`.
    pub(crate) fn line_at(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }

    /// Line of the key at `path`, or of its nearest enclosing key that is in the file.
    pub(crate) fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(e) = self.entries.iter().find(|e| e.path == p) {
                return Some(e.line);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// The innermost key whose value spans byte `offset`, with its line.
    pub(crate) fn key_at(&self, offset: usize) -> Option<(&str, usize)> {
        self.entries
            .iter()
            .filter(|e| e.value.contains(&offset))
            .min_by_key(|e| e.value.len())
            .map(|e| (e.path.as_str(), e.line))
    }

    fn push(&mut self, path: String, key_span: Option<Range<usize>>, value: Option<Range<usize>>) {
        let Some(value) = value.or_else(|| key_span.clone()) else {
            return;
        };
        let line = self.line_at(key_span.map_or(value.start, |k| k.start));
        self.entries.push(Entry { path, line, value });
    }

    fn table(&mut self, prefix: &str, t: &Table) {
        for (k, _) in t.iter() {
            let Some((key, item)) = t.get_key_value(k) else {
                continue;
            };
            let path = join(prefix, k);
            self.item(path, key.span(), item);
        }
    }

    fn item(&mut self, path: String, key_span: Option<Range<usize>>, item: &Item) {
        match item {
            Item::Value(v) => self.value(path, key_span, v),
            Item::Table(t) => {
                self.push(path.clone(), key_span, t.span());
                self.table(&path, t);
            }
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.push(p.clone(), t.span(), t.span());
                    self.table(&p, t);
                }
            }
            Item::None => {}
        }
    }

    fn value(&mut self, path: String, key_span: Option<Range<usize>>, v: &Value) {
        self.push(path.clone(), key_span, v.span());
        match v {
            Value::InlineTable(t) => {
                for (k, _) in t.iter() {
                    if let Some((key, Item::Value(inner))) = t.get_key_value(k) {
                        self.value(join(&path, k), key.span(), inner);
                    }
                }
            }
            Value::Array(a) => {
                for (i, inner) in a.iter().enumerate() {
                    self.value(format!("{path}[{i}]"), inner.span(), inner);
                }
            }
            _ => {}
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[engine]\ntick_queue_capacity = 0\n\n[[instruments]]\nsymbol = \"A-B\"\n\n[[instruments]]\nsymbol = \"C-D\"\ntick_size = \"0.1\"\n\n[[strategies]]\nparams = { qty = 0.5, n = 3 }\n";

    #[test]
    fn paths_have_their_lines_and_offsets_their_keys() {
        let l = Locator::new(TEXT);
        assert_eq!(l.line_of("engine.tick_queue_capacity"), Some(2));
        assert_eq!(l.line_of("instruments[1].tick_size"), Some(9));
        assert_eq!(l.line_of("strategies[0].params.qty"), Some(12));
        // Not in the file: the nearest enclosing key.
        assert_eq!(l.line_of("instruments[1].lot_size"), Some(7));
        let at = TEXT.find("0.5").unwrap();
        assert_eq!(l.key_at(at), Some(("strategies[0].params.qty", 12)));
        let at = TEXT.find("= 0").unwrap() + 2;
        assert_eq!(l.key_at(at), Some(("engine.tick_queue_capacity", 2)));
    }
}
