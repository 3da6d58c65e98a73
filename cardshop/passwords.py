"""One argon2id hasher for agents' and operators' passwords, its cost from configuration.

The defaults are argon2-cffi's (time cost 3, 64 MiB): about a quarter of a second per
check, on purpose. Tests lower the cost (CARDSHOP_PASSWORD_TIME_COST, _MEMORY_KIB);
hashes made at one cost still verify at another, and a login rehashes them to the
current one.
"""

from __future__ import annotations

from argon2 import PasswordHasher


class Passwords:
    def __init__(self) -> None:
        self._hasher = PasswordHasher()

    def configure(self, *, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        return self._hasher.verify(password_hash, password)

    def check_needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


hasher = Passwords()
