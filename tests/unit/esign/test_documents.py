"""Terms documents as text: hashing, names, titles, and Markdown that never lets HTML through."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap_connect.esign.documents import (
    ALLOWED_TAGS,
    DocumentProblem,
    document_sha256,
    normalize_markdown,
    parse_terms_option,
    read_terms_text,
    render_html,
    slug_for,
    split_title,
)


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags_in(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    collector = TagCollector()
    collector.feed(html)
    return collector.tags


def test_html_in_the_markdown_is_shown_as_text() -> None:
    html = render_html('Hello <script>alert(1)</script> <img src=x onerror="alert(2)">\n')

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html
    assert [tag for tag, _ in tags_in(html)] == ["p"]


def test_links_keep_safe_addresses_only_and_images_are_not_loaded() -> None:
    html = render_html(
        "[ok](https://acme.example/privacy) [bad](javascript:alert(1)) "
        "[data](data:text/html;base64,PHNjcmlwdD4=) ![pixel](https://tracker.example/p.gif)\n"
    )

    links = [dict(attrs) for tag, attrs in tags_in(html) if tag == "a"]
    assert links == [
        {"href": "https://acme.example/privacy", "rel": "noopener noreferrer"},
        {"href": "https://tracker.example/p.gif", "rel": "noopener noreferrer"},
    ]
    assert "img" not in [tag for tag, _ in tags_in(html)]


def test_the_title_line_is_the_page_heading_and_other_headings_move_down_a_level() -> None:
    html = render_html("# Participation agreement\n\n# Part one\n\n## Scope\n\nText.\n")

    assert "Participation agreement" not in html
    assert [tag for tag, _ in tags_in(html)] == ["h2", "h3", "p"]


@given(st.text(max_size=400))
def test_any_text_renders_to_markdown_tags_only_and_no_event_attributes(text: str) -> None:
    for tag, attrs in tags_in(render_html(text)):
        assert tag in ALLOWED_TAGS
        assert {name for name, _ in attrs} <= {"href", "rel", "title", "start", "class"}
        for name, value in attrs:
            if name == "href":
                assert not (value or "").lower().lstrip().startswith(("javascript:", "vbscript:"))


def test_the_hash_is_of_the_text_with_unix_line_endings_and_no_byte_order_mark() -> None:
    windows = normalize_markdown(b"\xef\xbb\xbf# Terms\r\n\r\nText.\r\n\r\n", name="t.md")

    assert windows == "# Terms\n\nText.\n"
    assert document_sha256(windows) == document_sha256("# Terms\n\nText.\n")
    assert len(document_sha256(windows)) == 64


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "t.md is empty."),
        (b"\n \n", "t.md is empty."),
        (b"\xff\xfe\x00", "t.md is not UTF-8 text."),
        (b"a\x00b", "t.md is not a text file."),
        (b"x" * 200_001, "t.md is larger than 200 kB."),
    ],
)
def test_unusable_files_are_refused_with_the_reason(raw: bytes, message: str) -> None:
    with pytest.raises(DocumentProblem, match=message):
        normalize_markdown(raw, name="t.md")


@pytest.mark.parametrize(
    ("file_name", "slug"),
    [
        ("participation-agreement.md", "participation-agreement"),
        ("terms/Data Sharing Addendum.MD", "data-sharing-addendum"),
        ("2027 – Terms (final).md", "2027-terms-final"),
    ],
)
def test_the_file_name_names_the_document_across_versions(file_name: str, slug: str) -> None:
    assert slug_for(file_name) == slug


def test_a_file_name_without_letters_or_digits_is_refused() -> None:
    with pytest.raises(DocumentProblem, match="needs a file name with letters or digits"):
        slug_for("---.md")


def test_the_title_comes_from_the_first_heading_or_the_file_name() -> None:
    assert split_title("# Data-sharing addendum #\n\nText\n") == ("Data-sharing addendum", "Text\n")
    assert read_terms_text("commercial", "data-sharing.md", "Text only\n").title == "Data sharing"
    assert read_terms_text("commercial", "x.md", "## Not a title\n").title == "X"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("commercial", "should look like commercial=path/to/terms.md"),
        ("commercial=", "should look like commercial=path/to/terms.md"),
        ("business=a.md", '"business" is not a customer type'),
    ],
)
def test_a_terms_option_must_name_a_customer_type_and_a_file(value: str, message: str) -> None:
    with pytest.raises(DocumentProblem, match=message):
        parse_terms_option(value, customer_types=("residential", "commercial"))


def test_a_terms_option_is_split_into_customer_type_and_path() -> None:
    assert parse_terms_option(
        " Commercial = docs/a=b.md ", customer_types=("residential", "commercial")
    ) == ("commercial", "docs/a=b.md")
