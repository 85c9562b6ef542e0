//! Parameters a script declares: `fn params()` returns a map from each parameter's name to
//! its declaration,
//!
//! ```text
//! fn params() {
//!     #{
//!         fast: #{ type: "int", default_value: 8, min: 2, max: 200, step: 2, doc: "fast EMA period" },
//!         qty:  #{ type: "decimal", min: "0.00001" },   // no default_value: required
//!         mode: #{ type: "string", default_value: "taker", choices: ["taker", "maker"] },
//!     }
//! }
//! ```
//!
//! with `type` one of `int`, `float`, `decimal`, `bool`, `string` (`default_value`, because
//! `default` is a reserved word in Rhai; `step`, with `min` and `max`, is the grid
//! `peregrine optimize` sweeps when asked for the parameter by name). The config's values (and
//! `--param` overrides) are validated against it when the strategy loads, and `param(name)`
//! then always returns the declared type: an `int` parameter is an integer whether it came from
//! the default or from the config, a `decimal` one an exact decimal.
//!
//! `params()` runs once per load in the sandbox (it must only build the map).

use rhai::{CallFnOptions, Dynamic, Engine, Map, Scope, AST};
use rust_decimal::Decimal;

use super::params::ParamKind;

/// The name of the declaring function.
pub const DECLARING_FN: &str = "params";

/// One declared parameter.
#[derive(Clone, Debug)]
pub struct ParamDecl {
    /// The parameter's name.
    pub name: String,
    /// Its type (never [`ParamKind::Any`]).
    pub kind: ParamKind,
    /// The default, already of `kind`; `None`: the config must set it.
    pub default: Option<Dynamic>,
    /// Inclusive bounds, for numbers.
    pub min: Option<Decimal>,
    /// See `min`.
    pub max: Option<Decimal>,
    /// Grid step between `min` and `max` for `peregrine optimize` (positive; numbers only).
    pub step: Option<Decimal>,
    /// The allowed values, for strings (empty: any).
    pub choices: Vec<String>,
    /// What it is for.
    pub doc: Option<String>,
}

/// Whether the script has a `fn params()` to run.
pub fn declares(ast: &AST) -> bool {
    ast.iter_functions()
        .any(|f| f.name == DECLARING_FN && f.params.is_empty())
}

/// Runs the script's `params()` and reads its declarations (`Ok(None)`: the script declares
/// none). The error says what is wrong with the declaration.
pub fn declarations(engine: &Engine, ast: &AST) -> Result<Option<Vec<ParamDecl>>, String> {
    if !declares(ast) {
        return Ok(None);
    }
    let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
    let value = engine
        .call_fn_with_options::<Dynamic>(options, &mut Scope::new(), ast, DECLARING_FN, ())
        .map_err(|e| format!("{DECLARING_FN}() failed: {e}"))?;
    let map = value.try_cast::<Map>().ok_or_else(|| {
        format!("{DECLARING_FN}() must return a map #{{ name: #{{ type: ... }} }}")
    })?;
    let mut out = Vec::with_capacity(map.len());
    for (name, decl) in map {
        let decl = decl
            .try_cast::<Map>()
            .ok_or_else(|| format!("parameter `{name}`: its declaration must be a map"))?;
        out.push(parse_decl(name.as_str(), decl)?);
    }
    Ok(Some(out))
}

fn parse_decl(name: &str, mut m: Map) -> Result<ParamDecl, String> {
    let err = |msg: String| format!("parameter `{name}`: {msg}");
    let kind = match m
        .remove("type")
        .and_then(|t| t.into_immutable_string().ok())
    {
        Some(t) => match t.as_str() {
            "int" => ParamKind::Int,
            "float" => ParamKind::Float,
            "decimal" => ParamKind::Decimal,
            "bool" => ParamKind::Bool,
            "string" => ParamKind::Text,
            other => {
                return Err(err(format!(
                    "type {other:?} is not one of int, float, decimal, bool, string"
                )))
            }
        },
        None => {
            return Err(err(
                "needs a `type` (int, float, decimal, bool, string)".into()
            ))
        }
    };
    let bound = |m: &mut Map, key: &str| -> Result<Option<Decimal>, String> {
        match m.remove(key) {
            None => Ok(None),
            Some(v) => number(&v)
                .map(Some)
                .ok_or_else(|| err(format!("`{key}` must be a number, got {}", v.type_name()))),
        }
    };
    let min = bound(&mut m, "min")?;
    let max = bound(&mut m, "max")?;
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            return Err(err(format!("min {lo} is above max {hi}")));
        }
    }
    if (min.is_some() || max.is_some())
        && !matches!(kind, ParamKind::Int | ParamKind::Float | ParamKind::Decimal)
    {
        return Err(err(
            "min/max are for int, float and decimal parameters".into()
        ));
    }
    let step = bound(&mut m, "step")?;
    if let Some(st) = step {
        if st <= Decimal::ZERO {
            return Err(err(format!("`step` must be positive, got {st}")));
        }
        if !matches!(kind, ParamKind::Int | ParamKind::Float | ParamKind::Decimal) {
            return Err(err("`step` is for int, float and decimal parameters".into()));
        }
        if kind == ParamKind::Int && !st.fract().is_zero() {
            return Err(err(format!(
                "`step` of an int parameter must be whole, got {st}"
            )));
        }
    }
    let choices = match m.remove("choices") {
        None => Vec::new(),
        Some(c) => {
            if kind != ParamKind::Text {
                return Err(err("`choices` is for string parameters".into()));
            }
            c.try_cast::<rhai::Array>()
                .ok_or_else(|| err("`choices` must be an array of strings".into()))?
                .into_iter()
                .map(|v| v.into_string())
                .collect::<Result<Vec<String>, _>>()
                .map_err(|_| err("`choices` must be an array of strings".into()))?
        }
    };
    let doc = m.remove("doc").and_then(|d| d.into_string().ok());
    let mut decl = ParamDecl {
        name: name.to_string(),
        kind,
        default: None,
        min,
        max,
        step,
        choices,
        doc,
    };
    if let Some(d) = m.remove("default_value") {
        decl.default = Some(decl.accept(&d).map_err(|e| err(format!("default: {e}")))?);
    }
    if let Some((k, _)) = m.into_iter().next() {
        return Err(err(format!(
            "unknown key `{k}` (a declaration has type, default_value, min, max, step, choices, doc)"
        )));
    }
    Ok(decl)
}

/// A number as an exact decimal (floats by their shortest text, strings exactly).
fn number(v: &Dynamic) -> Option<Decimal> {
    super::api::to_decimal("value", v).ok()
}

impl ParamDecl {
    /// `v` as this parameter's type, if it is one and within the declared range.
    pub fn accept(&self, v: &Dynamic) -> Result<Dynamic, String> {
        let typed = match self.kind {
            ParamKind::Int => v
                .as_int()
                .map(Dynamic::from_int)
                .map_err(|_| format!("expects an integer, got {}", describe(v)))?,
            ParamKind::Float => match (v.as_float(), v.as_int(), v.as_decimal()) {
                (Ok(f), ..) => Dynamic::from_float(f),
                (_, Ok(i), _) => Dynamic::from_float(i as f64),
                (_, _, Ok(d)) => {
                    use rust_decimal::prelude::ToPrimitive;
                    Dynamic::from_float(d.to_f64().ok_or("out of range")?)
                }
                _ => return Err(format!("expects a number, got {}", describe(v))),
            },
            ParamKind::Decimal => match (v.as_decimal(), v.as_int()) {
                (Ok(d), _) => Dynamic::from_decimal(d),
                (_, Ok(i)) => Dynamic::from_decimal(Decimal::from(i)),
                _ => {
                    if let Some(s) = v.read_lock::<rhai::ImmutableString>() {
                        match Decimal::from_str_exact(s.trim()) {
                            Ok(d) => Dynamic::from_decimal(d),
                            Err(_) => {
                                return Err(format!("{:?} is not a decimal number", s.as_str()))
                            }
                        }
                    } else if v.is_float() {
                        return Err(
                            "expects an exact decimal, got a float: write it as a string (\"0.001\")"
                                .into(),
                        );
                    } else {
                        return Err(format!("expects a decimal, got {}", describe(v)));
                    }
                }
            },
            ParamKind::Bool => v
                .as_bool()
                .map(Dynamic::from_bool)
                .map_err(|_| format!("expects true or false, got {}", describe(v)))?,
            ParamKind::Text => {
                let s = if let Some(s) = v.read_lock::<rhai::ImmutableString>() {
                    s.to_string()
                } else if let Ok(d) = v.as_decimal() {
                    // A config string that reads as a number arrives as a decimal.
                    d.to_string()
                } else {
                    return Err(format!("expects a string, got {}", describe(v)));
                };
                if !self.choices.is_empty() && !self.choices.contains(&s) {
                    return Err(format!("{s:?} is not one of {:?}", self.choices));
                }
                Dynamic::from(s)
            }
            ParamKind::Any => v.clone(),
        };
        let numeric = matches!(
            self.kind,
            ParamKind::Int | ParamKind::Float | ParamKind::Decimal
        );
        if let Some(n) = number(&typed).filter(|_| numeric) {
            if let Some(lo) = self.min.filter(|lo| n < *lo) {
                return Err(format!("{n} is below the minimum {lo}"));
            }
            if let Some(hi) = self.max.filter(|hi| n > *hi) {
                return Err(format!("{n} is above the maximum {hi}"));
            }
        }
        Ok(typed)
    }
}

fn describe(v: &Dynamic) -> String {
    if v.is_string() {
        format!("the string {v:?}")
    } else {
        format!("{} {v}", v.type_name())
    }
}

/// The declared parameters' names, sorted and `, `-separated (`none` without any), for
/// messages.
pub fn declared_names(decls: &[ParamDecl]) -> String {
    let mut names: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
    names.sort_unstable();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The parameters a declaring script runs with: each declared one from `given` (validated and
/// converted) or its default. Errors: (key, message) for an unknown key, a wrong type or range,
/// or a required parameter that is missing.
pub fn resolve(decls: &[ParamDecl], given: &Map) -> Result<Map, (String, String)> {
    if let Some(k) = given
        .keys()
        .find(|k| !decls.iter().any(|d| d.name == k.as_str()))
    {
        return Err((
            k.to_string(),
            format!(
                "unknown parameter: the script declares {}",
                declared_names(decls)
            ),
        ));
    }
    let mut out = Map::new();
    for d in decls {
        let value = match (given.get(d.name.as_str()), &d.default) {
            (Some(v), _) => d.accept(v).map_err(|e| (d.name.clone(), e))?,
            (None, Some(default)) => default.clone(),
            (None, None) => {
                return Err((
                    d.name.clone(),
                    "missing parameter: it is declared without a default".into(),
                ))
            }
        };
        out.insert(d.name.as_str().into(), value);
    }
    Ok(out)
}

/// Problems of a declaring script's `param()` calls, found without running it: a call that
/// reads an undeclared name, or passes a default of its own (the declaration holds it), and a
/// declaration that does not load. (position, message).
pub(super) fn check_uses(
    engine: &Engine,
    ast: &AST,
    source: &str,
) -> Vec<(rhai::Position, String)> {
    if !declares(ast) {
        return Vec::new();
    }
    let decls = match declarations(engine, ast) {
        Ok(Some(d)) => d,
        Ok(None) => return Vec::new(),
        Err(e) => {
            let (line, column) = super::check::fn_position(source, DECLARING_FN);
            let line = u16::try_from(line).unwrap_or(u16::MAX);
            let column = u16::try_from(column).unwrap_or(u16::MAX);
            return vec![(rhai::Position::new(line, column), e)];
        }
    };
    let mut out = Vec::new();
    for call in super::params::param_calls(ast) {
        let Some(name) = call.name else { continue };
        if !decls.iter().any(|d| d.name == name) {
            out.push((
                call.pos,
                format!("param({name:?}): `{name}` is not declared in {DECLARING_FN}()"),
            ));
        } else if call.default.is_some() {
            out.push((
                call.pos,
                format!(
                    "param({name:?}, ...): `{name}` is declared in {DECLARING_FN}(), which \
                     holds its default; call param({name:?})"
                ),
            ));
        }
    }
    out
}
