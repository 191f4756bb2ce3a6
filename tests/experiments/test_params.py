"""The --param grammar and its errors."""
import pytest

from pipsim.experiments import ExperimentError, Param
from pipsim.experiments.params import grid_points, parse_grid

PARAMS = [Param("depth", 2, "d", low=1, high=10), Param("rate", 0.5, "r"),
          Param("shape", "chain", "s", choices=("chain", "star"))]


def grid(*assignments):
    return parse_grid("exp", PARAMS, assignments)


def test_values_ranges_lists_and_defaults():
    assert grid() == {"depth": [2], "rate": [0.5], "shape": ["chain"]}
    assert grid("depth=1..4")["depth"] == [1, 2, 3, 4]
    assert grid("depth=1..9:4")["depth"] == [1, 5, 9]
    assert grid("depth=3,1,3")["depth"] == [3, 1]
    assert grid("rate=0.1,1e-2")["rate"] == [0.1, 0.01]
    assert grid(" shape = star ")["shape"] == ["star"]
    points = grid_points(grid("depth=1,2", "shape=chain,star"))
    assert len(points) == 4 and points[1] == {"depth": 1, "rate": 0.5, "shape": "star"}


@pytest.mark.parametrize("assignment, message", [
    ("height=3", "unknown parameter 'height' for experiment 'exp' (its parameters: depth, "
                 "rate, shape)"),
    ("depth", "expected NAME=VALUE"),
    ("=3", "expected NAME=VALUE"),
    ("depth=", "parameter depth: empty value"),
    ("depth=1,,2", "parameter depth: empty value"),
    ("depth=5..2", "parameter depth: empty range '5..2' (5 > 2)"),
    ("depth=1..x", "parameter depth: 'x' in '1..x' is not an integer"),
    ("depth=1..4:0", "step must be >= 1"),
    ("depth=two", "parameter depth: 'two' is not an integer"),
    ("depth=0", "parameter depth=0 is below its minimum 1"),
    ("depth=5..11", "parameter depth=11 is above its maximum 10"),
    ("rate=0.1..0.5", "ranges A..B are for integer parameters"),
    ("shape=tree", "parameter shape='tree' is not one of chain, star"),
])
def test_bad_assignments_name_the_parameter(assignment, message):
    with pytest.raises(ExperimentError) as error:
        grid(assignment)
    assert message in str(error.value)


def test_a_parameter_given_twice():
    with pytest.raises(ExperimentError, match="parameter depth is given twice"):
        grid("depth=1", "depth=2")
