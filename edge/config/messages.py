"""Validation errors in words a person reads: the setting as it is written in the file, the value
found, and what would be accepted, worked out from the model itself (types, bounds, enums,
literals, keys) so every setting benefits without a message of its own.

Pydantic says ``zone.polygon.2.0: Input should be less than or equal to 1``; this says
``zone.polygon: point 3 is (1.2, 0.4); each x and y is a fraction of the frame, 0 to 1``.
Used for config files, scenario files and MQTT command payloads alike.
"""

from __future__ import annotations

import difflib
import enum
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

MAX_SHOWN = 60  # characters of a wrong value quoted back


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """``Annotated[X, ...]`` -> X and its constraints (FieldInfo's own metadata flattened)."""
    meta: list[Any] = []
    while typing.get_origin(tp) is typing.Annotated:
        tp, *extra = typing.get_args(tp)
        for m in extra:
            meta.extend(m.metadata if isinstance(m, FieldInfo) else [m])
    return tp, meta


def _members(tp: Any) -> list[Any]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return list(typing.get_args(tp))
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _is_point(tp: Any) -> bool:
    """A polygon's point: ``tuple[float, float]`` (fractions of the frame)."""
    tp, _ = _unwrap(tp)
    args = typing.get_args(tp)
    return (typing.get_origin(tp) is tuple and len(args) == 2
            and all(_unwrap(a)[0] is float for a in args))


def _is_polygon(tp: Any) -> bool:
    tp, _ = _unwrap(tp)
    return typing.get_origin(tp) is list and _is_point(typing.get_args(tp)[0])


def _step(tp: Any, part: Any) -> Any | None:
    """The type one location part further in (a field, a list item, a mapping's value)."""
    for member in _members(_unwrap(tp)[0]):
        member, _ = _unwrap(member)
        origin, args = typing.get_origin(member), typing.get_args(member)
        if _is_model(member) and isinstance(part, str) and part in member.model_fields:
            fi = member.model_fields[part]
            return typing.Annotated[(fi.annotation, *fi.metadata)] if fi.metadata \
                else fi.annotation
        if isinstance(part, int) and origin is list and args:
            return args[0]
        if isinstance(part, int) and origin is tuple and args:
            return args[min(part, len(args) - 1)] if args[-1] is not Ellipsis else args[0]
        if isinstance(part, str) and origin is dict and len(args) == 2:
            return args[1]
    return None


def _is_setting(tp: Any, part: Any) -> bool:
    """Whether ``part`` is a place in the file (a key or an index), not a name pydantic gives a
    member of a union (``constrained-int``, ``literal['auto']``, ``function-after[...]``)."""
    if isinstance(part, int) or tp is None:
        return True
    members = [m for m in _members(_unwrap(tp)[0]) if m is not type(None)]
    return len(members) <= 1 or _step(tp, part) is not None


def _num(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _bounds(meta: list[Any]) -> str:
    lo = next((m for m in meta if isinstance(m, at.Ge | at.Gt)), None)
    hi = next((m for m in meta if isinstance(m, at.Le | at.Lt)), None)
    low = (f"from {_num(lo.ge)}" if isinstance(lo, at.Ge)
           else f"above {_num(lo.gt)}" if isinstance(lo, at.Gt) else "")
    high = (f"up to {_num(hi.le)}" if isinstance(hi, at.Le)
            else f"below {_num(hi.lt)}" if isinstance(hi, at.Lt) else "")
    if isinstance(lo, at.Ge) and isinstance(hi, at.Le):
        return f" from {_num(lo.ge)} to {_num(hi.le)}"
    if low and high:
        return f" {low}, {high}"
    if isinstance(lo, at.Ge):
        return f" of {_num(lo.ge)} or more"
    return f" {low or high}" if low or high else ""


def _lengths(meta: list[Any], noun: str) -> str:
    lo = next((m.min_length for m in meta if isinstance(m, at.MinLen)), None)
    hi = next((m.max_length for m in meta if isinstance(m, at.MaxLen)), None)
    if lo and hi:
        return f"{lo} to {hi} {noun}"
    if hi is not None:
        return f"at most {hi} {noun}"
    if lo:
        return f"at least {lo} {noun}"
    return ""


CHARACTER_WORDS = {"A-Za-z": "letters", "a-zA-Z": "letters", "a-z": "small letters",
                   "A-Z": "capital letters", "0-9": "digits"}


def _pattern_words(pattern: str) -> str:
    """``^[A-Za-z0-9_-]+$`` -> ``only letters, digits, '_' and '-'``; any other pattern as it is
    (with the setting's description beside it, see error_words)."""
    m = re.fullmatch(r"\^\[([^\]^]+)\][+*]\$", pattern)
    if not m:
        return f"matching {pattern}"
    rest, words = m.group(1), []
    for chars, word in CHARACTER_WORDS.items():
        if chars in rest:
            rest = rest.replace(chars, "", 1)
            words.append(word)
    words += [repr(c) for c in rest]
    listed = ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else words[0]
    return f"only {listed}"


def accepted(tp: Any) -> str:
    """What a value of type ``tp`` may be, in words."""
    tp, meta = _unwrap(tp)
    members = _members(tp)
    if len(members) > 1:  # the field's own constraints hold for each member
        words = [accepted(typing.Annotated[(m, *meta)] if meta else m)
                 for m in members if m is not type(None)]
        if type(None) in members:
            words.append("null (not set)")
        return " or ".join(words)
    if _is_point(tp):
        return "a point [x, y], each a fraction of the frame from 0 to 1"
    if _is_polygon(tp):
        return f"{_lengths(meta, 'points') or 'points'} [x, y], each x and y a fraction of the " \
               "frame from 0 to 1"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return str(args[0]) if len(args) == 1 else "one of " + ", ".join(str(a) for a in args)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number" + _bounds(meta)
    if tp is float:
        return "a number" + _bounds(meta)
    if tp is str:
        size = _lengths(meta, "characters")
        pattern = next((m.pattern for m in meta if hasattr(m, "pattern") and m.pattern), None)
        return ("text" + (f" of {size}" if size else "")
                + (f": {_pattern_words(pattern)}" if pattern else ""))
    if isinstance(tp, type) and issubclass(tp, Path):
        return "a file or folder path"
    if _is_model(tp):
        return "a mapping with the keys " + ", ".join(tp.model_fields)
    if origin in (list, tuple, set):
        item = accepted(args[0]) if args else "items"
        size = _lengths(meta, "items")
        return f"a list{' of ' + size if size else ''}, each {item}"
    if origin is dict:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def show_value(value: Any) -> str:
    """A value as it is quoted back in a message (cut short when long)."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def setting_name(loc: tuple[Any, ...]) -> str:
    """``('zone', 'masks', 0)`` -> ``zone.masks[0]``: the setting as the file writes it."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = str(part) if str(part).isidentifier() else repr(part)  # odd keys, quoted
            out += f".{name}" if out else name
    return out


def _at(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _type_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> Any | None:
    """The type at ``loc``, a location already reduced to places in the file (_places)."""
    tp: Any = model
    for part in loc:
        if tp is None:
            return None
        tp = _step(tp, part)
    return tp


def _from_context(ctx: dict[str, Any]) -> str | None:
    """What is accepted, from the error alone (where the model is not at hand): its allowed
    values or its bound."""
    if "expected" in ctx:
        return f"one of {str(ctx['expected']).replace(chr(39), '')}"
    bounds = [at.Ge(ctx["ge"])] if "ge" in ctx else [at.Gt(ctx["gt"])] if "gt" in ctx else []
    bounds += [at.Le(ctx["le"])] if "le" in ctx else [at.Lt(ctx["lt"])] if "lt" in ctx else []
    return f"a number{_bounds(bounds)}" if bounds else None


def _field_info(model: type[BaseModel], loc: tuple[Any, ...]) -> FieldInfo | None:
    """The field at ``loc`` (its description says what it is for), where it is a model's."""
    if not loc:
        return None
    for member in _members(_unwrap(_type_at(model, loc[:-1]))[0]):
        member, _ = _unwrap(member)
        if _is_model(member) and loc[-1] in member.model_fields:
            return member.model_fields[loc[-1]]
    return None


def _point_words(index: int, point: Any, hint: str | None) -> str:
    if isinstance(point, list | tuple):
        shown = "(" + ", ".join(_num(v) if isinstance(v, int | float) else show_value(v)
                                for v in point) + ")"
    else:
        shown = show_value(point)
    if not isinstance(point, list | tuple) or len(point) != 2:
        return f"point {index + 1} is {shown}; each point is [x, y], two fractions of the " \
               "frame, 0 to 1"
    # a coordinate above 1 looks like pixels: say how to give those
    pixels = any(isinstance(v, int | float) and v > 1 for v in point)
    tail = f" ({hint})" if hint and pixels else ""
    return f"point {index + 1} is {shown}; each x and y is a fraction of the frame, 0 to 1{tail}"


def _places(loc: tuple[Any, ...], model: type[BaseModel] | None) -> tuple[Any, ...]:
    """The parts of ``loc`` that are places in the file (keys and indexes)."""
    if model is None:
        return loc
    out: list[Any] = []
    tp: Any = model
    for part in loc:
        if tp is not None and not _is_setting(tp, part):
            continue
        out.append(part)
        tp = _step(tp, part) if tp is not None else None
    return tuple(out)


def error_words(err: ErrorDetails, model: type[BaseModel] | None = None, data: Any = None,
                pixel_hint: str | None = None) -> tuple[str, str]:
    """One pydantic error as (the setting, what is wrong and what would be accepted)."""
    loc = _places(tuple(err["loc"]), model)
    kind, ctx = err["type"], err.get("ctx") or {}
    # a polygon's point (one of its coordinates, or the point itself), known by its type
    for depth in (2, 1):
        if model is not None and len(loc) > depth and isinstance(loc[-depth], int):
            holder = _type_at(model, loc[:-depth])
            if holder is not None and _is_polygon(holder):
                point = _at(data, loc[: len(loc) - depth + 1])
                return (setting_name(loc[:-depth]) or "(top level)",
                        _point_words(loc[-depth], point, pixel_hint))
    name = setting_name(loc) or "(top level)"
    tp = _type_at(model, loc) if model is not None else None
    value = err.get("input")
    if kind == "extra_forbidden":
        parent, _ = _unwrap(_type_at(model, loc[:-1]) if model is not None else None)
        keys = list(parent.model_fields) if _is_model(parent) else []
        close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
        where = setting_name(loc[:-1]) or "the top level"
        hint = f" (did you mean {close[0]}?)" if close else ""
        listed = f"; {where} accepts: {', '.join(keys)}" if keys else ""
        return name, f"unknown setting{hint}{listed}"
    if kind == "value_error":
        return name, str(ctx.get("error", err["msg"])).removeprefix("Value error, ")
    what = accepted(tp) if tp is not None else _from_context(ctx)
    if kind == "missing":
        field = _field_info(model, loc) if model is not None else None
        if field is not None and field.description:
            return name, f"missing: {field.description}"
        return name, "missing" + (f"; give {what}" if what else "")
    if kind == "string_pattern_mismatch" and what and "matching " in what:
        field = _field_info(model, loc) if model is not None else None
        if field is not None and field.description:  # a pattern only a programmer reads
            what += f" ({field.description.rstrip('.')})"
    if kind in ("too_short", "too_long") and isinstance(value, list | tuple | dict):
        noun = "point" if tp is not None and _is_polygon(tp) else "item"
        found = f"has {len(value)} {noun}{'s' if len(value) != 1 else ''}"
    else:
        found = f"is {show_value(value)}"
    return name, f"{found}; accepted: {what}" if what else err["msg"]


def _safe_words(err: ErrorDetails, model: type[BaseModel] | None, data: Any,
                pixel_hint: str | None) -> tuple[str, str]:
    """error_words, or pydantic's own words should a file be stranger than foreseen: a slip in
    the wording must never hide the error itself."""
    try:
        return error_words(err, model, data, pixel_hint)
    except Exception:  # any slip falls back to the plain message
        return setting_name(tuple(err["loc"])) or "(top level)", err["msg"]


def describe(source: Path | str, exc: ValidationError, model: type[BaseModel] | None = None,
             data: Any = None, pixel_hint: str | None = None) -> str:
    """The one line for a file that does not validate: its first problem, and how many other
    settings have one (a union's members, or a polygon's points, count once)."""
    said = [_safe_words(e, model, data, pixel_hint) for e in exc.errors()]
    name, text = said[0]
    others = len({n for n, _ in said} - {name})
    tail = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
    where = f"{name}: " if name != "(top level)" else ""
    return " ".join(f"{source}: {where}{text}{tail}".split())
