"""Telegram's HTML, Markdown and MarkdownV2 parsers, and the entities Telegram finds by itself."""

import pytest

from emulator.entities import detect_entities, trim, utf16_len
from emulator.html_entities import EntityParseError, parse_html
from emulator.markdown import parse_markdown, parse_markdown_v2


def test_html_tags_become_entities_and_references_are_decoded():
    text, entities = parse_html(
        '<b>Bão</b> <strong>số 3</strong> <i>x</i><em>y</em> <u>u</u><ins>v</ins> <s>s</s><strike>t</strike>'
        '<del>d</del> <tg-spoiler>sp</tg-spoiler><span class="tg-spoiler">an</span> &lt;&gt;&amp;&quot;&#39;&#x41;'
    )
    assert text == "Bão số 3 xy uv std span <>&\"'A"
    kinds = [(e["type"], e["offset"], e["length"]) for e in entities]
    assert kinds == [
        ("bold", 0, 3), ("bold", 4, 4), ("italic", 9, 1), ("italic", 10, 1), ("underline", 12, 1),
        ("underline", 13, 1), ("strikethrough", 15, 1), ("strikethrough", 16, 1), ("strikethrough", 17, 1),
        ("spoiler", 19, 2), ("spoiler", 21, 2),
    ]


def test_html_links_code_pre_blockquote_and_custom_emoji():
    text, entities = parse_html(
        '<a href="https://hue.gov.vn/a?b=1&amp;c=2">link</a> <code>x</code> '
        '<pre><code class="language-python">print(1)</code></pre><blockquote>q</blockquote>'
        '<blockquote expandable>e</blockquote><tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    )
    assert text == "link x print(1)qe👍"
    assert entities == [
        {"offset": 0, "length": 4, "type": "text_link", "url": "https://hue.gov.vn/a?b=1&c=2"},
        {"offset": 5, "length": 1, "type": "code"},
        {"offset": 7, "length": 8, "type": "pre", "language": "python"},
        {"offset": 15, "length": 1, "type": "blockquote"},
        {"offset": 16, "length": 1, "type": "expandable_blockquote"},
        {"offset": 17, "length": 2, "type": "custom_emoji", "custom_emoji_id": "5368324170671202286"},
    ]


def test_html_offsets_count_utf16_code_units():
    text, entities = parse_html("😀😀 <b>Huế</b>")
    assert entities == [{"offset": 5, "length": 3, "type": "bold"}]
    assert utf16_len(text) == 8


def test_html_tag_and_attribute_names_are_case_insensitive_and_unquoted_values_work():
    text, entities = parse_html("<B>x</B> <A HREF=example.com>y</a>")
    assert text == "x y"
    assert entities[1] == {"offset": 2, "length": 1, "type": "text_link", "url": "http://example.com/"}


def test_an_unknown_character_reference_stays_literal():
    assert parse_html("Q&A &copy; &#0; &amp")[0] == "Q&A &copy; &#0; &"


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("Nhà <br> mới", 'Unsupported start tag "br" at byte offset 5'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</i>", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ('<a href="x>y</a>', "Unclosed start tag at byte offset 0"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<a =x>y</a>', 'Empty attribute name in the tag "a" at byte offset 3'),
        ("<a href>y</a>", 'Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0'),
        ('<tg-emoji emoji-id="x">y</tg-emoji>', "Invalid custom emoji identifier specified"),
    ],
)
def test_html_errors_carry_telegram_texts_and_byte_offsets(html, error):
    with pytest.raises(EntityParseError) as info:
        parse_html(html)
    assert str(info.value) == error


def test_markdown_v2():
    text, entities = parse_markdown_v2(
        "*b* _i_ __u__ ~s~ ||sp|| [l](https://x.org/a\\)b) `c` ```py\nx\n``` \\. \\!"
    )
    assert text == "b i u s sp l c x\n . !"
    assert [(e["type"], e["offset"], e["length"]) for e in entities] == [
        ("bold", 0, 1), ("italic", 2, 1), ("underline", 4, 1), ("strikethrough", 6, 1), ("spoiler", 8, 2),
        ("text_link", 11, 1), ("code", 13, 1), ("pre", 15, 2),
    ]
    assert entities[5]["url"] == "https://x.org/a)b"
    assert entities[7]["language"] == "py"


@pytest.mark.parametrize(
    ("markdown", "error"),
    [
        ("Đã xử lý.", "Character '.' is reserved and must be escaped with the preceding '\\'"),
        ("*bold", "Can't find end of Bold entity at byte offset 0"),
        ("ok [link](https://x.org", "Can't find end of a URL at byte offset 10"),
    ],
)
def test_markdown_v2_errors(markdown, error):
    with pytest.raises(EntityParseError) as info:
        parse_markdown_v2(markdown)
    assert str(info.value) == error


def test_legacy_markdown():
    text, entities = parse_markdown("*b* _i_ `c` [l](https://x.org) a\\_b")
    assert text == "b i c l a_b"
    assert [e["type"] for e in entities] == ["bold", "italic", "code", "text_link"]
    with pytest.raises(EntityParseError, match="Can't find end of the entity starting at byte offset 2"):
        parse_markdown("a *b")


def test_telegram_finds_commands_mentions_links_and_hashtags():
    text = "/status@loa_test_bot PA-7K3Q9 mail a@b.vn @lan_hn #ngập https://hue.gov.vn/x."
    found = [(e["type"], text[e["offset"]:e["offset"] + e["length"]]) for e in detect_entities(text)]
    assert found == [
        ("bot_command", "/status@loa_test_bot"), ("email", "a@b.vn"), ("mention", "@lan_hn"),
        ("hashtag", "#ngập"), ("url", "https://hue.gov.vn/x"),
    ]
    assert detect_entities("Alert 3: flooding, stay home.") == []


def test_trimming_keeps_entities_on_their_characters():
    text, entities = trim("\n  hi there \n", [{"offset": 3, "length": 2, "type": "bold"},
                                              {"offset": 10, "length": 3, "type": "italic"}])
    assert text == "hi there"
    assert entities == [{"offset": 0, "length": 2, "type": "bold"}, {"offset": 7, "length": 1, "type": "italic"}]
