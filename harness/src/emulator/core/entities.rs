//! The entities ThingsBoard keeps for the gateway API: customers, users, device profiles,
//! devices with their access tokens, and relations.

use compact_str::CompactString;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// ThingsBoard's `EntityId.NULL_UUID`: the customer id of a device no customer owns.
pub const NULL_UUID: Uuid = Uuid::from_u128(0x13814000_1dd2_11b2_8080_808080808080);

/// The relation a gateway gets to every device it creates (`GATEWAY_CREATED_RELATION`).
pub const CREATED_RELATION: &str = "Created";

#[derive(Clone, Debug)]
pub struct Customer {
    pub id: Uuid,
    pub title: String,
    pub created_time: i64,
    /// As the last save sent it; null in the demo data.
    pub additional_info: Value,
    /// `email`, `phone`, `country`, … as the last save sent them (absent ones are null).
    pub contact: Map<String, Value>,
    /// Optimistic locking, as a device's.
    pub version: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authority {
    SysAdmin,
    TenantAdmin,
    CustomerUser,
}

impl Authority {
    pub fn as_str(self) -> &'static str {
        match self {
            Authority::SysAdmin => "SYS_ADMIN",
            Authority::TenantAdmin => "TENANT_ADMIN",
            Authority::CustomerUser => "CUSTOMER_USER",
        }
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub password: String,
    pub authority: Authority,
    /// The customer a customer user belongs to.
    pub customer_id: Option<Uuid>,
}

#[derive(Clone, Debug)]
pub struct DeviceProfile {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub is_default: bool,
    pub created_time: i64,
    /// Optimistic locking: incremented on every save (`JpaAbstractDao.doSave`).
    pub version: i64,
}

#[derive(Clone, Debug)]
pub struct Device {
    pub id: Uuid,
    pub name: CompactString,
    /// The device profile's name (ThingsBoard's `type`).
    pub device_type: CompactString,
    pub profile_id: Uuid,
    pub label: Option<String>,
    pub customer_id: Option<Uuid>,
    pub additional_info: AdditionalInfo,
    pub access_token: CompactString,
    pub created_time: i64,
    /// Optimistic locking: incremented on every save (`JpaAbstractDao.doSave`).
    pub version: i64,
    /// The `version` of the device's credentials, an entity of their own.
    pub credentials_version: i64,
}

impl Device {
    /// Records a save: optimistic locking's `version` goes up by one.
    pub fn record_save(&mut self) {
        self.version = self.version.saturating_add(1);
    }

    /// `additionalInfo.gateway`, read as Jackson's `asBoolean()` does: the string "true"
    /// counts, trimmed but case-sensitive ("TRUE" is not a gateway, §11.1 C9).
    pub fn is_gateway(&self) -> bool {
        self.additional_info.flag("gateway")
    }

    /// `additionalInfo.overwriteActivityTime`, read the same way.
    pub fn overwrites_activity_time(&self) -> bool {
        self.additional_info.flag("overwriteActivityTime")
    }
}

/// A device's `additionalInfo`. A device a gateway creates has only
/// `{"lastConnectedGateway": id}`: that one is kept as the id, not as a JSON object (a map
/// and two strings, about 400 bytes a device, 40 MB for 100 000 announced devices).
#[derive(Clone, Debug, PartialEq)]
pub enum AdditionalInfo {
    LastConnectedGateway(Uuid),
    Json(Value),
}

impl From<Value> for AdditionalInfo {
    fn from(value: Value) -> AdditionalInfo {
        AdditionalInfo::Json(value)
    }
}

impl AdditionalInfo {
    pub fn to_json(&self) -> Value {
        match self {
            AdditionalInfo::LastConnectedGateway(id) => {
                json!({"lastConnectedGateway": id.to_string()})
            }
            AdditionalInfo::Json(value) => value.clone(),
        }
    }

    /// A key read as Jackson's `asBoolean()` does (false when absent).
    pub fn flag(&self, key: &str) -> bool {
        match self {
            AdditionalInfo::LastConnectedGateway(_) => false,
            AdditionalInfo::Json(value) => jackson_as_boolean(value.get(key)),
        }
    }

    /// `lastConnectedGateway`, when it holds a device id.
    pub fn last_connected_gateway(&self) -> Option<Uuid> {
        match self {
            AdditionalInfo::LastConnectedGateway(id) => Some(*id),
            AdditionalInfo::Json(value) => value
                .get("lastConnectedGateway")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok()),
        }
    }

    /// Sets `lastConnectedGateway` as ThingsBoard does when a gateway names the device: in an
    /// object only (an info that is null or not an object stays as it is).
    pub fn record_gateway(&mut self, gateway: Uuid) {
        match self {
            AdditionalInfo::LastConnectedGateway(id) => *id = gateway,
            AdditionalInfo::Json(Value::Object(map)) if map.is_empty() => {
                *self = AdditionalInfo::LastConnectedGateway(gateway);
            }
            AdditionalInfo::Json(Value::Object(map)) => {
                let text = gateway.to_string();
                if map.get("lastConnectedGateway").and_then(Value::as_str) != Some(&text) {
                    map.insert("lastConnectedGateway".into(), text.into());
                }
            }
            AdditionalInfo::Json(_) => {}
        }
    }
}

/// Jackson's `JsonNode.asBoolean()`: booleans, the trimmed string "true", non-zero numbers.
fn jackson_as_boolean(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim() == "true",
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        _ => false,
    }
}

/// One end of a relation: ThingsBoard's `EntityId` (`DEVICE`, `CUSTOMER`, `DEVICE_PROFILE`,
/// `TENANT`, …) and the entity's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityRef {
    pub entity_type: CompactString,
    pub id: Uuid,
}

impl EntityRef {
    pub fn device(id: Uuid) -> EntityRef {
        EntityRef {
            entity_type: "DEVICE".into(),
            id,
        }
    }
}

/// ThingsBoard's `EntityRelation`; one is kept per (from, to, type, type group).
#[derive(Clone, Debug, PartialEq)]
pub struct Relation {
    pub from: EntityRef,
    pub to: EntityRef,
    /// Inline (a gateway creates one `Created` relation per device: no allocation each).
    pub relation_type: CompactString,
    /// `COMMON` unless the saver names another group.
    pub type_group: CompactString,
    pub additional_info: Value,
    /// Counts the saves of this key, from 1.
    pub version: i64,
}

impl Relation {
    /// The relation a gateway gets to a device it creates.
    pub fn created(gateway: Uuid, device: Uuid) -> Relation {
        Relation {
            from: EntityRef::device(gateway),
            to: EntityRef::device(device),
            relation_type: CREATED_RELATION.into(),
            type_group: COMMON_GROUP.into(),
            additional_info: Value::Null,
            version: 1,
        }
    }

    /// Whether an entity is either end.
    pub fn touches(&self, id: Uuid) -> bool {
        self.from.id == id || self.to.id == id
    }

    /// Whether it is the same relation (the key ThingsBoard saves by).
    pub fn same_key(&self, other: &Relation) -> bool {
        self.from == other.from
            && self.to == other.to
            && self.relation_type == other.relation_type
            && self.type_group == other.type_group
    }
}

/// The relation type group of everything the emulator keeps unless told otherwise.
pub const COMMON_GROUP: &str = "COMMON";

/// `{"entityType": "DEVICE", "id": "…"}`
pub fn entity_id(entity_type: &str, id: Uuid) -> Value {
    json!({"entityType": entity_type, "id": id.to_string()})
}

/// A device as ThingsBoard's REST API returns it.
pub fn device_json(device: &Device, tenant_id: Uuid) -> Value {
    json!({
        "id": entity_id("DEVICE", device.id),
        "createdTime": device.created_time,
        "tenantId": entity_id("TENANT", tenant_id),
        "customerId": entity_id("CUSTOMER", device.customer_id.unwrap_or(NULL_UUID)),
        "name": device.name,
        "type": device.device_type,
        "label": device.label,
        "deviceProfileId": entity_id("DEVICE_PROFILE", device.profile_id),
        "firmwareId": null,
        "softwareId": null,
        "externalId": null,
        "version": device.version,
        "additionalInfo": device.additional_info.to_json(),
        "deviceData": {
            "configuration": {"type": "DEFAULT"},
            "transportConfiguration": {"type": "DEFAULT"}
        }
    })
}

/// A device profile as ThingsBoard's REST API returns it.
pub fn profile_json(profile: &DeviceProfile, tenant_id: Uuid) -> Value {
    json!({
        "id": entity_id("DEVICE_PROFILE", profile.id),
        "createdTime": profile.created_time,
        "tenantId": entity_id("TENANT", tenant_id),
        "name": profile.name,
        "description": profile.description,
        "type": "DEFAULT",
        "transportType": "DEFAULT",
        "provisionType": "DISABLED",
        "default": profile.is_default,
        "image": null,
        "defaultRuleChainId": null,
        "defaultDashboardId": null,
        "defaultQueueName": null,
        "provisionDeviceKey": null,
        "firmwareId": null,
        "softwareId": null,
        "defaultEdgeRuleChainId": null,
        "externalId": null,
        "version": profile.version,
        "profileData": {
            "configuration": {"type": "DEFAULT"},
            "transportConfiguration": {"type": "DEFAULT"},
            "provisionConfiguration": {"type": "DISABLED", "provisionDeviceSecret": null},
            "alarms": null
        }
    })
}

/// A device profile's short form (`/api/deviceProfileInfo/...`).
pub fn profile_info_json(profile: &DeviceProfile, tenant_id: Uuid) -> Value {
    json!({
        "id": entity_id("DEVICE_PROFILE", profile.id),
        "tenantId": entity_id("TENANT", tenant_id),
        "name": profile.name,
        "image": null,
        "defaultDashboardId": null,
        "type": "DEFAULT",
        "transportType": "DEFAULT"
    })
}

pub fn relation_json(relation: &Relation) -> Value {
    let end = |e: &EntityRef| entity_id(&e.entity_type, e.id);
    json!({
        "from": end(&relation.from),
        "to": end(&relation.to),
        "type": relation.relation_type.as_str(),
        "typeGroup": relation.type_group.as_str(),
        "additionalInfo": relation.additional_info,
        "version": relation.version
    })
}

/// A relation with the names of both ends (`/api/relations/info/...`).
pub fn relation_info_json(relation: &Relation, from_name: &str, to_name: &str) -> Value {
    let mut info = relation_json(relation);
    if let Some(map) = info.as_object_mut() {
        map.insert("fromName".into(), json!(from_name));
        map.insert("toName".into(), json!(to_name));
    }
    info
}

/// `additionalInfo` as an object, whatever a REST client sent.
pub fn info_object(info: Option<&Value>) -> Value {
    match info {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        _ => Value::Object(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_records_itself_in_an_object_info_only_and_the_compact_form_renders_the_same() {
        let gateway = Uuid::from_u128(7);
        let text = gateway.to_string();
        let mut created = AdditionalInfo::LastConnectedGateway(Uuid::nil());
        created.record_gateway(gateway);
        assert_eq!(created.to_json(), json!({"lastConnectedGateway": text}));
        assert_eq!(created.last_connected_gateway(), Some(gateway));
        assert!(!created.flag("gateway"));

        let mut empty = AdditionalInfo::from(json!({}));
        empty.record_gateway(gateway);
        assert_eq!(empty, AdditionalInfo::LastConnectedGateway(gateway));

        let mut with_keys = AdditionalInfo::from(json!({"description": "d", "gateway": "true"}));
        with_keys.record_gateway(gateway);
        assert_eq!(
            with_keys.to_json().to_string(),
            format!(r#"{{"description":"d","gateway":"true","lastConnectedGateway":"{text}"}}"#),
            "appended after the keys it had"
        );
        assert!(with_keys.flag("gateway"));
        assert_eq!(with_keys.last_connected_gateway(), Some(gateway));

        for unchanged in [Value::Null, json!("text"), json!([1])] {
            let mut info = AdditionalInfo::from(unchanged.clone());
            info.record_gateway(gateway);
            assert_eq!(info.to_json(), unchanged, "not an object: left as it is");
            assert_eq!(info.last_connected_gateway(), None);
        }
    }

    fn device_with_gateway_flag(flag: Value) -> Device {
        Device {
            id: Uuid::nil(),
            name: "G".into(),
            device_type: "default".into(),
            profile_id: Uuid::nil(),
            label: None,
            customer_id: None,
            additional_info: json!({ "gateway": flag }).into(),
            access_token: "T".into(),
            created_time: 0,
            version: 1,
            credentials_version: 1,
        }
    }

    #[test]
    fn gateway_flag_as_a_string_counts_only_as_lowercase_true() {
        let is_gateway = |flag: Value| device_with_gateway_flag(flag).is_gateway();
        assert!(is_gateway(json!(true)));
        assert!(is_gateway(json!("true")));
        assert!(is_gateway(json!(" true ")));
        assert!(is_gateway(json!(1)));
        assert!(!is_gateway(json!("TRUE")));
        assert!(!is_gateway(json!("True")));
        assert!(!is_gateway(json!("yes")));
        assert!(!is_gateway(json!(0)));
        assert!(!is_gateway(json!(false)));
    }
}
