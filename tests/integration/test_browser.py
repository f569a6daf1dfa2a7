"""What a person sees, in a real headless Chromium with no network (issue 19).

* `/docs` renders its operations from assets served by the app itself; "Authorize" takes
  a key and "Try it out" on a GET answers 200.
* The dashboard at 1280×800 and 390×844 on demo-like data: no element wider than its card,
  no horizontal scrollbar, no console error, every chart drawn.

Chromium is driven over selenium from a thread (its calls block; the server runs on the
test's event loop). Outside hosts resolve to nothing (`--host-resolver-rules`), so a page
that needed a CDN would stay blank. Needs the Debian packages `chromium` and
`chromium-driver`; skipped with a clear reason without them. Screenshots go to
$HELPSTREAM_SCREENSHOTS (default: the test's tmp dir).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.constants import CATEGORIES
from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
SIZES = [(1280, 800), (390, 844)]
WAIT = 20.0
REDOC_BADGE = "cdn.redoc.ly/redoc/logo-mini.svg"


def _need_chromium() -> None:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Chromium and its driver: apt-get install -y chromium chromium-driver")
    pytest.importorskip("selenium", reason="needs selenium (the test extra)")


@contextmanager
def browser() -> Iterator[Any]:
    """A fresh headless Chromium (its own profile) driven by the system chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")
    with tempfile.TemporaryDirectory(prefix="hs-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM or ""
        for flag in [*FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER or ""))
        try:
            yield driver
        finally:
            driver.quit()


def until(driver: Any, condition: Callable[[Any], Any], what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition, what)


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def screenshots() -> Path:
    path = Path(os.environ.get("HELPSTREAM_SCREENSHOTS") or tempfile.mkdtemp(prefix="hs-shots-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_viewport(driver: Any, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def full_page_screenshot(driver: Any, path: Path, width: int) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    set_viewport(driver, width, min(int(height), 8000))
    driver.save_screenshot(str(path))


# ---- /docs -------------------------------------------------------------------------------


def docs_session(base_url: str, read_key: str, shots: Path) -> dict[str, Any]:
    from selenium.webdriver.common.by import By

    with browser() as driver:
        set_viewport(driver, 1280, 900)
        driver.get(base_url + "/docs")
        until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 10, "ops")
        operations = [
            e.get_attribute("id") for e in driver.find_elements(By.CSS_SELECTOR, ".opblock")
        ]
        driver.find_element(By.CSS_SELECTOR, "button.authorize").click()
        field = until(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".modal-ux input"), "key")
        field.send_keys(read_key)
        driver.find_element(By.CSS_SELECTOR, ".modal-ux button.authorize").click()
        locked = '.authorization__btn[aria-label="authorization button locked"]'
        until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, locked), "authorized")
        driver.find_element(By.CSS_SELECTOR, ".modal-ux button.btn-done").click()

        block = "#operations-paths-get_path_metrics"
        driver.find_element(By.CSS_SELECTOR, block + " .opblock-summary").click()
        until(driver, lambda d: d.find_element(By.CSS_SELECTOR, block + " .try-out__btn"), "try")
        driver.find_element(By.CSS_SELECTOR, block + " .try-out__btn").click()
        until(driver, lambda d: d.find_element(By.CSS_SELECTOR, block + " .execute"), "execute")
        driver.find_element(By.CSS_SELECTOR, block + " .execute").click()
        status = until(
            driver,
            lambda d: d.find_element(
                By.CSS_SELECTOR, block + " .live-responses-table tr.response .response-col_status"
            ).text.strip(),
            "response",
        )
        body = driver.find_element(By.CSS_SELECTOR, block + " .live-responses-table pre").text
        driver.save_screenshot(str(shots / "docs-1280.png"))
        docs_errors = console_errors(driver)
        driver.get(base_url + "/redoc")
        until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-section-id]"), "redoc")
        redoc_sections = len(driver.find_elements(By.CSS_SELECTOR, "[data-section-id]"))
        return {
            "operations": operations,
            "status": status,
            "body": body,
            "redoc_sections": redoc_sections,
            "errors": docs_errors,
            # ReDoc's sidebar badge is hard-wired to its CDN and hides itself when it cannot
            # load (onError): the one request that may fail offline, by design.
            "redoc_errors": [e for e in console_errors(driver) if REDOC_BADGE not in e],
        }


async def test_docs_work_offline_authorize_and_try_it_out(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    _need_chromium()
    seen = await asyncio.to_thread(
        docs_session, str(api.base_url).rstrip("/"), api_keys["read"], screenshots()
    )
    assert "operations-clicks-post_click_batch" in seen["operations"]
    assert "operations-paths-get_path_metrics" in seen["operations"]
    assert seen["status"].startswith("200"), seen
    assert '"completed_paths"' in seen["body"]
    assert seen["redoc_sections"] > 10
    assert seen["errors"] == []
    assert seen["redoc_errors"] == []


# ---- the dashboard ---------------------------------------------------------------------

BASE_TS = 1_700_000_000  # 2023-11-14 22:13 UTC
PAGES = list(range(1, 13))


def demo_clicks(rng: random.Random) -> list[dict[str, Any]]:
    """Customers over about six hours, with an empty hour in the middle (a gap), two
    variants, turnarounds, resolved and abandoned paths."""
    clicks: list[dict[str, Any]] = []
    for customer in range(1, 141):
        if 50 <= customer < 100:
            continue  # two hours without anyone: the time axis must show the gap
        ts = BASE_TS + customer * 150
        variant = "A" if customer % 2 else "B"
        page = rng.choice(PAGES[:3])
        steps = rng.randint(1, 6)
        for step in range(steps):
            target = rng.choice([p for p in PAGES if p != page])
            if step and rng.random() < 0.25:
                target = clicks[-1]["source_page_id"]  # straight back: a turnaround
            last = step == steps - 1
            clicks.append(
                {
                    "timestamp": ts,
                    "customer_id": customer,
                    "source_page_id": page,
                    "target_page_id": target,
                    "is_resolved": last and rng.random() < (0.7 if variant == "B" else 0.55),
                    "variant": variant,
                }
            )
            page, ts = target, ts + rng.randint(15, 90)
    return clicks


def demo_support(rng: random.Random) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    names = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald"]
    for agent, first in enumerate(names, start=1):
        events.append(
            {"type": "agent.upserted", "agent_id": agent, "first_name": first, "last_name": "Agent"}
        )
    for customer in range(1, 31):
        events.append(
            {
                "type": "customer.upserted",
                "customer_id": customer,
                "first_name": "Customer",
                "last_name": str(customer),
            }
        )
    message_id = 0
    for ticket in range(1, 61):
        opened = BASE_TS - 60 * 86_400 + ticket * 86_400 + rng.randint(0, 40_000)
        customer = rng.randint(1, 30)
        events.append(
            {
                "type": "ticket.opened",
                "ticket_id": ticket,
                "customer_id": customer,
                "category": rng.choice(CATEGORIES),
                "timestamp": opened,
            }
        )
        ts = opened + 60
        for turn in range(rng.randint(1, 4)):
            message_id += 1
            agent = rng.randint(1, 6)
            sender = ("customer", customer) if turn % 2 == 0 else ("agent", agent)
            events.append(
                {
                    "type": "message.sent",
                    "message_id": message_id,
                    "ticket_id": ticket,
                    "sender_type": sender[0],
                    "sender_id": sender[1],
                    "timestamp": ts,
                    "text": "…",
                }
            )
            ts += rng.randint(600, 30 * 3600)
        if rng.random() < 0.8:
            events.append({"type": "ticket.resolved", "ticket_id": ticket, "timestamp": ts})
            if rng.random() < 0.7:
                events.append(
                    {
                        "type": "ticket.rated",
                        "ticket_id": ticket,
                        "rating": rng.randint(1, 5),
                        "timestamp": ts + 60,
                    }
                )
    return events


# Every visible element inside a card must lie within the card; the page must not scroll
# sideways. Returns the offenders (empty when all is well) and what each chart drew.
LAYOUT_CHECK = """
const out = {overflow: [], page: [document.documentElement.scrollWidth,
             document.documentElement.clientWidth], charts: {}};
for (const card of document.querySelectorAll('section.card')) {
  const box = card.getBoundingClientRect();
  for (const e of card.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5) {
      out.overflow.push(card.querySelector('[data-chart]').dataset.chart + ': <' +
        e.tagName.toLowerCase() + '> ' + Math.round(r.left) + '..' + Math.round(r.right) +
        ' outside ' + Math.round(box.left) + '..' + Math.round(box.right));
    }
  }
}
for (const c of document.querySelectorAll('[data-chart]')) {
  const svg = c.querySelector('svg');
  out.charts[c.dataset.chart] = {
    svg: svg ? svg.getAttribute('aria-label') : null,
    text: c.innerText.slice(0, 160),
    table: !!c.querySelector('details table'),
  };
}
return out;
"""


def dashboard_session(base_url: str, read_key: str, shots: Path) -> dict[str, Any]:
    from selenium.webdriver.common.by import By

    seen: dict[str, Any] = {}
    with browser() as driver:
        set_viewport(driver, *SIZES[0])
        driver.get(base_url + "/dashboard")
        driver.find_element(By.NAME, "api_key").send_keys(read_key)
        driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        until(driver, lambda d: "Updated" in d.find_element(By.ID, "status").text, "loaded")
        until(
            driver, lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class"), "live"
        )
        for width, height in SIZES:
            set_viewport(driver, width, height)
            driver.execute_script("return new Promise((done) => setTimeout(done, 400))")
            seen[f"{width}"] = driver.execute_script(LAYOUT_CHECK)
            full_page_screenshot(driver, shots / f"dashboard-{width}.png", width)
        set_viewport(driver, *SIZES[0])
        driver.execute_script("return new Promise((done) => setTimeout(done, 400))")
        driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
        )
        full_page_screenshot(driver, shots / "dashboard-1280-dark.png", SIZES[0][0])
        seen["errors"] = console_errors(driver)
    return seen


async def test_dashboard_fits_its_cards_at_desktop_and_phone_width(
    api: httpx.AsyncClient,
    api_keys: dict[str, str],
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    _need_chromium()
    rng = random.Random(19)
    clicks = demo_clicks(rng)
    assert (await api.post("/v1/clicks/batch", json={"events": clicks})).status_code == 202
    support = demo_support(rng)
    posted = await api.post("/v1/support-events/batch", json={"events": support})
    assert posted.status_code == 202, posted.text
    await wait_drained(redis, pool, settings.partitions, within=60)

    shots = screenshots()
    seen = await asyncio.to_thread(
        dashboard_session, str(api.base_url).rstrip("/"), api_keys["read"], shots
    )
    assert seen["errors"] == []
    for width, _ in SIZES:
        layout = seen[f"{width}"]
        assert layout["overflow"] == [], (width, layout["overflow"][:10])
        scroll_width, client_width = layout["page"]
        assert scroll_width <= client_width, f"horizontal scrollbar at {width} px"
        charts = layout["charts"]
        for name in (
            "paths-over-time",
            "path-length",
            "flagged-pages",
            "top-paths",
            "resolution-time",
            "agents-per-ticket",
            "tickets-per-agent",
            "resolution-time-by-month",
            "agent-ratings",
            "first-response-time",
            "csat",
        ):
            assert charts[name]["svg"], (width, name, charts[name])
            assert charts[name]["table"], (width, name)
    print("screenshots in", shots)
