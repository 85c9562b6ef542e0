//! Splits a migration file into statements the way the Supabase CLI records them in
//! `supabase_migrations.schema_migrations.statements` (its `parser.SplitAndTrim`).
//!
//! The rules (the CLI's, re-implemented from its documented state machine): a `;` ends a
//! statement unless it is inside a `--` line comment, a `/* */` block comment (nested), a
//! `'…'` or `"…"` quote (a doubled delimiter stays inside), a dollar quote `$tag$…$tag$`,
//! parentheses, or a `BEGIN ATOMIC … END` body; a backslash outside those hides the next
//! character. Comments and white space stay in the statement; each statement then loses its
//! trailing `;` and surrounding white space, and empty ones are dropped. Like the CLI, the
//! first `)` closes every open parenthesis. [`split_statements`] must agree with the real
//! CLI on every migration we ship: `tests/supabase_cli.rs` compares the two histories.

/// Where the scanner is.
#[derive(Clone, Debug)]
enum State {
    /// Outside any quote or comment.
    Ready,
    /// After a `-`: a second one opens a line comment.
    Dash,
    /// After a `/` (depth 0) or inside a block comment (depth > 0).
    Block { depth: u32 },
    /// Inside a quote; `closing` after a delimiter (a second one keeps the quote open).
    Quote { delim: char, closing: bool },
    /// After a `$` that may open a tag starting at byte `start` of the statement.
    Tag { start: usize },
    /// Inside a dollar quote or line comment, until the statement ends with `delim`.
    Until { delim: String },
    /// After a backslash: the next character is taken as it is.
    Escape,
    /// Inside parentheses (`close` = `)`) or a `BEGIN ATOMIC` body (`close` = `END`),
    /// tracking quotes and comments in `inner`.
    Group {
        inner: Box<State>,
        close: &'static str,
    },
}

/// True if `text` ends with `suffix`, ASCII case-insensitively.
fn ends_with_ci(text: &str, suffix: &str) -> bool {
    let (t, s) = (text.as_bytes(), suffix.as_bytes());
    t.len() >= s.len() && t[t.len() - s.len()..].eq_ignore_ascii_case(s)
}

impl State {
    /// The state after `c`, where `stmt` is the statement so far, `c` included; `None`
    /// ends the statement.
    fn next(self, c: char, stmt: &str) -> Option<State> {
        match self {
            State::Ready => Self::ready(c, stmt),
            State::Dash if c == '-' => Some(State::Until { delim: "\n".into() }),
            State::Dash => Self::ready(c, stmt),
            State::Block { depth } => {
                if stmt.ends_with("/*") {
                    Some(State::Block { depth: depth + 1 })
                } else if depth == 0 {
                    Self::ready(c, stmt)
                } else if stmt.ends_with("*/") {
                    Some(if depth == 1 {
                        State::Ready
                    } else {
                        State::Block { depth: depth - 1 }
                    })
                } else {
                    Some(State::Block { depth })
                }
            }
            State::Quote { delim, closing } => {
                if closing {
                    if c == delim {
                        Some(State::Quote {
                            delim,
                            closing: false,
                        })
                    } else {
                        Self::ready(c, stmt)
                    }
                } else {
                    Some(State::Quote {
                        delim,
                        closing: c == delim,
                    })
                }
            }
            State::Tag { start } => {
                if c == '$' {
                    Some(State::Until {
                        delim: stmt[start..].to_string(),
                    })
                } else if c.is_alphanumeric() || c == '_' {
                    Some(State::Tag { start })
                } else {
                    Self::ready(c, stmt)
                }
            }
            State::Until { delim } => {
                if stmt.ends_with(delim.as_str()) {
                    Some(State::Ready)
                } else {
                    Some(State::Until { delim })
                }
            }
            State::Escape => Some(State::Ready),
            State::Group { inner, close } => {
                // A `;` inside the group does not end the statement: the inner state stays.
                let inner = match (*inner).clone().next(c, stmt) {
                    Some(s) => s,
                    None => *inner,
                };
                if matches!(inner, State::Ready) && ends_with_ci(stmt, close) {
                    Some(State::Ready)
                } else {
                    Some(State::Group {
                        inner: Box::new(inner),
                        close,
                    })
                }
            }
        }
    }

    fn ready(c: char, stmt: &str) -> Option<State> {
        Some(match c {
            ';' => return None,
            '$' => State::Tag {
                start: stmt.len() - 1,
            },
            '\'' | '"' => State::Quote {
                delim: c,
                closing: false,
            },
            '-' => State::Dash,
            '/' => State::Block { depth: 0 },
            '\\' => State::Escape,
            '(' => State::Group {
                inner: Box::new(State::Ready),
                close: ")",
            },
            'c' | 'C' if Self::opens_atomic(stmt) => State::Group {
                inner: Box::new(State::Ready),
                close: "END",
            },
            _ => State::Ready,
        })
    }

    /// True if `stmt` ends with `ATOMIC` preceded by white space (`BEGIN ATOMIC`).
    fn opens_atomic(stmt: &str) -> bool {
        const ATOMIC: &str = "ATOMIC";
        let b = stmt.as_bytes();
        ends_with_ci(stmt, ATOMIC)
            && b.len() > ATOMIC.len()
            && b[b.len() - ATOMIC.len() - 1].is_ascii_whitespace()
    }
}

/// The statements of `sql` as the Supabase CLI records them (see the module docs).
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut state = State::Ready;
    for (i, c) in sql.char_indices() {
        let end = i + c.len_utf8();
        match state.next(c, &sql[start..end]) {
            Some(s) => state = s,
            None => {
                push_trimmed(&mut out, &sql[start..end]);
                start = end;
                state = State::Ready;
            }
        }
    }
    push_trimmed(&mut out, &sql[start..]);
    out
}

fn push_trimmed(out: &mut Vec<String>, stmt: &str) {
    let s = stmt.trim_end_matches(';').trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn splits_on_semicolons_outside_quotes_comments_and_bodies() {
        let sql = "-- head; comment\ncreate table a (x text default ';');\n\
                   /* block; /* nested; */ still; */ select 1;\n\
                   create function f() returns int language sql as $body$ select 1; $body$;\n\
                   do $$ begin perform 1; end $$;  \n  select \"a;b\" from t;;\n select 'it''s;';\
                   \n\n";
        assert_eq!(
            split_statements(sql),
            vec![
                "-- head; comment\ncreate table a (x text default ';')",
                "/* block; /* nested; */ still; */ select 1",
                "create function f() returns int language sql as $body$ select 1; $body$",
                "do $$ begin perform 1; end $$",
                "select \"a;b\" from t",
                "select 'it''s;'",
            ]
        );
    }

    #[test]
    fn parentheses_and_begin_atomic_hold_semicolons() {
        let sql = "select f(1; 2); create function g() returns int begin atomic select 1; end; \
                   select 3";
        assert_eq!(
            split_statements(sql),
            vec![
                "select f(1; 2)",
                "create function g() returns int begin atomic select 1; end",
                "select 3",
            ]
        );
    }

    #[test]
    fn a_backslash_hides_the_next_character_and_params_are_not_tags() {
        assert_eq!(
            split_statements("select 1\\; select $1; select 2"),
            vec!["select 1\\; select $1", "select 2"]
        );
        assert!(split_statements(" ;\n; -- only a comment\n").len() == 1);
    }
}
