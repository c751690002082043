//! Step 2 of [`crate::render`]: ammonia with Alice's allow-list, the guarantee that holds even
//! if step 1 or pulldown-cmark let something through. Built once, used by every render.

use crate::events::{LANGUAGE_CHARS, is_language_char};
use ammonia::{Builder, UrlRelative};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Every tag the page may receive. What pulldown-cmark writes for CommonMark, tables,
/// strikethrough and task lists (as text), less `img` and `input`.
pub(crate) const TAGS: &[&str] = &[
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
];

/// The attributes each tag may carry; `rel` on `a` is ammonia's own ([`LINK_REL`]). No
/// `title` on links: it is the one attribute of free text, and the HTML serialiser leaves `<`
/// unescaped in attribute values, so a title could carry a literal `<script` into the page's
/// HTML (harmless in a quoted value, but it would make "no `<script` anywhere" untrue and
/// every check of the output harder).
pub(crate) const ATTRIBUTES: &[(&str, &[&str])] =
    &[("a", &["href"]), ("ol", &["start"]), ("code", &["class"])];

/// URL schemes a link may have. Relative URLs are removed too.
pub(crate) const URL_SCHEMES: &[&str] = &["http", "https", "mailto"];

/// What every link gets: no `window.opener` for the linked page, no Referer naming the page,
/// and no endorsement of the link for search engines.
pub(crate) const LINK_REL: &str = "noopener noreferrer nofollow";

/// Tags whose content is dropped with them (rather than kept as text). Raw HTML never reaches
/// the sanitiser as markup, so this is the second line only.
const DROPPED_WITH_CONTENT: [&str; 12] = [
    "script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math",
    "textarea", "select", "frameset",
];

/// Whether `value` is a `class` Alice keeps on `<code>`: `language-` and a name of
/// [`is_language_char`]s.
pub(crate) fn is_language_class(value: &str) -> bool {
    value.strip_prefix("language-").is_some_and(|name| {
        !name.is_empty()
            && name.chars().count() <= LANGUAGE_CHARS
            && name.chars().all(is_language_char)
    })
}

static SANITISER: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut builder = Builder::empty();
    let tag_attributes: HashMap<&str, HashSet<&str>> = ATTRIBUTES
        .iter()
        .map(|(tag, attributes)| (*tag, attributes.iter().copied().collect()))
        .collect();
    builder
        .tags(TAGS.iter().copied().collect())
        .clean_content_tags(DROPPED_WITH_CONTENT.into_iter().collect())
        .generic_attributes(HashSet::new())
        .tag_attributes(tag_attributes)
        .url_schemes(URL_SCHEMES.iter().copied().collect())
        .url_relative(UrlRelative::Deny)
        .link_rel(Some(LINK_REL))
        .strip_comments(true)
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            ("code", "class") => is_language_class(value).then_some(Cow::Borrowed(value)),
            _ => Some(Cow::Borrowed(value)),
        });
    builder
});

/// `html` with everything outside the allow-list removed.
pub(crate) fn clean(html: &str) -> String {
    SANITISER.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_language_classes_stay() {
        assert!(is_language_class("language-rust"));
        assert!(is_language_class("language-c++"));
        assert!(!is_language_class("language-"));
        assert!(!is_language_class("language-a b"));
        assert!(!is_language_class("hidden"));
        assert_eq!(
            clean("<code class=\"x language-rust\">a</code>"),
            "<code>a</code>"
        );
        assert_eq!(
            clean("<code class=\"language-rust\">a</code>"),
            "<code class=\"language-rust\">a</code>"
        );
    }

    #[test]
    fn markup_a_mistake_could_let_through_is_removed() {
        let dirty = "<p style=\"color:red\" onclick=\"x()\">a</p><script>alert(1)</script>\
                     <img src=x onerror=alert(1)><iframe src=https://example.se></iframe>\
                     <form><input value=x></form><a href=\"/api/chat\">rel</a>";
        assert_eq!(
            clean(dirty),
            "<p>a</p><a rel=\"noopener noreferrer nofollow\">rel</a>"
        );
    }
}
