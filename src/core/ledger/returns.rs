//! A return notice (§12): checked against the declaration it names, refunded cumulatively from
//! the charges of its last release, answered with a signed REFUND_DECISION.

use super::*;

impl<'c> Books<'c, '_> {
    /// §12: goods of a released declaration left again. Checked in the contract's order
    /// (unknown, not released, outside the period, lines beyond what is left), then refunded
    /// cumulatively and answered with a signed REFUND_DECISION the partner fetches.
    pub(super) fn return_notice(
        &mut self,
        header: &Header,
        notice: &ReturnNotice,
        found: Option<DeclarationRecord>,
    ) -> Result<(), Rejection> {
        let mut record = found.ok_or_else(|| Rejection::UnknownDeclaration {
            declaration_id: header.correlation_id.clone(),
        })?;
        if !matches!(
            record.state,
            DeclarationState::Cleared
                | DeclarationState::ControlOnArrival
                | DeclarationState::PartlyReturned
        ) {
            return Err(Rejection::NotReleased {
                declaration_id: record.id.clone(),
                state: lifecycle::state_name(record.state),
            });
        }
        // A declaration released before releases were recorded: its last change was its
        // release.
        let released_at = record
            .account
            .first_released_at_ms
            .unwrap_or(record.updated_at_ms);
        if header.created_at_ms > released_at.saturating_add(RETURN_PERIOD_MS) {
            return Err(Rejection::ReturnPeriodExpired {
                declaration_id: record.id.clone(),
                detail: format!(
                    "the notice was created {} days after the release (created_at_ms {},                      released at {released_at}); returns are accepted for 90 days",
                    (header.created_at_ms - released_at) / 86_400_000,
                    header.created_at_ms
                ),
            });
        }
        if notice.exited_at_ms < released_at {
            return Err(Rejection::ReturnPeriodExpired {
                declaration_id: record.id.clone(),
                detail: format!(
                    "exited_at_ms {} is before the release at {released_at}: goods can only be                      returned after they were released",
                    notice.exited_at_ms
                ),
            });
        }
        let items = &record.data.items;
        let mut returned = record.account.returned.clone();
        returned.resize(items.len(), 0);
        let mut violations = Vec::new();
        for (index, line) in notice.lines.iter().enumerate() {
            let item_index = line.item as usize;
            let Some(item) = items.get(item_index) else {
                violations.push(FieldViolation::new(
                    format!("lines[{index}].item"),
                    format!(
                        "there is no item {} (the declaration has {} item(s), numbered from 0)",
                        line.item,
                        items.len()
                    ),
                ));
                continue;
            };
            let already = returned[item_index];
            let left = item.quantity.saturating_sub(already);
            if line.quantity > left {
                violations.push(FieldViolation::new(
                    format!("lines[{index}].quantity"),
                    format!(
                        "at most {left} unit(s) of items[{item_index}] are left to return \
                         ({} declared, {already} already returned)",
                        item.quantity
                    ),
                ));
                continue;
            }
            returned[item_index] = already + line.quantity;
        }
        if !violations.is_empty() {
            return Err(Rejection::ValidationFailed(violations));
        }
        let refund = match &record.account.charges {
            Some(charges) => revenue::refund(charges, &returned, record.account.refunded),
            None => Refund {
                currency: self
                    .ctx
                    .revenue
                    .map(|p| p.currency.clone())
                    .or_else(|| {
                        items
                            .first()
                            .and_then(|i| i.value.as_ref())
                            .map(|v| v.currency.clone())
                    })
                    .unwrap_or_default(),
                duty: 0,
                vat: 0,
                vat_collected_at_sale: false,
                so_far: record.account.refunded,
            },
        };
        let (refunds, total_refund) = refund.to_wire();
        let decision = RefundDecision {
            declaration_id: record.id.clone(),
            mrn: record.mrn.clone(),
            refunds,
            total_refund: Some(total_refund),
            decided_at_ms: self.ctx.now_ms,
            refusal: String::new(),
        };
        self.issue(
            &record.sender,
            MessageType::RefundDecision,
            Bytes::from(decision.encode_to_vec()),
            &header.message_id,
            Route::Fetch,
        );
        let all_returned = items
            .iter()
            .zip(&returned)
            .all(|(item, returned)| *returned >= item.quantity);
        record.state = if all_returned {
            DeclarationState::Returned
        } else {
            DeclarationState::PartlyReturned
        };
        record.account.returned = returned;
        record.account.refunded = refund.so_far;
        record.updated_at_ms = self.ctx.now_ms;
        self.effects.push(Effect::UpdateDeclaration(record));
        Ok(())
    }
}
