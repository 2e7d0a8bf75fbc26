"""Content matching on the planted corpus, judged against true Jaccard computed here,
independently of clearcrawl's hashing (Python sets of word 5-gram tuples)."""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections import Counter, defaultdict

import numpy as np
import pytest

from clearcrawl import reasons
from clearcrawl.core import lsh
from clearcrawl.core.minhash import (
    IncompatibleSignatures,
    MinHashParams,
    _nfkc,
    _normalized_buffer,
    _normalized_data,
    estimated_jaccard,
    exact_jaccard,
    fingerprint,
    fingerprint_batch,
    fingerprint_many,
    nfkc_lower_utf8,
    to_datasketch,
    word_hashes,
)
from clearcrawl.core.works import DocPrint, WorkMatcher, WorkSet, work_record
from clearcrawl.synth_text import planted_corpus

PARAMS = MinHashParams()


def true_shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@pytest.fixture(scope="module")
def corpus():
    works, docs = planted_corpus(seed=5)
    work_set = WorkSet.from_records(PARAMS, [work_record(w.as_registry_dict(), PARAMS)
                                             for w in works])
    matcher = WorkMatcher(work_set, threshold=0.8)
    found = {}
    for doc in docs:
        fp = fingerprint(doc.text, PARAMS)
        found[doc.doc_id] = matcher.match(DocPrint(doc.doc_id, fp,
                                                   doc.text))
    # Truth: for every document, exact Jaccard and containment with every work it
    # shares a shingle with (an inverted index keeps this quadratic-free).
    work_sets = {w.entry_id: true_shingles(w.text) for w in works}
    postings = defaultdict(list)
    for entry_id, shingle_set in work_sets.items():
        for shingle in shingle_set:
            postings[shingle].append(entry_id)
    truth = {}
    for doc in docs:
        doc_set = true_shingles(doc.text)
        shared = Counter(e for s in doc_set for e in postings.get(s, ()))
        truth[doc.doc_id] = {
            e: (n / (len(doc_set) + len(work_sets[e]) - n), n / len(work_sets[e]))
            for e, n in shared.items()}
    return docs, found, truth


def test_recall_precision_and_entry_ids_on_the_planted_corpus(corpus):
    docs, found, truth = corpus
    high = [d for d in docs if any(j >= 0.8 for j, _ in truth[d.doc_id].values())]
    low = [d for d in docs if all(j < 0.5 and c < 0.5 for j, c in truth[d.doc_id].values())]
    assert len(high) >= 250 and len(low) >= 700  # the corpus exercises both sides

    hits = 0
    for doc in high:
        expected = {e for e, (j, _) in truth[doc.doc_id].items() if j >= 0.8}
        named = {ev.entry_id for ev in found[doc.doc_id]}
        hits += expected <= named
    assert hits / len(high) >= 0.99, (hits, len(high))

    false_removals = [d.doc_id for d in low if found[d.doc_id]]
    assert false_removals == []

    # Every match names a work the document really resembles (right entry_id).
    for doc in docs:
        for ev in found[doc.doc_id]:
            j, c = truth[doc.doc_id][ev.entry_id]
            assert max(j, c) >= 0.8 - 1e-9, (doc.doc_id, ev, j, c)
            assert ev.kind in (reasons.WORK_EXACT, reasons.WORK_NEAR_DUPLICATE)


def test_a_work_quoted_whole_in_a_longer_page_matches_on_containment(corpus):
    docs, found, truth = corpus
    quoted = [d for d in docs if d.how == "quoted"]
    assert quoted
    for doc in quoted:
        jaccard, containment = truth[doc.doc_id][doc.source_work]
        assert containment == 1.0 and jaccard < 0.6
        [evidence] = [e for e in found[doc.doc_id] if e.entry_id == doc.source_work]
        assert "matched on containment" in evidence.detail and evidence.score == 1.0


def test_unedited_copies_are_exact_matches(corpus):
    docs, found, truth = corpus
    from clearcrawl.synth_text import planted_corpus as again

    works, _ = again(seed=5)
    work = works[3]
    doc_text = "  " + work.text.upper().replace(" ", "  \n") + " !!"
    matcher = WorkMatcher(WorkSet.from_records(PARAMS, [work_record(work.as_registry_dict(),
                                                                   PARAMS)]), 0.8)
    [evidence] = matcher.match(DocPrint("d", fingerprint(doc_text, PARAMS),
                                        doc_text))
    assert evidence.kind == reasons.WORK_EXACT and evidence.entry_id == work.entry_id


def test_estimates_track_exact_jaccard_without_bias():
    works, docs = planted_corpus(seed=9, works=20, copies=300, quoted=0, unrelated=0)
    by_id = {w.entry_id: w for w in works}
    errors = []
    for doc in docs:
        a = fingerprint(doc.text, PARAMS)
        b = fingerprint(by_id[doc.source_work].text, PARAMS)
        errors.append(estimated_jaccard(a.signature, b.signature)
                      - exact_jaccard(a.shingle_set, b.shingle_set))
    errors = np.array(errors)
    assert abs(errors.mean()) < 0.01 and errors.std() < 0.05


def test_bands_are_chosen_for_recall_at_the_threshold():
    bands, rows = lsh.choose_bands(128, 0.8)
    assert (bands, rows) == (21, 6)
    assert lsh.candidate_probability(0.8, bands, rows) >= 0.995
    assert lsh.candidate_probability(0.8, 9, 13) < 0.8  # datasketch's default split misses


def test_signatures_are_seeded_stable_and_exportable():
    text = "The quick brown fox jumps over the lazy dog near the riverbank at dawn."
    sig = fingerprint(text, PARAMS).signature
    # A fixed value: a change here means every stored signature set is invalid.
    assert sig[:4].tolist() == GOLDEN_FIRST_VALUES
    assert fingerprint(text, MinHashParams(seed=2)).signature[:4].tolist() != GOLDEN_FIRST_VALUES
    other = fingerprint(text.replace("dawn", "dusk"), PARAMS).signature
    ours = estimated_jaccard(sig, other)
    assert to_datasketch(sig, PARAMS).jaccard(to_datasketch(other, PARAMS)) == ours
    with pytest.raises(IncompatibleSignatures):
        PARAMS.require_same(MinHashParams(shingle_size=3))


def test_signatures_of_long_words_keep_their_values():
    """Words of 17 to 45 bytes, non-ASCII ones among them, read in 8-byte chunks past
    the second: fixed values computed by the kernel before its rewrite (83c204e)."""
    text = ("Internationalisation of counterrevolutionaries: electroencephalographically "
            "uncharacteristically incomprehensibilities, Überweisungsbestätigungen und "
            "Donaudampfschifffahrtsgesellschaftskapitän sailed on.")
    fp = fingerprint(text, PARAMS)
    assert fp.signature[:4].tolist() == [523112881, 617412641, 336506526, 703818852]
    assert hashlib.sha256(fp.signature.tobytes()).hexdigest()[:16] == "d4577f6005008717"
    assert hashlib.sha256(fp.shingle_set.tobytes()).hexdigest()[:16] == "660af5079421254b"


def _plain_shingles(words: list[int], n: int = PARAMS.shingle_size) -> list[int]:
    """Shingle hashes spelt out: n words in a row, or all of a shorter text's words."""
    multipliers = [int(m) for m in PARAMS._coefficients[2]]
    mask = (1 << 64) - 1
    windows = [words[i:i + n] for i in range(len(words) - n + 1)] or ([words] if words else [])
    out = []
    for window in windows:
        h = sum(w * m for w, m in zip(window, multipliers)) & mask
        for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            h = ((h ^ (h >> shift)) * factor) & mask  # splitmix64's finaliser
        out.append(h ^ (h >> 31))
    return out


def test_compiled_fingerprints_equal_the_plain_formulas_over_a_batch():
    texts = ["one two three", "", "alpha beta gamma delta epsilon zeta eta theta " * 30,
             "!!", "a b c d e", "Ünïcode — words’ here\x00and there", "x"]
    a, b, _ = PARAMS._coefficients
    batch = fingerprint_many(texts, PARAMS)
    for text, fp in zip(texts, batch):
        words = [int(w) for w in word_hashes(text.replace("\x00", " "))]
        assert fp.shingles.tolist() == _plain_shingles(words)
        if not words:
            assert (fp.signature == 0xFFFFFFFF).all()
        else:
            x = (fp.shingles >> np.uint64(32)).astype(np.uint64)
            expected = ((a.astype(np.uint64) * x + b) & np.uint64(0xFFFFFFFF)).min(axis=1)
            assert fp.signature.tolist() == expected.tolist()
        alone = fingerprint(text, PARAMS)
        assert fp.signature.tolist() == alone.signature.tolist()
        assert fp.shingles.tolist() == alone.shingles.tolist()


def test_batched_anchors_equal_one_document_at_a_time():
    rng = np.random.default_rng(11)
    sets = [rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(3)
            for n in (0, 7, 900, 3000, 1)]
    sets[3][:64] = sets[3][64:128]  # repeated shingles, as in real pages
    batched = lsh.anchors_many(sets)
    assert [a.tolist() for a in batched] == [lsh.anchors(s, cap=None).tolist() for s in sets]
    assert batched[3].size > 50


def _nfkc_lower(text: str) -> list[int]:
    return list(unicodedata.normalize("NFKC", text).lower().encode("utf-8", "surrogatepass"))


def test_latin1_texts_are_normalised_as_nfkc_then_lower():
    """Every pair of Latin-1 characters, between ASCII letters: the compiled Latin-1
    path (or its fallback, for characters NFKC changes) gives NFKC, then lower case."""
    plain = 0
    for first in range(256):
        for second in range(0, 256, 3):
            text = f"Q{chr(first)}{chr(second)}x"
            assert _normalized_data(text).tolist() == _nfkc_lower(text), repr(text)
            plain += _normalized_buffer(text)[1] >= 0
    assert plain > 20000  # the compiled path, not the fallback, for most of them
    buffer, size = _normalized_buffer("Caf\u00e9 \u00a9 2026\x00\u00c0")
    assert buffer[size:].tolist() == [0] * (buffer.size - size) and buffer.size >= size + 16


_NFKC_POOL = ["\n", "a", "E", " ", "\u0301", "\u0308", "\u0327", "\u0338", "\u0345", "\u1100",
              "\u1161", "\u11a8", "\uac00", "\u00a0", "\ufb01", "\u2126", "\uff0c", "\u2026",
              "\u3000", "\u0399", "\u03a3", "\u0f71", "\u0f72", "\u0f73", "\u09c7", "\u09be",
              "\u1e9b", "\u0323", "\u00b2", "\u0374", "\u0387", "\u00c5", "\u212b", "\x00"]


def test_line_by_line_nfkc_is_the_whole_texts():
    """_nfkc normalises only the lines NFKC changes: the same string as normalising
    the whole text, whatever sits next to a line feed (combining marks before and
    after it, Hangul jamo, compatibility characters), and so the same bytes."""
    rng = random.Random(5)
    for _ in range(20000):
        text = "".join(rng.choice(_NFKC_POOL) for _ in range(rng.randint(0, 30)))
        assert _nfkc(text) == unicodedata.normalize("NFKC", text), repr(text)
    for _ in range(2000):
        text = "".join(chr(rng.choice([rng.randint(0, 0x2FFFF), 10, 10, 0x301]))
                       for _ in range(rng.randint(0, 60)))
        text = text.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
        assert _nfkc(text) == unicodedata.normalize("NFKC", text), repr(text)
        assert nfkc_lower_utf8(text).tolist() == _nfkc_lower(text), repr(text)


_PIECES = ["Hello", "WORLD", "caf\u00e9", "\u00a9", "\u00a0", "\u00b5", "\u00bd", "\u2014", "\u2019s",
           "\u3000", "\uff01", "\u03a3\u0399\u03a3", "\u0130", "stra\u00dfe", "\ufb01ne", "e\u0301",
           "\u65e5\u672c", "x" * 23, "a1b2c3d4e5f6g7h8i9", "12", "-", "\t\n", "\x00", "\u2160"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batched_fingerprints_equal_one_text_at_a_time(seed):
    """Word edges, separators and Unicode breaks at any place in a batch (a break or
    a word at a text's very end or start, texts without words), Latin-1 batches and
    others: a batch gives each text's fingerprint alone, and the anchors of
    fingerprint_batch's layout are those of each text alone."""
    rng = random.Random(seed)
    for _ in range(40):
        pool = _PIECES if rng.random() < 0.5 else [p for p in _PIECES if max(p) < "\u0100"]
        texts = ["".join(rng.choice(pool) + rng.choice(["", " ", ".", "\u00a0"])
                         for _ in range(rng.randint(0, 30))) for _ in range(rng.randint(1, 9))]
        batch = fingerprint_batch(texts, PARAMS)
        keys = lsh.anchors_of_runs(batch.shingles, batch.ends)
        for text, fp, key in zip(texts, batch.prints, keys):
            alone = fingerprint(text.replace("\x00", " ") if len(texts) > 1 else text, PARAMS)
            assert fp.signature.tolist() == alone.signature.tolist()
            assert fp.shingles.tolist() == alone.shingles.tolist()
            assert key.tolist() == lsh.anchors(alone.shingles, cap=None).tolist()
            words = [int(w) for w in word_hashes(text.replace("\x00", " "))]
            assert fp.shingles.tolist() == _plain_shingles(words)


GOLDEN_FIRST_VALUES = [314970150, 64414930, 560668951, 101136961]
