//! A small, dependency-free SVG line chart of the equity curve. Output depends only on the
//! points (fixed formatting), so it is byte-identical across runs.

use std::fmt::Write;

use rust_decimal::prelude::ToPrimitive;

use super::metrics::EquityPoint;

const W: f64 = 900.0;
const H: f64 = 360.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// At most this many points are drawn (evenly strided; the last point is always kept).
const MAX_POINTS: usize = 2_000;

/// Escapes text for XML and HTML (element content and quoted attribute values).
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the equity curve as an SVG document titled `title`.
pub fn equity_svg(points: &[EquityPoint], title: &str) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"24\" font-size=\"15\">{}</text>\n",
        esc(title)
    );
    let stride = points.len().div_ceil(MAX_POINTS).max(1);
    let mut drawn: Vec<(i64, f64)> = points
        .iter()
        .step_by(stride)
        .map(|p| (p.ts_ns, p.equity.to_f64().unwrap_or(0.0)))
        .collect();
    if let Some(last) = points.last() {
        if drawn.last().map(|d| d.0) != Some(last.ts_ns) {
            drawn.push((last.ts_ns, last.equity.to_f64().unwrap_or(0.0)));
        }
    }
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let _ = writeln!(
        out,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#888\"/>"
    );
    if drawn.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\">no data</text>\n</svg>",
            LEFT + 10.0,
            TOP + 20.0
        );
        return out;
    }
    let (t0, t1) = (drawn[0].0, drawn[drawn.len() - 1].0);
    let mut lo = drawn.iter().map(|d| d.1).fold(f64::INFINITY, f64::min);
    let mut hi = drawn.iter().map(|d| d.1).fold(f64::NEG_INFINITY, f64::max);
    if hi - lo < 1e-12 {
        lo -= 1.0;
        hi += 1.0;
    }
    let span_t = (t1 - t0).max(1) as f64;
    let x = |t: i64| LEFT + (t - t0) as f64 / span_t * pw;
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * ph;
    // Zero line, when in range.
    if lo < 0.0 && hi > 0.0 {
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{:.2}\" x2=\"{:.2}\" y2=\"{:.2}\" stroke=\"#ccc\" stroke-dasharray=\"4 3\"/>",
            y(0.0),
            LEFT + pw,
            y(0.0)
        );
    }
    // Y labels: max, mid, min.
    for v in [hi, (hi + lo) / 2.0, lo] {
        let _ = writeln!(
            out,
            "<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"end\">{v:.4}</text>",
            LEFT - 6.0,
            y(v) + 4.0
        );
    }
    let secs = (t1 - t0) as f64 / 1e9;
    let _ = writeln!(
        out,
        "<text x=\"{LEFT}\" y=\"{:.2}\">t0 = {t0} ns</text>\n<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"end\">+{secs:.3} s</text>",
        H - BOTTOM + 20.0,
        LEFT + pw,
        H - BOTTOM + 20.0
    );
    let _ = writeln!(
        out,
        "<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"middle\">event time; equity = realized net of fees + unrealized (quote)</text>",
        LEFT + pw / 2.0,
        H - 12.0
    );
    out.push_str("<polyline fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"1.5\" points=\"");
    for (i, (t, v)) in drawn.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{:.2},{:.2}", x(*t), y(*v));
    }
    out.push_str("\"/>\n</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn draws_a_polyline_within_the_plot() {
        let pts: Vec<EquityPoint> = (0..5)
            .map(|i| EquityPoint {
                ts_ns: i * 1_000_000_000,
                equity: Decimal::from(i * i) - Decimal::from(3),
                realized: Decimal::ZERO,
                fees: Decimal::ZERO,
                position: Decimal::ZERO,
            })
            .collect();
        let svg = equity_svg(&pts, "a <test>");
        assert!(svg.starts_with("<svg "));
        assert!(svg.contains("a &lt;test&gt;"));
        let poly = svg.split("points=\"").nth(1).unwrap();
        let poly = poly.split('"').next().unwrap();
        let coords: Vec<(f64, f64)> = poly
            .split(' ')
            .map(|p| {
                let (a, b) = p.split_once(',').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        assert_eq!(coords.len(), 5);
        assert_eq!(
            coords[0],
            (
                LEFT,
                TOP + (13.0 - -3.0 - (-3.0 + 3.0)) / 16.0 * (H - TOP - BOTTOM)
            )
        );
        assert_eq!(coords[4].1, TOP);
        assert!(svg.contains("stroke-dasharray"), "zero line drawn");
        assert_eq!(equity_svg(&pts, "x"), equity_svg(&pts, "x"));
    }
}
