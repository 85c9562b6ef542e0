//! The parameters a script reads, found statically: every `param("name")` and
//! `param("name", default)` call in the AST, with the type its default implies, and the check
//! of a strategy's `[strategies.params]` against them (run at config load).
//!
//! The expected type of a parameter is inferred from the literal default only
//! ([`ParamKind::of_default`]); this is the one place to extend when scripts can declare
//! typed parameters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rhai::{ASTNode, Expr, Stmt};
use rust_decimal::Decimal;

use super::{error, StrategyError};

/// What a parameter's value must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// An integer (`param("n", 20)`).
    Int,
    /// A float statistic (`param("k", 2.0)`).
    Float,
    /// An exact decimal, written as a string (`param("qty", "0.001")`).
    Decimal,
    /// Text that is not a number (`param("mode", "fast")`).
    Text,
    /// A boolean.
    Bool,
    /// Not known (the default is not a literal).
    Any,
}

impl ParamKind {
    /// The kind a literal default implies (`Any` for anything else).
    pub fn of_default(e: &Expr) -> Self {
        match e {
            Expr::IntegerConstant(..) => Self::Int,
            Expr::FloatConstant(..) => Self::Float,
            Expr::BoolConstant(..) => Self::Bool,
            Expr::StringConstant(s, _) if Decimal::from_str_exact(s.trim()).is_ok() => {
                Self::Decimal
            }
            Expr::StringConstant(..) => Self::Text,
            _ => Self::Any,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Int => "an integer",
            Self::Float => "a float",
            Self::Decimal => "a decimal string",
            Self::Text => "text",
            Self::Bool => "a boolean",
            Self::Any => "any value",
        }
    }
}

/// One `param(...)` call of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamUse {
    /// The parameter's name.
    pub name: String,
    /// The default's kind; `None` for `param(name)` without a default (required).
    pub default: Option<ParamKind>,
    /// 1-based line of the call.
    pub line: usize,
}

/// Every parameter a script reads.
#[derive(Clone, Debug, Default)]
pub struct ScriptParams {
    /// The file (for messages).
    pub file: PathBuf,
    /// The calls with a literal name, in source order.
    pub uses: Vec<ParamUse>,
    /// Some call names its parameter with a non-literal (then unknown keys cannot be told).
    pub dynamic_names: bool,
    /// The script's own declarations (`fn params()`, see [`super::declared`]), if it has them:
    /// then they, not the `param()` calls, say what the config may set.
    pub declared: Option<Vec<super::declared::ParamDecl>>,
    /// 1-based line of `fn params()` (0 without declarations).
    pub declared_line: usize,
}

/// A problem of one configured parameter (or a missing one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamProblem {
    /// The config key (`qty`), or the missing parameter's name.
    pub key: String,
    /// The key is missing from the config (rather than wrong in it).
    pub missing: bool,
    /// What is wrong, with the script line of the `param()` call where one applies.
    pub message: String,
}

/// Compiles `source` (nothing is run) and collects its `param(...)` calls.
pub fn script_params(file: &Path, source: &str) -> Result<ScriptParams, StrategyError> {
    let engine = super::check::checking_engine();
    let ast = engine
        .compile(source)
        .map_err(|e| error::compile(file, &e))?;
    let declared =
        super::declared::declarations(&engine, &ast).map_err(|message| StrategyError::Check {
            file: file.to_path_buf(),
            line: super::check::fn_position(source, super::declared::DECLARING_FN).0,
            column: 1,
            message,
        })?;
    let declared_line = match declared {
        Some(_) => super::check::fn_position(source, super::declared::DECLARING_FN).0,
        None => 0,
    };
    let mut out = ScriptParams {
        file: file.to_path_buf(),
        declared,
        declared_line,
        ..Default::default()
    };
    for call in param_calls(&ast) {
        match call.name {
            Some(name) => out.uses.push(ParamUse {
                name,
                default: call.default,
                line: call.pos.line().unwrap_or(0),
            }),
            None => out.dynamic_names = true,
        }
    }
    Ok(out)
}

/// One `param(name)` or `param(name, default)` call of a script.
pub(super) struct ParamCall {
    /// The name, if it is a literal.
    pub name: Option<String>,
    /// The kind of the literal default, if the call has a default.
    pub default: Option<ParamKind>,
    /// Where the call is.
    pub pos: rhai::Position,
}

/// Every `param()` call with one or two arguments, in source order.
pub(super) fn param_calls(ast: &rhai::AST) -> Vec<ParamCall> {
    let mut out = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(x, pos)))
            | Some(ASTNode::Stmt(Stmt::FnCall(x, pos))) => Some((x, *pos)),
            _ => None,
        };
        if let Some((x, pos)) = call {
            if x.name == "param" && x.op_token.is_none() && (1..=2).contains(&x.args.len()) {
                out.push(ParamCall {
                    name: match &x.args[0] {
                        Expr::StringConstant(name, _) => Some(name.to_string()),
                        _ => None,
                    },
                    default: x.args.get(1).map(ParamKind::of_default),
                    pos,
                });
            }
        }
        true
    });
    out
}

/// What a configured TOML value is, as the script will see it.
fn kind_of(v: &toml::Value) -> Option<ParamKind> {
    Some(match v {
        toml::Value::Integer(_) => ParamKind::Int,
        toml::Value::Float(_) => ParamKind::Float,
        toml::Value::Boolean(_) => ParamKind::Bool,
        toml::Value::String(s) if Decimal::from_str_exact(s).is_ok() => ParamKind::Decimal,
        toml::Value::String(_) => ParamKind::Text,
        _ => return None,
    })
}

/// Checks configured `params` against what the script reads: unknown keys, required
/// parameters missing, and values of the wrong type (a float is accepted only where the
/// script's default is a float: decimals are strings).
pub fn check(params: &BTreeMap<String, toml::Value>, script: &ScriptParams) -> Vec<ParamProblem> {
    let file = script.file.display();
    if let Some(decls) = &script.declared {
        return match super::declared::resolve(decls, &super::api::params_to_map(params)) {
            Ok(_) => Vec::new(),
            Err((key, message)) => vec![ParamProblem {
                missing: !params.contains_key(&key),
                message: format!(
                    "{message} (declared in {file}:{}, fn params())",
                    script.declared_line
                ),
                key,
            }],
        };
    }
    let mut problems = Vec::new();
    for (key, value) in params {
        let uses: Vec<&ParamUse> = script.uses.iter().filter(|u| &u.name == key).collect();
        let Some(first) = uses.first() else {
            if !script.dynamic_names {
                let mut known: Vec<&str> = script.uses.iter().map(|u| u.name.as_str()).collect();
                known.sort_unstable();
                known.dedup();
                problems.push(ParamProblem {
                    key: key.clone(),
                    missing: false,
                    message: format!(
                        "unknown parameter: {file} never reads it (its param() calls read: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                });
            }
            continue;
        };
        let declared = uses.iter().find_map(|u| u.default.map(|k| (k, u.line)));
        let (expected, line) = declared.unwrap_or((ParamKind::Any, first.line));
        let got = kind_of(value);
        let at = format!("param(\"{key}\") at {file}:{line}");
        let message = match (expected, got) {
            (ParamKind::Float, Some(ParamKind::Float | ParamKind::Int)) => continue,
            (ParamKind::Any, Some(ParamKind::Float)) => format!(
                "a TOML float, but {at} has no float default: write decimals as strings \
                 ({key} = \"{value}\"), a float loses the exact value"
            ),
            (ParamKind::Any, _) => continue,
            (e, Some(g)) if e == g => continue,
            (ParamKind::Decimal, Some(ParamKind::Float | ParamKind::Int)) => format!(
                "a TOML number, but {at} expects a decimal string: write {key} = \"{value}\""
            ),
            (e, g) => format!(
                "{}, but {at} expects {} (its default)",
                g.map_or("an array or table", ParamKind::describe),
                e.describe()
            ),
        };
        problems.push(ParamProblem {
            key: key.clone(),
            missing: false,
            message,
        });
    }
    let mut required: Vec<&ParamUse> = script
        .uses
        .iter()
        .filter(|u| u.default.is_none() && !params.contains_key(&u.name))
        .collect();
    required.dedup_by(|a, b| a.name == b.name);
    for u in required {
        problems.push(ParamProblem {
            key: u.name.clone(),
            missing: true,
            message: format!(
                "missing parameter `{}`: param(\"{}\") at {file}:{} has no default",
                u.name, u.name, u.line
            ),
        });
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"
fn on_start() {
    this.qty = param("qty");
    this.n = param("lookback", 20);
    this.k = param("k", 2.0);
    this.max = param("max_inventory", "0.01");
    this.mode = param("mode", "fast");
}
"#;

    fn problems(toml_params: &str) -> Vec<ParamProblem> {
        let params: BTreeMap<String, toml::Value> = toml::from_str(toml_params).unwrap();
        let script = script_params(Path::new("s.rhai"), SCRIPT).unwrap();
        check(&params, &script)
    }

    #[test]
    fn calls_are_found_with_their_default_kinds_and_lines() {
        let s = script_params(Path::new("s.rhai"), SCRIPT).unwrap();
        let got: Vec<_> = s
            .uses
            .iter()
            .map(|u| (u.name.as_str(), u.default, u.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("qty", None, 3),
                ("lookback", Some(ParamKind::Int), 4),
                ("k", Some(ParamKind::Float), 5),
                ("max_inventory", Some(ParamKind::Decimal), 6),
                ("mode", Some(ParamKind::Text), 7),
            ]
        );
        assert!(!s.dynamic_names);
    }

    #[test]
    fn good_params_pass() {
        let p = problems(
            "qty = \"0.001\"\nlookback = 5\nk = 1.5\nmax_inventory = \"1\"\nmode = \"slow\"",
        );
        assert!(p.is_empty(), "{p:?}");
        // Floats where the default is a float may be integers too.
        assert!(problems("qty = \"1\"\nk = 3").is_empty());
    }

    #[test]
    fn a_float_where_a_decimal_is_read_names_the_script_line() {
        let p = problems("qty = 0.001");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].key, "qty");
        assert!(
            p[0].message.contains("s.rhai:3") && p[0].message.contains("\"0.001\""),
            "{p:?}"
        );
        let p = problems("qty = \"1\"\nmax_inventory = 0.5");
        assert!(
            p[0].message.contains("s.rhai:6") && p[0].message.contains("decimal string"),
            "{p:?}"
        );
    }

    #[test]
    fn wrong_types_unknown_and_missing_keys_are_reported() {
        let p = problems("qty = \"1\"\nlookback = \"20\"");
        assert!(
            p[0].message.contains("expects an integer") && p[0].message.contains("s.rhai:4"),
            "{p:?}"
        );
        let p = problems("qty = \"1\"\nmode = 3");
        assert!(p[0].message.contains("expects text"), "{p:?}");
        let p = problems("qty = \"1\"\nlookbak = 20");
        assert_eq!(p[0].key, "lookbak");
        assert!(
            p[0].message.contains("unknown parameter") && p[0].message.contains("lookback"),
            "{p:?}"
        );
        let p = problems("lookback = 20");
        assert!(
            p[0].missing && p[0].key == "qty" && p[0].message.contains("s.rhai:3"),
            "{p:?}"
        );
    }

    #[test]
    fn a_computed_name_turns_off_the_unknown_key_check() {
        let s = script_params(
            Path::new("d.rhai"),
            "fn on_start() { let n = \"a\"; this.a = param(n, 1); }",
        )
        .unwrap();
        assert!(s.dynamic_names);
        let params: BTreeMap<String, toml::Value> = toml::from_str("a = 2\nb = 3").unwrap();
        assert!(check(&params, &s).is_empty());
    }
}
