//! Mutators: byte-level "havoc" for every target, and three that know the input's
//! structure so that a mutant stays well-formed enough to reach the checks behind the
//! parser: protobuf wire format (lengths fixed up after a change deep inside a nested
//! message), JSON (a node of the parsed tree replaced, removed, repeated or grafted from
//! another input) and TOML (a `key = value` line's value replaced, lines repeated, removed
//! or taken from another input).

use serde_json::Value;

use super::targets::Target;

/// SplitMix64: small, fast, and the same sequence for the same seed on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One element of a non-empty slice (`None` for an empty one).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// Integers at the edges of the types the decoders read.
const INTERESTING: &[i64] = &[
    0,
    1,
    -1,
    2,
    16,
    32,
    64,
    100,
    127,
    128,
    255,
    256,
    300,
    512,
    1000,
    1001,
    4000,
    4001,
    65_535,
    65_536,
    1 << 20,
    i32::MAX as i64,
    i32::MIN as i64,
    u32::MAX as i64,
    1 << 32,
    i64::MAX,
    i64::MIN,
    300_000,
    300_001,
    1_780_000_000_000,
];

fn interesting(rng: &mut Rng) -> i64 {
    INTERESTING[rng.below(INTERESTING.len())]
}

/// Byte-level mutation, one to eight stacked changes: bit flips, byte values at the edges,
/// small arithmetic, inserted and deleted runs, copied runs, dictionary tokens, and a
/// splice with another input of the corpus. The result is at most `target.max_len()`.
pub fn havoc(rng: &mut Rng, parent: &[u8], donor: &[u8], target: &Target) -> Vec<u8> {
    let mut data = parent.to_vec();
    let rounds = 1 << rng.below(4);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(13) {
            0 if len > 0 => {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                data[at] = rng.next_u64() as u8;
            }
            2 if len > 0 => {
                let at = rng.below(len);
                data[at] = *rng
                    .pick(&[
                        0u8, 1, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'[', b'\n', b'=',
                    ])
                    .unwrap_or(&0);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let delta = (rng.below(35) as u8).wrapping_sub(17);
                data[at] = data[at].wrapping_add(delta);
            }
            4 => {
                let at = rng.below(len + 1);
                let count = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..count).map(|_| rng.next_u64() as u8).collect();
                data.splice(at..at, bytes);
            }
            5 if len > 0 => {
                let at = rng.below(len);
                let count = 1 + rng.below((len - at).min(32));
                data.drain(at..at + count);
            }
            6 if len > 0 => {
                // Repeat a run in place: longer strings, repeated fields.
                let at = rng.below(len);
                let count = 1 + rng.below((len - at).min(64));
                let run = data[at..at + count].to_vec();
                let times = 1 + rng.below(4);
                for _ in 0..times {
                    data.splice(at..at, run.iter().copied());
                }
            }
            7 if len > 1 => {
                let from = rng.below(len);
                let to = rng.below(len);
                let count = 1 + rng.below((len - from.max(to)).min(16));
                let run = data[from..from + count].to_vec();
                data[to..to + count].copy_from_slice(&run);
            }
            8 | 9 => {
                if let Some(token) = rng.pick(target.dictionary()) {
                    let at = rng.below(len + 1);
                    if rng.one_in(2) || at == len {
                        data.splice(at..at, token.iter().copied());
                    } else {
                        let end = (at + token.len()).min(len);
                        data.splice(at..end, token.iter().copied());
                    }
                }
            }
            10 if !donor.is_empty() => {
                // Splice: a prefix of this input, a suffix of another.
                let cut = rng.below(len + 1);
                let from = rng.below(donor.len());
                data.truncate(cut);
                data.extend_from_slice(&donor[from..]);
            }
            11 if len > 0 => {
                // An integer at an edge, little-endian, 1 to 8 bytes, over what was there.
                let width = 1 + rng.below(8);
                let at = rng.below(len);
                let bytes = interesting(rng).to_le_bytes();
                let end = (at + width).min(len);
                data[at..end].copy_from_slice(&bytes[..end - at]);
            }
            12 if len > 0 => data.truncate(rng.below(len)),
            _ => {}
        }
    }
    data.truncate(target.max_len());
    data
}

/// One field of a protobuf message in wire format.
#[derive(Clone, Debug)]
struct Field {
    number: u64,
    value: Wire,
}

#[derive(Clone, Debug)]
enum Wire {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(Vec<u8>),
    Fixed32([u8; 4]),
}

fn read_varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Parses a whole message in wire format, or `None` when the bytes are not one (groups,
/// which the contract never uses, count as not).
fn parse_message(data: &[u8]) -> Option<Vec<Field>> {
    let mut fields = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let key = read_varint(data, &mut at)?;
        let number = key >> 3;
        if number == 0 {
            return None;
        }
        let value = match key & 7 {
            0 => Wire::Varint(read_varint(data, &mut at)?),
            1 => {
                let bytes = data.get(at..at + 8)?;
                at += 8;
                Wire::Fixed64(bytes.try_into().ok()?)
            }
            2 => {
                let len = usize::try_from(read_varint(data, &mut at)?).ok()?;
                let bytes = data.get(at..at.checked_add(len)?)?;
                at += len;
                Wire::Bytes(bytes.to_vec())
            }
            5 => {
                let bytes = data.get(at..at + 4)?;
                at += 4;
                Wire::Fixed32(bytes.try_into().ok()?)
            }
            _ => return None,
        };
        fields.push(Field { number, value });
    }
    Some(fields)
}

fn encode_message(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        let wire_type = match field.value {
            Wire::Varint(_) => 0,
            Wire::Fixed64(_) => 1,
            Wire::Bytes(_) => 2,
            Wire::Fixed32(_) => 5,
        };
        write_varint(&mut out, field.number << 3 | wire_type);
        match &field.value {
            Wire::Varint(v) => write_varint(&mut out, *v),
            Wire::Fixed64(b) => out.extend_from_slice(b),
            Wire::Bytes(b) => {
                write_varint(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
            Wire::Fixed32(b) => out.extend_from_slice(b),
        }
    }
    out
}

/// Text values that strings of the contract are checked against.
const STRINGS: &[&str] = &[
    "",
    " ",
    "NL",
    "BE",
    "EUR",
    "XXX",
    "adm/NL",
    "adm/BE",
    "ptr/NL/shopco",
    "ptr/NL/flyfast",
    "adm/NL/risk-unit",
    "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
    "0192F3A4-5B6C-7D8E-9F01-23456789ABCD",
    "64041100",
    "6404",
    "IM5280000123",
    "https://example.test/x",
    "\u{0}",
    "é",
    "\u{202e}",
];

fn mutate_string(rng: &mut Rng, bytes: &[u8], target: &Target) -> Vec<u8> {
    match rng.below(6) {
        0 => rng
            .pick(STRINGS)
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
        1 => {
            // Long: past every length limit (64, 128, 512, 4000 characters).
            let unit = rng.pick(&["a", "é", "😀", " "]).copied().unwrap_or("a");
            let count = *rng
                .pick(&[65usize, 129, 257, 513, 4001, 20_000])
                .unwrap_or(&65);
            unit.repeat(count).into_bytes()
        }
        2 => rng.pick(target.dictionary()).cloned().unwrap_or_default(),
        _ => {
            let mutated = havoc(rng, bytes, &[], target);
            String::from_utf8_lossy(&mutated).into_owned().into_bytes()
        }
    }
}

/// Protobuf-aware mutation: parses `parent` (after `skip` leading bytes, kept as they are)
/// as a message, changes one field somewhere in its tree of nested messages, and encodes it
/// again with every length fixed up. `None` when `parent` is not a message.
pub fn proto_mutate(
    rng: &mut Rng,
    parent: &[u8],
    donor: &[u8],
    skip: usize,
    target: &Target,
) -> Option<Vec<u8>> {
    let head = parent.get(..skip)?;
    let mut fields = parse_message(parent.get(skip..)?)?;
    let donor_fields = donor
        .get(skip..)
        .and_then(parse_message)
        .unwrap_or_default();
    mutate_fields(rng, &mut fields, &donor_fields, target, 0);
    let mut out = head.to_vec();
    out.extend(encode_message(&fields));
    (out.len() <= target.max_len()).then_some(out)
}

fn mutate_fields(
    rng: &mut Rng,
    fields: &mut Vec<Field>,
    donor: &[Field],
    target: &Target,
    depth: usize,
) {
    if fields.is_empty() {
        if let Some(field) = rng.pick(donor) {
            fields.push(field.clone());
        }
        return;
    }
    let i = rng.below(fields.len());
    // Go down into a nested message three times in four, up to a depth of 6.
    if depth < 6 && !rng.one_in(4) {
        if let Wire::Bytes(bytes) = &fields[i].value {
            if let Some(mut nested) = parse_message(bytes).filter(|f| !f.is_empty()) {
                // The donor's field of the same number, parsed, if any.
                let number = fields[i].number;
                let nested_donor = donor
                    .iter()
                    .filter(|f| f.number == number)
                    .find_map(|f| match &f.value {
                        Wire::Bytes(b) => parse_message(b),
                        _ => None,
                    })
                    .unwrap_or_default();
                mutate_fields(rng, &mut nested, &nested_donor, target, depth + 1);
                fields[i].value = Wire::Bytes(encode_message(&nested));
                return;
            }
        }
    }
    match rng.below(9) {
        0 => {
            fields.remove(i);
        }
        1 => {
            // Repeat a field: repeated fields past their limits, singular ones given twice.
            let copies = *rng.pick(&[1usize, 2, 10, 101, 1001]).unwrap_or(&1);
            let field = fields[i].clone();
            for _ in 0..copies {
                fields.insert(i, field.clone());
            }
        }
        2 => {
            let j = rng.below(fields.len());
            fields.swap(i, j);
        }
        3 => {
            // Another field number: type confusion between fields.
            fields[i].number = 1 + rng.below(12) as u64;
        }
        4 => {
            if let Some(field) = rng.pick(donor) {
                fields.insert(i, field.clone());
            }
        }
        _ => {
            fields[i].value = match &fields[i].value {
                Wire::Varint(v) => Wire::Varint(match rng.below(3) {
                    0 => interesting(rng) as u64,
                    1 => v.wrapping_add(1),
                    _ => v.wrapping_sub(1),
                }),
                Wire::Fixed64(_) => Wire::Fixed64(interesting(rng).to_le_bytes()),
                Wire::Fixed32(_) => Wire::Fixed32((interesting(rng) as i32).to_le_bytes()),
                Wire::Bytes(b) => Wire::Bytes(mutate_string(rng, b, target)),
            };
        }
    }
}

/// JSON-aware mutation: parses `parent`, changes one node of the tree (a value at an edge,
/// a key removed or added, an array element repeated, a subtree from `donor`), writes it
/// again. `None` when `parent` is not JSON.
pub fn json_mutate(rng: &mut Rng, parent: &[u8], donor: &[u8], target: &Target) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(parent).ok()?;
    let donor: Option<Value> = serde_json::from_slice(donor).ok();
    let mut grafts = Vec::new();
    if let Some(d) = &donor {
        collect_nodes(d, &mut grafts);
    }
    let keys: Vec<String> = grafts
        .iter()
        .filter_map(|v| v.as_object())
        .flat_map(|o| o.keys().cloned())
        .collect();
    mutate_node(rng, &mut value, &grafts, &keys, target, 0);
    let out = if rng.one_in(2) {
        serde_json::to_vec_pretty(&value).ok()?
    } else {
        serde_json::to_vec(&value).ok()?
    };
    (out.len() <= target.max_len()).then_some(out)
}

fn collect_nodes(value: &Value, out: &mut Vec<Value>) {
    out.push(value.clone());
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_nodes(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_nodes(v, out)),
        _ => {}
    }
}

fn interesting_json(rng: &mut Rng, target: &Target) -> Value {
    match rng.below(12) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => Value::from(interesting(rng)),
        3 => Value::from(u64::MAX),
        4 => serde_json::Number::from_f64(*rng.pick(&[0.5, -0.0, 1e300, -1e-300]).unwrap_or(&0.5))
            .map_or(Value::Null, Value::Number),
        5 => Value::Array(Vec::new()),
        6 => Value::Object(serde_json::Map::new()),
        7 => Value::from(
            *rng.pick(&[
                "1970-01-01T00:00:00Z",
                "1970-01-01T00:00:00.001Z",
                "9999-12-31T23:59:59.999999999Z",
                "0000-01-01T00:00:00Z",
                "2026-02-30T00:00:00Z",
                "2026-06-30T23:59:60Z",
                "2026-06-30T23:59:59+14:00",
                "2026-06-30T23:59:59-23:59",
                "2026-06-30",
            ])
            .unwrap_or(&""),
        ),
        8 => Value::from(String::from_utf8_lossy(
            &rng.pick(target.dictionary()).cloned().unwrap_or_default(),
        )),
        _ => Value::from(String::from_utf8_lossy(&mutate_string(rng, b"x", target)).into_owned()),
    }
}

fn mutate_node(
    rng: &mut Rng,
    value: &mut Value,
    grafts: &[Value],
    keys: &[String],
    target: &Target,
    depth: usize,
) {
    // Go down two times in three while there is somewhere to go.
    if depth < 8 && !rng.one_in(3) {
        match value {
            Value::Array(items) if !items.is_empty() => {
                let i = rng.below(items.len());
                return mutate_node(rng, &mut items[i], grafts, keys, target, depth + 1);
            }
            Value::Object(map) if !map.is_empty() => {
                let i = rng.below(map.len());
                if let Some(child) = map.values_mut().nth(i) {
                    return mutate_node(rng, child, grafts, keys, target, depth + 1);
                }
            }
            _ => {}
        }
    }
    match value {
        Value::Array(items) if !items.is_empty() && rng.one_in(2) => {
            let i = rng.below(items.len());
            match rng.below(3) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copies = *rng.pick(&[1usize, 2, 100, 1001]).unwrap_or(&1);
                    let item = items[i].clone();
                    items.extend(std::iter::repeat_n(item, copies));
                }
                _ => {
                    if let Some(graft) = rng.pick(grafts) {
                        items.push(graft.clone());
                    }
                }
            }
        }
        Value::Object(map) if !map.is_empty() && rng.one_in(2) => {
            let i = rng.below(map.len());
            let key = map.keys().nth(i).cloned().unwrap_or_default();
            match rng.below(3) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    // A key of another input or of the dictionary: misplaced or unknown keys.
                    let new_key = rng.pick(keys).cloned().unwrap_or_else(|| format!("{key}_"));
                    let moved = map.remove(&key).unwrap_or(Value::Null);
                    map.insert(new_key, moved);
                }
                _ => {
                    if let (Some(new_key), Some(graft)) = (rng.pick(keys), rng.pick(grafts)) {
                        map.insert(new_key.clone(), graft.clone());
                    }
                }
            }
        }
        Value::String(text) if rng.one_in(2) => {
            *text =
                String::from_utf8_lossy(&mutate_string(rng, text.as_bytes(), target)).into_owned();
        }
        Value::Number(n) if rng.one_in(2) => {
            let v = n.as_i64().unwrap_or_default();
            *value = Value::from(match rng.below(3) {
                0 => v.wrapping_add(1),
                1 => v.wrapping_sub(1),
                _ => v.wrapping_neg(),
            });
        }
        _ => {
            *value = if rng.one_in(2) {
                rng.pick(grafts)
                    .cloned()
                    .unwrap_or_else(|| interesting_json(rng, target))
            } else {
                interesting_json(rng, target)
            };
        }
    }
}

/// TOML values at the edges of what the configuration files read.
const TOML_VALUES: &[&str] = &[
    "\"\"",
    "0",
    "-1",
    "1",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "1e400",
    "nan",
    "-inf",
    "0.5",
    "true",
    "[]",
    "{}",
    "[1, \"a\"]",
    "\".\"",
    "\"/\"",
    "\"..\"",
    "\"\\u0000\"",
    "'''\nx'''",
    "1979-05-27T07:32:00Z",
    "\"EUR\"",
    "\"adm/NL\"",
    "\"0.000001\"",
    "\"1e3\"",
    "\"-1\"",
    "\"1/3\"",
];

/// A value of the same TOML kind as `old` (a string, an integer, a boolean, an array), so
/// that the file still reads as the configuration and the mutant reaches what the value
/// means: another file, a path that is no file, an id that is no participant, a number at
/// an edge.
fn toml_same_kind(rng: &mut Rng, old: &str, target: &Target) -> String {
    let string = |rng: &mut Rng| {
        let inner = old.trim_matches('"').as_bytes();
        let text = match rng.below(3) {
            0 => rng
                .pick(target.dictionary())
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .unwrap_or_default(),
            _ => String::from_utf8_lossy(&mutate_string(rng, inner, target)).into_owned(),
        };
        toml::Value::String(text).to_string()
    };
    if old.starts_with('"') || old.starts_with('\'') {
        string(rng)
    } else if let Ok(n) = old.parse::<i64>() {
        match rng.below(3) {
            0 => n.wrapping_add(1).to_string(),
            1 => n.wrapping_sub(1).to_string(),
            _ => interesting(rng).to_string(),
        }
    } else if old == "true" || old == "false" {
        (old == "false").to_string()
    } else if old.starts_with('[') {
        match rng.below(3) {
            0 => "[]".to_owned(),
            1 => format!("[{}]", string(rng)),
            _ => format!(
                "[{}, {}]",
                old.trim_start_matches('[').trim_end_matches(']'),
                string(rng)
            ),
        }
    } else {
        string(rng)
    }
}

/// TOML-aware mutation at the level of lines: a value replaced, a line removed, repeated,
/// moved, or taken from another input, a key renamed, a table header added. `None` when
/// `parent` is not UTF-8.
pub fn toml_mutate(rng: &mut Rng, parent: &[u8], donor: &[u8], target: &Target) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(parent).ok()?;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let donor_lines: Vec<&str> = std::str::from_utf8(donor)
        .map(|d| d.lines().collect())
        .unwrap_or_default();
    let rounds = 1 + rng.below(2);
    for _ in 0..rounds {
        let assignments: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains('=') && !l.trim_start().starts_with('#'))
            .map(|(i, _)| i)
            .collect();
        let i = rng.below(lines.len().max(1));
        match rng.below(10) {
            0..=4 => {
                if let Some(&at) = rng.pick(&assignments) {
                    if let Some((key, _)) = lines[at].clone().split_once('=') {
                        let old = lines[at].split_once('=').map_or("", |(_, v)| v.trim());
                        let value = match rng.below(4) {
                            0 => rng
                                .pick(&donor_lines)
                                .and_then(|l| l.split_once('='))
                                .map(|(_, v)| v.trim().to_owned())
                                .unwrap_or_default(),
                            1 => rng.pick(TOML_VALUES).copied().unwrap_or("0").to_owned(),
                            _ => toml_same_kind(rng, old, target),
                        };
                        lines[at] = format!("{}= {value}", key);
                    }
                }
            }
            5 if !lines.is_empty() => {
                lines.remove(i);
            }
            6 if !lines.is_empty() => {
                let line = lines[i].clone();
                let at = rng.below(lines.len() + 1);
                lines.insert(at, line);
            }
            7 => {
                if let Some(line) = rng.pick(&donor_lines) {
                    let at = rng.below(lines.len() + 1);
                    lines.insert(at, (*line).to_owned());
                }
            }
            8 => {
                if let Some(token) = rng.pick(target.dictionary()) {
                    let at = rng.below(lines.len() + 1);
                    let word = String::from_utf8_lossy(token);
                    let line = if rng.one_in(2) {
                        format!("[{word}]")
                    } else {
                        format!("{word} = {}", rng.pick(TOML_VALUES).copied().unwrap_or("0"))
                    };
                    lines.insert(at, line);
                }
            }
            _ => {
                if let Some(&at) = rng.pick(&assignments) {
                    if let Some((_, value)) = lines[at].clone().split_once('=') {
                        let key = rng
                            .pick(target.dictionary())
                            .map(|t| String::from_utf8_lossy(t).into_owned())
                            .unwrap_or_default();
                        lines[at] = format!("{key} ={value}");
                    }
                }
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    let out = out.into_bytes();
    (out.len() <= target.max_len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_round_trips() {
        let message = crate::proto::v1::Money {
            currency: "EUR".into(),
            amount_minor: -5,
        };
        let bytes = prost::Message::encode_to_vec(&message);
        let fields = parse_message(&bytes).unwrap_or_default();
        assert_eq!(fields.len(), 2);
        assert_eq!(encode_message(&fields), bytes);
    }

    #[test]
    fn the_generator_is_the_same_for_the_same_seed() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        assert!(a.below(10) < 10);
    }
}
