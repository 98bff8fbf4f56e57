"""The registry loader: validate the whole file, then upsert; report per entry; all or nothing."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey

from exchange import config as configuration
from exchange import create_app
from exchange.errors import Invalid
from exchange.registry.models import OAuthClient, Organization, User
from exchange.registry.service import load_registry, verify_password
from tests.conftest import business_id, new_signing_key, public_jwks, runtime_of

# Keys are made once per module; the loader only ever sees their public halves.
ORG_KEY = new_signing_key("EC")
OTHER_ORG_KEY = new_signing_key("OKP")
CLIENT_KEY = new_signing_key("RSA")
SECOND_KEY = new_signing_key("EC")

PASSWORD = "correct horse battery"


def valid_document() -> dict[str, Any]:
    """Two organizations, one client, two users; every entry valid."""
    return copy.deepcopy(
        {
            "organizations": [
                {
                    "id": "reg-provider",
                    "name": "Registry Test Provider",
                    "name_sv": "Registrets testleverantör",
                    "name_en": "Registry test provider (in English)",
                    "kind": "provider",
                    "business_id": business_id(4_200_001),
                    "jwks": public_jwks(ORG_KEY),
                    "webhook_url": "https://provider.example/hooks",
                },
                {
                    "id": "reg-social",
                    "name": "Registry Test Social Services",
                    "kind": "social_services",
                    "business_id": business_id(4_200_002),
                    "jwks": public_jwks(OTHER_ORG_KEY),
                },
            ],
            "oauth_clients": [
                {
                    "client_id": "reg-provider-system",
                    "organization": "reg-provider",
                    "scopes": ["packets:send", "consents:read", "packets:send"],
                    "jwks": public_jwks(CLIENT_KEY),
                }
            ],
            "users": [
                {
                    "username": "tiina.testaaja",
                    "organization": "reg-provider",
                    "name": "Tiina Testaaja",
                    "roles": ["staff"],
                },
                {
                    "username": "sami.synteettinen",
                    "organization": "reg-social",
                    "name": "Sami Synteettinen",
                    "roles": ["social_worker", "admin"],
                },
            ],
        }
    )


def load(rt: Any, document: Any) -> dict[str, int]:
    """Load ``document`` in its own committed unit of work; return the report counts."""
    with rt.db.transaction() as session:
        return load_registry(session, document, passwords=rt.passwords).as_dict()


def fetch(rt: Any, model: type[Any], key: str) -> Any:
    """The row as stored now, read through a fresh session."""
    with rt.db.sessions() as session:
        return session.get(model, key)


def stored_ids(rt: Any) -> set[str]:
    """Every registry key of the valid document that is in the database."""
    document = valid_document()
    found = {o["id"] for o in document["organizations"] if fetch(rt, Organization, o["id"])}
    found |= {
        c["client_id"] for c in document["oauth_clients"] if fetch(rt, OAuthClient, c["client_id"])
    }
    found |= {u["username"] for u in document["users"] if fetch(rt, User, u["username"])}
    return found


def wrong_check_digit(valid: str) -> str:
    return f"{valid[:-1]}{(int(valid[-1]) + 1) % 10}"


def public_jwk(key: Any) -> dict[str, Any]:
    return dict(key.as_dict(private=False))


def b64url_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def small_rsa_jwk() -> dict[str, Any]:
    """A 1024-bit RSA public JWK, built by hand (joserfc refuses to generate one quietly)."""
    weak = rsa.generate_private_key(65537, 1024)  # noqa: S505  # the loader must refuse it
    numbers = weak.public_key().public_numbers()
    return {"kty": "RSA", "kid": "rsa-1024", "n": b64url_int(numbers.n), "e": b64url_int(numbers.e)}


# --- loading a valid file -----------------------------------------------------------


def test_valid_file_loads_organizations_clients_and_users(rt):
    document = valid_document()

    report = load(rt, document)

    assert report == {"organizations.created": 2, "oauth_clients.created": 1, "users.created": 2}
    provider = fetch(rt, Organization, "reg-provider")
    assert provider.name == "Registry Test Provider"
    assert provider.name_sv == "Registrets testleverantör"
    assert provider.name_en == "Registry test provider (in English)"
    assert provider.kind == "provider"
    assert provider.business_id == document["organizations"][0]["business_id"]
    assert provider.jwks == public_jwks(ORG_KEY)
    assert provider.webhook_url == "https://provider.example/hooks"
    social = fetch(rt, Organization, "reg-social")
    assert social.kind == "social_services"
    assert (social.name_sv, social.name_en) == (None, None)  # absent: none
    assert social.webhook_url is None
    client = fetch(rt, OAuthClient, "reg-provider-system")
    assert client.organization_id == "reg-provider"
    assert client.scopes == ["consents:read", "packets:send"]  # de-duplicated
    assert client.jwks == public_jwks(CLIENT_KEY)
    assert client.active is True
    user = fetch(rt, User, "sami.synteettinen")
    assert user.organization_id == "reg-social"
    assert user.name == "Sami Synteettinen"
    assert set(user.roles) == {"social_worker", "admin"}
    assert user.active is True
    assert user.password_hash is None


def test_swedish_and_english_names_as_long_or_short_as_the_finnish_one_load(rt):
    document = valid_document()
    document["organizations"][0] |= {"name_sv": "å" * 200, "name_en": "Ki"}
    document["organizations"][1] |= {"name_sv": None, "name_en": None}

    load(rt, document)

    provider = fetch(rt, Organization, "reg-provider")
    assert (provider.name_sv, provider.name_en) == ("å" * 200, "Ki")
    social = fetch(rt, Organization, "reg-social")
    assert (social.name_sv, social.name_en) == (None, None)


def test_entries_may_refer_to_an_organization_loaded_earlier(rt):
    load(rt, valid_document())
    later = {
        "oauth_clients": [
            {
                "client_id": "reg-social-system",
                "organization": "reg-social",
                "scopes": ["consents:read"],
                "jwks": public_jwks(SECOND_KEY),
            }
        ]
    }

    assert load(rt, later) == {"oauth_clients.created": 1}
    assert fetch(rt, OAuthClient, "reg-social-system").organization_id == "reg-social"


def test_loading_the_same_file_twice_changes_nothing(rt):
    document = valid_document()
    document["users"][0]["password"] = PASSWORD
    load(rt, document)
    keys = [
        (Organization, "reg-provider"),
        (Organization, "reg-social"),
        (OAuthClient, "reg-provider-system"),
        (User, "tiina.testaaja"),
        (User, "sami.synteettinen"),
    ]
    before = {key: fetch(rt, *key).updated_at for key in keys}
    hash_before = fetch(rt, User, "tiina.testaaja").password_hash

    report = load(rt, copy.deepcopy(document))

    assert report == {
        "organizations.unchanged": 2,
        "oauth_clients.unchanged": 1,
        "users.unchanged": 2,
    }
    assert {key: fetch(rt, *key).updated_at for key in keys} == before
    assert fetch(rt, User, "tiina.testaaja").password_hash == hash_before


def _rename_org(doc: dict[str, Any]) -> None:
    doc["organizations"][0]["name"] = "Registry Test Provider, renamed"


def _new_org_key(doc: dict[str, Any]) -> None:
    doc["organizations"][0]["jwks"] = public_jwks(ORG_KEY, SECOND_KEY)


def _drop_webhook(doc: dict[str, Any]) -> None:
    del doc["organizations"][0]["webhook_url"]


def _drop_swedish_name(doc: dict[str, Any]) -> None:
    del doc["organizations"][0]["name_sv"]


def _null_english_name(doc: dict[str, Any]) -> None:
    doc["organizations"][0]["name_en"] = None


def _rename_in_swedish(doc: dict[str, Any]) -> None:
    doc["organizations"][0]["name_sv"] = "Registrets testleverantör, nytt namn"


def _narrow_scopes(doc: dict[str, Any]) -> None:
    doc["oauth_clients"][0]["scopes"] = ["consents:read"]


def _new_client_key(doc: dict[str, Any]) -> None:
    doc["oauth_clients"][0]["jwks"] = public_jwks(SECOND_KEY)


def _deactivate_client(doc: dict[str, Any]) -> None:
    doc["oauth_clients"][0]["active"] = False


def _change_roles(doc: dict[str, Any]) -> None:
    doc["users"][0]["roles"] = ["auditor"]


def _move_user(doc: dict[str, Any]) -> None:
    doc["users"][0]["organization"] = "reg-social"


CHANGES: list[tuple[Callable[[dict[str, Any]], None], type[Any], str, str, Any]] = [
    (_rename_org, Organization, "reg-provider", "name", "Registry Test Provider, renamed"),
    (_new_org_key, Organization, "reg-provider", "jwks", public_jwks(ORG_KEY, SECOND_KEY)),
    (_drop_webhook, Organization, "reg-provider", "webhook_url", None),
    (_drop_swedish_name, Organization, "reg-provider", "name_sv", None),
    (_null_english_name, Organization, "reg-provider", "name_en", None),
    (
        _rename_in_swedish,
        Organization,
        "reg-provider",
        "name_sv",
        "Registrets testleverantör, nytt namn",
    ),
    (_narrow_scopes, OAuthClient, "reg-provider-system", "scopes", ["consents:read"]),
    (_new_client_key, OAuthClient, "reg-provider-system", "jwks", public_jwks(SECOND_KEY)),
    (_deactivate_client, OAuthClient, "reg-provider-system", "active", False),
    (_change_roles, User, "tiina.testaaja", "roles", ["auditor"]),
    (_move_user, User, "tiina.testaaja", "organization_id", "reg-social"),
]
KIND = {Organization: "organizations", OAuthClient: "oauth_clients", User: "users"}
TOTALS = {"organizations": 2, "oauth_clients": 1, "users": 2}


@pytest.mark.parametrize(
    ("change", "model", "key", "column", "expected"),
    CHANGES,
    ids=[change[0].__name__.strip("_") for change in CHANGES],
)
def test_a_changed_entry_is_updated_and_only_it(rt, change, model, key, column, expected):
    load(rt, valid_document())
    before = fetch(rt, model, key).updated_at
    document = valid_document()
    change(document)

    report = load(rt, document)

    kind = KIND[model]
    expected_report = {f"{k}.unchanged": n for k, n in TOTALS.items() if k != kind}
    expected_report[f"{kind}.updated"] = 1
    if TOTALS[kind] > 1:
        expected_report[f"{kind}.unchanged"] = TOTALS[kind] - 1
    assert report == expected_report
    row = fetch(rt, model, key)
    assert getattr(row, column) == expected
    assert row.updated_at != before


# --- passwords ----------------------------------------------------------------------


def test_password_is_stored_only_as_an_argon2_hash(rt):
    document = valid_document()
    document["users"][0]["password"] = PASSWORD

    load(rt, document)

    stored = fetch(rt, User, "tiina.testaaja").password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "!")
    assert fetch(rt, User, "sami.synteettinen").password_hash is None


def test_production_hashes_passwords_at_rfc_9106_cost_only(tmp_path, keys_dir):
    """The suite's cheap Argon2 profile is for tests: production hashes with RFC 9106's
    parameters (64 MiB, 3 passes, 4 lanes), which are also the default, and refuses any other."""
    env = {
        "EXCHANGE_MODE": "production",
        "EXCHANGE_DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
        "EXCHANGE_REDIS_URL": "redis://127.0.0.1:9/0",  # never contacted here
        "EXCHANGE_ISSUER": "https://exchange.example",
        "EXCHANGE_KEYS_DIR": str(keys_dir),
    }
    settings = configuration.load(env=env) | {"TESTING": True}  # keeps the test's logging
    passwords = runtime_of(create_app(settings)).passwords

    assert (passwords.memory_cost, passwords.time_cost, passwords.parallelism) == (65536, 3, 4)
    assert passwords.hash(PASSWORD).startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert configuration.load(env={})["ARGON2_PROFILE"] == "rfc_9106_low_memory"
    with pytest.raises(configuration.ConfigError, match="rfc_9106_low_memory only"):
        configuration.load(env={**env, "EXCHANGE_ARGON2_PROFILE": "cheapest"})
    with pytest.raises(configuration.ConfigError, match="EXCHANGE_ARGON2_PROFILE"):
        configuration.load(env={"EXCHANGE_ARGON2_PROFILE": "fastest"})


def test_changed_password_is_updated_and_the_old_one_stops_working(rt):
    document = valid_document()
    document["users"][0]["password"] = PASSWORD
    load(rt, document)
    document["users"][0]["password"] = "a different passphrase"

    report = load(rt, document)

    assert report["users.updated"] == 1
    stored = fetch(rt, User, "tiina.testaaja").password_hash
    assert verify_password(stored, "a different passphrase")
    assert not verify_password(stored, PASSWORD)


def test_password_removed_from_the_file_disables_sign_in(rt):
    document = valid_document()
    document["users"][0]["password"] = PASSWORD
    load(rt, document)
    del document["users"][0]["password"]

    report = load(rt, document)

    assert report["users.updated"] == 1
    assert fetch(rt, User, "tiina.testaaja").password_hash is None


# --- invalid files load nothing -----------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets ``section.index.field`` (dots) in the document."""
    section, index, name = path.split(".")

    def mutate(doc: dict[str, Any]) -> None:
        doc[section][int(index)][name] = value

    return mutate


def _org_keys(*keys: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return _set("organizations.0.jwks", {"keys": list(keys)})


def _without(member: str, jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in jwk.items() if name != member}


def _duplicate(section: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc[section].append(copy.deepcopy(doc[section][0]))

    return mutate


def _top_level(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc[name] = value

    return mutate


INVALID: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "business-id-check-digit",
        _set("organizations.1.business_id", wrong_check_digit(business_id(4_200_002))),
        "organizations[1].business_id",
    ),
    (
        "business-id-shape",
        _set("organizations.1.business_id", "42000021"),
        "organizations[1].business_id",
    ),
    ("unknown-kind", _set("organizations.0.kind", "bank"), "organizations[0].kind"),
    ("org-id-not-a-slug", _set("organizations.0.id", "Reg_Provider"), "organizations[0].id"),
    (
        "webhook-not-http",
        _set("organizations.0.webhook_url", "ftp://x.example/"),
        "organizations[0].webhook_url",
    ),
    ("missing-name", lambda doc: doc["organizations"][0].pop("name"), "organizations[0].name"),
    ("null-name", _set("organizations.0.name", None), "organizations[0].name"),
    (
        "swedish-name-too-long",
        _set("organizations.0.name_sv", "å" * 201),
        "organizations[0].name_sv",
    ),
    ("english-name-too-short", _set("organizations.1.name_en", "K"), "organizations[1].name_en"),
    ("empty-swedish-name", _set("organizations.1.name_sv", ""), "organizations[1].name_sv"),
    ("english-name-not-text", _set("organizations.0.name_en", 42), "organizations[0].name_en"),
    ("entry-not-an-object", _top_level("organizations", ["reg-provider"]), "organizations[0]"),
    ("section-not-a-list", _top_level("users", {"username": "x"}), "users"),
    (
        "unknown-scope",
        _set("oauth_clients.0.scopes", ["packets:eat", "consents:read"]),
        "oauth_clients[0].scopes[0]",
    ),
    ("no-scopes", _set("oauth_clients.0.scopes", []), "oauth_clients[0].scopes"),
    ("unknown-role", _set("users.0.roles", ["king"]), "users[0].roles[0]"),
    ("second-role-unknown", _set("users.1.roles", ["admin", "root"]), "users[1].roles[1]"),
    ("short-password", _set("users.0.password", "short"), "users[0].password"),
    (
        "client-unknown-org",
        _set("oauth_clients.0.organization", "no-such-org"),
        "oauth_clients[0].organization",
    ),
    ("user-unknown-org", _set("users.1.organization", "no-such-org"), "users[1].organization"),
    # JWKS: public signature keys with kids only
    (
        "private-key-material",
        _org_keys(dict(ORG_KEY.as_dict(private=True))),
        "organizations[0].jwks.keys[0]",
    ),
    (
        "client-private-key",
        _set("oauth_clients.0.jwks", {"keys": [dict(CLIENT_KEY.as_dict(private=True))]}),
        "oauth_clients[0].jwks.keys[0]",
    ),
    (
        "symmetric-key",
        _org_keys({"kty": "oct", "kid": "s1", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"}),
        "organizations[0].jwks.keys[0]",
    ),
    (
        "missing-kid",
        _org_keys(_without("kid", public_jwk(ORG_KEY))),
        "organizations[0].jwks.keys[0]",
    ),
    (
        "second-key-missing-kid",
        _org_keys(public_jwk(ORG_KEY), _without("kid", public_jwk(SECOND_KEY))),
        "organizations[0].jwks.keys[1]",
    ),
    (
        "ec-p384",
        _org_keys(dict(ECKey.generate_key("P-384", auto_kid=True).as_dict(private=False))),
        "organizations[0].jwks.keys[0]",
    ),
    (
        "ec-point-not-on-curve",
        _org_keys(public_jwk(ORG_KEY) | {"y": public_jwk(SECOND_KEY)["y"]}),
        "organizations[0].jwks.keys[0]",
    ),
    (
        "non-signature-alg",
        _org_keys(public_jwk(ORG_KEY) | {"alg": "RS256"}),
        "organizations[0].jwks.keys[0]",
    ),
    (
        "duplicate-kids",
        _org_keys(public_jwk(ORG_KEY), public_jwk(SECOND_KEY) | {"kid": ORG_KEY.kid}),
        "organizations[0].jwks",
    ),
    ("empty-key-set", _org_keys(), "organizations[0].jwks"),
    (
        "jwks-extra-member",
        _set("organizations.0.jwks", public_jwks(ORG_KEY) | {"issuer": "x"}),
        "organizations[0].jwks",
    ),
    ("jwks-not-an-object", _set("organizations.0.jwks", "k1"), "organizations[0].jwks"),
    # ids unique within the file
    ("duplicate-org-id", _duplicate("organizations"), "organizations[2].id"),
    ("duplicate-client-id", _duplicate("oauth_clients"), "oauth_clients[1].client_id"),
    ("duplicate-username", _duplicate("users"), "users[2].username"),
    # unknown fields are errors, not ignored
    ("unknown-top-level-field", _top_level("organisations", []), "organisations"),
    (
        "unknown-org-field",
        _set("organizations.1.email", "x@example.test"),
        "organizations[1].email",
    ),
    ("unknown-user-field", _set("users.0.email", "x@example.test"), "users[0].email"),
]


@pytest.mark.parametrize(
    ("mutate", "path"), [case[1:] for case in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_file_names_the_entry_and_loads_nothing(rt, mutate, path):
    document = valid_document()
    mutate(document)

    with pytest.raises(Invalid) as caught:
        load(rt, document)

    assert [error.field for error in caught.value.errors] == [path]
    assert all(error.message for error in caught.value.errors)
    assert stored_ids(rt) == set(), "a valid entry of an invalid file was loaded"


def test_every_invalid_entry_is_reported_at_once(rt):
    document = valid_document()
    document["organizations"][0]["kind"] = "bank"
    document["oauth_clients"][0]["scopes"] = ["consents:read", "audit:write"]
    document["users"][1]["roles"] = ["root"]

    with pytest.raises(Invalid) as caught:
        load(rt, document)

    assert {error.field for error in caught.value.errors} == {
        "organizations[0].kind",
        "oauth_clients[0].scopes[1]",
        "users[1].roles[0]",
    }
    assert stored_ids(rt) == set()


def test_invalid_file_leaves_earlier_entries_untouched(rt):
    load(rt, valid_document())
    before = fetch(rt, Organization, "reg-provider").updated_at
    document = valid_document()
    document["organizations"][0]["name"] = "Should not be saved"
    document["users"][0]["roles"] = ["king"]

    with pytest.raises(Invalid):
        load(rt, document)

    provider = fetch(rt, Organization, "reg-provider")
    assert provider.name == "Registry Test Provider"
    assert provider.updated_at == before


@pytest.mark.parametrize("document", [[], "organizations", None, 42], ids=repr)
def test_a_document_that_is_not_an_object_is_refused(rt, document):
    with pytest.raises(Invalid) as caught:
        load(rt, document)

    assert [error.field for error in caught.value.errors] == ["$"]


def test_empty_object_is_a_valid_empty_registry(rt):
    assert load(rt, {}) == {}


# --- edge cases of key validation and configuration errors ----


def test_small_rsa_key_is_refused_without_a_warning(rt):
    document = valid_document()
    document["oauth_clients"][0]["jwks"] = {"keys": [small_rsa_jwk()]}

    with pytest.raises(Invalid) as caught:
        load(rt, document)

    assert [error.field for error in caught.value.errors] == ["oauth_clients[0].jwks.keys[0]"]
    assert stored_ids(rt) == set()


def test_non_string_alg_is_a_field_error(rt):
    document = valid_document()
    document["organizations"][0]["jwks"] = {"keys": [public_jwk(ORG_KEY) | {"alg": ["ES256"]}]}

    with pytest.raises(Invalid) as caught:
        load(rt, document)

    assert [error.field for error in caught.value.errors] == ["organizations[0].jwks.keys[0]"]
