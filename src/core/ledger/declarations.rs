//! What a declaration's own messages do to the books: filing (here or forwarded here), amendment,
//! invalidation and referral responses, each assessed against the indicators in force and, where
//! the goods are charged here, the revenue policy (§5, §8, §11).

use super::*;

impl<'c> Books<'c, '_> {
    /// A partner's new declaration: filed, assessed, and forwarded to the administration of
    /// its country of destination when that is a peer (§8: the partner's envelope, byte for
    /// byte as received, inside ours).
    pub(super) fn declaration(
        &mut self,
        header: &Header,
        declaration: &AdvanceDeclaration,
        raw: Bytes,
        forward_to: Option<String>,
    ) -> Result<(), Rejection> {
        self.check_rates(declaration)?;
        self.file(header, declaration);
        if let Some(peer) = forward_to {
            self.issue(
                &peer,
                MessageType::ForwardedDeclaration,
                raw,
                &header.message_id,
                Route::Outbox,
            );
        }
        Ok(())
    }

    /// A declaration a peer forwarded: assessed here against this administration's own
    /// indicators like one filed here; the outcome goes to the partner that filed it.
    pub(super) fn forwarded_declaration(
        &mut self,
        original: &Header,
        declaration: &AdvanceDeclaration,
        on_file: Option<String>,
    ) -> Result<(), Rejection> {
        if let Some(known) = on_file {
            return Err(field_error(
                "payload",
                format!(
                    "declaration {} (LRN {:?}) of {} is already on file here as {known}",
                    original.message_id, declaration.lrn, original.sender
                ),
            ));
        }
        self.check_rates(declaration)?;
        self.file(original, declaration);
        Ok(())
    }

    /// The policy a declaration is charged under: this administration's, when the goods
    /// are destined for its country (§11 "Which gateway charges").
    fn charging(&self, declaration: &AdvanceDeclaration) -> Option<&'c RevenuePolicy> {
        charging_policy(self.ctx.revenue, self.ctx.country, declaration)
    }

    /// §11: a charged declaration with an amount in a currency the policy has no rate for is
    /// refused, naming each such field.
    fn check_rates(&self, declaration: &AdvanceDeclaration) -> Result<(), Rejection> {
        let Some(policy) = self.charging(declaration) else {
            return Ok(());
        };
        let missing = revenue::missing_rates(policy, declaration);
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Rejection::ValidationFailed(missing))
        }
    }

    /// R5's index entry of a charged declaration as it now stands; `charges` are its
    /// current data's, when [`Books::assess`] just computed them.
    fn parcel(&self, record: &DeclarationRecord, charges: Option<Charges>) -> Option<Parcel> {
        let policy = self.charging(&record.data)?;
        let charges = charges.unwrap_or_else(|| revenue::charges(policy, &record.data));
        Some(Parcel {
            declaration_id: record.id.clone(),
            key: self
                .parcel_key
                .unwrap_or_else(|| revenue::splitting_key(&record.data)),
            value: charges.intrinsic_value,
            counts: charges.low_value && record.state != DeclarationState::Invalidated,
        })
    }

    /// Records a new declaration (the one `header` carried) with a fresh MRN, assesses it
    /// and issues its first outcome.
    fn file(&mut self, header: &Header, declaration: &AdvanceDeclaration) {
        let now = self.ctx.now_ms;
        let year = time::OffsetDateTime::from_unix_timestamp(now / 1000)
            .map(|t| t.year())
            .unwrap_or(2026);
        let mut record = DeclarationRecord {
            id: header.message_id.clone(),
            sender: header.sender.clone(),
            lrn: declaration.lrn.clone(),
            mrn: lifecycle::mrn(
                year,
                self.ctx.country,
                self.ctx.declarations_filed.saturating_add(1),
            ),
            state: DeclarationState::Received,
            outcome: OutcomeCode::Unspecified,
            open_referral_id: String::new(),
            referral_count: 0,
            satisfied: BTreeSet::new(),
            data: declaration.clone(),
            account: Account::default(),
            updated_at_ms: now,
        };
        let charges = self.assess(&mut record);
        let parcel = self.parcel(&record, charges);
        self.effects.push(Effect::FileDeclaration(record));
        if let Some(parcel) = parcel {
            self.effects.push(Effect::TrackParcel(parcel));
        }
    }

    /// The declaration an AMENDMENT or INVALIDATION names, filed by its sender and still
    /// open to change. Another sender's declaration is as unknown as one that does not
    /// exist, so that its existence is not revealed.
    fn open_declaration(
        header: &Header,
        found: Option<DeclarationRecord>,
    ) -> Result<DeclarationRecord, Rejection> {
        let record = found.ok_or_else(|| Rejection::UnknownDeclaration {
            declaration_id: header.correlation_id.clone(),
        })?;
        lifecycle::ensure_open(&record.id, record.state)?;
        Ok(record)
    }

    /// New data, fresh assessment under the same MRN: earlier answers were about the old
    /// data.
    pub(super) fn amendment(
        &mut self,
        header: &Header,
        declaration: &AdvanceDeclaration,
        found: Option<DeclarationRecord>,
    ) -> Result<(), Rejection> {
        let mut record = Self::open_declaration(header, found)?;
        self.check_rates(declaration)?;
        if declaration.lrn != record.lrn {
            return Err(field_error(
                "lrn",
                format!("an amendment keeps the declaration's LRN {:?}", record.lrn),
            ));
        }
        self.supersede_referral(&mut record);
        record.satisfied.clear();
        record.data = declaration.clone();
        let charges = self.assess(&mut record);
        if let Some(parcel) = self.parcel(&record, charges) {
            self.effects.push(Effect::UpdateParcel(parcel));
        }
        self.effects.push(Effect::UpdateDeclaration(record));
        Ok(())
    }

    pub(super) fn invalidation(
        &mut self,
        header: &Header,
        found: Option<DeclarationRecord>,
    ) -> Result<(), Rejection> {
        let mut record = Self::open_declaration(header, found)?;
        self.supersede_referral(&mut record);
        record.state = DeclarationState::Invalidated;
        record.updated_at_ms = self.ctx.now_ms;
        if let Some(parcel) = self.parcel(&record, None) {
            self.effects.push(Effect::UpdateParcel(parcel));
        }
        self.effects.push(Effect::UpdateDeclaration(record));
        Ok(())
    }

    /// §5: an answered referral either clears its indicator (and the declaration is
    /// assessed again without it) or, for a screening NOT_CLEAR, ends in Do Not Load.
    pub(super) fn referral_response(
        &mut self,
        header: &Header,
        response: &crate::proto::v1::ReferralResponse,
        referral: Option<ReferralRecord>,
        declaration: Option<DeclarationRecord>,
    ) -> Result<(), Rejection> {
        let unknown = |detail: &str| Rejection::UnknownReferral {
            referral_id: response.referral_id.clone(),
            detail: detail.into(),
        };
        let referral = referral.ok_or_else(|| unknown("no such referral was issued"))?;
        let mut record =
            declaration.ok_or_else(|| unknown("no such referral was issued to this sender"))?;
        if referral.outcome_message_id != header.correlation_id {
            return Err(unknown(&format!(
                "correlation_id must be the OUTCOME that asked ({})",
                referral.outcome_message_id
            )));
        }
        lifecycle::ensure_open(&record.id, record.state)?;
        if referral.status != ReferralStatus::Open {
            return Err(Rejection::ReferralNotOpen {
                referral_id: response.referral_id.clone(),
                detail: format!("it was {}", referral.status.as_str()),
            });
        }
        let verdict = lifecycle::answer(referral.kind, response)?;
        self.effects.push(Effect::CloseReferral {
            referral_id: response.referral_id.clone(),
            status: ReferralStatus::Answered,
        });
        record.open_referral_id.clear();
        match verdict {
            ReferralVerdict::Satisfied => {
                record.satisfied.insert(referral.indicator_id);
                self.assess(&mut record);
            }
            ReferralVerdict::NotCleared => {
                self.issue_outcome(
                    &mut record,
                    Assessed {
                        code: OutcomeCode::DoNotLoad,
                        ..Assessed::default()
                    },
                );
            }
        }
        self.effects.push(Effect::UpdateDeclaration(record));
        Ok(())
    }

    /// Closes the open referral of a declaration whose data or existence changed.
    fn supersede_referral(&mut self, record: &mut DeclarationRecord) {
        if !record.open_referral_id.is_empty() {
            self.effects.push(Effect::CloseReferral {
                referral_id: std::mem::take(&mut record.open_referral_id),
                status: ReferralStatus::Superseded,
            });
        }
    }

    /// Assesses the declaration's current data against the indicators in force (minus the
    /// ones whose referrals it already satisfied) and, when it is charged here, the revenue
    /// checks (§11: a more severe indicator wins; among requests for information the first
    /// revenue check goes before any indicator's), and issues the outcome with its charges.
    /// Returns the charges of the current data, when it is charged here.
    fn assess(&mut self, record: &mut DeclarationRecord) -> Option<Charges> {
        let exclude: HashSet<String> = record.satisfied.iter().cloned().collect();
        let found = self
            .ctx
            .risk
            .assess(&record.data, self.ctx.now_ms, &exclude);
        let policy = self.charging(&record.data);
        let charges = policy.map(|p| revenue::charges(p, &record.data));
        let question = match (policy, &charges) {
            (Some(policy), Some(charges)) => revenue::first_question(
                policy,
                &record.data,
                charges,
                self.others_value,
                &record.satisfied,
            ),
            _ => None,
        };
        let rfi = severity(OutcomeCode::RequestForInformation);
        let assessed = match (found, question) {
            (Some(found), _) if severity(found.code) > rfi => Assessed {
                code: found.code,
                raised_by: found.record.indicator.indicator_id.clone(),
                pointer: found.pointer,
                request_text: None,
                charges,
            },
            (_, Some(question)) => Assessed {
                code: OutcomeCode::RequestForInformation,
                raised_by: question.check.satisfaction_id().to_owned(),
                pointer: question.pointer,
                request_text: Some(question.request_text),
                charges,
            },
            (Some(found), None) => Assessed {
                code: found.code,
                raised_by: found.record.indicator.indicator_id.clone(),
                pointer: found.pointer,
                request_text: None,
                charges,
            },
            (None, None) => Assessed {
                code: OutcomeCode::AssessmentComplete,
                charges,
                ..Assessed::default()
            },
        };
        let charges = assessed.charges.clone();
        self.issue_outcome(record, assessed);
        charges
    }

    /// Issues an OUTCOME to the declaration's sender (read with Fetch), opens a referral
    /// when the outcome asks for one, and moves the declaration's state. A releasing
    /// outcome carries the charges (§11) and starts the return period (§12).
    fn issue_outcome(&mut self, record: &mut DeclarationRecord, assessed: Assessed) {
        let now = self.ctx.now_ms;
        let code = assessed.code;
        let kind = ReferralKind::of(code);
        let referral_id = match kind {
            Some(_) => {
                record.referral_count += 1;
                lifecycle::referral_id(&record.mrn, record.referral_count)
            }
            None => String::new(),
        };
        let releasing = matches!(
            code,
            OutcomeCode::AssessmentComplete | OutcomeCode::ControlOnArrival
        );
        let (charges, total_due) = match (&assessed.charges, releasing) {
            (Some(charges), true) => {
                let (wire, total) = charges.to_wire();
                (wire, Some(total))
            }
            _ => (Vec::new(), None),
        };
        let request_text = assessed
            .request_text
            .unwrap_or_else(|| lifecycle::request_text(code, &assessed.pointer));
        let outcome = Outcome {
            declaration_id: record.id.clone(),
            lrn: record.lrn.clone(),
            mrn: record.mrn.clone(),
            code: code as i32,
            referral_id: referral_id.clone(),
            request_text,
            pointer: if code == OutcomeCode::RequestForInformation {
                assessed.pointer
            } else {
                String::new()
            },
            decided_at_ms: now,
            charges,
            total_due,
        };
        let outcome_message_id = self.issue(
            &record.sender,
            MessageType::Outcome,
            Bytes::from(outcome.encode_to_vec()),
            &record.id,
            Route::Fetch,
        );
        if let Some(kind) = kind {
            self.effects.push(Effect::OpenReferral(ReferralRecord {
                referral_id: referral_id.clone(),
                declaration_id: record.id.clone(),
                outcome_message_id,
                kind,
                indicator_id: assessed.raised_by,
                status: ReferralStatus::Open,
            }));
        }
        if releasing {
            record.account.first_released_at_ms.get_or_insert(now);
            record.account.charges = assessed.charges;
        }
        record.open_referral_id = referral_id;
        record.outcome = code;
        record.state = lifecycle::state_after(code);
        record.updated_at_ms = now;
    }
}

/// What an assessment decided, for [`Books::issue_outcome`].
#[derive(Default)]
struct Assessed {
    code: OutcomeCode,
    /// The indicator id or revenue check a referral records (satisfied when answered).
    raised_by: String,
    pointer: String,
    /// A revenue check's own question; otherwise the lifecycle's text for the code.
    request_text: Option<String>,
    /// The declaration's charges, when it is charged here.
    charges: Option<Charges>,
}
