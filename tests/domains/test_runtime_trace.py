"""`pipsim run --trace FILE` on the default device image: the runtime's events (management
commands with domain, path and answer; relay passes; firmware driver turns) in the machine's
trace format (docs/debugging.md), and their Chrome export."""
import json

from pipsim.kernel.cli import main


def test_the_default_image_writes_its_runtime_trace(tmp_path, capsys):
    path, chrome = tmp_path / "gateway.jsonl", tmp_path / "gateway.json"
    assert main(["run", "--trace", str(path)]) == 0
    header, *events = [json.loads(line) for line in path.read_text().splitlines()]
    assert (header["format"], header["clock"]) == ("pipsim-trace", "instructions")
    kinds = {e["event"] for e in events}
    assert {"command", "answer", "relay", "driver_turn"} <= kinds
    commands = [e for e in events if e["event"] == "command"]
    answers = {e["id"]: e for e in events if e["event"] == "answer"}
    assert all(e["domain"] and e["path"].count("/") >= 2 and e["id"] in answers
               for e in commands if "malformed" not in e)
    assert any(answers[e["id"]]["status"] < 300 for e in commands)      # some accepted
    assert any(answers[e["id"]]["status"] >= 400 for e in commands)     # some refused
    turns = [e for e in events if e["event"] == "driver_turn"]
    assert {"temp-driver"} <= {e["partition"] for e in turns}
    machines = {(e["image"], e["machine"]) for e in events}   # a machine per device
    assert "gateway" in {image for image, _ in machines} and len(machines) > 1
    for machine in machines:                         # each at its machine's clock
        times = [e["t"] for e in events if (e["image"], e["machine"]) == machine]
        assert times == sorted(times)
    assert main(["trace", "export", str(path), "-o", str(chrome)]) == 0
    trace = json.loads(chrome.read_text())["traceEvents"]
    assert sum(e["ph"] == "i" and e["pid"] == 2 for e in trace) == len(events)
    tracks = {e["args"]["name"] for e in trace if e["pid"] == 2 and e["name"] == "thread_name"}
    assert tracks == {f"image {image} machine {serial}" for image, serial in machines}
