//! The charts: inline SVG, sized by viewBox so that they scale to a phone
//! and print sharply; every bar carries a `<title>` with its value.

use super::html::esc;
use super::tables::percent;
use std::fmt::Write;

/// A bar chart: one bar group per label, series stacked.
pub fn bars(id: &str, title: &str, labels: &[String], series: &[(&str, &str, Vec<u64>)]) -> String {
    const W: f64 = 560.0;
    const H: f64 = 240.0;
    const LEFT: f64 = 48.0;
    const BOTTOM: f64 = 40.0;
    const TOP: f64 = 10.0;
    let n = labels.len().max(1);
    let totals: Vec<u64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|(_, _, v)| v.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let max = nice_max(totals.iter().copied().max().unwrap_or(0));
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - BOTTOM - TOP;
    let step = plot_w / n as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg id=\"{id}\" class=chart viewBox=\"0 0 {W} {H}\" role=img aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = esc(title)
    );
    for k in 0..=4 {
        let y = TOP + plot_h - plot_h * f64::from(k) / 4.0;
        let value = max as f64 * f64::from(k) / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d0d7de\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"14\" text-anchor=\"end\" fill=\"#57606a\">{}</text>",
            W - 8.0,
            LEFT - 4.0,
            y + 4.0,
            value.round()
        );
    }
    let label_every = (n / 8).max(1);
    // Thin bars for many buckets, never one block across the whole chart.
    let width = (step * 0.8).clamp(0.5, 48.0);
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + step * i as f64;
        let mut base = TOP + plot_h;
        for (name, color, values) in series {
            let v = values.get(i).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            let h = plot_h * v as f64 / max as f64;
            base -= h;
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{base:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{color}\"><title>{}: {} {v}</title></rect>",
                x + (step - width) / 2.0,
                width,
                esc(label),
                esc(name)
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\" fill=\"#57606a\">{}</text>",
                x + step / 2.0,
                H - BOTTOM + 18.0,
                esc(label)
            );
        }
    }
    svg.push_str("</svg><div class=legend>");
    for (name, color, _) in series {
        let _ = write!(
            svg,
            "<span><i style=\"background:{color}\"></i>{}</span>",
            esc(name)
        );
    }
    svg.push_str("</div>");
    svg
}

/// The axis top: four grid steps of 1, 2, 2.5 or 5 times a power of ten.
fn nice_max(max: u64) -> u64 {
    let quarter = max.div_ceil(4).max(1);
    let mut magnitude = 1u64;
    while magnitude.saturating_mul(10) <= quarter {
        magnitude = magnitude.saturating_mul(10);
    }
    // In halves of the magnitude: 2.5 rounds down to 2 where it is below 10.
    let step = [2, 4, 5, 10, 20]
        .iter()
        .map(|&m: &u64| m.saturating_mul(magnitude) / 2)
        .find(|&s| s >= quarter)
        .unwrap_or(quarter);
    step.saturating_mul(4)
}

/// TLS share per domain: one 100% bar per domain, TLS then plaintext.
pub fn shares(id: &str, title: &str, rows: &[(String, u64, u64)]) -> String {
    const W: f64 = 560.0;
    const ROW: f64 = 30.0;
    const LEFT: f64 = 190.0;
    let h = ROW * rows.len().max(1) as f64 + 8.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg id=\"{id}\" class=chart viewBox=\"0 0 {W} {h}\" role=img aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = esc(title)
    );
    let bar_w = W - LEFT - 60.0;
    for (i, (domain, tls, plain)) in rows.iter().enumerate() {
        let y = 4.0 + ROW * i as f64;
        let all = (tls + plain).max(1);
        let tls_w = bar_w * *tls as f64 / all as f64;
        let shown: String = domain.chars().take(22).collect();
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"16\" text-anchor=\"end\">{}</text><rect x=\"{LEFT}\" y=\"{y:.1}\" width=\"{tls_w:.1}\" height=\"{:.1}\" fill=\"#2e7d32\"><title>{}: {tls} TLS</title></rect><rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#c62828\"><title>{}: {plain} plaintext</title></rect><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"16\">{}</text>",
            LEFT - 6.0,
            y + 18.0,
            esc(&shown),
            ROW - 6.0,
            esc(domain),
            LEFT + tls_w,
            bar_w - tls_w,
            ROW - 6.0,
            esc(domain),
            LEFT + bar_w + 6.0,
            y + 18.0,
            percent(*tls, tls + plain)
        );
    }
    svg.push_str("</svg><div class=legend><span><i style=\"background:#2e7d32\"></i>TLS</span><span><i style=\"background:#c62828\"></i>plaintext</span></div>");
    svg
}

#[cfg(test)]
mod tests {
    use super::nice_max;

    #[test]
    fn axis_steps_are_round() {
        for (max, top) in [
            (0, 4),
            (1, 4),
            (6, 8),
            (38, 40),
            (41, 80),
            (999, 1000),
            (12_345, 20_000),
        ] {
            assert_eq!(nice_max(max), top, "{max}");
        }
    }
}
