//! Static checks of a compiled script, shared by loading, hot reload and `peregrine check`:
//! callbacks (known names, arity) and function calls (every called function is registered by
//! the host, built into Rhai, or defined in the script, with a matching number of arguments),
//! each problem with file:line:column.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;

use rhai::{ASTNode, Engine, Expr, Position, Stmt, AST};

use super::{Callbacks, HostCtx, InstrumentView, OrderIds, StrategyError, CALLBACKS};
use crate::types::InstrumentId;

/// Functions Rhai resolves itself (keywords), with any number of arguments.
const BUILTINS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_var",
    "is_def_fn",
];

/// Compiles `source` with a host engine and returns every problem found (empty: the script
/// would load). Nothing is run.
pub fn check_source(file: &Path, source: &str) -> Vec<StrategyError> {
    let engine = checking_engine();
    match engine.compile(source) {
        Ok(ast) => analyse(&engine, &ast, file, source).1,
        Err(e) => vec![super::diagnose::compile_error(file, source, &e)],
    }
}

/// A host engine for compiling a script without running it (nothing is bound to a strategy).
pub(super) fn checking_engine() -> Engine {
    let ctx = Rc::new(RefCell::new(HostCtx {
        strategy: 0,
        name: String::new(),
        instruments: vec![InstrumentId(0)],
        symbols: Vec::new(),
        venues: Vec::new(),
        tradable: Vec::new(),
        tick_sizes: Vec::new(),
        lot_sizes: Vec::new(),
        views: vec![InstrumentView::default()],
        books: Vec::new(),
        open_orders: Vec::new(),
        account: Vec::new(),
        equity: rust_decimal::Decimal::ZERO,
        current: InstrumentId(0),
        origin_recv_ns: 0,
        now_ns: 0,
        params: rhai::Map::new(),
        actions: Vec::new(),
        timers: Vec::new(),
        ids: OrderIds::new(0),
        bar_history: Vec::new(),
    }));
    super::api::build_engine(&ctx, super::StrategyLimits::default())
}

/// Which callbacks the script has, and its problems.
pub(super) fn analyse(
    engine: &Engine,
    ast: &AST,
    file: &Path,
    source: &str,
) -> (Callbacks, Vec<StrategyError>) {
    let mut has = Callbacks::default();
    let mut problems = Vec::new();
    let problem = |pos: (usize, usize), message: String| StrategyError::Check {
        file: file.to_path_buf(),
        line: pos.0,
        column: pos.1,
        message,
    };

    let mut script_fns: HashMap<String, HashSet<usize>> = HashMap::new();
    for f in ast.iter_functions() {
        script_fns
            .entry(f.name.to_string())
            .or_default()
            .insert(f.params.len());
        if !f.name.starts_with("on_") {
            continue;
        }
        let pos = fn_position(source, f.name);
        match CALLBACKS.iter().find(|(n, _)| *n == f.name) {
            None => {
                let known: Vec<&str> = CALLBACKS.iter().map(|(n, _)| *n).collect();
                problems.push(problem(
                    pos,
                    format!(
                        "unknown callback `{}`; the host calls {}",
                        f.name,
                        known.join(", ")
                    ),
                ));
            }
            Some((_, arity)) if f.params.len() != *arity => problems.push(problem(
                pos,
                format!(
                    "callback `{}` takes {} parameter(s), the script declares {}",
                    f.name,
                    arity,
                    f.params.len()
                ),
            )),
            Some(_) => has.set(f.name),
        }
    }

    let host_fns = host_functions(engine);
    let mut calls: Vec<(String, usize, bool, Position)> = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(x, pos)))
            | Some(ASTNode::Stmt(Stmt::FnCall(x, pos)))
                if x.op_token.is_none() =>
            {
                calls.push((x.name.to_string(), x.args.len(), false, *pos));
            }
            Some(ASTNode::Expr(Expr::MethodCall(x, pos))) => {
                calls.push((x.name.to_string(), x.args.len(), true, *pos));
            }
            _ => {}
        }
        true
    });
    for (name, argc, method, pos) in calls {
        match name.as_str() {
            // `replace` finds the order it moves among the open orders.
            "open_orders" | "replace" => has.uses_open_orders = true,
            "balance" | "available" | "equity" => has.uses_account = true,
            "book_bids" | "book_asks" => has.uses_book = true,
            _ => {}
        }
        if !name.starts_with(|c: char| c.is_alphabetic() || c == '_')
            || BUILTINS.contains(&name.as_str())
        {
            continue;
        }
        let script = script_fns.get(&name);
        let host = host_fns.get(&name);
        // A method call passes the object as the first argument of a native function, or
        // binds it to `this` in a script function.
        let host_argc = if method { argc + 1 } else { argc };
        let ok = script.is_some_and(|a| a.contains(&argc))
            || host.is_some_and(|a| a.contains(&host_argc));
        if ok {
            continue;
        }
        let at = (pos.line().unwrap_or(0), pos.position().unwrap_or(0));
        let known: Vec<usize> = script
            .into_iter()
            .flatten()
            .copied()
            .chain(
                host.into_iter()
                    .flatten()
                    .map(|a| if method { a.saturating_sub(1) } else { *a }),
            )
            .collect();
        problems.push(if known.is_empty() {
            let renamed = RENAMED
                .iter()
                .find(|(old, _)| *old == name)
                .map(|(_, new)| format!("; it was renamed: use {new}"))
                .unwrap_or_default();
            problem(
                at,
                format!(
                    "unknown function `{name}`: neither the host nor the script defines it{renamed}"
                ),
            )
        } else {
            let mut known = known;
            known.sort_unstable();
            known.dedup();
            let list: Vec<String> = known.iter().map(|a| a.to_string()).collect();
            problem(
                at,
                format!(
                    "`{name}` takes {} argument(s), called with {argc}",
                    list.join(" or ")
                ),
            )
        });
    }
    let typed = super::check_types::typed_problems(engine, ast);
    let declared = super::declared::check_uses(engine, ast, source);
    for (pos, message) in typed.into_iter().chain(declared) {
        let at = (pos.line().unwrap_or(0), pos.position().unwrap_or(0));
        // One problem per place: the name-only arity check may have reported it already.
        let known = problems.iter().any(
            |p| matches!(p, StrategyError::Check { line, column, .. } if (*line, *column) == at),
        );
        if !known {
            problems.push(problem(at, message));
        }
    }
    problems.sort_by_key(|e| match e {
        StrategyError::Check { line, column, .. } => (*line, *column),
        _ => (0, 0),
    });
    (has, problems)
}

/// Host functions that were renamed, with what replaces them, so that `check` can say so.
const RENAMED: &[(&str, &str)] = &[(
    "stochastic",
    "`stoch(fastk, slowk, slowd)` (slow, TA-Lib STOCH: `.slowk`, `.slowd`) or \
     `stochf(fastk, fastd)` (fast, TA-Lib STOCHF: `.fastk`, `.fastd`)",
)];

/// Name -> arities of every function the engine knows (host API and Rhai's packages).
fn host_functions(engine: &Engine) -> HashMap<String, HashSet<usize>> {
    let mut out: HashMap<String, HashSet<usize>> = HashMap::new();
    for sig in engine.gen_fn_signatures(true) {
        let Some(open) = sig.find('(') else { continue };
        let name = &sig[..open];
        let mut depth = 0i32;
        let mut args = 0usize;
        let mut any = false;
        for ch in sig[open + 1..].chars() {
            match ch {
                '(' | '<' | '[' => depth += 1,
                ')' if depth == 0 => break,
                ')' | '>' | ']' => depth -= 1,
                ',' if depth == 0 => args += 1,
                c if !c.is_whitespace() => any = true,
                _ => {}
            }
        }
        let arity = if any { args + 1 } else { 0 };
        out.entry(name.to_string()).or_default().insert(arity);
    }
    out
}

/// 1-based line and column of `fn <name>` in the source ((0, 0) if not found).
pub(super) fn fn_position(source: &str, name: &str) -> (usize, usize) {
    for (i, line) in source.lines().enumerate() {
        let mut from = 0;
        while let Some(k) = line[from..].find("fn") {
            let at = from + k;
            from = at + 2;
            let before_ok = at == 0 || !is_ident(line.as_bytes()[at - 1]);
            let rest = &line[at + 2..];
            let trimmed = rest.trim_start();
            if before_ok
                && trimmed.len() < rest.len()
                && trimmed.starts_with(name)
                && trimmed[name.len()..].trim_start().starts_with('(')
            {
                return (i + 1, at + 1);
            }
        }
    }
    (0, 0)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
