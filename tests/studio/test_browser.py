"""End to end in headless Chromium: pick a run, move the interpolation slider, upload an image.

Screenshots of each state go to test-artifacts/studio/ at the repository root (git-ignored).
Needs the `playwright` Python package (the `demo` extra) and a Chromium binary: Debian's
`chromium` package (/usr/bin/chromium), or GANKIT_CHROMIUM=/path/to/chrome. Playwright's own
browser download (`playwright install`) is not needed.

The upload goes through projection: the run here is a latent-space model. A run whose model
has the ``translate`` capability shows the same upload box as "Translate an image" and is
driven the same way (see ``upload_and_wait``).
"""
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "studio"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def find_chromium() -> str | None:
    env = os.environ.get("GANKIT_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install 'gankit[demo]'")
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium found: apt-get install chromium, or set GANKIT_CHROMIUM")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, studio):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1280, "height": 1100})
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(studio + "/")
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def settle(page):
    """Wait until the page has no request in flight."""
    page.wait_for_function("document.body.dataset.pending === '0'")


def shot(page, name):
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


def upload_and_wait(page, file_path):
    page.set_input_files("#upload", str(file_path))
    page.wait_for_selector("#img-upload-out[src^='data:image/png']", timeout=60_000)
    settle(page)


def test_studio_in_chromium(page, studio, tmp_path):
    page.wait_for_selector("#runs li[data-run='00000-gan']")
    shot(page, "01-runs.png")

    # pick a run: it samples and shows the start of the interpolation path
    page.click("#runs li[data-run='00000-gan']")
    page.wait_for_selector("#img-sample[src^='data:image/png']")
    page.wait_for_selector("#img-interp[src^='data:image/png']")
    settle(page)
    assert page.inner_text("#run-name") == "00000-gan"
    assert page.is_visible("#sec-interp") and page.is_visible("#sec-upload")
    assert not page.is_visible("#sec-mix")  # the gan model cannot style-mix
    before = page.get_attribute("#img-interp", "src")
    shot(page, "02-run-selected.png")

    # move the slider: a new image for the new position
    page.fill("#interp-t", "70")
    page.wait_for_function(
        "(b) => document.getElementById('img-interp').src !== b", arg=before)
    settle(page)
    assert page.inner_text("#interp-t-label") == "t = 0.70"
    after = page.get_attribute("#img-interp", "src")
    assert after != before and after.startswith("data:image/png")
    shot(page, "03-interpolated.png")

    # upload an image (projection into z for this latent model)
    upload = tmp_path / "digit.png"
    img = Image.new("L", (64, 64), 0)
    img.paste(255, (24, 8, 40, 56))
    img.save(upload)
    assert page.inner_text("#upload-title") == "Project an image into the latent space"
    upload_and_wait(page, upload)
    assert page.get_attribute("#img-upload-in", "src").startswith("data:image/png")
    assert "done in" in page.inner_text("#upload-status")
    assert page.is_hidden("#error")
    shot(page, "04-upload-result.png")

    # a file that is not an image: a clear message, not a broken page
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"these are not pixels")
    page.set_input_files("#upload", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.inner_text("#error")
    assert "not an image" in page.inner_text("#upload-status")
    shot(page, "05-upload-error.png")

    # the run's report opens from the page's link
    href = page.get_attribute("#report-link", "href")
    page.goto(studio + href)
    page.wait_for_selector("svg.chart")
    assert "gankit run report: 00000-gan" in page.inner_text("h1")
    shot(page, "06-report.png")


def test_translation_in_chromium(page, studio, translation_run, tmp_path):
    page.wait_for_selector(f"#runs li[data-run='{translation_run}']")
    page.click(f"#runs li[data-run='{translation_run}']")
    page.wait_for_selector("#sec-upload:not([hidden])")
    assert page.inner_text("#upload-title") == "Translate an image"
    assert not page.is_visible("#sec-interp")  # no latent space to walk
    upload = tmp_path / "photo.png"
    Image.new("RGB", (120, 90), (30, 120, 200)).save(upload)
    upload_and_wait(page, upload)
    assert page.get_attribute("#img-upload-in", "src").startswith("data:image/png")
    assert page.is_hidden("#error")
    shot(page, "07-translation-result.png")


def test_style_mixing_in_chromium(page, mix_run):
    page.wait_for_selector(f"#runs li[data-run='{mix_run}']")
    page.click(f"#runs li[data-run='{mix_run}']")
    page.wait_for_selector("#sec-mix:not([hidden])")
    assert page.is_visible(".trunc")  # style-based models also truncate
    page.click("#btn-mix")
    page.wait_for_selector("#img-mix[src^='data:image/png']")
    settle(page)
    assert page.is_hidden("#error")
    shot(page, "08-style-mixing.png")


def test_token_studio_in_chromium(browser, runs_dir):
    """A studio with an access token (as beyond loopback): the printed ?token= address opens
    the page, the cookie it sets carries the page's own requests; without it, 401."""
    from gankit.studio.server import start_server

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server, url = start_server(runs_dir, token="browser-token")
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        pg = ctx.new_page()
        res = pg.goto(url + "/api/runs")
        assert res.status == 401
        pg.goto(url + "/?token=browser-token")
        pg.wait_for_selector("#runs li[data-run='00000-gan']")
        pg.click("#runs li[data-run='00000-gan']")
        pg.wait_for_selector("#img-sample[src^='data:image/png']")
        settle(pg)
        assert pg.is_hidden("#error")
        shot(pg, "09-token.png")
    finally:
        ctx.close()
        server.shutdown()
        server.server_close()
