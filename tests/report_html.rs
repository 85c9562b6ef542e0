//! `report.html` in a real browser: a backtest of the shipped `ema_cross.rhai` over a
//! generated tick file writes the page; headless Chromium (Debian's `chromium`) loads it from
//! disk with name resolution disabled, and the test reads the DOM after the page's script ran
//! (panels, markers, axis labels, the trade table) and Chromium's console log (nothing may be
//! logged: no errors). Outside CI a machine without Chromium skips; under `CI=true` it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn peregrine() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    c.env("RUST_LOG", "warn").current_dir(root());
    c
}

/// The browser, or `None` (skip) outside CI when it is not installed.
fn chromium() -> Option<PathBuf> {
    let name = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(&name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and {name} is not installed (Debian package `chromium`)");
        }
        eprintln!("skipping: {name} is not installed");
    }
    found
}

/// What Chromium made of a page.
struct Rendered {
    /// The DOM after the scripts ran.
    dom: String,
    /// Console messages (`CONSOLE` lines of Chromium's log).
    console: Vec<String>,
}

impl Rendered {
    /// The root element's start tag, where the page records `data-rendered` / `data-error`.
    fn html_tag(&self) -> &str {
        let start = self.dom.find("<html").unwrap_or(0);
        let end = self.dom[start..]
            .find('>')
            .map_or(self.dom.len(), |e| start + e + 1);
        &self.dom[start..end]
    }
}

fn render(browser: &Path, page: &Path) -> Rendered {
    let profile = tempfile::tempdir().unwrap();
    let (dom_path, log_path) = (
        profile.path().join("dom.html"),
        profile.path().join("log.txt"),
    );
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        // Files, not pipes: a page's DOM outgrows a pipe's buffer while nobody reads it.
        .stdout(Stdio::from(std::fs::File::create(&dom_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "chromium did not finish rendering {} in 90 s",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "chromium failed ({status}): {stderr}");
    Rendered {
        dom: std::fs::read_to_string(&dom_path).unwrap(),
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn report_html_renders_in_chromium_without_console_errors() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ticks = dir.path().join("ticks.jsonl");
    let gen = peregrine()
        .args(["gen-ticks", "--seed", "5", "--duration", "4m", "--out"])
        .arg(&ticks)
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let out = dir.path().join("out");
    let bt = peregrine()
        .args([
            "backtest",
            "--strategy",
            "strategies/ema_cross.rhai",
            "--param",
            "fast=5",
            "--param",
            "slow=20",
            "--data",
        ])
        .arg(&ticks)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        bt.status.success(),
        "{}",
        String::from_utf8_lossy(&bt.stderr)
    );
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing for the browser to fetch.
    for needle in ["<link", " src=", "@import", "url(", "<iframe", "fetch("] {
        assert!(!html.contains(needle), "report.html contains {needle:?}");
    }
    let trips = std::fs::read_to_string(out.join("trades.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert!(
        trips >= 2,
        "the run made {trips} round trips; the test needs some"
    );

    let r = render(&browser, &page);
    assert!(r.console.is_empty(), "console output: {:#?}", r.console);
    let root_tag = r.html_tag();
    assert!(!root_tag.contains("data-error"), "script error: {root_tag}");
    assert!(
        root_tag.contains("data-rendered=\"ok\""),
        "the script did not finish: {root_tag}"
    );
    for id in ["price", "equity", "drawdown"] {
        let tag = format!("<svg id=\"{id}\"");
        assert_eq!(count(&r.dom, &tag), 1, "panel {id} missing");
    }
    // Entry markers for every trip, a table row for every trip, an exit for every closed one.
    let shown = trips.min(2_000);
    assert_eq!(count(&r.dom, "class=\"marker entry "), shown);
    let tbody = r.dom.split("<tbody>").nth(1).unwrap();
    assert_eq!(count(tbody, "<tr>"), shown);
    assert!(count(&r.dom, "class=\"marker exit\"") >= shown - 1);
    // The time axis reads UTC clock times (4 minutes of data: minute or second labels).
    let labels: Vec<&str> = r
        .dom
        .split("class=\"tick\"")
        .skip(1)
        .filter_map(|s| s.split('>').nth(1))
        .filter_map(|s| s.split('<').next())
        .collect();
    assert!(labels.len() >= 3 * 3, "axis labels: {labels:?}");
    assert!(
        labels.iter().all(|l| l.len() >= 5 && l.contains(':')),
        "{labels:?}"
    );
    // The metrics table lists the report's figures.
    for m in [
        "Sharpe (annualised)",
        "Max drawdown",
        "Win rate",
        "Buy and hold",
    ] {
        assert!(r.dom.contains(m), "metric {m} missing");
    }
}

#[test]
fn the_browser_check_catches_script_errors_and_console_output() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("broken.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><script>window.addEventListener(\"error\", function (e) \
         { document.documentElement.setAttribute(\"data-error\", String(e.message)); });\
         </script></head><body><script>console.error(\"bad\"); notDefined();</script></body></html>",
    )
    .unwrap();
    let r = render(&browser, &page);
    assert!(r.html_tag().contains("data-error=\""), "{}", r.dom);
    assert_eq!(r.console.len(), 2, "{:#?}", r.console);
}
