//! The personnummer masker (`alice_core::personal_number`): `find`, `contains` and `mask` on
//! any text.
//!
//! - the ranges found are in order, do not overlap, lie on character boundaries, and each is a
//!   number on its own too;
//! - the masked text has the same length in bytes and in characters, differs from the text
//!   only where a digit of a found number was, and holds no number (`contains` is false);
//! - masking twice is masking once, and text where nothing was found is returned as it was.
#![no_main]

use alice_core::personal_number::{contains, find, mask};
use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let found = find(text);
    let mut end = 0;
    for range in &found {
        assert!(range.start >= end && range.start < range.end, "{found:?}");
        assert!(text.is_char_boundary(range.start) && text.is_char_boundary(range.end));
        assert!(
            contains(&text[range.clone()]),
            "{:?} alone",
            &text[range.clone()]
        );
        end = range.end;
    }
    assert_eq!(contains(text), !found.is_empty());
    let masked = mask(text);
    if found.is_empty() {
        assert!(matches!(masked, Cow::Borrowed(_)));
    }
    assert_eq!(masked.len(), text.len());
    assert_eq!(masked.chars().count(), text.chars().count());
    let mut in_found = vec![false; text.len()];
    for range in &found {
        in_found[range.clone()].fill(true);
    }
    for ((was, now), in_found) in text.bytes().zip(masked.bytes()).zip(in_found) {
        if was != now {
            assert!(was.is_ascii_digit() && now == b'*' && in_found);
        }
    }
    assert!(!contains(&masked), "a number is left in {masked:?}");
    assert_eq!(mask(&masked), masked);
});
