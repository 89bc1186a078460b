//! What a case's `refs` point at, as links a user can open: the public gateway API doc's
//! section, ThingsBoard's source at the release the suites model, or the PyPI release of a
//! peer gateway. (`tb §…` and `peers §…` name sections of this project's research notes,
//! which are not published; the link goes to what those sections are about.)

/// The public doc of the gateway MQTT API.
const DOC: &str = "https://thingsboard.io/docs/reference/gateway-mqtt-api/";
/// ThingsBoard's source at the release tag the suites model.
const SOURCE: &str = "https://github.com/thingsboard/thingsboard/blob/v4.3.1.3/";

const TRANSPORT: &str =
    "common/transport/mqtt/src/main/java/org/thingsboard/server/transport/mqtt/";

/// The source file each section of the behaviour notes is about, by section prefix (the
/// longest prefix that matches wins).
const SECTIONS: &[(&str, &str)] = &[
    ("0", "MqttTransportHandler.java"),
    ("1", "session/AbstractGatewaySessionHandler.java"),
    ("2", "adaptors/ProtoMqttAdaptor.java"),
    ("3", "MqttTransportHandler.java"),
    ("3.2", "session/AbstractGatewaySessionHandler.java"),
    (
        "4",
        "!application/src/main/java/org/thingsboard/server/service/transport/DefaultTransportApiService.java",
    ),
    (
        "5",
        "!application/src/main/java/org/thingsboard/server/actors/device/DeviceActorMessageProcessor.java",
    ),
    ("6", "session/AbstractGatewaySessionHandler.java"),
    (
        "7",
        "!application/src/main/java/org/thingsboard/server/controller/DeviceController.java",
    ),
    ("11", "session/AbstractGatewaySessionHandler.java"),
];

/// A link for one reference, when there is one.
pub fn link(reference: &str) -> Option<String> {
    let reference = reference.trim();
    if let Some(section) = reference.strip_prefix("doc:") {
        // `doc: Telemetry upload API (Example)` → the section's anchor.
        let title = section.split('(').next().unwrap_or(section).trim();
        return (!title.is_empty()).then(|| format!("{DOC}#{}", anchor(title)));
    }
    if let Some(section) = reference.strip_prefix("tb §") {
        let number: String = section
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let number = number.trim_end_matches('.');
        let file = SECTIONS
            .iter()
            .filter(|(prefix, _)| number == *prefix || number.starts_with(&format!("{prefix}.")))
            .max_by_key(|(prefix, _)| prefix.len())?
            .1;
        return Some(match file.strip_prefix('!') {
            Some(path) => format!("{SOURCE}{path}"),
            None => format!("{SOURCE}{TRANSPORT}{file}"),
        });
    }
    if let Some(section) = reference.strip_prefix("peers §") {
        return match section.split('.').next() {
            Some("1") => Some("https://pypi.org/project/tb-mqtt-client/1.13.14/".to_owned()),
            Some("2") => Some("https://pypi.org/project/thingsboard-gateway/3.8.5/".to_owned()),
            _ => None,
        };
    }
    None
}

/// The doc site's heading anchor: lower case, words joined by `-`.
fn anchor(title: &str) -> String {
    title
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || *c == '-')
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
}

/// `tb §1.3 (https://…)` for every reference that has a link.
pub fn with_links(refs: &[String]) -> Vec<String> {
    refs.iter()
        .map(|r| match link(r) {
            Some(url) => format!("{r} <{url}>"),
            None => r.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_references_link_to_the_section_anchor() {
        assert_eq!(
            link("doc: Telemetry upload API (Example)").as_deref(),
            Some("https://thingsboard.io/docs/reference/gateway-mqtt-api/#telemetry-upload-api")
        );
        assert_eq!(
            link("doc: Request attribute values from ThingsBoard").as_deref(),
            Some(
                "https://thingsboard.io/docs/reference/gateway-mqtt-api/#request-attribute-values-from-thingsboard"
            )
        );
    }

    #[test]
    fn behaviour_sections_link_to_the_source_at_the_release_tag() {
        let telemetry = link("tb §1.3").expect("a link");
        assert!(telemetry.starts_with("https://github.com/thingsboard/thingsboard/blob/v4.3.1.3/"));
        assert!(telemetry.ends_with("session/AbstractGatewaySessionHandler.java"));
        assert!(
            link("tb §3.3")
                .expect("a link")
                .ends_with("/MqttTransportHandler.java")
        );
        assert!(
            link("tb §3.2")
                .expect("a link")
                .ends_with("AbstractGatewaySessionHandler.java")
        );
        assert!(
            link("tb §4")
                .expect("a link")
                .ends_with("DefaultTransportApiService.java")
        );
        assert_eq!(link("tb §9"), None);
        assert_eq!(link("check-gateway"), None);
    }
}
