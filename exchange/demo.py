"""The demo registry: Varsinais-Suomi organizations, their systems and staff, synthetic clients.

Keys and passwords are made on the first run and kept in the demo directory
(0600), so running ``exchange demo`` again changes nothing and prints the same
credentials. Identity codes are synthetic (individual numbers 900-999).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, OKPKey
from sqlalchemy import func, select

from adapters.db import utcnow
from consent.identifiers import business_id_check_digit, hetu_check_char
from consent.model import local_date
from exchange import audit
from exchange.config import SETTINGS
from exchange.periods.models import ServicePeriod
from exchange.policy import Identity
from exchange.registry.service import load_registry
from exchange.runtime import Runtime
from exchange.services import Services
from exchange.unit import UnitOfWork, unit_of_work

# (id, names in Finnish, Swedish and English, kind, business id base, packet-signing key type)
ORGANIZATIONS = [
    (
        "varha-aikuissosiaalityo",
        (
            "Varsinais-Suomen hyvinvointialue, aikuissosiaalityö",
            "Egentliga Finlands välfärdsområde, vuxensocialarbete",
            "Southwest Finland wellbeing services county, adult social work",
        ),
        "social_services",
        "3221300",
        "EC",
    ),
    (
        "te-vs",
        (
            "Turun seudun työllisyyspalvelut (TE-palvelut)",
            "Åbonejdens sysselsättningstjänster (TE-tjänster)",
            "Turku region employment services (TE services)",
        ),
        "employment_services",
        "3207911",
        "EC",
    ),
    (
        "kela-turku",
        ("Kela, Turun palvelupiste", "FPA, Åbo servicepunkt", "Kela, Turku service point"),
        "kela",
        "0246246",
        "EC",
    ),
    (
        "lieto-kisalli",
        (
            "Liedon kunta, Kisälli (työtoimintakeskus)",
            "Lundo kommun, Kisälli (arbetsverksamhetscenter)",
            "Municipality of Lieto, Kisälli (work activity centre)",
        ),
        "provider",
        "0204819",
        "OKP",
    ),
    (
        "turku-nuorten-paja",
        ("Turun nuorten työpaja", "Åbo ungdomsverkstad", "Turku youth workshop"),
        "provider",
        "2345678",
        "EC",
    ),
    # The service operator's audit unit: reads the whole audit log, takes part in nothing.
    (
        "palvelun-valvonta",
        (
            "Palvelun ylläpitäjä, valvontayksikkö",
            "Tjänstens upprätthållare, tillsynsenhet",
            "Service operator, supervision unit",
        ),
        "supervisor",
        "3141592",
        "EC",
    ),
]

SCOPES = {
    "social_services": [
        "consents:read",
        "consents:write",
        "consents:approve",
        "packets:send",
        "packets:receive",
        "clients:manage",
        "audit:read",  # the county's auditor reviews the log through this system
    ],
    "employment_services": [
        "consents:read",
        "consents:write",
        "consents:approve",
        "packets:send",
        "packets:receive",
        "clients:manage",
    ],
    "kela": ["consents:read", "packets:receive", "clients:manage"],
    "supervisor": ["audit:read"],
    "provider": [
        "consents:read",
        "consents:write",
        "packets:send",
        "packets:receive",
        "clients:manage",
    ],
}

USERS = [
    (
        "sari.sosiaalityontekija",
        "varha-aikuissosiaalityo",
        "Sari Sosiaalityöntekijä",
        ["social_worker"],
    ),
    ("olli.ohjaaja", "varha-aikuissosiaalityo", "Olli Ohjaaja", ["staff"]),
    ("aino.auditoija", "varha-aikuissosiaalityo", "Aino Auditoija", ["auditor"]),
    ("pekka.paakayttaja", "varha-aikuissosiaalityo", "Pekka Pääkäyttäjä", ["admin"]),
    ("terhi.asiantuntija", "te-vs", "Terhi Työllisyysasiantuntija", ["staff"]),
    ("tuomas.sosiaalityontekija", "te-vs", "Tuomas Sosiaalityöntekijä", ["social_worker"]),
    ("anni.auditoija", "te-vs", "Anni Auditoija", ["auditor"]),
    ("kaisa.etuuskasittelija", "kela-turku", "Kaisa Etuuskäsittelijä", ["staff"]),
    ("kalle.valmentaja", "lieto-kisalli", "Kalle Valmentaja", ["staff"]),
    ("liisa.sosiaaliohjaaja", "lieto-kisalli", "Liisa Sosiaaliohjaaja", ["social_worker"]),
    ("niko.pajaohjaaja", "turku-nuorten-paja", "Niko Pajaohjaaja", ["staff"]),
    ("riikka.raportoija", "varha-aikuissosiaalityo", "Riikka Raportoija", ["reporter"]),
    ("ville.valvoja", "palvelun-valvonta", "Ville Valvoja", ["auditor"]),
]

# Birth dates, individual numbers (900-999 only) and names of the synthetic demo clients.
# The surnames are made up (Esimerkki "example", Testinen, Malli "model", ...) so that no
# demo client can be taken for a real person.
CLIENTS = [
    ("010190", "-", "900", "Aada Esimerkki"),
    ("150585", "-", "912", "Eero Testinen"),
    ("311299", "-", "934", "Helmi Mallinen"),
    ("050603", "A", "956", "Onni Kokeilija"),
    ("220877", "-", "978", "Sanni Näytteinen"),
]
# Names of the synthetic clients of the demo's service periods: first name by number, surname
# by tens, so that the 130-odd clients have different names.
FIRST_NAMES = (
    "Aino",
    "Eino",
    "Ilona",
    "Juho",
    "Kerttu",
    "Lauri",
    "Mette",
    "Niilo",
    "Pihla",
    "Ville",
)
SURNAMES = ("Esimerkki", "Testinen", "Mallinen", "Kokeilija", "Näytteinen", "Harjoitus")


def business_id(base: str) -> str:
    """A valid Y-tunnus on ``base``, moving to the next base when the check digit cannot exist."""
    number = int(base)
    while (check := business_id_check_digit(f"{number:07d}")) is None:
        number += 1
    return f"{number:07d}-{check}"


# The survey's municipality, 125 clients of one year: where they went after kuty.
PERIOD_OUTCOMES = {
    "employed": 11,
    "studies": 7,
    "unemployed_jobseeker": 8,
    "employment_services_measure": 4,
    "continued_same_service": 76,
    "social_health_services": 12,
    "other_livelihood": 5,
    "moved_away": 1,
    "unknown": 1,
}
# The demo command loads the registry and the synthetic data as the service itself.
DEMO = Identity.service("exchange-cli", request_id="demo")
PERIOD_PROVIDERS = (
    ("lieto-kisalli", "kalle.valmentaja"),
    ("turku-nuorten-paja", "niko.pajaohjaaja"),
)


def demo_periods(uow: UnitOfWork, rt: Runtime) -> int:
    """Closed kuty periods of synthetic clients over the last year, as the survey's table, plus
    two periods ending soon without a next step and one client in kuty three times in a row."""
    recorded = uow.session.execute(select(func.count()).select_from(ServicePeriod)).scalar_one()
    if recorded:  # the demo ran before: nothing twice
        return int(recorded)
    found = Services(rt, uow)
    periods, clients = found.periods, found.clients
    today = local_date(utcnow())
    born = dt.date(1975, 1, 1)
    count = 0

    def person(n: int) -> str:
        day = born + dt.timedelta(days=37 * n)
        return synthetic_hetu(f"{day:%d%m%y}", "-", f"{900 + n % 100}")

    def period(n: int, ended: dt.date, outcome: str | None, months: int = 5) -> str:
        organization, username = PERIOD_PROVIDERS[n % len(PERIOD_PROVIDERS)]
        identity = Identity(organization=organization, username=username, request_id="demo")
        clients.lookup(identity, person(n), synthetic_name(n))
        start = ended - dt.timedelta(days=30 * months)
        body = {
            "client": {"hetu": person(n)},
            "service": "kuntouttava_tyotoiminta",
            "start": start,
            "planned_end": ended,
            "days_per_week": 3,
            "hours_per_day": 5,
            "guidance_hours_per_month": 4,
        }
        row = periods.record(identity, body)
        if outcome is not None:
            periods.close(identity, row.id, {"outcome": outcome, "ended_on": ended})
        return row.id

    outcomes = [name for name, times in PERIOD_OUTCOMES.items() for _ in range(times)]
    for n, outcome in enumerate(outcomes):
        period(n, today - dt.timedelta(days=5 + (n * 7) % 330), outcome)
        count += 1
    for n in (200, 202):  # ending within the month, nobody has planned what comes next
        period(n, today + dt.timedelta(days=12 + n % 7), None)
        count += 1
    for months_ago in (20, 14, 8):  # the same client in kuty again and again
        period(204, today - dt.timedelta(days=30 * months_ago), "continued_same_service")
        count += 1
    return count


def synthetic_hetu(date: str, sign: str, individual: str) -> str:
    return f"{date}{sign}{individual}{hetu_check_char(date + individual)}"


def synthetic_name(n: int) -> str:
    """A made-up name for the demo's ``n``-th period client."""
    return f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {SURNAMES[n // len(FIRST_NAMES) % len(SURNAMES)]}"


def _write_secret(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the mode of os.open applies only to a file it creates
    with os.fdopen(fd, "w") as handle:
        json.dump(content, handle, indent=2)


def _private_key(path: Path, kty: str) -> dict[str, Any]:
    if path.exists():
        return dict(json.loads(path.read_text()))
    if kty == "OKP":
        key: Any = OKPKey.generate_key("Ed25519", parameters={"alg": "Ed25519"}, auto_kid=True)
    else:
        key = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True)
    private = dict(key.as_dict(private=True))
    _write_secret(path, private)
    return private


def _public(private: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in private.items() if name not in {"d"}}


def build_registry(directory: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The registry document and the user passwords, making missing keys on the way."""
    passwords_file = directory / "passwords.json"
    passwords: dict[str, str] = (
        json.loads(passwords_file.read_text()) if passwords_file.exists() else {}
    )
    organizations, clients, users = [], [], []
    for org_id, (name, name_sv, name_en), kind, base, kty in ORGANIZATIONS:
        packet_key = _private_key(directory / "keys" / f"{org_id}.packets.jwk.json", kty)
        organizations.append(
            {
                "id": org_id,
                "name": name,
                "name_sv": name_sv,
                "name_en": name_en,
                "kind": kind,
                "business_id": business_id(base),
                "jwks": {"keys": [_public(packet_key)]},
                "webhook_url": None,
            }
        )
        client_key = _private_key(directory / "keys" / f"{org_id}-system.jwk.json", "EC")
        clients.append(
            {
                "client_id": f"{org_id}-system",
                "organization": org_id,
                "scopes": SCOPES[kind],
                "jwks": {"keys": [_public(client_key)]},
            }
        )
    for username, org_id, name, roles in USERS:
        passwords.setdefault(username, secrets.token_urlsafe(12))
        users.append(
            {
                "username": username,
                "organization": org_id,
                "name": name,
                "roles": roles,
                "password": passwords[username],
            }
        )
    _write_secret(passwords_file, passwords)
    return {"organizations": organizations, "oauth_clients": clients, "users": users}, passwords


def run_demo(rt: Runtime, directory: Path) -> str:
    """Load the demo registry and clients; return the text to print."""
    document, passwords = build_registry(directory)
    _write_secret(directory / "registry.json", document)
    with unit_of_work(rt.db.sessions, DEMO, "registry.load") as uow:
        report = load_registry(uow.session, document, passwords=rt.passwords)
        service = Services(rt, uow).clients
        registrar = Identity(
            organization="varha-aikuissosiaalityo",
            username="sari.sosiaalityontekija",
            request_id="demo",
        )
        hetus = []
        for date, sign, individual, name in CLIENTS:
            hetus.append(synthetic_hetu(date, sign, individual))
            service.lookup(registrar, hetus[-1], name)
    with unit_of_work(rt.db.sessions, DEMO, "period.record") as uow:
        periods = demo_periods(uow, rt)
    with unit_of_work(rt.db.sessions, DEMO, "audit.checkpoint") as uow:
        audit.checkpoint(uow.session, rt.keys, rt.config["ISSUER"], force=True)
    issuer = rt.config["ISSUER"]
    lines = [
        "Handover exchange demo (embedded mode: SQLite + in-process Redis; NOT for production)",
        f"  registry: {json.dumps(report.as_dict())}",
        f"  API docs:          {issuer}/docs",
        f"  OpenAPI:           {issuer}/openapi.json",
        f"  token endpoint:    {issuer}/oauth/token   (client_credentials, private_key_jwt)",
        "",
        "OAuth clients (private keys in " + str(directory / "keys") + "):",
    ]
    for client in document["oauth_clients"]:
        lines.append(f"  {client['client_id']:34} {' '.join(client['scopes'])}")
    lines += ["", "Users (username / password / organization / roles):"]
    for user in document["users"]:
        lines.append(
            f"  {user['username']:28} {passwords[user['username']]:18} "
            f"{user['organization']:26} {','.join(user['roles'])}"
        )
    lines += [
        "",
        "Synthetic clients (identity codes for testing only):",
        "  " + "  ".join(hetus),
        "",
        f"Service periods of synthetic clients: {periods}; the outcome report is at "
        f"{issuer}/ui/reports/outcomes (riikka.raportoija sees every provider).",
        "",
    ]
    # The script's --issuer defaults to the default issuer; name any other (make run PORT=...).
    elsewhere = "" if issuer == SETTINGS["ISSUER"].default else f" --issuer {issuer}"
    lines.append(
        "Get a token:  .venv/bin/python deploy/get_token.py --client-id lieto-kisalli-system "
        f"--key {directory / 'keys' / 'lieto-kisalli-system.jwk.json'}{elsewhere}"
    )
    return "\n".join(lines)
