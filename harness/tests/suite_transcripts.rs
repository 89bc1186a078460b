//! The platform suite against the embedded emulator: every case must pass (or be a listed
//! deviation), and each case's normalized exchange is an insta snapshot under
//! `snapshots/transcripts/`, so any change of behaviour is a reviewable diff.

use std::path::Path;
use std::sync::Arc;

use tbgw_harness::report::{failure_text, normalize};
use tbgw_harness::scenario::load;
use tbgw_harness::scenario::outcome::{Verdict, now_unix_ms};
use tbgw_harness::scenario::runner::{self, RunOptions};
use tbgw_harness::target::{Platform, TargetKind, TargetOptions};

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_suite_passes_on_the_emulator_and_matches_its_transcripts() {
    let suite = load::load(&[repo("scenarios/platform"), repo("scenarios/deviations")])
        .unwrap_or_else(|errors| panic!("the suite does not load: {errors:?}"));
    assert!(
        suite.cases.len() >= 60,
        "the suite has {} cases",
        suite.cases.len()
    );
    assert!(
        runner::stale_deviations(&suite).is_empty(),
        "a stale deviation entry"
    );
    let planned = runner::plan(&suite, None, None);
    let platform = Platform::start(TargetKind::Embedded, &TargetOptions::default())
        .await
        .expect("the emulator starts");
    let options = RunOptions {
        timeout_multiplier: 1.0,
        jobs: 8,
        profile: None,
        run_id: runner::new_run_id(),
        interrupt: tbgw_harness::process::interrupt::Interrupt::never(),
        timer_cases: runner::TimerCases::for_target(TargetKind::Embedded, false, &suite, &planned)
            .await
            .expect("the timers' emulator starts"),
    };
    let results = runner::run(
        Arc::new(suite),
        planned,
        Arc::new(platform),
        options,
        |_, _| {},
    )
    .await;
    let bad: Vec<String> = results
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::Pass | Verdict::Xfail))
        .map(|r| {
            format!(
                "{} {}\n{}",
                r.verdict.as_str(),
                r.name(),
                failure_text(r, 20)
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "cases that do not pass:\n{}",
        bad.join("\n")
    );

    // Ids and server times differ from run to run; fixed timestamps written in scenarios stay.
    let now_ms = now_unix_ms();
    for result in &results {
        let mut text = format!(
            "{} under MQTT {} ({} profile): {}\n",
            result.id,
            result.mqtt,
            result.profile,
            result.verdict.as_str()
        );
        for line in &result.transcript {
            text.push_str(&normalize::line(line, now_ms));
            text.push('\n');
        }
        let name = format!("{}@{}", result.id.replace('/', "__"), result.mqtt);
        insta::with_settings!({
            snapshot_path => repo("snapshots/transcripts"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, text);
        });
    }
}
