"""`leap-connect` run as the installed console script: what an operator sees."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import inspect, text
from starlette.datastructures import QueryParams

from leap_connect.db import create_engine, create_sessionmaker, transaction
from leap_connect.kit.crypto import Encryptor, keyed_hash
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY

LEAP_CONNECT = Path(sys.executable).with_name("leap-connect")
BASE_URL = "https://connect.example.com"
SECRET_KEY = "cli-test-secret-key-0123456789abcdef"
FLOW_OPTIONS = (
    "--region",
    "CAISO",
    "--utilities",
    "pge,sce",
    "--customer-types",
    "residential",
    "--thank-you-url",
    "https://acme.example/thanks",
)

Run = Callable[..., subprocess.CompletedProcess[str]]


def cli_environment(**variables: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEAP_CONNECT_")}
    environment.update(COLUMNS="200", NO_COLOR="1", TERM="dumb", **variables)
    return environment


def run_cli(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEAP_CONNECT), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def leap_connect(database_url: str, tmp_path: Path) -> Run:
    """`leap-connect` on the test database (SQLite, or PostgreSQL with TEST_DATABASE_URL)."""
    environment = cli_environment(
        LEAP_CONNECT_DATA_DIR=str(tmp_path),
        LEAP_CONNECT_DATABASE_URL=database_url,
        LEAP_CONNECT_BASE_URL=BASE_URL,
        LEAP_CONNECT_SECRET_KEY=SECRET_KEY,
        LEAP_CONNECT_NEW_USER_PASSWORD="a long enough password",
    )
    return lambda *args: run_cli(environment, *args)


@pytest.fixture
def acme(database_url: str) -> None:
    """Organization `acme` with the flow `ca-homes` (pge, sce), arranged without the CLI."""
    from leap_connect.connect import flows
    from leap_connect.organizations import service as organizations

    async def arrange() -> None:
        engine = create_engine(database_url)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                organization, _ = await organizations.create_organization(
                    session,
                    Encryptor(DEVELOPMENT_ENCRYPTION_KEY),
                    name="acme",
                    display_name="Acme Solar",
                )
                await flows.create_flow(
                    session,
                    organization=organization,
                    url_friendly_title="ca-homes",
                    region="CAISO",
                    utility_ids=["pge", "sce"],
                    customer_types=["residential"],
                    thank_you_url="https://acme.example/thanks",
                    development=True,
                )
        finally:
            await engine.dispose()

    asyncio.run(arrange())


def query(database_url: str, sql: str) -> list[dict[str, object]]:
    async def run() -> list[dict[str, object]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(text(sql))
                return [dict(row._mapping) for row in result]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def table_names(database_url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def query_params(url: str) -> QueryParams:
    return QueryParams(urlsplit(url).query)


def assert_one_error_line(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"error: {message}"]
    assert result.stdout == ""


# --- db upgrade -----------------------------------------------------------------------------------


def test_db_upgrade_creates_the_sqlite_database_in_the_data_folder_and_can_run_again(
    tmp_path: Path,
) -> None:
    environment = cli_environment(LEAP_CONNECT_DATA_DIR=str(tmp_path / "data"))

    first = run_cli(environment, "db", "upgrade")
    again = run_cli(environment, "db", "upgrade")

    assert (first.returncode, first.stdout) == (0, "database is up to date\n"), first.stderr
    assert (again.returncode, again.stdout) == (0, "database is up to date\n"), again.stderr
    database = tmp_path / "data" / "leap-connect.db"
    assert {"organizations", "api_keys", "meters"} <= table_names(f"sqlite+aiosqlite:///{database}")


def test_db_upgrade_on_an_up_to_date_database_is_safe(leap_connect: Run) -> None:
    result = leap_connect("db", "upgrade")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "database is up to date\n"
    assert "Traceback" not in result.stderr


# --- the operator's scenario ----------------------------------------------------------------------


def test_an_organization_flow_and_link_created_from_the_cli(leap_connect: Run) -> None:
    org = leap_connect("orgs", "create", "acme", "--display-name", "Acme Solar")
    assert org.returncode == 0, org.stderr
    assert org.stdout.splitlines()[0] == "created organization acme"
    assert org.stdout.splitlines()[1].startswith("redirect signing secret")

    flow = leap_connect("flows", "create", "acme", "ca-homes", *FLOW_OPTIONS)
    assert flow.returncode == 0, flow.stderr
    assert flow.stdout == f"created flow ca-homes: {BASE_URL}/acme/ca-homes\n"

    link = leap_connect(
        "links", "create", "acme", "ca-homes", "--utilities", "pge", "--ref-id", "cust 42/7"
    )
    assert link.returncode == 0, link.stderr
    [url] = link.stdout.splitlines()
    assert url.startswith(f"{BASE_URL}/acme/ca-homes?")
    params = query_params(url)
    assert params.getlist("refId") == ["cust 42/7"]
    assert params.getlist("requestedUtilities") == ["pge"]


def test_a_second_organization_with_the_same_name_is_refused(leap_connect: Run) -> None:
    first = leap_connect("orgs", "create", "acme", "--display-name", "Acme Solar")
    second = leap_connect("orgs", "create", "acme", "--display-name", "Acme Again")

    assert first.returncode == 0, first.stderr
    assert_one_error_line(second, 'An organization named "acme" already exists.')


def test_every_create_command_prints_one_json_object_with_what_it_created(
    leap_connect: Run, database_url: str
) -> None:
    org = json.loads(
        leap_connect("orgs", "create", "acme", "--display-name", "Acme Solar", "--json").stdout
    )
    assert org["name"] == "acme"
    assert org["display_name"] == "Acme Solar"
    assert org["organization_id"]
    assert len(org["redirect_signing_secret"]) == 64

    flow = json.loads(
        leap_connect("flows", "create", "acme", "ca-homes", *FLOW_OPTIONS, "--json").stdout
    )
    assert flow["url_friendly_title"] == "ca-homes"
    assert flow["region"] == "CAISO"
    assert flow["utilities"] == ["pge", "sce"]
    assert flow["customer_types"] == ["residential"]
    assert flow["url"] == f"{BASE_URL}/acme/ca-homes"
    assert flow["flow_id"]

    user = json.loads(leap_connect("users", "create", "acme", "Ops@Acme.example", "--json").stdout)
    assert user["email"] == "ops@acme.example"
    assert user["role"] == "admin"
    assert user["user_id"]

    key_result = leap_connect(
        "api-keys", "create", "acme", "--scopes", "meters:read,connect:write", "--json"
    )
    key = json.loads(key_result.stdout)
    assert key["api_key_id"]
    assert key["api_key"].startswith("lc_live_")
    assert key["scopes"] == ["connect:write", "meters:read"]

    link = json.loads(
        leap_connect("links", "create", "acme", "ca-homes", "--ref-id", "a&b=c+d", "--json").stdout
    )
    assert link["ref_id"] == "a&b=c+d"
    assert query_params(link["url"]).getlist("refId") == ["a&b=c+d"]

    # The API key is shown once; only its HMAC is stored.
    [stored] = query(database_url, "SELECT * FROM api_keys")
    assert str(stored["id"]).replace("-", "") == key["api_key_id"].replace("-", "")
    assert stored["token_hmac"] == keyed_hash(SECRET_KEY, key["api_key"])
    assert not any(key["api_key"] in str(value) for value in stored.values())


# --- mistakes the operator makes ------------------------------------------------------------------


@pytest.mark.usefixtures("acme")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("links", "create", "acme", "ca-homes", "--ref-id", "r" * 256),
            "refId is 256 characters long; the limit is 255.",
        ),
        (
            ("links", "create", "acme", "ca-homes", "--utilities", "xyz"),
            'Unknown utility ID "xyz". Supported utility IDs: pge, sce, sdge, '
            "cecony-utilityapi, oru-utilityapi, psegli-utilityapi.",
        ),
        (
            ("links", "create", "acme", "ca-homes", "--utilities", "sdge"),
            'This link asks for "sdge", which this flow does not offer. It offers: pge, sce.',
        ),
        (
            ("links", "create", "acme", "ca-homes", "--ref-id", "Zoë"),
            "refId may contain only printable ASCII characters; "
            'character 3 is "ë" (U+00EB), which is not ASCII.',
        ),
        (
            ("links", "create", "nobody", "ca-homes"),
            'There is no organization named "nobody".',
        ),
        (
            ("links", "create", "acme", "no-such-flow"),
            'acme has no flow named "no-such-flow".',
        ),
        (
            ("api-keys", "create", "acme", "--scopes", "meters:everything"),
            "Unknown scope meters:everything. Scopes: meters:read, meters:write, "
            "connect:read, connect:write, webhooks:manage.",
        ),
    ],
    ids=[
        "ref-id of 256 characters",
        "unknown utility",
        "utility the flow does not offer",
        "non-ASCII ref-id",
        "unknown organization",
        "unknown flow",
        "unknown API key scope",
    ],
)
def test_a_mistake_fails_with_status_2_and_one_clear_line(
    leap_connect: Run, args: tuple[str, ...], message: str
) -> None:
    assert_one_error_line(leap_connect(*args), message)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("flows", "create", "acme", "ca-homes", "--region", "CAISO"), "Missing option"),
        (("links", "create", "acme"), "Missing argument"),
        (("orgs", "create", "acme", "--display-name", "Acme", "--colour", "red"), "No such option"),
    ],
    ids=["missing option", "missing argument", "unknown option"],
)
def test_bad_arguments_exit_2_with_usage_and_no_traceback(
    leap_connect: Run, args: tuple[str, ...], complaint: str
) -> None:
    result = leap_connect(*args)

    assert result.returncode == 2
    assert complaint in result.stderr
    assert "Usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_without_a_secret_key_of_its_own_refuses_to_start(tmp_path: Path) -> None:
    environment = cli_environment(
        LEAP_CONNECT_DATA_DIR=str(tmp_path), LEAP_CONNECT_ENV="production"
    )

    result = run_cli(environment, "db", "upgrade")

    assert_one_error_line(
        result, "LEAP_CONNECT_SECRET_KEY must be set to a secret of your own in production"
    )


# --- bulk links from a CSV ------------------------------------------------------------------------


def csv_line(value: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([value])
    return out.getvalue()


@pytest.mark.usefixtures("acme")
def test_bulk_links_from_a_csv_write_one_link_per_good_row_and_list_bad_rows_by_line(
    leap_connect: Run, tmp_path: Path
) -> None:
    good = [f"cust-{number}" for number in range(3000)]
    good[7] = "a&b=c+d #1"
    good[8] = "50% / 'single' \"double\", comma"
    lines = ["refId", *map(csv_line, good[:1000])]
    lines += ["x" * 300]  # line 1002
    lines += good[1000:2000]
    lines += [""]  # line 2003
    lines += good[2000:2500]
    lines += ["Zoë"]  # line 2504
    lines += ['"two', 'lines"']  # lines 2505-2506: one record
    lines += good[2500:]  # starts on line 2507
    lines += ["tab\there"]  # line 3007
    (tmp_path / "refs.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = leap_connect(
        "links",
        "create",
        "acme",
        "ca-homes",
        "--csv",
        str(tmp_path / "refs.csv"),
        "-o",
        str(tmp_path / "links.csv"),
        "--json",
    )

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    with (tmp_path / "links.csv").open(newline="", encoding="utf-8") as file:
        header, *rows = csv.reader(file)
    assert header == ["ref_id", "url"]
    assert [ref for ref, _ in rows] == good
    for ref, url in rows[:10]:
        assert url.startswith(f"{BASE_URL}/acme/ca-homes?")
        assert query_params(url).getlist("refId") == [ref]
    assert [line for line in result.stderr.splitlines() if "skipped:" in line] == [
        "line 1002: skipped: refId is 300 characters long; the limit is 255.",
        "line 2003: skipped: the Reference ID is empty",
        "line 2504: skipped: refId may contain only printable ASCII characters; "
        'character 3 is "ë" (U+00EB), which is not ASCII.',
        "line 2505: skipped: refId may contain only printable ASCII characters; "
        "character 4 is a control character (U+000A).",
        "line 3007: skipped: refId may contain only printable ASCII characters; "
        "character 4 is a control character (U+0009).",
    ]
    summary = json.loads(result.stdout)
    assert summary["written"] == len(good)
    assert [item["line"] for item in summary["skipped"]] == [1002, 2003, 2504, 2505, 3007]


@pytest.mark.usefixtures("acme")
def test_bulk_links_never_write_a_reference_a_spreadsheet_would_run_as_a_formula(
    leap_connect: Run, tmp_path: Path
) -> None:
    hostile = ['=HYPERLINK("https://evil.example","Click")', "+1+1", "-1", "@SUM(A1)", "cust-1"]
    (tmp_path / "refs.csv").write_text("\n".join(map(csv_line, hostile)) + "\n", encoding="utf-8")

    result = leap_connect(
        "links", "create", "acme", "ca-homes", "--csv", str(tmp_path / "refs.csv"),
        "-o", str(tmp_path / "links.csv"),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    with (tmp_path / "links.csv").open(newline="", encoding="utf-8") as file:
        _header, *rows = csv.reader(file)
    assert [ref for ref, _ in rows] == [f"'{ref}" for ref in hostile[:4]] + ["cust-1"]
    # The link itself carries the exact Reference ID.
    assert [query_params(url).getlist("refId") for _, url in rows] == [[ref] for ref in hostile]


@pytest.mark.usefixtures("acme")
def test_bulk_links_read_a_spreadsheet_export_and_print_to_stdout(
    leap_connect: Run, tmp_path: Path
) -> None:
    # Spreadsheets write "CSV UTF-8" with a byte-order mark and CRLF line ends.
    (tmp_path / "refs.csv").write_bytes("\ufeffrefId,name\r\ncust-1,Ann\r\ncust-2,Bob\r\n".encode())

    result = leap_connect(
        "links", "create", "acme", "ca-homes", "--csv", str(tmp_path / "refs.csv")
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ref_id,url",
        f"cust-1,{BASE_URL}/acme/ca-homes?refId=cust-1",
        f"cust-2,{BASE_URL}/acme/ca-homes?refId=cust-2",
    ]
    assert result.stderr.splitlines()[-1] == "2 links written, 0 rows skipped"


@pytest.mark.usefixtures("acme")
@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (None, "No such file or directory"),
        ("cust-1\nZo\xeb\n".encode("latin-1"), "can't decode byte 0xeb"),
        (b"cust-1\n" + b"x" * 200_000 + b"\n", "line 2: field larger than field limit"),
    ],
    ids=["missing file", "not UTF-8", "field too large"],
)
def test_an_unreadable_csv_fails_with_one_line_and_writes_nothing(
    leap_connect: Run, tmp_path: Path, content: bytes | None, complaint: str
) -> None:
    refs = tmp_path / "refs.csv"
    if content is not None:
        refs.write_bytes(content)

    result = leap_connect(
        "links", "create", "acme", "ca-homes", "--csv", str(refs), "-o", str(tmp_path / "out.csv")
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot read {refs}: ")
    assert complaint in line
    assert not (tmp_path / "out.csv").exists()
