"""Commands on ``cmd/<name>``: checked (rate, size, encoding, JSON, schema) and answered.

Every message gets exactly one answer ``{"ok": bool, "id": ..., "error": ..., ...}`` on
``result/<name>``; bad input is refused with a reason and counted, and never reaches the
pipeline. The handler itself does no I/O: it acts on the :class:`~edge.runtime.control.Control`
it is given (the MQTT face's, :class:`edge.mqtt.responder.CommandResponder`), and a command
that has to wait for the frame thread (reload, selftest, snapshot) comes back as ``Pending``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Annotated, Any

import structlog
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from edge.config.messages import error_words, show_value
from edge.decision.light_rules import LightMode
from edge.runtime.control import CommandFailed, Control
from edge.wire import CommandName, Failure, Rejection, parse_json

log = structlog.get_logger("stopsafe.mqtt.commands")

MAX_NAME_CHARS = 64  # longer names are unknown anyway; the answer's topic echoes the name


LIGHT_WORDS: dict[str, LightMode] = {
    "ON": LightMode.FORCE_ON, "OFF": LightMode.FORCE_OFF, "AUTO": LightMode.AUTO,
    "FORCE_ON": LightMode.FORCE_ON, "FORCE_OFF": LightMode.FORCE_OFF,
}

CommandId = Annotated[StrictStr, Field(max_length=64)] | Annotated[
    StrictInt, Field(ge=-(2**63), lt=2**63)
]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: CommandId | None = Field(
        None, description="Echoed in the answer, to match it to the request."
    )


class LightArgs(_Args):
    mode: str = Field(description=f"One of {', '.join(LIGHT_WORDS)} (any case).")
    for_s: Annotated[float, Field(gt=0.0, le=86400.0, strict=True)] | None = Field(
        None, description="Fall back to AUTO after this many seconds."
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _a_light_word(cls, mode: Any) -> str:
        if not isinstance(mode, str) or mode.upper() not in LIGHT_WORDS:
            raise ValueError(f"{show_value(mode)} is not a light mode; accepted: "
                             f"{light_words()} (any case)")
        return mode

    @property
    def light_mode(self) -> LightMode:
        return LIGHT_WORDS[self.mode.upper()]


ARGS: dict[CommandName, type[_Args]] = {
    CommandName.LIGHT: LightArgs,
    CommandName.RELOAD: _Args,
    CommandName.SELFTEST: _Args,
    CommandName.SNAPSHOT: _Args,
    CommandName.STATUS: _Args,
}
BARE_WORD = re.compile(r"[A-Za-z_]+")  # a light mode sent as a plain word, not as JSON


def _keys(command: CommandName) -> str:
    """The keys of a command's JSON object, its own first and ``id`` last."""
    return ", ".join(sorted(ARGS[command].model_fields, key=lambda k: k == "id"))


def light_words() -> str:
    return ", ".join(LIGHT_WORDS)


def accepts(command: CommandName) -> str:
    """What a command's payload may be, in the words an answer gives (from LIGHT_WORDS and the
    command's argument model)."""
    keys = _keys(command)
    if command is CommandName.LIGHT:
        return f"{light_words()} (any case), or a JSON object with {keys}"
    return f"nothing, or a JSON object with {keys}"


@dataclass(slots=True)
class Pending:
    """An answer that waits for the frame thread."""

    name: str
    id: Any
    future: Future[dict[str, Any]]
    deadline: float


@dataclass(slots=True)
class TokenBucket:
    rate_per_s: float
    burst: int
    tokens: float = -1.0
    last: float | None = None

    def take(self, now: float) -> bool:
        if self.last is None:
            self.tokens, self.last = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.rate_per_s)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def answer(ok: bool, cmd_id: Any = None, error: str | None = None, **extra: Any
           ) -> dict[str, Any]:
    return {"ok": ok, "id": cmd_id, "error": error, **extra}


def _safe_id(value: Any) -> Any:
    """The request's id as far as it can be echoed (a short string or an integer)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) < 2**63:
        return value
    if isinstance(value, str) and len(value) <= 64:
        return value
    return None


def _no_constant(word: str) -> float:
    raise ValueError(f"{word} is not a number")


@dataclass
class CommandHandler:
    """Checks and answers commands; counts what it refused."""

    max_bytes: int
    rate_per_s: float
    burst: int
    snapshots: bool
    control: Control | None = None
    timeout_s: float = 10.0
    rejected: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    failed: int = 0
    _logged: set[str] = field(default_factory=set)
    _bucket: TokenBucket = field(init=False)

    def __post_init__(self) -> None:
        self._bucket = TokenBucket(self.rate_per_s, self.burst)

    def _reject(self, kind: Rejection, name: str, detail: str, cmd_id: Any = None
                ) -> dict[str, Any]:
        self.rejected[kind.value] += 1
        if kind.value not in self._logged:  # once per kind: a flood must not flood the log
            self._logged.add(kind.value)
            log.warning("command_rejected", kind=kind.value, command=name[:MAX_NAME_CHARS],
                        detail=detail[:200])
        return answer(False, cmd_id, kind.value, detail=detail)

    def refuse_retained(self, name: str) -> dict[str, Any]:
        """The answer to a retained command (not rate-limited: the broker sends each once a
        connection, and an answer tells the sender why nothing happened)."""
        return self._reject(Rejection.RETAINED, name[:MAX_NAME_CHARS],
                            "retained commands are never obeyed (publish without retain)")

    def handle(self, name: str, payload: bytes, now: float) -> dict[str, Any] | Pending:
        """One command message -> its answer now, or a Pending one."""
        if not self._bucket.take(now):
            return self._reject(Rejection.RATE_LIMITED, name,
                                f"more than {self.rate_per_s:g}/s (burst {self.burst})")
        if len(payload) > self.max_bytes:
            return self._reject(Rejection.TOO_LARGE, name,
                                f"{len(payload)} bytes, limit {self.max_bytes}")
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            return self._reject(Rejection.NOT_UTF8, name, str(exc))
        try:
            command = CommandName(name)
        except ValueError:
            known = ", ".join(c.value for c in CommandName)
            return self._reject(Rejection.UNKNOWN_COMMAND, name, f"known: {known}")
        data: Any
        stripped = text.strip()
        if not stripped:
            data = {}
        elif command is CommandName.LIGHT and BARE_WORD.fullmatch(stripped):
            data = {"mode": stripped}  # a word that is no mode is answered as such, below
        else:
            try:
                data = parse_json(stripped, parse_constant=_no_constant)
            except ValueError as exc:
                return self._reject(Rejection.MALFORMED_JSON, name,
                                    f"{str(exc)[:200]}; {name} accepts {accepts(command)}")
            if command is CommandName.LIGHT and isinstance(data, str):
                data = {"mode": data}
        if not isinstance(data, dict):
            return self._reject(Rejection.INVALID, name,
                                f"expected a JSON object; {name} accepts {accepts(command)}")
        cmd_id = _safe_id(data.get("id"))
        try:
            args = ARGS[command].model_validate(data)
            if isinstance(args, LightArgs):
                self._check_light(args)
        except ValidationError as exc:
            first = exc.errors()[0]
            if first["type"] == "extra_forbidden":
                detail = f"{first['loc'][0]}: unknown key; {name} accepts the keys " \
                         f"{_keys(command)}"
            else:  # the key, the value sent and what it may be (from the argument model)
                where, what = error_words(first, ARGS[command], data)
                detail = f"{where}: {what}"
            return self._reject(Rejection.INVALID, name, detail, cmd_id)
        except ValueError as exc:
            return self._reject(Rejection.INVALID, name, str(exc), cmd_id)
        if command is CommandName.SNAPSHOT and not self.snapshots:
            return self._reject(Rejection.DISABLED, name,
                                "snapshots are off (privacy.snapshots)", cmd_id)
        if self.control is None:
            return self._reject(Rejection.NOT_READY, name, "the pipeline is not running yet",
                                cmd_id)
        return self._run(command, args, now)

    @staticmethod
    def _check_light(args: LightArgs) -> None:
        # (for_s is finite already: the model takes (0, 86400] and no inf or nan)
        if args.for_s is not None and args.light_mode is LightMode.AUTO:
            raise ValueError("for_s: only with ON or OFF")

    def _run(self, command: CommandName, args: _Args, now: float) -> dict[str, Any] | Pending:
        assert self.control is not None
        self.accepted += 1
        if isinstance(args, LightArgs):
            mode = args.light_mode
            self.control.request_mode(mode, args.for_s)
            log.info("light_mode_requested", mode=mode.value, for_s=args.for_s, id=args.id)
            return answer(True, args.id, mode=mode.value, for_s=args.for_s)
        if command is CommandName.STATUS:
            self.control.republish()
            return answer(True, args.id)
        start: Callable[[], Future[dict[str, Any]]] = {
            CommandName.RELOAD: self.control.reload,
            CommandName.SELFTEST: self.control.selftest,
            CommandName.SNAPSHOT: self.control.snapshot,
        }[command]
        try:
            future = start()
        except CommandFailed as exc:
            self.failed += 1
            return answer(False, args.id, exc.failure.value, detail=exc.detail, **exc.extra)
        return Pending(command.value, args.id, future, now + self.timeout_s)

    def finish(self, p: Pending, now: float) -> dict[str, Any] | None:
        """The answer of a pending command once it is done or overdue, else None."""
        if not p.future.done():
            if now < p.deadline:
                return None
            p.future.cancel()
            self.failed += 1
            return answer(False, p.id, Failure.TIMEOUT.value,
                          detail=f"no result within {self.timeout_s:g} s")
        exc = p.future.exception()
        if exc is None:
            return answer(True, p.id, **p.future.result())
        self.failed += 1
        if isinstance(exc, CommandFailed):
            return answer(False, p.id, exc.failure.value, detail=exc.detail, **exc.extra)
        log.error("command_failed", command=p.name, error=repr(exc)[:200])
        return answer(False, p.id, Failure.FAILED.value, detail=repr(exc)[:200])

    def counters(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "failed": self.failed,
                "rejected": dict(sorted(self.rejected.items()))}
