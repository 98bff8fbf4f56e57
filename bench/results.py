"""Writing bench/RESULTS.md: each benchmark script owns one section and rewrites only that."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = """# Benchmark results

Figures from the scripts in `bench/` (see `bench/README.md`); `make bench` runs them all.
Each section below is rewritten by the script it names, with the machine, the command and
the date of that run.
"""


def server_versions(postgres_url: str, redis_url: str) -> tuple[str, str]:
    """The PostgreSQL and Redis server versions."""
    import redis
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            postgres = str(connection.execute(text("SHOW server_version")).scalar())
    finally:
        engine.dispose()
    client = redis.Redis.from_url(redis_url)
    try:
        return postgres.split()[0], str(client.info("server")["redis_version"])
    finally:
        client.close()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def machine(postgres: str | None = None, redis: str | None = None) -> str:
    """One line: CPUs, CPU model, OS, Python, and the database and Redis server versions."""
    parts = [
        f"{cpus()} CPUs (nproc)",
        cpu_model(),
        f"{platform.system()} {platform.release()}",
        f"CPython {platform.python_version()}",
    ]
    if postgres:
        parts.append(f"PostgreSQL {postgres}")
    if redis:
        parts.append(f"Redis {redis}")
    return ", ".join(parts)


def command() -> str:
    """The command line that ran this script, with paths relative to the working directory."""
    python = os.path.relpath(sys.executable) if sys.executable else "python"
    if python.startswith(".."):
        python = Path(sys.executable).name
    script = os.path.relpath(sys.argv[0])
    return shlex.join([python, script, *sys.argv[1:]])


def source_state() -> str:
    """The commit the working tree is on, and whether it has changes (read-only git)."""
    root = RESULTS.parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607  # git from PATH
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    if not changes:
        return f"commit {commit}, no local changes"
    return f"commit {commit} with {len(changes)} changed or new files in the working tree"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_section(name: str, markdown: str, path: Path = RESULTS) -> None:
    """Put ``markdown`` between this section's markers, replacing what was there."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    block = f"{begin}\n{markdown.strip()}\n{end}\n"
    text = path.read_text() if path.exists() else HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
