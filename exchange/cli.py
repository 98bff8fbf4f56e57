"""The ``exchange`` command line (SPEC section 5)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy.exc import OperationalError

from exchange import config as configuration
from exchange.errors import ExchangeError, Invalid
from exchange.policy import Identity
from exchange.unit import CLI, UnitOfWork, unit_of_work


def _settings() -> dict[str, Any]:
    try:
        return configuration.load()
    except configuration.ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _app() -> Flask:
    from exchange import create_app

    try:
        return create_app()
    except (configuration.ConfigError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc


def _runtime(app: Flask) -> Any:
    from exchange.runtime import EXTENSION

    return app.extensions[EXTENSION]


def _on_terminal() -> bool:
    """True when stderr is a terminal: progress is for a person watching, never for logs."""
    return sys.stderr.isatty()


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None] | None]:
    """A ``(done, total)`` callback drawing a progress bar on stderr, or None (so the service
    skips the work of reporting) when stderr is not a terminal."""
    if not _on_terminal():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    # Already decided above; rich need not guess again (nor behind a test's stderr).
    console = Console(stderr=True, force_terminal=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@click.group(help="Handover exchange: consents and handover packets between agencies.")
def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers", default=2, show_default=True, type=int, help="gunicorn workers (production mode)"
)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API (embedded: one process, development server; production: gunicorn)."""
    settings = _settings()
    if settings["MODE"] == configuration.EMBEDDED:
        from werkzeug.serving import run_simple

        app = _app()
        from exchange.migrate import upgrade

        logging.getLogger("alembic").setLevel(logging.WARNING)
        upgrade(settings["DATABASE_URL"])
        # Our own JSON request log replaces the development server's access log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        click.echo(
            f"Serving on http://{host}:{port}  "
            "(embedded mode: SQLite + in-process Redis; NOT for production)"
        )
        from exchange.background import start_sealer_thread

        start_sealer_thread(app, interval=2)
        run_simple(host, port, app, threaded=True, use_reloader=False)
        return
    from exchange.gunicorn_app import run

    run(host, port, workers)


@main.command()
@click.option(
    "--once", is_flag=True, help="Run one round and exit (for cron or tests); 1 if a job failed."
)
@click.option(
    "--interval",
    default=2,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds between rounds.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve Prometheus metrics (/metrics) on this port.",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address the metrics are served on (0.0.0.0: every interface).",
)
def worker(once: bool, interval: int, metrics_port: int | None, metrics_host: str) -> None:
    """Seal the audit log, sign checkpoints, record packet deadlines, shred expired content
    and deliver notifications (webhooks). A job that fails (the database or Redis down) is
    retried with backoff while the others go on; SIGTERM or SIGINT stops the worker after
    the round under way."""
    import signal

    from exchange.background import Rounds, run_forever

    app = _app()
    rt = _runtime(app)
    rounds = Rounds(rt)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        try:
            start_http_server(metrics_port, addr=metrics_host, registry=rt.metrics.registry)
        except OSError as exc:
            raise click.ClickException(
                f"cannot serve metrics on {metrics_host}:{metrics_port}: {exc.strerror or exc}"
            ) from exc
    if once:
        with app.app_context():
            result = rounds.run()
        click.echo(json.dumps(result))
        if result["failing"]:
            sys.exit(1)
        return

    received: list[str] = []

    def finish(signum: int, _frame: Any) -> None:
        # Nothing but a note here: no lock, no stream (the round under way may hold them).
        received.append(signal.Signals(signum).name)
        # A second signal is not polite any more: it stops the worker at once.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    run_forever(
        app,
        rounds,
        interval,
        stopped=lambda: bool(received),
        report=lambda result: click.echo(json.dumps(result)),
    )
    logging.getLogger(__name__).info("worker stopped on %s, its last round finished", received[0])


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations up to REVISION."""
    from exchange.migrate import upgrade

    settings = _settings()
    if settings["DATABASE_URL"].startswith("sqlite:///"):
        Path(settings["DATABASE_URL"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    upgrade(settings["DATABASE_URL"], revision=revision)
    click.echo(f"database at revision {revision}")


@main.group()
def registry() -> None:
    """Organizations, OAuth clients and users."""


@registry.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def registry_load(file: Path) -> None:
    """Insert or update every entry of FILE; an invalid file loads nothing."""
    from exchange.registry.service import load_registry
    from schemas import strictjson

    try:
        data = strictjson.loads(file.read_bytes())
    except Exception as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    app = _app()
    with _loading(app, file, "registry.load") as uow, _progress("registry") as progress:
        report = load_registry(
            uow.session, data, passwords=_runtime(app).passwords, progress=progress
        )
    click.echo(json.dumps(report.as_dict()))


@contextmanager
def _loading(app: Flask, file: Path, action: str | None = None) -> Iterator[UnitOfWork]:
    """One unit of work for loading FILE (as the command line, doing ``action``): a database
    not migrated yet, a refusal or problems in the file end the command with a message (the
    file's problems one a line, exit 1), never a traceback."""
    try:
        with app.app_context(), unit_of_work(_runtime(app).db.sessions, CLI, action) as uow:
            yield uow
    except OperationalError as exc:
        raise click.ClickException(
            f"the database is not ready ({type(exc.orig).__name__}); "
            "run 'exchange db upgrade' first"
        ) from exc
    except Invalid as exc:
        click.echo(f"{file}: {exc.detail}", err=True)
        for error in exc.errors:
            click.echo(f"  {error.field}: {error.message}", err=True)
        sys.exit(1)
    except ExchangeError as exc:
        raise click.ClickException(f"{file}: {exc.detail}") from exc
    finally:
        # Close the pooled connection now, not when the interpreter collects it: the server
        # sees a clean goodbye (and a command run inside another process leaks nothing).
        _runtime(app).db.engine.dispose()


@main.group()
def periods() -> None:
    """Service periods and their outcomes."""


@periods.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--organization", required=True, help="The providing organization's id.")
@click.option("--user", "username", required=True, help="Its user who answers for the import.")
def periods_import(file: Path, organization: str, username: str) -> None:
    """Import periods (and outcomes) from a CSV FILE: every row is checked, problems are
    listed by line, and nothing is imported unless every row is good."""
    from exchange.periods.importer import import_periods, read_rows
    from exchange.registry.models import User
    from exchange.services import Services

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(
            f"{file}: not a readable UTF-8 file ({type(exc).__name__})"
        ) from exc
    app = _app()
    rt = _runtime(app)
    with _loading(app, file) as uow:
        user = uow.session.get(User, username)
        if user is None or not user.active or user.organization_id != organization:
            raise click.ClickException(
                f"{username!r} is not an active user of organization {organization!r}"
            )
        # The user answers for the import: the policy decides as for the API's period.record.
        identity = uow.authorize(
            Identity(
                organization=organization,
                client_id=CLI.client_id,
                username=username,
                roles=frozenset(user.roles),
            ),
            "period.record",
        )
        periods = Services(rt, uow).periods
        with _progress("periods") as progress:
            report = import_periods(periods, identity, read_rows(text), progress=progress)
    click.echo(json.dumps(report.as_dict()))


@main.command()
@click.option(
    "--dir",
    "directory",
    default="instance/demo",
    show_default=True,
    type=click.Path(path_type=Path),
)
def demo(directory: Path) -> None:
    """Create keys, the database and a demo registry with synthetic clients; print credentials."""
    from exchange.demo import run_demo

    settings = _settings()
    if settings["MODE"] != configuration.EMBEDDED:
        raise click.ClickException("the demo registry is for embedded mode only")
    from exchange.migrate import upgrade

    app = _app()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    upgrade(settings["DATABASE_URL"])
    with app.app_context():
        click.echo(run_demo(_runtime(app), directory))


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
@click.option(
    "--from-checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint JWS kept by the auditor: the log must still contain that tree.",
)
def audit_verify(checkpoint_file: Path | None) -> None:
    """Seal pending events, recompute the whole log; exit 1 naming the first bad event."""
    from exchange.audit import seal, verify
    from exchange.audit.service import LogDamaged, read_checkpoint

    app = _app()
    rt = _runtime(app)
    extra = []
    if checkpoint_file is not None:
        try:
            extra.append(read_checkpoint(checkpoint_file.read_text(), rt.keys.verification_keys()))
        except ValueError as exc:
            raise click.ClickException(f"{checkpoint_file}: {exc}") from exc
    with app.app_context():
        try:
            with unit_of_work(rt.db.sessions, CLI, "audit.verify") as uow:
                seal(uow.session, keys=rt.keys)
        except (ValueError, LogDamaged) as exc:  # a tampered head, or rows written past it
            click.echo(f"cannot seal pending events: {exc}", err=True)
        with (
            unit_of_work(rt.db.sessions, CLI, "audit.verify") as uow,
            _progress("audit events") as progress,
        ):
            report = verify(uow.session, rt.keys, extra_checkpoints=extra, progress=progress)
    click.echo(json.dumps(report.as_dict()))
    if not report.ok:
        click.echo(
            f"audit log altered: first bad event is seq {report.first_bad_seq} ({report.problem})",
            err=True,
        )
        sys.exit(1)


@main.group()
def keys() -> None:
    """The service's own keys."""


@keys.command("init")
def keys_init() -> None:
    """Create the missing key files in EXCHANGE_KEYS_DIR (never overwrites)."""
    from adapters.keys import init_keys

    directory = _settings()["KEYS_DIR"]
    created = init_keys(directory)
    click.echo(f"created: {', '.join(created)}" if created else "all keys present; nothing created")


@keys.command("rewrap")
def keys_rewrap() -> None:
    """Wrap every stored data key (packet content, client names) with the newest
    key-encryption key (after ``keys rotate``)."""
    from exchange.services import Services

    app = _app()
    rt = _runtime(app)
    with app.app_context(), unit_of_work(rt.db.sessions, CLI, "keys.rewrap") as uow:
        found = Services(rt, uow)
        with _progress("packets") as progress:
            packets = found.packets.rewrap_all(progress=progress)
        with _progress("client names") as progress:
            names = found.clients.rewrap_names(progress=progress)
    click.echo(
        json.dumps(
            {
                "rewrapped": packets + names,
                "packets": packets,
                "client_names": names,
                "kek_version": rt.keys.kek_version,
            }
        )
    )


@keys.command("rotate")
def keys_rotate() -> None:
    """Add a new signing key and key-encryption key version; old ones stay usable."""
    from adapters.keys import MissingKeysError, rotate_keys

    try:
        result = rotate_keys(_settings()["KEYS_DIR"])
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result))
