//! Where the gateway under test must connect: substituted into its command line and set in
//! its environment.

/// The emulator's MQTT address and the gateway device's access token.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub token: String,
}

impl Endpoint {
    /// `{host}`, `{port}` and `{token}` replaced in a command line.
    pub fn substitute(&self, command: &str) -> String {
        command
            .replace("{host}", &self.host)
            .replace("{port}", &self.port.to_string())
            .replace("{token}", &self.token)
    }

    /// `TB_GW_HOST`, `TB_GW_PORT` and `TB_GW_ACCESS_TOKEN`.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TB_GW_HOST", self.host.clone()),
            ("TB_GW_PORT", self.port.to_string()),
            ("TB_GW_ACCESS_TOKEN", self.token.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_substituted_everywhere() {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: 41883,
            token: "T0K".into(),
        };
        assert_eq!(
            endpoint.substitute("gw --host {host} --port {port} -u {token} # {port}"),
            "gw --host 127.0.0.1 --port 41883 -u T0K # 41883"
        );
    }
}
