"""CPU a page per step of the flow, from a py-spy profile of a one-process run.

    py-spy record --format raw --rate 200 --subprocesses -o run.raw -- \
        python -m clearcrawl.cli run ... --direct_num_workers 1
    python bench/step_profile.py run.raw PAGES CPU_SECONDS

CPU_SECONDS is the user + sys time of the same run without the profiler: it is split
in proportion to the samples. A sample belongs to the step whose DoFn is on its stack;
the read and decide steps are split by the deepest clearcrawl frame. Stacks outside a
bundle are the launcher's (start-up, imports, building the graph): a fixed cost, not a
page's. docs/scale.md gives the figures of one such profile.
"""

from __future__ import annotations

import collections
import sys

LAUNCHER = "launcher (start-up, imports, graph, waits)"


def step_of(frames: list[str]) -> str:
    if not any("process_bundle" in frame for frame in frames):
        return LAUNCHER
    ours = [frame for frame in frames if "clearcrawl/" in frame]
    joined = ";".join(ours)
    deepest = ours[-1] if ours else ""
    if "clearcrawl/beam/commit.py" in joined:
        return "commit (bucket roots, manifest)"
    if "FinalizeStagedFn" in joined:
        return "finalize: write ledger, data, signatures, errors"
    if "clearcrawl/beam/match_works.py" in joined:
        return "works join (band keys)"
    if "clearcrawl/beam/propagate_removals.py" in joined or "propagation_pairs" in joined:
        return "propagation shuffle (band keys)"
    if "StageDecidedFn" in joined:
        return "stage decided (Arrow IPC)"
    if "clearcrawl/beam/crawl_robots.py" in joined or "robots_captures" in joined:
        return "collect evidence: robots join (spill, pair in force)"
    if "CollectEvidenceFn" in joined:
        if "minhash.py" in deepest or "lsh.py" in deepest:
            return "MinHash fingerprint + LSH keys"
        if "works.py" in deepest or "crossmatch.py" in deepest:
            return "works match"
        return "collect evidence: rules, signals, robots, policy"
    if "ReadShardFn" in joined or "clearcrawl/io/readers.py" in joined:
        if "io/warc.py" in deepest:
            return "read: WARC framing + inflate"
        if "core/html.py" in deepest:
            return "read: HTML to text"
        return "read: build document (headers, URL, ids)"
    return "Beam itself (coders, bundles, local shuffle)"


def main(raw: str, pages: int, cpu_seconds: float) -> None:
    samples: collections.Counter[str] = collections.Counter()
    for line in open(raw):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        samples[step_of(stack.split(";"))] += int(count)
    total = sum(samples.values())
    print("| step | share of samples | µs a page |\n|---|---|---|")
    for step, count in samples.most_common():
        share = count / total
        cost = f"{cpu_seconds * share:.1f} s in all" if step == LAUNCHER else \
            f"{cpu_seconds * share / pages * 1e6:,.0f}"
        print(f"| {step} | {100 * share:.1f} % | {cost} |")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
