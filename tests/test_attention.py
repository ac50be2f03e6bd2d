"""Tiles only where people can be: which tiles run, on scripted pictures (the cost and scores
on real footage are in tests/test_hard_cases.py)."""

from __future__ import annotations

import numpy as np

from detector.attention import AttentionSettings, TileAttention, tiles_for
from detector.tiling import TilingSettings, tile_grid
from tests.helpers import person

ROI = (0, 0, 768, 432)
TILES = tile_grid(ROI, (416, 416), TilingSettings(enabled=True, tile_scale=1.0, overlap=0.25,
                                                   full_pass=True))  # YOLOX's
WH = (768, 432)


def test_the_grid_has_several_tiles():
    assert len(TILES) == 6


def test_a_box_runs_the_one_tile_that_holds_it_and_a_big_one_every_tile_it_touches():
    small = (300, 100, 60, 150)
    [i] = tiles_for(small, TILES)
    tx, ty, tw, th = TILES[i]
    assert tx <= 300 and tx + tw >= 360 and ty <= 100 and ty + th >= 250  # whole in it
    assert tiles_for(small, TILES, {i}) == []  # a tile that runs anyway holds it
    big = (50, 0, 600, 430)
    cover = tiles_for(big, TILES)
    assert 2 <= len(cover) < len(TILES)  # enough tiles to cover it, not every one it touches
    xs = {x for i in cover for x in range(TILES[i][0], TILES[i][0] + TILES[i][2])}
    assert set(range(50, 650)) <= xs


def test_a_still_empty_scene_costs_one_sweep_tile_a_call_and_is_swept_whole():
    att = TileAttention(AttentionSettings(enabled=True, sweep=1))
    img = np.full((432, 768, 3), 70, np.uint8)
    assert att.select(img, ROI, TILES) == list(range(len(TILES)))  # first look: everything
    att.ran(ROI, TILES, list(range(len(TILES))), [], WH)
    seen = set()
    for _ in range(len(TILES)):
        chosen = att.select(img, ROI, TILES)
        assert len(chosen) == 1
        seen.update(chosen)
        att.ran(ROI, TILES, chosen, [], WH)
    assert seen == set(range(len(TILES)))  # the sweep visits every tile in turn


def test_a_walking_persons_earlier_boxes_add_no_tiles():
    att = TileAttention(AttentionSettings(enabled=True, sweep=1, remember_runs=10))
    img = np.full((432, 768, 3), 70, np.uint8)
    att.select(img, ROI, TILES)
    att.ran(ROI, TILES, list(range(len(TILES))), [], WH)
    for step in range(8):  # walks right, found on every call, the picture itself unchanged
        x = 0.1 + 0.08 * step
        chosen = att.select(img, ROI, TILES)
        att.ran(ROI, TILES, chosen, [person(x, 0.95, h=0.6, w=0.12)], WH)
    assert len(att.select(img, ROI, TILES)) == 2  # where he is now, and the sweep


def test_a_change_or_a_find_runs_its_tile():
    att = TileAttention(AttentionSettings(enabled=True, sweep=1, remember_runs=3))
    img = np.full((432, 768, 3), 70, np.uint8)
    att.select(img, ROI, TILES)
    att.ran(ROI, TILES, list(range(len(TILES))), [], WH)
    walked = img.copy()
    walked[250:400, 600:650] = 200  # someone arrives at the bottom right
    chosen = att.select(walked, ROI, TILES)
    holder = tiles_for((600, 250, 50, 150), TILES)[0]
    assert holder in chosen and len(chosen) <= 3
    # the tile found him; he stands still from now on: his tile keeps running for
    # remember_runs calls although nothing changes
    att.ran(ROI, TILES, chosen, [person(625 / 768, 400 / 432, h=150 / 432, w=50 / 768)], WH)
    for _ in range(3):
        chosen = att.select(walked, ROI, TILES)
        assert holder in chosen
        att.ran(ROI, TILES, chosen, [], WH)
    assert holder not in att.select(walked, ROI, TILES)  # not found for 3 calls: let go


def test_a_slow_change_adds_up_until_a_tile_looks_there():
    """Each call the picture differs from the last by less than the pixel threshold; against
    what the tiles last saw there, it adds up (no sweep here: it would look there anyway)."""
    att = TileAttention(AttentionSettings(enabled=True, sweep=0, remember_runs=0))
    img = np.full((432, 768, 3), 40, np.uint8)
    att.select(img, ROI, TILES)
    att.ran(ROI, TILES, list(range(len(TILES))), [], WH)
    holders = {i for i, (x, y, w, h) in enumerate(TILES)
               if x <= 100 and x + w >= 150 and y <= 200 and y + h >= 350}
    hit = None
    for level in range(46, 120, 6):
        img[200:350, 100:150] = level
        chosen = att.select(img, ROI, TILES)
        if chosen:
            hit = level
            break
        att.ran(ROI, TILES, chosen, [], WH)
    assert hit is not None and hit > 40 + 18  # only once it adds up past the pixel threshold
    assert holders & set(chosen)
