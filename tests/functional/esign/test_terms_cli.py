"""`leap-connect flows create --terms` and `flows set-terms`, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from leap_connect.connect.flows import create_flow
from leap_connect.db import create_engine, create_sessionmaker, transaction
from leap_connect.kit.crypto import Encryptor
from leap_connect.organizations.service import create_organization, require_organization
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY

LEAP_CONNECT = Path(sys.executable).with_name("leap-connect")
FLOW = (
    "--region",
    "NYISO",
    "--utilities",
    "cecony-utilityapi",
    "--customer-types",
    "commercial",
    "--thank-you-url",
    "https://acme.example/thanks",
)

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def leap_connect(database_url: str, tmp_path: Path) -> Run:
    """`leap-connect` on the test database, where organization `acme` exists."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEAP_CONNECT_")}
    environment.update(
        LEAP_CONNECT_DATA_DIR=str(tmp_path),
        LEAP_CONNECT_DATABASE_URL=database_url,
        LEAP_CONNECT_BASE_URL="https://connect.example.com",
        COLUMNS="200",
        NO_COLOR="1",
    )
    asyncio.run(arrange(database_url, with_flow=False))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LEAP_CONNECT), *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
            cwd=tmp_path,
        )

    return run


@pytest.fixture
def ny_flow(database_url: str, leap_connect: Run) -> None:
    """Flow `ny` of `acme`, for business customers, arranged without the CLI."""
    asyncio.run(arrange(database_url, with_flow=True))


async def arrange(database_url: str, *, with_flow: bool) -> None:
    engine = create_engine(database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            if with_flow:
                organization = await require_organization(session, "acme")
                await create_flow(
                    session,
                    organization=organization,
                    url_friendly_title="ny",
                    region="NYISO",
                    utility_ids=["cecony-utilityapi"],
                    customer_types=["commercial"],
                    thank_you_url="https://acme.example/thanks",
                    development=True,
                )
            else:
                await create_organization(
                    session,
                    Encryptor(DEVELOPMENT_ENCRYPTION_KEY),
                    name="acme",
                    display_name="Acme Energy",
                )
    finally:
        await engine.dispose()


def documents(database_url: str) -> list[tuple[str, int, bool, str]]:
    async def query() -> list[tuple[str, int, bool, str]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(
                    text(
                        "SELECT slug, version, is_current, title FROM documents "
                        "ORDER BY slug, version"
                    )
                )
                return [(r[0], r[1], bool(r[2]), r[3]) for r in result]
        finally:
            await engine.dispose()

    return asyncio.run(query())


def test_a_flow_is_created_with_two_documents_for_business_customers(
    leap_connect: Run, tmp_path: Path, database_url: str
) -> None:
    (tmp_path / "participation-agreement.md").write_text("# Participation agreement\n\nTerms.\n")
    (tmp_path / "Data Sharing.md").write_text("We read your meters.\n")

    created = leap_connect(
        "flows",
        "create",
        "acme",
        "ny-business",
        *FLOW,
        "--terms",
        "commercial=participation-agreement.md",
        "--terms",
        "commercial=Data Sharing.md",
        "--json",
    )

    assert created.returncode == 0, created.stderr
    terms = json.loads(created.stdout)["terms"]
    assert [(t["slug"], t["title"], t["version"], t["change"]) for t in terms] == [
        ("participation-agreement", "Participation agreement", 1, "added"),
        ("data-sharing", "Data sharing", 1, "added"),
    ]
    assert documents(database_url) == [
        ("data-sharing", 1, True, "Data sharing"),
        ("participation-agreement", 1, True, "Participation agreement"),
    ]


@pytest.mark.usefixtures("ny_flow")
def test_set_terms_makes_a_new_version_only_when_the_text_changes(
    leap_connect: Run, tmp_path: Path, database_url: str
) -> None:
    agreement = tmp_path / "agreement.md"
    agreement.write_text("# Agreement\n\nVersion one.\n")

    first = leap_connect("flows", "set-terms", "acme", "ny", "--terms", "commercial=agreement.md")
    same = leap_connect("flows", "set-terms", "acme", "ny", "--terms", "commercial=agreement.md")
    agreement.write_text("# Agreement\r\n\r\nVersion two.\r\n")
    changed = leap_connect(
        "flows", "set-terms", "acme", "ny", "--terms", "commercial=agreement.md", "--json"
    )

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0].startswith(
        "commercial terms: Agreement (agreement) version 1, added, sha256 "
    )
    assert "version 1, unchanged" in same.stdout
    assert json.loads(changed.stdout)["terms"][0]["change"] == "new version"
    assert documents(database_url) == [
        ("agreement", 1, False, "Agreement"),
        ("agreement", 2, True, "Agreement"),
    ]
    cleared = leap_connect("flows", "set-terms", "acme", "ny", "--clear", "commercial")
    assert "version 2, removed" in cleared.stdout
    assert documents(database_url)[-1] == ("agreement", 2, False, "Agreement")


MISTAKES = [
    (("--terms", "commercial"), '"commercial" should look like commercial=path/to/terms.md.'),
    (("--terms", "business=a.md"), '"business" is not a customer type'),
    (("--terms", "commercial=missing.md"), "cannot read missing.md: No such file"),
    (("--terms", "residential=a.md"), 'The flow "ny" has no residential customers'),
    ((), "give --terms TYPE=PATH, --clear TYPE or --before-authorization"),
]


@pytest.mark.usefixtures("ny_flow")
def test_set_terms_mistakes_are_one_line_errors(leap_connect: Run, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("Terms.\n")

    for args, message in MISTAKES:
        result = leap_connect("flows", "set-terms", "acme", "ny", *args)

        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith("error: ") and message in line, line
