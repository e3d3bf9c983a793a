"""The consent to electronic records and signatures the U.S. ESIGN Act asks for (15 U.S.C.
§ 7001(c)): shown above every signature form and printed in every agreement's audit trail."""

from __future__ import annotations

from dataclasses import dataclass

DISCLOSURE_VERSION = "1"


@dataclass(frozen=True)
class Disclosure:
    heading: str
    intro: str
    points: tuple[tuple[str, str], ...]  # (lead, text): what the Act asks the consumer be told
    closing: str
    consent_statement: str

    @property
    def paragraphs(self) -> tuple[str, ...]:
        """The whole notice as plain paragraphs, for the PDF."""
        return (self.intro, *(f"{lead} {text}" for lead, text in self.points), self.closing)


def esign_disclosure(partner_name: str) -> Disclosure:
    """The same words on the page and in the PDF, so the record shows exactly what was disclosed."""
    return Disclosure(
        heading="Consent to electronic records and signatures",
        intro=(
            f"{partner_name} asks you to receive this document and the record of your signature "
            "electronically, and to sign it electronically. Leap Connect runs this sign-up for "
            f"{partner_name}. Please read this notice before you agree."
        ),
        points=(
            (
                "Paper copies.",
                "You have the right to receive this document on paper instead. To get a paper "
                f"copy of anything you sign here, free of charge, ask {partner_name}.",
            ),
            (
                "What your consent covers.",
                "The documents in this sign-up and the records of your signatures on them.",
            ),
            (
                "Withdrawing consent.",
                "You can withdraw your consent before you sign by leaving this page: nothing is "
                f"signed. After you sign, tell {partner_name} if you withdraw your consent to "
                "electronic records; this does not undo a signature already given, and "
                f"{partner_name} may then stop your participation in its program.",
            ),
            (
                "Keeping your details up to date.",
                f"Tell {partner_name} if your e-mail address changes.",
            ),
            (
                "What you need.",
                "A device with a current web browser and a program that opens PDF files, with "
                "room to save them or a printer. After you sign, you can download the signed "
                "document as a PDF; keep it for your records.",
            ),
        ),
        closing=(
            "By ticking the box below you confirm that you can read this page and the document "
            "above, which shows that you can open the electronic records we will give you."
        ),
        consent_statement=(
            "I have read the notice above and agree to use electronic records and signatures. "
            "I intend the name I type below to be my signature on this document."
        ),
    )
