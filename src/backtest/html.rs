//! `report.html`: one self-contained page (inline CSS, JS and SVG; nothing fetched) with the
//! metrics, the price with entry and exit markers, equity and drawdown panels on a shared UTC
//! time axis, and the round-trip table.
//!
//! The data goes into the page as one JSON block; the page's script draws the panels. Chart
//! values are `f64` (drawing only); the table and the metrics show the exact decimals. The
//! output depends only on the inputs, so it is byte-identical across runs.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use super::marks::MarkPoint;
use super::metrics::EquityPoint;
use super::report::RoundTrip;
use super::svg::esc;
use super::BacktestSummary;

/// At most this many points per chart line (evenly strided, the last always kept).
const MAX_POINTS: usize = 2_000;
/// At most this many round trips are drawn and listed (the page says how many there are).
pub const MAX_TRIPS: usize = 2_000;

/// What the page shows.
#[derive(Clone, Copy, Debug)]
pub struct HtmlReport<'a> {
    /// Page title and heading.
    pub title: &'a str,
    /// The run's summary (metrics table).
    pub summary: &'a BacktestSummary,
    /// The equity curve (PnL over the capital).
    pub equity: &'a [EquityPoint],
    /// The first instrument's price at each equity sample.
    pub marks: &'a [MarkPoint],
    /// Round trips, in the order they opened.
    pub trips: &'a [RoundTrip],
}

#[derive(Serialize)]
struct Series {
    /// Event time, ms since the epoch.
    t: Vec<i64>,
    v: Vec<f64>,
}

#[derive(Serialize)]
struct Trip<'a> {
    dir: &'a str,
    entry_ms: i64,
    exit_ms: Option<i64>,
    entry_price: Decimal,
    exit_price: Option<Decimal>,
    qty: Decimal,
    pnl: Decimal,
    fees: Decimal,
    hold_s: f64,
}

#[derive(Serialize)]
struct Data<'a> {
    title: &'a str,
    symbol: String,
    metrics: Vec<(&'static str, String)>,
    t0: i64,
    t1: i64,
    price: Series,
    equity: Series,
    drawdown: Series,
    trips: Vec<Trip<'a>>,
    trips_total: usize,
}

fn strided<T>(items: &[T], mut f: impl FnMut(&T) -> (i64, f64)) -> Series {
    let stride = items.len().div_ceil(MAX_POINTS).max(1);
    let mut s = Series {
        t: Vec::new(),
        v: Vec::new(),
    };
    let mut push = |item: &T| {
        let (t, v) = f(item);
        s.t.push(t);
        s.v.push(v);
    };
    for item in items.iter().step_by(stride) {
        push(item);
    }
    if let Some(last) = items.last() {
        if !(items.len() - 1).is_multiple_of(stride) {
            push(last);
        }
    }
    s
}

/// Drawdown of `capital + equity` below its running peak at each point, percent (<= 0).
fn drawdown_pct(equity: &[EquityPoint], capital: f64) -> Vec<(i64, f64)> {
    let mut peak = f64::MIN;
    equity
        .iter()
        .map(|p| {
            let v = capital + p.equity.to_f64().unwrap_or(0.0);
            peak = peak.max(v);
            let dd = if peak > 0.0 {
                (v - peak) / peak * 100.0
            } else {
                0.0
            };
            (p.ts_ns / 1_000_000, dd)
        })
        .collect()
}

fn metrics(s: &BacktestSummary) -> Vec<(&'static str, String)> {
    let r = &s.report;
    let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2} %"));
    let num = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
    vec![
        ("Capital", r.capital.to_string()),
        ("Final equity (PnL)", s.final_equity.to_string()),
        ("Total return", format!("{:.2} %", r.total_return_pct)),
        ("Annualised return", pct(r.annualized_return_pct)),
        ("Buy and hold", pct(r.buy_and_hold_return_pct)),
        ("Sharpe (annualised)", num(r.sharpe)),
        ("Sortino (annualised)", num(r.sortino)),
        ("Calmar", num(r.calmar)),
        ("Max drawdown", format!("{:.2} %", r.max_drawdown_pct)),
        (
            "Max drawdown duration",
            format!("{:.0} s", r.max_drawdown_duration_s),
        ),
        ("Round trips (closed)", r.round_trips.to_string()),
        ("Win rate", pct(r.win_rate.map(|w| w * 100.0))),
        ("Profit factor", num(r.profit_factor)),
        (
            "Expectancy",
            r.expectancy.map_or("n/a".into(), |e| e.to_string()),
        ),
        (
            "Average holding",
            r.avg_holding_s
                .map_or("n/a".into(), |h| format!("{h:.1} s")),
        ),
        ("Exposure", format!("{:.1} %", r.exposure * 100.0)),
        ("Fees", s.fees.to_string()),
        ("Orders sent", s.orders.to_string()),
        ("Fills", s.trades.to_string()),
    ]
}

/// The page.
pub fn render(r: &HtmlReport<'_>) -> Result<String, serde_json::Error> {
    let capital = r.summary.report.capital.to_f64().unwrap_or(0.0);
    let dd = drawdown_pct(r.equity, capital);
    let ms = |ns: i64| ns / 1_000_000;
    let data = Data {
        title: r.title,
        symbol: r.summary.symbols.join(","),
        metrics: metrics(r.summary),
        t0: ms(r.summary.first_ts_ns),
        t1: ms(r.summary.last_ts_ns),
        price: strided(r.marks, |m| (ms(m.ts_ns), m.price.to_f64().unwrap_or(0.0))),
        equity: strided(r.equity, |p| {
            (ms(p.ts_ns), capital + p.equity.to_f64().unwrap_or(0.0))
        }),
        drawdown: strided(&dd, |&(t, v)| (t, v)),
        trips: r
            .trips
            .iter()
            .take(MAX_TRIPS)
            .map(|t| Trip {
                dir: t.direction,
                entry_ms: ms(t.entry_ts_ns),
                exit_ms: t.exit_ts_ns.map(ms),
                entry_price: t.entry_price,
                exit_price: t.exit_price,
                qty: t.qty,
                pnl: t.pnl,
                fees: t.fees,
                hold_s: t.holding_ns as f64 / 1e9,
            })
            .collect(),
        trips_total: r.trips.len(),
    };
    // `<` only occurs inside JSON strings, where `\u003c` means the same: no `</script>` can
    // end the block early.
    let json = serde_json::to_string(&data)?.replace('<', "\\u003c");
    let mut page = String::with_capacity(json.len() + PAGE_HEAD.len() + SCRIPT.len() + 512);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    page.push_str(&esc(r.title));
    page.push_str("</title>\n");
    page.push_str(PAGE_HEAD);
    page.push_str("<script id=\"data\" type=\"application/json\">");
    page.push_str(&json);
    page.push_str("</script>\n<script>\n");
    page.push_str(SCRIPT);
    page.push_str("</script>\n</body>\n</html>\n");
    Ok(page)
}

/// Styles, the error trap (installed before the drawing script runs) and the page skeleton.
const PAGE_HEAD: &str = r##"<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 12px; }
h2 { font-size: 16px; margin: 20px 0 6px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { padding: 3px 10px; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f4f4f4; }
#metrics td:first-child { text-align: left; color: #555; }
.panel { display: block; margin-bottom: 6px; background: #fff; }
.axis text { font-size: 11px; fill: #555; }
.grid { stroke: #eee; }
.line { fill: none; stroke-width: 1.3; }
.price .line { stroke: #333; }
.equity .line { stroke: #1565c0; }
.drawdown .area { fill: #e57373; opacity: 0.6; }
.marker.entry.long { fill: #2e7d32; }
.marker.entry.short { fill: #c62828; }
.marker.exit { fill: none; stroke: #000; stroke-width: 1.5; }
.win { color: #2e7d32; } .loss { color: #c62828; }
</style>
<script>
window.addEventListener("error", function (e) {
  document.documentElement.setAttribute("data-error", String(e.message || e));
});
</script>
</head>
<body>
<h1 id="title"></h1>
<table id="metrics"></table>
<h2>Price, entries and exits</h2>
<div id="price-panel"></div>
<h2>Equity (capital + PnL)</h2>
<div id="equity-panel"></div>
<h2>Drawdown</h2>
<div id="drawdown-panel"></div>
<h2>Round trips</h2>
<p id="trips-note"></p>
<table id="trips"><thead><tr><th>#</th><th>side</th><th>entry (UTC)</th><th>entry price</th><th>exit (UTC)</th><th>exit price</th><th>qty</th><th>PnL</th><th>fees</th><th>held</th></tr></thead><tbody></tbody></table>
"##;

/// Draws the panels and fills the tables from the JSON block.
const SCRIPT: &str = r##""use strict";
(function () {
  var D = JSON.parse(document.getElementById("data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var W = 960, H = 240, L = 84, R = 16, T = 12, B = 30;
  var STEPS = [1e3, 5e3, 15e3, 3e4, 6e4, 3e5, 9e5, 18e5, 36e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5, 2592e6];
  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function text(parent, s) { parent.appendChild(document.createTextNode(s)); return parent; }
  function utc(ms, step) {
    var iso = new Date(ms).toISOString();
    if (step >= 864e5) { return iso.slice(0, 10); }
    if (step >= 6e4) { return iso.slice(5, 10) + " " + iso.slice(11, 16); }
    return iso.slice(11, 19);
  }
  var t0 = D.t0, t1 = Math.max(D.t1, D.t0 + 1);
  function sx(t) { return L + (t - t0) / (t1 - t0) * (W - L - R); }
  function panel(id, cls, series, extra) {
    var vs = series.v.concat(extra || []);
    var lo = Math.min.apply(null, vs.length ? vs : [0]), hi = Math.max.apply(null, vs.length ? vs : [1]);
    if (!(hi > lo)) { hi = lo + 1; }
    var pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
    function sy(v) { return T + (hi - v) / (hi - lo) * (H - T - B); }
    var svg = el("svg", { id: id, "class": "panel " + cls, width: W, height: H, viewBox: "0 0 " + W + " " + H });
    var axis = el("g", { "class": "axis" }, svg);
    for (var i = 0; i <= 4; i++) {
      var v = lo + (hi - lo) * i / 4, y = sy(v);
      el("line", { "class": "grid", x1: L, x2: W - R, y1: y, y2: y }, axis);
      text(el("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, axis), v.toFixed(Math.abs(hi - lo) < 10 ? 2 : 0));
    }
    var step = STEPS[STEPS.length - 1];
    for (var s = 0; s < STEPS.length; s++) { if ((t1 - t0) / STEPS[s] <= 8) { step = STEPS[s]; break; } }
    for (var t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      var x = sx(t);
      el("line", { "class": "grid", x1: x, x2: x, y1: T, y2: H - B }, axis);
      text(el("text", { "class": "tick", x: x, y: H - B + 16, "text-anchor": "middle" }, axis), utc(t, step));
    }
    var pts = [];
    for (var j = 0; j < series.t.length; j++) { pts.push(sx(series.t[j]).toFixed(1) + "," + sy(series.v[j]).toFixed(1)); }
    if (cls === "drawdown" && pts.length) {
      var base = sy(0).toFixed(1);
      el("polygon", { "class": "area", points: sx(series.t[0]).toFixed(1) + "," + base + " " + pts.join(" ") + " " + sx(series.t[series.t.length - 1]).toFixed(1) + "," + base }, svg);
    }
    el("polyline", { "class": "line", points: pts.join(" ") }, svg);
    document.getElementById(id + "-panel").appendChild(svg);
    return { svg: svg, sy: sy };
  }
  text(document.getElementById("title"), D.title);
  var mt = document.getElementById("metrics");
  D.metrics.forEach(function (m) {
    var tr = document.createElement("tr");
    text(tr.appendChild(document.createElement("td")), m[0]);
    text(tr.appendChild(document.createElement("td")), m[1]);
    mt.appendChild(tr);
  });
  var prices = [];
  D.trips.forEach(function (t) {
    prices.push(parseFloat(t.entry_price));
    if (t.exit_price !== null) { prices.push(parseFloat(t.exit_price)); }
  });
  var p = panel("price", "price", D.price, prices);
  var markers = el("g", { "class": "markers" }, p.svg);
  D.trips.forEach(function (t, i) {
    var x = sx(t.entry_ms), y = p.sy(parseFloat(t.entry_price));
    var d = t.dir === "long" ? "M" + x + "," + (y - 6) + "l5,9h-10z" : "M" + x + "," + (y + 6) + "l5,-9h-10z";
    var m = el("path", { "class": "marker entry " + t.dir, d: d }, markers);
    text(el("title", {}, m), "#" + (i + 1) + " " + t.dir + " entry " + t.entry_price);
    if (t.exit_ms !== null && t.exit_price !== null) {
      var e = el("circle", { "class": "marker exit", cx: sx(t.exit_ms), cy: p.sy(parseFloat(t.exit_price)), r: 4 }, markers);
      text(el("title", {}, e), "#" + (i + 1) + " exit " + t.exit_price + ", PnL " + t.pnl);
    }
  });
  panel("equity", "equity", D.equity);
  panel("drawdown", "drawdown", D.drawdown, [0]);
  var tb = document.querySelector("#trips tbody");
  D.trips.forEach(function (t, i) {
    var tr = document.createElement("tr");
    var cells = [i + 1, t.dir, utc(t.entry_ms, 1e3) + " " + new Date(t.entry_ms).toISOString().slice(0, 10), t.entry_price,
      t.exit_ms === null ? "open" : utc(t.exit_ms, 1e3) + " " + new Date(t.exit_ms).toISOString().slice(0, 10),
      t.exit_price === null ? "" : t.exit_price, t.qty, t.pnl, t.fees, t.hold_s.toFixed(1) + " s"];
    cells.forEach(function (c, k) {
      var td = tr.appendChild(document.createElement("td"));
      text(td, String(c));
      if (k === 7) { td.className = parseFloat(t.pnl) > 0 ? "win" : (parseFloat(t.pnl) < 0 ? "loss" : ""); }
    });
    tb.appendChild(tr);
  });
  text(document.getElementById("trips-note"), D.trips_total > D.trips.length
    ? "The first " + D.trips.length + " of " + D.trips_total + " round trips (all are in trades.jsonl)."
    : D.trips_total + " round trips.");
  document.documentElement.setAttribute("data-rendered", "ok");
})();
"##;
