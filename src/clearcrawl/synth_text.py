"""Seeded synthetic text for content matching: works, edited copies, unrelated pages.

Everything draws on one Zipf-like vocabulary, so unrelated pages share words
(and common short phrases) with the works, as real web pages do. The planted
corpus labels each document with what it was made from; true similarities are
left to whoever checks, computed on their own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "be", "da", "fe", "go", "hu",
              "ji", "pe", "qua", "ri", "so", "tu", "wy", "xo", "ze", "an", "el", "is", "or"]
BOILERPLATE = [
    "home about contact privacy policy terms of use cookie settings subscribe to our newsletter",
    "all rights reserved share this article on social media related posts you may also like",
    "skip to main content menu search log in sign up advertisement continue reading below",
    "leave a comment your email address will not be published required fields are marked",
]


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < size:
        words["".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))] = None
    return list(words)


class TextMaker:
    """Random prose over a Zipf-like vocabulary (word i drawn with weight 1/(i+1))."""

    def __init__(self, seed: int, vocab_size: int = 6000):
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng, vocab_size)
        self._weights = [1.0 / (i + 1) for i in range(len(self.words))]

    def words_(self, count: int) -> list[str]:
        return self.rng.choices(self.words, weights=self._weights, k=count)

    def prose(self, count: int) -> str:
        words = self.words_(count)
        out, sentence = [], 0
        for word in words:
            sentence += 1
            out.append(word.capitalize() if sentence == 1 else word)
            if sentence > 6 and self.rng.random() < 0.12:
                out[-1] += self.rng.choice([".", ".", "!", "?", ";"])
                sentence = 0
        return " ".join(out) + "."

    def edit(self, text: str, rate: float) -> str:
        """Substitute, delete or insert words at `rate` per word."""
        out = []
        for word in text.split():
            if self.rng.random() >= rate:
                out.append(word)
                continue
            op = self.rng.random()
            if op < 0.5:
                out.append(self.rng.choice(self.words))
            elif op < 0.75:
                out.extend([word, self.rng.choice(self.words)])
            # else: deleted
        return " ".join(out)

    def page(self, body: str) -> str:
        """A body wrapped in site boilerplate, as a text extractor would leave it."""
        head, foot = self.rng.sample(BOILERPLATE, 2)
        return f"{head}\n{body}\n{foot}"


@dataclass(frozen=True)
class PlantedDoc:
    doc_id: str
    text: str
    source_work: str      # entry_id the document was made from, "" for unrelated pages
    how: str              # "copy" | "quoted" | "unrelated"
    edit_rate: float = 0.0


@dataclass(frozen=True)
class PlantedWork:
    entry_id: str
    kind: str
    title: str
    rights_holder: str
    text: str

    def as_registry_dict(self) -> dict:
        return {"entry_id": self.entry_id, "kind": self.kind, "title": self.title,
                "rights_holder": self.rights_holder, "text": self.text}


def planted_corpus(seed: int, works: int = 150, copies: int = 900, quoted: int = 60,
                   unrelated: int = 600) -> tuple[list[PlantedWork], list[PlantedDoc]]:
    """Works plus documents: edited copies (0-30 % of words edited: 40 % of copies
    under 2 %, 30 % between 2 and 8 %, 30 % above) inside boilerplate, works quoted
    whole inside longer pages, and unrelated pages."""
    maker = TextMaker(seed)
    rng = maker.rng
    planted = [PlantedWork(f"work-{i:05d}", "piracy" if i % 4 == 0 else "optout",
                           f"Title {i}", f"Holder {i % 17}",
                           maker.prose(rng.randint(120, 1500))) for i in range(works)]
    docs: list[PlantedDoc] = []
    for i in range(copies):
        work = rng.choice(planted)
        band = i % 10
        rate = rng.uniform(*((0.0, 0.02) if band < 4 else (0.02, 0.08) if band < 7
                             else (0.08, 0.30)))
        body = maker.edit(work.text, rate) if rate > 0.001 else work.text
        docs.append(PlantedDoc(f"copy-{i:05d}", maker.page(body), work.entry_id, "copy", rate))
    for i in range(quoted):
        work = rng.choice(planted)
        words = len(work.text.split())
        before, after = maker.prose(rng.randint(words, 2 * words)), maker.prose(words)
        docs.append(PlantedDoc(f"quoted-{i:05d}", maker.page(f"{before}\n{work.text}\n{after}"),
                               work.entry_id, "quoted"))
    for i in range(unrelated):
        docs.append(PlantedDoc(f"page-{i:05d}", maker.page(maker.prose(rng.randint(80, 2500))),
                               "", "unrelated"))
    rng.shuffle(docs)
    return planted, docs
