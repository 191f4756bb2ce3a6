"""Bad Python arguments are refused before they reach the kernel, with a clear message."""
import pytest

from pipsim.kernel import Partition


def test_wrong_types_raise_type_error(k, api):
    with pytest.raises(TypeError, match="desc"):
        api.create_partition("x", 1, 2, 3, 4)
    with pytest.raises(TypeError, match="va"):
        api.mapped_in_child(1.5)
    with pytest.raises(TypeError, match="r"):
        api.add_vaddr(0x20000, 0x21000, 0x3000, None, 1, 0)
    with pytest.raises(TypeError, match="data"):
        api.write(0x20000, 12)
    with pytest.raises(TypeError):
        k.as_partition(1)


def test_out_of_range_values_raise_value_error(k, api):
    limit = k.geometry.va_limit
    with pytest.raises(ValueError, match="desc"):
        api.delete_partition(limit)
    with pytest.raises(ValueError, match="va"):
        api.prepare(0x20000, -1, 0x21000)
    with pytest.raises(ValueError, match="e"):
        api.add_vaddr(0x20000, 0x21000, 0x3000, 1, 1, 2)
    with pytest.raises(ValueError, match="flags_on_wake"):
        api.yield_(0, 0, 0, 0, 1 << 32)
    with pytest.raises(ValueError):
        api.read(0x20000, -1)
    with pytest.raises(ValueError):
        k.as_partition(Partition(3))                    # a page, not a partition
    with pytest.raises(ValueError):
        k.cpu_context = (0,) * 19


def test_refused_arguments_change_nothing(k, api):
    before = (k.mappings(k.root), k.config_pages(k.root))
    with pytest.raises(ValueError):
        api.create_partition(0x20000, 0x21000, 0x22000, 0x23000, k.geometry.va_limit)
    assert (k.mappings(k.root), k.config_pages(k.root)) == before
    assert k.partitions() == [k.root]
