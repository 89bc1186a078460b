//! What telemetry, attribute and claim messages share: a `{device name: entry}` map whose
//! entries of the wrong shape ThingsBoard skips, and key-value data typed for storage.

use crate::error::{ErrorKind, TbAnswer};
use crate::json::Object;
use crate::leniency::LeniencyKind;
use crate::parse::{Member, Node, NodeKind};
use crate::path::Trail;
use crate::read::{Ctx, Failure, Read, kind_of, to_json};
use crate::value::{TbValue, TypingError, is_parsable, tb_type};

/// The shape a device entry must have to be used.
#[derive(Clone, Copy)]
pub(crate) enum EntryShape {
    Array,
    Object,
}

impl EntryShape {
    fn fits(self, node: &Node<'_>) -> bool {
        matches!(
            (self, &node.kind),
            (EntryShape::Array, NodeKind::Array(_)) | (EntryShape::Object, NodeKind::Object(_))
        )
    }

    fn name(self) -> &'static str {
        match self {
            EntryShape::Array => "an array",
            EntryShape::Object => "an object",
        }
    }
}

/// The entries of shape `shape`; others are skipped as ThingsBoard skips them, and a
/// message with none left fails the way ThingsBoard's "message is empty" exception does.
pub(crate) fn usable_entries<'n, 'a>(
    ctx: &mut Ctx,
    members: &'n [Member<'a>],
    shape: EntryShape,
    at: usize,
) -> Read<Vec<&'n Member<'a>>> {
    let root = Trail::Root;
    let mut usable = Vec::with_capacity(members.len());
    for member in members {
        if shape.fits(&member.value) {
            usable.push(member);
        } else {
            let kind = LeniencyKind::EntrySkipped {
                device: member.key.clone().into_owned(),
                expected: shape.name(),
                found: kind_of(&member.value),
            };
            ctx.forgive(member.value.at, &root.key(&member.key), kind)?;
        }
    }
    if usable.is_empty() {
        let kind = ErrorKind::NoUsableEntries { expected: shape.name() };
        return Err(Failure::new(at, &root, kind, TbAnswer::HandlerFailed));
    }
    Ok(usable)
}

/// Key-value data as ThingsBoard stores it: nulls dropped, numeric strings and
/// out-of-range numbers noted. Values are kept as sent.
pub(crate) fn stored_values<'m, 'a: 'm>(
    ctx: &mut Ctx,
    members: impl IntoIterator<Item = &'m Member<'a>>,
    trail: &Trail<'_>,
) -> Read<Object> {
    let mut values = Object::new();
    for member in members {
        if stores(ctx, member, &trail.key(&member.key))? {
            values.push_unique(member.key.clone().into_owned(), to_json(&member.value));
        }
    }
    Ok(values)
}

/// Whether ThingsBoard stores this member, noting any change of type on the way.
fn stores(ctx: &mut Ctx, member: &Member<'_>, trail: &Trail<'_>) -> Read<bool> {
    let key = || member.key.clone().into_owned();
    let at = member.value.at;
    match &member.value.kind {
        NodeKind::Null => {
            ctx.forgive(at, trail, LeniencyKind::NullDropped { key: key() })?;
            Ok(false)
        }
        NodeKind::String(s) if is_parsable(s) => {
            if let Ok(Some(stored @ (TbValue::Long(_) | TbValue::Double(_)))) = tb_type(&to_json(&member.value)) {
                ctx.forgive(at, trail, LeniencyKind::StringTypedAsNumber { key: key(), stored })?;
            }
            Ok(true)
        }
        NodeKind::Number(_) => match tb_type(&to_json(&member.value)) {
            Ok(Some(TbValue::String(stored))) => {
                ctx.forgive(at, trail, LeniencyKind::NumberStoredAsString { key: key(), stored })?;
                Ok(true)
            }
            Err(TypingError::ExponentTooLarge) => {
                let kind = ErrorKind::UnstorableValue { key: key() };
                Err(Failure::new(at, trail, kind, TbAnswer::DeviceDataInvalid))
            }
            Ok(_) => Ok(true),
        },
        _ => Ok(true),
    }
}
