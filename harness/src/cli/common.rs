//! Options shared by the commands that run cases (`run`, `check-gateway`, `clean` and the
//! commands to come), declared once so that an option means the same everywhere and no
//! command can drop one silently. Each group checks itself before anything runs: a mistake
//! is a usage error (exit 2) that says what to write instead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use globset::{Glob, GlobMatcher};

use crate::report::baseline::{self, Baseline, Compared};
use crate::scenario::model::User;
use crate::target::container::{ContainerOptions, Preset};
use crate::target::rest::Credentials;
use crate::target::{TargetKind, TargetOptions};

/// Where a report goes: a file, or standard output for `-`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportPath {
    Stdout,
    File(PathBuf),
}

impl ReportPath {
    pub fn parse(text: &str) -> Result<ReportPath, String> {
        match text {
            "" => Err("expected a file name, or - for standard output".into()),
            "-" => Ok(ReportPath::Stdout),
            path => Ok(ReportPath::File(PathBuf::from(path))),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            ReportPath::Stdout => "standard output".into(),
            ReportPath::File(path) => path.display().to_string(),
        }
    }
}

#[derive(Clone, Debug, Default, Args)]
pub struct ReportArgs {
    /// Write a JUnit XML report to FILE (- for standard output; the console report then
    /// goes to standard error).
    #[arg(long, value_name = "FILE", value_parser = ReportPath::parse)]
    pub junit: Option<ReportPath>,
    /// Write a JSON report with each case's transcript and wire log to FILE (- for
    /// standard output).
    #[arg(long, value_name = "FILE", value_parser = ReportPath::parse)]
    pub json: Option<ReportPath>,
    /// Write an HTML report to FILE (- for standard output): one self-contained page with
    /// every case's exchange as a sequence diagram, readable offline.
    #[arg(long, value_name = "FILE", value_parser = ReportPath::parse)]
    pub html: Option<ReportPath>,
}

impl ReportArgs {
    fn all(&self) -> [(&'static str, &Option<ReportPath>); 3] {
        [
            ("--junit", &self.junit),
            ("--json", &self.json),
            ("--html", &self.html),
        ]
    }

    /// Two reports cannot share standard output, and a file must be writable before an
    /// hour of cases runs.
    pub fn check(&self) -> Result<(), String> {
        let on_stdout: Vec<&str> = self
            .all()
            .iter()
            .filter(|(_, path)| **path == Some(ReportPath::Stdout))
            .map(|(flag, _)| *flag)
            .collect();
        if let [first, second, ..] = on_stdout[..] {
            return Err(format!(
                "{first} - and {second} - cannot both write to standard output; give one of them a file"
            ));
        }
        for (flag, path) in self.all() {
            if let Some(ReportPath::File(path)) = path {
                writable(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
            }
        }
        Ok(())
    }

    /// Whether a report takes standard output (the console then writes to standard error).
    pub fn uses_stdout(&self) -> bool {
        self.all()
            .iter()
            .any(|(_, path)| **path == Some(ReportPath::Stdout))
    }
}

#[derive(Clone, Debug, Default, Args)]
pub struct BaselineArgs {
    /// Compare the run with a baseline recorded earlier: a changed verdict or answer, a new
    /// or a vanished case is drift (exit 4); failures the baseline records are not. A folder
    /// of baselines (one per ThingsBoard version, say) compares with the closest and lists
    /// how far the run is from each.
    #[arg(long, value_name = "FILE|DIR")]
    pub baseline: Option<PathBuf>,
    /// Record this run as a baseline in FILE (after the comparison, when it is also the
    /// --baseline).
    #[arg(long, value_name = "FILE")]
    pub update_baseline: Option<PathBuf>,
}

impl BaselineArgs {
    /// The baseline to compare with, read before anything runs; the recording's file must
    /// be writable.
    pub fn load(&self, tool: &str) -> Result<Vec<(String, Baseline)>, String> {
        if let Some(path) = &self.update_baseline {
            writable(path).map_err(|e| format!("--update-baseline {}: {e}", path.display()))?;
        }
        match &self.baseline {
            Some(path) => baseline::read_all(path, tool),
            None => Ok(Vec::new()),
        }
    }

    /// After the run of `tbgw {command}`: compares with the baselines read by
    /// [`BaselineArgs::load`] (cases `selected` by id and profile were meant to run) and
    /// records the run when asked, then prints the drift. An interrupted run is neither
    /// compared nor recorded: its missing cases are not drift. The comparison, and whether
    /// the baseline could not be written (said on stderr; exit 3).
    pub fn finish(
        &self,
        command: &str,
        interrupted: bool,
        baselines: &[(String, Baseline)],
        recorded: &Baseline,
        selected: impl Fn(&str, &str) -> bool,
    ) -> (Option<Compared>, bool) {
        if interrupted {
            return (None, false);
        }
        let compared = baseline::closest(baselines, recorded, selected);
        if let Some(path) = &self.update_baseline
            && let Err(e) = baseline::write(path, recorded)
        {
            crate::errln!("tbgw {command}: {e}");
            return (None, true);
        }
        if let Some(compared) = &compared {
            crate::report::console::print_drift(compared);
        }
        (compared, false)
    }
}

/// The async runtime of a command; when it cannot start, said on stderr (exit 3).
pub fn runtime(command: &str) -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            crate::errln!("tbgw {command}: cannot start the async runtime: {error}");
            crate::exit::code(crate::exit::TARGET_FAILED)
        })
}

/// Whether `path` can be written, without truncating or leaving a file that was not there.
pub fn writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("is a folder; name a file".into());
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| format!("cannot be written: {e}"))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

#[derive(Clone, Debug, Args)]
pub struct SelectArgs {
    /// Only cases whose id matches this glob, e.g. 'telemetry/*'.
    #[arg(long, value_name = "GLOB")]
    pub filter: Option<String>,
}

impl SelectArgs {
    pub fn matcher(&self) -> Result<Option<GlobMatcher>, String> {
        self.filter
            .as_deref()
            .map(|f| {
                Glob::new(f)
                    .map(|g| g.compile_matcher())
                    .map_err(|e| format!("bad --filter {f:?}: {e}"))
            })
            .transpose()
    }
}

#[derive(Clone, Debug, Args)]
pub struct TimingArgs {
    /// Scale every deadline (a slow platform, gateway or machine: 2 or 3).
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub timeout_multiplier: f64,
}

impl TimingArgs {
    pub fn check(&self) -> Result<(), String> {
        positive(self.timeout_multiplier, "--timeout-multiplier").map(|_| ())
    }
}

/// A positive, finite number of seconds.
pub fn positive(value: f64, flag: &str) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!("{flag} must be a positive number, got {value}"))
    }
}

/// Where the platform under test lives, and as whom tbgw logs in.
#[derive(Clone, Debug, Args)]
pub struct TargetArgs {
    /// Where the platform under test lives.
    #[arg(long, value_enum, default_value = "embedded")]
    pub target: TargetKind,
    /// --target remote: ThingsBoard's MQTT transport, HOST:PORT (e.g. localhost:1883);
    /// --target mqtt (`tbgw load` only): the broker.
    #[arg(long, value_name = "HOST:PORT")]
    pub mqtt: Option<String>,
    /// --target remote: ThingsBoard's base URL with its scheme, e.g. http://localhost:8080.
    #[arg(long, value_name = "URL")]
    pub rest: Option<String>,
    /// --target remote|container: the tenant administrator [default: tenant@thingsboard.org].
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
    /// --target remote|container: the tenant administrator's password [default: tenant];
    /// applies to the default user when --username is not given.
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// --target remote|container: the customer user for claiming
    /// [default: customer@thingsboard.org=customer].
    #[arg(long, value_name = "USER=PASSWORD", value_parser = parse_user)]
    pub customer: Option<Credentials>,
    /// --target remote|container: the system administrator for the device-limit cases
    /// [default: sysadmin@thingsboard.org=sysadmin].
    #[arg(long, value_name = "USER=PASSWORD", value_parser = parse_user)]
    pub sysadmin: Option<Credentials>,
    /// --target container: which platform to start [default: thingsboard].
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// --target container: the image, NAME or NAME:TAG [default: the preset's].
    #[arg(long, value_name = "NAME[:TAG]")]
    pub image: Option<String>,
    /// --target container: the image's tag [default: the preset's].
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// --target container: an environment variable for the container (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// --target container: seconds the container may take to be ready [default: 400 for
    /// ThingsBoard, 30 for the emulator].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub ready_timeout: Option<Duration>,
}

impl TargetArgs {
    /// [`TargetArgs::check`] for the commands that need a platform: a plain broker is not one.
    pub fn check(&self) -> Result<(), String> {
        if self.target == TargetKind::Mqtt {
            return Err(
                "--target mqtt is a plain MQTT broker, not a platform: only `tbgw load` runs against it; use --target remote with --mqtt and --rest for a ThingsBoard".into(),
            );
        }
        self.check_for_load()
    }

    /// The options given that belong to another target, and the missing ones: the verdict
    /// must be about the target the user meant, so neither is ever ignored. `tbgw load`
    /// also takes a plain broker (`--target mqtt --mqtt HOST:PORT`).
    pub fn check_for_load(&self) -> Result<(), String> {
        let given = |name: &'static str, is: bool| is.then_some(name);
        let remote_only = [
            given("--mqtt", self.mqtt.is_some()),
            given("--rest", self.rest.is_some()),
        ];
        let logins = [
            given("--username", self.username.is_some()),
            given("--password", self.password.is_some()),
            given("--customer", self.customer.is_some()),
            given("--sysadmin", self.sysadmin.is_some()),
        ];
        let container_only = [
            given("--preset", self.preset.is_some()),
            given("--image", self.image.is_some()),
            given("--tag", self.tag.is_some()),
            given("--env", !self.env.is_empty()),
            given("--ready-timeout", self.ready_timeout.is_some()),
        ];
        let misplaced: Vec<&str> = match self.target {
            // A plain broker takes --mqtt (the first of remote_only) and nothing else.
            TargetKind::Embedded | TargetKind::Mqtt => {
                let skip = usize::from(self.target == TargetKind::Mqtt);
                remote_only[skip..]
                    .iter()
                    .chain(&logins)
                    .chain(&container_only)
                    .flatten()
                    .copied()
                    .collect()
            }
            TargetKind::Remote => container_only.iter().flatten().copied().collect(),
            TargetKind::Container => remote_only.iter().flatten().copied().collect(),
        };
        if !misplaced.is_empty() {
            let belongs = |flag: &str| {
                if remote_only.contains(&Some(flag)) {
                    "--target remote"
                } else if logins.contains(&Some(flag)) {
                    "--target remote or container"
                } else {
                    "--target container"
                }
            };
            let hint = misplaced
                .iter()
                .map(|f| format!("{f} belongs to {}", belongs(f)))
                .collect::<Vec<_>>()
                .join("; ");
            let target_given = if self.target == TargetKind::Embedded {
                " (the default; the emulator needs no address or login)"
            } else {
                ""
            };
            return Err(format!(
                "the target is {}{target_given}, and {hint}: add the --target you mean, or drop the option",
                self.target.as_str()
            ));
        }
        if self.target == TargetKind::Remote {
            let mqtt = self
                .mqtt
                .as_deref()
                .ok_or("--target remote needs --mqtt HOST:PORT (ThingsBoard's MQTT transport, e.g. localhost:1883)")?;
            check_host_port(mqtt)?;
            let rest = self
                .rest
                .as_deref()
                .ok_or("--target remote needs --rest URL (ThingsBoard's HTTP address, e.g. http://localhost:8080)")?;
            check_base_url(rest)?;
        }
        if self.target == TargetKind::Mqtt {
            let mqtt = self
                .mqtt
                .as_deref()
                .ok_or("--target mqtt needs --mqtt HOST:PORT (the broker, e.g. localhost:1883)")?;
            check_host_port(mqtt)?;
        }
        Ok(())
    }

    /// The users given on the command line, in place of the demo users.
    pub fn users(&self) -> HashMap<User, Credentials> {
        let mut users = HashMap::new();
        if self.username.is_some() || self.password.is_some() {
            let demo = crate::target::rest::demo_users();
            let default = demo.get(&User::Tenant);
            let username = self
                .username
                .clone()
                .or_else(|| default.map(|c| c.username.clone()))
                .unwrap_or_default();
            let password = self
                .password
                .clone()
                .or_else(|| default.map(|c| c.password.clone()))
                .unwrap_or_default();
            users.insert(User::Tenant, Credentials { username, password });
        }
        if let Some(c) = &self.customer {
            users.insert(User::Customer, c.clone());
        }
        if let Some(c) = &self.sysadmin {
            users.insert(User::Sysadmin, c.clone());
        }
        users
    }

    pub fn options(&self) -> TargetOptions {
        TargetOptions {
            mqtt: self.mqtt.clone(),
            rest: self.rest.clone(),
            users: self.users(),
            container: ContainerOptions {
                preset: self.preset.unwrap_or_default(),
                image: self.image.clone(),
                tag: self.tag.clone(),
                env: self.env.clone(),
                ready_timeout: self.ready_timeout,
            },
        }
    }
}

fn check_host_port(text: &str) -> Result<(), String> {
    if text.contains("://") {
        return Err(format!(
            "--mqtt takes HOST:PORT without a scheme, e.g. localhost:1883; got {text:?}"
        ));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(())
        }
        _ => Err(format!(
            "--mqtt takes HOST:PORT, e.g. localhost:1883 (ThingsBoard's default MQTT port is 1883); got {text:?}"
        )),
    }
}

fn check_base_url(text: &str) -> Result<(), String> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(format!(
            "--rest needs the scheme: http://{text} (or https://{text})"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "--rest must be an http:// or https:// URL; got {text:?}"
        ));
    }
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!(
            "--rest needs a host, e.g. http://localhost:8080; got {text:?}"
        ));
    }
    Ok(())
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("expected a positive number of seconds, got {text:?}"))
}

fn parse_user(text: &str) -> Result<Credentials, String> {
    match text.split_once('=') {
        Some((u, p)) if !u.is_empty() => Ok(Credentials::new(u, p)),
        _ => Err(format!("expected USERNAME=PASSWORD, got {text:?}")),
    }
}

/// A humantime duration (`90s`, `10m`, `2h`), longer than zero (`--duration`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{e}: write a duration such as 90s, 10m or 2h"))
        .and_then(|d| {
            if d.is_zero() {
                Err("the duration must be longer than 0".into())
            } else {
                Ok(d)
            }
        })
}

/// `--cmd` and `--rpc-method` of the commands that start a gateway (`check-gateway`,
/// `fuzz gateway`): a command to run, and a method that does not act on the gateway's host.
pub fn check_gateway_command(command: &str, rpc_method: &str) -> Result<(), String> {
    if command.trim().is_empty() {
        return Err("--cmd is empty: give the command that starts your gateway, e.g. --cmd \"./my-gateway --host {host} --port {port} --token {token}\"".to_owned());
    }
    if crate::gateway::steps::acts_on_the_host(rpc_method) {
        return Err(format!(
            "--rpc-method {rpc_method:?} is a gateway-level method that acts on the gateway's host; choose a device method"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        target: TargetArgs,
    }

    fn target(args: &[&str]) -> TargetArgs {
        let mut all = vec!["probe"];
        all.extend_from_slice(args);
        Probe::try_parse_from(all).unwrap().target
    }

    /// The bug: `--mqtt H:P --rest URL` without `--target remote` tested the embedded
    /// emulator and exited 0.
    #[test]
    fn remote_addresses_without_target_remote_are_a_usage_error_naming_it() {
        let error = target(&["--mqtt", "h:1883", "--rest", "http://h:8080"])
            .check()
            .unwrap_err();
        assert!(
            error.contains("--mqtt belongs to --target remote"),
            "{error}"
        );
        assert!(
            error.contains("--rest belongs to --target remote"),
            "{error}"
        );
    }

    /// The bug: `--password` without `--username` was dropped and the default password used.
    #[test]
    fn a_password_without_username_applies_to_the_default_user() {
        let args = target(&[
            "--target",
            "remote",
            "--mqtt",
            "h:1",
            "--rest",
            "http://h",
            "--password",
            "s3cret",
        ]);
        assert_eq!(args.check(), Ok(()));
        let tenant = &args.users()[&User::Tenant];
        assert_eq!(tenant.username, "tenant@thingsboard.org");
        assert_eq!(tenant.password, "s3cret");
    }

    #[test]
    fn target_remote_needs_both_addresses_and_a_scheme() {
        let no_mqtt = target(&["--target", "remote", "--rest", "http://h"]).check();
        assert!(no_mqtt.unwrap_err().contains("needs --mqtt"));
        let no_scheme = target(&["--target", "remote", "--mqtt", "h:1", "--rest", "h:8080"]);
        assert!(
            no_scheme
                .check()
                .unwrap_err()
                .contains("needs the scheme: http://h:8080")
        );
        let scheme_on_mqtt = target(&[
            "--target",
            "remote",
            "--mqtt",
            "mqtt://h:1883",
            "--rest",
            "http://h",
        ]);
        assert!(
            scheme_on_mqtt
                .check()
                .unwrap_err()
                .contains("without a scheme")
        );
    }

    #[test]
    fn container_options_belong_to_the_container_target() {
        let error = target(&[
            "--target", "remote", "--mqtt", "h:1", "--rest", "http://h", "--tag", "4.3",
        ])
        .check()
        .unwrap_err();
        assert!(
            error.contains("--tag belongs to --target container"),
            "{error}"
        );
    }

    #[test]
    fn an_unwritable_report_path_is_found_before_anything_runs() {
        let reports = ReportArgs {
            junit: Some(ReportPath::File("/nonexistent-dir/x.xml".into())),
            ..ReportArgs::default()
        };
        assert!(
            reports
                .check()
                .unwrap_err()
                .starts_with("--junit /nonexistent-dir/x.xml")
        );
        let both = ReportArgs {
            junit: Some(ReportPath::Stdout),
            html: Some(ReportPath::Stdout),
            ..ReportArgs::default()
        };
        assert_eq!(
            both.check().unwrap_err(),
            "--junit - and --html - cannot both write to standard output; give one of them a file"
        );
    }
}
