"""Each built-in experiment end to end through `pipsim experiment`: CSV, summary, figures,
and the facts it is meant to show."""
import csv

import pytest

from pipsim.experiments import all_experiments, get

SWEEPS = {
    "memory_overhead": ["shape=chain,balanced", "depth=1,2", "table_size=16,32", "levels=3",
                        "impl=c,model"],
    "syscall_cost": ["depth=0..2", "table_size=16", "calls=3", "impl=c,model"],
    "fault_containment": ["attacker_depth=0..3", "depth=3", "table_size=16", "calls=60",
                          "impl=c,model"],
    "deletion": ["depth=1..3", "order=top_down,bottom_up", "table_size=16", "levels=3"],
    "fault_propagation": ["depth=0..3", "handlers=all,none,root,parent,every", "calls=3"],
    "switch_cost": ["arch=arm,x86", "iterations=30", "best_of=1"],      # requires the machine
    "policy_attacks": ["arch=arm,x86", "policy=pip,hardened"],           # requires the machine
    "ipc_latency": ["distance=2,3", "placement=across,down", "messages=3"],
}


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_every_builtin_experiment_has_a_sweep_here():
    assert {e.name for e in all_experiments() if e.module.startswith("pipsim.experiments.")} == set(SWEEPS)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return tmp_path_factory.mktemp("results")


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_runs_end_to_end_and_plots(pipsim, results, name, require):
    require(get(name))
    out = results / name
    args = [a for p in SWEEPS[name] for a in ("--param", p)]
    code, stdout, _ = pipsim("experiment", "run", name, *args, "--out", out, "--no-progress")
    assert code == 0, stdout
    assert "0 failed" in stdout
    table = rows(out / f"{name}.csv")
    assert table and all(r["status"] == "ok" for r in table)
    assert (out / f"{name}.json").exists()
    code, stdout, _ = pipsim("experiment", "plot", out, "--format", "png")
    assert code == 0 and stdout.count(".png") >= 1
    assert all((out / line).exists() or (line.startswith("skipped")) for line in
               stdout.splitlines() if line.endswith(".png"))
    FACTS[name](table)


def memory_overhead(table):
    for row in table:
        assert float(row["overhead_ratio"]) == int(row["kernel_pages"]) / int(row["data_pages"])
    by_impl = {}
    for row in table:                                   # both kernels count the same pages
        key = (row["shape"], row["depth"], row["table_size"])
        by_impl.setdefault(key, set()).add(row["kernel_pages"])
    assert all(len(values) == 1 for values in by_impl.values())


def syscall_cost(table):
    for row in table:
        assert float(row["create_partition_ns"]) > 0
        assert (row["prepare_words"] == "") == (row["impl"] == "c")
    model = sorted((int(r["depth"]), int(r["create_partition_words"]), int(r["add_vaddr_words"]))
                   for r in table if r["impl"] == "model")
    assert model[0][1] < model[1][1] < model[2][1]        # writeAccessibleRec walks ancestors
    assert len({words for _, _, words in model}) == 1     # addVAddr does not


def fault_containment(table):
    for row in table:
        assert row["changed_others"] == "0" and row["foreign_ancestor_entries"] == "0"
        assert row["invariant_violations"] == "0"
        assert int(row["accepted"]) + int(row["refused"]) == 60


def deletion(table):
    for row in table:
        lost, predicted = int(row["lost"]), int(row["predicted_lost"])
        assert lost == (predicted if row["order"] == "top_down" else 0)
        assert int(row["recovered"]) + lost == int(row["lent"])


def fault_propagation(table):
    for row in table:
        depth, received, hops = int(row["depth"]), int(row["received_depth"]), int(row["hops"])
        assert received == int(row["predicted_depth"])
        assert row["changed_elsewhere"] == "0" and row["changed_pages"] == "1"
        assert row["saved_context_ok"] == "1" and row["invariant_violations"] == "0"
        if row["panic"] == "1":
            assert received == -1 and hops == depth and row["handler_registers_ok"] == ""
        else:
            assert hops == depth - 1 - received and row["handler_registers_ok"] == "1"
            assert row["vector"] == ("14" if hops == 0 else "8")
    root_only = {int(r["depth"]): int(r["hops"]) for r in table if r["handlers"] == "root"}
    assert root_only == {0: 0, 1: 0, 2: 1, 3: 2}          # a root fault is a panic


def switch_cost(table):
    assert {r["arch"] for r in table} == {"arm", "x86"}
    for row in table:                       # counters are exact; times are not checked
        assert float(row["switches_per_iteration"]) == 2.0
        assert float(row["syscalls_per_iteration"]) == 2.0
        assert float(row["tlb_fills_per_switch"]) > 0
        assert float(row["syscall_instructions"]) > 0
        assert float(row["switch_instructions"]) > float(row["syscall_instructions"])


def policy_attacks(table):
    """pipweak's attempts: all contained under hardened, none under pip, where each is flagged
    by its §10 property (bits: 1 rightsMonotonicity, 2 configPagesWritableInParent,
    4 noDeviceConfigPages, 8 saveSlotsWritable, which flags the child's own VIDT under either
    policy); the attacker sample is refused under both; Pip's properties always hold."""
    attempts = ("save_to_read_only", "save_to_code", "relend_writable", "read_only_table",
                "device_table", "forged_dispatch", "forged_yield")
    flagged = {"pip": (8, 8, 1, 2, 4, 0, 0), "hardened": (8, 8, 0, 0, 0, 0, 0)}
    assert sorted((r["arch"], r["policy"]) for r in table) == [
        ("arm", "hardened"), ("arm", "pip"), ("x86", "hardened"), ("x86", "pip")]
    for row in table:
        hardened = row["policy"] == "hardened"
        assert [int(row[f"{a}_contained"]) for a in attempts] == [hardened] * 7, row
        assert tuple(int(row[f"{a}_flagged"]) for a in attempts) == flagged[row["policy"]], row
        assert row["weak_contained"] == ("7" if hardened else "0")
        assert row["weak_events_raised"] == ("0" if hardened else "2")
        assert row["attacker_refused"] == row["attacker_attempts"] == "29"
        assert row["weak_flagged_at_end"] == row["attacker_flagged"] == "0"
        assert row["invariant_violations"] == "0"


def ipc_latency(table):
    for row in table:                       # across a common ancestor: one copy fewer
        distance = int(row["distance"])
        assert float(row["copies"]) == distance - (row["placement"] == "across")
        assert float(row["steps"]) == 1.0 and row["invariant_violations"] == "0"
        assert int(row["partitions"]) == distance + 1
        assert float(row["throughput_msgs_per_s"]) > 0


FACTS = {f.__name__: f for f in (memory_overhead, syscall_cost, fault_containment, deletion,
                                 fault_propagation, switch_cost, policy_attacks, ipc_latency)}
