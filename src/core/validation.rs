//! §7 validation (placeholder until the validation module lands).
use crate::core::rejection::FieldViolation;
use crate::proto::v1::AdvanceDeclaration;

/// Every §7 violation of a declaration, all at once.
pub fn validate_declaration(_declaration: &AdvanceDeclaration) -> Vec<FieldViolation> {
    Vec::new()
}
