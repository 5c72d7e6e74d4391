"""Password guessing slowed at both doors of the embedded provider (its sign-in page and its token
endpoint's password grant), per account and per client address.

NIST SP 800-63B (5.2.2, rate limiting) asks a verifier to limit failed attempts without letting an
attacker deny service to the account's owner. Here:
- each account and each client address may fail FREE_FAILURES times (counted over FORGET_AFTER
  seconds) at full speed: people mistype;
- past that, every failure closes the door for that account or address for a wait that doubles
  (FIRST_WAIT, 2 × FIRST_WAIT, …) up to MAX_WAIT: a guesser gets at most one try per wait;
- an attempt while the door is closed is refused without checking the password and without
  lengthening the wait, so a stranger cannot lock a person out for longer than MAX_WAIT after their
  last counted guess;
- the right password, tried while the door is open, clears the account's failures.

Canaille has an intruder lockout of its own (ENABLE_INTRUDER_LOCKOUT), but it counts per account
only, slows a person from their first typo, and its wait grows to 10 minutes; this one also counts
per client address and leaves the first 20 failures free. The counts live in the provider's
process (one per home): a restart forgets them, which a guesser cannot cause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 20
FREE_FAILURES_PER_CLIENT = 100  # a branch's shared address serves many people, each may mistype
FIRST_WAIT = 5.0
MAX_WAIT = 300.0
FORGET_AFTER = 900.0  # failures older than this (since the last one) are forgotten
MAX_TRACKED = 100_000  # keys kept in memory at most; the oldest quiet ones go first


@dataclass
class _Door:
    failures: int = 0
    last_failure: float = 0.0
    closed_until: float = 0.0


class SignInThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._doors: dict[tuple[str, str], _Door] = {}
        self._lock = threading.Lock()

    def wait(self, account: str, client: str | None) -> float:
        """Seconds before `account` may try again from `client` (0: now)."""
        now = self.clock()
        with self._lock:
            return max(0.0, *(self._door(key, now).closed_until - now for key in self._keys(account, client)))

    def failed(self, account: str, client: str | None) -> None:
        now = self.clock()
        with self._lock:
            for key in self._keys(account, client):
                door = self._door(key, now)
                door.failures += 1
                door.last_failure = now
                free = FREE_FAILURES if key[0] == "account" else FREE_FAILURES_PER_CLIENT
                if door.failures > free:
                    door.closed_until = now + min(FIRST_WAIT * 2 ** (door.failures - free - 1), MAX_WAIT)
            if len(self._doors) > MAX_TRACKED:
                self._forget(now)

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._doors.pop(("account", account.casefold()), None)

    @staticmethod
    def _keys(account: str, client: str | None) -> list[tuple[str, str]]:
        # one account whatever the case it is typed in (Canaille finds users case-insensitively)
        return [("account", account.casefold())] + ([("client", client)] if client else [])

    def _door(self, key: tuple[str, str], now: float) -> _Door:
        door = self._doors.get(key)
        if door is None or (now - door.last_failure > FORGET_AFTER and now >= door.closed_until):
            door = self._doors[key] = _Door()
        return door

    def _forget(self, now: float) -> None:
        quiet = sorted(self._doors, key=lambda key: self._doors[key].last_failure)
        for key in quiet[: len(quiet) - MAX_TRACKED // 2]:
            if self._doors[key].closed_until <= now:
                del self._doors[key]


def guard_password_checks(backend, throttle: SignInThrottle, client_address: Callable[[], str | None]) -> None:
    """Route every password check of Canaille's backend (the sign-in page and the password grant
    both call `check_user_password`) through `throttle`."""
    check = backend.check_user_password

    def throttled_check(user, password):
        account, client = user.user_name, client_address()
        wait = throttle.wait(account, client)
        if wait > 0:
            # the password is not even compared: a closed door tells a guesser nothing
            return False, f"Too many failed sign-ins: try again in {int(wait) + 1} seconds."
        success, message = check(user, password)
        if success:
            throttle.succeeded(account)
        else:
            throttle.failed(account, client)
        return success, message

    backend.check_user_password = throttled_check
