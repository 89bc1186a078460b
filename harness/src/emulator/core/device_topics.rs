//! The device API's topics in both of ThingsBoard's forms (`MqttTopics`): `v1/devices/me/…`
//! and the short `v2/…`, whose `/j` variants force JSON and `/p` variants protobuf. What a
//! device publishes is read from its topic here, and where the server answers; which filter
//! a device subscribed to last decides where its attribute updates and RPC requests go
//! (`MqttTransportHandler`'s `attrSubTopicType` / `rpcSubTopicType`, §11.2). Protobuf
//! payloads are not modelled: a `/p` topic is recognised, and nothing is delivered on it.

/// What a device publishes, by topic.
#[derive(Debug, PartialEq, Eq)]
pub enum DevicePublish {
    Telemetry,
    Attributes,
    Claim,
    /// An attribute request, answered on `response`.
    AttributeRequest {
        response: String,
    },
    /// A client-side RPC request, answered on `response`.
    RpcRequest {
        response: String,
    },
    /// The reply to a server-side RPC with this id.
    RpcResponse {
        id: String,
    },
    /// A `/p` (protobuf) topic, which the emulator does not model.
    Protobuf,
    Unknown,
}

/// (request prefix, response prefix) of the numbered topics; `/j/` before the plain form,
/// whose prefix it shares.
const ATTRIBUTE_REQUESTS: [(&str, &str); 3] = [
    (
        "v1/devices/me/attributes/request/",
        "v1/devices/me/attributes/response/",
    ),
    ("v2/a/req/j/", "v2/a/res/j/"),
    ("v2/a/req/", "v2/a/res/"),
];
const RPC_REQUESTS: [(&str, &str); 3] = [
    ("v1/devices/me/rpc/request/", "v1/devices/me/rpc/response/"),
    ("v2/r/req/j/", "v2/r/res/j/"),
    ("v2/r/req/", "v2/r/res/"),
];
const RPC_RESPONSES: [&str; 3] = ["v1/devices/me/rpc/response/", "v2/r/res/j/", "v2/r/res/"];
const PROTOBUF: [&str; 5] = [
    "v2/t/p",
    "v2/a/p",
    "v2/a/req/p/",
    "v2/r/req/p/",
    "v2/r/res/p/",
];

pub fn classify(topic: &str) -> DevicePublish {
    match topic {
        "v1/devices/me/telemetry" | "v2/t" | "v2/t/j" => return DevicePublish::Telemetry,
        "v1/devices/me/attributes" | "v2/a" | "v2/a/j" => return DevicePublish::Attributes,
        "v1/devices/me/claim" => return DevicePublish::Claim,
        _ => {}
    }
    if PROTOBUF
        .iter()
        .any(|p| topic == *p || (p.ends_with('/') && topic.starts_with(p)))
    {
        return DevicePublish::Protobuf;
    }
    let numbered = |pairs: &[(&str, &'static str)]| {
        pairs.iter().find_map(|(request, response)| {
            topic
                .strip_prefix(request)
                .map(|id| format!("{response}{id}"))
        })
    };
    if let Some(response) = numbered(&ATTRIBUTE_REQUESTS) {
        return DevicePublish::AttributeRequest { response };
    }
    if let Some(response) = numbered(&RPC_REQUESTS) {
        return DevicePublish::RpcRequest { response };
    }
    RPC_RESPONSES
        .iter()
        .find_map(|prefix| topic.strip_prefix(prefix))
        .map_or(DevicePublish::Unknown, |id| DevicePublish::RpcResponse {
            id: id.to_owned(),
        })
}

/// What a subscription decides the delivery of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Attribute updates, published on this topic.
    Attributes(&'static str),
    /// RPC requests, published on this prefix and the request's id.
    Rpc(&'static str),
}

/// The delivery a device-API filter sets, if it sets one.
pub fn delivery_of(filter: &str) -> Option<Delivery> {
    Some(match filter {
        "v1/devices/me/attributes" => Delivery::Attributes("v1/devices/me/attributes"),
        "v2/a" => Delivery::Attributes("v2/a"),
        "v2/a/j" => Delivery::Attributes("v2/a/j"),
        "v2/a/p" => Delivery::Attributes("v2/a/p"),
        "v1/devices/me/rpc/request/+" => Delivery::Rpc("v1/devices/me/rpc/request/"),
        "v2/r/req/+" => Delivery::Rpc("v2/r/req/"),
        "v2/r/req/j/+" => Delivery::Rpc("v2/r/req/j/"),
        "v2/r/req/p/+" => Delivery::Rpc("v2/r/req/p/"),
        _ => return None,
    })
}

/// Whether a delivery topic carries protobuf, which the emulator does not send.
pub fn is_protobuf(topic: &str) -> bool {
    topic.ends_with("/p") || topic.ends_with("/p/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_topics_are_read_alike_and_answered_on_their_own_form() {
        assert_eq!(classify("v2/t"), DevicePublish::Telemetry);
        assert_eq!(classify("v2/a/j"), DevicePublish::Attributes);
        assert_eq!(
            classify("v2/a/req/7"),
            DevicePublish::AttributeRequest {
                response: "v2/a/res/7".into()
            }
        );
        assert_eq!(
            classify("v2/a/req/j/7"),
            DevicePublish::AttributeRequest {
                response: "v2/a/res/j/7".into()
            }
        );
        assert_eq!(
            classify("v1/devices/me/rpc/request/3"),
            DevicePublish::RpcRequest {
                response: "v1/devices/me/rpc/response/3".into()
            }
        );
        assert_eq!(
            classify("v2/r/res/j/4"),
            DevicePublish::RpcResponse { id: "4".into() }
        );
        assert_eq!(classify("v2/t/p"), DevicePublish::Protobuf);
        assert_eq!(classify("v2/r/req/p/1"), DevicePublish::Protobuf);
        assert_eq!(classify("v2/claim"), DevicePublish::Unknown);
        assert_eq!(classify("v1/devices/me/claim"), DevicePublish::Claim);
    }

    #[test]
    fn each_delivery_filter_names_its_topic() {
        assert_eq!(delivery_of("v2/r/req/+"), Some(Delivery::Rpc("v2/r/req/")));
        assert_eq!(delivery_of("v2/a"), Some(Delivery::Attributes("v2/a")));
        assert_eq!(delivery_of("v2/a/res/+"), None);
        assert!(is_protobuf("v2/a/p") && is_protobuf("v2/r/req/p/"));
        assert!(!is_protobuf("v2/r/req/j/"));
    }
}
