"""`clearcrawl audit lookup`: what a rights holder asks of a run.

"Was my work (entry), my site (domain) or this page (url) removed, and on what
evidence?" Answers come from the ledger alone: each matching row with its
decision and reasons. With a robots store, a domain's answer also lists every fetch
of the robots.txt of the domain's origins (and its subdomains').
"""

from __future__ import annotations

from clearcrawl import reasons
from clearcrawl.core.urls import host_ancestors, normalize_host, normalize_url, split_url


def _row(row: dict) -> dict:
    fetched = row["fetch_time"]
    return {"doc_id": row["doc_id"], "url": row["url"], "decision": row["decision"],
            "reasons": row["reasons"], "fetch_time": fetched.isoformat() if fetched else None,
            "source_uri": row["source_uri"], "source_offset": row["source_offset"]}


def lookup(rows: list[dict], entry: str | None = None, domain: str | None = None,
           url: str | None = None) -> dict:
    if entry:
        query = {"entry": entry}
        matched = [r for r in rows if any(x["entry_id"] == entry for x in r["reasons"])]
    elif domain:
        wanted = normalize_host(domain)
        query = {"domain": wanted}

        def on_domain(row):
            host = split_url(row["url"]).host if row["url"] else ""
            return wanted in host_ancestors(host) or row["registered_domain"] == wanted

        matched = [r for r in rows if on_domain(r)]
    elif url:
        wanted = normalize_url(url)
        query = {"url": wanted}
        matched = [r for r in rows if r["url"] and normalize_url(r["url"]) == wanted]
    else:
        raise ValueError("give one of entry, domain or url")
    matched.sort(key=lambda r: (r["url"] or "", r["doc_id"]))
    removed = [_row(r) for r in matched if r["decision"] == reasons.REMOVE]
    kept = [_row(r) for r in matched if r["decision"] == reasons.KEEP]
    errors = [_row(r) for r in matched if r["decision"] == reasons.ERROR]
    return {"query": query, "removed": removed, "kept": kept, "error": errors,
            "counts": {"removed": len(removed), "kept": len(kept), "error": len(errors)}}


def robots_history(store_dir: str, domain: str) -> dict:
    """Every fetch of the robots.txt of the origins on `domain` or its subdomains, oldest
    first per origin (bodies left out: their sha256 names them), and the store's id."""
    import pyarrow.compute as pc

    from clearcrawl.robots_store import reading, store

    wanted = normalize_host(domain)
    manifest = store.read_manifest(store_dir)
    history: dict[str, list[dict]] = {}
    for table in reading.iter_tables(store_dir, store.LIGHT_COLUMNS):
        hosts = pc.replace_substring_regex(table["origin"], r"^[a-z]+://|:[0-9]+$", "")
        mask = pc.or_(pc.equal(hosts, wanted), pc.ends_with(hosts, "." + wanted))
        for row in table.filter(mask).to_pylist():
            row["fetched_at"] = row["fetched_at"].isoformat()
            history.setdefault(row["origin"], []).append(row)
    origins = [{"origin": origin, "fetches": sorted(rows, key=lambda r: r["fetched_at"])}
               for origin, rows in sorted(history.items())]
    return {"store_id": manifest["store_id"], "origins": origins}


def to_markdown(answer: dict) -> str:
    (what, value), = answer["query"].items()
    c = answer["counts"]
    lines = [f"# Lookup: {what} {value}", "",
             f"{c['removed']} removed, {c['kept']} kept, {c['error']} unreadable.", ""]
    for label in ("removed", "kept", "error"):
        if not answer[label]:
            continue
        lines += [f"## {label.capitalize()}", "", "| url | fetched | evidence |", "|---|---|---|"]
        for row in answer[label]:
            evidence = "; ".join(f"`{r['kind']}` {r['entry_id']}: {r['detail']}"
                                 for r in row["reasons"]) or "-"
            lines.append(f"| {row['url']} | {row['fetch_time'] or '-'} | {evidence} |")
        lines.append("")
    robots = answer.get("robots_fetches")
    if robots is not None:
        lines += [f"## robots.txt fetches (store {robots['store_id'][:12]})", "",
                  "| origin | fetched | outcome | status | final URL | body sha256 | error |",
                  "|---|---|---|---|---|---|---|"]
        for entry in robots["origins"]:
            for f in entry["fetches"]:
                lines.append(f"| {entry['origin']} | {f['fetched_at']} | {f['outcome']} | "
                             f"{f['status'] if f['status'] is not None else '-'} | "
                             f"{f['final_url']} | {(f['body_sha256'] or '-')[:16]} | "
                             f"{f['error'] or '-'} |")
        lines.append("")
    return "\n".join(lines)
