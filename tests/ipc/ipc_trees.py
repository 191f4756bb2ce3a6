"""The tree the IPC tests share."""

TREE = {"root": {"a": {"a1": {"a11": {}}, "a2": {}}, "b": {"b1": {"b11": {}}}}}
