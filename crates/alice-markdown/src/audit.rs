//! Checking rendered HTML against the promises of [`crate::render`], independently of how it
//! was made: every tag and attribute is on the allow-list, no `<script`, no event handler or
//! `style` attribute, every link is `http`, `https` or `mailto` and carries Alice's `rel`, and
//! a `<code>` class is `language-…`. The unit tests and the fuzz target run it on every output.
//!
//! It reads the HTML as ammonia writes it: text has every `<` escaped, so each `<` opens a tag;
//! attribute values are quoted, with `&`, `"` and no-break spaces escaped.

use crate::sanitiser::{ATTRIBUTES, LINK_REL, TAGS, URL_SCHEMES, is_language_class};
use std::fmt;

/// What [`audit`] found wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Byte offset of the tag in the HTML.
    pub at: usize,
    pub what: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for Finding {}

/// One tag as written: its name (lowercased), whether it closes, and its attributes.
struct TagSeen {
    at: usize,
    name: String,
    closing: bool,
    attributes: Vec<(String, String)>,
}

/// Checks `html` (an output of [`crate::render`]); the first problem found, if any.
pub fn audit(html: &str) -> Result<(), Finding> {
    if let Some(at) = html.to_ascii_lowercase().find("<script") {
        return Err(Finding {
            at,
            what: "a <script".to_owned(),
        });
    }
    let mut from = 0;
    while let Some(offset) = html[from..].find('<') {
        let (tag, end) = read_tag(html, from + offset)?;
        check(&tag)?;
        from = end;
    }
    Ok(())
}

fn finding(at: usize, what: impl Into<String>) -> Finding {
    Finding {
        at,
        what: what.into(),
    }
}

/// The tag that starts at `at` (a `<`), and the offset just past its `>`.
fn read_tag(html: &str, at: usize) -> Result<(TagSeen, usize), Finding> {
    let bytes = html.as_bytes();
    let mut i = at + 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
        i += 1;
    }
    if i == name_start {
        return Err(finding(
            at,
            "a < that opens no tag (a comment, or unescaped text)",
        ));
    }
    let name = html[name_start..i].to_ascii_lowercase();
    let mut attributes = Vec::new();
    loop {
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        match bytes.get(i) {
            None => return Err(finding(at, format!("<{name} is not closed"))),
            Some(b'>') => break,
            Some(b'/') if bytes.get(i + 1) == Some(&b'>') => {
                i += 1;
                break;
            }
            Some(_) => {}
        }
        let attribute_start = i;
        while bytes
            .get(i)
            .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'=' | b'>' | b'/'))
        {
            i += 1;
        }
        if i == attribute_start {
            // A lone '/' or '=': not how ammonia writes a tag.
            return Err(finding(
                at,
                format!("<{name} has a stray {:?}", bytes[i] as char),
            ));
        }
        let attribute = html[attribute_start..i].to_ascii_lowercase();
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            match bytes.get(i) {
                Some(quote @ (b'"' | b'\'')) => {
                    let open = i + 1;
                    let Some(length) = html[open..].find(*quote as char) else {
                        return Err(finding(at, format!("<{name} {attribute}= is not closed")));
                    };
                    value = decode(&html[open..open + length]);
                    i = open + length + 1;
                }
                _ => {
                    let open = i;
                    while bytes
                        .get(i)
                        .is_some_and(|b| !b.is_ascii_whitespace() && *b != b'>')
                    {
                        i += 1;
                    }
                    value = decode(&html[open..i]);
                }
            }
        }
        attributes.push((attribute, value));
    }
    let tag = TagSeen {
        at,
        name,
        closing,
        attributes,
    };
    Ok((tag, i + 1))
}

/// An attribute value as a browser reads it, for the entities ammonia writes.
fn decode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let entity = [
            ("&amp;", "&"),
            ("&quot;", "\""),
            ("&nbsp;", "\u{a0}"),
            ("&lt;", "<"),
            ("&gt;", ">"),
        ]
        .into_iter()
        .find(|(entity, _)| rest.starts_with(entity));
        match entity {
            Some((entity, text)) => {
                out.push_str(text);
                rest = &rest[entity.len()..];
            }
            // Left as it is: a URL check then fails on it, which is the safe side.
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn check(tag: &TagSeen) -> Result<(), Finding> {
    let at = tag.at;
    let name = tag.name.as_str();
    if !TAGS.contains(&name) {
        return Err(finding(at, format!("<{name}> is not on the allow-list")));
    }
    if tag.closing {
        return if tag.attributes.is_empty() {
            Ok(())
        } else {
            Err(finding(at, format!("</{name}> has attributes")))
        };
    }
    let allowed: &[&str] = ATTRIBUTES
        .iter()
        .find(|(tag, _)| *tag == name)
        .map_or(&[], |(_, attributes)| attributes);
    let mut has_href = false;
    let mut rel = None;
    for (attribute, value) in &tag.attributes {
        let attribute = attribute.as_str();
        if attribute.starts_with("on") {
            return Err(finding(
                at,
                format!("<{name}> has the event handler {attribute}"),
            ));
        }
        match (name, attribute) {
            ("a", "rel") => rel = Some(value.as_str()),
            ("a", "href") => {
                has_href = true;
                let lower = value.to_ascii_lowercase();
                let scheme_ok = URL_SCHEMES
                    .iter()
                    .any(|scheme| lower.starts_with(&format!("{scheme}:")));
                if !scheme_ok {
                    return Err(finding(at, format!("a link to {value:?}")));
                }
            }
            ("code", "class") if !is_language_class(value) => {
                return Err(finding(at, format!("<code class={value:?}>")));
            }
            _ if allowed.contains(&attribute) => {}
            _ => {
                return Err(finding(
                    at,
                    format!("<{name}> has the attribute {attribute}"),
                ));
            }
        }
    }
    if name == "a" && has_href && rel != Some(LINK_REL) {
        return Err(finding(at, format!("a link with rel {rel:?}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_passes_what_render_promises() {
        let good = "<p><a href=\"https://example.se/?a=1&amp;b=2\" \
                    rel=\"noopener noreferrer nofollow\">x</a> &lt;script&gt;</p>\
                    <pre><code class=\"language-rust\">a &lt; b</code></pre><hr><br/><ol start=\"3\"><li>a</li></ol>";
        assert_eq!(audit(good), Ok(()));
    }

    #[test]
    fn it_finds_what_must_not_be_there() {
        for bad in [
            "<script>x</script>",
            "<SCRIPT>",
            "<p onclick=\"x\">a</p>",
            "<p ONMOUSEOVER=x>a</p>",
            "<p style=\"color:red\">a</p>",
            "<a href=\"javascript:alert(1)\" rel=\"noopener noreferrer nofollow\">a</a>",
            "<a href=\" javascript:alert(1)\" rel=\"noopener noreferrer nofollow\">a</a>",
            "<a href=\"&#106;avascript:x\" rel=\"noopener noreferrer nofollow\">a</a>",
            "<a href=\"data:text/html,x\" rel=\"noopener noreferrer nofollow\">a</a>",
            "<a href=\"/api/chat\" rel=\"noopener noreferrer nofollow\">a</a>",
            "<a href=\"https://example.se\">no rel</a>",
            "<img src=\"https://example.se/x.png\">",
            "<input type=checkbox>",
            "<code class=\"x\">a</code>",
            "<!-- a comment -->",
            "<p",
            "<p title=\"open",
            "a < b",
        ] {
            assert!(audit(bad).is_err(), "{bad}");
        }
    }
}
