//! ThingsBoard's own configuration (`thingsboard.yml`) that changes what a gateway meets,
//! read from the environment variables ThingsBoard reads, with its defaults
//! (`reference/thingsboard-behavior.md` §11.3). A compose file written for
//! `thingsboard/tb-postgres` configures the emulator unchanged.

use std::fmt::Write as _;

/// One setting: its environment variable, its `thingsboard.yml` key, what it does.
struct Variable {
    env: &'static str,
    key: &'static str,
    unit: &'static str,
    what: &'static str,
    /// ThingsBoard's unit in the field's (1000 for seconds held as milliseconds).
    scale: i64,
    field: fn(&mut Settings) -> &mut i64,
}

const VARIABLES: [Variable; 13] = [
    Variable {
        env: "TB_TRANSPORT_SESSIONS_INACTIVITY_TIMEOUT",
        key: "transport.sessions.inactivity_timeout",
        unit: "ms",
        what: "a session (a gateway's sub-devices each on their own) without activity this long expires",
        scale: 1,
        field: |s| &mut s.session_inactivity_timeout_ms,
    },
    Variable {
        env: "TB_TRANSPORT_SESSIONS_REPORT_TIMEOUT",
        key: "transport.sessions.report_timeout",
        unit: "ms",
        what: "how often session expiry is checked",
        scale: 1,
        field: |s| &mut s.session_report_timeout_ms,
    },
    Variable {
        env: "DEFAULT_INACTIVITY_TIMEOUT",
        key: "state.defaultInactivityTimeoutInSec",
        unit: "s",
        what: "a device without activity this long turns `active` false",
        scale: 1000,
        field: |s| &mut s.device_inactivity_timeout_ms,
    },
    Variable {
        env: "DEFAULT_STATE_CHECK_INTERVAL",
        key: "state.defaultStateCheckIntervalInSec",
        unit: "s",
        what: "how often `active` is recomputed",
        scale: 1000,
        field: |s| &mut s.state_check_interval_ms,
    },
    Variable {
        env: "NETTY_MAX_PAYLOAD_SIZE",
        key: "transport.mqtt.netty.max_payload_size",
        unit: "bytes",
        what: "the largest MQTT packet accepted",
        scale: 1,
        field: |s| &mut s.max_payload_size,
    },
    Variable {
        env: "MQTT_MSG_QUEUE_SIZE_PER_DEVICE_LIMIT",
        key: "transport.mqtt.msg_queue_size_per_device_limit",
        unit: "packets",
        what: "packets held before the CONNECT is accepted",
        scale: 1,
        field: |s| &mut s.queue_size_before_connect,
    },
    Variable {
        env: "CLIENT_SIDE_RPC_TIMEOUT",
        key: "transport.client_side_rpc.timeout",
        unit: "ms",
        what: "a device's own RPC request unanswered this long gets {\"error\":\"timeout\"}",
        scale: 1,
        field: |s| &mut s.client_side_rpc_timeout_ms,
    },
    Variable {
        env: "MIN_SERVER_SIDE_RPC_TIMEOUT",
        key: "server.rest.server_side_rpc.min_timeout",
        unit: "ms",
        what: "the shortest timeout a REST RPC call may ask for",
        scale: 1,
        field: |s| &mut s.min_server_side_rpc_timeout_ms,
    },
    Variable {
        env: "DEFAULT_SERVER_SIDE_RPC_TIMEOUT",
        key: "server.rest.server_side_rpc.default_timeout",
        unit: "ms",
        what: "the timeout of a REST RPC call that names none",
        scale: 1,
        field: |s| &mut s.default_server_side_rpc_timeout_ms,
    },
    Variable {
        env: "TB_QUEUE_TRANSPORT_MAX_REQUEST_TIMEOUT",
        key: "queue.transport_api.max_requests_timeout",
        unit: "ms",
        what: "a device name or type that fails validation is answered when the transport gives up on its request, at the next clean-up after this long (10-20 s by default)",
        scale: 1,
        field: |s| &mut s.transport_api_request_timeout_ms,
    },
    Variable {
        env: "MQTT_TIMEOUT",
        key: "transport.mqtt.timeout",
        unit: "ms",
        what: "a direct device that does not PUBACK a persistent RPC this long makes it TIMEOUT",
        scale: 1,
        field: |s| &mut s.mqtt_ack_timeout_ms,
    },
    Variable {
        env: "ACTORS_RPC_MAX_RETRIES",
        key: "actors.rpc.max_retries",
        unit: "retries",
        what: "the most TIMEOUTs a persistent RPC may have before it is FAILED",
        scale: 1,
        field: |s| &mut s.rpc_max_retries,
    },
    Variable {
        env: "SECURITY_CLAIM_DURATION",
        key: "security.claim.duration",
        unit: "ms",
        what: "how long a device stays claimable when it names no duration",
        scale: 1,
        field: |s| &mut s.claim_duration_ms,
    },
];

/// The settings, in ThingsBoard's units converted to milliseconds and counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub session_inactivity_timeout_ms: i64,
    pub session_report_timeout_ms: i64,
    pub device_inactivity_timeout_ms: i64,
    pub state_check_interval_ms: i64,
    pub max_payload_size: i64,
    pub queue_size_before_connect: i64,
    pub client_side_rpc_timeout_ms: i64,
    pub min_server_side_rpc_timeout_ms: i64,
    pub default_server_side_rpc_timeout_ms: i64,
    pub claim_duration_ms: i64,
    pub transport_api_request_timeout_ms: i64,
    pub mqtt_ack_timeout_ms: i64,
    pub rpc_max_retries: i64,
}

impl Default for Settings {
    /// ThingsBoard 4.3's defaults.
    fn default() -> Settings {
        Settings {
            session_inactivity_timeout_ms: 600_000,
            session_report_timeout_ms: 3_000,
            device_inactivity_timeout_ms: 600_000,
            state_check_interval_ms: 60_000,
            max_payload_size: 65_536,
            queue_size_before_connect: 100,
            client_side_rpc_timeout_ms: 60_000,
            min_server_side_rpc_timeout_ms: 5_000,
            default_server_side_rpc_timeout_ms: 10_000,
            claim_duration_ms: 86_400_000,
            transport_api_request_timeout_ms: 10_000,
            mqtt_ack_timeout_ms: 10_000,
            rpc_max_retries: 5,
        }
    }
}

/// What the suite's own emulator targets (embedded, the emulator's image) set, through
/// ThingsBoard's variables: its validation failures come 10–20 s late (§11.1 C3), which the
/// cases allow for a real server but which would only slow a run against the emulator.
pub const FOR_SUITE_RUNS: [(&str, &str); 1] = [("TB_QUEUE_TRANSPORT_MAX_REQUEST_TIMEOUT", "100")];

/// The emulator that runs the cases marked `timers: true` on the embedded target: the same
/// variables, seconds instead of minutes.
pub const FOR_TIMER_CASES: [(&str, &str); 6] = [
    ("TB_TRANSPORT_SESSIONS_INACTIVITY_TIMEOUT", "3000"),
    ("TB_TRANSPORT_SESSIONS_REPORT_TIMEOUT", "100"),
    ("DEFAULT_INACTIVITY_TIMEOUT", "1"),
    ("DEFAULT_STATE_CHECK_INTERVAL", "1"),
    ("CLIENT_SIDE_RPC_TIMEOUT", "1000"),
    ("TB_QUEUE_TRANSPORT_MAX_REQUEST_TIMEOUT", "100"),
];

impl Settings {
    /// ThingsBoard's defaults with these variables applied.
    pub fn with(variables: &[(&str, &str)]) -> Settings {
        let lookup = |name: &str| {
            variables
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        Settings::from_env(lookup).unwrap_or_default()
    }

    /// ThingsBoard's defaults with [`FOR_SUITE_RUNS`] applied.
    pub fn for_suite_runs() -> Settings {
        Settings::with(&FOR_SUITE_RUNS)
    }

    /// The defaults, overridden by every variable `lookup` finds. A value that is not a
    /// positive whole number is an error naming the variable.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut settings = Settings::default();
        for variable in &VARIABLES {
            let Some(text) = lookup(variable.env) else {
                continue;
            };
            let value = text
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| {
                    format!(
                        "{}={text:?}: expected a positive whole number of {} ({})",
                        variable.env, variable.unit, variable.key
                    )
                })?;
            *(variable.field)(&mut settings) = i64::from(value) * variable.scale;
        }
        Ok(settings)
    }

    /// The names of the environment variables read, in the order of `--help`.
    pub fn variable_names() -> impl Iterator<Item = &'static str> {
        VARIABLES.iter().map(|v| v.env)
    }

    /// How often the emulator's timers run: the finest of ThingsBoard's check intervals.
    pub fn tick_interval_ms(&self) -> i64 {
        self.session_report_timeout_ms
            .min(self.state_check_interval_ms)
            .min(self.transport_api_request_timeout_ms)
            .max(1)
    }

    /// The table for `tbgw serve --help`.
    pub fn help() -> String {
        let mut defaults = Settings::default();
        let mut text = String::from(
            "ThingsBoard's environment variables (same names, units and defaults as ThingsBoard 4.3):\n",
        );
        for variable in &VARIABLES {
            let _ = writeln!(
                text,
                "  {:<42} {} {} ({}): {}",
                variable.env,
                *(variable.field)(&mut defaults) / variable.scale,
                variable.unit,
                variable.key,
                variable.what
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thingsboards_variables_override_its_defaults_in_its_units() {
        let env = |name: &str| match name {
            "DEFAULT_INACTIVITY_TIMEOUT" => Some("30".to_owned()),
            "TB_TRANSPORT_SESSIONS_INACTIVITY_TIMEOUT" => Some(" 20000 ".to_owned()),
            _ => None,
        };
        let settings = Settings::from_env(env).expect("valid");
        assert_eq!(settings.device_inactivity_timeout_ms, 30_000);
        assert_eq!(settings.session_inactivity_timeout_ms, 20_000);
        assert_eq!(settings.client_side_rpc_timeout_ms, 60_000);
        assert_eq!(Settings::from_env(|_| None), Ok(Settings::default()));
    }

    #[test]
    fn the_suites_own_settings_parse() {
        assert_eq!(
            Settings::for_suite_runs().transport_api_request_timeout_ms,
            100
        );
        let timers = Settings::with(&FOR_TIMER_CASES);
        assert_eq!(timers.session_inactivity_timeout_ms, 3000);
        assert_eq!(timers.device_inactivity_timeout_ms, 1000);
        assert_eq!(timers.tick_interval_ms(), 100);
    }

    #[test]
    fn a_value_that_is_not_a_positive_number_names_the_variable() {
        for bad in ["ten", "0", "-5", "1.5", ""] {
            let env = |name: &str| (name == "CLIENT_SIDE_RPC_TIMEOUT").then(|| bad.to_owned());
            let error = Settings::from_env(env).expect_err(bad);
            assert!(error.starts_with("CLIENT_SIDE_RPC_TIMEOUT="), "{error}");
            assert!(
                error.contains("transport.client_side_rpc.timeout"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_help_lists_every_variable_with_its_default() {
        let help = Settings::help();
        for variable in &VARIABLES {
            assert!(help.contains(variable.env), "{}", variable.env);
        }
        assert!(help.contains("DEFAULT_INACTIVITY_TIMEOUT"));
        assert!(help.contains(" 600 s "), "{help}");
    }
}
