"""IETF aipref usage preferences: the `Content-Usage` header and robots.txt rule.

The vocabulary (draft-ietf-aipref-vocab) serialises a statement of preference as an
RFC 9651 structured-field Dictionary: keys are category labels, values the Tokens `y`
(allow) or `n` (disallow). Processing is exact (vocab s.6.5): a value that is not the
Token `y` or `n` (`"n"`, `no`, `N`, a bare key) expresses nothing; parameters are
ignored (`search=y;train-ai=n` says nothing of training); a Dictionary that does not
parse (`TRAIN-AI=n`, `train-ai = n`, a trailing comma) expresses nothing; unknown
labels are ignored (s.6.4).

Categories nest (vocab s.4, s.5): Generative AI Training is a subset of AI Training,
which is a subset of Automated Processing, labelled `all` in some revisions and `bots`
in others. A category without an explicit preference takes its parent's, so `bots=n`
and `all=n` deny AI training; an explicit `train-ai=y` beside them allows it (a more
specific preference overrides, s.5.1).
"""

from __future__ import annotations

import http_sf

# Category label -> the broader category it is a proper subset of.
_PARENT = {"train-genai": "train-ai", "train-ai": "all", "search": "all"}
TOP_LABELS = ("all", "bots")  # Automated Processing, as labelled across draft revisions
TRAINING_LABELS = ("train-ai", "train-genai")  # the uses a training corpus serves
_WHITESPACE = " \t"


def preferences(expression: str | bytes) -> dict[str, str]:
    """{label: "y" | "n"} for the labels with an explicit preference; {} if unparsable."""
    raw = expression.encode("utf-8", "surrogatepass") if isinstance(expression, str) else expression
    try:
        parsed = http_sf.parse(raw, tltype="dictionary")
    except (http_sf.StructuredFieldError, ValueError):  # web input: nothing expressed
        return {}
    return {label: str(value) for label, (value, _params) in parsed.items()
            if isinstance(value, http_sf.Token) and str(value) in ("y", "n")}


def status(prefs: dict[str, str], label: str) -> str | None:
    """"y", "n" or None (unknown) for a category, inheriting from broader categories."""
    while label in _PARENT:
        if label in prefs:
            return prefs[label]
        label = _PARENT[label]
    tops = {prefs[top] for top in TOP_LABELS if top in prefs}  # the restrictive one wins
    return "n" if "n" in tops else ("y" if tops else None)


def denies_training(prefs: dict[str, str]) -> bool:
    """True when AI training (or generative AI training) is disallowed."""
    return any(status(prefs, label) == "n" for label in TRAINING_LABELS)


def robots_rule(value: str) -> tuple[str, str]:
    """(path pattern, preference expression) of a robots.txt `Content-Usage` value.

    The path starts with `/` and ends before the first SP or HTAB (aipref-attach s.3.2).
    A value without a path is read as applying to `/`, the whole site: a looser reading
    than the ABNF, chosen because ignoring it would keep what the site reserved.
    """
    if not value.startswith("/"):
        return "/", value
    end = min((i for i in (value.find(" "), value.find("\t")) if i >= 0), default=len(value))
    return value[:end], value[end:].lstrip(_WHITESPACE)
