//! Attributes by scope and time series, stored with ThingsBoard's types.

use std::collections::{BTreeMap, HashMap};

use tbgw_codec::value::tb_type;
use tbgw_codec::{Object, TbValue, TelemetryEntry};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Client,
    Shared,
    Server,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Client, Scope::Shared, Scope::Server];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Client => "CLIENT_SCOPE",
            Scope::Shared => "SHARED_SCOPE",
            Scope::Server => "SERVER_SCOPE",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub value: TbValue,
    pub last_update_ts: i64,
}

/// One device's data.
#[derive(Clone, Debug, Default)]
pub struct DeviceData {
    pub attributes: BTreeMap<(Scope, String), Attribute>,
    /// key → ts → value; a later write at the same ts replaces the earlier one.
    pub timeseries: BTreeMap<String, BTreeMap<i64, TbValue>>,
}

impl DeviceData {
    pub fn attribute(&self, scope: Scope, key: &str) -> Option<&Attribute> {
        self.attributes.get(&(scope, key.to_owned()))
    }

    /// The attributes of one scope, by key.
    pub fn scope(&self, scope: Scope) -> impl Iterator<Item = (&str, &Attribute)> {
        self.attributes
            .range((scope, String::new())..)
            .take_while(move |((s, _), _)| *s == scope)
            .map(|((_, key), attribute)| (key.as_str(), attribute))
    }

    pub fn set_attribute(&mut self, scope: Scope, key: &str, value: TbValue, ts: i64) {
        let attribute = Attribute {
            value,
            last_update_ts: ts,
        };
        self.attributes.insert((scope, key.to_owned()), attribute);
    }

    /// Stores attributes with ThingsBoard's typing (a value it cannot type is skipped);
    /// returns what was stored.
    pub fn set_attributes(
        &mut self,
        scope: Scope,
        values: &Object,
        ts: i64,
    ) -> Vec<(String, TbValue)> {
        let mut stored = Vec::with_capacity(values.len());
        for (key, value) in values.iter() {
            if let Ok(Some(typed)) = tb_type(value) {
                self.set_attribute(scope, key, typed.clone(), ts);
                stored.push((key.to_owned(), typed));
            }
        }
        stored
    }

    /// Stores telemetry with ThingsBoard's typing; an entry without `ts` takes `server_ts`.
    pub fn put_telemetry<'e>(
        &mut self,
        entries: impl IntoIterator<Item = &'e TelemetryEntry>,
        server_ts: i64,
    ) {
        for entry in entries {
            let ts = entry.ts.unwrap_or(server_ts);
            for (key, value) in entry.values.iter() {
                if let Ok(Some(typed)) = tb_type(value) {
                    self.put_timeseries(key, ts, typed);
                }
            }
        }
    }

    pub fn remove_attribute(&mut self, scope: Scope, key: &str) -> bool {
        self.attributes.remove(&(scope, key.to_owned())).is_some()
    }

    pub fn put_timeseries(&mut self, key: &str, ts: i64, value: TbValue) {
        self.timeseries
            .entry(key.to_owned())
            .or_default()
            .insert(ts, value);
    }

    pub fn latest(&self, key: &str) -> Option<(i64, &TbValue)> {
        let series = self.timeseries.get(key)?;
        series.iter().next_back().map(|(ts, v)| (*ts, v))
    }
}

#[derive(Debug, Default)]
pub struct Store {
    devices: HashMap<Uuid, DeviceData>,
}

impl Store {
    pub fn device(&self, id: Uuid) -> Option<&DeviceData> {
        self.devices.get(&id)
    }

    pub fn device_mut(&mut self, id: Uuid) -> &mut DeviceData {
        self.devices.entry(id).or_default()
    }

    pub fn remove_device(&mut self, id: Uuid) {
        self.devices.remove(&id);
    }
}
