"""Errors a user causes: each a PipsimError, reported by `pipsim` as one line (no traceback);
kernel refusals by name and meaning; an empty page pool as NoFreePages."""
import pytest

import pipsim.kernel.cli
from pipsim.experiments import ExperimentError
from pipsim.ipc import IpcError, OutboxFull
from pipsim.kernel import Kernel
from pipsim.kernel.abi import MESSAGES, PipError
from pipsim.kernel.errors import PipsimError
from pipsim.kernel.machine import ImageError
from pipsim.kernel.wire import CBORError
from pipsim.kernel.wrappers import NoFreePages, PageAllocator, PipCallError, create_child, map_page
from pipsim.tokens import ScopeError, TokenError, VaultError
from failing import FailingCommand

ERRORS = [IpcError("unknown endpoint 'x'"), OutboxFull("outbox of endpoint 3 is full"),
          TokenError("expired", "token expired at 5"), VaultError("no key 'k'"),
          ScopeError("bad scope"), CBORError("1 extra bytes after the CBOR item"),
          PipCallError("createPartition", PipError.DERIVED), NoFreePages("no pages left"),
          ImageError("x.elf: not an ELF image"), ExperimentError("unknown experiment 'x'")]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_a_user_error_is_one_line_without_traceback(monkeypatch, capsys, error):
    assert isinstance(error, PipsimError)
    monkeypatch.setattr(pipsim.kernel.cli, "entry_points",
                        lambda group: [FailingCommand(error)] if group == "pipsim.commands" else [])
    assert pipsim.kernel.cli.main(["fail"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"pipsim: error: {error}\n"


def test_a_bug_keeps_its_traceback(monkeypatch):
    monkeypatch.setattr(pipsim.kernel.cli, "entry_points",
                        lambda group: [FailingCommand(KeyError("bug"))]
                        if group == "pipsim.commands" else [])
    with pytest.raises(KeyError):
        pipsim.kernel.cli.main(["fail"])


def test_existing_catches_still_work():
    """Secondary bases stay: callers catching ValueError / RuntimeError see the same errors."""
    assert issubclass(CBORError, ValueError) and issubclass(ScopeError, ValueError)
    assert issubclass(ImageError, ValueError) and issubclass(ExperimentError, ValueError)
    assert issubclass(PipCallError, RuntimeError) and issubclass(OutboxFull, IpcError)


def test_a_refused_call_is_named_with_its_meaning():
    k = Kernel(pages=256, table_size=1024, levels=2)
    api, alloc = k.as_partition(k.root), PageAllocator.for_root(k)
    desc = create_child(api, alloc)
    with pytest.raises(PipCallError) as refused:
        map_page(api, alloc, desc + 0x1000, alloc.alloc(), 0x1000)    # not a descriptor
    assert refused.value.reason == PipError.NOT_CHILD
    assert str(refused.value) == f"addVAddr refused (NOT_CHILD, {MESSAGES[PipError.NOT_CHILD]})"


def test_an_empty_pool_is_no_free_pages_not_a_memory_error():
    alloc = PageAllocator([0x5000])
    assert alloc.alloc() == 0x5000
    with pytest.raises(NoFreePages, match="no pages left") as empty:
        alloc.alloc()
    assert not isinstance(empty.value, (MemoryError, PipCallError))


@pytest.mark.parametrize("argv, flag", [
    (["token", "verify", "00", "--key", "k", "--audience", "a", "--issuer", "i", "--leeway", "-5"],
     "--leeway"),
    (["token", "issue", "--key", "k", "--issuer", "i", "--audience", "a", "--scope", "1/0/0:r",
      "--lifetime", "0"], "--lifetime"),
    (["token", "verify", "00", "--key", "k", "--audience", "a", "--issuer", "i", "--now", "inf"],
     "--now"),
    (["run", "--max-seconds", "nan"], "--max-seconds"),
    (["run", "--max-instructions", "-1"], "--max-instructions"),
])
def test_nonsense_option_values_are_usage_errors(argv, flag, capsys):
    with pytest.raises(SystemExit) as stopped:
        pipsim.kernel.cli.main(argv)
    assert stopped.value.code == 2
    assert f"error: argument {flag}:" in capsys.readouterr().err


def test_a_reader_that_leaves_ends_the_command_quietly():
    """`pipsim run ... --trace - | head -1`: exit status 141 (128 + SIGPIPE), nothing on
    stderr.  The run writes about 900 KB, far more than a pipe holds: it meets the closed
    pipe whatever the timing."""
    import subprocess
    import sys
    from pathlib import Path
    image = Path(__file__).resolve().parents[2] / "firmware" / "build" / "arm" / "forever.elf"
    run = subprocess.Popen([sys.executable, "-m", "pipsim.kernel.cli", "run", str(image), "--trace",
                            "-", "--max-instructions", "100000000"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert run.stdout.readline().startswith(b"scheduler:")
    run.stdout.close()                               # the reader leaves after one line
    _, err = run.communicate(timeout=120)
    assert (run.returncode, err) == (141, b"")
