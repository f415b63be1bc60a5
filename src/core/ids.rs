//! Identifier syntax of §1. Kept apart because the same rules gate the wire (MALFORMED), the
//! trust list (a list naming a malformed participant is refused) and the PKI tool.

/// Longest participant id the contract allows.
pub const MAX_PARTICIPANT_ID_LEN: usize = 64;

/// A participant id is 1–64 characters of `/`-joined segments of `[A-Za-z0-9._-]+`.
pub fn is_participant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_PARTICIPANT_ID_LEN
        && id.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// A message id is a UUID in its canonical lowercase, hyphenated, 36-character form, so
/// that the same message can never be stored under two spellings.
pub fn is_message_id(id: &str) -> bool {
    id.len() == 36
        && uuid::Uuid::try_parse(id)
            .map(|parsed| parsed.hyphenated().to_string() == id)
            .unwrap_or(false)
}

/// The administration an internal participant belongs to (`adm/NL/risk-unit` → `adm/NL`),
/// or `None` for an id that is not below an administration.
pub fn parent_administration(id: &str) -> Option<&str> {
    let mut parts = id.splitn(3, '/');
    let (first, country, rest) = (parts.next()?, parts.next()?, parts.next()?);
    if first != "adm" || rest.is_empty() {
        return None;
    }
    Some(&id[..first.len() + 1 + country.len()])
}

/// A file-name-safe form of a participant id (`adm/NL` → `adm-NL`), used by the PKI tool
/// and in default data folders.
pub fn slug(id: &str) -> String {
    id.replace('/', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participant_ids_follow_section_1() {
        for good in [
            "adm/NL",
            "ptr/NL/shopco",
            "adm/NL/risk-unit",
            "ptr/NL/cafe.shop-1",
            "a",
        ] {
            assert!(is_participant_id(good), "{good}");
        }
        let too_long = "a".repeat(65);
        for bad in [
            "",
            "/adm",
            "adm/",
            "adm//NL",
            "adm/N L",
            "adm/NL\n",
            "ädm/NL",
            too_long.as_str(),
        ] {
            assert!(!is_participant_id(bad), "{bad:?}");
        }
        assert!(is_participant_id(&"a".repeat(64)));
    }

    #[test]
    fn message_ids_must_be_canonical_uuids() {
        assert!(is_message_id("0192f3a4-5b6c-7d8e-9f01-23456789abcd"));
        assert!(!is_message_id("0192F3A4-5B6C-7D8E-9F01-23456789ABCD"));
        assert!(!is_message_id("0192f3a45b6c7d8e9f0123456789abcd"));
        assert!(!is_message_id("{0192f3a4-5b6c-7d8e-9f01-23456789abcd}"));
        assert!(!is_message_id("0192f3a4-5b6c-7d8e-9f01-23456789abcg"));
        assert!(!is_message_id(""));
    }

    #[test]
    fn internal_participants_belong_to_their_administration() {
        assert_eq!(parent_administration("adm/NL/risk-unit"), Some("adm/NL"));
        assert_eq!(parent_administration("adm/NL/a/b"), Some("adm/NL"));
        assert_eq!(parent_administration("adm/NL"), None);
        assert_eq!(parent_administration("ptr/NL/shopco"), None);
    }
}
