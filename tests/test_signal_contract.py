"""One contract every signal type must meet; each registered type runs the whole suite."""

from __future__ import annotations

import random

import pytest

from brightline.errors import InvalidSignalValueError, UnknownSignalTypeError
from brightline.signals.base import HammingSignalType, MatchKind, SignalType
from brightline.signals.registry import SignalRegistry, default_registry, get_signal_type, make_plugin_manager

ALL_TYPES = default_registry().all()


def _random_value(signal_type: type[SignalType], rng: random.Random) -> str:
    if signal_type.match_kind is MatchKind.FRAMES:
        # A vpdq value: a few frame features joined by ";", timestamps with three decimals.
        return ";".join(f"{n},{rng.randint(50, 100)},{rng.getrandbits(256):064x},{n / 30:.3f}" for n in range(3))
    if signal_type.match_kind is MatchKind.REGIONS:
        # A pdq_regions value: name:quality:pdq_hex per region, in the canonical region order.
        regions = ("full", "top", "left")
        return ";".join(f"{name}:{rng.randint(50, 100)}:{rng.getrandbits(256):064x}" for name in regions)
    if signal_type.match_kind is MatchKind.FRAME_REGIONS:
        # A vpdq_regions value: frame@regions per frame, joined by "|".
        return "|".join(f"{n * 30}@full:{rng.randint(50, 100)}:{rng.getrandbits(256):064x}" for n in range(3))
    bits = getattr(signal_type, "bits", 256)
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


@pytest.fixture(params=ALL_TYPES, ids=lambda t: t.name)
def signal_type(request: pytest.FixtureRequest) -> type[SignalType]:
    return request.param  # type: ignore[no-any-return]


def test_name_is_a_stable_lowercase_key(signal_type: type[SignalType]) -> None:
    assert signal_type.name == signal_type.name.lower().strip()
    assert get_signal_type(signal_type.name.upper()) is signal_type


def test_validate_canonicalises_case_and_whitespace(signal_type: type[SignalType]) -> None:
    value = _random_value(signal_type, random.Random(1))
    assert signal_type.validate(f"  {value.upper()}\n") == value


@pytest.mark.parametrize("mutate", ["short", "long", "not-hex", "empty"])
def test_validate_rejects_malformed_values(signal_type: type[SignalType], mutate: str) -> None:
    value = _random_value(signal_type, random.Random(2))
    bad = {"short": value[:-1], "long": value + "0", "not-hex": "g" + value[1:], "empty": ""}[mutate]
    with pytest.raises(InvalidSignalValueError, match=signal_type.name):
        signal_type.validate(bad)


def test_validate_rejects_non_strings(signal_type: type[SignalType]) -> None:
    with pytest.raises(InvalidSignalValueError):
        signal_type.validate(12345)  # type: ignore[arg-type]


def test_distance_is_a_metric(signal_type: type[SignalType]) -> None:
    rng = random.Random(3)
    a, b, c = (_random_value(signal_type, rng) for _ in range(3))
    assert signal_type.distance(a, a) == 0
    assert signal_type.distance(a, b) == signal_type.distance(b, a) > 0
    assert signal_type.distance(a, c) <= signal_type.distance(a, b) + signal_type.distance(b, c)


@pytest.mark.parametrize("signal_type", [t for t in ALL_TYPES if t.match_kind is MatchKind.EXACT], ids=lambda t: t.name)
def test_exact_types_match_only_equal_values(signal_type: type[SignalType]) -> None:
    rng = random.Random(5)
    a, b = _random_value(signal_type, rng), _random_value(signal_type, rng)
    assert signal_type.default_threshold == 0 and not signal_type.matches(a, b)


def test_matches_uses_the_default_threshold(signal_type: type[SignalType]) -> None:
    value = _random_value(signal_type, random.Random(4))
    assert signal_type.matches(value, value)
    assert 0 <= signal_type.default_threshold <= max(signal_type.max_threshold, signal_type.default_threshold)


@pytest.mark.parametrize(
    "signal_type", [t for t in ALL_TYPES if t.match_kind is MatchKind.HAMMING], ids=lambda t: t.name
)
def test_hamming_types_count_differing_bits(signal_type: type[SignalType]) -> None:
    assert issubclass(signal_type, HammingSignalType)
    zero = "0" * (signal_type.bits // 4)
    assert signal_type.distance(zero, "f" + zero[1:]) == 4


def test_registry_knows_the_built_ins_and_refuses_unknown_names() -> None:
    assert {"pdq", "md5", "sha256"} <= set(default_registry().names())
    with pytest.raises(UnknownSignalTypeError, match="known: "):
        get_signal_type("photodna")


def test_registry_refuses_two_plugins_with_one_name() -> None:
    from brightline.hookspecs import hookimpl
    from brightline.signals.cryptographic import Md5Signal

    class Impostor(Md5Signal):
        pass

    class Plugin:
        @hookimpl
        def brightline_signal_types(self) -> list[type[SignalType]]:
            return [Impostor]

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Plugin())
    with pytest.raises(ValueError, match="md5"):
        SignalRegistry(pm)


def test_a_plugin_can_add_a_signal_type() -> None:
    from brightline.hookspecs import hookimpl
    from brightline.signals.base import ExactSignalType

    class Crc32Signal(ExactSignalType):
        name = "crc32"
        bits = 32

    class Plugin:
        @hookimpl
        def brightline_signal_types(self) -> list[type[SignalType]]:
            return [Crc32Signal]

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Plugin())
    assert SignalRegistry(pm).get("crc32") is Crc32Signal
