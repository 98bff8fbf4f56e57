"""The unit of work: one transaction of one door, with its principal and what a refusal leaves.

Every door opens one: the request hooks for an API request or a web page
(``exchange.http``), the worker for each of its jobs, the command line for each
command (``unit_of_work``). It holds the session, the principal once the policy
has authorized it, and the request id, and it collects what must outlive the
business change when the action is refused:

- denials (``deny``, ``refuse``): the audit events of refused actions;
- after-refusal work (``after_refusal``): changes that must persist although the
  action fails, such as blocking a packet whose legal basis is gone.

``commit`` commits the business change with its audit rows (and the denials of
refusals the door answered itself). ``rollback`` undoes the business change and
commits the denials and the after-refusal work alone. An exception only says
what went wrong; nothing that must be written rides on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask import g
from sqlalchemy.orm import Session

from exchange import audit, policy
from exchange.audit import Actor
from exchange.errors import Denial, ExchangeError
from exchange.policy import Identity

E = TypeVar("E", bound=ExchangeError)

# The service's own doors, as the audit log names them.
WORKER = Identity.service("exchange-worker", request_id="worker")
CLI = Identity.service("exchange-cli")


class UnitOfWork:
    """One transaction of one door: the session, the principal, the refusal's leftovers."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        request_id: str | None = None,
        on_denial: Callable[[Denial], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._session: Session | None = None
        self.request_id = request_id
        self._principal: Identity | None = None
        # Who acts as far as known yet (authenticated, not yet authorized): denials name them.
        self._claimed = Identity(organization="", request_id=request_id)
        self._denials: list[Denial] = []
        self._after_refusal: list[Callable[[], object]] = []
        self._on_denial = on_denial

    # --- the session ----------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The unit's session, opened on first use."""
        if self._session is None:
            self._session = self._sessions()
        return self._session

    # --- the principal --------------------------------------------------------------------

    @property
    def principal(self) -> Identity | None:
        """The identity the policy authorized in this unit; None before."""
        return self._principal

    @property
    def identity(self) -> Identity:
        """The authorized identity (a door that runs a service has authorized one)."""
        if self._principal is None:
            raise RuntimeError("no action was authorized in this unit of work")
        return self._principal

    @property
    def claimed(self) -> Identity:
        """Who acts as far as known: the authorized identity, else the authenticated one."""
        return self._claimed

    def claim(self, identity: Identity) -> None:
        """``identity`` is authenticated but not yet authorized: refusals are theirs."""
        self._claimed = identity

    def authorize(
        self, identity: Identity, action: str, *, person_named: bool | None = None
    ) -> Identity:
        """Ask the policy whether ``identity`` may do ``action``; 403 (the denial recorded
        here) when not, otherwise ``identity`` becomes the unit's principal."""
        self.claim(identity)
        policy.authorize(identity, action, person_named=person_named, denials=self)
        self._principal = identity
        return identity

    # --- refusals -------------------------------------------------------------------------

    def deny(self, denial: Denial) -> None:
        """Audit a refused action (written whether the unit commits or rolls back)."""
        self._denials.append(denial)

    def refuse(self, error: E, denial: Denial) -> E:
        """Record ``denial`` and give back ``error`` for the caller to raise."""
        self.deny(denial)
        return error

    def after_refusal(self, work: Callable[[], object]) -> None:
        """Run ``work`` after the unit's own changes are rolled back, and commit it: what must
        persist although the action is refused. It uses this unit's session."""
        self._after_refusal.append(work)

    # --- the end --------------------------------------------------------------------------

    def commit(self) -> None:
        """Commit the business change with its audit rows (and any denial answered as a page)."""
        self._after_refusal.clear()  # the action was not refused
        denials, self._denials = self._denials, []
        if denials:
            self._write(denials)
        if self._session is not None:
            self._session.commit()

    def rollback(self) -> None:
        """Refused: roll the business change back; then commit the after-refusal work and the
        denials on their own."""
        denials, self._denials = self._denials, []
        work, self._after_refusal = self._after_refusal, []
        if self._session is not None:
            self._session.rollback()
        if not denials and not work:
            return
        for item in work:
            item()
        self._write(denials)
        self.session.commit()

    def discard(self) -> None:
        """Roll back and forget everything (the database failed; nothing can be written)."""
        self._denials.clear()
        self._after_refusal.clear()
        if self._session is not None:
            self._session.rollback()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _write(self, denials: list[Denial]) -> None:
        actor = Actor.of(self._claimed)
        for denial in denials:
            audit.record(
                self.session,
                actor,
                denial.action,
                "denied",
                resource_type=denial.resource_type,
                resource_id=denial.resource_id,
                client_ref=denial.client_ref,
                reason=denial.reason,
            )
            if self._on_denial is not None:
                self._on_denial(denial)


@contextmanager
def unit_of_work(
    sessions: Callable[[], Session], identity: Identity, action: str | None = None
) -> Iterator[UnitOfWork]:
    """A unit of work of the worker or the command line, acting as ``identity`` (authorized
    for ``action`` when given; otherwise the block authorizes): committed when the block
    ends, rolled back (keeping what a refusal leaves) when it raises."""
    uow = UnitOfWork(sessions, request_id=identity.request_id)
    try:
        uow.claim(identity)
        if action is not None:
            uow.authorize(identity, action)
        yield uow
        uow.commit()
    except BaseException:
        uow.rollback()
        raise
    finally:
        uow.close()


def current_unit() -> UnitOfWork:
    """The current request's unit of work (opened by the request hooks)."""
    unit: UnitOfWork | None = g.get("unit")
    if unit is None:
        raise RuntimeError("no unit of work is open for this request")
    return unit
