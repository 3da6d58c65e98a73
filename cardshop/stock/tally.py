"""Reading the nodes' replies to a stock script: who said what, and whether a
majority said the same thing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .nodes import Reply


def status_of(reply: Reply) -> str:
    if not reply.ok:
        return "error"
    raw = reply.value[0]
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class Tally:
    replies: list[Reply]
    by_status: dict[str, list[Reply]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for reply in self.replies:
            self.by_status.setdefault(status_of(reply), []).append(reply)

    def count(self, *statuses: str) -> int:
        return sum(len(self.by_status.get(status, [])) for status in statuses)

    @property
    def answered(self) -> int:
        return len(self.replies) - self.count("error")

    def last_tokens(self) -> list[int]:
        return [int(r.value[2]) for r in self.replies if r.ok]

    def agreement(self, quorum: int) -> tuple[int, list[str]] | None:
        """The (avail, per-order outcomes) that at least ``quorum`` nodes reported, if any."""
        answers = Counter((int(r.value[1]), tuple(_text(v) for v in r.value[3:])) for r in self.by_status.get("ok", []))
        if not answers:
            return None
        (avail, outcomes), votes = answers.most_common(1)[0]
        return (avail, list(outcomes)) if votes >= quorum else None

    def disagreeing_nodes(self, avail: int, outcomes: list[str]) -> list[int]:
        """Reachable nodes whose answer differs from the agreed one: they need repair."""
        return [
            r.node
            for r in self.replies
            if r.ok
            and (status_of(r) != "ok" or int(r.value[1]) != avail or [_text(v) for v in r.value[3:]] != outcomes)
        ]
