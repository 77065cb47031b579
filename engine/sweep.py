"""Building parameter sweeps: full factorial designs, with sub-sweeps for some levels.

``sweep()`` gives exactly the combinations (and order) of execo 2.8; it also checks its
input, since a typo there (a bare value instead of a list, a list as a value) used to show
up hours later as a missing or unhashable combination.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Mapping, Tuple

from execo_engine.log import logger

__all__ = ["geom", "igeom", "HashableDict", "sweep", "sweep_stats"]


def geom(range_min: float, range_max: float, num_steps: int) -> List[float]:
    """`num_steps` floats from range_min to range_max in geometric progression."""
    num_steps = int(num_steps)
    if num_steps == 0:
        return []
    if num_steps == 1:
        return [float(range_min)]
    ratio = math.pow(float(range_max) / float(range_min), 1.0 / (num_steps - 1))
    inner = [float(range_min) * math.pow(ratio, i) for i in range(1, num_steps - 1)]
    return [float(range_min)] + inner + [float(range_max)]


def igeom(range_min: float, range_max: float, num_steps: int) -> List[int]:
    """Sorted distinct integers of a geometric progression (there can be fewer than num_steps)."""
    num_steps = int(num_steps)
    if num_steps == 0:
        return []
    if num_steps == 1:
        return [int(range_min)]
    values = {int(range_min), int(range_max)}
    values.update(int(round(x)) for x in geom(range_min, range_max, num_steps))
    return sorted(values)


def _sort_key(item: Tuple[Any, Any]) -> Tuple[str, str]:
    return (type(item[0]).__name__, repr(item[0]))


class HashableDict(dict):
    """A dict usable in sets and as a key: its hash comes from its sorted items.

    Do not modify one after it has been hashed (put in a set, used as a key).
    Keys of mixed types (which cannot be sorted together) are accepted too. The hash is
    computed once and cached (a sweeper hashes each combination many times); modifying
    the dict through its methods drops the cache.
    """

    __slots__ = ("_hash",)

    def _items_key(self) -> Tuple[Tuple[Any, Any], ...]:
        try:
            return tuple(sorted(self.items()))
        except TypeError:
            return tuple(sorted(self.items(), key=_sort_key))

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash = hash(self._items_key())
            return self._hash

    def _forget_hash(self) -> None:
        try:
            del self._hash
        except AttributeError:
            pass

    def __reduce__(self):  # copies and deep copies stay HashableDicts
        return (HashableDict, (dict(self),))


def _mutator(name: str) -> Any:
    method = getattr(dict, name)

    def mutate(self: HashableDict, *args: Any, **kwargs: Any) -> Any:
        self._forget_hash()
        return method(self, *args, **kwargs)

    mutate.__name__ = name
    mutate.__doc__ = method.__doc__
    return mutate


for _name in ("__setitem__", "__delitem__", "__ior__", "clear", "pop", "popitem", "setdefault",
              "update"):
    if hasattr(dict, _name):
        setattr(HashableDict, _name, _mutator(_name))


_SEQUENCES = (list, tuple, set, frozenset, range)


def _check_values(name: Any, values: Any) -> None:
    if isinstance(values, (str, bytes)) or not isinstance(values, _SEQUENCES):
        raise TypeError("sweep parameter %r: expected a list of values (or a dict of sub-sweeps "
                        "per level), got %s %r; write [%r] for a single value"
                        % (name, type(values).__name__, values, values))
    for value in values:
        try:
            hash(value)
        except TypeError:
            raise TypeError("sweep parameter %r: value %r is unhashable (%s); use a tuple instead "
                            "of a list, a HashableDict instead of a dict"
                            % (name, value, type(value).__name__)) from None


def sweep(parameters: Mapping[Any, Any]) -> List[HashableDict]:
    """All combinations of the parameter values (a full factorial design).

    `parameters` maps each parameter to the list of its values; combinations come in the
    order of the dict, the first parameter varying slowest. A parameter may instead map to
    a dict ``{level: {sub-parameters}}``: each level is then crossed only with its own
    sub-sweep (an empty sub-dict means just that level). Parameters with an empty list are
    left out.

    >>> sweep({"a": [1, 2], "b": ["x"]})
    [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}]
    """
    if not isinstance(parameters, Mapping):
        raise TypeError("sweep() takes a dict of parameters, got %s %r"
                        % (type(parameters).__name__, parameters))
    result = [HashableDict()]
    for name, values in parameters.items():
        if isinstance(values, Mapping):
            if len(values) == 0:
                continue
            expanded = []
            for level, subparameters in values.items():
                try:
                    hash(level)
                except TypeError:
                    raise TypeError("sweep parameter %r: level %r is unhashable"
                                    % (name, level)) from None
                if not isinstance(subparameters, Mapping):
                    raise TypeError("sweep parameter %r, level %r: expected a dict of sub-parameters,"
                                    " got %s %r" % (name, level, type(subparameters).__name__,
                                                    subparameters))
                expanded.append((level, sweep(subparameters)))
            new_result = []
            for partial in result:
                for level, subcombinations in expanded:
                    for sub in subcombinations:
                        combination = HashableDict(partial)
                        combination[name] = level
                        combination.update(sub)
                        new_result.append(combination)
        else:
            _check_values(name, values)
            if len(values) == 0:
                continue
            new_result = []
            for partial in result:
                for value in values:
                    combination = HashableDict(partial)
                    combination[name] = value
                    new_result.append(combination)
        result = new_result
    if result == [HashableDict()] and parameters:
        logger.warning("sweep(): every parameter has an empty list of values, which gives one "
                       "empty combination")
    return result


def _count(combinations: Iterable[Mapping[Any, Any]]) -> Dict[Any, Dict[Any, int]]:
    counts: Dict[Any, Dict[Any, int]] = {}
    for combination in combinations:
        for key, value in combination.items():
            per_value = counts.setdefault(key, {})
            per_value[value] = per_value.get(value, 0) + 1
    return counts


def sweep_stats(stats: Tuple[Any, Any, Any, Any, Any]) -> Dict[str, Dict[Any, Dict[Any, float]]]:
    """Per parameter and value, the counts and ratios of each state.

    Takes the tuple of ParamSweeper.stats() (sweeps, remaining, skipped, inprogress, done),
    whose combinations are dicts as made by sweep().
    """
    sweeps, remaining, skipped, inprogress, done = stats
    total = _count(sweeps)
    result: Dict[str, Any] = {"total": total}
    for name, combinations in (("remaining", remaining), ("skipped", skipped),
                               ("inprogress", inprogress), ("done", done)):
        counts = _count(combinations)
        result[name] = counts
        result[name + "_ratio"] = {
            key: {value: float(counts.get(key, {}).get(value, 0)) / float(n)
                  for value, n in per_value.items()}
            for key, per_value in total.items()}
    return result
