"""Accessibility checks for the browser tests: inject the vendored axe-core into a page and
fail on any serious or critical violation. Shared by every page's journey:

    from tests.e2e.axe import assert_accessible
    assert_accessible(page)             # the whole page
    assert_accessible(page, "#main")    # or one part of it

axe runs through the DevTools protocol (Playwright's evaluate), not as a <script> in the page,
so the page's Content-Security-Policy stays as strict as it is in production.
"""

import json
from pathlib import Path

from playwright.sync_api import Page

AXE_SOURCE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")


def _load_axe(page: Page) -> None:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8") + "\n;undefined")


def violations(page: Page, selector: str | None = None) -> list[dict]:
    """axe's violations on the page (or under `selector`), all impacts."""
    _load_axe(page)
    return page.evaluate(
        """async (selector) => {
            const root = selector ? document.querySelector(selector) : document;
            // Colours are judged as they end up: wait for finite animations (a panel or a
            // message fading in, in the page or an open shadow root), or axe measures a frame
            // half-way and reports a contrast nobody will see.
            const scopes = [document, ...Array.from(document.querySelectorAll("*"))
                .filter((element) => element.shadowRoot).map((element) => element.shadowRoot)];
            const ending = scopes.flatMap((scope) => scope.getAnimations())
                .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity);
            await Promise.all(ending.map((a) => a.finished.catch(() => null)));
            const result = await window.axe.run(root, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(
                    (n) => n.target.join(" ") + " :: " + n.failureSummary
                ),
            }));
        }""",
        selector,
    )


def assert_accessible(
    page: Page, selector: str | None = None, *, also: tuple[str, ...] = ()
) -> None:
    """Fail on serious or critical violations, listing each with the elements it found; `also`
    names rules (axe ids) that fail whatever their impact, for a page fixed of a milder one."""
    found = [
        v for v in violations(page, selector) if v["impact"] in FAILING_IMPACTS or v["id"] in also
    ]
    assert not found, f"axe on {page.url}:\n" + json.dumps(found, indent=2)


# --- Content-Security-Policy ---------------------------------------------------------------
# Chromium reports a blocked inline script or style on the console. A page that needs one is
# broken in production (the policy is strict), so a journey fails on any such report.
CSP_MARKER = "Content Security Policy"


def watch_for_csp_violations(page: Page) -> list[str]:
    """Start collecting the page's CSP reports (from every document it loads)."""
    reports: list[str] = []
    page.on(
        "console",
        lambda message: reports.append(message.text) if CSP_MARKER in message.text else None,
    )
    page.csp_reports = reports  # type: ignore[attr-defined]
    return reports


def assert_no_csp_violations(page: Page) -> None:
    reports = getattr(page, "csp_reports", None)
    assert reports is not None, "call watch_for_csp_violations(page) first"
    assert not reports, "blocked by the Content-Security-Policy:\n" + "\n".join(reports)
