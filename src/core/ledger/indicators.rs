//! Risk indicators and their revocations (§8): who may replace or revoke one, and which peers
//! it is shared with or withdrawn from under the agreements in force.

use super::*;

impl<'c> Books<'c, '_> {
    /// A new or replaced indicator. One of this administration's own (published by an
    /// internal participant) is shared with every peer an agreement lets it reach, and
    /// revoked at peers that held an earlier version but may not hold this one (its TLP was
    /// raised, or it now carries personal data). A received one is never re-shared.
    pub(super) fn indicator(
        &mut self,
        admitted: &Admitted,
        indicator: &RiskIndicator,
        share_with: Vec<String>,
        held_by: Vec<String>,
    ) -> Result<(), Rejection> {
        let header = &admitted.header;
        let record = IndicatorRecord {
            indicator: indicator.clone(),
            issuer: issuing_administration(&header.sender),
        };
        match self.ctx.risk.check_replacement(&record) {
            Ok(()) => {}
            Err(IndexError::NotIssuer {
                indicator_id,
                in_force_issuer,
                ..
            }) => {
                return Err(field_error(
                    "indicator_id",
                    format!(
                    "{indicator_id} was issued by {in_force_issuer}; only its issuer replaces it"
                ),
                ))
            }
            Err(IndexError::StaleVersion { in_force, .. }) => {
                return Err(field_error(
                    "version",
                    format!("must be higher than version {in_force} in force"),
                ))
            }
        }
        let ours = record.issuer == self.ctx.administration;
        self.effects.push(Effect::PutIndicator {
            record,
            message_id: header.message_id.clone(),
        });
        if !ours {
            return Ok(());
        }
        for peer in held_by {
            if share_with.contains(&peer) {
                continue;
            }
            let revocation = RiskIndicatorRevocation {
                indicator_id: indicator.indicator_id.clone(),
                reason: format!(
                    "version {} may no longer be shared with {peer} under the agreements in force",
                    indicator.version
                ),
            };
            self.issue(
                &peer,
                MessageType::RiskIndicatorRevocation,
                Bytes::from(revocation.encode_to_vec()),
                &header.message_id,
                Route::Outbox,
            );
            self.effects.push(Effect::RemoveRoute {
                indicator_id: indicator.indicator_id.clone(),
                peer,
            });
        }
        for peer in share_with {
            self.relay(admitted, MessageType::RiskIndicator, &peer);
            self.effects.push(Effect::AddRoute {
                indicator_id: indicator.indicator_id.clone(),
                peer,
            });
        }
        Ok(())
    }

    /// Only the issuer revokes; §8: revocations follow the routes the indicator took.
    pub(super) fn revocation(
        &mut self,
        admitted: &Admitted,
        revocation: &RiskIndicatorRevocation,
        held_by: Vec<String>,
    ) -> Result<(), Rejection> {
        let header = &admitted.header;
        let issuer = issuing_administration(&header.sender);
        match self.ctx.risk.get(&revocation.indicator_id) {
            None => {
                return Err(field_error(
                    "indicator_id",
                    format!("no indicator {} is in force", revocation.indicator_id),
                ))
            }
            Some(existing) if existing.issuer != issuer => {
                return Err(field_error(
                    "indicator_id",
                    format!(
                        "{} was issued by {}; only its issuer revokes it",
                        revocation.indicator_id, existing.issuer
                    ),
                ))
            }
            Some(_) => {}
        }
        self.effects.push(Effect::RevokeIndicator {
            indicator_id: revocation.indicator_id.clone(),
        });
        if issuer == self.ctx.administration {
            for peer in held_by {
                self.relay(admitted, MessageType::RiskIndicatorRevocation, &peer);
            }
            self.effects.push(Effect::ClearRoutes {
                indicator_id: revocation.indicator_id.clone(),
            });
        }
        Ok(())
    }
}
