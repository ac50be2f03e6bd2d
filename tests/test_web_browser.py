"""The installer's page in a real browser (Debian's chromium, driven by Playwright's Python
client) on the real pipeline playing the shared one-by-one clip at 4x: log in, see the picture and
the state, draw a new zone by clicks, save it; then the config file, the controller, the
detector's crop and the adaptive gate use it, and the light follows a person in it.

The stop starts with a zone where nobody stands (the left edge): during the first visit the light
stays off. The zone drawn over the table makes the next visit light it. Screenshots of each step
go to $STOPSAFE_WEB_SHOTS (default reports/web/, git-ignored).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from edge.config import load_config
from edge.decision.zones import Zone
from edge.web.passwords import hash_password
from sim.truth import read_presence
from tests.conftest import CLIPS, REPO
from tests.web_stop import stop_doc, web_stop

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "installer at the stop"
SPEED = 4.0
WRONG_ZONE = [[0.02, 0.5], [0.3, 0.5], [0.3, 1.0], [0.02, 1.0]]  # nobody stands there
# where the person stands at the table (their feet at x 0.55-0.6, y 0.85-0.92), drawn by clicks
TABLE_ZONE = [(0.35, 0.6), (0.85, 0.6), (0.85, 0.997), (0.35, 0.997)]
SHOTS = Path(os.environ.get("STOPSAFE_WEB_SHOTS", REPO / "reports" / "web"))


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (make system-packages)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def test_installer_draws_the_zone_in_the_browser_and_the_light_follows_it(
        tmp_path, shared, models_dir, browser):
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    truth = read_presence(CLIPS / "one-by-one" / "presence.csv", 1.0)
    doc = stop_doc(zone={"polygon": WRONG_ZONE},
                   web={"password_hash": hash_password(PASSWORD)})
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    with web_stop(tmp_path, doc, speed=SPEED) as ws:
        # 1. log in
        page.goto(ws.url + "/")
        assert page.url.endswith("/login")
        page.fill("#password", "not it")
        page.click("#login-button")
        page.wait_for_selector("#login-error:has-text('wrong password')")
        page.fill("#password", PASSWORD)
        page.screenshot(path=SHOTS / "1-login.png")
        page.click("#login-button")
        page.wait_for_url(ws.url + "/")

        # 2. the live picture and the state
        page.wait_for_selector("#frame[data-loaded='1']")
        page.wait_for_selector("#state tr[data-key='light']")
        assert page.locator("#frame").evaluate("i => i.naturalWidth") == 640  # the snapshot size
        assert "ssd_mobilenet" in page.inner_text("#state tr[data-key='model']")
        assert "web-test-1" in page.inner_text("header h1")
        page.screenshot(path=SHOTS / "2-live.png")

        # 3. draw the new zone by clicks on the picture, see the draft, save
        page.click("#edit-zone")
        box = page.locator("#overlay").bounding_box()
        for x, y in TABLE_ZONE:
            page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])
        # drag the last point a little and back: points move
        last = (box["x"] + TABLE_ZONE[-1][0] * box["width"],
                box["y"] + TABLE_ZONE[-1][1] * box["height"])
        page.mouse.move(*last)
        page.mouse.down()
        page.mouse.move(last[0] - 30, last[1] - 20)
        page.mouse.move(*last)
        page.mouse.up()
        assert "4 points" in page.inner_text("#editor-status")
        page.screenshot(path=SHOTS / "3-draft.png")
        page.click("#save")
        page.wait_for_selector("#editor-status[data-saved]")
        saved_t = ws.stop.controller.state.t
        assert "applied: zone" in page.inner_text("#editor-status")
        page.wait_for_function(
            "() => document.querySelector(\"#state tr[data-key='zone'] td:last-child\")"
            ".textContent.startsWith('[[0.35')")
        page.wait_for_function(  # the crop follows the zone (the table's bounds)
            "() => document.querySelector(\"#state tr[data-key='crop'] td:last-child\")"
            ".textContent.startsWith('[0.35')")
        page.screenshot(path=SHOTS / "4-saved.png")

        # 4. the config file, the controller, the crop and the gate use the new zone
        polygon = load_config(ws.config_path).zone.polygon
        assert len(polygon) == len(TABLE_ZONE)
        for got, want in zip(polygon, TABLE_ZONE, strict=True):  # clicks land on pixels
            assert got == pytest.approx(want, abs=0.01)
        assert (tmp_path / "stop.yaml.bak").exists()
        assert list(ws.stop.controller.settings.core.zone) == polygon
        bounds = Zone(polygon).bounds()
        assert ws.stop.detector.zone_bounds == pytest.approx(bounds)
        gate = ws.stop.pipeline.gate
        m = load_config(ws.config_path).adaptive.motion_margin
        assert gate.motion.region == pytest.approx(
            (max(0.0, bounds[0] - m), max(0.0, bounds[1] - m),
             min(1.0, bounds[2] + m), min(1.0, bounds[3] + m)))

        # 5. the light follows a person in it: on during the next visit, off after it
        visit = next(v for v in truth.stays if v.end > saved_t + 5.0)
        deadline = time.monotonic() + (visit.end + 10.0 - saved_t) / SPEED + 20.0
        shot_waiting = False  # the light-on picture, with someone waiting on it if caught
        while time.monotonic() < deadline:
            rows = ws.records.since(saved_t)
            if rows and rows[-1][0] > visit.end + 6.0:
                break
            light = page.inner_text("#state tr[data-key='light'] td:last-child")
            waiting = page.inner_text("#state tr[data-key='waiting'] td:last-child")
            if light == "ON / ON" and not shot_waiting:
                shot_waiting = waiting not in ("0", "–")
                page.screenshot(path=SHOTS / "5-light-on.png")
            time.sleep(0.2)
        page.screenshot(path=SHOTS / "6-after.png")
        before = ws.records.since(0.0)
    before_save = [r for r in before if r[0] < saved_t]
    after = [r for r in before if r[0] >= saved_t]
    assert before_save and not any(r[1] for r in before_save), \
        "the light went on with the zone where nobody stands"
    on = [r[0] for r in after if r[1]]
    assert on, "the light never went on for a person in the drawn zone"
    assert max(visit.start, saved_t) <= on[0] <= visit.end, (on[0], visit)
    # off once they left: the hold (3 s) after the last sight, well before the next visit
    off = [r[0] for r in after if not r[1] and r[0] > on[0]]
    assert off and off[0] <= visit.end + 3.0 + 2.0, (off[:1], visit)
    assert (SHOTS / "5-light-on.png").exists(), "the page never showed the light on"
    page.close()
