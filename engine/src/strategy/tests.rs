use super::*;
use rust_decimal_macros::dec;

use crate::types::{InstrumentSpec, Side};

pub(super) fn instruments() -> Instruments {
    let mut i = Instruments::new();
    i.intern(
        InstrumentSpec::from_canonical("binance", "BTC-USDT", dec!(0.01), dec!(0.00001)).unwrap(),
    );
    i
}

pub(super) fn host(src: &str, params: Map) -> Result<StrategyHost, StrategyError> {
    let inst = instruments();
    StrategyHost::from_source(
        0,
        "t",
        Path::new("t.rhai"),
        src,
        &inst,
        &[InstrumentId(0)],
        params,
        StrategyLimits::default(),
    )
}

pub(super) fn trade(price: Decimal) -> TradeView {
    TradeView {
        instrument: InstrumentId(0),
        symbol: "BTC-USDT".into(),
        price,
        qty: dec!(1),
        side: Side::Buy,
        trade_id: 1,
        exch_ts_ns: 0,
    }
}

use rust_decimal::Decimal;

#[test]
fn orders_are_rounded_by_the_documented_rule() {
    let mut h = host(
        r#"fn on_trade(t) { limit("buy", t.price, "0.123456789"); limit("sell", "100.001", 1); market("sell", 0.5); }"#,
        Map::new(),
    )
    .unwrap();
    h.on_trade(trade(dec!(100.019)), 7, 0).unwrap();
    let mut out = Vec::new();
    h.drain_actions(&mut out);
    let [StrategyAction::Place(_, a), StrategyAction::Place(_, b), StrategyAction::Place(_, c)] =
        out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        (a.side, a.price, a.qty, a.origin_recv_ns),
        (Side::Buy, Some(dec!(100.01)), dec!(0.12345), 7)
    );
    assert_eq!(
        (b.side, b.price, b.qty),
        (Side::Sell, Some(dec!(100.01)), dec!(1))
    );
    assert_eq!(
        (c.order_type, c.price, c.qty),
        (OrderType::Market, None, dec!(0.5))
    );
}

use crate::order::OrderType;

#[test]
fn state_lives_in_this_and_params_are_exact() {
    let mut params = BTreeMap::new();
    params.insert("qty".to_string(), toml::Value::String("0.001".into()));
    params.insert("n".to_string(), toml::Value::Integer(3));
    let src = r#"
        fn on_start() { this.count = 0; this.e = ema(param("n")); }
        fn on_trade(t) {
            this.count += 1;
            this.e.update(t.price);
            if this.e.ready { market("buy", param("qty") * this.count); }
        }"#;
    let mut h = host(src, api::params_to_map(&params)).unwrap();
    for p in [dec!(1), dec!(2), dec!(3)] {
        h.on_trade(trade(p), 0, 0).unwrap();
    }
    let mut out = Vec::new();
    h.drain_actions(&mut out);
    assert_eq!(out.len(), 1);
    let StrategyAction::Place(_, i) = out[0] else {
        panic!()
    };
    assert_eq!(i.qty, dec!(0.003));
}

use std::collections::BTreeMap;

#[test]
fn syntax_errors_carry_file_line_column() {
    let err = host("fn on_trade(t) {\n  let x = ;\n}", Map::new())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("t.rhai:2:"), "{err}");
}

#[test]
fn wrong_arity_and_unknown_callbacks_are_refused() {
    let err = host("fn on_trade() {}", Map::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("on_trade") && err.contains("1 parameter"),
        "{err}"
    );
    let err = host("fn on_tick(t) {}", Map::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown callback `on_tick`"), "{err}");
}

#[test]
fn a_throwing_callback_is_abandoned_with_position_and_drops_its_orders() {
    let src = "fn on_trade(t) {\n  market(\"buy\", 1);\n  throw \"boom\";\n}";
    let mut h = host(src, Map::new()).unwrap();
    let err = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("t.rhai:3:") && msg.contains("boom") && msg.contains("on_trade"),
        "{msg}"
    );
    let mut out = Vec::new();
    h.drain_actions(&mut out);
    assert!(out.is_empty());
    // The strategy goes on with the next event.
    assert!(h.on_trade(trade(dec!(1)), 0, 0).is_err());
}

#[test]
fn an_endless_loop_is_stopped_by_the_operation_limit() {
    let mut h = host("fn on_trade(t) { loop { } }", Map::new()).unwrap();
    let msg = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err().to_string();
    assert!(msg.contains("operation limit"), "{msg}");
}

#[test]
fn runaway_recursion_is_stopped() {
    let mut h = host("fn f(x) { f(x + 1) }\nfn on_trade(t) { f(0) }", Map::new()).unwrap();
    let msg = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err().to_string();
    assert!(msg.contains("call depth") || msg.contains("stack"), "{msg}");
}

#[test]
fn missing_parameter_and_bad_side_are_clear_errors() {
    let mut h = host(
        "fn on_trade(t) { market(\"buy\", param(\"qty\")); }",
        Map::new(),
    )
    .unwrap();
    let msg = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err().to_string();
    assert!(msg.contains("\"qty\" is not set"), "{msg}");
    let mut h = host("fn on_trade(t) { market(\"long\", 1); }", Map::new()).unwrap();
    let msg = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err().to_string();
    assert!(msg.contains("side must be"), "{msg}");
}

#[test]
fn no_file_access_in_the_sandbox() {
    let err = host("fn on_start() { import \"x\" as y; }", Map::new());
    assert!(err.is_err());
    // Functions that do not exist are refused at load, with their position.
    let msg = host("fn on_trade(t) { open_file(\"/etc/passwd\"); }", Map::new())
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("t.rhai:1:18:") && msg.contains("unknown function `open_file`"),
        "{msg}"
    );
    // `eval` is switched off: a script cannot compile code at run time.
    assert!(host("fn on_trade(t) { eval(\"1\"); }", Map::new()).is_err());
}

#[test]
fn queries_read_the_view() {
    let mut h = host("fn on_trade(t) { if position() == 2 && best_ask() == 101 && last_price() == () { market(\"sell\", position()); } }", Map::new()).unwrap();
    h.set_view(
        InstrumentId(0),
        InstrumentView {
            position: dec!(2),
            best_ask: Some(dec!(101)),
            ..Default::default()
        },
    );
    h.on_trade(trade(dec!(1)), 0, 0).unwrap();
    let mut out = Vec::new();
    h.drain_actions(&mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn shipped_ema_cross_compiles() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../strategies/ema_cross.rhai");
    StrategyHost::check_file(&path).unwrap();
}

#[test]
fn ema_cross_goes_long_on_an_up_cross_and_short_on_a_down_cross() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../strategies/ema_cross.rhai");
    let src = std::fs::read_to_string(&path).unwrap();
    let mut params = BTreeMap::new();
    params.insert("qty".to_string(), toml::Value::String("0.01".into()));
    params.insert("fast".to_string(), toml::Value::Integer(2));
    params.insert("slow".to_string(), toml::Value::Integer(4));
    let mut h = host(&src, api::params_to_map(&params)).unwrap();
    h.set_view(
        InstrumentId(0),
        InstrumentView {
            best_bid: Some(dec!(99)),
            best_ask: Some(dec!(101)),
            ..Default::default()
        },
    );
    let mut out = Vec::new();
    for p in [100, 100, 100, 100, 105, 110] {
        h.on_trade(trade(Decimal::from(p)), 0, 0).unwrap();
    }
    h.drain_actions(&mut out);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(matches!(out[0], StrategyAction::CancelAll(_)));
    let StrategyAction::Place(_, buy) = out[1] else {
        panic!()
    };
    assert_eq!(
        (buy.side, buy.price, buy.qty),
        (Side::Buy, Some(dec!(101)), dec!(0.01))
    );
    out.clear();
    h.set_view(
        InstrumentId(0),
        InstrumentView {
            position: dec!(0.01),
            best_bid: Some(dec!(80)),
            best_ask: Some(dec!(81)),
            ..Default::default()
        },
    );
    for p in [90, 80, 70] {
        h.on_trade(trade(Decimal::from(p)), 0, 0).unwrap();
    }
    h.drain_actions(&mut out);
    let StrategyAction::Place(_, sell) = out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (sell.side, sell.price, sell.qty),
        (Side::Sell, Some(dec!(80)), dec!(0.02))
    );
}

#[test]
fn bar_indicators_are_scriptable_and_agree_with_the_native_types() {
    use crate::indicators::{Adx, Cci, Donchian, Keltner, Macd, MacdSeeding, Obv, Stoch, StochF};
    let src = r#"
        fn on_start() {
            this.i = [stoch(5, 3, 3), stochf(5, 3), adx(3), cci(4), keltner(4, 3, 2.0),
                      donchian(4), supertrend(3, 2.5), obv(), macd(3, 6, 2, "talib")];
        }
        fn on_trade(t) {
            let p = t.price;
            let h = p + 1;
            let l = p - 1;
            this.i[0].update(h, l, p);
            this.i[1].update(h, l, p);
            this.i[2].update(h, l, p);
            this.i[3].update(h, l, p);
            this.i[4].update(h, l, p);
            this.i[5].update(h, l);
            this.i[6].update(h, l, p);
            this.i[7].update(p, t.qty);
            this.i[8].update(p);
            if this.i[0].ready && this.i[2].ready && this.i[8].ready {
                signal("slowk", this.i[0].slowk);
                signal("slowd", this.i[0].slowd);
                signal("fastk", this.i[1].fastk);
                signal("adx", this.i[2].value);
                signal("plus_di", this.i[2].plus_di);
                signal("cci", this.i[3].value);
                signal("kc_upper", this.i[4].upper);
                signal("dc_lower", this.i[5].lower);
                signal("st_dir", this.i[6].direction);
                signal("obv", this.i[7].value);
                signal("macd_hist", this.i[8].hist);
            }
        }
    "#;
    let mut h = host(src, Map::new()).unwrap();
    let prices = [
        100, 102, 101, 104, 103, 107, 106, 103, 100, 98, 99, 101, 104,
    ];
    let mut out = Vec::new();
    for p in prices {
        h.on_trade(trade(Decimal::from(p)), 0, 0).unwrap();
    }
    h.drain_actions(&mut out);
    let last: std::collections::HashMap<String, f64> = out
        .iter()
        .filter_map(|a| match a {
            StrategyAction::Signal { name, value, .. } => Some((name.to_string(), *value)),
            _ => None,
        })
        .collect();
    let (mut st, mut sf, mut adx, mut cci) = (
        Stoch::new(5, 3, 3),
        StochF::new(5, 3),
        Adx::new(3),
        Cci::new(4),
    );
    let (mut kc, mut dc, mut obv) = (Keltner::new(4, 3, 2.0), Donchian::new(4), Obv::new());
    let mut macd = Macd::with_seeding(3, 6, 2, MacdSeeding::TaLib);
    for p in prices.map(f64::from) {
        st.update(p + 1.0, p - 1.0, p);
        sf.update(p + 1.0, p - 1.0, p);
        adx.update(p + 1.0, p - 1.0, p);
        cci.update(p + 1.0, p - 1.0, p);
        kc.update(p + 1.0, p - 1.0, p);
        dc.update(p + 1.0, p - 1.0);
        obv.update(p, 1.0);
        macd.update(p);
    }
    for (name, want) in [
        ("slowk", st.slowk()),
        ("slowd", st.slowd()),
        ("fastk", sf.fastk()),
        ("adx", adx.value()),
        ("plus_di", adx.plus_di()),
        ("cci", cci.value()),
        ("kc_upper", kc.upper()),
        ("dc_lower", dc.lower()),
        ("obv", obv.value()),
        ("macd_hist", macd.hist()),
    ] {
        assert!(!want.is_nan(), "{name} not ready natively");
        assert_eq!(last[name], want, "{name}");
    }
    assert!(last["st_dir"] == 1.0 || last["st_dir"] == -1.0);
    // A seeding that does not exist is an error at the call.
    let mut h = host(
        "fn on_trade(t) { let m = macd(3, 6, 2, \"tradingview\"); }",
        Map::new(),
    )
    .unwrap();
    let msg = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err().to_string();
    assert!(msg.contains("macd seeding must be"), "{msg}");
}

#[test]
fn the_renamed_stochastic_is_refused_at_load_with_its_replacements() {
    let msg = host("fn on_trade(t) { let s = stochastic(14, 3); }", Map::new())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("unknown function `stochastic`")
            && msg.contains("stoch(fastk, slowk, slowd)")
            && msg.contains("stochf(fastk, fastd)"),
        "{msg}"
    );
}

#[test]
fn errors_point_at_the_mistake() {
    // The operation limit: at the loop, not at the callback.
    let src = "fn on_trade(t) {\n    let x = 1;\n    while true {\n        x += 1;\n    }\n}\n";
    let mut h = host(src, Map::new()).unwrap();
    let msg = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err().to_string();
    assert!(
        msg.starts_with("t.rhai:3:5:") && msg.contains("in this loop"),
        "{msg}"
    );
    // Several loops reachable (one in a called function): the first, naming all.
    let src = "fn spin() {\n    loop { }\n}\nfn on_trade(t) {\n    for i in 0..2 { log(i); }\n    spin();\n}\n";
    let mut h = host(src, Map::new()).unwrap();
    let msg = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err().to_string();
    assert!(
        msg.starts_with("t.rhai:2:5:") && msg.contains("(lines 2, 5)"),
        "{msg}"
    );
    // An unclosed `{`: at the brace, not at the next `fn` or the end of the file.
    let src = "fn on_trade(t) {\n    if t.price > 1 {\n        log(\"x\");\n    \n}\n\nfn on_quote(q) {\n}\n";
    let msg = host(src, Map::new()).unwrap_err().to_string();
    assert!(
        msg.starts_with("t.rhai:2:20:") && msg.contains("unclosed `{`") && msg.contains("line 5"),
        "{msg}"
    );
    let src = "fn on_trade(t) {\n    if t.price > 1 {\n    }\n";
    let msg = host(src, Map::new()).unwrap_err().to_string();
    assert!(
        msg.starts_with("t.rhai:1:16:") && msg.contains("end of the file"),
        "{msg}"
    );
    // A callback without its parameter: named as such.
    let msg = host("fn on_bar() {\n    log(b.close);\n}\n", Map::new())
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("t.rhai:1:1:")
            && msg.contains("callback `on_bar` takes 1 parameter")
            && msg.contains("fn on_bar(b)"),
        "{msg}"
    );
    // An undefined variable elsewhere stays an undefined variable.
    let msg = host("fn on_bar(b) {\n    log(c.close);\n}\n", Map::new())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("Undefined variable: c"), "{msg}");
}

#[test]
fn check_knows_receiver_types_and_refuses_string_number_comparisons() {
    let problems = check::check_source(
        Path::new("t.rhai"),
        "fn on_start() { this.e = ema(3); }\nfn on_trade(t) {\n    this.e.update(1, 2);\n    let s = sma(2);\n    s.update(1, 2);\n    if t.price == \"1\" || position() > \"0\" { }\n}\n",
    );
    let msgs: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    assert!(
        msgs[0].starts_with("t.rhai:3:12:") && msgs[0].contains("`this.e.update` (Ema) takes 1"),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].starts_with("t.rhai:5:7:") && msgs[1].contains("`s.update` (Sma) takes 1"),
        "{}",
        msgs[1]
    );
    assert!(
        msgs[2].starts_with("t.rhai:6:") && msgs[2].contains("`.price` is a number"),
        "{}",
        msgs[2]
    );
    assert!(msgs[3].contains("`position()` is a number"), "{}", msgs[3]);
    // Right arities, numbers compared with numbers, strings with strings: nothing to say; a
    // name that is also a parameter is not typed by its `let`.
    let problems = check::check_source(
        Path::new("t.rhai"),
        "fn on_start() { this.e = ema(3); let b = bollinger(20, 2.0); b.update(1); }\nfn on_bar(b) { this.e.update(b.close); if b.close > 1 && t_side(\"buy\") == \"buy\" { } }\nfn t_side(s) { s }\n",
    );
    assert!(problems.is_empty(), "{problems:?}");
    // `to_decimal` reads strings exactly.
    let mut h = host(
        "fn on_trade(t) { if t.price == to_decimal(\"100.10\") { market(\"buy\", to_decimal(\"0.1\")); } }",
        Map::new(),
    )
    .unwrap();
    h.on_trade(trade(dec!(100.1)), 0, 0).unwrap();
    let mut out = Vec::new();
    h.drain_actions(&mut out);
    assert!(
        matches!(out.as_slice(), [StrategyAction::Place(_, p)] if p.qty == dec!(0.1)),
        "{out:?}"
    );
}

const DECLARING: &str = r#"
fn params() {
    #{
        fast: #{ type: "int", default_value: 8, min: 2, max: 200, doc: "fast EMA period" },
        k: #{ type: "float", default_value: 2.0, min: 0 },
        qty: #{ type: "decimal", min: "0.00001" },
        mode: #{ type: "string", default_value: "taker", choices: ["taker", "maker"] },
        live: #{ type: "bool", default_value: false },
    }
}
fn on_trade(t) {
    signal("fast_is_int", if type_of(param("fast")) == "i64" { 1 } else { 0 });
    signal("k_is_float", if type_of(param("k")) == "f64" { 1 } else { 0 });
    signal("qty_is_decimal", if type_of(param("qty")) == "decimal" { 1 } else { 0 });
    signal("k", param("k"));
}
"#;

fn declared_host(params: &str) -> Result<StrategyHost, StrategyError> {
    let p: std::collections::BTreeMap<String, toml::Value> = toml::from_str(params).unwrap();
    host(DECLARING, params_to_map(&p))
}

fn signals(h: &mut StrategyHost) -> std::collections::HashMap<String, f64> {
    h.on_trade(trade(dec!(1)), 0, 0).unwrap();
    let mut out = Vec::new();
    h.drain_actions(&mut out);
    out.iter()
        .filter_map(|a| match a {
            StrategyAction::Signal { name, value, .. } => Some((name.to_string(), *value)),
            _ => None,
        })
        .collect()
}

#[test]
fn declared_parameters_are_typed_defaulted_and_validated_at_load() {
    // Config values are converted to the declared type: an integer for a float, a string for a
    // decimal; defaults fill the rest.
    let mut h = declared_host("qty = \"0.001\"\nk = 3").unwrap();
    let s = signals(&mut h);
    assert_eq!(
        (
            s["fast_is_int"],
            s["k_is_float"],
            s["qty_is_decimal"],
            s["k"]
        ),
        (1.0, 1.0, 1.0, 3.0)
    );
    for (params, want) in [
        ("", "parameter `qty`: missing parameter"),
        (
            "qty = \"0.001\"\nfast = 1",
            "parameter `fast`: 1 is below the minimum 2",
        ),
        (
            "qty = \"0.001\"\nfast = \"five\"",
            "parameter `fast`: expects an integer, got the string \"five\"",
        ),
        (
            "qty = 0.001",
            "parameter `qty`: expects an exact decimal, got a float",
        ),
        (
            "qty = \"0.001\"\nmode = \"fast\"",
            "parameter `mode`: \"fast\" is not one of [\"taker\", \"maker\"]",
        ),
        (
            "qty = \"0.001\"\nslow = 3",
            "parameter `slow`: unknown parameter: the script declares fast, k, live, mode, qty",
        ),
        (
            "qty = \"0.001\"\nlive = 1",
            "parameter `live`: expects true or false",
        ),
    ] {
        let msg = declared_host(params)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains(want), "{params:?}: {msg}");
    }
    // The same rules at config load, without running any callback.
    let script = params::script_params(Path::new("t.rhai"), DECLARING).unwrap();
    let p: std::collections::BTreeMap<String, toml::Value> =
        toml::from_str("qty = \"0.001\"\nfast = 500").unwrap();
    let problems = params::check(&p, &script);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].key, "fast");
    assert!(
        problems[0].message.contains("above the maximum 200"),
        "{:?}",
        problems[0]
    );
    let p: std::collections::BTreeMap<String, toml::Value> = toml::from_str("qty = \"1\"").unwrap();
    assert!(params::check(&p, &script).is_empty());
}

#[test]
fn bad_declarations_and_undeclared_reads_are_errors() {
    for (decl, want) in [
        (
            "#{ n: #{ type: \"integer\" } }",
            "type \"integer\" is not one of",
        ),
        ("#{ n: #{ default_value: 1 } }", "needs a `type`"),
        (
            "#{ n: #{ type: \"int\", min: 5, max: 1 } }",
            "min 5 is above max 1",
        ),
        (
            "#{ n: #{ type: \"int\", default_value: 9, max: 5 } }",
            "default: 9 is above the maximum 5",
        ),
        (
            "#{ n: #{ type: \"int\", range: 5 } }",
            "unknown key `range`",
        ),
        (
            "#{ n: #{ type: \"bool\", min: 0 } }",
            "min/max are for int, float and decimal",
        ),
        ("5", "must return a map"),
    ] {
        let src = format!("fn params() {{ {decl} }}\nfn on_trade(t) {{ }}\n");
        let msg = host(&src, Map::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains(want), "{decl}: {msg}");
    }
    let src = "fn params() { #{ n: #{ type: \"int\", default_value: 3 } } }\nfn on_trade(t) {\n    let a = param(\"m\");\n    let b = param(\"n\", 4);\n}\n";
    let msgs: Vec<String> = check::check_source(Path::new("t.rhai"), src)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].starts_with("t.rhai:3:13:") && msgs[0].contains("`m` is not declared"),
        "{msgs:?}"
    );
    assert!(
        msgs[1].starts_with("t.rhai:4:13:") && msgs[1].contains("holds its default"),
        "{msgs:?}"
    );
}

#[test]
fn an_undeclared_decimal_default_is_a_decimal_as_a_configured_one_is() {
    let src = "fn on_trade(t) { signal(\"d\", if type_of(param(\"x\", \"5\")) == \"decimal\" { 1 } else { 0 }); signal(\"s\", if type_of(param(\"m\", \"fast\")) == \"string\" { 1 } else { 0 }); }";
    let mut h = host(src, Map::new()).unwrap();
    let s = signals(&mut h);
    assert_eq!((s["d"], s["s"]), (1.0, 1.0));
}

#[test]
fn bar_history_and_time_helpers() {
    use crate::calendar::days_from_civil;
    let inst = instruments();
    let src = r#"
        fn on_bar(b) {
            let h = bars(3);
            signal("n", h.len());
            signal("oldest_close", h[0].close);
            signal("newest_close", h[h.len() - 1].close);
            signal("same", if h[h.len() - 1].start == b.start { 1 } else { 0 });
            signal("tf_n", bars("1m", 100).len());
        }
        fn on_trade(t) {
            let u = utc();
            signal("hour", u.hour);
            signal("weekday", u.weekday);
            signal("london", if in_session("08:00", "16:30", "Mon-Fri") { 1 } else { 0 });
            signal("overnight", if in_session("22:00", "02:00") { 1 } else { 0 });
        }
    "#;
    let mut h = StrategyHost::from_source_with_bars(
        0,
        "t",
        Path::new("t.rhai"),
        src,
        &inst,
        &[InstrumentId(0)],
        Map::new(),
        StrategyLimits::default(),
        &[("1m", 60_000_000_000)],
    )
    .unwrap();
    // Thursday 2026-12-03, 09:00 UTC, then one trade per minute: each closes the previous bar.
    let t0 = days_from_civil(2026, 12, 3) * 86_400_000_000_000 + 9 * 3_600_000_000_000;
    let mut last = std::collections::HashMap::new();
    for k in 0..6i64 {
        h.on_trade(trade(Decimal::from(100 + k)), 0, t0 + k * 60_000_000_000)
            .unwrap();
        let mut out = Vec::new();
        h.drain_actions(&mut out);
        for a in out {
            if let StrategyAction::Signal { name, value, .. } = a {
                last.insert(name.to_string(), value);
            }
        }
    }
    // Five bars closed (minutes 0..4); bars(3) is the last three, oldest first.
    assert_eq!(
        (
            last["n"],
            last["oldest_close"],
            last["newest_close"],
            last["same"],
            last["tf_n"]
        ),
        (3.0, 102.0, 104.0, 1.0, 5.0)
    );
    assert_eq!(
        (
            last["hour"],
            last["weekday"],
            last["london"],
            last["overnight"]
        ),
        (9.0, 4.0, 1.0, 0.0)
    );
    // Windows over midnight belong to the day they start on; weekend days are excluded.
    let at = |d: i64, hh: i64, mm: i64| d * 86_400_000_000_000 + (hh * 60 + mm) * 60_000_000_000;
    let fri = days_from_civil(2026, 12, 4);
    let sat = fri + 1;
    assert!(api::in_session(at(fri, 23, 0), "22:00", "02:00", "Mon-Fri").unwrap());
    assert!(api::in_session(at(sat, 1, 0), "22:00", "02:00", "Mon-Fri").unwrap());
    assert!(!api::in_session(at(sat, 23, 0), "22:00", "02:00", "Mon-Fri").unwrap());
    assert!(api::in_session(at(sat, 12, 0), "00:00", "24:00", "Sat,Sun").unwrap());
    assert!(api::in_session(at(sat, 12, 0), "00:00", "24:00", "Fri-Mon").unwrap());
    assert!(api::in_session(at(fri, 12, 0), "9:00", "17:00", "x").is_err());
    assert!(api::in_session(at(fri, 12, 0), "25:00", "17:00", "Mon").is_err());
    // Without bars configured, bars() says so.
    let mut h = host("fn on_trade(t) { bars(2); }", Map::new()).unwrap();
    let msg = h.on_trade(trade(dec!(1)), 0, 0).unwrap_err().to_string();
    assert!(msg.contains("no bars: list timeframes"), "{msg}");
}

#[test]
fn on_bar_without_bars_is_a_load_error() {
    let msg = host("fn on_bar(b) { log(b.close); }", Map::new())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("defines on_bar but no bars are configured") && msg.contains("--bars 1m"),
        "{msg}"
    );
}
