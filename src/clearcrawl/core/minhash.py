"""Text fingerprints: normalised word n-gram shingles and MinHash signatures, vectorised.

Everything works on the UTF-8 bytes of a batch of documents, never a Python call
per word or shingle:

- normalise (NumPy): NFKC (non-ASCII text only), lower-case, Unicode punctuation
  and every ASCII byte that is not a letter or digit become word breaks;
- then one pass compiled by Numba for the whole batch:
  - word hashes: each word read 8 bytes at a time (little-endian, zero past its
    end), multiplied and mixed (splitmix64);
  - shingles: n consecutive word hashes combined and mixed (splitmix64);
  - signature: for each permutation k, min over shingles of (a_k * x + b_k) mod
    2^32 with x the high 32 bits of the shingle hash (NumPy would need three
    passes over a temporary array).

The parameters (scheme, seed, shingle size, permutations) are stored with every
signature set; sets built with different parameters are never compared.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import asdict, dataclass
from functools import cached_property

import numba
import numpy as np

SCHEME = "clearcrawl-minhash/1: nfkc-lower-words, 8-byte-chunk words, splitmix64 shingles, " \
    "(a*x+b) mod 2^32 permutations"
_U64 = np.uint64
_MASK64 = (1 << 64) - 1
# Unicode punctuation, symbols and spaces would otherwise glue words together
# (curly quotes, dashes, no-break spaces, ideographic punctuation). They are found
# in the UTF-8 bytes: (lead byte, lowest second byte, highest second byte, length).
_UNICODE_BREAKS = (
    (0xC2, 0xA0, 0xBF, 2),   # U+00A0-00BF: no-break space, guillemets, inverted marks
    (0xE2, 0x80, 0x81, 3),   # U+2000-207F: spaces, dashes, quotes, bullets, ellipsis
    (0xE2, 0x86, 0xAF, 3),   # U+2180-2BFF: arrows, maths and technical symbols, boxes
    (0xE3, 0x80, 0x80, 3),   # U+3000-303F: ideographic space and punctuation
    (0xEF, 0xBC, 0xBC, 3),   # U+FF00-FF3F: full-width punctuation (and A-Z, rare)
)
# Indexed by (lead byte << 8 | second byte): the sequence length of a break, else 0.
_BREAK_LENGTH = np.zeros(1 << 16, np.uint8)
for _lead, _low, _high, _length in _UNICODE_BREAKS:
    _BREAK_LENGTH[(_lead << 8) | _low: ((_lead << 8) | _high) + 1] = _length


class IncompatibleSignatures(ValueError):
    """Two signature sets were built with different parameters."""


def _splitmix64(state: int) -> tuple[int, int]:
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on a uint64 array."""
    x ^= x >> _U64(30)
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


@dataclass(frozen=True)
class MinHashParams:
    num_perm: int = 128
    shingle_size: int = 5
    seed: int = 1
    scheme: str = SCHEME

    def __post_init__(self):
        if not 16 <= self.num_perm <= 1024:
            raise ValueError("num_perm must be between 16 and 1024")
        if not 1 <= self.shingle_size <= 16:
            raise ValueError("shingle_size must be between 1 and 16")

    def as_dict(self) -> dict:
        from clearcrawl import __version__

        return {**asdict(self), "library": "clearcrawl", "version": __version__}

    @classmethod
    def from_dict(cls, data: dict) -> MinHashParams:
        return cls(int(data["num_perm"]), int(data["shingle_size"]), int(data["seed"]),
                   str(data["scheme"]))

    def require_same(self, other: MinHashParams) -> None:
        if self != other:
            raise IncompatibleSignatures(
                f"signatures built with different parameters: {self} vs {other}; "
                "rebuild the registry snapshot with this version's parameters")

    @cached_property
    def _coefficients(self) -> tuple[np.ndarray, np.ndarray, list[np.uint64]]:
        """Permutations (a odd, b) and shingle multipliers, from the seed alone.

        Derived with splitmix64 in Python rather than NumPy's generators, whose
        streams may change between NumPy versions: signatures must not.
        """
        state = self.seed & _MASK64
        values = []
        for _ in range(2 * self.num_perm + self.shingle_size):
            state, value = _splitmix64(state)
            values.append(value)
        a = np.array([(v & 0xFFFFFFFF) | 1 for v in values[: self.num_perm]], np.uint32)
        b = np.array([v & 0xFFFFFFFF for v in values[self.num_perm: 2 * self.num_perm]],
                     np.uint32)
        multipliers = [_U64(v | 1) for v in values[2 * self.num_perm:]]
        return a[:, None], b[:, None], multipliers

    @cached_property
    def _shingle_multipliers(self) -> np.ndarray:
        return np.array(self._coefficients[2], np.uint64)

    @cached_property
    def _kernel_coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """The permutations as contiguous uint32 vectors, for the compiled kernel."""
        a, b, _ = self._coefficients
        return np.ascontiguousarray(a[:, 0]), np.ascontiguousarray(b[:, 0])


# Word hashing reads each word 8 bytes at a time, little-endian, zero past its end.
_CHUNK_MULTIPLIERS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                               0xD6E8FEB86659FD93], np.uint64)


_SIGMA = "\u03a3"  # lower-cases by context (final sigma): never lowered piecewise


def _lowered_by_str(text: str) -> np.ndarray:
    return np.frombuffer(text.lower().encode("utf-8", "surrogatepass"), np.uint8)


def nfkc_lower_utf8(text: str) -> np.ndarray:
    """UTF-8 bytes of `unicodedata.normalize("NFKC", text).lower()`, without a pass of
    either over a whole text for its few non-ASCII characters. ASCII is lowered by
    bytes.lower; each run of non-ASCII characters is checked for NFKC together with
    the ASCII character before it (NFKC never changes or reorders an ASCII character,
    nor composes one onto what precedes it, so the text splits into such segments)
    and lowered by str.lower. Falls back to the whole-text functions for dense
    non-ASCII text, for a run that is not in NFKC, and whenever a run would change
    length or holds a capital sigma (final sigma depends on context)."""
    raw = text.encode("utf-8", "surrogatepass")
    data = np.frombuffer(raw, np.uint8)
    high = np.empty(data.size + 1, bool)
    high[0] = False
    np.greater_equal(data, 128, out=high[1:])
    edges = np.flatnonzero(high[1:] != high[:-1]).tolist()  # run starts and ends
    if len(edges) > data.size // 32:
        return _lowered_by_str(_nfkc(text))
    lowered = bytearray(raw.lower())  # A-Z only
    edges.append(data.size)
    for start, end in zip(edges[0::2], edges[1::2]):
        run = raw[start:end].decode("utf-8", "surrogatepass")  # whole characters only
        if not unicodedata.is_normalized("NFKC", raw[max(start - 1, 0):start].decode() + run):
            return _lowered_by_str(_nfkc(text))
        small = run.lower()
        if small == run:
            continue
        encoded = small.encode("utf-8", "surrogatepass")
        if len(encoded) != end - start or _SIGMA in run:
            return _lowered_by_str(_nfkc(text))
        lowered[start:end] = encoded
    return np.frombuffer(lowered, np.uint8)


def _nfkc(text: str) -> str:
    """NFKC of the text, normalising only the lines that need it (a no-break space, a
    full-width comma): a line feed never composes, decomposes or reorders with its
    neighbours, so each line normalised alone gives the same string."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    return "\n".join(line if unicodedata.is_normalized("NFKC", line)
                     else unicodedata.normalize("NFKC", line) for line in text.split("\n"))


def _latin1_tables() -> tuple[np.ndarray, np.ndarray]:
    """For each Latin-1 character: the UTF-8 bytes of its lower case (one byte for
    ASCII, two otherwise), and whether NFKC keeps it and lower-cases it alone (no
    Latin-1 character composes with another under NFKC: none is a combining mark)."""
    utf8 = np.zeros((256, 2), np.uint8)
    plain = np.zeros(256, np.uint8)
    for code in range(256):
        char = chr(code)
        small = char.lower()
        encoded = small.encode()
        if len(small) == 1 and len(encoded) == (1 if code < 128 else 2) and (
                unicodedata.is_normalized("NFKC", char)):
            utf8[code, : len(encoded)] = list(encoded)
            plain[code] = 1
    return utf8, plain


_LATIN1_UTF8, _LATIN1_PLAIN = _latin1_tables()
_PADDING = 16  # zero bytes after the text: a word's chunks are read 8 bytes at a time


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _latin1_lower_utf8(source, utf8, plain):  # pragma: no cover - compiled
    """(buffer, size): the lower-cased UTF-8 of the Latin-1 bytes `source` in
    buffer[:size], then _PADDING zero bytes; size -1 if a character is not `plain`
    (NFKC would change it, or its lower case is not one character). The few
    non-ASCII bytes are found block by block (a sum that vectorises), then the ASCII
    runs between them are lower-cased and copied in loops that vectorise."""
    size = source.size
    high = 0
    for p in range(size):
        high += source[p] >> 7
    buffer = np.zeros(size + high + _PADDING, np.uint8)
    positions = np.empty(high + 1, np.int64)  # of the non-ASCII bytes, then size
    found = 0
    # Loops over slices from 0: numba checks a computed index for negative values
    # (wraparound), which keeps LLVM from vectorising the loop.
    if high:
        for block in range(0, size, 1024):
            part = source[block: block + 1024]
            seen = 0
            for i in range(part.size):
                seen += part[i] >> 7
            if seen:
                for i in range(part.size):
                    if part[i] >= 128:
                        positions[found] = block + i
                        found += 1
    positions[high] = size
    start = 0
    for j in range(high + 1):
        end = positions[j]
        run = source[start:end]  # ASCII: A-Z lower-cased
        out = buffer[start + j: end + j]
        for i in range(run.size):
            c = run[i]
            out[i] = c + np.uint8(32) * (np.uint8(c - np.uint8(65)) < 26)
        if j < high:
            c = source[end]
            if not plain[c]:
                return buffer, -1
            buffer[end + j] = utf8[c, 0]
            buffer[end + j + 1] = utf8[c, 1]
            start = end + 1
    return buffer, size + high


def _normalized_buffer(text: str) -> tuple[np.ndarray, int]:
    """(buffer, size): the UTF-8 bytes of the NFKC-normalised, lower-cased text in
    buffer[:size], then _PADDING zero bytes. A text of Latin-1 characters only (ASCII
    among them) is encoded as Latin-1 (a copy of the string's own bytes) and turned
    into lower-cased UTF-8 in one compiled pass, NFKC having nothing to do on it."""
    try:
        source = text.encode("latin-1")
    except UnicodeEncodeError:
        source = None
    if source is not None:
        buffer, size = _latin1_lower_utf8(np.frombuffer(source, np.uint8), _LATIN1_UTF8,
                                          _LATIN1_PLAIN)
        if size >= 0:
            return buffer, size
    data = nfkc_lower_utf8(text)
    buffer = np.zeros(data.size + _PADDING, np.uint8)
    buffer[: data.size] = data
    return buffer, data.size


def _normalized_data(text: str) -> np.ndarray:
    """UTF-8 bytes of the NFKC-normalised, lower-cased text."""
    buffer, size = _normalized_buffer(text)
    return buffer[:size]


def normalized_bytes(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes of the NFKC-normalised, lower-cased text, word-byte mask padded by one
    False each side)."""
    ascii_only = text.isascii()
    data = _normalized_data(text)
    padded = np.zeros(data.size + 2, bool)
    word = padded[1:-1]
    np.less(data - np.uint8(97), 26, out=word)   # a-z (uint8 arithmetic wraps)
    word |= (data - np.uint8(48)) < 10          # 0-9
    if not ascii_only:
        word |= data >= 128                      # letters of every script...
        leads = np.flatnonzero(data[:-1] >= 0xC2)  # ...but not punctuation
        if leads.size:
            pairs = (data[leads].astype(np.uint16) << 8) | data[leads + 1]
            lengths = _BREAK_LENGTH[pairs]
            for offset in range(3):
                at = leads[lengths > offset] + offset
                word[at[at < data.size]] = False
    return data, padded


def normalized_text_sha256(text: str) -> str:
    """sha256 hex of the normalised text: its words joined by single spaces.

    Two texts that differ only in case, punctuation or spacing share it, and
    anyone can recompute it: lower-case, split on non-letters, join with ' '.
    """
    data, padded = normalized_bytes(text)
    word = padded[1:-1]
    starts = np.flatnonzero(word & ~padded[:-2])
    joined = np.where(word, data, np.uint8(32))
    keep = word.copy()
    keep[starts[1:] - 1] = True  # one space before every word but the first
    return hashlib.sha256(joined[keep].tobytes()).hexdigest()


_LENGTH_MASKS = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [(1 << 64) - 1], np.uint64)


@numba.njit(cache=True, nogil=True, inline="always")
def _word_hash(chunks, start, length, masks, multipliers):  # pragma: no cover - compiled
    """The word at bytes [start, start + length): its first 8 bytes (read through
    `chunks`, an overlapping uint64 view, masked to the word) times multipliers[0]
    plus its length; then each further 8-byte chunk folded in as
    (h * multipliers[chunk % 4] + chunk) rotated left by 27. Not yet mixed."""
    h = (chunks[start] & masks[min(length, 8)]) * multipliers[0] + np.uint64(length)
    # The second chunk is folded in always and kept only for a word of more than 8
    # bytes: a select, not a branch the word lengths would mispredict.
    folded = h * multipliers[1] + (chunks[start + 8] & masks[min(max(length - 8, 0), 8)])
    second = (folded << np.uint64(27)) | (folded >> np.uint64(37))
    h = second if length > 8 else h
    offset = 16
    while length > offset:
        part = chunks[start + offset] & masks[min(length - offset, 8)]
        folded = h * multipliers[(offset // 8) % 4] + part
        h = (folded << np.uint64(27)) | (folded >> np.uint64(37))
        offset += 8
    return h


@numba.njit(cache=True, nogil=True, inline="always")
def _mixed(x):  # pragma: no cover - compiled
    """splitmix64's finaliser of one uint64 (`_mix` for arrays)."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _word_hash_kernel(chunks, starts, ends, masks, multipliers, hashes):  # pragma: no cover
    for w in range(starts.size):
        hashes[w] = _mixed(_word_hash(chunks, starts[w], ends[w] - starts[w], masks,
                                      multipliers))


def _chunks(data: np.ndarray) -> np.ndarray:
    """One uint64 per byte offset of `data` (overlapping, little-endian, zero past the
    end): a word's 8-byte chunks."""
    buffer = np.zeros(data.size + _PADDING, np.uint8)
    buffer[: data.size] = data
    return _chunks_of(buffer, data.size)


def _chunks_of(buffer: np.ndarray, size: int) -> np.ndarray:
    """`_chunks` of buffer[:size], followed in `buffer` by _PADDING zero bytes:
    size + 8 chunks, since a word's second chunk is read even past the end (unused)."""
    return np.ndarray(shape=(size + 8,), dtype="<u8", buffer=buffer, strides=(1,))


def word_count(text: str) -> int:
    """Words of the normalised text (as many as `word_hashes` gives, without hashing)."""
    padded = normalized_bytes(text)[1]
    return int(np.count_nonzero(padded[1:] & ~padded[:-1]))


def word_hashes(text: str) -> np.ndarray:
    """uint64 hash per word of the normalised text, in order."""
    data, padded = normalized_bytes(text)
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    hashes = np.empty(edges.size // 2, np.uint64)
    _word_hash_kernel(_chunks(data), edges[0::2], edges[1::2], _LENGTH_MASKS,
                      _CHUNK_MULTIPLIERS, hashes)
    return hashes


_EMPTY_SIGNATURE_VALUE = np.uint32(0xFFFFFFFF)


@numba.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _is_word_byte(c):  # pragma: no cover - compiled
    """a-z, 0-9 or any non-ASCII byte (lower-cased data: A-Z are gone), as 0 or 1."""
    return np.uint8((np.uint8(c - np.uint8(97)) < 26) | (np.uint8(c - np.uint8(48)) < 10)
                    | (c >= 128))


_BLOCK = 64  # bytes per block of the search for rare bytes (separators, breaks)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _word_edges(data, split, break_length, texts):  # pragma: no cover - compiled
    """(edges, text_words) of the normalised batch `data`: word w spans bytes
    [edges[2w], edges[2w + 1]), the words of text t are text_words[t] to
    text_words[t + 1]. The word bytes are those of `normalized_bytes`'s mask: a-z,
    0-9 and non-ASCII bytes, but not a Unicode break sequence (`break_length`, by its
    first two bytes) nor, if `split`, the NUL bytes that separate texts. Passes over
    the whole batch that vectorise (or branch only on rare bytes), not a branch per
    byte: a word edge is a coin toss to the branch predictor."""
    size = data.size
    flags = np.empty(size + 2, np.uint8)  # flags[p + 1]: byte p is in a word
    flags[0] = 0
    flags[size + 1] = 0
    # Loops over slices from 0: numba checks a computed index for negative values
    # (wraparound), which keeps LLVM from vectorising the loop.
    inner = flags[1: size + 1]
    for i in range(size):
        inner[i] = _is_word_byte(data[i])
    separators = np.empty(texts, np.int64)
    found = 0
    for block in range(0, size, _BLOCK):
        stop = min(block + _BLOCK, size)
        part = data[block:stop]
        rare = 0
        for i in range(part.size):
            rare += (part[i] == 0) | (part[i] >= 0xC2)
        if rare == 0:
            continue
        for p in range(block, stop):
            c = data[p]
            if c == 0:
                if split and found < texts:
                    separators[found] = p
                    found += 1
            elif c >= 0xC2 and p + 1 < size:
                skip = break_length[(np.intp(c) << 8) | np.intp(data[p + 1])]
                for q in range(p, min(p + skip, size)):
                    flags[q + 1] = 0
    edges = np.empty(size + 2, np.int64)
    count = 0
    before, after = flags[: size + 1], flags[1:]
    for p in range(size + 1):
        edges[count] = p
        count += before[p] != after[p]
    # Words of each text: those that start before its separator.
    text_words = np.empty(texts + 1, np.int64)
    text_words[0] = 0
    w = 0
    words = count // 2
    for t in range(texts - 1):
        while w < words and edges[2 * w] < separators[t]:
            w += 1
        text_words[t + 1] = w
    text_words[texts] = words
    return edges, text_words


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _fingerprint_kernel(data, chunks, split, break_length, masks, chunk_multipliers,
                        shingle_multipliers, a, b, sigs):  # pragma: no cover - compiled
    """Words (`_word_edges`), word hashes, shingles and signatures of a batch of texts
    in one compiled call, over the normalised bytes `data` (texts separated by a NUL
    byte if `split`). Each n words in a row of one text give the shingle
    mix(sum_k word[i + k] * shingle_multipliers[k]); a text of fewer than n words (but
    some) gives one, over all its words. Returns (shingles, text after text, in an
    array of at most one per word; where each text's run ends). sigs[t, k] = min over
    text t's shingles of (a[k] * x + b[k]) mod 2^32, x a shingle's high 32 bits, in
    uint32 arithmetic (whose wraparound is the mod 2^32; the loop over permutations
    vectorises)."""
    n = shingle_multipliers.size
    texts = sigs.shape[0]
    edges, text_words = _word_edges(data, split, break_length, texts)
    ends_out = np.empty(texts, np.int64)
    shingles = np.empty(text_words[texts], np.uint64)
    longest = 0
    for t in range(texts):
        longest = max(longest, text_words[t + 1] - text_words[t])
    words = np.empty(longest, np.uint64)  # one text's word hashes
    out = 0
    for t in range(texts):
        first_word = text_words[t]
        count = text_words[t + 1] - first_word
        for j in range(count):
            start = edges[2 * (first_word + j)]
            words[j] = _mixed(_word_hash(chunks, start, edges[2 * (first_word + j) + 1] - start,
                                         masks, chunk_multipliers))
        first = out
        if count >= n:
            # Shingle by shingle multiplier, so each loop over the shingles vectorises.
            m = count - n + 1
            run = shingles[out:out + m]
            first_multiplier = shingle_multipliers[0]
            for i in range(m):
                run[i] = words[i] * first_multiplier
            for k in range(1, n):
                multiplier = shingle_multipliers[k]
                later = words[k: k + m]
                for i in range(m):
                    run[i] += later[i] * multiplier
            for i in range(m):
                run[i] = _mixed(run[i])
            out += m
        elif count > 0:
            combined = np.uint64(0)
            for k in range(count):
                combined += words[k] * shingle_multipliers[k]
            shingles[out] = _mixed(combined)
            out += 1
        row = sigs[t]
        # Four shingles per pass over the permutations: a, b and the row are loaded
        # and stored a quarter as often.
        i = first
        while i + 4 <= out:
            x0 = np.uint32(shingles[i] >> np.uint64(32))
            x1 = np.uint32(shingles[i + 1] >> np.uint64(32))
            x2 = np.uint32(shingles[i + 2] >> np.uint64(32))
            x3 = np.uint32(shingles[i + 3] >> np.uint64(32))
            for k in range(a.size):
                ak, bk = a[k], b[k]
                v0 = min(np.uint32(np.uint32(ak * x0) + bk), np.uint32(np.uint32(ak * x1) + bk))
                v1 = min(np.uint32(np.uint32(ak * x2) + bk), np.uint32(np.uint32(ak * x3) + bk))
                row[k] = min(row[k], min(v0, v1))
            i += 4
        while i < out:
            x = np.uint32(shingles[i] >> np.uint64(32))
            for k in range(a.size):
                row[k] = min(row[k], np.uint32(np.uint32(a[k] * x) + b[k]))
            i += 1
        ends_out[t] = out
    return shingles, ends_out


@dataclass(frozen=True)
class Fingerprint:
    """What content matching needs of one text: its signature and shingle hashes.

    `shingles` may repeat; `shingle_set` (sorted, unique) is built on first use,
    since most documents never reach exact verification.
    """

    signature: np.ndarray      # uint32[num_perm]
    shingles: np.ndarray       # uint64 shingle hashes, in text order

    @property
    def empty(self) -> bool:
        return self.shingles.size == 0

    @cached_property
    def shingle_set(self) -> np.ndarray:
        return np.unique(self.shingles)


@dataclass(frozen=True)
class FingerprintBatch:
    """Fingerprints of a batch of texts, with their shingles in one array (text after
    text; each fingerprint's are a view of it), for batch-wide passes such as anchors."""

    prints: list[Fingerprint]
    shingles: np.ndarray   # uint64, every text's shingles in order
    ends: np.ndarray       # int64[texts]: where each text's shingles end in `shingles`


def fingerprint(text: str, params: MinHashParams) -> Fingerprint:
    return fingerprint_many([text], params)[0]


def fingerprint_many(texts: list[str], params: MinHashParams) -> list[Fingerprint]:
    return fingerprint_batch(texts, params).prints


def fingerprint_batch(texts: list[str], params: MinHashParams) -> FingerprintBatch:
    """Fingerprints of a batch of texts, identical to one at a time: normalised in
    one pass over the whole batch (a NumPy call costs about a microsecond, and a page
    would need dozens of them), then split into words, hashed, shingled and signed in
    one compiled call (`_fingerprint_kernel`)."""
    if not texts:
        return FingerprintBatch([], np.zeros(0, np.uint64), np.zeros(0, np.int64))
    split = len(texts) > 1
    if split:
        texts = [t.replace("\x00", " ") if "\x00" in t else t for t in texts]
    buffer, size = _normalized_buffer("\x00".join(texts))
    data = buffer[:size]
    a, b = params._kernel_coefficients
    sigs = np.full((len(texts), params.num_perm), _EMPTY_SIGNATURE_VALUE, np.uint32)
    shingles, ends = _fingerprint_kernel(data, _chunks_of(buffer, size), split, _BREAK_LENGTH,
                                         _LENGTH_MASKS, _CHUNK_MULTIPLIERS,
                                         params._shingle_multipliers, a, b, sigs)
    bounds = ends.tolist()
    shingles = shingles[: bounds[-1]]
    prints = [Fingerprint(sig, shingles[first:end])
              for sig, first, end in zip(sigs, [0, *bounds[:-1]], bounds)]
    return FingerprintBatch(prints, shingles, ends)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / a.size


def overlap(a: np.ndarray, b: np.ndarray) -> int:
    """Shared elements of two sorted unique arrays."""
    if a.size > b.size:
        a, b = b, a
    if a.size == 0:
        return 0
    positions = np.searchsorted(b, a)
    positions[positions == b.size] = 0
    return int(np.count_nonzero(b[positions] == a))


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    shared = overlap(a, b)
    union = a.size + b.size - shared
    return shared / union if union else 0.0


def to_datasketch(sig: np.ndarray, params: MinHashParams):
    """A datasketch MinHash holding this signature, for interoperability.

    Our permutations are datasketch 2's "affine32" family ((a*x + b) mod 2^32,
    same empty value), with our own coefficients, so `jaccard()`, LeanMinHash
    and MinHashLSH work on exported signatures when both sides came from
    clearcrawl. Do not `update()` an exported object: datasketch would hash new
    data with its own coefficients.
    """
    from datasketch import MinHash

    return MinHash(num_perm=params.num_perm, seed=params.seed, scheme="affine32",
                   hashvalues=sig.astype(np.uint32))
