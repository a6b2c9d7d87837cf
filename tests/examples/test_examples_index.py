"""examples/index.html links every example (each examples/<name>/ with a build_web.py), and its backend
selector carries the choice into the links."""

from __future__ import annotations

import shutil

from tests.examples.pages import ROOT, screenshot

EXAMPLES = ROOT / "examples"


def test_index_links_every_example(page, web_root, http_server):
    out = web_root / "examples-index"
    out.mkdir(exist_ok=True)
    for name in ("index.html", "page.css"):
        shutil.copyfile(EXAMPLES / name, out / name)
    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(f"{http_server}/{out.name}/index.html")
    page.wait_for_selector("body[data-done='true']")
    links = page.eval_on_selector_all(".grid a", "as => as.map(a => a.getAttribute('href'))")
    linked = {href.split("/")[1] for href in links}
    built = {p.parent.name for p in EXAMPLES.glob("*/build_web.py")}
    assert built <= linked, f"examples missing from examples/index.html: {sorted(built - linked)}"
    assert all(href.endswith("/index.html") for href in links), links
    page.select_option("#backend", "webgl")
    links = page.eval_on_selector_all(".grid a", "as => as.map(a => a.getAttribute('href'))")
    assert all(href.endswith("/index.html?backend=webgl") for href in links), links
    screenshot(page, "examples-index")
