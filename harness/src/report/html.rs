//! The HTML report: one self-contained page (inline CSS and a few lines of script for the
//! filters; no network), readable offline and attachable as a CI artifact. An index of
//! every case and MQTT version, failures first, then each case with its requirement, what
//! was expected and what happened, and its whole exchange as a sequence diagram: tbgw on the
//! left, the target's MQTT side in the middle, its REST API (or, for check-gateway, the
//! gateway's output) on the right. Verdicts are written out as well as coloured, so the
//! page prints in black and white. Without script every case is shown.

use std::fmt::Write as _;

use super::{Folded, RunMeta, Summary, fold, refs};
use crate::mqtt::wirelog::{Direction, WireEntry};
use crate::scenario::outcome::{CaseResult, OutputLine, Verdict};

/// A pretty-printed payload longer than this is cut (the JSON report has it whole).
const PAYLOAD_CHARS: usize = 20_000;

pub fn render(results: &[CaseResult], meta: &RunMeta<'_>) -> String {
    let mut page = String::new();
    let check_gateway = meta.tool.contains("check-gateway");
    let title = if check_gateway {
        format!("{} of the gateway under test", meta.tool)
    } else {
        format!("{} against {}", meta.tool, meta.target)
    };
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    page.push_str(&summary(&Summary::of(results), meta));
    page.push_str("</header>\n<main>\n");
    page.push_str(&notes(meta));
    let order = failures_first(results);
    page.push_str(&filters(results));
    page.push_str(&index(results, &order));
    for &i in &order {
        page.push_str(&case_section(i, &results[i], check_gateway));
    }
    let _ = write!(
        page,
        "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    page
}

/// Failed, erroneous and surprising cases first, then the rest; each group in plan order.
fn failures_first(results: &[CaseResult]) -> Vec<usize> {
    let rank = |v: Verdict| match v {
        Verdict::Fail => 0,
        Verdict::Error => 1,
        Verdict::Xpass => 2,
        Verdict::NonStrict => 3,
        Verdict::Xfail => 4,
        Verdict::Skip => 5,
        Verdict::Pass => 6,
    };
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by_key(|&i| rank(results[i].verdict));
    order
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::NonStrict => "nonstrict",
        Verdict::Xfail => "xfail",
        Verdict::Skip => "skip",
        Verdict::Fail => "fail",
        Verdict::Xpass => "xpass",
        Verdict::Error => "error",
    }
}

fn badge(v: Verdict) -> String {
    format!(
        "<span class=\"verdict {}\">{}</span>",
        verdict_class(v),
        v.as_str()
    )
}

/// `telemetry` of `telemetry/multi-device-ts`.
fn area(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

fn summary(s: &Summary, meta: &RunMeta<'_>) -> String {
    let counts = [
        (Verdict::Pass, s.passed),
        (Verdict::NonStrict, s.non_strict),
        (Verdict::Fail, s.failed),
        (Verdict::Xfail, s.xfail),
        (Verdict::Xpass, s.xpass),
        (Verdict::Skip, s.skipped),
        (Verdict::Error, s.errors),
    ];
    let mut out = format!(
        "<p class=\"summary\">{} case runs in {:.2} s:",
        s.total,
        meta.elapsed.as_secs_f64()
    );
    for (verdict, n) in counts.iter().filter(|(_, n)| *n > 0) {
        let _ = write!(out, " {} {n}", badge(*verdict));
    }
    let _ = write!(
        out,
        "</p>\n<p class=\"meta\">tbgw {} · target {}</p>\n",
        env!("CARGO_PKG_VERSION"),
        escape(meta.target)
    );
    out
}

/// The interrupt, stale deviation entries and the baseline's drift.
fn notes(meta: &RunMeta<'_>) -> String {
    let mut out = String::new();
    if let Some(signal) = meta.interrupted {
        let _ = writeln!(
            out,
            "<p class=\"alert\">Interrupted by {}: the cases not listed were not run.</p>",
            escape(signal)
        );
    }
    if !meta.stale.is_empty() {
        out.push_str("<section id=\"stale\"><h2>Stale deviation entries</h2><ul>\n");
        for line in meta.stale {
            let _ = writeln!(out, "<li>{}: remove it or fix its glob</li>", escape(line));
        }
        out.push_str("</ul></section>\n");
    }
    if let Some(compared) = meta.baseline {
        let _ = writeln!(
            out,
            "<section id=\"drift\"><h2>Drift from the baseline {}</h2>",
            escape(&compared.baseline)
        );
        if !compared.candidates.is_empty() {
            out.push_str("<p>The target behaves most like the first of these baselines:</p><table class=\"candidates\"><thead><tr><th>baseline</th><th>drift</th></tr></thead><tbody>\n");
            for c in &compared.candidates {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
                    escape(&c.baseline),
                    c.drift
                );
            }
            out.push_str("</tbody></table>\n");
        }
        if compared.drift.is_empty() {
            out.push_str("<p>No drift: every verdict and answer is as recorded.</p>\n");
        } else {
            out.push_str(
                "<table class=\"drift\"><thead><tr><th>case</th><th>change</th><th>was</th><th>now</th></tr></thead><tbody>\n",
            );
            for d in &compared.drift {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                    escape(&d.case),
                    d.kind.as_str(),
                    escape(&d.was),
                    escape(&d.now)
                );
            }
            out.push_str("</tbody></table>\n");
        }
        out.push_str("</section>\n");
    }
    out
}

/// Checkboxes per verdict present and a choice of area; the script applies them.
fn filters(results: &[CaseResult]) -> String {
    let mut verdicts: Vec<Verdict> = results.iter().map(|r| r.verdict).collect();
    verdicts.sort();
    verdicts.dedup();
    let mut areas: Vec<&str> = results.iter().map(|r| area(&r.id)).collect();
    areas.sort_unstable();
    areas.dedup();
    let mut out = String::from("<form id=\"filters\"><span>Show:</span>\n");
    for v in verdicts {
        let _ = writeln!(
            out,
            "<label><input type=\"checkbox\" name=\"verdict\" value=\"{}\" checked> {}</label>",
            v.as_str(),
            badge(v)
        );
    }
    out.push_str("<label>area <select name=\"area\"><option value=\"\">all</option>");
    for a in areas {
        let _ = write!(out, "<option>{}</option>", escape(a));
    }
    out.push_str("</select></label></form>\n");
    out
}

fn index(results: &[CaseResult], order: &[usize]) -> String {
    let mut out = String::from(
        "<table id=\"cases\"><thead><tr><th>verdict</th><th>case</th><th>MQTT</th><th>duration</th><th>requirement</th><th>refs</th><th>basis</th></tr></thead><tbody>\n",
    );
    for &i in order {
        let r = &results[i];
        let _ = writeln!(
            out,
            "<tr class=\"row\" data-verdict=\"{}\" data-area=\"{}\"><td>{}</td><td><a href=\"#case-{i}\">{}</a></td><td>{}</td><td class=\"num\">{} ms</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.verdict.as_str(),
            escape(area(&r.id)),
            badge(r.verdict),
            escape(&r.id),
            escape(&r.mqtt),
            r.duration_ms,
            escape(&r.requirement),
            ref_links(&r.refs),
            escape(r.basis.as_deref().unwrap_or("observed"))
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

fn ref_links(refs_of_case: &[String]) -> String {
    refs_of_case
        .iter()
        .map(|r| match refs::link(r) {
            Some(url) => format!("<a href=\"{}\">{}</a>", escape(&url), escape(r)),
            None => escape(r),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn case_section(i: usize, r: &CaseResult, check_gateway: bool) -> String {
    let mut out = format!(
        "<section class=\"case\" id=\"case-{i}\" data-verdict=\"{}\" data-area=\"{}\">\n<h2>{} {} <small>MQTT {}</small></h2>\n<dl>\n",
        r.verdict.as_str(),
        escape(area(&r.id)),
        badge(r.verdict),
        escape(&r.id),
        escape(&r.mqtt)
    );
    let mut field = |name: &str, html: String| {
        let _ = writeln!(out, "<dt>{name}</dt><dd>{html}</dd>");
    };
    field("requirement", escape(&r.requirement));
    let location = r.failure.as_ref().map_or_else(
        || format!("{}:{}", r.file, r.line()),
        |f| f.location.clone(),
    );
    field("scenario", format!("<code>{}</code>", escape(&location)));
    if !r.refs.is_empty() {
        field("refs", ref_links(&r.refs));
    }
    if r.basis.as_deref() == Some("derived") {
        field(
            "basis",
            "derived: read from ThingsBoard's source, never seen on a server; on a real ThingsBoard, check the server's behaviour before the case".into(),
        );
    }
    if let Some(note) = &r.note {
        let label = match r.verdict {
            Verdict::Xfail | Verdict::Xpass => "deviation",
            Verdict::Skip => "skipped",
            _ => "note",
        };
        field(label, escape(note));
    }
    if let Some(f) = &r.failure {
        field("step", escape(&f.step));
        field(
            "expected",
            format!("<pre class=\"expected\">{}</pre>", escape(&f.expected)),
        );
        field(
            "actual",
            format!("<pre class=\"actual\">{}</pre>", escape(&f.actual)),
        );
    }
    out.push_str("</dl>\n");
    out.push_str(&diagram(r, check_gateway));
    if !r.transcript.is_empty() {
        out.push_str("<details class=\"transcript\"><summary>transcript</summary><pre>");
        for line in &r.transcript {
            out.push_str(&escape(line));
            out.push('\n');
        }
        out.push_str("</pre></details>\n");
    }
    out.push_str("</section>\n");
    out
}

/// One row of the diagram, in time order.
enum Row<'w> {
    Wire(Folded<'w>),
    /// Where the failing step gave up: the entries after it are the clean-up's.
    FailedHere,
    Output(&'w OutputLine),
}

/// When a row happened; the failing step's mark has no time of its own.
fn at_ms(row: &Row<'_>) -> Option<u64> {
    match row {
        Row::Wire(Folded::Entry { entry, .. }) => Some(entry.at_ms),
        Row::Wire(Folded::Cycle { cycle, .. }) => cycle.first().map(|e| e.at_ms),
        Row::FailedHere => None,
        Row::Output(line) => Some(line.at_ms),
    }
}

/// The exchange as a sequence diagram: one arrow per packet or REST call (repeats folded as
/// in the console), the gateway's output on the third lane for check-gateway.
fn diagram(r: &CaseResult, check_gateway: bool) -> String {
    if r.wire.is_empty() && r.output.is_empty() {
        return "<p class=\"quiet\">Nothing was exchanged.</p>\n".into();
    }
    let (left, middle, right) = if check_gateway {
        (
            "tbgw (as ThingsBoard)",
            "the gateway",
            "the gateway's output",
        )
    } else {
        ("tbgw (as the gateway)", "target: MQTT", "target: REST")
    };
    let failed_at = r.failure.as_ref().map(|f| f.wire_at_failure);
    let mut rows: Vec<Row<'_>> = Vec::new();
    let (before, after) = r
        .wire
        .split_at(failed_at.unwrap_or(r.wire.len()).min(r.wire.len()));
    rows.extend(fold(before).into_iter().map(Row::Wire));
    if failed_at.is_some() {
        rows.push(Row::FailedHere);
    }
    rows.extend(fold(after).into_iter().map(Row::Wire));
    // The output joins the wire rows by time; a stable merge keeps each side's order.
    let mut merged: Vec<Row<'_>> = Vec::with_capacity(rows.len() + r.output.len());
    let mut output = r.output.iter().peekable();
    let mut last_at = 0;
    for row in rows {
        let at = at_ms(&row).unwrap_or(last_at);
        while let Some(line) = output.next_if(|l| l.at_ms < at) {
            merged.push(Row::Output(line));
        }
        last_at = at;
        merged.push(row);
    }
    merged.extend(output.map(Row::Output));

    let mut out = format!(
        "<div class=\"seq\">\n<div class=\"lanes\"><span></span><b>{left}</b><span></span><b>{middle}</b><span></span><b>{right}</b></div>\n"
    );
    for row in &merged {
        match row {
            Row::Wire(Folded::Entry {
                entry,
                times,
                until_ms,
            }) => {
                let repeat = (*times > 1).then(|| format!("×{times}, until +{until_ms} ms"));
                out.push_str(&arrow(entry, repeat.as_deref()));
            }
            Row::Wire(Folded::Cycle {
                cycle,
                times,
                until_ms,
            }) => {
                for entry in cycle {
                    out.push_str(&arrow(entry, None));
                }
                let _ = writeln!(
                    out,
                    "<div class=\"msg fold\"><span class=\"t\"></span><div class=\"note\">… the same {} message(s) {} more time(s) (numbers aside), until +{until_ms} ms</div></div>",
                    cycle.len(),
                    times - 1
                );
            }
            Row::FailedHere => out.push_str(
                "<div class=\"msg failed-here\"><span class=\"t\"></span><div class=\"note\">✗ the failing step gave up here; what follows is the case's clean-up</div></div>\n",
            ),
            Row::Output(line) => {
                let _ = writeln!(
                    out,
                    "<div class=\"msg output\"><span class=\"t\">+{} ms</span>{LANES}<div class=\"out\">{}</div></div>",
                    line.at_ms,
                    escape(&line.text)
                );
            }
        }
    }
    out.push_str("</div>\n");
    out
}

/// The three lanes' vertical lines, behind each row.
const LANES: &str = "<i class=\"lane l1\"></i><i class=\"lane l2\"></i><i class=\"lane l3\"></i>";

/// One arrow: MQTT packets between tbgw and the target's MQTT lane (→ sent by tbgw, ← by
/// the target), REST calls out to the third lane and back (⇄).
fn arrow(entry: &WireEntry, repeat: Option<&str>) -> String {
    let (class, glyph) = match entry.direction {
        Direction::Sent => ("arrow sent", "→"),
        Direction::Received => ("arrow received", "←"),
        Direction::Rest => ("arrow rest", "⇄"),
    };
    let (label, payload) = split_payload(&entry.text);
    let mut out = format!(
        "<div class=\"msg\"><span class=\"t\">+{} ms</span>{LANES}<div class=\"{class}\"><div class=\"label\"><span class=\"ch\">{}</span> {glyph} {}",
        entry.at_ms,
        escape(&entry.channel),
        escape(label)
    );
    if let Some(repeat) = repeat {
        let _ = write!(out, " <span class=\"repeat\">({})</span>", escape(repeat));
    }
    out.push_str("</div><div class=\"line\"></div>");
    if let Some(payload) = payload {
        let _ = write!(
            out,
            "<details><summary>payload</summary><pre>{}</pre></details>",
            escape(&payload)
        );
    }
    out.push_str("</div></div>\n");
    out
}

/// A wire line's words and its JSON payload pretty-printed (the longest JSON suffix).
fn split_payload(text: &str) -> (&str, Option<String>) {
    for (at, c) in text.char_indices() {
        if (c == '{' || c == '[')
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(&text[at..])
            && (value.is_object() || value.is_array())
        {
            let mut pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
            if pretty.chars().count() > PAYLOAD_CHARS {
                pretty = format!(
                    "{}\n… cut at {PAYLOAD_CHARS} characters (the JSON report has it whole)",
                    pretty.chars().take(PAYLOAD_CHARS).collect::<String>()
                );
            }
            return (text[..at].trim_end(), Some(pretty));
        }
    }
    (text, None)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#111;background:#fff}
header{padding:12px 20px;border-bottom:1px solid #ccc}
h1{font-size:20px;margin:0 0 6px}
main{padding:8px 20px}
.meta{color:#555;margin:2px 0}
.verdict{display:inline-block;font:bold 12px monospace;padding:1px 6px;border:1px solid #333;border-radius:3px}
.pass{background:#d7f5d7}.fail,.error{background:#f9c9c9}.xpass{background:#fbd9a8}
.xfail,.nonstrict{background:#fff1b8}.skip{background:#e6e6e6}
table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
td.num{text-align:right;white-space:nowrap}
#filters{margin:10px 0}#filters label{margin-right:10px}
.alert{background:#f9c9c9;padding:6px;border:1px solid #a33}
section.case{border-top:2px solid #999;margin-top:18px;padding-top:4px}
section.case h2{font-size:16px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}
dt{font-weight:bold}dd{margin:0}
pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:12px}
pre.expected{background:#eef7ee;padding:4px}pre.actual{background:#fbeeee;padding:4px}
.seq{margin:8px 0;font-size:12px}
.lanes,.msg{display:grid;grid-template-columns:7em 10em 1fr 10em 1fr 10em;position:relative}
.lanes b{text-align:center;border-bottom:2px solid #333}
.msg{min-height:22px}
.msg .t{grid-column:1;grid-row:1;color:#555;font-family:monospace}
.lane{grid-row:1;justify-self:center;width:1px;background:#999;height:100%}
.l1{grid-column:2}.l2{grid-column:4}.l3{grid-column:6}
.arrow{grid-row:1;position:relative;padding:0 4px;min-width:0}
.sent,.received{grid-column:2/5;margin:0 5em}
.rest{grid-column:2/7;margin:0 5em}
.label{font-family:monospace;overflow-wrap:anywhere}
.ch{color:#555}
.line{border-top:2px solid #333;position:relative;margin-bottom:4px}
.rest .line{border-top-style:dashed}
.sent .line::after,.rest .line::after{content:"";position:absolute;right:-1px;top:-6px;border:5px solid transparent;border-left:8px solid #333}
.received .line::before,.rest .line::before{content:"";position:absolute;left:-1px;top:-6px;border:5px solid transparent;border-right:8px solid #333}
.repeat{color:#555}
.note{grid-column:2/7;grid-row:1;font-style:italic;color:#444;padding:2px 5em}
.failed-here .note{color:#a00;font-weight:bold;border-top:2px dashed #a00}
.out{grid-column:5/7;grid-row:1;font-family:monospace;white-space:pre-wrap;background:#f4f4f4;margin-left:1em}
details summary{cursor:pointer;color:#225}
.quiet{color:#555}
@media print{#filters{display:none}details{display:block}}
"#;

/// The filters: a row or section shows when its verdict is ticked and its area chosen.
const SCRIPT: &str = r#"
(function(){
  var form=document.getElementById('filters');
  if(!form)return;
  function apply(){
    var on={};
    form.querySelectorAll('input[name=verdict]').forEach(function(c){on[c.value]=c.checked;});
    var area=form.querySelector('select[name=area]').value;
    document.querySelectorAll('[data-verdict]').forEach(function(e){
      var show=on[e.dataset.verdict]&&(!area||e.dataset.area===area);
      e.hidden=!show;
    });
  }
  form.addEventListener('change',apply);
  apply();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::outcome::Failure;

    fn entry(at_ms: u64, direction: Direction, text: &str) -> WireEntry {
        WireEntry {
            at_ms,
            channel: if direction == Direction::Rest {
                "rest"
            } else {
                "gw"
            }
            .into(),
            direction,
            text: text.into(),
            bytes: None,
        }
    }

    fn result(verdict: Verdict, wire: Vec<WireEntry>) -> CaseResult {
        CaseResult {
            id: "telemetry/x".into(),
            mqtt: "5".into(),
            profile: "tb".into(),
            requirement: "Telemetry <is> stored & read back.".into(),
            refs: vec!["tb §1.2".into()],
            file: "scenarios/platform/telemetry/x.yaml".into(),
            basis: Some("observed".into()),
            verdict,
            started_ms: 0,
            duration_ms: 12,
            failure: None,
            note: None,
            transcript: vec!["gw -> CONNECT".into()],
            wire,
            output: Vec::new(),
        }
    }

    fn meta() -> RunMeta<'static> {
        RunMeta {
            tool: "tbgw run",
            target: "embedded",
            elapsed: std::time::Duration::from_millis(1500),
            stale: &[],
            interrupted: None,
            baseline: None,
        }
    }

    #[test]
    fn every_packet_is_one_arrow_and_repeated_polls_fold_into_one() {
        let wire = vec![
            entry(0, Direction::Sent, "CONNECT"),
            entry(1, Direction::Received, "CONNACK 0x00 Success"),
            entry(
                2,
                Direction::Sent,
                r#"PUBLISH v1/gateway/telemetry qos=1 pid=1 {"A":[{"t":1}]}"#,
            ),
            entry(3, Direction::Received, "PUBACK pid=1 0x00 Success"),
            entry(4, Direction::Rest, "GET /api/x as Tenant -> 200 {}"),
            entry(5, Direction::Rest, "GET /api/x as Tenant -> 200 {}"),
            entry(6, Direction::Rest, "GET /api/x as Tenant -> 200 {}"),
        ];
        let page = render(&[result(Verdict::Pass, wire)], &meta());
        assert_eq!(page.matches("class=\"arrow ").count(), 5, "{page}");
        assert_eq!(page.matches("class=\"arrow rest\"").count(), 1);
        assert!(page.contains("×3, until +6 ms"));
        assert!(page.contains("<details><summary>payload</summary><pre>{\n  &quot;A&quot;"));
        assert!(page.contains("Telemetry &lt;is&gt; stored &amp; read back."));
    }

    #[test]
    fn failed_cases_come_first_with_expected_and_actual_and_where_they_gave_up() {
        let mut failed = result(
            Verdict::Fail,
            vec![
                entry(0, Direction::Sent, "CONNECT"),
                entry(9, Direction::Rest, "DELETE /api/device/1 as Tenant -> 200"),
            ],
        );
        failed.id = "rpc/y".into();
        failed.failure = Some(Failure {
            step: "publish (step 2)".into(),
            location: "scenarios/platform/rpc/y.yaml:7".into(),
            expected: "PUBACK 0x00".into(),
            actual: "PUBACK 0x99".into(),
            wire_at_failure: 1,
        });
        let page = render(&[result(Verdict::Pass, Vec::new()), failed], &meta());
        let rows: Vec<&str> = page
            .lines()
            .filter(|l| l.starts_with("<tr class=\"row\""))
            .collect();
        assert!(rows[0].contains("data-verdict=\"FAIL\""), "{rows:?}");
        assert!(page.contains("<pre class=\"expected\">PUBACK 0x00</pre>"));
        assert!(page.contains("<pre class=\"actual\">PUBACK 0x99</pre>"));
        assert!(page.contains("scenarios/platform/rpc/y.yaml:7"));
        let gave_up = page.find("class=\"msg failed-here\"").unwrap();
        assert!(page.find("CONNECT").unwrap() < gave_up);
        assert!(gave_up < page.find("DELETE /api/device/1").unwrap());
    }

    #[test]
    fn the_gateways_output_is_on_the_third_lane_in_time_order() {
        let mut r = result(
            Verdict::Fail,
            vec![
                entry(0, Direction::Sent, "PUBLISH v1/gateway/rpc qos=1 pid=1 {}"),
                entry(50, Direction::Received, "PUBACK pid=1 0x00 Success"),
            ],
        );
        r.output = vec![
            OutputLine {
                at_ms: 10,
                text: "Traceback (most recent call last):".into(),
            },
            OutputLine {
                at_ms: 70,
                text: "exited".into(),
            },
        ];
        let page = render(
            &[r],
            &RunMeta {
                tool: "tbgw check-gateway",
                ..meta()
            },
        );
        let at = |s: &str| page.find(s).unwrap();
        assert!(at("v1/gateway/rpc") < at("Traceback"));
        assert!(at("Traceback") < at("PUBACK pid=1"));
        assert!(at("PUBACK pid=1") < at(">exited<"));
        assert!(page.contains("the gateway&#39;s output") || page.contains("the gateway's output"));
    }

    #[test]
    fn the_page_needs_no_network() {
        let page = render(&[result(Verdict::Pass, Vec::new())], &meta());
        for remote in ["<link", "src=\"http", "@import", "url("] {
            assert!(!page.contains(remote), "{remote}");
        }
    }
}
