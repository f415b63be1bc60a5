//! The assessment chapter (PROTOCOL.md §8): every accepted declaration gets exactly one
//! signed OUTCOME; the batch before matched no indicator and was released, and six
//! consignments are followed through their outcomes (release, request for information,
//! screening CLEAR and NOT CLEAR, Do Not Load, control on arrival) the way a customs officer
//! follows a case, ending in a worklist of where each stands.

use super::admission::Batch;
use super::data::{battery, phone, refills, toner, trainers};
use super::indicators::Published;
use super::stage::{answer, file, follow, outcomes_for, print_status, Answer, Stage};
use super::NL;
use crate::client::{ClientError, Participant};
use crate::proto::v1::{
    AdvanceDeclaration, MessageType, OutcomeCode, Receipt, ScreeningResult, StatusResponse,
};
use crate::render::{describe_refusal, goods_summary, state_in_brief, state_name, wrap};
use bytes::Bytes;
use prost::Message;

/// ShopCo's answer to the request for information about the trainers.
const TRAINERS_ANSWER: &str = "Unbranded running shoes made in the seller's own factory in Putian; no logos or \
                 trademarks on the shoes, box or labels. Supplier invoice FT-2026-11873 and product \
                 photos are in ShopCo case 55120.";

/// Tells the chapter: the batch's outcomes, then the six cases, then the worklist.
pub(super) async fn follow_cases(
    stage: &mut Stage,
    batch: &Batch,
    published: &Published,
) -> Result<(), String> {
    let in_force = &published.in_force;
    let own = in_force.values().filter(|i| i.issuer == NL).count();
    let mut officer = Officer {
        trust_version: stage.trust_version,
        stories: 0,
        cases: Vec::new(),
    };
    officer
        .batch_released(
            stage,
            &batch.receipts,
            &format!(
                "the {} indicators in force at adm/NL ({own} of its own and {} received from adm/BE)",
                in_force.len(),
                in_force.len() - own
            ),
        )
        .await?;
    officer.released_at_once(stage, batch).await?;
    officer
        .referred(
            &mut stage.shopco,
            "ShopCo",
            "Request for information, answered: trainers from a seller under watch",
            &trainers(),
            Answer::Information(TRAINERS_ANSWER),
        )
        .await?;
    officer
        .referred(
            &mut stage.flyfast,
            "FlyFast",
            "Request for screening, screened CLEAR: toner cartridges by air",
            &toner(),
            Answer::Screening(ScreeningResult::Clear),
        )
        .await?;
    let refills = refills();
    let id = officer
        .referred(
            &mut stage.flyfast,
            "FlyFast",
            "Request for screening, NOT CLEAR: the screening found a threat",
            &refills,
            Answer::Screening(ScreeningResult::NotClear),
        )
        .await?;
    try_to_amend(&mut stage.flyfast, &id, &refills).await?;
    officer
        .decided(
            &mut stage.flyfast,
            "FlyFast",
            "Do Not Load: a lithium-ion battery pack as general cargo",
            &battery(),
        )
        .await?;
    officer
        .decided(
            &mut stage.shopco,
            "ShopCo",
            "Control on arrival: a smartphone declared at EUR 18.50",
            &phone(),
        )
        .await?;
    officer.summary();
    Ok(())
}

/// A Do Not Load is final: FlyFast's amendment of `id` is refused, and the report says so.
async fn try_to_amend(
    flyfast: &mut Participant,
    id: &str,
    refills: &AdvanceDeclaration,
) -> Result<(), String> {
    let amendment = flyfast.seal(
        MessageType::Amendment,
        Bytes::from(refills.encode_to_vec()),
        id,
    );
    match flyfast.submit(amendment).await {
        Err(ClientError::Refused(status)) => {
            let refusal = describe_refusal(&status);
            let first = refusal.lines().next().unwrap_or_default();
            println!("   FlyFast tries to amend it: {first} (a Do Not Load is final)");
        }
        Ok(_) => println!("   FlyFast tries to amend it: ACCEPTED (unexpected)"),
        Err(other) => return Err(other.to_string()),
    }

    Ok(())
}

/// The second part of the demo: consignments followed through their outcomes, told the
/// way a customs officer follows a case.
struct Officer {
    trust_version: u64,
    stories: u8,
    /// Each story's final Status, for the summary.
    cases: Vec<StatusResponse>,
}

impl Officer {
    /// The chapter's heading, and whether the batch accepted before was released.
    async fn batch_released(
        &mut self,
        stage: &Stage,
        accepted: &[(&'static str, Receipt)],
        in_force: &str,
    ) -> Result<(), String> {
        println!("\nRisk assessment and outcomes (PROTOCOL.md §8)");
        println!("=============================================");
        println!(
            "{}",
            wrap(
                &format!(
                    "Every accepted declaration is assessed against {in_force} when it is committed \
                     and gets exactly one OUTCOME, signed by adm/NL, which the partner reads with Fetch and checks \
                     against trust list v{}. Outcomes never name the indicator, its criteria or its issuer. \
                     A releasing outcome (ASSESSMENT_COMPLETE, CONTROL_ON_ARRIVAL) also states, signed, what \
                     the consignment owes at the border (§11; see \"Revenue and returns\" below).",
                    self.trust_version
                ),
                0,
                100
            )
        );
        let mut released = 0;
        for (filer, receipt) in accepted {
            let partner = if *filer == "FlyFast" {
                &stage.flyfast
            } else {
                &stage.shopco
            };
            let outcomes = outcomes_for(partner, &receipt.message_id).await?;
            if outcomes
                .iter()
                .all(|(_, _, o)| o.code == OutcomeCode::AssessmentComplete as i32)
            {
                released += 1;
            }
        }
        if released == accepted.len() {
            println!(
                "The {released} declarations accepted above matched no indicator: each was released (ASSESSMENT_COMPLETE)."
            );
        } else {
            println!(
                "Of the {} declarations accepted above, {released} were released (ASSESSMENT_COMPLETE).",
                accepted.len()
            );
        }

        Ok(())
    }

    /// Case A: the clean declaration of the batch, released at once.
    async fn released_at_once(&mut self, stage: &Stage, batch: &Batch) -> Result<(), String> {
        let accepted = &batch.receipts;
        let Some((_, receipt)) = accepted.iter().find(|(filer, _)| *filer == "ShopCo") else {
            return Err("the clean declaration was not accepted".into());
        };
        self.heading(
            "Clean consignment: released at once",
            "ShopCo",
            &batch.clean,
        );
        println!(
            "   accepted above as log entry {}, declaration id {}",
            receipt.log_index, receipt.message_id
        );
        follow(&stage.shopco, &receipt.message_id, 0).await?;
        self.status(&stage.shopco, &receipt.message_id).await?;

        Ok(())
    }

    /// A case whose first outcome asks something (information, screening): filed,
    /// answered, and followed to the outcome the answer leads to. Returns the declaration
    /// id.
    async fn referred(
        &mut self,
        p: &mut Participant,
        filer: &str,
        title: &str,
        d: &AdvanceDeclaration,
        how: Answer<'_>,
    ) -> Result<String, String> {
        self.heading(title, filer, d);
        let id = file(p, d).await?;
        follow(p, &id, 0).await?;
        answer(p, &id, filer, how).await?;
        follow(p, &id, 1).await?;
        self.status(p, &id).await?;
        Ok(id)
    }

    /// A case decided by its first outcome (Do Not Load, control on arrival).
    async fn decided(
        &mut self,
        p: &mut Participant,
        filer: &str,
        title: &str,
        d: &AdvanceDeclaration,
    ) -> Result<(), String> {
        self.heading(title, filer, d);
        let id = file(p, d).await?;
        follow(p, &id, 0).await?;
        self.status(p, &id).await
    }

    /// One line a consignment: where each ended, by LRN and MRN, as an officer's worklist.
    fn summary(&self) {
        println!("\nWhere they stand (Status of each declaration, as its filer may ask):");
        println!("   {:<15} {:<19} {:<19} MEANING", "LRN", "MRN", "STATE");
        for status in &self.cases {
            println!(
                "   {:<15} {:<19} {:<19} {}",
                status.lrn,
                status.mrn,
                state_name(status.state),
                state_in_brief(status.state)
            );
        }
        println!();
    }

    fn heading(&mut self, title: &str, filer: &str, d: &AdvanceDeclaration) {
        let letter = char::from(b'A' + self.stories);
        self.stories += 1;
        let seller = d.seller.as_ref().map(|s| s.name.as_str()).unwrap_or("-");
        println!("\n{letter}. {title}");
        println!(
            "   {filer}, LRN {}: {} (seller {seller})",
            d.lrn,
            goods_summary(d)
        );
    }

    async fn status(&mut self, p: &Participant, id: &str) -> Result<(), String> {
        let status = print_status(p, id).await?;
        self.cases.push(status);
        Ok(())
    }
}
