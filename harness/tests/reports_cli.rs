//! The HTML report and baselines as a user meets them: `--html` opened in headless Chromium
//! (Debian's `chromium`), `--update-baseline` then `--baseline` with and without drift, and
//! JSON, JUnit and HTML telling the same verdicts of one run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/cli.rs"]
mod cli;
use cli::{reference_gateway, tbgw};

/// Two cases in a fresh folder: one passes, one fails at its publish (line 7).
fn two_cases(name: &str, expect_puback: &str) -> PathBuf {
    let dir = cli::temp_dir(&format!("reports-{name}"));
    let cases = dir.join("cases");
    std::fs::create_dir_all(&cases).expect("cases folder");
    let case = |id: &str, puback: &str| {
        format!(
            "id: {id}\nrequirement: A telemetry publish is acknowledged.\nrefs: [\"tb §1.3\"]\nprofile: tb\nsteps:\n  - connect: {{}}\n  - publish: {{topic: v1/gateway/telemetry, json: {{\"${{run}}-A\": [{{t: 1}}]}}, expect: {{puback: {puback}}}}}\n  - timeseries: {{device: \"${{run}}-A\", keys: [t], expect: {{t: [{{value: 1}}]}}}}\n"
        )
    };
    std::fs::write(cases.join("passes.yaml"), case("reports/passes", "0x00")).expect("write");
    std::fs::write(
        cases.join("fails.yaml"),
        case("reports/fails", expect_puback),
    )
    .expect("write");
    dir
}

/// Rewrites the failing case of [`two_cases`] to expect what the emulator answers.
fn expect_success_in_the_failing_case(dir: &Path) {
    let file = dir.join("cases/fails.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, text.replace("puback: 0x99", "puback: 0x00")).expect("rewrite");
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn a_baseline_is_stable_and_drift_is_exit_4_with_old_and_new_listed() {
    let dir = two_cases("baseline", "0x99");
    let cases = path(&dir.join("cases"));
    let first = dir.join("first.json");
    let second = dir.join("second.json");
    let recorded = tbgw(&["run", &cases, "--update-baseline", &path(&first)]);
    assert_eq!(recorded.code, 1, "the run itself fails: {}", recorded.all());
    // Recorded twice, byte for byte the same: no times, ids or run names.
    let again = tbgw(&["run", &cases, "--update-baseline", &path(&second)]);
    assert_eq!(again.code, 1, "{}", again.all());
    let text = std::fs::read_to_string(&first).expect("baseline written");
    assert_eq!(text, std::fs::read_to_string(&second).expect("second"));
    assert!(text.contains("\"reports/fails [5]\"") && text.contains("\"verdict\": \"FAIL\""));
    assert!(
        !text.replace("tbgw-baseline", "").contains("tbgw-"),
        "a run id leaked into the baseline:\n{text}"
    );

    // The same results: the known failure passes the comparison.
    let same = tbgw(&["run", &cases, "--baseline", &path(&first)]);
    assert_eq!(same.code, 0, "{}", same.all());
    assert!(
        same.stdout.contains("no drift from the baseline"),
        "{}",
        same.stdout
    );
    // A filtered run compares only what it selected: the other case has not vanished.
    let filtered = tbgw(&[
        "run",
        &cases,
        "--filter",
        "reports/fails",
        "--baseline",
        &path(&first),
    ]);
    assert_eq!(filtered.code, 0, "{}", filtered.all());

    // The expectation changed: the case now passes, a verdict drift.
    expect_success_in_the_failing_case(&dir);
    let changed = tbgw(&[
        "run",
        &cases,
        "--baseline",
        &path(&first),
        "--json",
        &path(&dir.join("r.json")),
    ]);
    assert_eq!(changed.code, 4, "{}", changed.all());
    for expected in [
        "DRIFT from the baseline",
        "reports/fails [5]: verdict changed",
        "was: FAIL",
        "now: PASS",
    ] {
        assert!(
            changed.stdout.contains(expected),
            "missing {expected:?}:\n{}",
            changed.stdout
        );
    }
    let report = cli::report(&dir.join("r.json"), &changed);
    assert_eq!(
        report["baseline"]["drift"][0]["kind"], "verdict",
        "{report}"
    );

    // A case removed from the suite has vanished.
    std::fs::remove_file(dir.join("cases/passes.yaml")).expect("remove");
    let vanished = tbgw(&["run", &cases, "--baseline", &path(&first)]);
    assert_eq!(vanished.code, 4, "{}", vanished.all());
    assert!(
        vanished
            .stdout
            .contains("reports/passes [5]: vanished case"),
        "{}",
        vanished.stdout
    );
}

#[test]
fn a_changed_answer_with_the_same_verdict_is_drift() {
    let dir = two_cases("answer", "0x99");
    let cases = path(&dir.join("cases"));
    let baseline = dir.join("b.json");
    assert_eq!(
        tbgw(&["run", &cases, "--update-baseline", &path(&baseline)]).code,
        1
    );
    // What the target answered, as the baseline holds it, was different.
    let text = std::fs::read_to_string(&baseline).expect("baseline");
    std::fs::write(
        &baseline,
        text.replace("0x00 Success", "0x97 Quota exceeded"),
    )
    .expect("edit");
    let ran = tbgw(&["run", &cases, "--baseline", &path(&baseline)]);
    assert_eq!(ran.code, 4, "{}", ran.all());
    assert!(ran.stdout.contains("answer changed"), "{}", ran.stdout);
    assert!(ran.stdout.contains("0x97 Quota exceeded") && ran.stdout.contains("0x00 Success"));
}

#[test]
fn a_folder_of_baselines_says_which_one_the_target_behaves_like() {
    let dir = two_cases("folder", "0x99");
    let cases = path(&dir.join("cases"));
    let folder = dir.join("baselines");
    std::fs::create_dir_all(&folder).expect("folder");
    let (old, new) = (folder.join("tb-old.json"), folder.join("tb-new.json"));
    assert_eq!(
        tbgw(&["run", &cases, "--update-baseline", &path(&old)]).code,
        1
    );
    expect_success_in_the_failing_case(&dir);
    assert_eq!(
        tbgw(&["run", &cases, "--update-baseline", &path(&new)]).code,
        0
    );
    let ran = tbgw(&["run", &cases, "--baseline", &path(&folder)]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    for expected in [
        format!("behaves most like the baseline {}", path(&new)),
        format!("     0  {}", path(&new)),
        format!("     1  {}", path(&old)),
        format!("no drift from the baseline {}", path(&new)),
    ] {
        assert!(
            ran.stdout.contains(&expected),
            "missing {expected:?}:\n{}",
            ran.stdout
        );
    }
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("empty folder");
    let none = tbgw(&["run", &cases, "--baseline", &path(&empty)]);
    assert_eq!(none.code, 2, "{}", none.all());
    assert!(
        none.stderr.contains("holds no *.json baseline"),
        "{}",
        none.stderr
    );
}

#[test]
fn a_missing_baseline_is_exit_2_before_anything_runs() {
    let dir = two_cases("missing", "0x99");
    let ran = tbgw(&[
        "run",
        &path(&dir.join("cases")),
        "--baseline",
        "/nonexistent/b.json",
    ]);
    assert_eq!(ran.code, 2, "{}", ran.all());
    assert!(
        ran.stderr.contains("record one with --update-baseline"),
        "{}",
        ran.stderr
    );
}

/// The verdict of each `id [mqtt]` in an HTML report's index.
fn html_verdicts(html: &str) -> BTreeMap<String, String> {
    html.lines()
        .filter(|l| l.starts_with("<tr class=\"row\""))
        .map(|row| {
            let verdict = between(row, "data-verdict=\"", "\"");
            let link = between(row, "<a href=\"#case-", "</a>");
            let id = between(link, "\">", "\u{0}");
            let mqtt = between(row, "</a></td><td>", "</td>");
            (format!("{id} [{mqtt}]"), verdict.to_owned())
        })
        .collect()
}

fn between<'t>(text: &'t str, start: &str, end: &str) -> &'t str {
    let from = text.find(start).map_or(0, |i| i + start.len());
    let rest = &text[from..];
    rest.find(end).map_or(rest, |i| &rest[..i])
}

#[test]
fn json_junit_and_html_carry_the_same_verdicts() {
    let dir = two_cases("same", "0x99");
    let (json, junit, html) = (dir.join("r.json"), dir.join("r.xml"), dir.join("r.html"));
    let ran = tbgw(&[
        "run",
        &path(&dir.join("cases")),
        "--json",
        &path(&json),
        "--junit",
        &path(&junit),
        "--html",
        &path(&html),
    ]);
    assert_eq!(ran.code, 1, "{}", ran.all());
    let from_json: BTreeMap<String, String> = cli::report(&json, &ran)["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let name = format!(
                "{} [{}]",
                c["id"].as_str().unwrap_or(""),
                c["mqtt"].as_str().unwrap_or("")
            );
            (name, c["verdict"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    let page = std::fs::read_to_string(&html).expect("html written");
    assert_eq!(html_verdicts(&page), from_json);
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    for (case, verdict) in &from_json {
        let testcase = between(&xml, &format!("name=\"{case}\""), "</testcase>");
        assert!(
            testcase.contains(&format!("<property name=\"verdict\" value=\"{verdict}\"/>")),
            "{case}: {testcase}"
        );
    }
    assert_eq!(from_json.len(), 4);
}

/// Headless Chromium, or None (and a SKIP line) when it is not installed;
/// `TBGW_REQUIRE_CHROMIUM=1` (set by .ci/run) makes a missing browser a failure.
fn chromium() -> Option<&'static str> {
    for name in ["chromium", "chromium-browser"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(name);
        }
    }
    if std::env::var("TBGW_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
        panic!("TBGW_REQUIRE_CHROMIUM=1 but chromium cannot run: apt-get install chromium");
    }
    eprintln!(
        "SKIP: the HTML report in a browser: chromium is not installed (apt-get install chromium)"
    );
    None
}

fn headless(browser: &str, args: &[&str]) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .output()
        .expect("chromium runs")
}

#[test]
fn the_html_report_of_a_failing_run_renders_in_chromium() {
    let dir = two_cases("html", "0x99");
    let (html, json) = (dir.join("r.html"), dir.join("r.json"));
    let ran = tbgw(&[
        "run",
        &path(&dir.join("cases")),
        "--html",
        &path(&html),
        "--json",
        &path(&json),
    ]);
    assert_eq!(ran.code, 1, "{}", ran.all());
    let Some(browser) = chromium() else { return };
    let url = format!("file://{}", path(&html));
    let dumped = headless(browser, &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dumped.stdout).into_owned();
    assert!(
        dom.contains("<table id=\"cases\">"),
        "no verdict table:\n{dom}"
    );
    assert_eq!(dom.matches("<tr class=\"row\"").count(), 4, "{dom}");
    // The failing case comes first, with its expected and actual answer.
    let first_section = between(&dom, "<section class=\"case\"", "</section>");
    assert!(
        first_section.contains("data-verdict=\"FAIL\""),
        "{first_section}"
    );
    assert!(first_section.contains("PUBACK pid=1 0x99 Payload format invalid"));
    assert!(first_section.contains("PUBACK pid=1 0x00 Success"));
    // One arrow per wire entry (none repeat in this case), as the JSON report lists them.
    let report = cli::report(&json, &ran);
    let failed = report["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["verdict"] == "FAIL"))
        .expect("a failed case in the JSON report");
    let entries = failed["wire"].as_array().map_or(0, Vec::len);
    let mut texts: Vec<&str> = failed["wire"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["text"].as_str())
        .collect();
    texts.dedup();
    assert_eq!(texts.len(), entries, "this case has no repeats to fold");
    assert_eq!(
        first_section.matches("class=\"arrow ").count(),
        entries,
        "{first_section}"
    );
    // The script ran and hid nothing while every verdict is ticked.
    assert!(!dom.contains("hidden=\"\""), "rows hidden at load");
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/html-report.png");
    let taken = headless(
        browser,
        &[
            "--window-size=1200,900",
            &format!("--screenshot={}", path(&shot)),
            &url,
        ],
    );
    assert!(
        shot.metadata().is_ok_and(|m| m.len() > 10_000),
        "no screenshot: {}",
        String::from_utf8_lossy(&taken.stderr)
    );
}

#[test]
fn the_check_gateway_report_shows_the_gateways_output_beside_its_packets_in_chromium() {
    let dir = cli::temp_dir("reports-check-gateway");
    let (html, json) = (dir.join("r.html"), dir.join("r.json"));
    let ran = tbgw(&[
        "check-gateway",
        "--cmd",
        &format!(
            "{} --host {{host}} --port {{port}} --token {{token}}",
            reference_gateway()
        ),
        "--filter",
        "handshake/*",
        "--html",
        &path(&html),
        "--json",
        &path(&json),
    ]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    let report = cli::report(&json, &ran);
    let cases = report["cases"].as_array().expect("cases");
    let count = |field: &str| -> usize {
        cases
            .iter()
            .map(|c| c[field].as_array().map_or(0, Vec::len))
            .sum()
    };
    let (packets, output) = (count("wire"), count("output"));
    assert!(packets > 0, "the handshake has packets");
    assert!(output > 0, "the reference gateway prints its progress");
    let page = std::fs::read_to_string(&html).expect("html written");
    assert!(page.contains("<title>tbgw check-gateway of the gateway under test</title>"));
    assert!(page.contains("<b>tbgw (as ThingsBoard)</b>"));
    assert_eq!(page.matches("class=\"msg output\"").count(), output);
    let Some(browser) = chromium() else { return };
    let dumped = headless(browser, &["--dump-dom", &format!("file://{}", path(&html))]);
    let dom = String::from_utf8_lossy(&dumped.stdout).into_owned();
    assert_eq!(
        dom.matches("<tr class=\"row\"").count(),
        cases.len(),
        "{dom}"
    );
    // Repeats fold, so there are at most as many arrows as packets, and at least one.
    let arrows = dom.matches("class=\"arrow ").count();
    assert!(
        arrows > 0 && arrows <= packets,
        "{arrows} arrows for {packets} packets"
    );
    assert_eq!(dom.matches("class=\"msg output\"").count(), output);
}
