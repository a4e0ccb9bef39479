// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! A session's message streams and their publish state. What the media path asks at every read
//! (is a decision pending, does this stream publish) is kept beside the map and refreshed at
//! each change: the map's node is a heap block of its own, so looking through it was a cache
//! miss per message with hundreds of publishers, while streams change a few times per session.

use std::collections::BTreeMap;

/// A stream's publish, by its stream key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Publish {
    /// Waiting for the caller's decision.
    Pending(String),
    Active(String),
}

impl Publish {
    pub fn key(&self) -> &str {
        match self {
            Publish::Pending(k) | Publish::Active(k) => k,
        }
    }
}

/// Created message streams (by id) and their publish state, if any.
#[derive(Debug, Default)]
pub(super) struct Streams {
    map: BTreeMap<u32, Option<Publish>>,
    /// Some stream's publish waits for a decision.
    pending: bool,
    /// The stream with a publish (pending or active) when exactly one has one, as is usual.
    only_publish: Option<u32>,
    /// Streams with a publish.
    publishes: usize,
}

impl Streams {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn contains_key(&self, id: u32) -> bool {
        self.map.contains_key(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u32, &Option<Publish>)> {
        self.map.iter()
    }

    pub fn insert(&mut self, id: u32, publish: Option<Publish>) {
        self.map.insert(id, publish);
        self.refresh();
    }

    pub fn remove(&mut self, id: u32) {
        self.map.remove(&id);
        self.refresh();
    }

    /// Changes the publish state of stream `id` with `f`, if the stream exists.
    pub fn update<R>(&mut self, id: u32, f: impl FnOnce(&mut Option<Publish>) -> R) -> Option<R> {
        let result = self.map.get_mut(&id).map(f);
        self.refresh();
        result
    }

    /// A publish waits for the caller's decision.
    pub fn decision_pending(&self) -> bool {
        self.pending
    }

    /// Stream `id` has a publish, pending or active.
    pub fn is_publishing(&self, id: u32) -> bool {
        match (self.only_publish, self.publishes) {
            (Some(only), _) => only == id,
            (None, 0) => false,
            _ => matches!(self.map.get(&id), Some(Some(_))),
        }
    }

    fn refresh(&mut self) {
        let mut with_publish = self.map.iter().filter(|(_, p)| p.is_some());
        self.only_publish = match (with_publish.next(), with_publish.next()) {
            (Some((id, _)), None) => Some(*id),
            _ => None,
        };
        self.publishes = self.map.values().filter(|p| p.is_some()).count();
        self.pending = self
            .map
            .values()
            .any(|p| matches!(p, Some(Publish::Pending(_))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_media_path_asks_follows_every_change() {
        let mut streams = Streams::default();
        assert!(!streams.decision_pending());
        assert!(!streams.is_publishing(1));
        streams.insert(1, None);
        streams.insert(2, None);
        assert!(!streams.is_publishing(1));
        streams.insert(1, Some(Publish::Pending("a".into())));
        assert!(streams.decision_pending());
        assert!(streams.is_publishing(1));
        assert!(!streams.is_publishing(2));
        streams.update(1, |p| *p = Some(Publish::Active("a".into())));
        assert!(!streams.decision_pending());
        assert!(streams.is_publishing(1));
        // Two publishes: asked of the map.
        streams.insert(2, Some(Publish::Pending("b".into())));
        assert!(streams.decision_pending());
        assert!(streams.is_publishing(1) && streams.is_publishing(2));
        assert!(!streams.is_publishing(3));
        assert_eq!(
            streams.update(2, Option::take),
            Some(Some(Publish::Pending("b".into())))
        );
        assert!(!streams.decision_pending());
        assert!(!streams.is_publishing(2));
        assert_eq!(streams.update(7, Option::take), None);
        streams.remove(1);
        assert!(!streams.is_publishing(1));
        assert_eq!(streams.len(), 1);
        assert!(streams.contains_key(2) && !streams.contains_key(1));
    }
}
