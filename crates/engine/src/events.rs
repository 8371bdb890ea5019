//! The event bus behind `GET /events`: every container and image action is published once;
//! subscribers get the recent history (the last 256 events, as dockerd keeps) and then live
//! events. Events live in memory only, as Docker's do.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::broadcast;

/// How many past events a new subscriber can replay.
const HISTORY: usize = 256;

/// One event, in Docker's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `container`, `image`, `network`, `volume`.
    pub kind: &'static str,
    /// `create`, `start`, `die`, `pull`, ...
    pub action: String,
    /// The object's id (or, for some image events, its name).
    pub id: String,
    /// Actor attributes (`name`, `image`, `exitCode`, labels...).
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
}

impl Event {
    /// A new event stamped now.
    pub fn new(
        kind: &'static str,
        action: impl Into<String>,
        id: impl Into<String>,
        attributes: BTreeMap<String, String>,
    ) -> Event {
        let time_nano = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        Event {
            kind,
            action: action.into(),
            id: id.into(),
            attributes,
            time_nano,
        }
    }

    /// Docker's JSON (with the legacy `status`/`id`/`from` fields for containers and images).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "Type": self.kind,
            "Action": self.action,
            "Actor": {"ID": self.id, "Attributes": self.attributes},
            "scope": "local",
            "time": self.time_nano / 1_000_000_000,
            "timeNano": self.time_nano,
        });
        if self.kind == "container" || self.kind == "image" {
            v["status"] = json!(self.action);
            v["id"] = json!(self.id);
            if let Some(from) = self.attributes.get("image") {
                v["from"] = json!(from);
            }
        }
        v
    }

    /// Whether the event passes `filters` (Docker's: type, event, container, image, label,
    /// network, volume; values of one key are alternatives, keys all apply).
    pub fn matches(&self, filters: &BTreeMap<String, Vec<String>>) -> bool {
        filters.iter().all(|(key, values)| {
            values.is_empty()
                || values.iter().any(|want| match key.as_str() {
                    "type" => self.kind == want,
                    "event" => {
                        self.action == *want || self.action.split(':').next() == Some(want.as_str())
                    }
                    "container" => {
                        self.kind == "container"
                            && (self.id.starts_with(want.as_str())
                                || self.attributes.get("name") == Some(want))
                    }
                    "image" => {
                        self.attributes.get("image") == Some(want)
                            || (self.kind == "image"
                                && (self.id == *want || self.attributes.get("name") == Some(want)))
                    }
                    "network" => {
                        self.kind == "network"
                            && (self.id.starts_with(want.as_str())
                                || self.attributes.get("name") == Some(want))
                    }
                    "volume" => self.kind == "volume" && self.id == *want,
                    "label" => {
                        crate::filters::labels_match(&self.attributes, std::slice::from_ref(want))
                    }
                    "scope" => want == "local",
                    _ => false,
                })
        })
    }
}

/// The daemon's event bus.
pub struct Events {
    tx: broadcast::Sender<Arc<Event>>,
    recent: Mutex<VecDeque<Arc<Event>>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(1024).0,
            recent: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }
}

impl Events {
    /// Publishes an event to the history and to live subscribers.
    pub fn publish(&self, e: Event) {
        let e = Arc::new(e);
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == HISTORY {
                recent.pop_front();
            }
            recent.push_back(e.clone());
        }
        let _ = self.tx.send(e);
    }

    /// How many clients follow the live stream (`NEventsListener`).
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The recent history and a receiver of what comes after it (no event is in both or lost
    /// between them: both are taken under the history lock).
    pub fn subscribe(&self) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        (recent.iter().cloned().collect(), rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn json_and_filters_like_docker() {
        let e = Event::new(
            "container",
            "die",
            "abc123",
            attrs(&[("name", "web"), ("image", "busybox"), ("exitCode", "3")]),
        );
        let v = e.to_json();
        assert_eq!(v["status"], "die");
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["Actor"]["Attributes"]["exitCode"], "3");
        let f = |k: &str, vals: &[&str]| {
            let mut m = BTreeMap::new();
            m.insert(k.to_string(), vals.iter().map(|s| s.to_string()).collect());
            m
        };
        assert!(e.matches(&f("type", &["container"])));
        assert!(!e.matches(&f("type", &["image"])));
        assert!(e.matches(&f("event", &["start", "die"])));
        assert!(e.matches(&f("container", &["web"])));
        assert!(e.matches(&f("container", &["abc"])));
        assert!(e.matches(&f("image", &["busybox"])));
        assert!(!e.matches(&f("container", &["db"])));
        assert!(e.matches(&BTreeMap::new()));
    }

    #[test]
    fn history_then_live_without_gaps() {
        let bus = Events::default();
        for i in 0..300 {
            bus.publish(Event::new("image", "tag", format!("i{i}"), BTreeMap::new()));
        }
        let (past, mut rx) = bus.subscribe();
        assert_eq!(past.len(), HISTORY);
        assert_eq!(past[0].id, "i44");
        bus.publish(Event::new("image", "untag", "live", BTreeMap::new()));
        assert_eq!(rx.try_recv().unwrap().id, "live");
    }
}
