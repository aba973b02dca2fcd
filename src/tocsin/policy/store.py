"""The running policy, swapped as a whole on reload."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Self

from tocsin.policy.loader import PolicyError, PolicyIssue, load_policy
from tocsin.policy.models import Policy

__all__ = ["PolicyStore"]


class PolicyStore:
    """Holds the current :class:`Policy` for a process.

    Readers take ``current`` without locking: it is one reference to an immutable
    object, replaced atomically. ``reload`` is serialised so that two reloads cannot
    finish out of order, and it replaces the policy only when the new file is valid
    in full; a bad file raises :class:`PolicyError` and the old policy stays.
    """

    _path: Path | None
    _policy: Policy

    def __init__(self, path: Path) -> None:
        """Load ``path``; raises :class:`PolicyError` if it is not a valid policy."""
        self._setup(path, load_policy(path))

    @classmethod
    def from_policy(cls, policy: Policy, path: Path | None = None) -> Self:
        """A store holding ``policy`` as is; ``reload`` reads ``path`` if one is given."""
        store = cls.__new__(cls)
        store._setup(path, policy)
        return store

    def _setup(self, path: Path | None, policy: Policy) -> None:
        self._path = path
        self._policy = policy
        self._lock = threading.Lock()
        #: Called with the new policy after each announced reload.
        self.listeners: list[Callable[[Policy], None]] = []

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def current(self) -> Policy:
        return self._policy

    def reload(self, *, announce: bool = True) -> Policy:
        """Load the file again and make it current; on error keep the old policy.
        ``announce``: tell the :attr:`listeners` (the other server processes)."""
        with self._lock:
            if self._path is None:
                issue = PolicyIssue("", None, None, "this policy store has no file to reload")
                raise PolicyError([issue], "<memory>")
            policy = load_policy(self._path)
            self._policy = policy
        if announce:
            for listener in self.listeners:
                listener(policy)
        return policy
