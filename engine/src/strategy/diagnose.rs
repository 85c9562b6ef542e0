//! Errors placed where the mistake is, not where Rhai noticed it:
//! - an unclosed `{` is reported at the brace that opened it (Rhai reports the next `fn`, "must
//!   be at global level", or the end of the file);
//! - a callback declared without its parameter is named as such (Rhai reports the first use
//!   of the missing parameter as an undefined variable);
//! - a callback that exceeds the operation limit is reported at its loop (Rhai gives no
//!   position for that limit).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;

use rhai::{ASTNode, Expr, ParseError, ParseErrorType, Position, Stmt, AST};

use super::check::fn_position;
use super::{error, StrategyError, CALLBACKS};

/// Turns a parse error into the error a script author needs (see the module docs).
pub(super) fn compile_error(file: &Path, source: &str, e: &ParseError) -> StrategyError {
    let at = (
        e.position().line().unwrap_or(0),
        e.position().position().unwrap_or(0),
    );
    let rhai = e.err_type().to_string();
    let compile = |(line, column): (usize, usize), message: String| StrategyError::Compile {
        file: file.to_path_buf(),
        line,
        column,
        message,
    };
    match e.err_type() {
        ParseErrorType::WrongFnDefinition
        | ParseErrorType::UnexpectedEOF
        | ParseErrorType::MissingToken(..) => {
            let is_brace = matches!(e.err_type(), ParseErrorType::MissingToken(t, _) if t == "}");
            if !is_brace && matches!(e.err_type(), ParseErrorType::MissingToken(..)) {
                return error::compile(file, e);
            }
            let end = if at.0 == 0 { usize::MAX } else { at.0 };
            match unclosed_brace(source, end) {
                Some(open) => {
                    let hint = match open.misclosed_at {
                        Some(line) => format!(
                            "; the `}}` at line {line} is indented like an outer block, so it \
                             closes that one instead"
                        ),
                        None => String::new(),
                    };
                    let where_ = if at.0 == 0 || at.0 > source.lines().count() {
                        "the end of the file".to_string()
                    } else {
                        format!("line {}", at.0)
                    };
                    compile(
                        (open.line, open.column),
                        format!(
                            "unclosed `{{`: the block opened here is still open at {where_}{hint} \
                             (Rhai: {rhai})"
                        ),
                    )
                }
                None => error::compile(file, e),
            }
        }
        ParseErrorType::VariableUndefined(var) => match callback_missing_parameter(source, at.0) {
            Some((name, arity, pos)) => compile(
                pos,
                format!(
                    "callback `{name}` takes {arity} parameter(s) but is declared with \
                         none: write `fn {name}({})`; `{var}` is undefined at {}:{}",
                    CALLBACK_PARAM
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map_or("x", |(_, p)| *p),
                    at.0,
                    at.1
                ),
            ),
            None => error::compile(file, e),
        },
        _ => error::compile(file, e),
    }
}

/// The parameter name the guide uses for each one-parameter callback.
const CALLBACK_PARAM: &[(&str, &str)] = &[
    ("on_trade", "t"),
    ("on_quote", "q"),
    ("on_book", "b"),
    ("on_bar", "b"),
    ("on_timer", "name"),
    ("on_order", "o"),
    ("on_fill", "f"),
    ("on_risk_reject", "r"),
    ("on_signal", "s"),
];

/// A `{` that was never closed.
#[derive(Debug, PartialEq, Eq)]
struct OpenBrace {
    line: usize,
    column: usize,
    /// The line of a `}` that closed this brace although it is indented like an outer one
    /// (the likely missing `}` is this brace's).
    misclosed_at: Option<usize>,
}

/// Scans `source` up to (not including) line `end` for a `{` left open, skipping comments,
/// strings and characters. When a `}` that starts its line is indented differently from the
/// line that opened the brace it closes, the first such brace is the one reported (the `}`
/// meant for it is missing, so every later `}` closes the wrong block); otherwise the
/// innermost brace still open.
fn unclosed_brace(source: &str, end: usize) -> Option<OpenBrace> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Code,
        LineComment,
        BlockComment(u32),
        Str,
        Char,
        Backtick,
    }
    let indent = |line: &str| line.len() - line.trim_start().len();
    let lines: Vec<&str> = source.lines().collect();
    // Open braces: (line, column, indent of that line, opened inside a `${` of a backtick
    // string).
    let mut open: Vec<(usize, usize, usize, bool)> = Vec::new();
    let mut misclosed: Option<OpenBrace> = None;
    let mut mode = Mode::Code;
    for (i, line) in lines.iter().enumerate().take(end.saturating_sub(1)) {
        let ln = i + 1;
        if mode == Mode::LineComment {
            mode = Mode::Code;
        }
        let bytes = line.as_bytes();
        let first_code = indent(line);
        let mut k = 0;
        while k < bytes.len() {
            let c = bytes[k];
            let next = bytes.get(k + 1).copied();
            match mode {
                Mode::LineComment => break,
                Mode::BlockComment(depth) => {
                    if c == b'*' && next == Some(b'/') {
                        mode = if depth == 1 {
                            Mode::Code
                        } else {
                            Mode::BlockComment(depth - 1)
                        };
                        k += 1;
                    } else if c == b'/' && next == Some(b'*') {
                        mode = Mode::BlockComment(depth + 1);
                        k += 1;
                    }
                }
                Mode::Str | Mode::Char => {
                    let close = if mode == Mode::Str { b'"' } else { b'\'' };
                    if c == b'\\' {
                        k += 1;
                    } else if c == close {
                        mode = Mode::Code;
                    }
                }
                Mode::Backtick => {
                    if c == b'`' {
                        mode = Mode::Code;
                    } else if c == b'$' && next == Some(b'{') {
                        open.push((ln, k + 2, indent(line), true));
                        mode = Mode::Code;
                        k += 1;
                    }
                }
                Mode::Code => match c {
                    b'/' if next == Some(b'/') => mode = Mode::LineComment,
                    b'/' if next == Some(b'*') => {
                        mode = Mode::BlockComment(1);
                        k += 1;
                    }
                    b'"' => mode = Mode::Str,
                    b'\'' => mode = Mode::Char,
                    b'`' => mode = Mode::Backtick,
                    b'{' => open.push((ln, k + 1, indent(line), false)),
                    b'}' => {
                        if let Some((ol, oc, oi, interp)) = open.pop() {
                            if interp {
                                mode = Mode::Backtick;
                            } else if k == first_code && oi != first_code && misclosed.is_none() {
                                misclosed = Some(OpenBrace {
                                    line: ol,
                                    column: oc,
                                    misclosed_at: Some(ln),
                                });
                            }
                        }
                    }
                    _ => {}
                },
            }
            k += 1;
        }
    }
    if open.is_empty() {
        return None;
    }
    misclosed.or_else(|| {
        open.last().map(|&(line, column, ..)| OpenBrace {
            line,
            column,
            misclosed_at: None,
        })
    })
}

/// A callback that takes a parameter but is declared with none, whose body holds `line`:
/// (name, arity, position of its `fn`).
fn callback_missing_parameter(
    source: &str,
    line: usize,
) -> Option<(&'static str, usize, (usize, usize))> {
    let mut best: Option<(&'static str, usize, (usize, usize))> = None;
    for &(name, arity) in CALLBACKS.iter().filter(|(_, a)| *a > 0) {
        let pos = fn_position(source, name);
        if pos.0 == 0 || pos.0 > line {
            continue;
        }
        let decl = &source.lines().nth(pos.0 - 1)?[pos.1 - 1..];
        let params = decl.find('(').and_then(|o| {
            decl[o + 1..]
                .find(')')
                .map(|c| decl[o + 1..o + 1 + c].trim())
        });
        if params == Some("") && best.is_none_or(|(_, _, b)| b.0 < pos.0) {
            best = Some((name, arity, pos));
        }
    }
    // The nearest such callback above the undefined variable, unless another `fn` starts
    // between them.
    let (_, _, pos) = best?;
    let between = source
        .lines()
        .skip(pos.0)
        .take(line.saturating_sub(pos.0 + 1))
        .any(|l| l.trim_start().starts_with("fn "));
    (!between).then_some(best?)
}

/// The loops that can run during `callback`: those in its body and in the script functions it
/// calls (transitively), in source order. Each node is attributed to the function whose `fn`
/// precedes it in the source (Rhai functions are all at global level, so they do not nest).
pub(super) fn reachable_loops(ast: &AST, source: &str, callback: &str) -> Vec<Position> {
    let mut starts: Vec<((usize, usize), String)> = ast
        .iter_functions()
        .map(|f| (fn_position(source, f.name), f.name.to_string()))
        .filter(|(p, _)| p.0 > 0)
        .collect();
    starts.sort();
    let owner = |pos: &Position| -> Option<&str> {
        let at = (pos.line()?, pos.position().unwrap_or(0));
        let i = starts.partition_point(|(p, _)| *p <= at);
        i.checked_sub(1).map(|i| starts[i].1.as_str())
    };
    let mut loops_of: HashMap<&str, Vec<Position>> = HashMap::new();
    let mut calls_of: HashMap<&str, Vec<String>> = HashMap::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::While(_, pos)))
            | Some(ASTNode::Stmt(Stmt::Do(_, _, pos)))
            | Some(ASTNode::Stmt(Stmt::For(_, pos))) => {
                if let Some(f) = owner(pos) {
                    loops_of.entry(f).or_default().push(*pos);
                }
            }
            Some(ASTNode::Expr(Expr::FnCall(x, pos)))
            | Some(ASTNode::Stmt(Stmt::FnCall(x, pos)))
            | Some(ASTNode::Expr(Expr::MethodCall(x, pos))) => {
                if let Some(f) = owner(pos) {
                    calls_of.entry(f).or_default().push(x.name.to_string());
                }
            }
            _ => {}
        }
        true
    });
    let mut seen: HashSet<&str> = HashSet::new();
    let mut queue: VecDeque<&str> = VecDeque::from([callback]);
    let mut loops = Vec::new();
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name) {
            continue;
        }
        loops.extend(loops_of.get(name).into_iter().flatten().copied());
        for call in calls_of.get(name).into_iter().flatten() {
            if let Some((_, f)) = starts.iter().find(|(_, f)| f == call) {
                queue.push_back(f.as_str());
            }
        }
    }
    loops.sort_by_key(|p| (p.line(), p.position()));
    loops.dedup();
    loops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misclosed_block_is_found_by_indentation_and_an_open_one_at_the_end() {
        let src = "fn a(t) {\n    if t {\n        x();\n    \n}\n\nfn b(q) {\n}\n";
        assert_eq!(
            unclosed_brace(src, 7),
            Some(OpenBrace {
                line: 2,
                column: 10,
                misclosed_at: Some(5)
            })
        );
        let src = "fn a(t) {\n    if t {\n        x();\n    }\n";
        assert_eq!(
            unclosed_brace(src, usize::MAX),
            Some(OpenBrace {
                line: 1,
                column: 9,
                misclosed_at: None
            })
        );
        // Braces in strings, characters, comments and interpolations do not count.
        let src = "fn a(t) {\n    let s = \"{\"; let c = '{'; // {\n    /* { /* { */ } */\n    let i = `x ${ #{a: 1}.a } {`;\n}\n";
        assert_eq!(unclosed_brace(src, usize::MAX), None);
    }
}
