//! THE model of a section's bytes on the wire ([`layout`]) and its builders: a
//! `-dump-vmstate` description read as the sender (at the version it writes) or as the receiver
//! (at the version the stream carries) ([`from_dump`]), and a stream's vmdesc, exact
//! ([`vmdesc`], parsed into typed structs).
//!
//! The loading rules the model follows are QEMU's `migration/vmstate.c`
//! (`vmstate_load_state`, `vmstate_field_exists`, `vmstate_subsection_load`): fields are
//! present by their `version_id` or their `field_exists` test, nested structs carry no version
//! on the wire and are gated by their own vmsd's version, subsections follow the fields of the
//! vmsd that lists them and are sent when `needed()` says so.

pub mod from_dump;
pub mod layout;
pub mod vmdesc;

pub use layout::{Count, Item, ItemKind, Presence, SubsectionSlot, SubsectionSource, WireLayout};
