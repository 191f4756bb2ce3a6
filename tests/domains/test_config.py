"""Each domain's configuration comes from the manifest's `config` tables, checked before
anything boots by the component it is for (DomainManager.check_config)."""
import copy
import tomllib
from pathlib import Path

import pytest

from pipsim import partitions
from pipsim.domains.gateway import IMAGE

GATEWAY = tomllib.loads(Path(IMAGE).read_text())


def errors(change) -> list[str]:
    data = copy.deepcopy(GATEWAY)
    change(data)
    with pytest.raises(partitions.ManifestError) as info:
        partitions.parse(data, Path(IMAGE).parent)
    return info.value.errors


def part(data, name):
    return next(p for p in data["partition"] if p["name"] == name)


def test_the_gateway_configs_reach_the_specs():
    m = partitions.load(IMAGE)
    assert m.root.config["audience"] == "owner" and m.root.config["isolation"] is True
    assert m.partition("maintainer").config["policy"] == {      # object 5: the driver update
        "3303/0/5900": "device", "5/0": "device", "5/0/1": "domain"}
    assert m.partition("provider-b").config["resources"] == {"32769/0/1": "eco"}
    assert m.partition("sensor-manager").config is None


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["root"]["config"].pop("audience"),
     "root.config.audience: must be a string (the audience of the domain's tokens)"),
    (lambda d: d["root"]["config"].update(audiance="owner"), "root.config.audiance: unknown key"),
    (lambda d: d["root"]["config"].update(issuers={"owner-server": []}),
     "root.config.issuers: must be a table: issuer = [key ids]"),
    (lambda d: part(d, "maintainer")["config"]["policy"].update({"3303/x": "device"}),
     'partition[4].config.policy."3303/x": not an LwM2M path (object/instance/resource)'),
    (lambda d: part(d, "maintainer")["config"]["policy"].update({"3303/0/5900": "owner"}),
     'partition[4].config.policy."3303/0/5900": must be one of domain, device'),
    (lambda d: part(d, "maintainer")["config"].pop("owner_domain"),
     "partition[4].config.owner_domain: must be a string, the domain forwarded commands go to "
     "(needed with forward)"),
    (lambda d: part(d, "provider-a")["config"]["virtual"]["3303/0/5700"].update(
        manager="sensor-manger"),
     'partition[5].config.virtual."3303/0/5700": manager: "sensor-manger" is not a partition'),
    (lambda d: part(d, "provider-a")["config"]["virtual"]["3311/0/5850"].update(ops=["toggle"]),
     'partition[5].config.virtual."3311/0/5850": ops: must be a non-empty array of distinct '
     "operations from read, write, execute, delete, create"),
    (lambda d: part(d, "provider-a")["config"]["virtual"]["3311/0/5850"].pop("reg"),
     'partition[5].config.virtual."3311/0/5850": must be a table with exactly manager, ops, reg'),
    (lambda d: part(d, "provider-a").update(config="audience=a"),
     "partition[5].config: must be a table, not a string"),
    (lambda d: part(d, "sensor-manager").update(config={"audience": "x"}),
     "partition[0].config: pipsim.domains.virtual:VirtualManager takes no config"),
    (lambda d: part(d, "provider-a-app").update(config={"audience": "x"}),
     "partition[6].config: only a partition running a Python component has one"),
])
def test_bad_configs_are_refused_naming_the_field(change, expected):
    assert expected in errors(change)
