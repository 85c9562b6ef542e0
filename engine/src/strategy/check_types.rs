//! Static checks that need a value's type, as far as the source tells it without running:
//! - a method called on an indicator (or view) whose type is known from the constructor it was
//!   made with (`let s = sma(5)`, `this.s = sma(5)`) must be called with an arity that type
//!   has (the name-only check accepts `s.update(1, 2)` because another type's `update` takes
//!   two);
//! - a comparison of a string literal with a number-typed property (`t.price == "100"`) or a
//!   number query (`position() > "0"`) is always false in Rhai: flagged.
//!
//! Types come from the host engine's own function signatures, so new host types are covered
//! without a list here.

use std::collections::{HashMap, HashSet};

use rhai::{ASTNode, Engine, Expr, Position, Stmt, AST};

/// Queries that return a decimal, or `()` when there is none yet.
const DECIMAL_OR_UNIT_QUERIES: &[&str] = &["best_bid", "best_ask", "last_price", "unrealized_pnl"];

const COMPARISONS: &[&str] = &["==", "!=", "<", "<=", ">", ">="];

/// What the host engine's signatures say about types.
struct HostTypes {
    /// Constructor name -> the type it returns (only names that always return one type).
    constructors: HashMap<String, String>,
    /// (receiver type, method) -> arities, without the receiver.
    methods: HashMap<(String, String), HashSet<usize>>,
    /// Property names whose every getter returns a number (decimal, float or integer; or a
    /// dynamic value beside them).
    numeric_properties: HashSet<String>,
    /// Functions without arguments that return a decimal.
    numeric_queries: HashSet<String>,
}

fn host_types(engine: &Engine) -> HostTypes {
    let mut ctor_types: HashMap<String, HashSet<String>> = HashMap::new();
    let mut methods: HashMap<(String, String), HashSet<usize>> = HashMap::new();
    let mut prop_types: HashMap<String, HashSet<String>> = HashMap::new();
    let mut numeric_queries: HashSet<String> = HashSet::new();
    for sig in engine.gen_fn_signatures(false) {
        let Some(open) = sig.find('(') else { continue };
        let Some(close) = sig.rfind(") -> ") else {
            continue;
        };
        let name = &sig[..open];
        let ret = sig[close + 5..].trim().to_string();
        let params: Vec<&str> = split_params(&sig[open + 1..close]);
        if let Some(prop) = name.strip_prefix("get$") {
            prop_types.entry(prop.to_string()).or_default().insert(ret);
            continue;
        }
        match params.first().and_then(|p| p.split_once("&mut ")) {
            Some((_, receiver)) => {
                methods
                    .entry((receiver.trim().to_string(), name.to_string()))
                    .or_default()
                    .insert(params.len() - 1);
            }
            None => {
                if params.is_empty() && ret == "decimal" {
                    numeric_queries.insert(name.to_string());
                }
                ctor_types.entry(name.to_string()).or_default().insert(ret);
            }
        }
    }
    let receivers: HashSet<&String> = methods.keys().map(|(t, _)| t).collect();
    let constructors = ctor_types
        .into_iter()
        .filter_map(|(name, rets)| {
            let mut rets = rets.into_iter();
            match (rets.next(), rets.next()) {
                (Some(t), None) if receivers.contains(&t) => Some((name, t)),
                _ => None,
            }
        })
        .collect();
    let numeric = |t: &str| matches!(t, "decimal" | "f64" | "i64");
    let numeric_properties = prop_types
        .into_iter()
        .filter(|(_, ts)| {
            ts.iter().any(|t| numeric(t)) && ts.iter().all(|t| numeric(t) || t.ends_with("Dynamic"))
        })
        .map(|(p, _)| p)
        .collect();
    numeric_queries.extend(DECIMAL_OR_UNIT_QUERIES.iter().map(|s| s.to_string()));
    HostTypes {
        constructors,
        methods,
        numeric_properties,
        numeric_queries,
    }
}

/// The parameters of a signature, split at top-level commas.
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(s[start..].trim());
    }
    out
}

/// Where a value lives, as far as the checks can name it.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Slot {
    /// A local variable (by name, anywhere in the script: a name bound to two types, or also
    /// used as a parameter, is not typed).
    Local(String),
    /// A property of `this`.
    This(String),
}

fn slot(e: &Expr) -> Option<Slot> {
    match e {
        Expr::Variable(v, ..) => Some(Slot::Local(v.1.to_string())),
        Expr::Dot(x, ..) => match (&x.lhs, &x.rhs) {
            (Expr::ThisPtr(_), Expr::Property(p, _)) => Some(Slot::This(p.2.to_string())),
            _ => None,
        },
        _ => None,
    }
}

fn describe(s: &Slot) -> String {
    match s {
        Slot::Local(n) => n.clone(),
        Slot::This(n) => format!("this.{n}"),
    }
}

/// Every typed problem of the script: (position, message).
pub(super) fn typed_problems(engine: &Engine, ast: &AST) -> Vec<(Position, String)> {
    let host = host_types(engine);
    // Pass 1: what each slot is assigned from.
    let mut bound: HashMap<Slot, HashSet<Option<String>>> = HashMap::new();
    let mut bind = |s: Option<Slot>, value: &Expr| {
        let Some(s) = s else { return };
        let ty = match value {
            Expr::FnCall(f, _) if f.op_token.is_none() => host.constructors.get(f.name.as_str()),
            _ => None,
        };
        bound.entry(s).or_default().insert(ty.cloned());
    };
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Var(x, ..))) => {
                bind(Some(Slot::Local(x.0.name.to_string())), &x.1);
            }
            Some(ASTNode::Stmt(Stmt::Assignment(x))) => bind(slot(&x.1.lhs), &x.1.rhs),
            _ => {}
        }
        true
    });
    // A local name that is also some function's parameter may hold anything there.
    let params: HashSet<String> = ast
        .iter_functions()
        .flat_map(|f| f.params.iter().map(|p| p.to_string()).collect::<Vec<_>>())
        .collect();
    let types: HashMap<Slot, String> = bound
        .into_iter()
        .filter(|(s, _)| !matches!(s, Slot::Local(n) if params.contains(n)))
        .filter_map(|(s, tys)| {
            let mut tys = tys.into_iter();
            match (tys.next(), tys.next()) {
                (Some(Some(t)), None) => Some((s, t)),
                _ => None,
            }
        })
        .collect();

    // Pass 2: method arities on typed receivers, and string-number comparisons.
    let mut problems = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let n = path.len();
        match path.last() {
            Some(ASTNode::Expr(Expr::MethodCall(m, pos))) if n >= 2 => {
                let ASTNode::Expr(Expr::Dot(dot, ..)) = &path[n - 2] else {
                    return true;
                };
                // `this.x.m()` nests to the right: Dot(this, Dot(x, m())).
                let receiver = match (&dot.lhs, n >= 3) {
                    (Expr::Property(p, _), true) => match &path[n - 3] {
                        ASTNode::Expr(Expr::Dot(outer, ..))
                            if matches!(outer.lhs, Expr::ThisPtr(_)) =>
                        {
                            Some(Slot::This(p.2.to_string()))
                        }
                        _ => None,
                    },
                    (lhs, _) => slot(lhs),
                };
                let Some(receiver) = receiver else {
                    return true;
                };
                let Some(ty) = types.get(&receiver) else {
                    return true;
                };
                let Some(arities) = host.methods.get(&(ty.clone(), m.name.to_string())) else {
                    return true;
                };
                if !arities.contains(&m.args.len()) {
                    let mut list: Vec<usize> = arities.iter().copied().collect();
                    list.sort_unstable();
                    let list: Vec<String> = list.iter().map(|a| a.to_string()).collect();
                    problems.push((
                        *pos,
                        format!(
                            "`{}.{}` ({ty}) takes {} argument(s), called with {}",
                            describe(&receiver),
                            m.name,
                            list.join(" or "),
                            m.args.len()
                        ),
                    ));
                }
            }
            Some(ASTNode::Expr(Expr::FnCall(f, pos)))
                if f.op_token.is_some()
                    && f.args.len() == 2
                    && COMPARISONS.contains(&f.name.as_str()) =>
            {
                let (text, other) = match (&f.args[0], &f.args[1]) {
                    (Expr::StringConstant(s, _), other) | (other, Expr::StringConstant(s, _)) => {
                        (s, other)
                    }
                    _ => return true,
                };
                let what = match other {
                    Expr::Dot(x, ..) => match &x.rhs {
                        Expr::Property(p, _) if host.numeric_properties.contains(p.2.as_str()) => {
                            Some(format!("`.{}`", p.2))
                        }
                        _ => None,
                    },
                    Expr::FnCall(q, _)
                        if q.args.is_empty() && host.numeric_queries.contains(q.name.as_str()) =>
                    {
                        Some(format!("`{}()`", q.name))
                    }
                    _ => None,
                };
                if let Some(what) = what {
                    problems.push((
                        *pos,
                        format!(
                            "{what} is a number and {text:?} a string: `{}` between them is \
                             always false; write the number, or to_decimal({text:?})",
                            f.name
                        ),
                    ));
                }
            }
            _ => {}
        }
        true
    });
    problems
}
