"""The allow/disallow rules of one agent, indexed so that a lookup touches only the rules
that can match.

The deciding rule of a path is the matching rule of highest priority: the longest
pattern, allow before disallow on a tie, then the earlier line. Scanning every rule
costs a lookup the whole rule list (docs.oracle.com: 19,581 rules); instead, rules
are put in buckets by their literal head (the pattern up to its first `*`, or all of
it), and a lookup visits only the buckets whose head is a prefix of the path:

- the heads are kept sorted; the greatest head <= path is found by bisection, and any
  head that is a prefix of the path is a prefix of that one too (nothing sorts between
  a prefix and the path without starting with it), so the candidates are that head's
  chain of prefix "parents", computed once;
- rules carry their rank in the global priority order; in a bucket (sorted by rank) the
  first rule that matches wins the bucket, and buckets stop being read once their
  rules rank below the best match found.

A pattern is `*` (any run), a final `$` (end of path), all else literal. Given that its
head prefixes the path, a rule matches: always if literal (or if the rest is only `*`s),
if the path is the head for `head$`, if the path holds the one piece after the head for
`head*piece`, if it ends with the tail (after the head) for `head*tail$`, and otherwise
by finding the pieces left to right (leftmost placement is optimal for a `*`-only glob).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

_LITERAL, _EXACT, _CONTAINS, _ENDS, _WILDCARD = range(5)
_LINE_SPAN = 1 << 40  # line numbers are below it
_NO_RANK = 1 << 62


def _rank_of(entry: tuple) -> int:
    return entry[0]


class RuleIndex:
    """Build from (pattern, is_allow, line number, payload); `decide(path)` gives the
    deciding (is_allow, payload), or None when no rule matches."""

    __slots__ = ("_heads", "_sizes", "_parents", "_buckets")

    def __init__(self, rules: Iterable[tuple[str, bool, int, Any]]):
        buckets: dict[str, list[tuple]] = {}
        for pattern, is_allow, number, payload in rules:
            # Priority as one int, smaller first: longest pattern, allow first on a tie,
            # then the earlier line.
            rank = (-2 * len(pattern) - is_allow) * _LINE_SPAN + number
            if "*" in pattern or pattern.endswith("$"):
                head, entry = _entry(rank, pattern, is_allow, payload)
            else:
                head, entry = pattern, (rank, _LITERAL, is_allow, payload, None)
            bucket = buckets.get(head)
            if bucket is None:
                buckets[head] = [entry]
            else:
                bucket.append(entry)
        for bucket in buckets.values():
            if len(bucket) > 1:
                bucket.sort(key=_rank_of)
        self._heads = sorted(buckets)
        self._sizes = [len(head) for head in self._heads]
        self._buckets = [buckets[head] for head in self._heads]
        # Parent of a head: the longest other head that is a prefix of it. The heads
        # that are prefixes of the previous head (a stack, shortest first) include every
        # head that is a prefix of this one.
        self._parents: list[int] = []
        stack: list[int] = []
        for i, head in enumerate(self._heads):
            while stack and not head.startswith(self._heads[stack[-1]]):
                stack.pop()
            self._parents.append(stack[-1] if stack else -1)
            stack.append(i)

    def decide(self, path: str) -> tuple[bool, Any] | None:
        heads = self._heads
        parents = self._parents
        i = bisect_right(heads, path) - 1
        while i >= 0 and not path.startswith(heads[i]):
            i = parents[i]
        best = None
        best_rank = _NO_RANK
        while i >= 0:  # from here on, every head is a prefix of the path
            start = self._sizes[i]
            for rank, mode, is_allow, payload, rest in self._buckets[i]:
                if rank >= best_rank:
                    break
                if (mode == _LITERAL
                        or (mode == _CONTAINS and path.find(rest, start) >= 0)
                        or (mode == _EXACT and len(path) == start)
                        or (mode == _ENDS and path.endswith(rest)
                            and len(path) - len(rest) >= start)
                        or (mode == _WILDCARD and _pieces_match(path, start, *rest))):
                    best, best_rank = (is_allow, payload), rank
                    break
            i = parents[i]
        return best


def _entry(rank: int, pattern: str, is_allow: bool, payload: Any) -> tuple[str, tuple]:
    """(head, bucket entry) of one pattern."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    if "*" not in body:
        return body, (rank, _EXACT if anchored else _LITERAL, is_allow, payload, None)
    head, *pieces = body.split("*")
    tail = pieces.pop() if anchored else ""
    pieces = [piece for piece in pieces if piece]  # an empty piece always matches
    if not tail:  # `head*...$` with nothing after the last `*` ends anywhere
        if not pieces:
            return head, (rank, _LITERAL, is_allow, payload, None)
        if len(pieces) == 1:
            return head, (rank, _CONTAINS, is_allow, payload, pieces[0])
        return head, (rank, _WILDCARD, is_allow, payload, (tuple(pieces), None))
    if not pieces:
        return head, (rank, _ENDS, is_allow, payload, tail)
    return head, (rank, _WILDCARD, is_allow, payload, (tuple(pieces), tail))


def _pieces_match(path: str, start: int, pieces: tuple[str, ...], tail: str | None) -> bool:
    """The pieces between `*`s occur in order from `start`; `tail` (if any) ends the path."""
    for piece in pieces:
        found = path.find(piece, start)
        if found < 0:
            return False
        start = found + len(piece)
    return tail is None or (len(path) - len(tail) >= start and path.endswith(tail))
