"""The portal driven in headless Chromium (Debian's chromium and chromium-driver, through
Selenium): a rights holder files a domain and a work, an operator logs in and approves
both, the registry validates and builds with them, a real `clearcrawl run` uses it, and
the status pages show what the run removed. Screenshots of every page are written to
build/test-artifacts/portal/."""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

from clearcrawl.cli import main as cli_main
from clearcrawl.core.urls import registered_domain, split_url
from clearcrawl.registry.source import load_source
from clearcrawl.synth import generate
from tests.conftest import REPO
from tests.portal.conftest import OPERATOR, PASSWORD, serve

webdriver = pytest.importorskip("selenium.webdriver", reason="Selenium is in the dev extra")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

ARTIFACTS = REPO / "build" / "test-artifacts" / "portal"
_WORDS = ("harbour lantern copper meadow whistle orchard pebble saddle thimble ember "
          "quarry ribbon glacier tavern falcon marble cinder willow anchor biscuit "
          "compass drizzle furrow gutter hamlet ivory jasmine kettle ledger mantle "
          "nettle oyster parcel quill rafter spindle trellis umber velvet wagon").split()
_rng = random.Random(20)
WORK = " ".join(_rng.choice(_WORDS) for _ in range(150))


def _chromium_and_driver() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    if not chromium or not driver:
        pytest.skip("headless Chromium or chromium-driver not installed (make test installs "
                    "Debian's chromium and chromium-driver)")
    return chromium, driver


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> Path:
    """A small synthetic crawl with copies of WORK planted on ordinary hosts."""
    folder = tmp_path_factory.mktemp("portal-crawl")
    generate(folder, pages=160, files=1, seed=5, mean_html_bytes=4000,
             works=[{"entry_id": "planted", "kind": "optout", "title": "Harbour Almanac",
                     "rights_holder": "", "text": WORK}])
    return folder


@pytest.fixture
def chrome(tmp_path):
    chromium, driver_path = _chromium_and_driver()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--window-size=1200,1500",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(60)
    driver.implicitly_wait(20)  # find_element waits for a page still loading
    try:
        yield driver
    finally:
        driver.quit()


class Pages:
    def __init__(self, driver, base: str):
        self.driver, self.base, self.shots = driver, base, []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def open(self, path: str) -> None:
        self.driver.get(path if path.startswith("http") else self.base + path)

    def shot(self, name: str) -> None:
        path = ARTIFACTS / f"{len(self.shots) + 1:02d}-{name}.png"
        assert self.driver.save_screenshot(str(path))
        self.shots.append(path)

    def submit(self, css: str) -> None:
        """Click a submit button and wait for the next page: every form here posts to
        another URL than the page it is on (find_element then waits for the load)."""
        before = self.driver.current_url
        self.find(css).click()
        WebDriverWait(self.driver, 60).until(lambda driver: driver.current_url != before)

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.find(css).text

    def type(self, fields: dict) -> None:
        for name, value in fields.items():
            element = self.find(f"#{name}")
            element.clear()
            element.send_keys(value)

    def file_request(self, kind: str, fields: dict, name: str) -> str:
        """File through the form; returns the private status link of the receipt."""
        self.open("/requests/new")
        self.find(f"#kind-{kind}").click()
        self.type(fields)
        self.shot(f"file-{name}")
        self.submit("#submit")
        assert self.text("h1") == "Request received", self.driver.page_source[:2000]
        assert self.text("#status") == "received"
        self.shot(f"receipt-{name}")
        return self.find("#status-link").get_attribute("href")


def _busiest_kept_domain(crawl: Path) -> str:
    truth = [json.loads(line) for line in (crawl / "ground_truth.jsonl").open()]
    kept = Counter(registered_domain(split_url(r["url"]).host) for r in truth
                   if r["decision"] == "keep")
    return kept.most_common(1)[0][0]


def _planted_copies(crawl: Path) -> int:
    truth = [json.loads(line) for line in (crawl / "ground_truth.jsonl").open()]
    return sum(r["source"] == "planted" for r in truth)


def test_rights_holder_and_operator_flows_in_chromium(chrome, crawl, registry, sqlite_url,
                                                      tmp_path):
    domain = _busiest_kept_domain(crawl)
    work_file = tmp_path / "harbour-almanac.txt"
    work_file.write_text(WORK, encoding="utf-8")
    output = tmp_path / "demo-output"
    with serve(registry, sqlite_url, [str(output)]) as base:
        pages = Pages(chrome, base)
        pages.open("/")
        assert "Reserve your rights" in pages.text("h1")
        pages.shot("home")
        holder = {"rights_holder": "Blog Collective <b>&</b>", "email": "legal@blog.test"}
        domain_link = pages.file_request("domain", {"value": domain, **holder}, "domain")
        work_link = pages.file_request("work", {
            "title": "Harbour Almanac", "work_file": str(work_file),
            "rights_holder": "Harbour Light Press", "contact_name": "M. Keeper",
            "email": "keeper@harbour.test"}, "work")

        pages.open(domain_link)
        assert pages.text("#status") == "received, under review"
        assert pages.text("#what") == f"domain {domain}"
        pages.shot("status-received")

        pages.open("/operator")
        assert "operators only" in pages.text(".error")
        pages.open("/operator/login")
        pages.type({"username": OPERATOR, "password": PASSWORD})
        pages.shot("login")
        pages.submit("#login")
        assert pages.text("h1") == "Review queue"
        cards = chrome.find_elements(By.CSS_SELECTOR, "section.request")
        assert len(cards) == 2 and "Blog Collective <b>&</b>" in cards[0].text
        pages.shot("queue")
        for link in (domain_link, work_link):
            request_id = link.split("/status/")[1].split("?")[0]
            pages.submit(f"#approve-{request_id}")
            assert "accepted as registry entry" in pages.text(".notice")
        assert [state.text for state in
                chrome.find_elements(By.CSS_SELECTOR, "section.request .state")] == [
            "accepted", "accepted"]
        pages.shot("queue-approved")
        pages.open("/operator/audit")
        assert pages.text("table.log").count("approved") == 2
        pages.shot("audit-log")

        # The registry folder validates and builds with both entries.
        assert cli_main(["registry", "validate", str(registry)]) == 0
        assert cli_main(["registry", "build", str(registry), "--output",
                         str(tmp_path / "snapshot")]) == 0
        source = load_source(registry)
        portal_rules = [r for r in source.domain_rules if r.source == "portal"]
        portal_works = [w for w in source.works if w["rights_holder"] == "Harbour Light Press"]
        assert [r.pattern for r in portal_rules] == [domain] and len(portal_works) == 1

        # A real run with the updated registry; the status pages report on its output.
        assert cli_main(["run", "--input", str(crawl / "*.warc.gz"), "--registry",
                         str(registry), "--output", str(output)]) == 0
        pages.open(domain_link)
        assert pages.text("#status") == "accepted"
        assert pages.text("#entry-id") == portal_rules[0].entry_id
        removed = int(pages.text("#output-1 .count.removed"))
        kept = int(pages.text("#output-1 .count.kept"))
        assert removed > 0 and kept == 0
        assert "(includes your entry)" in pages.text("#output-1")
        pages.shot("status-domain-effect")
        pages.open(work_link)
        assert pages.text("#entry-id") == portal_works[0]["entry_id"]
        copies = int(pages.text("#output-1 .count.removed"))
        assert copies == _planted_copies(crawl) > 0
        assert "work_near_duplicate" in pages.text("#output-1")
        pages.shot("status-work-effect")
        # Console errors other than the deliberate 401 (a CSP violation would be one).
        console = [e for e in chrome.get_log("browser")
                   if e["level"] == "SEVERE" and e["source"] != "network"]

    # What the pages showed is what the ledger says.
    from clearcrawl.audit import auditing, lookup

    rows = auditing.open_run(str(output), lambda p: open(p, "rb")).ledger_rows()
    assert lookup.lookup(rows, entry=portal_rules[0].entry_id)["counts"]["removed"] == removed
    assert lookup.lookup(rows, entry=portal_works[0]["entry_id"])["counts"]["removed"] == copies
    assert console == []
    assert len(pages.shots) == 12
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pages.shots)
