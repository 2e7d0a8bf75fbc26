"""`clearcrawl audit report DIR`: one self-contained HTML page (inline SVG, no scripts,
no network) with removals by reason and by domain, for people who read audits."""

from __future__ import annotations

import html
from collections import Counter

from clearcrawl import reasons

_COLOURS = {"keep": "#2e7d32", "remove": "#c62828", "error": "#6d6d6d"}
_BAR = "#1565c0"


def _bars(title: str, items: list[tuple[str, int]], unit: str, colour: str = _BAR) -> str:
    """A horizontal bar chart as inline SVG."""
    if not items:
        return f"<section><h2>{html.escape(title)}</h2><p>None.</p></section>"
    width, label_w, row_h = 760, 300, 24
    top = max(v for _, v in items) or 1
    height = row_h * len(items) + 10
    rows = []
    for i, (label, value) in enumerate(items):
        y = i * row_h + 5
        bar = max(1, int((width - label_w - 90) * value / top))
        rows.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{html.escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar}" height="{row_h - 8}" '
            f'fill="{colour}"><title>{html.escape(label)}: {value:,} {unit}</title></rect>'
            f'<text x="{label_w + bar + 6}" y="{y + 16}">{value:,}</text>')
    return (f"<section><h2>{html.escape(title)}</h2>"
            f'<svg role="img" aria-label="{html.escape(title)}" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}">{"".join(rows)}</svg></section>')


def render(manifest: dict, rows: list[dict], top: int = 15) -> str:
    decisions = Counter(r["decision"] for r in rows)
    by_kind: Counter = Counter()
    removed_domains: Counter = Counter()
    kept_bytes: Counter = Counter()
    for row in rows:
        if row["decision"] == reasons.REMOVE:
            by_kind.update({r["kind"] for r in row["reasons"]})
            removed_domains[row["registered_domain"] or "(no domain)"] += 1
        elif row["decision"] == reasons.KEEP:
            kept_bytes[row["registered_domain"] or "(no domain)"] += row["text_bytes"] or 0
    kinds = [(k, by_kind[k]) for k in reasons.ALL_KINDS if by_kind.get(k)]
    summary = "".join(
        f'<div class="tile" style="border-color:{_COLOURS[d]}"><b>{decisions.get(d, 0):,}'
        f"</b><span>{label}</span></div>"
        for d, label in (("keep", "kept"), ("remove", "removed"), ("error", "unreadable")))
    ids = (f"run <code>{html.escape(manifest['run_id'])}</code> · registry "
           f"<code>{html.escape(manifest['registry_id'][:16])}</code> · policy "
           f"<code>{html.escape(manifest['policy_id'][:16])}</code> · ledger root "
           f"<code>{html.escape(manifest['ledger_root'][:16])}</code>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>clearcrawl report: {html.escape(manifest['run_id'])}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 820px; color: #222; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.1rem; margin-top: 2rem; }}
code {{ font-size: 0.85em; }} svg text {{ font: 13px system-ui, sans-serif; fill: #222; }}
.tiles {{ display: flex; gap: 1rem; }}
.tile {{ border-left: 6px solid; padding: 0.4rem 0.8rem; background: #f6f6f6; }}
.tile b {{ display: block; font-size: 1.4rem; }}
</style></head><body>
<h1>clearcrawl run report</h1>
<p>{ids}</p>
<div class="tiles">{summary}</div>
{_bars("Documents removed, by reason", kinds, "documents", _COLOURS["remove"])}
{_bars(f"Domains with the most removed documents (top {top})",
       sorted(removed_domains.items(), key=lambda kv: (-kv[1], kv[0]))[:top], "documents",
       _COLOURS["remove"])}
{_bars(f"Domains with the most kept text (top {top}, bytes)",
       sorted(kept_bytes.items(), key=lambda kv: (-kv[1], kv[0]))[:top], "bytes",
       _COLOURS["keep"])}
<p>A document removed for several reasons counts under each. Generated offline from the
ledger; verify the folder with <code>clearcrawl audit verify</code>.</p>
</body></html>
"""
