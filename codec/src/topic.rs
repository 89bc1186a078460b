//! The eight gateway topics and the two directions a message can travel.

use std::fmt;
use std::str::FromStr;

/// A ThingsBoard Gateway MQTT API topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Topic {
    /// `v1/gateway/connect`: a device behind the gateway is connected.
    Connect,
    /// `v1/gateway/disconnect`: a device is gone (gateway → platform), or, on MQTT 5,
    /// the platform's notice that it dropped a device (platform → gateway).
    Disconnect,
    /// `v1/gateway/telemetry`: time series for several devices.
    Telemetry,
    /// `v1/gateway/attributes`: client attributes (gateway → platform), or
    /// shared-attribute updates and deletions (platform → gateway).
    Attributes,
    /// `v1/gateway/attributes/request`: ask for client or shared attributes.
    AttributesRequest,
    /// `v1/gateway/attributes/response`: the platform's answer to an attribute request.
    AttributesResponse,
    /// `v1/gateway/rpc`: RPC requests (platform → gateway) and replies (gateway → platform).
    Rpc,
    /// `v1/gateway/claim`: start claiming devices.
    Claim,
}

impl Topic {
    /// Every topic, in the order the public doc introduces them.
    pub const ALL: [Topic; 8] = [
        Topic::Connect,
        Topic::Disconnect,
        Topic::Attributes,
        Topic::AttributesRequest,
        Topic::AttributesResponse,
        Topic::Telemetry,
        Topic::Rpc,
        Topic::Claim,
    ];

    /// The topic name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Connect => "v1/gateway/connect",
            Topic::Disconnect => "v1/gateway/disconnect",
            Topic::Telemetry => "v1/gateway/telemetry",
            Topic::Attributes => "v1/gateway/attributes",
            Topic::AttributesRequest => "v1/gateway/attributes/request",
            Topic::AttributesResponse => "v1/gateway/attributes/response",
            Topic::Rpc => "v1/gateway/rpc",
            Topic::Claim => "v1/gateway/claim",
        }
    }

    /// The topic for an exact topic name. ThingsBoard matches exact strings, so no wildcards.
    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|topic| topic.as_str() == name)
    }

    /// Whether messages on this topic can travel in `direction`.
    pub fn carries(self, direction: Direction) -> bool {
        match direction {
            Direction::GatewayToPlatform => self != Topic::AttributesResponse,
            Direction::PlatformToGateway => matches!(
                self,
                Topic::Disconnect | Topic::Attributes | Topic::AttributesResponse | Topic::Rpc
            ),
        }
    }

    /// The directions this topic carries messages in.
    pub fn directions(self) -> impl Iterator<Item = Direction> {
        Direction::ALL.into_iter().filter(move |d| self.carries(*d))
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a topic name that is not one of the eight gateway topics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownTopic(pub String);

impl fmt::Display for UnknownTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a gateway topic; expected one of: ", self.0)?;
        let names: Vec<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
        f.write_str(&names.join(", "))
    }
}

impl std::error::Error for UnknownTopic {}

impl FromStr for Topic {
    type Err = UnknownTopic;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Topic::from_name(name).ok_or_else(|| UnknownTopic(name.to_owned()))
    }
}

/// Which side sent a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Direction {
    /// Published by the gateway, parsed by ThingsBoard.
    GatewayToPlatform,
    /// Published by ThingsBoard, parsed by the gateway.
    PlatformToGateway,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::GatewayToPlatform, Direction::PlatformToGateway];
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::GatewayToPlatform => "gateway → platform",
            Direction::PlatformToGateway => "platform → gateway",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for topic in Topic::ALL {
            assert_eq!(topic.as_str().parse::<Topic>(), Ok(topic));
        }
    }

    #[test]
    fn prefix_lookalikes_are_not_topics() {
        for name in [
            "v1/gateway",
            "v1/gateway/",
            "v1/gateway/#",
            "v1/gatewayX",
            "v1/gateway/rpc/",
        ] {
            assert!(name.parse::<Topic>().is_err(), "{name}");
        }
    }

    #[test]
    fn response_topic_only_flows_to_the_gateway() {
        assert!(!Topic::AttributesResponse.carries(Direction::GatewayToPlatform));
        assert!(!Topic::Telemetry.carries(Direction::PlatformToGateway));
        assert_eq!(Topic::Rpc.directions().count(), 2);
    }
}
