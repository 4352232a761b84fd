"""The web chat shows a message's text from its entities, escaped, as Telegram would."""

from sandbox.render import message_html


def test_plain_text_is_escaped():
    assert message_html("<b>5 & 6</b>", None) == "&lt;b&gt;5 &amp; 6&lt;/b&gt;"


def test_entities_become_tags_at_utf16_offsets():
    # "🌧" takes two UTF-16 code units, so "Mưa" starts at offset 3.
    text = "🌧 Mưa lớn <ngay>"
    html = message_html(text, [{"type": "bold", "offset": 3, "length": 7},
                               {"type": "italic", "offset": 7, "length": 3}])
    assert html == "🌧 <b>Mưa </b><b><i>lớn</i></b> &lt;ngay&gt;"


def test_links_open_in_a_new_tab_and_only_for_web_addresses():
    text = "xem bản đồ hoặc javascript"
    html = message_html(text, [{"type": "text_link", "offset": 4, "length": 6, "url": "https://osm.org/?a=1&b=2"},
                               {"type": "text_link", "offset": 16, "length": 10, "url": "javascript:alert(1)"}])
    assert '<a href="https://osm.org/?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">bản đồ</a>' in html
    assert "javascript:alert" not in html and html.endswith("hoặc javascript")


def test_a_bare_url_is_a_link_to_itself():
    html = message_html("http://127.0.0.1:8080/dashboard/login?t=a.b", [{"type": "url", "offset": 0, "length": 43}])
    assert html.startswith('<a href="http://127.0.0.1:8080/dashboard/login?t=a.b"')


def test_nothing_shows_nothing():
    assert message_html(None, None) == "" and message_html("", []) == ""
