//! Relations between entities, saved and deleted over REST as `EntityRelationService` does:
//! one per (from, to, type, type group), both ends existing, and an entity's relations gone
//! with it. A gateway's `Created` relation to each device it creates is one of them.

use super::Core;
use super::entities::{COMMON_GROUP, EntityRef, Relation};

/// The tenant's title in ThingsBoard's demo data.
const TENANT_TITLE: &str = "Tenant";

impl Core {
    /// The name of an entity the emulator keeps (a device's or profile's name, a customer's
    /// title); `None` when there is no such entity.
    pub fn entity_name(&self, entity: &EntityRef) -> Option<&str> {
        let id = entity.id;
        match entity.entity_type.as_str() {
            "DEVICE" => self.device(id).map(|d| d.name.as_str()),
            "DEVICE_PROFILE" => self
                .profiles
                .iter()
                .find(|p| p.id == id)
                .map(|p| p.name.as_str()),
            "CUSTOMER" => self
                .customers
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.title.as_str()),
            "TENANT" => (id == self.tenant_id).then_some(TENANT_TITLE),
            _ => None,
        }
    }

    /// Saves a relation, replacing the one with the same key (its `additionalInfo` changes
    /// and its `version` goes up); the relation as stored.
    pub fn save_relation(&mut self, mut relation: Relation) -> Relation {
        match self.relations.iter_mut().find(|r| r.same_key(&relation)) {
            Some(kept) => {
                relation.version = kept.version.saturating_add(1);
                *kept = relation.clone();
            }
            None => {
                relation.version = 1;
                self.relations.push(relation.clone());
            }
        }
        relation
    }

    /// Deletes the relation with this key; it, if there was one.
    pub fn delete_relation(&mut self, key: &Relation) -> Option<Relation> {
        let at = self.relations.iter().position(|r| r.same_key(key))?;
        Some(self.relations.remove(at))
    }

    /// `deleteEntityRelations`: every `COMMON` relation from or to an entity.
    pub fn delete_common_relations(&mut self, entity: &EntityRef) {
        self.relations
            .retain(|r| r.type_group != COMMON_GROUP || (r.from != *entity && r.to != *entity));
    }
}
