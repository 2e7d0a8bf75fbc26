"""The closed vocabulary of removal reason kinds (a contract: see ARCHITECTURE.md)."""

ROBOTS_CRAWL_TIME = "robots_crawl_time"
ROBOTS_CURRENT = "robots_current"
TDMREP = "tdmrep"
NOAI = "noai"
AI_TXT = "ai_txt"
CONTENT_USAGE = "content_usage"
DOMAIN_OPTOUT = "domain_optout"
URL_OPTOUT = "url_optout"
PIRACY_DOMAIN = "piracy_domain"
WORK_EXACT = "work_exact"
WORK_NEAR_DUPLICATE = "work_near_duplicate"
NEAR_DUPLICATE_OF_REMOVED = "near_duplicate_of_removed"

# Order matters: reasons inside a ledger row are sorted by this order, so the
# row (and the ledger root hash) does not depend on the order matchers ran in.
ALL_KINDS: tuple[str, ...] = (
    ROBOTS_CRAWL_TIME,
    ROBOTS_CURRENT,
    TDMREP,
    NOAI,
    AI_TXT,
    CONTENT_USAGE,
    DOMAIN_OPTOUT,
    URL_OPTOUT,
    PIRACY_DOMAIN,
    WORK_EXACT,
    WORK_NEAR_DUPLICATE,
    NEAR_DUPLICATE_OF_REMOVED,
)
KIND_ORDER = {kind: i for i, kind in enumerate(ALL_KINDS)}

# Kinds that mean "the rights holder reserved TDM rights" (EU template 3.1), as
# opposed to piracy-source removals (template 3.2).
OPTOUT_KINDS = frozenset(ALL_KINDS) - {PIRACY_DOMAIN}
PIRACY_KINDS = frozenset({PIRACY_DOMAIN})

# Decisions written to the ledger.
KEEP = "keep"
REMOVE = "remove"
ERROR = "error"
