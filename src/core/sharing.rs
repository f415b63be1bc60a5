//! Who may receive what between administrations (PROTOCOL.md §8): the sharing rules for
//! risk indicators and the routing of forwarded declarations, as pure functions of the
//! trust list.
//!
//! Intelligence is shared under TLP 2.0 and the agreements of the trust list, and the rules
//! are checked twice: by the sender before anything is queued for a peer, and by the
//! receiver before a received indicator is stored. A misconfigured or compromised sender
//! therefore cannot push a RED indicator, or personal data the agreement does not cover,
//! into a peer's risk engine.

use crate::core::rejection::Rejection;
use crate::core::trust::{AgreementEntry, Exchange, Role, TlpLevel, TrustList};
use crate::proto::v1::{AdvanceDeclaration, RiskIndicator, Tlp};

/// The TLP level of an indicator's wire value; unknown values count as RED, the level
/// that never leaves (an indicator with an unknown marking is not shared by guessing).
pub fn tlp_level(tlp: i32) -> TlpLevel {
    match Tlp::try_from(tlp) {
        Ok(Tlp::Clear) => TlpLevel::Clear,
        Ok(Tlp::Green) => TlpLevel::Green,
        Ok(Tlp::Amber) => TlpLevel::Amber,
        Ok(Tlp::AmberStrict) => TlpLevel::AmberStrict,
        Ok(Tlp::Red) | Ok(Tlp::Unspecified) | Err(_) => TlpLevel::Red,
    }
}

/// Whether this agreement lets this indicator cross: it lists `risk_indicator`, its
/// `max_tlp` is at least the indicator's, it allows personal data if the indicator holds
/// some, and the indicator is not RED (whatever the agreement says).
fn agreement_allows(agreement: &AgreementEntry, indicator: &RiskIndicator) -> bool {
    let level = tlp_level(indicator.tlp);
    agreement.exchange.contains(&Exchange::RiskIndicator)
        && level != TlpLevel::Red
        && level <= agreement.max_tlp
        && (!indicator.personal_data || agreement.personal_data)
}

fn agreements_between<'a>(
    trust: &'a TrustList,
    a: &'a str,
    b: &'a str,
) -> impl Iterator<Item = &'a AgreementEntry> + 'a {
    trust.document().agreements.iter().filter(move |agreement| {
        a != b
            && agreement.parties.iter().any(|p| p == a)
            && agreement.parties.iter().any(|p| p == b)
    })
}

/// The peer administrations `own` sends an indicator it issued to, in trust-list order,
/// without duplicates. Only indicators issued by `own` (published by its internal
/// participants) are ever passed here: a received indicator is never re-shared.
pub fn indicator_routes(trust: &TrustList, own: &str, indicator: &RiskIndicator) -> Vec<String> {
    let mut peers: Vec<String> = Vec::new();
    for participant in &trust.document().participants {
        if participant.role != Role::Administration || participant.id == own {
            continue;
        }
        if agreements_between(trust, own, &participant.id)
            .any(|agreement| agreement_allows(agreement, indicator))
            && !peers.contains(&participant.id)
        {
            peers.push(participant.id.clone());
        }
    }
    peers
}

/// The receiver's own check of a RISK_INDICATOR pushed by the administration `sender`:
/// some agreement between them must allow this indicator to cross.
pub fn check_received_indicator(
    trust: &TrustList,
    own: &str,
    sender: &str,
    indicator: &RiskIndicator,
) -> Result<(), Rejection> {
    if agreements_between(trust, own, sender)
        .any(|agreement| agreement_allows(agreement, indicator))
    {
        return Ok(());
    }
    let level = tlp_level(indicator.tlp);
    let why = if level == TlpLevel::Red {
        "a RED indicator never leaves its issuer".to_owned()
    } else if indicator.personal_data {
        format!(
            "no agreement between {sender} and {own} lets {level:?} indicators with personal data cross"
        )
    } else {
        format!("no agreement between {sender} and {own} lets {level:?} indicators cross")
    };
    Err(Rejection::NotAuthorized(why))
}

/// The administration an accepted declaration is forwarded to (§8): the one of its
/// `country_of_destination`, when that is not `own` and an agreement between them lists
/// `forwarded_declaration`.
pub fn forwarding_target(
    trust: &TrustList,
    own: &str,
    declaration: &AdvanceDeclaration,
) -> Option<String> {
    let target = format!("adm/{}", declaration.country_of_destination);
    if target == own {
        return None;
    }
    let is_administration =
        matches!(trust.participant(&target), Some(p) if p.role == Role::Administration);
    let agreed = trust
        .agreement(own, &target, Exchange::ForwardedDeclaration)
        .is_some();
    (is_administration && agreed).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::trust::testing;
    use std::sync::OnceLock;

    const NL: &str = "adm/NL";
    const BE: &str = "adm/BE";
    const DE: &str = "adm/DE";
    const FR: &str = "adm/FR";

    fn agreement(
        id: &str,
        a: &str,
        b: &str,
        exchange: &[Exchange],
        max_tlp: TlpLevel,
        personal_data: bool,
    ) -> AgreementEntry {
        AgreementEntry {
            id: id.into(),
            parties: vec![a.into(), b.into()],
            exchange: exchange.to_vec(),
            max_tlp,
            personal_data,
        }
    }

    /// Four administrations: NL–BE may exchange up to AMBER without personal data (and
    /// forward declarations), NL–DE up to AMBER+STRICT with personal data, NL–FR only
    /// forward declarations (with a max_tlp of RED that must not matter), BE–FR indicators
    /// up to RED with personal data (RED still never leaves).
    fn trust() -> &'static TrustList {
        static LIST: OnceLock<TrustList> = OnceLock::new();
        LIST.get_or_init(|| {
            let (ri, fd) = (Exchange::RiskIndicator, Exchange::ForwardedDeclaration);
            testing::verified(&testing::document(
                [NL, BE, DE, FR]
                    .map(|id| testing::administration(id, vec![]))
                    .to_vec(),
                vec![
                    agreement("nl-be", NL, BE, &[ri, fd], TlpLevel::Amber, false),
                    agreement("nl-de", NL, DE, &[ri], TlpLevel::AmberStrict, true),
                    agreement("nl-fr", NL, FR, &[fd], TlpLevel::Red, true),
                    agreement("be-fr", BE, FR, &[ri], TlpLevel::Red, true),
                ],
            ))
        })
    }

    fn indicator(tlp: Tlp, personal_data: bool) -> RiskIndicator {
        RiskIndicator {
            indicator_id: "T-1".into(),
            version: 1,
            tlp: tlp as i32,
            personal_data,
            ..Default::default()
        }
    }

    #[test]
    fn indicators_cross_exactly_where_an_agreement_allows_their_tlp_and_personal_data() {
        use Tlp::*;
        // (TLP, personal data) → peers of NL, then peers of BE.
        let expected: [(Tlp, bool, &[&str], &[&str]); 10] = [
            (Clear, false, &[BE, DE], &[NL, FR]),
            (Clear, true, &[DE], &[FR]),
            (Green, false, &[BE, DE], &[NL, FR]),
            (Green, true, &[DE], &[FR]),
            (Amber, false, &[BE, DE], &[NL, FR]),
            (Amber, true, &[DE], &[FR]),
            (AmberStrict, false, &[DE], &[FR]),
            (AmberStrict, true, &[DE], &[FR]),
            (Red, false, &[], &[]),
            (Red, true, &[], &[]),
        ];
        let order = |peers: Vec<String>| {
            let mut peers = peers;
            peers.sort();
            peers
        };
        for (tlp, personal, from_nl, from_be) in expected {
            let indicator = indicator(tlp, personal);
            let sorted = |list: &[&str]| {
                let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
                v.sort();
                v
            };
            assert_eq!(
                order(indicator_routes(trust(), NL, &indicator)),
                sorted(from_nl),
                "{tlp:?} personal={personal} from NL"
            );
            assert_eq!(
                order(indicator_routes(trust(), BE, &indicator)),
                sorted(from_be),
                "{tlp:?} personal={personal} from BE"
            );
            // The receiver applies the same rule to what it is sent.
            for (sender, routes) in [(NL, from_nl), (BE, from_be)] {
                for receiver in [NL, BE, DE, FR] {
                    let accepted =
                        check_received_indicator(trust(), receiver, sender, &indicator).is_ok();
                    assert_eq!(
                        accepted,
                        routes.contains(&receiver),
                        "{tlp:?} personal={personal} {sender} → {receiver}"
                    );
                }
            }
        }
        // DE–FR have no agreement at all; an unknown TLP value is treated as RED.
        assert!(indicator_routes(trust(), DE, &indicator(Clear, false)) == [NL]);
        let mut unknown = indicator(Clear, false);
        unknown.tlp = 42;
        assert!(indicator_routes(trust(), NL, &unknown).is_empty());
        let refused = check_received_indicator(trust(), BE, NL, &indicator(Red, false));
        assert!(
            matches!(&refused, Err(Rejection::NotAuthorized(why)) if why.contains("RED indicator never leaves")),
            "{refused:?}"
        );
    }

    #[test]
    fn declarations_are_forwarded_to_their_destination_only_under_a_forwarding_agreement() {
        let to = |country: &str| AdvanceDeclaration {
            country_of_destination: country.into(),
            ..Default::default()
        };
        assert_eq!(forwarding_target(trust(), NL, &to("BE")), Some(BE.into()));
        assert_eq!(forwarding_target(trust(), NL, &to("FR")), Some(FR.into()));
        assert_eq!(
            forwarding_target(trust(), NL, &to("DE")),
            None,
            "indicators only"
        );
        assert_eq!(forwarding_target(trust(), NL, &to("NL")), None, "our own");
        assert_eq!(
            forwarding_target(trust(), NL, &to("IT")),
            None,
            "not in the federation"
        );
        assert_eq!(
            forwarding_target(trust(), BE, &to("FR")),
            None,
            "BE–FR: indicators only"
        );
        assert_eq!(forwarding_target(trust(), BE, &to("NL")), Some(NL.into()));
    }
}
