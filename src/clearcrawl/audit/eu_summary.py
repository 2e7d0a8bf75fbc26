"""The parts of the EU AI Office's public summary template that the ledger can fill.

Section 1.3 (size of the training text, as a range), 2.3 (data crawled by or on
behalf of the provider: period, modality, inputs, top registrable domains by
kept bytes), 3.1 (opt-out protocols honoured, with removals per signal, and
the registry snapshot and policy used) and 3.2 (removals of piracy sources).
Everything is computed from the ledger and manifest alone; the crawl is never
re-read.
"""

from __future__ import annotations

import math
from collections import Counter

from clearcrawl import reasons
from clearcrawl.core.coverage import unchecked_kinds
from clearcrawl.core.urls import origin_key

TOKEN_BYTES = 4  # bytes of UTF-8 text per token: the usual estimate for English web text
SIZE_RANGES = ((1e9, "less than 1 billion tokens"), (1e13, "1 billion to 10 trillion tokens"),
               (math.inf, "more than 10 trillion tokens"))
SIGNAL_NAMES = {
    reasons.ROBOTS_CRAWL_TIME: "robots.txt (RFC 9309) as captured at crawl time",
    reasons.ROBOTS_CURRENT: "robots.txt (RFC 9309) as published today",
    reasons.TDMREP: "TDMRep (W3C CG): tdm-reservation header, meta tag, tdmrep.json",
    reasons.NOAI: "noai / noimageai in X-Robots-Tag and robots meta tags",
    reasons.AI_TXT: "ai.txt (Spawning)",
    reasons.CONTENT_USAGE: "IETF aipref Content-Usage (and Content-Signal) train-ai=n",
    reasons.DOMAIN_OPTOUT: "rights-holder opt-out registry: domains",
    reasons.URL_OPTOUT: "rights-holder opt-out registry: URL prefixes",
    reasons.WORK_EXACT: "registered works: exact copies",
    reasons.WORK_NEAR_DUPLICATE: "registered works: near-duplicate copies (MinHash, verified)",
    reasons.NEAR_DUPLICATE_OF_REMOVED: "near-duplicates of documents removed for an opt-out",
}


# How `registered_domain` is computed (core.urls.registered_domain), stated in the summary.
DOMAIN_BASIS = ("registrable domain by the Public Suffix List, its private part included, "
                "so sites under a shared hosting suffix are told apart (user.github.io, "
                "not github.io)")


def top_domain_count(distinct: int, sme: bool) -> int:
    """How many domains the template asks for: the top 10 %, or for SMEs the top 5 %
    or 1,000, whichever is more (never more than there are)."""
    if sme:
        return min(distinct, max(math.ceil(0.05 * distinct), min(1000, distinct)))
    return math.ceil(0.10 * distinct)


def piracy_entries(snapshot) -> set[str]:
    """Entry ids of the registry's piracy entries (domain rules and works)."""
    content = snapshot.content
    found = {row[0] for row in content["domain_rules"] if row[1] == "piracy"}
    found |= {w["entry_id"] for w in snapshot.work_records() if w["kind"] == "piracy"}
    return found


def _unchecked_documents(manifest: dict, rows: list[dict]) -> Counter:
    """{kind: documents (not errors) read from inputs that cannot carry the kind's
    in-document signal}, from the carriers the manifest records per input (outputs made
    before carriers were recorded count as unknown: nothing)."""
    kinds_of = {i["uri"]: unchecked_kinds(i["carriers"]) for i in manifest.get("inputs", [])
                if "carriers" in i}
    per_input = Counter(r["source_uri"] for r in rows if r["decision"] != reasons.ERROR)
    found: Counter = Counter()
    for uri, documents in per_input.items():
        for kind in kinds_of.get(uri, ()):
            found[kind] += documents
    return found


def summarize(manifest: dict, rows: list[dict], snapshot, sme: bool = False,
              crawls: list[str] | None = None) -> dict:
    piracy_ids = piracy_entries(snapshot)
    kept = [r for r in rows if r["decision"] == reasons.KEEP]
    by_domain: Counter = Counter()
    for row in kept:
        by_domain[row["registered_domain"] or "(no domain)"] += row["text_bytes"] or 0
    ranked = sorted(by_domain.items(), key=lambda kv: (-kv[1], kv[0]))
    top = ranked[: top_domain_count(len(ranked), sme)]
    times = [r["fetch_time"] for r in kept if r["fetch_time"] is not None]
    optout: Counter = Counter()
    piracy_docs = 0
    for row in rows:
        if row["decision"] != reasons.REMOVE:
            continue
        piracy = [r for r in row["reasons"] if r["kind"] == reasons.PIRACY_DOMAIN
                  or r["entry_id"] in piracy_ids]
        piracy_docs += bool(piracy)
        optout.update({r["kind"] for r in row["reasons"] if r not in piracy})
    unchecked = _unchecked_documents(manifest, rows)
    kept_bytes = sum(r["text_bytes"] or 0 for r in kept)
    tokens = kept_bytes / TOKEN_BYTES
    return {
        "period": {"start": min(times).date().isoformat() if times else None,
                   "end": max(times).date().isoformat() if times else None},
        "top_domains": [{"domain": d, "bytes": b} for d, b in top],
        "top_domains_rule": ("top 5 % or 1,000 domains, whichever is more (SME)" if sme
                             else "top 10 % of domains"),
        "distinct_domains": len(ranked),
        "domain_basis": DOMAIN_BASIS,
        "optout_measures": [{"kind": kind, "protocol": SIGNAL_NAMES[kind],
                             "removed": optout.get(kind, 0),
                             "documents_not_checkable": unchecked.get(kind, 0)}
                            for kind in reasons.ALL_KINDS if kind in SIGNAL_NAMES],
        "piracy_removed": piracy_docs,
        "text_size_range": next(label for limit, label in SIZE_RANGES if tokens < limit),
        "token_estimate": {"tokens": round(tokens), "kept_text_bytes": kept_bytes,
                           "method": f"UTF-8 bytes of kept text / {TOKEN_BYTES}"},
        "modality": "text",
        "documents": {"read": len(rows), "kept": len(kept),
                      "removed": sum(r["decision"] == reasons.REMOVE for r in rows),
                      "error": sum(r["decision"] == reasons.ERROR for r in rows)},
        "inputs": {"files": len(manifest.get("inputs", [])),
                   "bytes": sum(i["bytes"] for i in manifest.get("inputs", [])),
                   "crawls": sorted(set(crawls or []))},
        "registry_id": manifest["registry_id"],
        "policy_id": manifest["policy_id"],
        "policy": manifest.get("policy", {}),
        "robots_store": robots_store_summary(manifest, rows),
        "run_id": manifest["run_id"],
        "ledger_root": manifest["ledger_root"],
    }


def robots_store_summary(manifest: dict, rows: list[dict]) -> dict | None:
    """The robots store the run applied (`run --robots-store`), or None: its id, fetch
    period, origins checked, and the origins whose robots.txt today restricts a counted
    AI agent (or `*`) for at least one page of the crawl, with their share."""
    block = manifest.get("options", {}).get("robots_store")
    if not block:
        return None
    restricting = {origin_key(r["url"]) for r in rows
                   if any(e["entry_id"] == block["label"] for e in r["reasons"])}
    checked = block["origins"]
    return {"store_id": block["store_id"], "path": block["path"],
            "fetch_period": {"start": block["first_fetch"], "end": block["last_fetch"]},
            "origins_checked": checked,
            "origins_with_success": block.get("origins_with_success"),
            "origins_restricting": len(restricting),
            "share_restricting": round(len(restricting) / checked, 4) if checked else 0.0}


def _robots_store_lines(store: dict | None) -> list[str]:
    if store is None:
        return ["", "Today's robots.txt: no robots store was applied."]
    period = store["fetch_period"]
    return ["", f"Today's robots.txt (`robots_current`): robots store `{store['store_id']}`, "
            f"fetched {period['start']} to {period['end']}; {store['origins_checked']:,} "
            f"origins checked ({store['origins_with_success'] or 0:,} answered), of which "
            f"{store['origins_restricting']:,} ({store['share_restricting']:.1%}) restrict a "
            "counted AI agent or `*` for at least one page of the crawl."]


def to_markdown(summary: dict) -> str:
    s = summary
    period = s["period"]
    lines = [
        "# Public summary of training content: sections filled from the provenance ledger",
        "",
        f"Run `{s['run_id']}`, ledger root `{s['ledger_root']}`, registry snapshot "
        f"`{s['registry_id']}`, policy `{s['policy_id']}`.",
        "",
        "## 1.3 Size of the training data (text)",
        "",
        f"- Modality: {s['modality']}.",
        f"- Size range: **{s['text_size_range']}** (estimated {s['token_estimate']['tokens']:,}"
        f" tokens from {s['token_estimate']['kept_text_bytes']:,} bytes of kept text; method: "
        f"{s['token_estimate']['method']}).",
        "",
        "## 2.3 Data crawled and scraped from online sources",
        "",
        f"- Period of collection: {period['start']} to {period['end']} (fetch times of kept "
        "documents).",
        f"- Inputs: {s['inputs']['files']} crawl files, {s['inputs']['bytes']:,} bytes"
        + (f"; crawls: {', '.join(s['inputs']['crawls'])}" if s["inputs"]["crawls"] else "")
        + ".",
        f"- Documents: {s['documents']['read']:,} read, {s['documents']['kept']:,} kept, "
        f"{s['documents']['removed']:,} removed, {s['documents']['error']:,} unreadable.",
        f"- Most relevant domain names ({s['top_domains_rule']} of "
        f"{s['distinct_domains']:,} registrable domains, by bytes of kept text; "
        f"{s.get('domain_basis', DOMAIN_BASIS)}):",
        "",
        "| # | domain | bytes of kept text |",
        "|---|---|---|",
    ]
    lines += [f"| {i} | {d['domain']} | {d['bytes']:,} |"
              for i, d in enumerate(s["top_domains"], start=1)]
    lines += ["", "## 3.1 Respect of reservations of rights (opt-outs)", "",
              "Protocols honoured, with the documents removed under each (a document removed "
              "for several reasons counts under each):", "",
              "| protocol | reason kind | documents removed | documents that could not "
              "carry it |", "|---|---|---|---|"]
    lines += [f"| {m['protocol']} | `{m['kind']}` | {m['removed']:,} | "
              f"{m['documents_not_checkable']:,} |" for m in s["optout_measures"]]
    lines += ["", "The last column counts documents read from inputs that cannot show the "
              "signal in the document itself: WET, JSONL and Parquet records carry no HTTP "
              "headers or HTML (X-Robots-Tag, TDM-Reservation, Content-Usage headers, meta "
              "tags), and crawl-time robots.txt is checked only where capture WARCs were "
              "given. Registry rules, site files and today's robots.txt still apply to them."]
    agents = ", ".join(s["policy"].get("robots_agents", []))
    lines += ["", f"robots.txt rules counted for these agents and `*`: {agents}."]
    lines += _robots_store_lines(s.get("robots_store"))
    lines += ["",
              "## 3.2 Removal of content from piracy sources", "",
              f"- Documents removed as coming from piracy sources (listed domains and "
              f"registered pirated works): **{s['piracy_removed']:,}**.", ""]
    return "\n".join(lines)
