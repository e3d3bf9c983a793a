"""Terms documents as text: reading a `--terms` option, hashing, titles, and safe Markdown HTML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from leap_connect.kit.crypto import sha256_hex

MAX_DOCUMENT_BYTES = 200_000
MAX_TITLE_LENGTH = 200
MAX_SLUG_LENGTH = 100
_SLUG_SEPARATORS = re.compile(r"[^a-z0-9]+")
_TITLE_LINE = re.compile(r"^ {0,3}# +(?P<title>.+?)(?: +#+)? *$")


class DocumentProblem(ValueError):
    """A terms document or `--terms` option that cannot be used; the message says why."""


@dataclass(frozen=True)
class TermsText:
    """One document's text as a partner supplied it, before it becomes a stored version."""

    customer_type: str
    slug: str
    title: str
    body_markdown: str

    @property
    def sha256(self) -> str:
        return document_sha256(self.body_markdown)


def normalize_markdown(raw: bytes | str, *, name: str) -> str:
    """UTF-8 text with `\\n` line endings, so the same document hashes the same from any editor."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise DocumentProblem(f"{name} is larger than {MAX_DOCUMENT_BYTES // 1000} kB.")
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DocumentProblem(f"{name} is not UTF-8 text.") from None
    text = raw.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise DocumentProblem(f"{name} is not a text file.")
    text = text.strip("\n") + "\n"
    if not text.strip():
        raise DocumentProblem(f"{name} is empty.")
    return text


def document_sha256(body_markdown: str) -> str:
    """The hash a signature binds to: SHA-256 of the document's Markdown as UTF-8."""
    return sha256_hex(body_markdown.encode())


def slug_for(file_name: str) -> str:
    """`Participation Agreement.md` → `participation-agreement`: the name a document keeps across
    versions, so a changed file of the same name becomes the next version of the same document."""
    stem = PurePath(file_name).stem.lower()
    slug = _SLUG_SEPARATORS.sub("-", stem).strip("-")[:MAX_SLUG_LENGTH].strip("-")
    if not slug:
        raise DocumentProblem(f'"{file_name}" needs a file name with letters or digits.')
    return slug


def split_title(body_markdown: str) -> tuple[str | None, str]:
    """The document's title (its first line, when that is a `# Heading`) and the rest."""
    first, _, rest = body_markdown.partition("\n")
    match = _TITLE_LINE.match(first)
    if match is None:
        return None, body_markdown
    return match.group("title").strip()[:MAX_TITLE_LENGTH], rest.lstrip("\n")


def title_for(body_markdown: str, slug: str) -> str:
    title, _ = split_title(body_markdown)
    return title or slug.replace("-", " ").capitalize()


def read_terms_text(customer_type: str, file_name: str, raw: bytes | str) -> TermsText:
    """A document from a file's content: its slug from the file name, its title from its text."""
    slug = slug_for(file_name)
    body = normalize_markdown(raw, name=file_name)
    return TermsText(customer_type, slug, title_for(body, slug), body)


def parse_terms_option(value: str, *, customer_types: tuple[str, ...]) -> tuple[str, str]:
    """`commercial=path.md` → (`commercial`, `path.md`)."""
    customer_type, separator, path = value.partition("=")
    customer_type = customer_type.strip().lower()
    path = path.strip()
    if not separator or not path:
        raise DocumentProblem(f'"{value}" should look like commercial=path/to/terms.md.')
    if customer_type not in customer_types:
        raise DocumentProblem(
            f'"{customer_type}" is not a customer type; use one of {", ".join(customer_types)}.'
        )
    return customer_type, path


# --- Markdown to HTML ----------------------------------------------------------------------------

# Raw HTML is off, so markup in the text is shown as text; images are off, so nothing is fetched.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.disable("image")

ALLOWED_TAGS = frozenset(
    {"a", "blockquote", "br", "code", "em", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol"}
    | {"p", "pre", "strong", "ul"}
)


def _fit_to_page(tokens: list[Token]) -> None:
    for token in tokens:
        # The page's own <h1> is the document title, so the document's headings start at <h2>.
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
        for child in token.children or ():
            if child.type == "link_open":
                child.attrSet("rel", "noopener noreferrer")


def markdown_tokens(body_markdown: str) -> list[Token]:
    return _markdown.parse(body_markdown)


def render_html(body_markdown: str) -> Markup:
    """The document as HTML for the terms page: only the tags Markdown makes, text escaped."""
    _title, body = split_title(body_markdown)
    tokens = markdown_tokens(body)
    _fit_to_page(tokens)
    html = _markdown.renderer.render(tokens, _markdown.options, {})
    return Markup(html)  # noqa: S704 - markdown-it escapes all text; raw HTML is disabled


def render_pdf_html(body_markdown: str) -> str:
    """The document as the HTML fpdf2 lays out in the PDF (headings keep their levels)."""
    _title, body = split_title(body_markdown)
    return str(_markdown.render(body))
