//! Counting a repeated field in protobuf bytes without decoding them (issue 15, item 7).
//!
//! prost decodes a repeated field into one structure per entry before anything can look at
//! its length: a 1 MB payload of 500,000 empty `items` became 500,000 `Item`s (and then a
//! violation each), about 130 MB for one request. The contract bounds every list a partner
//! may send (999 items, 999 returned lines, 1,000 values per indicator criterion), so
//! admission counts the entries first, on the bytes, and refuses an over-long list with the
//! same violation validation would give, before a single entry is built.
//!
//! The scan walks the wire format only as far as it must (keys, varints, lengths) and
//! allocates nothing. Bytes it cannot walk are left to the decoder, which refuses them with
//! its own, more precise, message.

/// How many times the field at `path` occurs in `bytes`: `[12]` counts the top-level field
/// 12; `[7, 1]` counts field 1 inside every occurrence of the message field 7 (protobuf
/// merges repeated occurrences of a message field, so their lists add up). `None` when the
/// bytes are not well-formed protobuf on the way.
pub fn count_field(bytes: &[u8], path: &[u32]) -> Option<usize> {
    let (&wanted, rest) = path.split_first()?;
    let mut count = 0usize;
    let mut input = bytes;
    while !input.is_empty() {
        let key = read_varint(&mut input)?;
        let field = u32::try_from(key >> 3).ok()?;
        match key & 7 {
            // varint
            0 => {
                read_varint(&mut input)?;
                count += usize::from(field == wanted && rest.is_empty());
            }
            // 64-bit
            1 => {
                input = input.get(8..)?;
                count += usize::from(field == wanted && rest.is_empty());
            }
            // length-delimited
            2 => {
                let length = usize::try_from(read_varint(&mut input)?).ok()?;
                let value = input.get(..length)?;
                input = input.get(length..)?;
                if field == wanted {
                    count += if rest.is_empty() {
                        1
                    } else {
                        count_field(value, rest)?
                    };
                }
            }
            // 32-bit
            5 => {
                input = input.get(4..)?;
                count += usize::from(field == wanted && rest.is_empty());
            }
            // groups (deprecated, unused by the contract) and invalid wire types
            _ => return None,
        }
    }
    Some(count)
}

/// Reads one base-128 varint (at most 10 bytes) and advances past it.
fn read_varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (index, &byte) in input.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            *input = &input[index + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::{Criteria, ReturnNotice, ReturnedLine, RiskIndicator};
    use prost::Message;

    #[test]
    fn counts_what_prost_decodes() {
        let declaration = crate::core::validation::sample_declaration("LRN-1");
        let bytes = declaration.encode_to_vec();
        assert_eq!(count_field(&bytes, &[12]), Some(declaration.items.len()));
        let notice = ReturnNotice {
            lines: vec![
                ReturnedLine::default(),
                ReturnedLine {
                    item: 2,
                    quantity: 1,
                },
            ],
            exited_at_ms: 5,
            ..ReturnNotice::default()
        };
        assert_eq!(count_field(&notice.encode_to_vec(), &[3]), Some(2));
        let indicator = RiskIndicator {
            indicator_id: "X".into(),
            criteria: Some(Criteria {
                hs_prefixes: vec!["61".into(), "62".into(), String::new()],
                description_terms: vec!["shoe".into()],
                ..Criteria::default()
            }),
            ..RiskIndicator::default()
        };
        let bytes = indicator.encode_to_vec();
        assert_eq!(count_field(&bytes, &[7, 1]), Some(3));
        assert_eq!(count_field(&bytes, &[7, 6]), Some(1));
        assert_eq!(count_field(&bytes, &[7, 2]), Some(0));
    }

    #[test]
    fn repeated_occurrences_of_a_message_field_add_up_as_protobuf_merges_them() {
        let part = |prefix: &str| {
            RiskIndicator {
                criteria: Some(Criteria {
                    hs_prefixes: vec![prefix.into()],
                    ..Criteria::default()
                }),
                ..RiskIndicator::default()
            }
            .encode_to_vec()
        };
        let bytes = [part("61"), part("62")].concat();
        let merged = RiskIndicator::decode(bytes.as_slice()).expect("decodes");
        let decoded = merged.criteria.expect("criteria").hs_prefixes.len();
        assert_eq!(count_field(&bytes, &[7, 1]), Some(decoded));
    }

    #[test]
    fn bytes_it_cannot_walk_are_left_to_the_decoder() {
        assert_eq!(
            count_field(&[0x62, 0x05, 0x00], &[12]),
            None,
            "length beyond the end"
        );
        assert_eq!(count_field(&[0x80], &[12]), None, "unfinished varint");
        assert_eq!(count_field(&[0x63], &[12]), None, "a group");
        assert_eq!(count_field(&[0xff; 11], &[12]), None, "an 11-byte varint");
        assert_eq!(count_field(&[], &[12]), Some(0));
    }
}
