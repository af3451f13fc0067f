"""A streaming reply's markdown: closed blocks rendered once each, the open one as text."""

from conversations import rendering
from conversations.blocks import StreamedMarkdown, split_streamed
from conversations.rendering import render_markdown

REPLY = (
    "Hello **bold** world.\n\nA list:\n\n- one\n- two\n\n```python\nx = 1\n\n```\n"
    "After the code.\n\n1. first\n\n2. second\n\n> quoted\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nEnd"
)


def stream(text: str, size: int) -> tuple[list[str], StreamedMarkdown]:
    markdown = StreamedMarkdown()
    return [markdown.feed(text[i : i + size]) for i in range(0, len(text), size)], markdown


def test_closed_blocks_rendered_as_they_close_add_up_to_the_final_render():
    for size in (1, 3, 7, 40):
        frames, markdown = stream(REPLY, size)
        assert "".join(frames) + render_markdown(markdown.tail) == render_markdown(REPLY)
        assert markdown.tail == "End"


def test_a_paragraph_is_shown_formatted_once_a_blank_line_closes_it():
    markdown = StreamedMarkdown()
    assert markdown.feed("Some **bold") == ""
    assert markdown.feed("** text\n") == ""  # a next line could still join it
    assert markdown.feed("\n") == "<p>Some <strong>bold</strong> text</p>\n"
    assert markdown.tail == ""


def test_an_open_code_fence_or_list_stays_text_until_it_closes():
    markdown = StreamedMarkdown()
    assert markdown.feed("```\n<b>code</b>\n\n") == ""
    assert markdown.feed("```\n").startswith("<pre><code>&lt;b&gt;code")
    assert markdown.feed("- a\n\n") == ""  # another item may follow the blank line
    assert markdown.feed("Next\n") == "<ul>\n<li>a</li>\n</ul>\n"


def test_work_per_frame_does_not_grow_with_the_text_already_rendered():
    frames, markdown = stream("Paragraph.\n\n" * 500 + "open", 12)
    assert markdown.tail == "open" and markdown.rendered == len("Paragraph.\n\n") * 500
    assert all(frame in ("", "<p>Paragraph.</p>\n") for frame in frames)


def test_model_html_is_sanitized_in_closed_blocks_and_kept_as_text_in_the_tail():
    markdown = StreamedMarkdown()
    html = markdown.feed('<img src=x onerror="alert(1)"> [x](javascript:alert(1))\n\n<b>')
    assert "<img" not in html and "href" not in html
    assert markdown.tail == "<b>"


def test_a_resumed_reply_starts_where_its_shown_text_left_off():
    html, tail = split_streamed("Done.\n\nHalf a par")
    markdown = StreamedMarkdown.resumed("Done.\n\nHalf a par")
    assert (html, tail) == ("<p>Done.</p>\n", "Half a par")
    assert (markdown.tail, markdown.rendered) == ("Half a par", len("Done.\n\n"))


CORPUS = [
    REPLY,
    "# Title\n\nSome text\nwith a lazy line.\n\n* a\n\n  more of a\n* b\n\nSetext\n===\n\nEnd.",
    "1. one\n   - nested\n   - list\n2. two\n\n    indented code\n\nAfter.\n",
    "> quote\ncontinued lazily\n\n```\nfence without end",
    "A [link][ref] before its definition.\n\n[ref]: https://example.com\n",
    "Windows lines\r\n\r\nsecond paragraph\r\n",
    "Code: `a[1]: b`\n\n| x |\n|---|\n| 1 |\n\n<script>alert(1)</script>\n\nDone",
    "",
]


def test_the_final_render_reuses_the_closed_blocks_and_equals_a_whole_render():
    for text in CORPUS:
        for size in (1, 5, 17, 1000):
            _, markdown = stream(text, size)
            assert markdown.final_html(text) == render_markdown(text), (text, size)
    _, markdown = stream(REPLY, 7)
    assert markdown.closed and markdown.final_html(REPLY).startswith("".join(markdown.closed))


def test_the_final_render_of_a_resumed_reply_renders_it_whole():
    markdown = StreamedMarkdown.resumed("Done.\n\nHalf a par")
    markdown.feed("agraph.\n\nNext")
    text = "Done.\n\nHalf a paragraph.\n\nNext"
    assert markdown.final_html(text) == render_markdown(text)


def test_blocks_are_found_without_the_inline_pass_as_with_it():
    def blocks(parser, text: str) -> list:
        return [(t.type, t.map, t.markup) for t in parser.parse(text) if t.level == 0]

    for text in CORPUS:
        for end in range(len(text) + 1):
            part = text[:end]
            assert blocks(rendering._block_structure, part) == blocks(rendering._markdown, part)
