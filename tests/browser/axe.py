"""axe-core (Deque, MPL 2.0, vendored from the npm registry in vendor/) run on a page the browser has
open: the accessibility check of GB/T 37668, which follows WCAG 2.1 AA.

The portal's Content-Security-Policy refuses inline scripts, so axe is not added as a <script>
tag: Playwright evaluates its source through the DevTools protocol, which the page's CSP does not
govern. The app never serves the file.
"""
from pathlib import Path

from playwright.sync_api import expect

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")

#: the impacts a person is stopped by; "minor" and "moderate" are reported by axe but not failed here
BLOCKING = ("serious", "critical")


#: classes htmx puts on elements while a request, swap or settle is under way; during the settle the
#: new content briefly carries the old element's classes (htmx-request dims the buttons to .65)
HTMX_BUSY = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"


def violations(page):
    """axe's violations on the page once htmx has settled (the whole document, every rule axe enables by
    default)."""
    expect(page.locator(HTMX_BUSY)).to_have_count(0)  # a locator, as wait_for_function evals (CSP)
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE)
    return page.evaluate("""async () => {
        const result = await window.axe.run(document, {resultTypes: ["violations"]});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary}))}));
    }""")


def describe(found):
    lines = []
    for violation in found:
        lines.append(f"{violation['impact']}: {violation['id']} ({violation['help']})")
        lines.extend(f"    {node['target']}: {node['summary']}".replace("\n", " ") for node in violation["nodes"][:8])
    return "\n".join(lines)


def assert_no_serious_violations(page, where=""):
    """Fail with every serious or critical violation axe finds, and where it is."""
    blocking = [v for v in violations(page) if v["impact"] in BLOCKING]
    assert not blocking, f"axe found serious or critical accessibility problems on {where or page.url}:\n" \
        + describe(blocking)
