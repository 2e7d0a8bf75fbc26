"""Reproduces a loss of shuffled rows in Beam's local runner with two worker processes
(FnApiRunner, `--direct_num_workers 2 --direct_running_mode multi_processing`):
a CoGroupByKey of four inputs, one of them carrying ~1 GB, passes on fewer rows than
its inputs hold. With one worker the same graph loses nothing.

    .venv/bin/python bench/local_shuffle_loss.py [keys] [bytes a value] [workers] [checked]

Prints each input's rows as the CoGroupByKey passed them on, against the rows made;
with `checked` 1, also what clearcrawl's shuffle check (beam/shuffle_check.py, as the
commit step judges it) says of the same CoGroupByKey.
Measured here (apache-beam 2.77, 2 cores, 2026-12-04), with the defaults (150,000 keys
of 9,000 bytes, two workers): one run lost 75,000 rows of input c (one worker's whole
output), 3,480 of a and 1,500 of d; the run before lost none; a variant of this graph
lost 9,809 rows of b. One worker lost none. Small values (150,000 keys of 10 bytes) or
fewer keys (60,000) lost none in our runs: the loss comes with volume, and it is
intermittent. With `checked` 1 (2026-12-04, three runs): two lost rows (a 108,640, c
75,000, d 1,500 of 3,000; then a 110,200, c 0) and the check named each input with
exactly those counts; the third lost none and the check said so. This is why refilter runs in one local process unless told otherwise, and why
it checks that its join passed on every row (clearcrawl.beam.refilter.join_losses).
"""

from __future__ import annotations

import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

INPUTS = "abcd"


def _rows(seed: int, name: str, keys: int, size: int):
    for i in range(seed, keys, 8):
        if name == "d" and i % 50:
            continue
        value = {"a": {"text": "x" * size}, "b": {"signature": b"y" * 1024},
                 "c": {"decision": "keep"}, "d": {"error": "e"}}[name]
        yield f"k{i:08d}", value


def main(keys: int = 150_000, size: int = 9000, workers: int = 2, checked: int = 0) -> None:
    from clearcrawl.beam.shuffle_check import ShuffleCounts, shuffle_losses

    shuffles = ShuffleCounts()
    options = PipelineOptions(["--direct_num_workers", str(workers),
                               "--direct_running_mode",
                               "multi_processing" if workers > 1 else "in_memory"])
    with beam.Pipeline(options=options) as pipeline:
        inputs = {name: (pipeline
                         | f"Seeds{name}" >> beam.Create(range(8))
                         | f"Spread{name}" >> beam.Reshuffle()
                         | f"Rows{name}" >> beam.FlatMap(_rows, name, keys, size))
                  for name in INPUTS}
        joined = (shuffles.co_group_by_key("Join", inputs) if checked
                  else inputs | beam.CoGroupByKey())
        counted = (joined
                   | beam.FlatMap(lambda kv: [(n, len(kv[1][n])) for n in INPUTS])
                   | beam.CombinePerKey(sum))
        _ = counted | beam.Map(lambda kv: print(f"{kv[0]}: {kv[1]} rows passed on of "
                                                f"{keys // 50 if kv[0] == 'd' else keys}",
                                                flush=True))
        if checked:
            _ = (shuffles.tallies(pipeline) | "AllTallies" >> beam.combiners.ToList()
                 | "Judge" >> beam.Map(lambda tallies: print(
                     "shuffle check: " + ("; ".join(shuffle_losses(tallies)) or "nothing lost"),
                     flush=True)))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
