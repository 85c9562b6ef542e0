//! The parameter grid of `peregrine optimize`: `--grid` specs parsed against the strategy's
//! declared parameters (`fn params()`), and the combinations they span, in a fixed order.
//!
//! Spec forms:
//! - `NAME=A..B:STEP`: A, A+STEP, ... up to B inclusive (exact decimal steps);
//! - `NAME=V1,V2,...`: the listed values (one value is a fixed parameter);
//! - `NAME`: from the declaration: `min..max:step` for numbers (the declaration needs all
//!   three), the `choices` of a string, `false,true` for a bool.
//!
//! Without any `--grid`, every declared parameter with `min`, `max` and `step` is swept.

use peregrine_engine::strategy::declared::{declared_names, ParamDecl};
use peregrine_engine::strategy::params::ParamKind;
use rust_decimal::Decimal;

/// Most combinations one sweep may run (each is two backtests: in and out of sample).
pub const MAX_COMBINATIONS: usize = 10_000;

/// One swept parameter and its values (as config values, in sweep order).
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The parameter's name.
    pub name: String,
    /// Its values.
    pub values: Vec<toml::Value>,
}

/// A bad `--grid`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--grid {spec}: {message}")]
pub struct GridError {
    /// The spec as given (or `(none)`).
    pub spec: String,
    /// What is wrong with it.
    pub message: String,
}

fn err(spec: &str, message: impl Into<String>) -> GridError {
    GridError {
        spec: spec.to_string(),
        message: message.into(),
    }
}

fn number(spec: &str, what: &str, text: &str) -> Result<Decimal, GridError> {
    Decimal::from_str_exact(text.trim())
        .map_err(|_| err(spec, format!("{what} {:?} is not a number", text.trim())))
}

/// A value's text as the config value a parameter of `kind` takes (integers as integers,
/// booleans as booleans, everything else as text: decimals stay exact).
fn value(spec: &str, kind: Option<ParamKind>, text: &str) -> Result<toml::Value, GridError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(err(spec, "an empty value"));
    }
    Ok(match kind {
        Some(ParamKind::Int) => toml::Value::Integer(text.parse::<i64>().map_err(|_| {
            err(
                spec,
                format!("{text:?} is not an integer (an int parameter)"),
            )
        })?),
        Some(ParamKind::Bool) => match text {
            "true" => toml::Value::Boolean(true),
            "false" => toml::Value::Boolean(false),
            _ => return Err(err(spec, format!("{text:?} is not true or false"))),
        },
        Some(ParamKind::Float | ParamKind::Decimal) => {
            number(spec, "value", text)?;
            toml::Value::String(text.to_string())
        }
        Some(ParamKind::Text) => toml::Value::String(text.to_string()),
        // Undeclared: as `--param` reads it.
        Some(ParamKind::Any) | None => match text.parse::<i64>() {
            Ok(i) => toml::Value::Integer(i),
            Err(_) => match text {
                "true" => toml::Value::Boolean(true),
                "false" => toml::Value::Boolean(false),
                _ => toml::Value::String(text.to_string()),
            },
        },
    })
}

/// `lo, lo+step, ..., <= hi` as texts (exact decimal arithmetic).
fn range(
    spec: &str,
    kind: Option<ParamKind>,
    lo: Decimal,
    hi: Decimal,
    step: Decimal,
) -> Result<Vec<toml::Value>, GridError> {
    if step <= Decimal::ZERO {
        return Err(err(spec, format!("the step must be positive, got {step}")));
    }
    if lo > hi {
        return Err(err(
            spec,
            format!("the range is empty ({lo} is above {hi})"),
        ));
    }
    let mut out = Vec::new();
    let mut v = lo;
    while v <= hi {
        if out.len() >= MAX_COMBINATIONS {
            return Err(err(
                spec,
                format!("more than {MAX_COMBINATIONS} values: use a larger step"),
            ));
        }
        out.push(value(spec, kind, &v.normalize().to_string())?);
        v += step;
    }
    Ok(out)
}

/// One `--grid` spec against the declarations (`None`: the script declares none).
pub fn parse_axis(spec: &str, decls: Option<&[ParamDecl]>) -> Result<Axis, GridError> {
    let (name, values) = match spec.split_once('=') {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (spec.trim(), None),
    };
    if name.is_empty() {
        return Err(err(
            spec,
            "expected NAME=A..B:STEP, NAME=V1,V2,... or a declared NAME",
        ));
    }
    let decl = match decls {
        Some(ds) => Some(ds.iter().find(|d| d.name == name).ok_or_else(|| {
            err(
                spec,
                format!(
                    "the script declares no parameter {name:?} (it declares {})",
                    declared_names(ds)
                ),
            )
        })?),
        None => None,
    };
    let kind = decl.map(|d| d.kind);
    let values = match values {
        None => from_declaration(spec, decl)?,
        Some("") => return Err(err(spec, "no values after `=`")),
        Some(v) => match v.split_once("..") {
            Some((lo, rest)) => {
                let (hi, step) = match rest.split_once(':') {
                    Some((hi, step)) => (hi, number(spec, "step", step)?),
                    None => match decl.and_then(|d| d.step) {
                        Some(step) => (rest, step),
                        None => return Err(err(
                            spec,
                            "a range needs a step: NAME=A..B:STEP (or a `step` in the declaration)",
                        )),
                    },
                };
                range(
                    spec,
                    kind,
                    number(spec, "start", lo)?,
                    number(spec, "end", hi)?,
                    step,
                )?
            }
            None => v
                .split(',')
                .map(|t| value(spec, kind, t))
                .collect::<Result<_, _>>()?,
        },
    };
    if let Some(d) = decl {
        for v in &values {
            let n = match v {
                toml::Value::Integer(i) => Some(Decimal::from(*i)),
                toml::Value::String(t) if d.kind != ParamKind::Text => {
                    Decimal::from_str_exact(t).ok()
                }
                _ => None,
            };
            if let Some(n) = n {
                if let Some(lo) = d.min.filter(|lo| n < *lo) {
                    return Err(err(spec, format!("{n} is below the declared minimum {lo}")));
                }
                if let Some(hi) = d.max.filter(|hi| n > *hi) {
                    return Err(err(spec, format!("{n} is above the declared maximum {hi}")));
                }
            }
        }
    }
    Ok(Axis {
        name: name.to_string(),
        values,
    })
}

fn from_declaration(spec: &str, decl: Option<&ParamDecl>) -> Result<Vec<toml::Value>, GridError> {
    let Some(d) = decl else {
        return Err(err(
            spec,
            "the script declares no parameters (no fn params()): give the values, NAME=A..B:STEP or NAME=V1,V2",
        ));
    };
    match d.kind {
        ParamKind::Bool => Ok(vec![
            toml::Value::Boolean(false),
            toml::Value::Boolean(true),
        ]),
        ParamKind::Text if !d.choices.is_empty() => Ok(d
            .choices
            .iter()
            .map(|c| toml::Value::String(c.clone()))
            .collect()),
        ParamKind::Int | ParamKind::Float | ParamKind::Decimal => match (d.min, d.max, d.step) {
            (Some(lo), Some(hi), Some(step)) => range(spec, Some(d.kind), lo, hi, step),
            _ => Err(err(
                spec,
                format!(
                    "the declaration of {} needs min, max and step to be swept by name; or give NAME=A..B:STEP",
                    d.name
                ),
            )),
        },
        _ => Err(err(
            spec,
            format!("{} is a free string: list its values, {}=V1,V2", d.name, d.name),
        )),
    }
}

/// The axes of a sweep: the `--grid` specs, or, without any, every declared parameter with
/// `min`, `max` and `step`. Each parameter once; at most [`MAX_COMBINATIONS`] combinations.
pub fn axes(specs: &[String], decls: Option<&[ParamDecl]>) -> Result<Vec<Axis>, GridError> {
    let mut out: Vec<Axis> = Vec::new();
    if specs.is_empty() {
        for d in decls.unwrap_or(&[]) {
            if d.min.is_some() && d.max.is_some() && d.step.is_some() {
                out.push(parse_axis(&d.name, decls)?);
            }
        }
        if out.is_empty() {
            return Err(err(
                "(none)",
                "nothing to sweep: pass --grid NAME=A..B:STEP or NAME=V1,V2 (or declare min, max and step)",
            ));
        }
    }
    for spec in specs {
        let axis = parse_axis(spec, decls)?;
        if out.iter().any(|a| a.name == axis.name) {
            return Err(err(spec, format!("{} is swept twice", axis.name)));
        }
        out.push(axis);
    }
    let n = combinations_count(&out);
    if n > MAX_COMBINATIONS {
        return Err(err(
            &specs.join(" "),
            format!("{n} combinations, more than the limit {MAX_COMBINATIONS}"),
        ));
    }
    Ok(out)
}

fn combinations_count(axes: &[Axis]) -> usize {
    axes.iter()
        .map(|a| a.values.len())
        .try_fold(1usize, |acc, n| acc.checked_mul(n))
        .unwrap_or(usize::MAX)
}

/// Every combination of the axes' values, the last axis varying fastest.
pub fn combinations(axes: &[Axis]) -> Vec<Vec<toml::Value>> {
    let mut out: Vec<Vec<toml::Value>> = vec![Vec::new()];
    for a in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                a.values.iter().map(move |v| {
                    let mut c = prefix.clone();
                    c.push(v.clone());
                    c
                })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(name: &str, kind: ParamKind, min: i64, max: i64, step: Option<i64>) -> ParamDecl {
        ParamDecl {
            name: name.into(),
            kind,
            default: None,
            min: Some(Decimal::from(min)),
            max: Some(Decimal::from(max)),
            step: step.map(Decimal::from),
            choices: Vec::new(),
            doc: None,
        }
    }

    fn ints(a: &Axis) -> Vec<i64> {
        a.values.iter().filter_map(|v| v.as_integer()).collect()
    }

    #[test]
    fn ranges_lists_and_declared_steps() {
        let ds = vec![
            decl("fast", ParamKind::Int, 2, 10, Some(4)),
            decl("k", ParamKind::Decimal, 0, 1, None),
        ];
        let d = Some(ds.as_slice());
        assert_eq!(ints(&parse_axis("fast=3..9:3", d).unwrap()), vec![3, 6, 9]);
        assert_eq!(ints(&parse_axis("fast=3..10:3", d).unwrap()), vec![3, 6, 9]);
        assert_eq!(ints(&parse_axis("fast", d).unwrap()), vec![2, 6, 10]);
        assert_eq!(ints(&parse_axis("fast=2..4", d).unwrap()), vec![2]);
        assert_eq!(ints(&parse_axis("fast=5,7", d).unwrap()), vec![5, 7]);
        let k = parse_axis("k=0.1..0.3:0.1", d).unwrap();
        let texts: Vec<&str> = k.values.iter().filter_map(|v| v.as_str()).collect();
        assert_eq!(texts, vec!["0.1", "0.2", "0.3"]);
        // Undeclared scripts: values read as --param reads them.
        let a = parse_axis("n=1..2:1", None).unwrap();
        assert_eq!(ints(&a), vec![1, 2]);
        let axes = vec![
            parse_axis("fast=2,3", d).unwrap(),
            parse_axis("k=0.5,0.6,0.7", d).unwrap(),
        ];
        let c = combinations(&axes);
        assert_eq!(c.len(), 6);
        assert_eq!(c[1][0].as_integer(), Some(2));
        assert_eq!(c[1][1].as_str(), Some("0.6"));
        // Without --grid: the declared parameters with a step.
        let all = super::axes(&[], d).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].name, "fast");
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let ds = vec![
            decl("fast", ParamKind::Int, 2, 10, None),
            decl("slow", ParamKind::Int, 2, 50, Some(1)),
        ];
        let d = Some(ds.as_slice());
        let msg = |spec: &str| parse_axis(spec, d).unwrap_err().to_string();
        assert_eq!(
            msg("fast=1..5:0"),
            "--grid fast=1..5:0: the step must be positive, got 0"
        );
        assert_eq!(
            msg("fast=9..5:1"),
            "--grid fast=9..5:1: the range is empty (9 is above 5)"
        );
        assert_eq!(
            msg("fast=a..5:1"),
            "--grid fast=a..5:1: start \"a\" is not a number"
        );
        assert_eq!(
            msg("fast=1..5"),
            "--grid fast=1..5: a range needs a step: NAME=A..B:STEP (or a `step` in the declaration)"
        );
        assert_eq!(
            msg("fast=1.5,2"),
            "--grid fast=1.5,2: \"1.5\" is not an integer (an int parameter)"
        );
        assert_eq!(
            msg("fats=1,2"),
            "--grid fats=1,2: the script declares no parameter \"fats\" (it declares fast, slow)"
        );
        assert!(
            msg("fast").contains("needs min, max and step"),
            "{}",
            msg("fast")
        );
        assert_eq!(
            msg("=1"),
            "--grid =1: expected NAME=A..B:STEP, NAME=V1,V2,... or a declared NAME"
        );
        assert_eq!(msg("fast="), "--grid fast=: no values after `=`");
        assert_eq!(msg("fast=1,,2"), "--grid fast=1,,2: an empty value");
        let twice = super::axes(&["slow=2,3".into(), "slow=4".into()], d).unwrap_err();
        assert_eq!(twice.to_string(), "--grid slow=4: slow is swept twice");
        assert_eq!(
            msg("slow=1..3:1"),
            "--grid slow=1..3:1: 1 is below the declared minimum 2"
        );
        let big = super::axes(
            &[
                "slow=2..50:1".into(),
                "fast=2..10:1".into(),
                "n=1..300:1".into(),
            ],
            None,
        )
        .unwrap_err();
        assert!(
            big.to_string()
                .contains("132300 combinations, more than the limit 10000"),
            "{big}"
        );
        let none = super::axes(&[], None).unwrap_err();
        assert!(none.to_string().contains("nothing to sweep"), "{none}");
    }
}
