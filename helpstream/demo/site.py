"""The demo support site, simulated: visitors' sessions as click events.

A home page, search, six category hubs with four articles each, and a contact page. Two
things confuse visitors: a "Billing & payments" hub that looks right for refunds but is
not (visitors turn back), and misleading article titles that send visitors to the wrong
article first. Variant "B" is the redesign: the billing hub is gone and titles are
clearer, so B shows fewer turnarounds and more resolved paths than "A".
"""

from __future__ import annotations

import random

from helpstream.constants import CATEGORIES
from helpstream.demo.data import DAY, END, START, Event

SITE_VISITORS = 420
SESSIONS = 1100


HOME, SEARCH, CONTACT, BILLING_HUB = 1, 2, 3, 20
MONEY_CATEGORIES = ("Overcharged transaction", "Order cancellation")
# The few articles whose titles mislead: visitors open them first and turn back.
MISLEADING_ARTICLE = {"Bug report": 1, "Undelivered goods": 1, "Wrong order": 2}


def _hub(category: int) -> int:
    return 10 + category


def _article(category: int, index: int) -> int:
    return 100 + 10 * category + index


def site_pages() -> list[Event]:
    """The site's pages with the names, URLs and groups the demo gives them."""
    pages: list[Event] = [
        {"page_id": HOME, "name": "Help center home", "url": "/help", "group": "home"},
        {"page_id": SEARCH, "name": "Search", "url": "/help/search", "group": "search"},
        {"page_id": CONTACT, "name": "Contact support", "url": "/help/contact", "group": "contact"},
        {
            "page_id": BILLING_HUB,
            "name": "Billing & payments",
            "url": "/help/billing",
            "group": "hubs",
        },
    ]
    for category, name in enumerate(CATEGORIES):
        slug = name.lower().replace(" ", "-")
        pages.append(
            {"page_id": _hub(category), "name": name, "url": f"/help/{slug}", "group": "hubs"}
        )
        for index, title in enumerate(_ARTICLE_TITLES):
            pages.append(
                {
                    "page_id": _article(category, index),
                    "name": f"{name}: {title}",
                    "url": f"/help/{slug}/{index}",
                    "group": "articles",
                }
            )
    return pages


_ARTICLE_TITLES = ("how to solve it", "first steps", "related questions", "more help")


def generate_clickstream(rng: random.Random) -> list[Event]:
    """Sessions of site visitors looking for help, as click events in time order."""
    variants = {v: "A" if rng.random() < 0.5 else "B" for v in range(1, SITE_VISITORS + 1)}
    next_free = dict.fromkeys(variants, START)
    clicks: list[Event] = []
    for _ in range(SESSIONS):
        visitor = rng.randint(1, SITE_VISITORS)
        start = max(next_free[visitor], rng.randrange(START, END))
        session = _session(rng, visitor, variants[visitor], start)
        clicks.extend(session)
        next_free[visitor] = session[-1]["timestamp"] + DAY  # sessions never overlap
    clicks.sort(key=lambda c: (c["timestamp"], c["customer_id"]))
    return clicks


def _session(rng: random.Random, visitor: int, variant: str, start: int) -> list[Event]:
    clicks: list[Event] = []
    state = {"ts": start, "page": HOME}

    def click(target: int, resolved: bool = False, source: int | None = None) -> None:
        state["ts"] += rng.randint(5, 90)
        clicks.append(
            {
                "timestamp": state["ts"],
                "customer_id": visitor,
                "source_page_id": state["page"] if source is None else source,
                "target_page_id": target,
                "is_resolved": resolved,
                "variant": variant,
            }
        )
        state["page"] = target

    category = rng.randrange(len(CATEGORIES))
    name = CATEGORIES[category]
    if rng.random() < 0.25:
        click(SEARCH)
    elif name in MONEY_CATEGORIES and variant == "A" and rng.random() < 0.7:
        click(BILLING_HUB)  # looks right, is not: back to home (the back button)
        state["page"] = HOME
        click(_hub(category), source=HOME)
    else:
        click(_hub(category))
    hub = state["page"]
    if rng.random() < 0.08:
        return clicks  # gave up at once: the path is abandoned after the timeout
    misled = 0.6 if variant == "A" else 0.15
    if name in MISLEADING_ARTICLE and rng.random() < misled:
        click(_article(category, MISLEADING_ARTICLE[name]))  # a title that promises the answer
        if rng.random() < 0.15:
            return clicks  # gave up there
        if rng.random() < 0.5:
            click(hub)  # a link back: a turnaround on the misleading article
        else:
            state["page"] = hub  # the back button: the next click's source is the hub
    elif rng.random() < 0.3:
        click(_article(category, rng.randint(2, 3)))  # a related article, then its link on
    solved = rng.random() < (0.85 if variant == "B" else 0.75)
    click(_article(category, 0), resolved=solved)
    if not solved:
        click(CONTACT)
    return clicks
