//! `tbgw run --target container` on this machine's Docker engine: the whole platform suite
//! through the emulator's image (same verdicts and transcripts as in-process), the ThingsBoard
//! preset when its image is present, and what a user sees without an engine or an image.
//!
//! Without an engine (or without the emulator image) these tests print `SKIP: …` and pass;
//! `TBGW_REQUIRE_DOCKER=1` (set by .ci/run) makes that a failure instead.
//! `TBGW_REQUIRE_THINGSBOARD=1` does the same for the ThingsBoard image.

use std::io::Write;
use std::path::Path;

use regex::Regex;
use serde_json::Value;
use testcontainers::bollard::Docker;

const EMULATOR_IMAGE: &str = concat!("tbgw-emulator:", env!("CARGO_PKG_VERSION"));
const THINGSBOARD_IMAGE: &str = "thingsboard/tb-postgres:latest";

#[path = "support/cli.rs"]
mod cli;
use cli::{Ran, tbgw_env as tbgw, temp_dir};

/// Written past libtest's capture, so that a skip shows in every log.
fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP: {test}: {why}");
}

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// The local engine, or `None` after a SKIP line (a failure when Docker is required).
async fn engine_or_skip(test: &str) -> Option<Docker> {
    let reached = match Docker::connect_with_defaults() {
        Ok(docker) => docker
            .ping()
            .await
            .map(|_| docker)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match reached {
        Ok(docker) => Some(docker),
        Err(e) if required("TBGW_REQUIRE_DOCKER") => {
            panic!("TBGW_REQUIRE_DOCKER=1 but no Docker engine answers: {e}")
        }
        Err(e) => {
            skip(test, &format!("no Docker engine answers ({e})"));
            None
        }
    }
}

/// Whether `image` is in the local engine; a SKIP line when not (a failure when `require_var`
/// is set).
async fn image_or_skip(
    docker: &Docker,
    image: &str,
    test: &str,
    require_var: &str,
    how: &str,
) -> bool {
    match docker.inspect_image(image).await {
        Ok(_) => true,
        Err(e) if required(require_var) => {
            panic!("{require_var}=1 but the image {image} is not in the local engine ({e}); {how}")
        }
        Err(_) => {
            skip(
                test,
                &format!("the image {image} is not in the local engine; {how}"),
            );
            false
        }
    }
}

const BUILD_EMULATOR: &str = "build it with harness/docker/build-image.sh";

/// (case, MQTT version, verdict, transcript) from a JSON report, the transcript with entity
/// ids and millisecond timestamps (different in every run) redacted.
fn outcomes(report: &Path) -> Vec<(String, String, String, String)> {
    let uuid = Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
        .expect("uuid regex");
    let millis = Regex::new(r"\b1\d{12}\b").expect("ts regex");
    let text = std::fs::read_to_string(report).expect("the JSON report was written");
    let json: Value = serde_json::from_str(&text).expect("the JSON report parses");
    let mut cases: Vec<_> = json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["mqtt"].as_str().unwrap_or_default().to_owned(),
                c["verdict"].to_string(),
                millis
                    .replace_all(
                        &uuid.replace_all(&c["transcript"].to_string(), "<uuid>"),
                        "<ts>",
                    )
                    .into_owned(),
            )
        })
        .collect();
    cases.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    cases
}

/// The container id the run printed, e.g. `container tbgw-emulator:0.1.0 (a9c820471758) ready …`.
fn container_id(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("container ") && l.contains(" ready in "))
        .unwrap_or_else(|| panic!("no `container … ready in` line in:\n{stdout}"));
    let open = line.find('(').expect("(id)");
    let close = line.find(')').expect("(id)");
    line[open + 1..close].to_owned()
}

#[tokio::test]
async fn the_platform_suite_through_the_emulator_image_matches_the_in_process_run() {
    let test = "the_platform_suite_through_the_emulator_image_matches_the_in_process_run";
    let Some(docker) = engine_or_skip(test).await else {
        return;
    };
    if !image_or_skip(
        &docker,
        EMULATOR_IMAGE,
        test,
        "TBGW_REQUIRE_DOCKER",
        BUILD_EMULATOR,
    )
    .await
    {
        return;
    }
    let dir = temp_dir("suite");
    let through_container = dir.join("container.json");
    let in_process = dir.join("embedded.json");
    let Ran {
        code,
        stdout,
        stderr,
    } = tbgw(
        &[
            "run",
            "--target",
            "container",
            "--preset",
            "emulator",
            "--json",
            &through_container.display().to_string(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("container stopped and removed in"),
        "{stdout}"
    );
    let id = container_id(&stdout);
    assert!(
        docker.inspect_container(&id, None).await.is_err(),
        "container {id} is still there after the run"
    );
    let Ran {
        code,
        stdout,
        stderr,
    } = tbgw(&["run", "--json", &in_process.display().to_string()], &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    // The cases that wait for ThingsBoard's timers are SKIP on a container (they would take
    // minutes there) and run on the embedded target's own emulator: compare the rest.
    let container = outcomes(&through_container);
    let skipped: Vec<(String, String)> = container
        .iter()
        .filter(|c| c.2 == "\"SKIP\"")
        .map(|c| (c.0.clone(), c.1.clone()))
        .collect();
    assert!(
        !skipped.is_empty(),
        "the timer cases are skipped on a container"
    );
    let container: Vec<_> = container
        .into_iter()
        .filter(|c| c.2 != "\"SKIP\"")
        .collect();
    let embedded: Vec<_> = outcomes(&in_process)
        .into_iter()
        .filter(|e| !skipped.contains(&(e.0.clone(), e.1.clone())))
        .collect();
    assert!(container.len() > 100, "{} case runs", container.len());
    assert_eq!(container.len(), embedded.len());
    for (c, e) in container.iter().zip(&embedded) {
        assert_eq!((&c.0, &c.1), (&e.0, &e.1), "the same case runs");
        let stale = "(a stale image? rebuild it with harness/docker/build-image.sh)";
        assert_eq!(c.2, e.2, "verdict of {} [{}] {stale}", c.0, c.1);
        assert_eq!(c.3, e.3, "transcript of {} [{}] {stale}", c.0, c.1);
    }
}

#[tokio::test]
async fn a_container_that_never_gets_ready_is_exit_3_with_its_last_output() {
    let test = "a_container_that_never_gets_ready_is_exit_3_with_its_last_output";
    let Some(docker) = engine_or_skip(test).await else {
        return;
    };
    if !image_or_skip(
        &docker,
        EMULATOR_IMAGE,
        test,
        "TBGW_REQUIRE_DOCKER",
        BUILD_EMULATOR,
    )
    .await
    {
        return;
    }
    // The emulator under the ThingsBoard preset: REST is looked for on 9090, where nothing
    // listens, so the REST login never succeeds.
    let Ran {
        code,
        stdout,
        stderr,
    } = tbgw(
        &[
            "run",
            "--target",
            "container",
            "--image",
            EMULATOR_IMAGE,
            "--ready-timeout",
            "3",
        ],
        &[],
    );
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "container {EMULATOR_IMAGE} was not ready within 3 s"
        )) && stderr.contains("raise --ready-timeout")
            && stderr.contains("| tbgw serve: ready"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_thingsboard_preset_runs_the_suite_when_its_image_is_present() {
    let test = "the_thingsboard_preset_runs_the_suite_when_its_image_is_present";
    let Some(docker) = engine_or_skip(test).await else {
        return;
    };
    let how = "no registry is reachable here: `docker load` it (or pull it where a registry is) \
               to run this test";
    if !image_or_skip(
        &docker,
        THINGSBOARD_IMAGE,
        test,
        "TBGW_REQUIRE_THINGSBOARD",
        how,
    )
    .await
    {
        return;
    }
    let dir = temp_dir("thingsboard");
    let report = dir.join("report.json");
    let Ran {
        code,
        stdout,
        stderr,
    } = tbgw(
        &[
            "run",
            "--target",
            "container",
            "--timeout-multiplier",
            "3",
            "--jobs",
            "4",
            "--json",
            &report.display().to_string(),
        ],
        &[],
    );
    // ThingsBoard's verdicts are what this run is for; the harness itself must not break.
    assert!(matches!(code, 0 | 1 | 4), "exit {code}\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("container thingsboard/tb-postgres:latest ("),
        "{stdout}"
    );
    let id = container_id(&stdout);
    assert!(
        docker.inspect_container(&id, None).await.is_err(),
        "container {id} left behind"
    );
    let cases = outcomes(&report);
    assert!(cases.len() > 100, "{} case runs", cases.len());
    assert!(
        cases.iter().all(|c| c.2 != "\"ERROR\""),
        "no case may end in ERROR against ThingsBoard:\n{stdout}"
    );
}

#[test]
fn without_an_engine_the_run_is_exit_3_naming_the_socket() {
    let socket = "/nonexistent/tbgw-test-docker.sock";
    let Ran {
        code,
        stdout,
        stderr,
    } = tbgw(
        &["run", "--target", "container", "--preset", "emulator"],
        &[("DOCKER_HOST", &format!("unix://{socket}"))],
    );
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("no Docker engine at unix://{socket}"))
            && stderr.contains("--target embedded"),
        "{stderr}"
    );
}

#[test]
fn container_options_with_another_target_are_a_usage_error() {
    let Ran { code, stderr, .. } = tbgw(&["run", "--image", "x", "--ready-timeout", "5"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "--image belongs to --target container; --ready-timeout belongs to --target container"
        ),
        "{stderr}"
    );
}
