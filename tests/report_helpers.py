"""Open the HTML report as a user does, in a real Chromium: its embedded results, a page's screenshot
or a value a script reads from it, and every page its menu offers (the spiral report's tests and
the README walk's demo report use them).
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def report_results(report):
    """The results Snakemake's report embeds: {path: {"data_uri", "mime_type", "labels", ...}}."""
    m = re.search(r'<script id="results">\s*var results = (\{.*?\});\s*</script>', Path(report).read_text(), re.S)
    assert m, "no results in the report (has Snakemake's report template changed?)"
    return json.loads(m.group(1))


def chromium_run(chromium, url, *args):
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        r = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
                           capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return r


def with_script(page, script):
    i = page.rindex("</body>")
    return page[:i] + f"<script>{script}</script>" + page[i:]


def probe(chromium, page, js, where):
    """Run ``js`` (an async function body) in ``page`` once it has loaded; return what it returns."""
    script = (
        "window.addEventListener('load', () => setTimeout(async () => {"
        " const sleep = ms => new Promise(r => setTimeout(r, ms)); let out;"
        f" try {{ out = await (async () => {{ {js} }})(); }} catch (e) {{ out = {{error: String(e)}}; }}"
        " const pre = document.createElement('pre'); pre.id = 'twolayer-probe';"
        " pre.textContent = JSON.stringify(out); document.body.appendChild(pre); }, 200));"
    )
    path = Path(where)
    path.write_text(with_script(page, script))
    r = chromium_run(chromium, path.as_uri(), "--virtual-time-budget=10000", "--dump-dom")
    m = re.search(r'<pre id="twolayer-probe">(.*?)</pre>', r.stdout, re.S)
    assert m, f"chromium gave no probe result ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    out = json.loads(html.unescape(m.group(1)))
    assert not (isinstance(out, dict) and "error" in out), out
    return out


def screenshot(chromium, page, png, script=None):
    path = png.with_suffix(".html")
    path.write_text(page if script is None else with_script(page, script))
    chromium_run(chromium, path.as_uri(), "--window-size=1400,1000", "--virtual-time-budget=10000", f"--screenshot={png}")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    keep = os.environ.get("TWOLAYER_REPORT_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)


def decoded(results, path):
    uri = results[path]["data_uri"]
    assert uri.startswith("data:text/html;"), uri[:60]
    return base64.b64decode(uri.split("base64,", 1)[1]).decode("utf-8")


def pane_shows_something(png, left=300):
    """Whether the report's content pane (right of its menu) in a screenshot holds more than a
    blank page: a pane that failed to load (e.g. a data URL over Chromium's limit) is one colour."""
    from PIL import Image

    with Image.open(png) as im:
        pane = im.convert("L").crop((left, 0, im.width, im.height))
        return sum(pane.histogram()[:128]) >= 150  # dark pixels: text


def check_every_page_renders(chromium, report, results, where, skip=()):
    """Every HTML page the report's menu offers (but those under the folders ``skip``), opened
    as the menu opens it: within Chromium's URL limit, and its pane in a screenshot is not
    blank; returns the pages."""
    from twolayer.study.report.pages import URL_LIMIT

    pages = sorted(p for p, r in results.items() if r["mime_type"] == "text/html" and not p.startswith(tuple(skip)))
    too_long = {p: len(results[p]["data_uri"]) for p in pages if len(results[p]["data_uri"]) >= URL_LIMIT}
    assert not too_long, f"pages over Chromium's {URL_LIMIT:,}-character URL limit: {too_long}"
    page = report.read_text()
    where.mkdir(parents=True, exist_ok=True)
    screenshot(chromium, page, where / "front.png")
    assert pane_shows_something(where / "front.png")
    blank = []
    for i, path in enumerate(pages):
        png = where / f"page-{i}.png"
        screenshot(chromium, page, png, script=(
            "window.addEventListener('load', () => setTimeout(() => app.setView({content: 'html', contentPath: "
            f"results[{json.dumps(path)}].data_uri, resultPath: {json.dumps(path)}}}), 300));"))
        if not pane_shows_something(png):
            blank.append(path)
    assert not blank, f"pages that show nothing in the report: {blank}"
    return pages
