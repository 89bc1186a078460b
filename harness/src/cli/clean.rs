//! `tbgw clean --target remote --rest URL`: removes what runs killed before their own
//! clean-up (a second Ctrl-C, SIGKILL, a lost machine) left on a ThingsBoard: every device
//! whose name carries a run prefix (`tbgw-xxxxxx-NNNN-…`), of one run with `--run`.

use std::process::ExitCode;

use clap::Args;
use regex::Regex;
use serde_json::Value;

use super::run::usage;
use crate::scenario::model::{Method, User};
use crate::target::TargetKind;
use crate::target::rest::{Credentials, RestClient, demo_users, encode, entity_id};
use crate::{errln, exit, outln};

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Where the leftovers are: only a remote ThingsBoard keeps them (the embedded emulator
    /// and containers end with their run).
    #[arg(long, value_enum, default_value = "remote")]
    target: TargetKind,
    /// ThingsBoard's base URL with its scheme, e.g. http://localhost:8080.
    #[arg(long, value_name = "URL")]
    rest: String,
    /// The tenant administrator [default: tenant@thingsboard.org].
    #[arg(long, value_name = "USER")]
    username: Option<String>,
    /// The tenant administrator's password [default: tenant].
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    /// Only what this run created: its prefix as printed, e.g. tbgw-3f9a1c [default: every
    /// run's].
    #[arg(long, value_name = "PREFIX")]
    run: Option<String>,
    /// List what would be removed, remove nothing.
    #[arg(long)]
    dry_run: bool,
}

/// The names runs give what they create: `tbgw-` six hex digits, `-`, the case's slot.
fn run_names(run: Option<&str>) -> Result<Regex, String> {
    let run = match run {
        Some(r) if Regex::new("^tbgw-[0-9a-f]{6}$").is_ok_and(|re| re.is_match(r)) => {
            regex::escape(r)
        }
        Some(r) => {
            return Err(format!(
                "--run takes a run prefix as tbgw prints it, e.g. tbgw-3f9a1c; got {r:?}"
            ));
        }
        None => "tbgw-[0-9a-f]{6}".to_owned(),
    };
    // A case's slot (`-0042`), or `tbgw load`'s devices (`-load-g3-d7`).
    Regex::new(&format!("^{run}-([0-9]{{4}}|load)(-|$)")).map_err(|e| e.to_string())
}

pub fn run(args: CleanArgs) -> ExitCode {
    if args.target != TargetKind::Remote {
        return usage(
            "clean",
            &format!(
                "--target {} leaves nothing behind (it ends with its run); clean takes --target remote",
                args.target.as_str()
            ),
        );
    }
    if !args.rest.contains("://") {
        return usage(
            "clean",
            &format!("--rest needs the scheme: http://{}", args.rest),
        );
    }
    let names = match run_names(args.run.as_deref()) {
        Ok(names) => names,
        Err(e) => return usage("clean", &e),
    };
    let mut users = demo_users();
    if args.username.is_some() || args.password.is_some() {
        let default = &users[&User::Tenant];
        let tenant = Credentials {
            username: args.username.clone().unwrap_or(default.username.clone()),
            password: args.password.clone().unwrap_or(default.password.clone()),
        };
        users.insert(User::Tenant, tenant);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            errln!("tbgw clean: cannot start the async runtime: {error}");
            return exit::code(exit::TARGET_FAILED);
        }
    };
    runtime.block_on(async {
        match clean(&args, &names, users).await {
            Ok(()) => exit::code(exit::OK),
            Err(e) => {
                errln!("tbgw clean: {e}");
                exit::code(exit::TARGET_FAILED)
            }
        }
    })
}

async fn clean(
    args: &CleanArgs,
    names: &Regex,
    users: std::collections::HashMap<User, Credentials>,
) -> Result<(), String> {
    let rest = RestClient::new(&args.rest, users)?;
    let search = args.run.as_deref().unwrap_or("tbgw-");
    let mut found = Vec::new();
    for page in 0.. {
        let path = format!(
            "/api/tenant/devices?pageSize=1000&page={page}&textSearch={}",
            encode(search)
        );
        let reply = rest.call(User::Tenant, Method::Get, &path, None).await?;
        let body = reply
            .json
            .as_ref()
            .filter(|_| reply.status == 200)
            .ok_or_else(|| format!("GET {path} -> {}", reply.summary()))?;
        for device in body
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = device.get("name").and_then(Value::as_str).unwrap_or("");
            if names.is_match(name)
                && let Some(id) = entity_id(device)
            {
                found.push((name.to_owned(), id.to_owned()));
            }
        }
        if body.get("hasNext").and_then(Value::as_bool) != Some(true) {
            break;
        }
    }
    let mut failed = 0;
    for (name, id) in &found {
        if args.dry_run {
            outln!("would remove device {name} ({id})");
            continue;
        }
        let path = format!("/api/device/{id}");
        let reply = rest.call(User::Tenant, Method::Delete, &path, None).await?;
        if reply.status == 200 {
            outln!("removed device {name}");
        } else {
            failed += 1;
            errln!(
                "cannot remove device {name}: DELETE {path} -> {}",
                reply.summary()
            );
        }
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    outln!(
        "tbgw clean: {verb} {} device(s) of {} at {}",
        found.len() - failed,
        args.run
            .as_deref()
            .map_or("every tbgw run".to_owned(), |r| format!("run {r}")),
        rest.base()
    );
    if failed > 0 {
        return Err(format!("{failed} device(s) could not be removed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_with_a_run_prefix_match() {
        let all = run_names(None).unwrap();
        assert!(all.is_match("tbgw-3f9a1c-0007-gw"));
        assert!(all.is_match("tbgw-3f9a1c-0007"));
        assert!(!all.is_match("tbgw-gateway-under-test"));
        assert!(!all.is_match("my-tbgw-3f9a1c-0007-gw"));
        let one = run_names(Some("tbgw-3f9a1c")).unwrap();
        assert!(one.is_match("tbgw-3f9a1c-0012-A"));
        assert!(!one.is_match("tbgw-000000-0012-A"));
        assert!(run_names(Some("3f9a1c")).is_err());
    }

    #[test]
    fn the_devices_of_a_load_run_match_its_prefix() {
        let one = run_names(Some("tbgw-3f9a1c")).unwrap_or_else(|e| panic!("{e}"));
        assert!(one.is_match("tbgw-3f9a1c-load-g3-d7"));
        assert!(one.is_match("tbgw-3f9a1c-load-g3"));
        assert!(!one.is_match("tbgw-3f9a1c-loader"));
    }
}
