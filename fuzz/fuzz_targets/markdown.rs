//! The page's Markdown renderer (`alice_markdown::render`) on any text: what a model may say,
//! steered by whoever wrote what it read.
//!
//! - the HTML never holds `<script` (in any case), an event-handler attribute (`on…=`) in a
//!   tag, or a link whose URL is `javascript:` (in any case, after leading spaces);
//! - more broadly, `alice_markdown::audit` passes: every tag and attribute is on the
//!   allow-list, every link is `http`, `https` or `mailto` and has Alice's `rel`, a `<code>`
//!   class is `language-…`;
//! - rendering is deterministic (the same text gives the same HTML).
//!
//! The first three are read here with a scanner of their own, so that a mistake in `audit`
//! cannot hide one.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The attributes of the tag whose text (after its `<`) is `tag`: names lowercased, values as
/// written. Quote-aware, so a value holding ` on` or `>` is not misread.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let bytes = tag.as_bytes();
    let mut i = 0;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
        i += 1;
    }
    let mut found = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'>' {
            return found;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !b"=>/".contains(&bytes[i]) {
            i += 1;
        }
        let name = tag[start..i].to_ascii_lowercase();
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                let open = i + 1;
                let close = bytes[open..]
                    .iter()
                    .position(|b| *b == quote)
                    .map_or(bytes.len(), |at| open + at);
                value = tag[open..close].to_owned();
                i = close + 1;
            } else {
                let open = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                value = tag[open..i].to_owned();
            }
        }
        found.push((name, value));
    }
}

fuzz_target!(|data: &[u8]| {
    let markdown = String::from_utf8_lossy(data);
    let html = alice_markdown::render(&markdown);
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "{markdown:?} gave {html:?}"
    );
    // Text has every '<' escaped, so each '<' opens a tag.
    for (at, _) in html.match_indices('<') {
        for (name, value) in attributes(&html[at + 1..]) {
            assert!(
                !name.starts_with("on"),
                "the event handler {name} at {at} in {html:?} from {markdown:?}"
            );
            let url = value.trim_start().to_ascii_lowercase();
            assert!(
                !(name == "href" && url.starts_with("javascript:")),
                "a javascript: link at {at} in {html:?} from {markdown:?}"
            );
        }
    }
    if let Err(finding) = alice_markdown::audit(&html) {
        panic!("{finding} in {html:?} from {markdown:?}");
    }
    assert_eq!(alice_markdown::render(&markdown), html, "not deterministic");
});
