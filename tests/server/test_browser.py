"""The dashboard in a real headless browser: Debian's chromium driven by Playwright's Python package.

A real `vectro serve` subprocess (a free loopback port) embeds through the fake bag-of-words model
behind a local /embed (`fake_text.WordsServer`, named in a registry file via $VECTRO_MODELS).
"""

import shutil
import subprocess

import numpy as np
import pytest

from .fake_text import WordsServer, words_vector
from .process import Server
from .test_text import DOCS

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
CHROMIUM = "/usr/bin/chromium"
MORE = [f"note number {i} about {w}" for i, w in enumerate(["tea", "coffee", "rain", "snow", "trains", "boats",
                                                           "maps", "clocks"])]
TEXTS = DOCS + MORE


def chromium_or_skip() -> str:
    """Debian's chromium; installed with apt-get when missing and possible, else the test is skipped."""
    if not shutil.which(CHROMIUM) and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, timeout=900)
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing and `apt-get install -y chromium` could not install it "
                    "(run `make test` as a user who can install packages)")
    return CHROMIUM


@pytest.fixture
def browser():
    path = chromium_or_skip()
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def words_registry(tmp_path, monkeypatch):
    with WordsServer() as words:
        monkeypatch.setenv("VECTRO_MODELS", words.registry(tmp_path / "models.toml"))
        yield words


def load(server, name="docs", headers=None):
    assert server.request("POST", "/collections", {"name": name, "model": "words"}, headers)[0] == 201
    records = [{"id": f"r{i:02d}", "text": t, "payload": {"kind": "doc" if i < len(DOCS) else "note"}}
               for i, t in enumerate(TEXTS)]
    assert server.request("PUT", f"/collections/{name}/records", {"records": records}, headers)[0] == 200


def test_dashboard_search_browse_map_in_chromium(browser, words_registry, tmp_path):
    server = Server(tmp_path / "data")
    try:
        load(server)
        server.request("POST", "/collections", {"name": "other", "dimension": 8, "codec": "binary"})
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(server.url + "/")  # a browser asking for HTML is sent to the dashboard
        assert page.url == server.url + "/dashboard"
        rows = page.locator("#collections tbody tr")
        rows.first.wait_for()
        assert rows.count() == 2
        assert "docs" in rows.nth(0).inner_text() and "14" in rows.nth(0).inner_text()
        bars = page.locator("#saved-chart .saved-bar")
        assert bars.count() == 2
        docs = server.request("GET", "/collections/docs")[1]
        assert bars.nth(0).get_attribute("data-saved") == str(14 * (32 * 4 - docs["codec"]["bytes_per_vector"]))
        page.select_option("#collection", "docs")

        # search from the page: the hits are the brute-force ranking of the same model's vectors
        query = "the cat on the mat"
        page.fill("#search-input", query)
        page.click("#search-form button")
        page.locator("#hits li").first.wait_for()
        X = np.stack([words_vector(t) for t in TEXTS]).astype(np.float64)
        scores = X @ words_vector(query).astype(np.float64)
        best = sorted(range(len(TEXTS)), key=lambda i: (-scores[i], i))[:5]
        hits = page.locator("#hits li")
        assert hits.count() == 5
        assert [hits.nth(j).locator(".hit-id").inner_text() for j in range(5)] == [f"r{i:02d}" for i in best]
        assert hits.nth(0).locator(".hit-text").inner_text() == TEXTS[best[0]]
        assert float(hits.nth(0).locator(".score").inner_text()) == pytest.approx(scores[best[0]], abs=1e-3)

        # the record browser pages through the scroll API
        assert page.locator("#records tbody tr").count() == 10
        page.click("#next-page")
        page.wait_for_function("document.querySelectorAll('#records tbody tr').length === 4")
        assert page.locator("#records tbody tr").first.locator("td").first.inner_text() == "r10"
        assert page.is_disabled("#next-page")

        # the map: points drawn on the canvas, one legend entry per payload value
        page.fill("#map-color", "kind")
        page.click("#map-form button")
        page.wait_for_function("document.querySelectorAll('#map-legend li').length === 2")
        painted = page.evaluate("""() => { const c = document.getElementById('map');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
        assert painted > 14 * 20  # 14 dots of radius 4
        assert "14 of 14 records" in page.inner_text("#map-status")
        page.fill("#search-input", query)
        page.click("#search-form button")
        page.locator("#hits li").first.wait_for()
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    finally:
        server.stop()


def test_with_keys_the_page_asks_for_one_and_keeps_it_in_the_session(browser, words_registry, tmp_path):
    key = "read-key-0123456789abcdef"
    (tmp_path / "keys.txt").write_text(f"admin:{key}\n")
    server = Server(tmp_path / "data", "--api-key-file", tmp_path / "keys.txt")
    try:
        load(server, headers={"X-API-Key": key})
        page = browser.new_page()
        page.goto(server.url + "/dashboard")
        page.locator("#key-panel").wait_for()
        assert page.is_hidden("#main")
        page.fill("#key-input", "wrong-key-0123456789")
        page.click("#key-form button")
        page.wait_for_function("document.getElementById('key-error').textContent.includes('refused')")
        page.fill("#key-input", key)
        page.click("#key-form button")
        page.locator("#collections tbody tr").first.wait_for()
        assert page.evaluate("sessionStorage.getItem('vectro-api-key')") == key
        assert page.evaluate("localStorage.length") == 0 and key not in page.context.cookies().__repr__()
    finally:
        server.stop()
