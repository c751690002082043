//! Step 1 of [`crate::render`]: Markdown to HTML with pulldown-cmark, with the events tamed on
//! the way so that the HTML pulldown-cmark writes holds no markup the Markdown's author chose:
//! raw HTML becomes text, task-list boxes become text, images become links, and a code
//! fence's language is cut to a safe class name.

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// Longest language name kept on a code fence (`class="language-…"`).
pub(crate) const LANGUAGE_CHARS: usize = 40;

/// The box of a done and of an open task-list item, as text.
const TASK_DONE: &str = "☑ ";
const TASK_OPEN: &str = "☐ ";

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// Whether `c` may stand in a code fence's language name.
pub(crate) fn is_language_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '#' | '.' | '_' | '-')
}

/// The language of a fence's info string (` ```rust,ignore title="x" `): its first word, up
/// to the first character that may not stand in a class name, at most [`LANGUAGE_CHARS`].
fn language(info: &str) -> String {
    info.trim_start()
        .chars()
        .take_while(|c| is_language_char(*c))
        .take(LANGUAGE_CHARS)
        .collect()
}

/// An image being rewritten as a link: its URL, and whether anything was written inside it
/// (its alt text) that would give the link some text.
struct OpenImage<'a> {
    url: CowStr<'a>,
    has_text: bool,
}

/// The Markdown as HTML, with raw HTML, task boxes, images and fence languages tamed.
pub(crate) fn to_html(markdown: &str) -> String {
    let mut tamed = Vec::new();
    let mut images: Vec<OpenImage<'_>> = Vec::new();
    for event in Parser::new_ext(markdown, options()) {
        let is_image_edge = matches!(
            event,
            Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image)
        );
        if !is_image_edge && let Some(image) = images.last_mut() {
            image.has_text = true;
        }
        match event {
            // Raw HTML is shown as the text it is (escaped by the writer), never as markup.
            Event::Html(raw) | Event::InlineHtml(raw) => tamed.push(Event::Text(raw)),
            Event::Start(Tag::HtmlBlock) => tamed.push(Event::Start(Tag::Paragraph)),
            Event::End(TagEnd::HtmlBlock) => tamed.push(Event::End(TagEnd::Paragraph)),
            Event::TaskListMarker(done) => tamed.push(Event::Text(CowStr::Borrowed(if done {
                TASK_DONE
            } else {
                TASK_OPEN
            }))),
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                if let Some(outer) = images.last_mut() {
                    outer.has_text = true;
                }
                images.push(OpenImage {
                    url: dest_url.clone(),
                    has_text: false,
                });
                tamed.push(Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                }));
            }
            Event::End(TagEnd::Image) => {
                if let Some(image) = images.pop()
                    && !image.has_text
                {
                    tamed.push(Event::Text(image.url));
                }
                tamed.push(Event::End(TagEnd::Link));
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                tamed.push(Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(
                    language(&info).into(),
                ))));
            }
            other => tamed.push(other),
        }
    }
    let mut out = String::with_capacity(markdown.len() + markdown.len() / 2);
    html::push_html(&mut out, tamed.into_iter());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_language_is_its_first_safe_word() {
        assert_eq!(language("rust"), "rust");
        assert_eq!(language("rust,ignore"), "rust");
        assert_eq!(language("c++ title=x"), "c++");
        assert_eq!(language("\"onclick=x"), "");
        assert_eq!(language(&"a".repeat(100)).len(), LANGUAGE_CHARS);
    }

    #[test]
    fn raw_html_becomes_text_before_the_sanitiser_sees_it() {
        let html = to_html("<div onclick=x>hej</div>\n\nett <b>fett</b> ord");
        assert!(!html.contains("<div"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;div onclick=x&gt;"), "{html}");
        assert!(html.contains("&lt;b&gt;fett&lt;/b&gt;"), "{html}");
    }

    #[test]
    fn an_image_becomes_a_link_with_its_alt_text_or_its_url() {
        assert_eq!(
            to_html("![en katt](https://example.se/katt.png)").trim(),
            "<p><a href=\"https://example.se/katt.png\">en katt</a></p>"
        );
        assert_eq!(
            to_html("![](https://example.se/k.png)").trim(),
            "<p><a href=\"https://example.se/k.png\">https://example.se/k.png</a></p>"
        );
    }
}
