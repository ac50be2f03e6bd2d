"""Command checking: exact answers for every kind of bad input, the rate and size limits, and
10,000 random payloads (hypothesis) on the handler itself. The broker's share of the same
property runs in test_mqtt_daemon.py against the running daemon."""

from __future__ import annotations

import json
import math
from concurrent.futures import Future
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.decision.light_rules import LightMode
from edge.mqtt.commands import LIGHT_WORDS, CommandHandler, Pending

MAX_BYTES = 512


class FakeActions:
    """Records what the handler asked for; never fails."""

    def __init__(self) -> None:
        self.modes: list[tuple[LightMode, float | None]] = []
        self.republished = 0

    def request_mode(self, mode: LightMode, for_s: float | None) -> None:
        self.modes.append((mode, for_s))

    def _done(self) -> Future[dict[str, Any]]:
        f: Future[dict[str, Any]] = Future()
        f.set_result({})
        return f

    def reload(self) -> Future[dict[str, Any]]:
        return self._done()

    def selftest(self) -> Future[dict[str, Any]]:
        return self._done()

    def snapshot(self) -> Future[dict[str, Any]]:
        return self._done()

    def republish(self) -> None:
        self.republished += 1


def handler(rate: float = 1e9, burst: int = 10**9, snapshots: bool = False
            ) -> tuple[CommandHandler, FakeActions]:
    actions = FakeActions()
    return CommandHandler(MAX_BYTES, rate, burst, snapshots, actions), actions


def test_exact_answers_for_bad_input():
    h, actions = handler()
    cases = [
        ("light", b"{", {"ok": False, "id": None, "error": "malformed_json",
                         "detail": "Expecting property name enclosed in double quotes: "
                                   "line 1 column 2 (char 1); light accepts ON, OFF, AUTO, "
                                   "FORCE_ON, FORCE_OFF (any case), or a JSON object with "
                                   "mode, for_s, id"}),
        # a word that is no mode is answered with the modes, not as broken JSON
        ("light", b"BLINK", {"ok": False, "id": None, "error": "invalid_payload",
                             "detail": "mode: 'BLINK' is not a light mode; accepted: ON, OFF, "
                                       "AUTO, FORCE_ON, FORCE_OFF (any case)"}),
        ("light", b"\xff", {"ok": False, "id": None, "error": "not_utf8",
                            "detail": "'utf-8' codec can't decode byte 0xff in position 0: "
                                      "invalid start byte"}),
        ("light", b"[1]", {"ok": False, "id": None, "error": "invalid_payload",
                           "detail": "expected a JSON object; light accepts ON, OFF, AUTO, "
                                     "FORCE_ON, FORCE_OFF (any case), or a JSON object with "
                                     "mode, for_s, id"}),
        ("light", b'{"mode": "BLUE", "id": "x"}',
         {"ok": False, "id": "x", "error": "invalid_payload",
          "detail": "mode: 'BLUE' is not a light mode; accepted: ON, OFF, AUTO, FORCE_ON, "
                    "FORCE_OFF (any case)"}),
        ("light", b'{"mode": "AUTO", "for_s": 5}',
         {"ok": False, "id": None, "error": "invalid_payload",
          "detail": "for_s: only with ON or OFF"}),
        ("light", b'{"mode": "ON", "for_s": -1, "id": 3}',
         {"ok": False, "id": 3, "error": "invalid_payload",
          "detail": "for_s: is -1; accepted: a number above 0, up to 86400 or null (not set)"}),
        ("light", b'{"mode": "ON", "colour": 1}',
         {"ok": False, "id": None, "error": "invalid_payload",
          "detail": "colour: unknown key; light accepts the keys mode, for_s, id"}),
        ("light", b'{"mode": "ON", "for_s": NaN}',
         {"ok": False, "id": None, "error": "malformed_json",
          "detail": "NaN is not a number; light accepts ON, OFF, AUTO, FORCE_ON, FORCE_OFF "
                    "(any case), or a JSON object with mode, for_s, id"}),
        ("reload", b"now", {"ok": False, "id": None, "error": "malformed_json",
                            "detail": "Expecting value: line 1 column 1 (char 0); reload "
                                      "accepts nothing, or a JSON object with id"}),
        ("status", b'{"id": true}',
         {"ok": False, "id": None, "error": "invalid_payload",
          "detail": "id: is true; accepted: text of at most 64 characters or a whole number "
                    "from -9223372036854775808, below 9223372036854775808 or null (not set)"}),
        ("light", b'{"for_s": 60}',
         {"ok": False, "id": None, "error": "invalid_payload",
          "detail": "mode: missing: One of ON, OFF, AUTO, FORCE_ON, FORCE_OFF (any case)."}),
        ("reboot", b"", {"ok": False, "id": None, "error": "unknown_command",
                         "detail": "known: light, reload, selftest, snapshot, status"}),
        ("light", b"x" * (MAX_BYTES + 1),
         {"ok": False, "id": None, "error": "too_large",
          "detail": f"{MAX_BYTES + 1} bytes, limit {MAX_BYTES}"}),
        ("snapshot", b"", {"ok": False, "id": None, "error": "disabled",
                           "detail": "snapshots are off (privacy.snapshots)"}),
    ]
    for name, payload, want in cases:
        assert h.handle(name, payload, 0.0) == want, (name, payload)
    assert actions.modes == []
    assert h.counters() == {"accepted": 0, "failed": 0, "rejected": {
        "disabled": 1, "invalid_payload": 8, "malformed_json": 3, "not_utf8": 1,
        "too_large": 1, "unknown_command": 1}}


def test_well_formed_light_commands():
    h, actions = handler()
    assert h.handle("light", b"ON", 0.0) == {"ok": True, "id": None, "error": None,
                                             "mode": "FORCE_ON", "for_s": None}
    assert h.handle("light", b' {"mode": "off", "for_s": 600, "id": "a1"} ', 0.0) == {
        "ok": True, "id": "a1", "error": None, "mode": "FORCE_OFF", "for_s": 600.0}
    assert h.handle("light", b'"AUTO"', 0.0)["ok"] is True
    assert h.handle("light", b"force_on", 0.0)["mode"] == "FORCE_ON"
    assert actions.modes == [(LightMode.FORCE_ON, None), (LightMode.FORCE_OFF, 600.0),
                             (LightMode.AUTO, None), (LightMode.FORCE_ON, None)]
    assert h.handle("status", b"", 0.0) == {"ok": True, "id": None, "error": None}
    assert actions.republished == 1
    assert isinstance(h.handle("selftest", b'{"id": 9}', 0.0), Pending)


def test_rate_limit_is_a_token_bucket():
    h, actions = handler(rate=2.0, burst=3)
    answers = [h.handle("light", b"ON", 0.0) for _ in range(5)]
    assert [a["ok"] for a in answers] == [True, True, True, False, False]
    assert answers[3] == {"ok": False, "id": None, "error": "rate_limited",
                          "detail": "more than 2/s (burst 3)"}
    assert h.handle("light", b"ON", 0.49)["ok"] is False  # 0.98 tokens
    assert h.handle("light", b"ON", 0.51)["ok"] is True  # 1.02 tokens
    assert len(actions.modes) == 4
    assert h.rejected["rate_limited"] == 3


def test_not_ready_before_the_pipeline_is_attached():
    h = CommandHandler(MAX_BYTES, 10.0, 10, False, None)
    assert h.handle("light", b"ON", 0.0) == {"ok": False, "id": None, "error": "not_ready",
                                             "detail": "the pipeline is not running yet"}


# ---- the property: every payload is answered; only well-formed light commands act ----

def expected_mode(name: str, payload: bytes) -> LightMode | None:
    """An independent statement of what a well-formed light command is (the README's rules)."""
    if name != "light" or len(payload) > MAX_BYTES:
        return None
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if text.upper() in LIGHT_WORDS:
        return LIGHT_WORDS[text.upper()]

    def no_constants(word: str) -> Any:
        raise ValueError(word)

    try:
        data = json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, str):
        data = {"mode": data}
    if not isinstance(data, dict) or set(data) - {"id", "mode", "for_s"}:
        return None
    cid = data.get("id")
    if cid is not None and not ((type(cid) is str and len(cid) <= 64)
                                or (type(cid) is int and -(2**63) <= cid < 2**63)):
        return None
    mode = data.get("mode")
    if type(mode) is not str or mode.upper() not in LIGHT_WORDS:
        return None
    for_s = data.get("for_s")
    if for_s is not None:
        if type(for_s) not in (int, float) or not math.isfinite(for_s) or not 0 < for_s <= 86400:
            return None
        if LIGHT_WORDS[mode.upper()] is LightMode.AUTO:
            return None
    return LIGHT_WORDS[mode.upper()]


json_scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
light_like = st.fixed_dictionaries(
    {"mode": st.sampled_from([*LIGHT_WORDS, "on", "Auto", "", "BLUE"]) | json_scalars},
    optional={"for_s": st.floats(-10, 1e6) | st.integers(-5, 10**6) | json_scalars,
              "id": st.text(max_size=70) | st.integers() | json_scalars,
              "extra": json_scalars},
)


def _dump(v: Any) -> bytes:
    return json.dumps(v, allow_nan=True).encode()


payloads = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=40).map(str.encode),
    st.sampled_from([w.encode() for w in LIGHT_WORDS] + [b" on ", b"Off\n", b"", b"{}"]),
    json_values.map(_dump),
    light_like.map(_dump),
    st.integers(MAX_BYTES - 5, MAX_BYTES + 5).map(lambda n: b'"' + b"O" * (n - 2) + b'"'),
)
# what a broker accepts in a topic: no control characters, surrogates or non-characters
topic_level = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn"),
                                    blacklist_characters="/+#\x00"), max_size=12)
names = st.sampled_from(["light", "light", "light", "status", "reload", "selftest",
                         "snapshot", "LIGHT", ""]) | topic_level


SHARED_HANDLER = handler()  # one handler, like the daemon's (it logs each kind of refusal once)


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names, payload=payloads)
def test_ten_thousand_random_payloads_all_answered_none_acts_unless_well_formed(name, payload):
    h, actions = SHARED_HANDLER
    actions.modes.clear()
    result = h.handle(name, payload, 0.0)
    want = expected_mode(name, payload)
    if isinstance(result, Pending):
        assert name in ("reload", "selftest")
        return
    assert isinstance(result["ok"], bool)
    assert set(result) >= {"ok", "id", "error"}
    json.dumps(result)  # every answer can go on the wire
    if result["ok"]:
        assert result["error"] is None
    else:
        assert isinstance(result["error"], str) and result["error"]
    if want is None:
        assert actions.modes == [], (name, payload, result)
        assert not (name == "light" and result["ok"])
    else:
        assert result["ok"] is True, (payload, result)
        assert [m for m, _ in actions.modes] == [want]
