//! The classifier's and cache key's prompt normaliser (`alice_core::normalise_prompt`) on any
//! text.
//!
//! - normalising is idempotent: the normalised prompt normalises to itself (else one prompt
//!   could have two cache keys);
//! - the result is NFC, holds no invisible characters, and its spaces are single ASCII spaces
//!   between words, none at either end.
#![no_main]

use alice_core::normalise_prompt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(prompt) = std::str::from_utf8(data) else {
        return;
    };
    let once = normalise_prompt(prompt);
    assert_eq!(
        normalise_prompt(&once),
        once,
        "not idempotent for {prompt:?}"
    );
    assert!(unicode_normalization::is_nfc(&once), "{once:?} is not NFC");
    assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
    assert!(
        once.chars().all(|c| c == ' ' || !c.is_whitespace()),
        "{once:?}"
    );
    assert!(
        !once.contains(['\u{200B}', '\u{FEFF}', '\u{00AD}', '\u{2060}']),
        "{once:?}"
    );
});
