//! Tolerance for typos in the words that decide an intent ("klcokan", "timmer", "påminelse").
//!
//! Only keywords of five letters or more get it, and only one edit (a letter added, dropped,
//! changed, or two neighbours swapped): short words are too easy to confuse ("tid"/"tio"), and
//! free text is never corrected. A rule that matched through a correction scores lower.

/// How a typed word compares with a keyword: `Some(0)` the same, `Some(1)` one typo away (for
/// keywords of five letters or more), `None` different.
pub(crate) fn typos(typed: &str, keyword: &str) -> Option<u32> {
    if typed == keyword {
        return Some(0);
    }
    let keyword_length = keyword.chars().count();
    if keyword_length < 5 || !keyword.chars().all(char::is_alphabetic) {
        return None;
    }
    (edit_distance(typed, keyword) <= 1).then_some(1)
}

/// The optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring letters each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for (i, cell) in table.iter_mut().step_by(width).enumerate() {
        *cell = i;
    }
    for (j, cell) in table.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1)
                .min(table[i * width + j - 1] + 1)
                .min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::typos;

    #[test]
    fn one_typo_in_a_long_keyword_is_forgiven() {
        assert_eq!(typos("klockan", "klockan"), Some(0));
        assert_eq!(typos("klcokan", "klockan"), Some(1));
        assert_eq!(typos("klokan", "klockan"), Some(1));
        assert_eq!(typos("timmer", "timer"), Some(1));
    }

    #[test]
    fn short_words_and_two_typos_are_not() {
        assert_eq!(typos("tio", "tid"), None);
        assert_eq!(typos("timmar", "timer"), None);
        assert_eq!(typos("klkcoan", "klockan"), None);
    }
}
