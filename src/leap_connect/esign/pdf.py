"""The agreement PDF: the document, the signature block and an audit-trail page, made with fpdf2.

Pure layout, no I/O: the facts come in, the unsigned PDF bytes go out (signing.py signs them).
All text is written as plain text; the only markup fpdf2 reads is the HTML markdown-it made from
the document, which contains no HTML of the author's (see documents.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF, FontFace, TextStyle
from fpdf.enums import TableBordersLayout, XPos, YPos

from leap_connect.esign.disclosure import Disclosure
from leap_connect.esign.documents import DocumentProblem, render_pdf_html

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVu"
FONT_FILES = {
    "": "DejaVuSans.ttf",
    "B": "DejaVuSans-Bold.ttf",
    "I": "DejaVuSans-Oblique.ttf",
    "BI": "DejaVuSans-BoldOblique.ttf",
}
PAGE_HEIGHT = 792.0  # US Letter, in points
# Where signing.py puts the visible signature on the last page: points from the bottom-left corner.
SIGNATURE_BOX = (54, 56, 342, 104)
MARGIN = 54.0
INK = (27, 31, 36)
MUTED = (87, 96, 106)
# The visible signature sits in SIGNATURE_BOX (points from the bottom); keep the text above it.
SIGNATURE_AREA_TOP = PAGE_HEIGHT - SIGNATURE_BOX[3] - 6

HEADING_STYLES = {
    "h1": TextStyle(font_size_pt=15, font_style="B", t_margin=5, b_margin=1, color=INK),
    "h2": TextStyle(font_size_pt=13, font_style="B", t_margin=4, b_margin=1, color=INK),
    "h3": TextStyle(font_size_pt=11.5, font_style="B", t_margin=3, b_margin=1, color=INK),
    "h4": TextStyle(font_size_pt=10.5, font_style="B", t_margin=3, b_margin=1, color=INK),
    "h5": TextStyle(font_size_pt=10, font_style="B", t_margin=2, b_margin=1, color=INK),
    "h6": TextStyle(font_size_pt=10, font_style="BI", t_margin=2, b_margin=1, color=INK),
    "code": FontFace(family=FONT),
    "pre": TextStyle(font_family=FONT, t_margin=6, b_margin=6),
    "blockquote": TextStyle(color=MUTED, l_margin=12, t_margin=4, b_margin=4),
    "a": FontFace(color=(31, 111, 235), emphasis="UNDERLINE"),
}

# fpdf2 logs each glyph the font lacks (e.g. CJK); the text is still extractable, so stay quiet.
logging.getLogger("fpdf.output").setLevel(logging.ERROR)


@dataclass(frozen=True)
class MeterFact:
    meter_id: str
    description: str


@dataclass(frozen=True)
class AgreementFacts:
    """Every fact of an agreement record, as the audit trail prints it."""

    agreement_id: str
    partner_name: str
    flow_title: str
    customer_type: str
    document_title: str
    document_slug: str
    document_version: int
    document_sha256: str
    document_markdown: str
    signer_name: str
    signer_email: str | None
    signer_title: str | None
    company_name: str | None
    connect_session_id: str
    partner_reference: str | None
    meters: tuple[MeterFact, ...]
    consented_at: datetime
    signed_at: datetime
    ip_address: str | None
    user_agent: str | None
    disclosure: Disclosure
    certificate_subject: str


def format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


class _AgreementPdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="pt", format="letter")
        self.footer_text = footer_text
        for style, file_name in FONT_FILES.items():
            self.add_font(FONT, style, str(FONTS_DIR / file_name))
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN + 10)
        self.set_text_color(*INK)

    def footer(self) -> None:
        self.set_y(-MARGIN + 8)
        self.set_font(FONT, size=7.5)
        self.set_text_color(*MUTED)
        self.cell(0, 10, f"{self.footer_text} · page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(*INK)


def _paragraph(pdf: FPDF, text: str, *, size: float = 10, style: str = "", gap: float = 4) -> None:
    pdf.set_font(FONT, style, size)
    pdf.multi_cell(0, size * 1.4, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(gap)


def _document_pages(pdf: FPDF, title: str, version: int, sha256: str, markdown: str) -> None:
    pdf.add_page()
    _paragraph(pdf, title, size=18, style="B", gap=2)
    pdf.set_text_color(*MUTED)
    _paragraph(pdf, f"Version {version} · SHA-256 of the Markdown text:", size=8.5, gap=0)
    _paragraph(pdf, sha256, size=8.5, gap=8)
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, size=10)
    pdf.write_html(
        render_pdf_html(markdown),
        font_family=FONT,
        tag_styles=HEADING_STYLES,
        ul_bullet_char="•",
        li_prefix_color=INK,
        warn_on_tags_not_matching=False,
    )


def render_agreement_pdf(facts: AgreementFacts) -> bytes:
    pdf = _AgreementPdf(f"Agreement {facts.agreement_id}")
    pdf.set_title(f"{facts.document_title} — signed by {facts.signer_name}")
    pdf.set_author(facts.partner_name)
    pdf.set_subject(f"Agreement {facts.agreement_id}")
    pdf.set_creator("Leap Connect")
    pdf.set_lang("en-US")
    pdf.set_creation_date(facts.signed_at)
    _document_pages(
        pdf,
        facts.document_title,
        facts.document_version,
        facts.document_sha256,
        facts.document_markdown,
    )
    _signature_block(pdf, facts)
    _audit_trail(pdf, facts)
    pdf.embed_file(
        bytes=facts.document_markdown.encode(),
        basename=f"{facts.document_slug}-v{facts.document_version}.md",
        desc=f"The signed document's Markdown text (SHA-256 {facts.document_sha256})",
        mime_type="text/markdown",
        modification_date=facts.signed_at,
        creation_date=facts.signed_at,
        compress=True,
    )
    return bytes(pdf.output())


def _signature_block(pdf: FPDF, facts: AgreementFacts) -> None:
    pdf.ln(14)
    if pdf.get_y() > PAGE_HEIGHT - MARGIN - 170:
        pdf.add_page()
    _paragraph(pdf, "Signature", size=13, style="B", gap=4)
    top = pdf.get_y()
    pdf.set_draw_color(*MUTED)
    _paragraph(pdf, f"/s/ {facts.signer_name}", size=15, style="I", gap=2)
    lines = [f"Name: {facts.signer_name}"]
    if facts.signer_title:
        lines.append(f"Title: {facts.signer_title}")
    if facts.company_name:
        lines.append(f"Company: {facts.company_name}")
    if facts.signer_email:
        lines.append(f"E-mail: {facts.signer_email}")
    lines.append(f"Signed electronically on {format_time(facts.signed_at)}")
    lines.append(f"Agreement ID: {facts.agreement_id}")
    for line in lines:
        _paragraph(pdf, line, size=9.5, gap=0)
    pdf.line(MARGIN - 6, top - 4, MARGIN - 6, pdf.get_y() + 2)


def _audit_trail(pdf: FPDF, facts: AgreementFacts) -> None:
    pdf.add_page()
    _paragraph(pdf, "Audit trail", size=16, style="B", gap=2)
    pdf.set_text_color(*MUTED)
    _paragraph(
        pdf,
        "Everything recorded when this document was signed. Leap Connect keeps the same record.",
        size=9,
        gap=8,
    )
    pdf.set_text_color(*INK)
    meters = (
        "\n".join(f"{m.description} (meter ID {m.meter_id})" for m in facts.meters)
        if facts.meters
        else "None connected at signing"
    )
    rows = [
        ("Agreement ID", facts.agreement_id),
        ("Document", facts.document_title),
        ("Document version", f"{facts.document_slug}, version {facts.document_version}"),
        ("Document SHA-256", facts.document_sha256),
        ("Partner", facts.partner_name),
        ("Connect flow", facts.flow_title),
        ("Customer type", facts.customer_type),
        ("Signer name", facts.signer_name),
        ("Signer e-mail", facts.signer_email or "—"),
        ("Signer title", facts.signer_title or "—"),
        ("Company", facts.company_name or "—"),
        ("Connect session ID", facts.connect_session_id),
        ("Reference ID (refId)", facts.partner_reference or "—"),
        ("Meters connected at signing", meters),
        ("Consent to electronic records given", format_time(facts.consented_at)),
        ("Signed", format_time(facts.signed_at)),
        ("IP address", facts.ip_address or "—"),
        ("Browser (user agent)", facts.user_agent or "—"),
    ]
    pdf.set_font(FONT, size=8.5)
    with pdf.table(
        col_widths=(30, 70),
        first_row_as_headings=False,
        text_align="LEFT",
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        line_height=11,
        padding=2.5,
    ) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label, style=FontFace(emphasis="BOLD"))
            row.cell(value)
    pdf.ln(12)
    _paragraph(pdf, facts.disclosure.heading, size=11, style="B", gap=3)
    for paragraph in facts.disclosure.paragraphs:
        _paragraph(pdf, paragraph, size=8, gap=2)
    _paragraph(pdf, "The signer ticked: " + facts.disclosure.consent_statement, size=8, gap=2)
    if pdf.get_y() > SIGNATURE_AREA_TOP - 24:
        pdf.add_page()
    pdf.set_y(SIGNATURE_AREA_TOP - 22)
    pdf.set_text_color(*MUTED)
    _paragraph(
        pdf,
        f"Digital signature (PAdES) by {facts.certificate_subject}. "
        "A PDF reader's signature panel shows whether this file was changed after signing.",
        size=8,
        gap=0,
    )
    pdf.set_text_color(*INK)


def check_document_layout(title: str, body_markdown: str) -> None:
    """Lay the document out once, so a document the PDF cannot show is refused when it is set,
    not when a customer signs it."""
    pdf = _AgreementPdf("layout check")
    try:
        _document_pages(pdf, title, 1, "0" * 64, body_markdown)
        pdf.output()
    except Exception as error:  # fpdf2 raises assorted errors for layouts it cannot do
        raise DocumentProblem(
            f"{title} cannot be laid out in a PDF ({type(error).__name__}: {error})."
        ) from None
