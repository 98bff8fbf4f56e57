"""The ``exchange`` command line (SPEC section 5), run in-process against files in tmp_path."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from adapters.keys import KeyStore
from consent.identifiers import parse_hetu
from exchange import config as configuration
from exchange.audit import merkle
from exchange.cli import main
from exchange.registry.service import verify_password
from tests.conftest import business_id, free_port, new_signing_key, public_jwks

KEY_FILES = ("signing.json", "kek.json", "hetu.json", "web.json")
# The demo hashes a password per user; at production cost that is seconds a run.
CHEAP_PASSWORDS = {"EXCHANGE_ARGON2_PROFILE": "cheapest"}


def _outside_exchange_settings() -> dict[str, None]:
    """Every EXCHANGE_* variable of the real environment, unset (the test ones may stay)."""
    return {
        name: None
        for name in os.environ
        if name.startswith("EXCHANGE_") and not name.startswith("EXCHANGE_TEST_")
    }


def invoke(args: list[str], env: dict[str, str | None]) -> Result:
    """Run the command line; put back the root logger it reconfigures for its own stderr."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return CliRunner().invoke(main, args, env={**_outside_exchange_settings(), **env})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@dataclass
class Cli:
    """The command line pointed at one scratch directory (embedded mode)."""

    base: Path

    @property
    def db_path(self) -> Path:
        return self.base / "data" / "x.db"

    @property
    def keys_dir(self) -> Path:
        return self.base / "keys"

    @property
    def env(self) -> dict[str, str | None]:
        return {
            "EXCHANGE_DATABASE_URL": f"sqlite:///{self.db_path}",
            "EXCHANGE_KEYS_DIR": str(self.keys_dir),
            "EXCHANGE_MODE": "embedded",
            "EXCHANGE_REDIS_URL": None,
            "EXCHANGE_ISSUER": None,
        }

    def __call__(self, *args: str | Path, **env: str | None) -> Result:
        return invoke([str(arg) for arg in args], {**self.env, **env})

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(self.db_path)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    def tamper(self, sql: str, *params: Any) -> None:
        """Change the file past the append-only triggers, as someone with file access could."""
        connection = sqlite3.connect(self.db_path)
        try:
            with connection:
                for trigger in ("audit_event_no_delete", "audit_event_seal_only"):
                    connection.execute(f"DROP TRIGGER IF EXISTS {trigger}")
                connection.execute(sql, params)
        finally:
            connection.close()

    def execute(self, sql: str, *params: Any) -> None:
        connection = sqlite3.connect(self.db_path)
        try:
            with connection:
                connection.execute(sql, params)
        finally:
            connection.close()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name in _outside_exchange_settings():
        monkeypatch.delenv(name)
    return Cli(tmp_path)


def assert_clean_failure(result: Result) -> None:
    """A non-zero exit with a message, not a Python traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- keys -------------------------------------------------------------------------


def test_keys_init_creates_private_files_once(cli):
    first = cli("keys", "init")

    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "created: signing.json, kek.json, hetu.json, web.json"
    for name in KEY_FILES:
        assert mode(cli.keys_dir / name) == 0o600, name
    before = {name: (cli.keys_dir / name).read_bytes() for name in KEY_FILES}

    second = cli("keys", "init")

    assert second.exit_code == 0, second.output
    assert "nothing created" in second.stdout
    assert {name: (cli.keys_dir / name).read_bytes() for name in KEY_FILES} == before
    assert sorted(p.name for p in cli.keys_dir.iterdir()) == sorted(KEY_FILES)


def test_keys_rotate_adds_a_signing_key_and_a_kek_version(cli):
    assert cli("keys", "init").exit_code == 0
    old = KeyStore.load(cli.keys_dir)

    result = cli("keys", "rotate")

    assert result.exit_code == 0, result.output
    reported = json.loads(result.stdout)
    assert reported["kek_version"] == "2"
    new = KeyStore.load(cli.keys_dir)
    kids = [key["kid"] for key in new.public_jwks()["keys"]]
    assert kids == [old.signing_key.kid, reported["signing_kid"]]
    assert new.signing_key.kid == reported["signing_kid"]  # the new key signs from now on
    assert all("d" not in key for key in new.public_jwks()["keys"])
    assert new.kek_version == 2
    assert new.keks[1] == old.keks[1]  # data wrapped with version 1 still unwraps
    assert new.keks[2] != old.keks[1]
    assert (new.hetu_lookup_key, new.hetu_encryption_key) == (
        old.hetu_lookup_key,
        old.hetu_encryption_key,
    )
    for name in KEY_FILES:
        assert mode(cli.keys_dir / name) == 0o600, name


def test_keys_rotate_without_keys_fails_clearly(cli):
    result = cli("keys", "rotate")

    assert_clean_failure(result)
    assert "signing.json is missing" in result.stderr
    assert not cli.keys_dir.exists()


# --- database and registry --------------------------------------------------------


def test_db_upgrade_creates_the_schema(cli):
    result = cli("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert "database at revision head" in result.stdout
    tables = {row[0] for row in cli.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"organization", "oauth_client", "app_user", "audit_event", "alembic_version"} <= tables
    assert cli("db", "upgrade").exit_code == 0  # again: nothing to do, no error


def registry_document() -> dict[str, Any]:
    return {
        "organizations": [
            {
                "id": "cli-provider",
                "name": "CLI Test Provider",
                "kind": "provider",
                "business_id": business_id(4_300_001),
                "jwks": public_jwks(new_signing_key("EC")),
            },
        ],
        "oauth_clients": [
            {
                "client_id": "cli-provider-system",
                "organization": "cli-provider",
                "scopes": ["packets:send"],
                "jwks": public_jwks(new_signing_key("EC")),
            }
        ],
        "users": [
            {
                "username": "veera.virtuaalinen",
                "organization": "cli-provider",
                "name": "Veera Virtuaalinen",
                "roles": ["staff"],
            }
        ],
    }


def count(cli: Cli, table: str) -> int:
    return int(cli.query(f"SELECT count(*) FROM {table}")[0][0])  # fixed names


def test_registry_load_upserts_and_prints_counts(cli, tmp_path):
    assert cli("db", "upgrade").exit_code == 0
    file = tmp_path / "registry.json"
    file.write_text(json.dumps(registry_document()))

    first = cli("registry", "load", file)
    second = cli("registry", "load", file)

    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {
        "oauth_clients.created": 1,
        "organizations.created": 1,
        "users.created": 1,
    }
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout) == {
        "oauth_clients.unchanged": 1,
        "organizations.unchanged": 1,
        "users.unchanged": 1,
    }
    assert cli.query("SELECT id, kind FROM organization") == [("cli-provider", "provider")]
    assert cli.query("SELECT username, organization_id FROM app_user") == [
        ("veera.virtuaalinen", "cli-provider")
    ]


def test_registry_load_of_an_invalid_file_names_the_entry_and_loads_nothing(cli, tmp_path):
    assert cli("db", "upgrade").exit_code == 0
    document = registry_document()
    valid_org = document["organizations"][0]
    bad_org = dict(valid_org, id="cli-other", business_id="1234567-0")
    document["organizations"] = [bad_org, valid_org]
    file = tmp_path / "registry.json"
    file.write_text(json.dumps(document))

    result = cli("registry", "load", file)

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "nothing was loaded" in result.stderr
    assert "organizations[0].business_id" in result.stderr
    assert result.stdout == ""
    assert (count(cli, "organization"), count(cli, "oauth_client"), count(cli, "app_user")) == (
        0,
        0,
        0,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"organizations": [', "not valid JSON"),
        (b'{"organizations": [], "organizations": []}', "Duplicate key 'organizations'"),
        (b'{"users": [{"name": "A", "name": "B"}]}', "Duplicate key 'name'"),
        (b"NaN", "NaN is not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
    ids=["truncated", "duplicate-top-level-key", "duplicate-nested-key", "nan", "not-utf8"],
)
def test_registry_load_of_malformed_json_fails_with_a_message(cli, tmp_path, content, message):
    file = tmp_path / "registry.json"
    file.write_bytes(content)

    result = cli("registry", "load", file)

    assert_clean_failure(result)
    assert message in result.stderr
    assert str(file) in result.stderr
    assert not cli.db_path.exists()  # refused before the service was even started


def test_registry_load_of_a_missing_file_is_a_usage_error(cli, tmp_path):
    result = cli("registry", "load", tmp_path / "absent.json")

    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# --- demo -------------------------------------------------------------------------


def demo_sections(output: str) -> dict[str, Any]:
    """The parts of the demo's printout a tester reads."""
    lines = output.splitlines()
    registry_line = next(line for line in lines if line.strip().startswith("registry:"))
    users_at = lines.index("Users (username / password / organization / roles):")
    clients_at = next(i for i, line in enumerate(lines) if line.startswith("OAuth clients"))
    hetus_at = lines.index("Synthetic clients (identity codes for testing only):")
    users = {}
    for line in lines[users_at + 1 :]:
        if not line.strip():
            break
        username, password, organization, roles = line.split()
        users[username] = (password, organization, roles)
    clients = []
    for line in lines[clients_at + 1 :]:
        if not line.strip():
            break
        clients.append(line.split()[0])
    return {
        "registry": json.loads(registry_line.split("registry:", 1)[1]),
        "users": users,
        "clients": clients,
        "hetus": lines[hetus_at + 1].split(),
    }


def test_demo_twice_changes_nothing_and_prints_the_same_credentials(cli):
    demo_dir = cli.base / "demo"

    first = cli("demo", "--dir", demo_dir, **CHEAP_PASSWORDS)
    second = cli("demo", "--dir", demo_dir, **CHEAP_PASSWORDS)

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    one, two = demo_sections(first.stdout), demo_sections(second.stdout)
    assert all(name.endswith(".created") for name in one["registry"])
    assert two["registry"] == {
        name.replace(".created", ".unchanged"): n for name, n in one["registry"].items()
    }
    assert two["users"] == one["users"]
    assert two["clients"] == one["clients"]
    assert two["hetus"] == one["hetus"]
    # Enough service periods for the outcome report, recorded once.
    closed = cli.query(
        "SELECT count(DISTINCT client_id) FROM service_period WHERE status = 'closed'"
    )
    assert closed[0][0] >= 100
    assert cli.query("SELECT count(*) FROM service_period") == [(130,)]

    # The printout lists every registered client and user, with a password that works.
    assert sorted(one["clients"]) == sorted(
        r[0] for r in cli.query("SELECT client_id FROM oauth_client")
    )
    stored = dict(cli.query("SELECT username, password_hash FROM app_user"))
    assert sorted(one["users"]) == sorted(stored)
    for username, (password, _organization, _roles) in one["users"].items():
        assert verify_password(stored[username], password), username
        assert password not in stored[username]

    # Identity codes are valid, synthetic (individual numbers 900-999) and only printed.
    assert len(one["hetus"]) == 5
    for hetu in one["hetus"]:
        assert 900 <= parse_hetu(hetu).individual_number <= 999, hetu

    # Credentials on disk are private files.
    secret_files = [demo_dir / "passwords.json", *sorted((demo_dir / "keys").iterdir())]
    assert len(secret_files) > 1
    for path in secret_files:
        assert mode(path) == 0o600, path


def test_demo_refuses_production_mode(cli):
    demo_dir = cli.base / "demo"

    result = cli(
        "demo",
        "--dir",
        demo_dir,
        EXCHANGE_MODE="production",
        EXCHANGE_REDIS_URL="redis://127.0.0.1:9/0",
        EXCHANGE_ISSUER="https://exchange.example",
    )

    assert_clean_failure(result)
    assert "embedded mode only" in result.stderr
    assert not demo_dir.exists()
    assert not cli.db_path.exists()


# --- audit verify -----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo database (keys included) per module; tests work on copies of it."""
    base = tmp_path_factory.mktemp("demo-base")
    result = Cli(base)("demo", "--dir", base / "demo", **CHEAP_PASSWORDS)
    assert result.exit_code == 0, result.output
    return base


@pytest.fixture
def demo_cli(cli: Cli, demo_base: Path) -> Cli:
    shutil.copytree(demo_base / "keys", cli.keys_dir)
    cli.db_path.parent.mkdir(parents=True)
    source = sqlite3.connect(demo_base / "data" / "x.db")
    target = sqlite3.connect(cli.db_path)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return cli


def verify(cli: Cli) -> tuple[Result, dict[str, Any]]:
    result = cli("audit", "verify")
    return result, json.loads(result.stdout)


def test_audit_verify_accepts_an_untouched_log(demo_cli):
    events = count(demo_cli, "audit_event")
    assert events >= 3

    result, report = verify(demo_cli)

    assert result.exit_code == 0, result.output
    assert report == {
        "ok": True,
        "verified_through": events,
        "first_bad_seq": None,
        "events": events,
        "checkpoints": 1,
        "unsealed": 0,
        "problem": None,
    }


def test_audit_verify_accepts_an_empty_log(cli):
    assert cli("db", "upgrade").exit_code == 0

    result, report = verify(cli)

    assert result.exit_code == 0, result.output
    assert report["ok"] is True
    assert report["events"] == 0


def test_audit_verify_names_an_altered_event(demo_cli):
    demo_cli.tamper("UPDATE audit_event SET action = 'x' WHERE seq = 2")

    result, report = verify(demo_cli)

    assert result.exit_code == 1
    assert report["ok"] is False
    assert report["first_bad_seq"] == 2
    assert report["verified_through"] == 1
    assert "first bad event is seq 2" in result.stderr


def test_audit_verify_detects_a_deleted_middle_event(demo_cli):
    demo_cli.tamper("DELETE FROM audit_event WHERE seq = 2")

    result, report = verify(demo_cli)

    assert result.exit_code == 1
    assert report["first_bad_seq"] == 2


def test_audit_verify_detects_a_truncated_tail(demo_cli):
    last = demo_cli.query("SELECT max(seq) FROM audit_event")[0][0]
    demo_cli.tamper("DELETE FROM audit_event WHERE seq = ?", last)

    result, report = verify(demo_cli)

    assert result.exit_code == 1
    assert report["ok"] is False
    assert report["first_bad_seq"] == last
    assert report["verified_through"] == last - 1


def test_audit_verify_refuses_a_forged_checkpoint_file(demo_cli, tmp_path):
    forged = tmp_path / "checkpoint.jws"
    forged.write_text("eyJhbGciOiJFUzI1NiJ9.eyJ0cmVlX3NpemUiOjF9.AAAA")
    result = demo_cli("audit", "verify", "--from-checkpoint", forged)
    assert_clean_failure(result)
    assert "not a checkpoint signed by this service" in result.output


def test_audit_verify_with_a_kept_checkpoint(demo_cli, tmp_path):
    kept = tmp_path / "kept.jws"
    kept.write_text(
        demo_cli.query("SELECT jws FROM audit_checkpoint ORDER BY tree_size DESC")[0][0]
    )
    result, report = verify_with(demo_cli, kept)
    assert result.exit_code == 0, result.output
    assert report["ok"] is True
    size = demo_cli.query("SELECT max(tree_size) FROM audit_checkpoint")[0][0]
    demo_cli.tamper("DROP TRIGGER IF EXISTS audit_checkpoint_no_delete")
    demo_cli.tamper("DELETE FROM audit_checkpoint")
    demo_cli.tamper("DELETE FROM audit_event WHERE seq = ?", size)
    leaves = [
        bytes.fromhex(h)
        for (h,) in demo_cli.query("SELECT leaf_hash FROM audit_event ORDER BY seq")
    ]
    builder = merkle.TreeBuilder()
    for leaf in leaves:
        builder.append(leaf)
    demo_cli.tamper("DROP TRIGGER IF EXISTS audit_head_forward_only")  # as a superuser would
    demo_cli.tamper(
        "UPDATE audit_head SET seq = ?, frontier = ?, "
        "hash = (SELECT hash FROM audit_event WHERE seq = ?)",
        size - 1,
        json.dumps([node.hex() for node in builder.frontier]),
        size - 1,
    )
    assert verify(demo_cli)[1]["ok"] is True, "the cut is invisible without the kept checkpoint"
    result, report = verify_with(demo_cli, kept)
    assert result.exit_code == 1
    assert report["first_bad_seq"] == size


def verify_with(cli: Cli, checkpoint: Path) -> tuple[Result, dict[str, Any]]:
    result = cli("audit", "verify", "--from-checkpoint", checkpoint)
    return result, json.loads(result.stdout)


# --- production configuration -----------------------------------------------------

PRODUCTION_ENV = {
    "EXCHANGE_MODE": "production",
    "EXCHANGE_DATABASE_URL": "postgresql+psycopg://exchange@db.internal/exchange",
    "EXCHANGE_REDIS_URL": "redis://redis.internal:6379/0",
    "EXCHANGE_ISSUER": "https://exchange.example/",
}


def test_production_configuration_with_every_variable_loads():
    settings = configuration.load(env=PRODUCTION_ENV)

    assert settings["MODE"] == "production"
    assert settings["DATABASE_URL"] == PRODUCTION_ENV["EXCHANGE_DATABASE_URL"]
    assert settings["ISSUER"] == "https://exchange.example"


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
@pytest.mark.parametrize(
    "variable", ["EXCHANGE_DATABASE_URL", "EXCHANGE_REDIS_URL", "EXCHANGE_ISSUER"]
)
def test_production_mode_without_a_required_variable_is_refused(variable, value):
    env = {name: v for name, v in PRODUCTION_ENV.items() if name != variable}
    if value is not None:
        env[variable] = value

    with pytest.raises(configuration.ConfigError) as caught:
        configuration.load(env=env)

    assert variable in str(caught.value)
    others = set(PRODUCTION_ENV) - {variable, "EXCHANGE_MODE"}
    assert not any(name in str(caught.value) for name in others)


@pytest.mark.parametrize(
    "args", [["keys", "init"], ["db", "upgrade"], ["demo"]], ids=["keys-init", "db-upgrade", "demo"]
)
def test_commands_report_a_bad_configuration_without_a_traceback(cli, args):
    result = cli(*args, EXCHANGE_MODE="production", EXCHANGE_DATABASE_URL=None)

    assert_clean_failure(result)
    assert "EXCHANGE_DATABASE_URL" in result.stderr


def test_worker_once_runs_one_round(demo_cli):
    result = demo_cli("worker", "--once")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "sealed": 0,
        "checkpoint": None,
        "expired": 0,
        "shredded": 0,
        "first_contact_missing": 0,
        "notifications_relayed": 0,
        "notifications_handled": 0,
        "failing": [],
    }


def test_worker_once_exits_1_when_a_job_failed_after_running_the_others(demo_cli):
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    result = demo_cli("worker", "--once", EXCHANGE_REDIS_URL=nobody)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout) == {
        "sealed": 0,
        "checkpoint": None,
        "expired": 0,
        "shredded": 0,
        "first_contact_missing": 0,
        "failing": ["webhooks"],
    }
    assert "worker job webhooks failing: ConnectionError" in result.stderr
    assert "Traceback" not in result.output


def test_keys_rewrap_after_rotation(demo_cli):
    named = int(
        demo_cli.query("SELECT count(*) FROM client WHERE name_ciphertext IS NOT NULL")[0][0]
    )
    assert named > 0, "the demo's clients have synthetic names"
    assert demo_cli("keys", "rotate").exit_code == 0
    result = demo_cli("keys", "rewrap")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "rewrapped": named,
        "packets": 0,
        "client_names": named,
        "kek_version": 2,
    }
    assert demo_cli.query("SELECT DISTINCT name_kek_version FROM client") == [(2,)]
    again = demo_cli("keys", "rewrap")
    assert json.loads(again.stdout)["rewrapped"] == 0


# --- periods import -------------------------------------------------------------------------

PERIODS_HEADER = (
    "hetu,service,start,planned_end,days_per_week,hours_per_day,guidance_hours_per_month,"
    "next_step,next_step_owner,ended_on,outcome"
)


def periods_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "periods.csv"
    path.write_text("\n".join([PERIODS_HEADER, *lines]) + "\n", encoding="utf-8")
    return path


GOOD_ROWS = (
    "010190-900P,kuntouttava_tyotoiminta,2025-01-06,2025-06-30,3,5,4,studies,lieto-kisalli,"
    "2025-06-30,studies",
    "020290-9016,kuntouttava_tyotoiminta,2025-02-03,2025-07-31,2,4.5,,,,2025-07-31,employed",
    "010190-900P,tyohonvalmennus,2026-01-05,2026-06-30,5,6,,,,,",
)


def import_periods(
    demo_cli, tmp_path, rows=GOOD_ROWS, organization="lieto-kisalli", user="kalle.valmentaja"
):
    """``exchange periods import`` of ``rows`` as ``user`` of ``organization``."""
    file = periods_file(tmp_path, *rows)
    return demo_cli("periods", "import", file, "--organization", organization, "--user", user)


def test_periods_import_records_every_row(demo_cli, tmp_path):
    before = {row[0] for row in demo_cli.query("SELECT id FROM service_period")}
    result = import_periods(demo_cli, tmp_path)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"imported": 3, "closed": 2}
    rows = demo_cli.query("SELECT id, outcome, status FROM service_period ORDER BY start")
    imported = [(outcome, status) for row_id, outcome, status in rows if row_id not in before]
    assert imported == [("studies", "closed"), ("employed", "closed"), (None, "open")]


def test_periods_import_is_a_unit_of_work_of_the_command_line(demo_cli, tmp_path):
    result = import_periods(demo_cli, tmp_path, [GOOD_ROWS[0]])
    assert result.exit_code == 0, result.output
    recorded = demo_cli.query(
        "SELECT actor_organization, actor_client, actor_user FROM audit_event "
        "WHERE action = 'period.close' ORDER BY id DESC LIMIT 1"
    )
    assert recorded == [("lieto-kisalli", "exchange-cli", "kalle.valmentaja")]


def test_periods_import_asks_the_policy_and_audits_a_refusal(demo_cli, tmp_path):
    denied_before = demo_cli.query("SELECT count(*) FROM audit_event WHERE outcome = 'denied'")
    # An auditor records no service periods.
    result = import_periods(
        demo_cli, tmp_path, organization="varha-aikuissosiaalityo", user="aino.auditoija"
    )
    assert_clean_failure(result)
    assert "role" in result.stderr
    assert demo_cli.query("SELECT count(*) FROM service_period") == [(130,)]  # the demo's
    assert demo_cli.query("SELECT count(*) FROM audit_event WHERE outcome = 'denied'") == [
        (denied_before[0][0] + 1,)
    ]
    denied = demo_cli.query(
        "SELECT action, reason, actor_organization, actor_client, actor_user FROM audit_event "
        "WHERE outcome = 'denied' ORDER BY id DESC LIMIT 1"
    )
    assert denied == [
        (
            "auth.acting_user",
            "role_required",
            "varha-aikuissosiaalityo",
            "exchange-cli",
            "aino.auditoija",
        )
    ]


def test_periods_import_reports_bad_rows_by_line_and_imports_nothing(demo_cli, tmp_path):
    bad = periods_file(
        tmp_path,
        GOOD_ROWS[0],
        # kuty allows 1-4 days a week; the outcome is not on the list
        "020290-9016,kuntouttava_tyotoiminta,2025-02-03,2025-07-31,5,5,,,,2025-07-31,lottery",
        GOOD_ROWS[1],
        # a wrong check character; an unknown owner of the next step
        "010190-9000,kuntouttava_tyotoiminta,2025-02-03,2025-07-31,2,5,,studies,no-such-org,,",
        "010190-900P,tyohonvalmennus,2026-01-05,2026-06-30,5,6,,,,2099-01-01,employed",
    )
    result = demo_cli(
        "periods", "import", bad, "--organization", "lieto-kisalli", "--user", "kalle.valmentaja"
    )
    assert result.exit_code == 1
    problems = result.stderr
    assert "nothing was imported" in problems
    assert "line 3: days_per_week" in problems
    assert "line 3: outcome" in problems
    assert "line 5: hetu" in problems
    assert "line 6: ended_on" in problems
    assert "line 2" not in problems
    assert "line 4" not in problems
    assert "010190-9000" not in problems  # the identity code is never repeated
    assert demo_cli.query("SELECT count(*) FROM service_period") == [(130,)]  # the demo's


def test_periods_import_refuses_a_wrong_header_and_a_stranger(demo_cli, tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("hetu,service,colour\n", encoding="utf-8")
    result = demo_cli(
        "periods", "import", wrong, "--organization", "lieto-kisalli", "--user", "kalle.valmentaja"
    )
    assert result.exit_code == 1
    assert "Missing column 'start'" in result.stderr
    assert "Unknown column 'colour'" in result.stderr
    stranger = import_periods(demo_cli, tmp_path, user="terhi.asiantuntija")
    assert_clean_failure(stranger)
    assert demo_cli.query("SELECT count(*) FROM service_period") == [(130,)]  # the demo's


# --- progress on a terminal -----------------------------------------------------------------


@pytest.fixture
def terminal(monkeypatch):
    """Stderr counts as a terminal (the runner's own stderr never is)."""
    monkeypatch.setattr("exchange.cli._on_terminal", lambda: True)


def _only_logs(stderr: str) -> bool:
    """Whether ``stderr`` holds nothing but JSON log lines (no progress bar)."""
    return all(json.loads(line)["level"] for line in stderr.splitlines())


def _finished(stderr: str, total: int) -> bool:
    """Whether a progress bar on ``stderr`` reached ``total`` of ``total``."""
    return f"{total}/{total}" in stderr


def test_long_commands_are_quiet_when_stderr_is_not_a_terminal(demo_cli, tmp_path):
    assert demo_cli("keys", "rotate").exit_code == 0
    results = [
        demo_cli("audit", "verify"),
        demo_cli("keys", "rewrap"),
        import_periods(demo_cli, tmp_path),
    ]
    for result in results:
        assert result.exit_code == 0, result.output
        assert _only_logs(result.stderr)
        json.loads(result.stdout)  # still exactly one JSON document


def test_audit_verify_shows_progress_on_a_terminal(demo_cli, terminal):
    result, report = verify(demo_cli)

    assert result.exit_code == 0, result.output
    assert "audit events" in result.stderr
    assert _finished(result.stderr, report["events"])


def test_keys_rewrap_shows_progress_on_a_terminal(demo_cli, terminal):
    assert demo_cli("keys", "rotate").exit_code == 0
    older = int(demo_cli.query("SELECT count(*) FROM client WHERE name_kek_version < 2")[0][0])
    assert older > 0

    result = demo_cli("keys", "rewrap")

    assert result.exit_code == 0, result.output
    named = older
    assert "client names" in result.stderr
    assert _finished(result.stderr, named)


def test_periods_import_shows_progress_on_a_terminal(demo_cli, tmp_path, terminal):
    result = import_periods(demo_cli, tmp_path)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"imported": 3, "closed": 2}
    assert _finished(result.stderr, len(GOOD_ROWS))


def test_registry_load_is_quiet_off_a_terminal_and_shows_progress_on_one(
    cli, tmp_path, monkeypatch
):
    assert cli("db", "upgrade").exit_code == 0
    file = tmp_path / "registry.json"
    file.write_text(json.dumps(registry_document()))

    quiet = cli("registry", "load", file)
    monkeypatch.setattr("exchange.cli._on_terminal", lambda: True)
    shown = cli("registry", "load", file)

    assert quiet.exit_code == 0, quiet.output
    assert _only_logs(quiet.stderr)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == {
        "oauth_clients.unchanged": 1,
        "organizations.unchanged": 1,
        "users.unchanged": 1,
    }
    assert _finished(shown.stderr, 3)
