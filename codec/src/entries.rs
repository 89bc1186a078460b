//! What telemetry, attribute and claim messages share: a `{device name: entry}` map whose
//! entries of the wrong shape ThingsBoard skips, and key-value data typed for storage.

use crate::device::{NameCheck, check_device_name};
use crate::error::{ErrorKind, TbAnswer};
use crate::json::{Json, Number, Object};
use crate::leniency::LeniencyKind;
use crate::parse::{Member, Node, NodeKind};
use crate::path::Trail;
use crate::read::{Ctx, Failure, Read, kind_of, to_json};
use crate::reason::ReasonCode;
use crate::value::{TbValue, TypingError, is_parsable, type_number_text};

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
fn usable_entries<'n, 'a>(
    ctx: &mut Ctx,
    members: &'n [Member<'a>],
    shape: EntryShape,
    at: usize,
) -> Read<impl ExactSizeIterator<Item = &'n Member<'a>> + 'n> {
    let root = Trail::Root;
    let mut usable = 0;
    for member in members {
        if shape.fits(&member.value) {
            usable += 1;
        } else {
            let kind = LeniencyKind::EntrySkipped {
                device: member.key.to_owned(),
                expected: shape.name(),
                found: kind_of(&member.value),
            };
            ctx.forgive(member.value.at, &root.key(member.key), kind)?;
        }
    }
    if usable == 0 {
        let kind = ErrorKind::NoUsableEntries {
            expected: shape.name(),
        };
        return Err(Failure::new(at, &root, kind, TbAnswer::HandlerFailed));
    }
    Ok(Usable {
        members: members.iter(),
        shape,
        left: usable,
    })
}

/// The usable entries, counted in advance so that callers can size their output.
struct Usable<'n, 'a> {
    members: std::slice::Iter<'n, Member<'a>>,
    shape: EntryShape,
    left: usize,
}

impl<'n, 'a> Iterator for Usable<'n, 'a> {
    type Item = &'n Member<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let shape = self.shape;
        let next = self.members.find(|m| shape.fits(&m.value))?;
        self.left -= 1;
        Some(next)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Usable<'_, '_> {}

/// Decodes every usable entry of a `{device name: entry}` map with `decode_one`, after
/// checking each device name as ThingsBoard does, in wire order.
pub(crate) fn decode_devices<'n, 'a, T>(
    ctx: &mut Ctx,
    members: &'n [Member<'a>],
    shape: EntryShape,
    at: usize,
    mut decode_one: impl FnMut(&mut Ctx, &'n Member<'a>, &Trail<'_>) -> Read<T>,
) -> Read<Vec<T>> {
    let root = Trail::Root;
    let usable = usable_entries(ctx, members, shape, at)?;
    let mut decoded = Vec::with_capacity(usable.len());
    for entry in usable {
        let trail = root.key(entry.key);
        let check = NameCheck::Creation(ReasonCode::UNSPECIFIED_ERROR);
        check_device_name(entry.key, entry.key_at, &trail, check)?;
        decoded.push(decode_one(ctx, entry, &trail)?);
    }
    Ok(decoded)
}

/// Key-value data as ThingsBoard stores it: nulls dropped, numeric strings and
/// out-of-range numbers noted. Values are kept as sent.
pub(crate) fn stored_values<'m, 'a: 'm>(
    ctx: &mut Ctx,
    members: impl IntoIterator<Item = &'m Member<'a>>,
    trail: &Trail<'_>,
) -> Read<Object> {
    let members = members.into_iter();
    let mut values = Object::with_capacity(members.size_hint().0);
    for member in members {
        if let Some(value) = stored(ctx, member, &trail.key(member.key))? {
            values.push_unique(member.key, value);
        }
    }
    Ok(values)
}

/// The value ThingsBoard stores for this member (`None`: dropped), noting any change of type.
fn stored(ctx: &mut Ctx, member: &Member<'_>, trail: &Trail<'_>) -> Read<Option<Json>> {
    let key = || member.key.to_owned();
    let at = member.value.at;
    match &member.value.kind {
        NodeKind::Null => {
            ctx.forgive(at, trail, LeniencyKind::NullDropped { key: key() })?;
            Ok(None)
        }
        NodeKind::String(s) => {
            if is_parsable(s)
                && let Ok(stored @ (TbValue::Long(_) | TbValue::Double(_))) = type_number_text(s)
            {
                let kind = LeniencyKind::StringTypedAsNumber { key: key(), stored };
                ctx.forgive(at, trail, kind)?;
            }
            Ok(Some(Json::String((*s).to_owned())))
        }
        NodeKind::Number(text) => {
            if !fits_long_or_double(text) {
                match type_number_text(text) {
                    Ok(TbValue::String(stored)) => {
                        ctx.forgive(
                            at,
                            trail,
                            LeniencyKind::NumberStoredAsString { key: key(), stored },
                        )?;
                    }
                    Err(TypingError::ExponentTooLarge) => {
                        let kind = ErrorKind::UnstorableValue { key: key() };
                        return Err(Failure::new(at, trail, kind, TbAnswer::DeviceDataInvalid));
                    }
                    Ok(_) => {}
                }
            }
            Ok(Some(Json::Number(Number::from_valid_text(text))))
        }
        _ => Ok(Some(to_json(&member.value))),
    }
}

/// A quick look that settles the common case without full decimal typing: an integer of
/// at most 18 digits is a long, a plain decimal with at most 16 fraction digits a double.
fn fits_long_or_double(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.contains(['e', 'E']) {
        return false;
    }
    match digits.split_once('.') {
        None => digits.len() <= 18,
        Some((_, fraction)) => fraction.len() <= 16,
    }
}
