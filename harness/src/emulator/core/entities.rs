//! The entities ThingsBoard keeps for the gateway API: customers, users, device profiles,
//! devices with their access tokens, and relations.

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
    pub name: String,
    /// The device profile's name (ThingsBoard's `type`).
    pub device_type: String,
    pub profile_id: Uuid,
    pub label: Option<String>,
    pub customer_id: Option<Uuid>,
    /// Always a JSON object.
    pub additional_info: Value,
    pub access_token: String,
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
        jackson_as_boolean(self.additional_info.get("gateway"))
    }

    /// `additionalInfo.overwriteActivityTime`, read the same way.
    pub fn overwrites_activity_time(&self) -> bool {
        jackson_as_boolean(self.additional_info.get("overwriteActivityTime"))
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
    pub entity_type: String,
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
    pub relation_type: String,
    /// `COMMON` unless the saver names another group.
    pub type_group: String,
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
        "additionalInfo": device.additional_info,
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
        "type": relation.relation_type,
        "typeGroup": relation.type_group,
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

    fn device_with_gateway_flag(flag: Value) -> Device {
        Device {
            id: Uuid::nil(),
            name: "G".into(),
            device_type: "default".into(),
            profile_id: Uuid::nil(),
            label: None,
            customer_id: None,
            additional_info: json!({ "gateway": flag }),
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
