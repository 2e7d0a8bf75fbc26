"""robots.txt parse + lookups on the whole real corpus, against Protego, by size class.

Every file of the corpus (4,231 robots.txt of the 2019 top sites) is parsed once and
asked about URLs made from its own rule paths (so lookups hit the rules a site really
wrote, not paths no rule mentions), for three agents: two training crawlers and one
that only the `*` group covers. Files are grouped into size classes by their number of
allow/disallow lines; each class is timed for clearcrawl and for Protego on the same
queries, and the ratio is Protego's time over ours (above 1: clearcrawl is faster).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from timing import best_time

AGENTS = ("GPTBot", "CCBot", "Googlebot")
QUERIES_PER_FILE = 36
# Upper bounds (inclusive) of allow/disallow lines per class.
SIZE_CLASSES = ((0, "0 rules"), (10, "1-10 rules"), (100, "11-100 rules"),
                (1000, "101-1,000 rules"), (10**9, "over 1,000 rules"))
_RULE = re.compile(rb"^\s*(?:allow|disallow)\s*:?\s*([^\s#]*)", re.I | re.M)


def corpus_folder(shared: Path) -> Path:
    return shared / "robots-corpus" / "protego-top-sites-2019" / "robots"


def queries_for(host: str, body: bytes, rng: random.Random) -> list[str]:
    """URLs on `host` made from the file's own rule paths: the path itself (`*` filled
    in, `$` dropped), a page below it and its parent folder."""
    paths = [m.group(1).decode("utf-8", "replace") for m in _RULE.finditer(body)]
    paths = [p for p in paths if p.startswith("/")] or ["/"]
    chosen = rng.sample(paths, min(len(paths), QUERIES_PER_FILE // 3))
    urls = []
    for path in chosen:
        filled = path.replace("*", "x1").rstrip("$")
        parent = filled[:filled.rstrip("/").rfind("/") + 1] or "/"
        urls += [f"https://{host}{filled}", f"https://{host}{filled}page-2.html?id=7",
                 f"https://{host}{parent}"]
    return urls


def size_class(body: bytes) -> str:
    rules = len(_RULE.findall(body))
    for bound, name in SIZE_CLASSES:
        if rules <= bound:
            return name
    return SIZE_CLASSES[-1][1]


def load_corpus(shared: Path, seed: int = 20261203) -> dict[str, list[tuple[bytes, str, list]]]:
    """{size class: [(body, decoded text, queries)]} for every file of the corpus."""
    rng = random.Random(seed)
    classes: dict[str, list] = {name: [] for _, name in SIZE_CLASSES}
    for path in sorted(corpus_folder(shared).iterdir()):
        body = path.read_bytes()
        host = path.name.replace("_", ":")
        classes[size_class(body)].append(
            (body, body.decode("utf-8", "replace"), queries_for(host, body, rng)))
    return classes


def bench_robots_corpus(shared: Path) -> dict:
    from protego import Protego

    from clearcrawl.core.robots import RobotsTxt

    classes = load_corpus(shared)

    def ours(files):
        for body, _, urls in files:
            robots = RobotsTxt(body)
            for url in urls:
                for agent in AGENTS:
                    robots.allowed(agent, url)

    def protego(files):
        for _, text, urls in files:
            parser = Protego.parse(text)
            for url in urls:
                for agent in AGENTS:
                    parser.can_fetch(url, agent)

    result = {}
    for name, files in classes.items():
        if not files:
            continue
        lookups = sum(len(urls) for _, _, urls in files) * len(AGENTS)
        t_ours = best_time(lambda files=files: ours(files))
        t_protego = best_time(lambda files=files: protego(files))
        result[name] = {"files": len(files), "lookups": lookups, "ours_s": t_ours,
                        "protego_s": t_protego, "ours_files_per_s": len(files) / t_ours,
                        "protego_files_per_s": len(files) / t_protego,
                        "ratio": t_protego / t_ours}
    total_ours = sum(c["ours_s"] for c in result.values())
    total_protego = sum(c["protego_s"] for c in result.values())
    return {"classes": result, "files": sum(c["files"] for c in result.values()),
            "lookups": sum(c["lookups"] for c in result.values()),
            "ours_s": total_ours, "protego_s": total_protego,
            "ratio": total_protego / total_ours,
            "slowest_class_ratio": min(c["ratio"] for c in result.values())}
