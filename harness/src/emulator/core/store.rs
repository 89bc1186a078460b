//! Attributes by scope and time series, stored with ThingsBoard's types.

use std::collections::{BTreeMap, VecDeque};

use compact_str::CompactString;
use litemap::LiteMap;
use tbgw_codec::value::tb_type;
use tbgw_codec::{Object, TbValue, TelemetryEntry};
use uuid::Uuid;

use super::FastMap;

/// An attribute scope; its discriminant indexes a device's attribute maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Client = 0,
    Shared = 1,
    Server = 2,
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

/// How many points of one key of one device the emulator keeps: the newest by `ts`, so
/// that a long run's memory stays flat. ThingsBoard's own TTL (`TB_SQL_TTL_TS_TS_KEY_VALUE_TTL`)
/// deletes by the points' age, which would delete the suite's fixed-timestamp points in the
/// middle of a case; a count keeps every short run exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// `None`: every point is kept.
    pub points_per_key: Option<usize>,
}

impl Retention {
    pub const DEFAULT_POINTS_PER_KEY: usize = 10_000;
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            points_per_key: Some(Retention::DEFAULT_POINTS_PER_KEY),
        }
    }
}

/// One point's value as a series keeps it: a number or a boolean inline, a text (a string or
/// a JSON value) only marked, its text kept in [`Series::texts`]. A point is then 24 plain
/// bytes with nothing to drop, so retention pops the oldest without reading it (a profile
/// had half the store's time in that read, of memory long evicted from the cache), and the
/// newest points of thousands of keys take less of the cache.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cell {
    Boolean(bool),
    Long(i64),
    Double(f64),
    String,
    Json,
}

impl Cell {
    fn is_text(self) -> bool {
        matches!(self, Cell::String | Cell::Json)
    }
}

/// One key's points, oldest first, one per `ts`: a sorted deque, because points nearly
/// always arrive in time order (an append) and retention drops the oldest (a pop at the
/// front). A point older than the newest is put in its place by binary search.
#[derive(Clone, Debug)]
pub struct Series {
    points: VecDeque<(i64, Cell)>,
    /// The texts of the points whose cell is a text, by ts (a series of numbers has none).
    texts: BTreeMap<i64, Box<str>>,
    /// The newest point's ts (`i64::MIN` when there is none), kept beside the deque's header:
    /// an append then reads no point, whose memory a busy store has long evicted from the cache.
    newest_ts: i64,
}

impl Default for Series {
    fn default() -> Series {
        Series {
            points: VecDeque::new(),
            texts: BTreeMap::new(),
            newest_ts: i64::MIN,
        }
    }
}

impl Series {
    /// Stores a point; a later write at the same ts replaces the earlier one.
    fn insert(&mut self, ts: i64, value: &TbValue) {
        let cell = match value {
            TbValue::Boolean(b) => Cell::Boolean(*b),
            TbValue::Long(n) => Cell::Long(*n),
            TbValue::Double(x) => Cell::Double(*x),
            TbValue::String(text) => {
                self.texts.insert(ts, text.as_str().into());
                Cell::String
            }
            TbValue::Json(text) => {
                self.texts.insert(ts, text.as_str().into());
                Cell::Json
            }
        };
        if self.points.is_empty() || self.newest_ts < ts {
            self.newest_ts = ts;
            self.points.push_back((ts, cell));
            return;
        }
        let at = self.points.partition_point(|(t, _)| *t < ts);
        match self.points.get_mut(at) {
            Some(point) if point.0 == ts => {
                if point.1.is_text() && !cell.is_text() {
                    self.texts.remove(&ts);
                }
                point.1 = cell;
            }
            _ => self.points.insert(at, (ts, cell)),
        }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    fn value(&self, ts: i64, cell: Cell) -> TbValue {
        let text = || {
            self.texts
                .get(&ts)
                .map_or_else(String::new, |t| t.to_string())
        };
        match cell {
            Cell::Boolean(b) => TbValue::Boolean(b),
            Cell::Long(n) => TbValue::Long(n),
            Cell::Double(x) => TbValue::Double(x),
            Cell::String => TbValue::String(text()),
            Cell::Json => TbValue::Json(text()),
        }
    }

    /// The points with `start <= ts < end`, oldest first.
    pub fn range(&self, start: i64, end: i64) -> impl DoubleEndedIterator<Item = (i64, TbValue)> {
        let from = self.points.partition_point(|(t, _)| *t < start);
        let to = self.points.partition_point(|(t, _)| *t < end).max(from);
        self.points
            .range(from..to)
            .map(|&(ts, cell)| (ts, self.value(ts, cell)))
    }

    pub fn newest(&self) -> Option<(i64, TbValue)> {
        self.points
            .back()
            .map(|&(ts, cell)| (ts, self.value(ts, cell)))
    }

    fn drop_oldest(&mut self) {
        // Only a series holding texts reads the point it drops.
        if self.texts.is_empty() {
            self.points.pop_front();
        } else if let Some((ts, cell)) = self.points.pop_front()
            && cell.is_text()
        {
            self.texts.remove(&ts);
        }
    }

    fn remove_range(&mut self, start: i64, end: i64) {
        self.points.retain(|(ts, _)| *ts < start || *ts >= end);
        self.texts.retain(|ts, _| *ts < start || *ts >= end);
        self.newest_ts = self.points.back().map_or(i64::MIN, |(ts, _)| *ts);
    }
}

/// One time-series key of a device: its history and ThingsBoard's `ts_kv_latest`, kept
/// apart because a deletion can leave them different (the latest can be kept, removed or
/// rewritten, §11.4). One map entry for both, so storing a point looks its key up once.
#[derive(Clone, Debug, Default)]
struct KeyData {
    latest: Option<(i64, TbValue)>,
    history: Series,
}

impl KeyData {
    /// Stores a point; it becomes the latest unless the latest is newer.
    fn put(&mut self, ts: i64, value: TbValue, retention: Retention) {
        self.history.insert(ts, &value);
        match &mut self.latest {
            Some(latest) if latest.0 > ts => {}
            latest => *latest = Some((ts, value)),
        }
        let most = retention.points_per_key.map(|most| most.max(1));
        if most.is_some_and(|most| self.history.len() > most) {
            self.history.drop_oldest();
        }
    }

    fn is_empty(&self) -> bool {
        self.latest.is_none() && self.history.is_empty()
    }
}

/// A device's attributes in order: a sorted vector, because a device has a handful (a
/// `BTreeMap` node holds eleven, so 100 000 devices of four attributes spent 720 bytes each)
/// and binary search over a few inline keys is quicker than a tree; a key of up to 24 bytes
/// is stored inline, without an allocation of its own.
type Keyed<V> = LiteMap<CompactString, V>;

/// One device's data.
#[derive(Clone, Debug, Default)]
pub struct DeviceData {
    /// Attributes by scope (in `Scope::ALL`'s order), then by key: looked up without
    /// allocating, as every message of a device updates its `lastActivityTime`.
    attributes: [Keyed<Attribute>; 3],
    /// Time series by key, hashed: every point of a load looks its key up, and a binary
    /// search compared three or four keys on lines a busy store had evicted from the cache
    /// (a tenth of a 100-point message's time). Listings sort.
    timeseries: FastMap<CompactString, KeyData>,
    retention: Retention,
}

/// What `DELETE .../timeseries/delete` asks for one key.
#[derive(Clone, Copy, Debug)]
pub struct TimeseriesDeletion {
    /// `startTs <= ts < endTs`.
    pub start: i64,
    pub end: i64,
    /// Whether the latest value goes too when its ts is in the range.
    pub delete_latest: bool,
    /// Whether a removed latest is replaced by the newest point left.
    pub rewrite_latest: bool,
}

impl DeviceData {
    pub fn attribute(&self, scope: Scope, key: &str) -> Option<&Attribute> {
        self.attributes[scope as usize].get(key)
    }

    /// The attributes of one scope, by key.
    pub fn scope(&self, scope: Scope) -> impl Iterator<Item = (&str, &Attribute)> {
        self.attributes[scope as usize]
            .iter()
            .map(|(key, attribute)| (key.as_str(), attribute))
    }

    pub fn set_attribute(&mut self, scope: Scope, key: &str, value: TbValue, ts: i64) {
        let attribute = Attribute {
            value,
            last_update_ts: ts,
        };
        let scope = &mut self.attributes[scope as usize];
        match scope.get_mut(key) {
            Some(stored) => *stored = attribute,
            None => {
                scope.insert(CompactString::from(key), attribute);
            }
        }
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
        self.attributes[scope as usize].remove(key).is_some()
    }

    /// Stores a point; it becomes the latest unless the latest is newer.
    /// The key is copied only for a key the device never had (the hot path of a load stores
    /// known keys).
    pub fn put_timeseries(&mut self, key: &str, ts: i64, value: TbValue) {
        let retention = self.retention;
        match self.timeseries.get_mut(key) {
            Some(data) => data.put(ts, value, retention),
            None => {
                let mut data = KeyData::default();
                data.put(ts, value, retention);
                self.timeseries.insert(CompactString::from(key), data);
            }
        }
    }

    pub fn latest(&self, key: &str) -> Option<(i64, &TbValue)> {
        let (ts, value) = self.timeseries.get(key)?.latest.as_ref()?;
        Some((*ts, value))
    }

    /// A key's history, oldest first.
    pub fn series(&self, key: &str) -> Option<&Series> {
        let data = self.timeseries.get(key)?;
        (!data.history.is_empty()).then_some(&data.history)
    }

    /// The keys with a history, in order.
    pub fn series_keys(&self) -> Vec<&str> {
        self.keys_where(|data| !data.history.is_empty())
    }

    /// The keys with a latest value, in order, as `keys/timeseries` lists them.
    pub fn latest_keys(&self) -> Vec<&str> {
        self.keys_where(|data| data.latest.is_some())
    }

    fn keys_where(&self, keep: impl Fn(&KeyData) -> bool) -> Vec<&str> {
        let mut keys: Vec<&str> = (self.timeseries.iter())
            .filter(|(_, data)| keep(data))
            .map(|(key, _)| key.as_str())
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Deletes a key's points in a range and, as asked, its latest value
    /// (`BaseTimeseriesService.remove`, `removeLatest`).
    pub fn delete_timeseries(&mut self, key: &str, deletion: TimeseriesDeletion) {
        let TimeseriesDeletion { start, end, .. } = deletion;
        let Some(data) = self.timeseries.get_mut(key) else {
            return;
        };
        data.history.remove_range(start, end);
        let latest_in_range = data
            .latest
            .as_ref()
            .is_some_and(|(ts, _)| (start..end).contains(ts));
        if deletion.delete_latest && latest_in_range {
            data.latest = data.history.newest().filter(|_| deletion.rewrite_latest);
        }
        if data.is_empty() {
            self.timeseries.remove(key);
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Store {
    devices: FastMap<Uuid, DeviceData>,
    retention: Retention,
}

impl Store {
    pub fn with_retention(retention: Retention) -> Store {
        Store {
            devices: FastMap::default(),
            retention,
        }
    }

    pub fn device(&self, id: Uuid) -> Option<&DeviceData> {
        self.devices.get(&id)
    }

    pub fn device_mut(&mut self, id: Uuid) -> &mut DeviceData {
        let retention = self.retention;
        self.devices.entry(id).or_insert_with(|| DeviceData {
            retention,
            ..DeviceData::default()
        })
    }

    pub fn remove_device(&mut self, id: Uuid) {
        self.devices.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device_with(points: &[(i64, i64)]) -> DeviceData {
        let mut data = DeviceData::default();
        for (ts, value) in points {
            data.put_timeseries("t", *ts, TbValue::Long(*value));
        }
        data
    }

    fn deletion(
        start: i64,
        end: i64,
        delete_latest: bool,
        rewrite_latest: bool,
    ) -> TimeseriesDeletion {
        TimeseriesDeletion {
            start,
            end,
            delete_latest,
            rewrite_latest,
        }
    }

    fn history(data: &DeviceData) -> Vec<i64> {
        data.series("t")
            .map(|s| s.range(i64::MIN, i64::MAX).map(|(ts, _)| ts).collect())
            .unwrap_or_default()
    }

    #[test]
    fn past_its_retention_a_key_keeps_its_newest_points_by_ts() {
        let mut store = Store::with_retention(Retention {
            points_per_key: Some(3),
        });
        let data = store.device_mut(Uuid::nil());
        for ts in [50, 10, 40, 20, 30] {
            data.put_timeseries("t", ts, TbValue::Long(ts));
        }
        assert_eq!(history(data), [30, 40, 50]);
        assert_eq!(data.latest("t"), Some((50, &TbValue::Long(50))));
        let mut unbounded = Store::with_retention(Retention {
            points_per_key: None,
        });
        let data = unbounded.device_mut(Uuid::nil());
        for ts in 0..20_000 {
            data.put_timeseries("t", ts, TbValue::Long(ts));
        }
        assert_eq!(history(data).len(), 20_000);
        assert_eq!(
            Store::default().retention.points_per_key,
            Some(Retention::DEFAULT_POINTS_PER_KEY)
        );
    }

    #[test]
    fn a_point_at_a_stored_ts_replaces_it_wherever_it_lies_and_ranges_are_half_open() {
        let mut data = device_with(&[(10, 1), (30, 3), (20, 2), (40, 4)]);
        data.put_timeseries("t", 20, TbValue::Long(22));
        data.put_timeseries("t", 40, TbValue::Long(44));
        data.put_timeseries("t", 5, TbValue::Long(0));
        assert_eq!(history(&data), [5, 10, 20, 30, 40]);
        let series = data.series("t").unwrap();
        let values: Vec<(i64, TbValue)> = series.range(10, 30).collect();
        assert_eq!(values, [(10, TbValue::Long(1)), (20, TbValue::Long(22))]);
        assert_eq!(
            series.range(30, 10).count(),
            0,
            "an empty range, not a panic"
        );
        assert_eq!(series.range(41, i64::MAX).count(), 0);
        assert_eq!(data.latest("t"), Some((40, &TbValue::Long(44))));
    }

    #[test]
    fn texts_keep_their_place_through_replacement_retention_and_deletion() {
        let mut store = Store::with_retention(Retention {
            points_per_key: Some(3),
        });
        let data = store.device_mut(Uuid::nil());
        let text = |t: &str| TbValue::String(t.to_owned());
        data.put_timeseries("t", 10, text("a"));
        data.put_timeseries("t", 20, TbValue::Json("{\"x\":1}".to_owned()));
        data.put_timeseries("t", 30, TbValue::Double(0.5));
        data.put_timeseries("t", 20, TbValue::Boolean(true));
        data.put_timeseries("t", 30, text("c"));
        data.put_timeseries("t", 40, TbValue::Long(4));
        let all = |data: &DeviceData| -> Vec<(i64, TbValue)> {
            data.series("t")
                .unwrap()
                .range(i64::MIN, i64::MAX)
                .collect()
        };
        assert_eq!(
            all(data),
            [
                (20, TbValue::Boolean(true)),
                (30, text("c")),
                (40, TbValue::Long(4))
            ],
            "10's text left with its point, 20's when a boolean replaced it"
        );
        assert_eq!(data.series("t").unwrap().texts.len(), 1);
        data.put_timeseries("t", 50, TbValue::Json("[1]".to_owned()));
        data.delete_timeseries("t", deletion(0, 45, false, false));
        assert_eq!(all(data), [(50, TbValue::Json("[1]".to_owned()))]);
        assert_eq!(data.series("t").unwrap().texts.len(), 1);
    }

    #[test]
    fn keys_are_listed_in_order_whatever_order_they_came_in() {
        let mut data = DeviceData::default();
        for key in ["b", "c", "a", "ab"] {
            data.put_timeseries(key, 1, TbValue::Long(1));
        }
        data.delete_timeseries("c", deletion(0, 10, false, false));
        assert_eq!(data.latest_keys(), ["a", "ab", "b", "c"]);
        assert_eq!(
            data.series_keys(),
            ["a", "ab", "b"],
            "c kept only its latest"
        );
    }

    #[test]
    fn an_older_point_stored_later_does_not_replace_the_latest() {
        let data = device_with(&[(20, 2), (10, 1)]);
        assert_eq!(data.latest("t"), Some((20, &TbValue::Long(2))));
        assert_eq!(history(&data), [10, 20]);
    }

    #[test]
    fn a_deletion_takes_the_points_from_start_up_to_but_not_including_end() {
        let mut data = device_with(&[(10, 1), (20, 2), (30, 3)]);
        data.delete_timeseries("t", deletion(10, 30, true, false));
        assert_eq!(history(&data), [30]);
        assert_eq!(
            data.latest("t"),
            Some((30, &TbValue::Long(3))),
            "30 is outside the range"
        );
    }

    #[test]
    fn the_latest_in_the_range_is_removed_kept_or_rewritten_as_asked() {
        let mut removed = device_with(&[(10, 1), (20, 2)]);
        removed.delete_timeseries("t", deletion(15, 25, true, false));
        assert_eq!(removed.latest("t"), None);
        assert_eq!(removed.latest_keys().len(), 0);
        assert_eq!(history(&removed), [10]);

        let mut kept = device_with(&[(10, 1), (20, 2)]);
        kept.delete_timeseries("t", deletion(15, 25, false, false));
        assert_eq!(kept.latest("t"), Some((20, &TbValue::Long(2))));
        assert_eq!(history(&kept), [10]);

        let mut rewritten = device_with(&[(10, 1), (20, 2)]);
        rewritten.delete_timeseries("t", deletion(15, 25, true, true));
        assert_eq!(rewritten.latest("t"), Some((10, &TbValue::Long(1))));
    }

    #[test]
    fn deleting_every_point_leaves_no_key_even_when_rewriting_is_asked() {
        let mut data = device_with(&[(10, 1)]);
        data.delete_timeseries("t", deletion(0, 100, true, true));
        assert_eq!(data.series_keys().len(), 0);
        assert_eq!(data.latest("t"), None);
    }
}
