"""HTTP load on the service in production mode, against a minimal Flask echo app as baseline.

    .venv/bin/python bench/http_load.py [--seconds 10] [--warm-up 2] [--connections 16]

In one run, with one set of server settings: a scratch PostgreSQL database
(``exchange db upgrade``), keys (``exchange keys init``), a registry (``exchange
registry load``) with a provider that sends and an employment-services office that
receives, consents recorded and approved through the API; then ``exchange serve`` in
production mode (gunicorn, 2 workers x 4 threads) on PostgreSQL and Redis, and
``bench/echo_app.py`` under the same gunicorn settings. wrk (one thread: the rest of the
CPU is the servers') drives each scenario after a warm-up:

- echo:       POST /echo, a 7 KB JSON body (the baseline; run before every scenario and at
              the end, and each scenario is compared with the echo runs on either side of it,
              because the machine's other load drifts)
- check:      POST /v1/consent-checks, four categories
- submission: POST /v1/packets, a distinct signed packet (7 KB of sections) every time
- read:       GET /v1/packets/{id} by the recipient
- inbox:      GET /v1/packets?box=inbox (a page of 50)

then submission at half the measured maximum rate with an open-loop generator
(``bench/open_loop.py``), SQL statements per request (counted in-process), and two py-spy
profiles of the submission path. Writes its section of ``bench/RESULTS.md``; stops the
servers and drops the database whatever happens, each step with a time limit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import profiling
import requests
import results
import rig
from rig import JOSE, Load, Options, Stack, split, write_lines, wrk
from sqlalchemy import event

# Issue "Lean hot paths": throughput as a share of the echo app's, and per request in-process.
TARGETS = {"submission": 0.20, "check": 0.35, "read": 0.30, "inbox": 0.20}
HALF_RATE_P99_MS = 25.0
CPU_MS_TARGETS = {"submission": 4.0}
STATEMENT_TARGETS = {"submission": 6, "check": 3, "read": 4}
READ_PACKETS = 128
INBOX_PATH = "/v1/packets?box=inbox&limit=50"


@dataclass
class Outcome:
    name: str
    what: str
    load: Load
    audit_events: float | None
    others: float
    shares: list[float]  # each worker's share of the server's CPU
    tries: int
    baseline: float = 0.0  # the mean of the echo runs before and after


class Bench:
    """The scenarios, run against one stack and one echo server."""

    def __init__(self, args: argparse.Namespace, stack: Stack, echo: rig.Server, workdir: Path):
        self.args, self.stack, self.echo, self.workdir = args, stack, echo, workdir
        self.outcomes: dict[str, Outcome] = {}
        self.echoes: list[Outcome] = []
        self.notes: list[str] = []
        person = stack.people[0]
        sample = rig.packet_payload(0, person.hetu, stack.sender, stack.recipient)
        self.echo_body = json.dumps(sample, ensure_ascii=False)
        self.sizes = {
            "sections": len(json.dumps(sample["sections"], ensure_ascii=False).encode()),
            "echo": len(self.echo_body.encode()),
            "jws": len(rig.sign(sample, stack.sender.packet_key)),
        }
        self.redis_pid = rig.redis_pid(stack.redis_url)

    @property
    def server(self) -> rig.Server:
        assert self.stack.server is not None
        return self.stack.server

    def file(self, name: str, lines: list[str]) -> Path:
        return write_lines(self.workdir / name, lines)

    def meter(self) -> rig.CpuMeter:
        """Counts CPU outside the benchmark: the servers, their backends and Redis are ours."""
        ours = self.server.pids() + self.echo.pids() + self.stack.backends()
        return rig.CpuMeter([*ours, self.redis_pid])

    def audit_events(self) -> int:
        return int(self.stack.query("SELECT count(*) FROM audit_event")[0][0])

    def measure(
        self,
        name: str,
        what: str,
        warm: Path | Load,
        data: Callable[[], Path],
        options: Options,
        server: rig.Server | None = None,
    ) -> Outcome:
        """Warm up (unless ``warm`` is a warm-up already run), then measure with the
        connections spread over the workers (``rig.wrk_balanced``); the audit events written
        per request and the CPU others took are counted on the side."""
        server = server or self.server
        if isinstance(warm, Path):
            warm = wrk(server.url, warm, self.args.warm_up, options)
        run = rig.wrk_balanced(
            server,
            data,
            self.args.seconds,
            options,
            before=lambda: (self.audit_events(), self.meter()),
        )
        load, (before, meter) = run.load, run.context
        others = meter.others()
        written = self.audit_events() - before
        if warm.problems:
            load.problems.append(f"warm-up: {'; '.join(warm.problems)}")
        events = written / load.requests if load.requests else None
        outcome = Outcome(name, what, load, events, others, run.shares, run.tries)
        print(
            f"  {name:<11} {load.rate:8.1f} req/s  p50 {load.p50_ms:7.2f} ms  "
            f"p99 {load.p99_ms:7.2f} ms  others {others:4.0%}  workers {split(run.shares)} "
            f"(try {run.tries})  {load.statuses} {'; '.join(load.problems)}",
            flush=True,
        )
        return outcome

    # --- the scenarios ------------------------------------------------------------------

    def echo_baseline(self) -> Outcome:
        data = self.file("echo.txt", [self.echo_body])
        options = Options("post_lines.lua", self.args.connections, path="/echo")
        outcome = self.measure(
            "echo",
            "POST /echo, 7 KB JSON (baseline app)",
            data,
            lambda: data,
            options,
            server=self.echo,
        )
        self.echoes.append(outcome)
        return outcome

    def consent_check(self) -> Outcome:
        bodies = [
            json.dumps(
                {
                    "client": {"id": person.client_id},
                    "source": self.stack.sender.organization,
                    "recipient": self.stack.recipient.organization,
                    "purpose": rig.PURPOSE,
                    "categories": rig.CATEGORIES,
                }
            )
            for person in self.stack.people
        ]
        data = self.file("checks.txt", bodies)
        options = Options(
            "post_lines.lua",
            self.args.connections,
            token=self.stack.token(self.stack.sender),
            path="/v1/consent-checks",
        )
        return self.measure(
            "check",
            "POST /v1/consent-checks, 4 categories, by the sender",
            data,
            lambda: data,
            options,
        )

    def submission_options(self) -> Options:
        return Options(
            "post_lines.lua",
            self.args.connections,
            token=self.stack.token(self.stack.sender),
            content_type=JOSE,
            path="/v1/packets",
            expect=201,
            must_be_distinct=True,
        )

    def packets_for(self, name: str, rate: float, seconds: float) -> Path:
        """Enough new packets that a run at ``rate`` sends none twice, with room to spare."""
        return self.file(name, self.stack.packets(math.ceil(rate * seconds * 1.6) + 200))

    def submission(self) -> Outcome:
        options = self.submission_options()
        # The fastest scenario so far bounds how many packets the warm-up can send.
        hint = max((o.load.rate for o in [*self.outcomes.values(), *self.echoes[1:]]), default=500)
        warm_count = math.ceil(min(hint, 2000) * self.args.warm_up * 2) + 200
        warm = self.file("warm-packets.txt", self.stack.packets(warm_count))
        warm_load = wrk(self.stack.url, warm, self.args.warm_up, options)
        return self.measure(
            "submission",
            "POST /v1/packets, a new signed transfer each time",
            warm_load,
            # A restarted try gets new packets too: none is ever sent twice.
            lambda: self.packets_for("packets.txt", warm_load.rate, self.args.seconds),
            options,
        )

    def read_paths(self) -> list[str]:
        rows = self.stack.query(
            "SELECT id FROM packet WHERE recipient_org = :org ORDER BY received_at DESC LIMIT :n",
            org=self.stack.recipient.organization,
            n=READ_PACKETS,
        )
        return [f"/v1/packets/{row[0]}" for row in rows]

    def recipient_options(self) -> Options:
        return Options(
            "get_lines.lua",
            self.args.connections,
            token=self.stack.token(self.stack.recipient),
            acting_user=rig.RECIPIENT_STAFF,
        )

    def read(self) -> Outcome:
        paths = self.read_paths()
        # Each is read once first: the first read marks it delivered (a write); the runs
        # measure the reads that follow.
        headers = {
            "Authorization": f"Bearer {self.stack.token(self.stack.recipient)}",
            "X-Acting-User": rig.RECIPIENT_STAFF,
        }
        with requests.Session() as http:
            for path in paths:
                answer = http.get(self.stack.url + path, headers=headers, timeout=30)
                assert answer.status_code == 200, answer.text
        data = self.file("reads.txt", paths)
        return self.measure(
            "read",
            f"GET /v1/packets/{{id}}, recipient's staff ({len(paths)} delivered packets in turn)",
            data,
            lambda: data,
            self.recipient_options(),
        )

    def inbox(self) -> Outcome:
        data = self.file("inbox.txt", [INBOX_PATH])
        return self.measure(
            "inbox",
            "GET /v1/packets?box=inbox, a page of 50, recipient's staff",
            data,
            lambda: data,
            self.recipient_options(),
        )

    def interleaved(self, scenarios: list[Callable[[], Outcome]]) -> None:
        """echo, scenario, echo, scenario, ..., echo: each scenario against its neighbours."""
        before = self.echo_baseline()
        for scenario in scenarios:
            outcome = scenario()
            after = self.echo_baseline()
            outcome.baseline = (before.load.rate + after.load.rate) / 2
            self.outcomes[outcome.name] = outcome
            before = after

    def half_rate(self) -> dict[str, Any]:
        """Submission p99 at half the measured maximum, open loop in a separate process."""
        rate = round(self.outcomes["submission"].load.rate / 2, 1)
        data = self.packets_for("half-rate-packets.txt", rate, self.args.seconds + 1)
        argv = [sys.executable, str(rig.PROJECT / "bench" / "open_loop.py")]
        argv += ["--url", self.stack.url, "--path", "/v1/packets", "--data", str(data)]
        argv += ["--rate", str(rate), "--seconds", str(self.args.seconds), "--warm-up", "1"]
        argv += ["--content-type", JOSE]
        argv += ["--header", f"Authorization: Bearer {self.stack.token(self.stack.sender)}"]
        meter, ticks = self.meter(), rig.worker_ticks(self.server)
        done = subprocess.run(  # noqa: S603  # our own script, fixed arguments
            argv, capture_output=True, text=True, timeout=self.args.seconds + 120, check=False
        )
        others, shares = meter.others(), rig.worker_shares(self.server, ticks)
        if done.returncode != 0:
            raise RuntimeError(f"open_loop.py failed: {done.stderr[-2000:]}")
        figures: dict[str, Any] = json.loads(done.stdout)
        other = {code: n for code, n in figures["statuses"].items() if code != "201"}
        figures["problems"] = (
            [
                f"answers other than 201: {other}, failures: {figures['failures']}, "
                f"unfinished threads: {figures['unfinished']}"
            ]
            if other or figures["failures"] or figures["unfinished"]
            else []
        )
        figures["others"], figures["shares"] = others, shares
        print(
            f"  half rate   {rate:8.1f} req/s  p50 {figures['p50_ms']:7.2f} ms  "
            f"p99 {figures['p99_ms']:7.2f} ms  others {others:4.0%}  workers {split(shares)}  "
            f"{figures['statuses']} {'; '.join(figures['problems'])}",
            flush=True,
        )
        return figures

    # --- findings on the side -------------------------------------------------------------

    def resubmission(self) -> str:
        """Does the service refuse the same signed packet sent twice (no Idempotency-Key)?"""
        token = self.stack.packets(1)[0]
        headers = {
            "Authorization": f"Bearer {self.stack.token(self.stack.sender)}",
            "Content-Type": JOSE,
        }
        first, second = (
            requests.post(self.stack.url + "/v1/packets", data=token, headers=headers, timeout=30)
            for _ in range(2)
        )
        if second.status_code == 201 and second.json()["id"] != first.json()["id"]:
            return (
                "**Re-submission**: the same signed packet sent twice without an "
                f"`Idempotency-Key` is accepted twice ({first.status_code}, "
                f"{second.status_code}) and makes two packets: the service keeps no record of "
                "the JWS it has seen, so a replayed packet is a new hand-over. The submission "
                "scenarios therefore send a distinct packet every time (a new case reference "
                "and text), and a run that had to send one again is reported as an error."
            )
        return (
            f"**Re-submission**: the same signed packet sent twice answers {first.status_code} "
            f"then {second.status_code}."
        )

    def statements(self, count: int = 101) -> dict[str, dict[str, float]]:
        """SQL round trips per request, counted in-process (the Flask test client on the
        same database and Redis): statements, commits, pool checkouts and statements that
        read packet ciphertext."""
        from exchange import create_app
        from exchange.runtime import EXTENSION

        stack = self.stack
        app = create_app(
            {
                "MODE": "production",
                "DATABASE_URL": stack.database_url,
                "REDIS_URL": stack.redis_url,
                "ISSUER": stack.url,
                "KEYS_DIR": str(stack.workdir / "keys"),
                "RATE_LIMIT": rig.SERVER_SETTINGS["EXCHANGE_RATE_LIMIT"],
                "LOG_LEVEL": "WARNING",
            }
        )
        engine = app.extensions[EXTENSION].db.engine
        counts = {"statements": 0, "commits": 0, "checkouts": 0, "ciphertext": 0}

        def bump(name: str) -> Callable[..., None]:
            def count(*_args: Any, **_kwargs: Any) -> None:
                counts[name] += 1

            return count

        def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
            counts["statements"] += 1
            counts["ciphertext"] += sql.startswith("SELECT") and "packet.ciphertext" in sql

        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", bump("commits"))
        event.listen(engine.pool, "checkout", bump("checkouts"))
        http = app.test_client()
        sender = {"Authorization": f"Bearer {stack.token(stack.sender)}"}
        recipient = {
            "Authorization": f"Bearer {stack.token(stack.recipient)}",
            "X-Acting-User": rig.RECIPIENT_STAFF,
        }
        packets, paths = stack.packets(count), self.read_paths()
        check = {
            "client": {"id": stack.people[0].client_id},
            "source": stack.sender.organization,
            "recipient": stack.recipient.organization,
            "purpose": rig.PURPOSE,
            "categories": rig.CATEGORIES,
        }
        import echo_app

        echo = echo_app.app.test_client()
        calls: dict[str, tuple[Callable[[int], Any], int]] = {
            "echo": (
                lambda _: echo.post("/echo", data=self.echo_body, content_type="application/json"),
                200,
            ),
            "check": (lambda _: http.post("/v1/consent-checks", json=check, headers=sender), 200),
            "submission": (
                lambda i: http.post(
                    "/v1/packets", data=packets[i], headers={**sender, "Content-Type": JOSE}
                ),
                201,
            ),
            "read": (lambda i: http.get(paths[i % len(paths)], headers=recipient), 200),
            "inbox": (lambda _: http.get(INBOX_PATH, headers=recipient), 200),
        }
        per_request = {}
        try:
            # The first read of a packet marks it delivered (a write); the reads measured are
            # the ones that follow, as in the load scenario.
            for path in paths:
                assert http.get(path, headers=recipient).status_code == 200
            for name, (call, status) in calls.items():
                call(0)  # prepared statements, caches
                before = dict(counts)
                wall, cpu = time.perf_counter(), time.process_time()
                for index in range(1, count):
                    answer = call(index)
                    assert answer.status_code == status, answer.get_data(as_text=True)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                per_request[name] = {
                    **{key: (counts[key] - before[key]) / (count - 1) for key in counts},
                    "wall_ms": wall * 1000 / (count - 1),
                    "cpu_ms": cpu * 1000 / (count - 1),
                }
        finally:
            engine.dispose()
        return per_request


# --- the report ---------------------------------------------------------------------------


def at_most(value: float, limit: float | None, unit: str = "") -> str:
    """The verdict on a figure that must not exceed ``limit``; "–" where none is set."""
    if limit is None:
        return "–"
    met = "met" if value <= limit else "**missed**"
    return f"{met} (≤ {limit:g}{unit})"


def verdict(ratio: float, target: float) -> str:
    if ratio >= target:
        return f"met (≥ {target:.2f}×)"
    if ratio <= 0:
        return f"**missed** (≥ {target:.2f}×)"
    return (
        f"**missed**: ≥ {target:.2f}× wanted, {(target - ratio) / target:.0%} short "
        f"(needs {target / ratio:.1f}× this throughput)"
    )


def answers(load: Load) -> str:
    text = ", ".join(f"{count:,}× {code}" for code, count in load.statuses.items())
    if load.problems:
        text += " — **ERRORS: " + "; ".join(load.problems) + "**"
    return text


def report(
    bench: Bench,
    machine: str,
    half: dict[str, Any],
    statements: dict[str, dict[str, float]] | None,
    profiles: list[tuple[str, dict[str, Any]]],
    stored_at_start: int,
) -> str:
    args, outcomes, echoes = bench.args, bench.outcomes, bench.echoes
    echo_rates = [echo.load.rate for echo in echoes]
    lines = [
        "## HTTP load: the service against a minimal Flask app (`bench/http_load.py`)",
        "",
        'Targets (issue "Lean hot paths"): submission ≥ 0.20 × the echo baseline, consent '
        "check ≥ 0.35 ×, packet read ≥ 0.30 ×, inbox page of 50 ≥ 0.20 ×, submission p99 ≤ "
        "25 ms at half the maximum rate; in-process, a submission ≤ 4 ms of Python CPU and "
        "≤ 6 SQL statements, a check ≤ 3, a read ≤ 4, an inbox page loading no ciphertext; "
        "submission with 1,000,000 stored packets ≥ 0.9 × with 10,000 (its own section).",
        "",
        f"- Date: {results.now()}",
        f"- Command: `{results.command()}`",
        f"- Code: {results.source_state()}",
        f"- Machine: {machine}",
        "- Servers: `EXCHANGE_MODE=production exchange serve --workers 2` (gunicorn gthread, "
        "2 workers × 4 threads, JSON request log on) on PostgreSQL and Redis, "
        "`EXCHANGE_RATE_LIMIT=1000000/minute`, `EXCHANGE_ACCESS_TOKEN_LIFETIME=900`; "
        "baseline `bench/echo_app.py` (POST /echo parses the JSON body and returns it) under "
        "the same gunicorn settings. No `exchange worker` ran during the run (the audit "
        "sealer's cost is in the audit section).",
        f"- Load: {rig.wrk_version()} `-t1 -c{args.connections}`, {args.warm_up} s warm-up "
        f"then {args.seconds} s measured per scenario; wrk and the servers share the "
        f"machine's {results.cpus()} CPUs. {len(bench.stack.people)} synthetic clients with "
        f"approved consents; {stored_at_start:,} packets stored when the submission run "
        "began. Packets are transfers with 4 sections "
        f"({bench.sizes['sections']:,} bytes of section JSON, a {bench.sizes['jws']:,}-byte "
        f"ES256 JWS), each sent once; the echo body is {bench.sizes['echo']:,} bytes of JSON.",
        f"- Baseline: echo ran before each scenario and at the end ({len(echoes)} runs: "
        f"{', '.join(f'{rate:,.0f}' for rate in echo_rates)} requests/s); each scenario's "
        "ratio is to the mean of the echo runs just before and after it.",
        f"- *Other load*: {rig.OTHER_LOAD}",
        "- *Workers*: each gunicorn worker's share of the CPU its server used in the run, %.",
        "",
        "| scenario | requests/s | p50 ms | p99 ms | echo around it, req/s | × echo | target "
        "| audit events / request | other load | workers | answers |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---|---|",
        f"| echo: POST /echo, 7 KB JSON (baseline app), mean of {len(echoes)} runs | "
        f"{statistics.mean(echo_rates):,.1f} | "
        f"{statistics.mean(e.load.p50_ms for e in echoes):.2f} | "
        f"{statistics.mean(e.load.p99_ms for e in echoes):.2f} | — | 1.00 | baseline | 0.0 | "
        f"{statistics.mean(e.others for e in echoes):.0%} | "
        f"{', '.join(split(e.shares) for e in echoes)} | "
        f"{'; '.join(answers(e.load) for e in echoes if e.load.problems) or 'all 200'} |",
    ]
    for name, outcome in outcomes.items():
        load = outcome.load
        ratio = load.rate / outcome.baseline if outcome.baseline else 0.0
        target = verdict(ratio, TARGETS[name]) if name in TARGETS else "no target"
        events = f"{outcome.audit_events:.1f}" if outcome.audit_events is not None else "—"
        lines.append(
            f"| {name}: {outcome.what} | {load.rate:,.1f} | {load.p50_ms:.2f} | "
            f"{load.p99_ms:.2f} | {outcome.baseline:,.0f} | {ratio:.3f} | {target} | {events} "
            f"| {outcome.others:.0%} | {split(outcome.shares)} | {answers(load)} |"
        )
    restarted = [
        f"{outcome.name} {outcome.tries - 1}×"
        for outcome in [*echoes, *outcomes.values()]
        if outcome.tries > 1
    ]
    lines += [
        "",
        "**Connections and workers**: the gthread workers each `accept()` from the shared "
        "socket and keep a kept-alive connection for good, so when (nearly) all of wrk's "
        f"{args.connections} connections land in one worker, one CPU does the work and the "
        "rate about halves. A measured run is therefore "
        f"restarted, with new connections (and new packets), when after {rig.PROBE:.0f} s one "
        f"worker has done ≥ {rig.LOPSIDED:.0%} of the work, up to {rig.TRIES} tries; the "
        "*workers* column shows the split of the run that counted. Restarts in this run: "
        f"{', '.join(restarted) or 'none'}. The same can happen in production behind a proxy "
        "that keeps a few long-lived upstream connections.",
    ]
    if max(echo_rates) > min(echo_rates) * 1.15:
        lines += [
            "",
            f"The echo runs differ by up to {max(echo_rates) / min(echo_rates) - 1:.0%}, and "
            "the ratios carry that uncertainty.",
        ]
    p99 = half["p99_ms"]
    met = (
        "met"
        if p99 <= HALF_RATE_P99_MS and not half["problems"]
        else f"**missed** by {p99 - HALF_RATE_P99_MS:.1f} ms ({p99 / HALF_RATE_P99_MS:.1f}× the "
        "limit)"
    )
    if half["problems"]:
        met += " — **ERRORS: " + "; ".join(half["problems"]) + "**"
    statuses = ", ".join(f"{n:,}× {code}" for code, n in half["statuses"].items())
    lines += [
        "",
        f"**Submission p99 at half the measured maximum rate**: {half['rate']:.1f} requests/s "
        f"(half of {outcomes['submission'].load.rate:.1f}) for {args.seconds} s, open loop: "
        f"p50 {half['p50_ms']:.2f} ms, p90 {half['p90_ms']:.2f} ms, **p99 {p99:.2f} ms** "
        f"(target ≤ {HALF_RATE_P99_MS:.0f} ms: {met}); {half['measured']:,} requests measured "
        f"({statuses}), {half['achieved_rate']:.1f}/s achieved, other load "
        f"{half['others']:.0%}, workers {split(half['shares'])}. Generator: "
        "`bench/open_loop.py` in a separate process (wrk2 is not in Debian, and wrk with "
        "fewer connections is still a closed loop whose rate follows the server): each "
        "request is due at a fixed time and its latency counts from then, so queueing in the "
        "server shows as latency (no coordinated omission); up to 32 requests in flight; the "
        "first second is left out.",
    ]
    if statements:
        lines += [
            "",
            "**Per request, in-process** (the Flask test client in the benchmark's own process "
            "on the same database and Redis, one request at a time, 100 requests after one to "
            "warm caches): SQL round trips, and the time and the Python CPU time of this "
            "process (the database's own CPU is not in it). Two CPUs' worth of the latter is "
            "about the most two single-threaded Python workers could serve per second here.",
            "",
            "| scenario | SQL statements | target | commits | pool checkouts | selects reading "
            "ciphertext | ms per request | Python CPU ms per request | target "
            "| ⇒ at most, req/s on 2 CPUs |",
            "|---|---:|---|---:|---:|---:|---:|---:|---|---:|",
        ]
        for name, c in statements.items():
            statements_verdict = at_most(c["statements"], STATEMENT_TARGETS.get(name))
            cpu_verdict = at_most(c["cpu_ms"], CPU_MS_TARGETS.get(name), " ms")
            lines.append(
                f"| {name} | {c['statements']:.1f} | {statements_verdict} | {c['commits']:.1f} "
                f"| {c['checkouts']:.1f} | {c['ciphertext']:.1f} | {c['wall_ms']:.1f} "
                f"| {c['cpu_ms']:.2f} | {cpu_verdict} | {2000 / c['cpu_ms']:,.0f} |"
            )
    for note in bench.notes:
        lines += ["", note]
    for title, summary in profiles:
        lines += ["", f"### {title}", "", summary["intro"], ""]
        lines += profiling.markdown(summary)
    return "\n".join(lines)


def profile_submission(bench: Bench) -> list[tuple[str, dict[str, Any]]]:
    """Two py-spy recordings of both workers while wrk submits packets: every sampled thread
    (request time, PostgreSQL waits included), then only the thread holding the GIL (the
    Python CPU time that limits throughput)."""
    executable = profiling.py_spy()
    if executable is None:
        bench.notes.append("No profile: py-spy is not installed (`.venv/bin/pip install py-spy`).")
        return []
    stack, seconds = bench.stack, bench.args.profile_seconds
    assert stack.server is not None
    rate = bench.outcomes["submission"].load.rate
    profiles = []
    for gil_only, title, what in (
        (
            False,
            "Where a submission's time goes (py-spy, request threads)",
            "Every thread py-spy took to be running was sampled. Threads waiting in psycopg "
            "for PostgreSQL's answers were counted as running (psycopg's share here against "
            "the GIL-only profile below shows it), so these shares are close to the wall time "
            "inside requests, database round trips included.",
        ),
        (
            True,
            "Where a submission's Python CPU goes (py-spy --gil)",
            "Only the thread holding the GIL was sampled: the Python work that limits a "
            "worker's throughput (each worker process runs one thread at a time).",
        ),
    ):
        name = f"profile-{gil_only}.txt"
        output = bench.workdir / f"submission-{'gil' if gil_only else 'threads'}.speedscope.json"
        document, run = profiling.record(
            executable,
            stack.server.process.pid,
            seconds,
            output,
            lambda name=name: rig.wrk_balanced(
                bench.server,
                lambda: bench.packets_for(name, rate, seconds + 2),
                seconds + 2,
                bench.submission_options(),
            ),
            gil_only=gil_only,
        )
        if bench.args.profile_out:
            shutil.copyfile(output, bench.args.profile_out.with_suffix(f".{output.name}"))
        load, shares = run.load, run.shares
        summary = profiling.summarize(document)
        summary["intro"] = (
            f"`py-spy record --subprocesses --rate 100 --nonblocking{' --gil' if gil_only else ''}`"
            f" on the gunicorn master (both workers) for {seconds} s while wrk submitted "
            f"packets ({load.rate:.0f} requests/s, {answers(load)}, workers {split(shares)}). "
            f"{what} "
            f"{summary['samples']:,} samples inside a request are the 100 %."
        )
        profiles.append((title, summary))
        print(f"  profile     {summary['samples']:,} samples (gil only: {gil_only})", flush=True)
    return profiles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per scenario")
    parser.add_argument("--warm-up", type=int, default=2, help="warm-up seconds per scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--persons", type=int, default=32, help="synthetic clients with consent")
    parser.add_argument("--profile-seconds", type=int, default=10, help="0: no profile")
    parser.add_argument(
        "--profile-out", type=Path, help="keep the speedscope profiles next to this path"
    )
    parser.add_argument("--server", default=rig.DEFAULT_PG, help="PostgreSQL server URL")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10", help="a Redis db to use")
    parser.add_argument("--results", type=Path, default=results.RESULTS)
    parser.add_argument("--no-results", action="store_true", help="print only")
    args = parser.parse_args()
    rig.terminate_on_sigterm()

    postgres, redis_version = results.server_versions(args.server, args.redis)
    machine = results.machine(postgres, redis_version)
    print(f"HTTP load, {machine}", flush=True)
    with contextlib.ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-http-")))
        database = cleanup.enter_context(rig.scratch_database(args.server, "exchange_bench"))
        redis_url = cleanup.enter_context(rig.scratch_redis(args.redis))
        stack = Stack(workdir, database, redis_url, persons=args.persons)
        stack.prepare()
        cleanup.callback(stack.stop)
        stack.start()
        echo_port = rig.free_port()
        echo_argv = [sys.executable, str(rig.PROJECT / "bench" / "echo_app.py")]
        echo_argv += ["--port", str(echo_port), "--workers", str(rig.WORKERS)]
        echo = rig.Server("echo", echo_argv, stack.env(), workdir / "echo.log", echo_port)
        cleanup.callback(echo.stop)
        echo.wait_ready("/healthz")
        stack.record_consents()

        bench = Bench(args, stack, echo, workdir)
        try:
            bench.notes.append(bench.resubmission())
            stored = int(stack.query("SELECT count(*) FROM packet")[0][0])
            bench.interleaved([bench.consent_check, bench.submission, bench.read, bench.inbox])
            half = bench.half_rate()
            statements = bench.statements()
            profiles = profile_submission(bench) if args.profile_seconds else []
        except BaseException:
            print(f"--- exchange log ---\n{stack.server.tail(8) if stack.server else ''}")
            print(f"--- echo log ---\n{echo.tail(8)}")
            raise
        log = (workdir / "exchange.log").read_text(errors="replace").splitlines()
        errors = sum('"level": "ERROR"' in line for line in log)
        if errors:
            bench.notes.append(f"**The service logged {errors} ERROR lines during the run.**")
        markdown = report(bench, machine, half, statements, profiles, stored)
    print()
    print(markdown)
    if not args.no_results:
        results.write_section("http_load", markdown, args.results)
        print(f"\nwritten to {args.results.name}")
    failed = [o.name for o in [*bench.echoes, *bench.outcomes.values()] if o.load.problems]
    failed += ["half rate"] if half["problems"] else []
    if failed:
        print(f"scenarios with errors: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
