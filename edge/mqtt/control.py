"""What commands do to a running stop. Anything that touches the relay, the detector or the
decision core runs in the frame thread (``Pipeline.call_soon``), between two frames."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from detector.models import ModelError
from edge.config import Config, ConfigError
from edge.decision.light_rules import LightMode
from edge.mqtt.commands import CommandFailed
from edge.pictures import Box, person_boxes
from edge.runtime.pipeline import Pipeline, StopRecord
from edge.wire import Failure

if TYPE_CHECKING:
    from edge.runtime.assembly import Stop

log = structlog.get_logger("stopsafe.mqtt.control")

PULSE_S = 0.05  # the self-test's relay pulse: long enough for a relay to pull in


class Control(Protocol):
    """The pipeline side of the commands (the daemon's, or a fake stop's in fleet-sim)."""

    def request_mode(self, mode: LightMode, for_s: float | None) -> None: ...

    def reload(self) -> Future[dict[str, Any]]: ...

    def selftest_frame(self) -> Future[dict[str, Any]]: ...

    def snapshot_frame(self) -> Future[tuple[Any, list[Box]]]: ...


class PipelineControl:
    """Commands' actions on the daemon's (or the simulator's) stop."""

    def __init__(self, stop: Stop, loader: Callable[[], Config] | None,
                 last_record: Callable[[], StopRecord | None]) -> None:
        self.stop = stop
        self.loader = loader
        self.last_record = last_record

    @property
    def pipeline(self) -> Pipeline:
        return self.stop.pipeline

    @property
    def cfg(self) -> Config:
        """The config the stop runs on (its one owner is the stop's ``running``)."""
        return self.stop.cfg

    def request_mode(self, mode: LightMode, for_s: float | None) -> None:
        self.pipeline.request_mode(mode, for_s)

    def reload(self) -> Future[dict[str, Any]]:
        """Re-read the config file; a bad one is refused with the start-up message. The new
        detector (when its section changed) is built here, outside the frame thread; every user
        of a changed section is re-configured in the frame thread, between two frames, and the
        answer says what was applied and what waits for a restart."""
        if self.loader is None:
            raise CommandFailed(Failure.FAILED, "no config file to reload (started without -c)")
        try:
            new = self.loader()
            prepared = self.stop.prepare_reload(new)
        except (ConfigError, ModelError) as exc:
            log.warning("reload_refused", error=str(exc))
            raise CommandFailed(Failure.CONFIG_ERROR, str(exc)) from None
        except Exception as exc:  # whatever is wrong with the file, the answer comes
            detail = f"{type(exc).__name__}: {exc}"[:300]
            log.error("reload_refused", error=detail)
            raise CommandFailed(Failure.CONFIG_ERROR, detail) from None
        future = self.pipeline.call_soon(lambda: self.stop.apply_reload(prepared).answer())
        future.add_done_callback(lambda f: prepared.discard() if f.cancelled() else None)
        return future

    def selftest_frame(self) -> Future[dict[str, Any]]:
        """Pulse the relay (only while the light is off) and invoke the model once."""

        def run() -> dict[str, Any]:
            light = self.pipeline.light
            relay: dict[str, Any]
            if light.read():
                relay = {"ok": light.read(), "pulsed": False, "note": "light is on: not pulsed"}
            else:
                on = light.set(True)
                time.sleep(PULSE_S)
                off = light.set(False)
                relay = {"ok": on and not off, "pulsed": True, "read_on": on, "read_off": off}
            record = self.last_record()
            model: dict[str, Any]
            if record is None or record.frame is None:
                model = {"ok": False, "error": "no frame yet"}
            else:
                t0 = time.perf_counter()
                result = self.pipeline.detect(record.frame.image)
                model = {"ok": True, "invoke_ms": round((time.perf_counter() - t0) * 1e3, 1),
                         "people": len(result.detections)}
            return {"relay": relay, "model": model}

        return self.pipeline.call_soon(run)

    def snapshot_frame(self) -> Future[tuple[Any, list[Box]]]:
        """The last frame and every person box in it (detections and tracked people)."""

        def run() -> tuple[Any, list[Box]]:
            record = self.last_record()
            if record is None or record.frame is None:
                raise CommandFailed(Failure.FAILED, "no frame yet")
            return (record.frame.image.copy(),
                    person_boxes(record.detections, record.state.people))

        return self.pipeline.call_soon(run)
