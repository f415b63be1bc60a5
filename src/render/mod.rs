//! Every human-readable rendering of the contract's objects, in one place: the names of its
//! enums, receipts, refusals, outcomes, deliveries, states and tree heads as one reads them,
//! and the tables of indicators and outbox entries.
//!
//! The command line, the demo, the forwarder's logs and the conformance kit's report all
//! show these objects to people, and a person who meets `DO_NOT_LOAD` in one and
//! `OUTCOME_CODE_DO_NOT_LOAD` in another, or a receipt laid out two ways, starts to wonder
//! whether they are the same thing. So they are written once, here; new renderings (charges,
//! refunds, report tables) belong here too. Nothing here does I/O: callers print.

mod messages;
mod names;
mod tables;
mod text;

pub use messages::{
    describe_agreement, describe_charges, describe_delivery, describe_head, describe_outcome,
    describe_receipt, describe_refund, describe_refusal, describe_status, goods_summary, money,
    outcome_facts, refusal_line, revenue_in_brief,
};
pub use names::{
    charge_name, code_name, short_name, state_in_brief, state_meaning, state_name, tlp_level_name,
    tlp_name, type_name, wire_name, wire_name_or_number, ProtoEnum,
};
pub use tables::{columns, indicator_table, outbox_table, Align};
pub use text::{indent, or_dash, plural, wrap};
