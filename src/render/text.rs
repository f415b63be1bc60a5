//! Small pieces of wording and layout that every printed text shares, so that counts,
//! empty fields and wrapped paragraphs read the same in every command.

use std::fmt::Write as _;

/// `1 delivery`, `2 deliveries`: counts are read by people, who stumble on `1 deliveries`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `-` for an empty field, so that a blank column is not mistaken for a misaligned one.
pub fn or_dash(text: &str) -> &str {
    if text.is_empty() {
        "-"
    } else {
        text
    }
}

/// Every non-empty line of `text` moved right by `by` spaces, so that a block rendered for
/// one place (a field list, the charges) can be nested under a line of a story.
pub fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{:by$}{line}", "")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Wraps `text` at `width` columns, every line indented by `indent` spaces, so that a
/// paragraph stays inside the report it is part of.
pub fn wrap(text: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.chars().count() + 1 + word.chars().count() > width {
            let _ = writeln!(out, "{:indent$}{line}", "");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = write!(out, "{:indent$}{line}", "");
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_moves_every_line_but_leaves_blank_lines_blank() {
        assert_eq!(indent("  a\n\n  b", 3), "     a\n\n     b");
    }
}
