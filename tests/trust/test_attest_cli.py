"""pipsim attest: record reference values from a good boot, then compare."""
import pytest

from pipsim.domains.gateway import IMAGE
from pipsim.kernel.cli import main


@pytest.mark.parametrize("root", ["software", pytest.param("tpm", marks=pytest.mark.needs(
    "swtpm", "tpm2_pytss"))])
def test_record_then_expect(tmp_path, capsys, root):
    reference = tmp_path / "gateway.json"
    assert main(["attest", IMAGE, "--record", str(reference)]) == 0
    assert main(["attest", IMAGE, "--expect", str(reference), "--root", root]) == 0
    assert f"quote verified ({root} root of trust" in capsys.readouterr().out


def test_another_image_is_named_partition_by_partition(tmp_path, capsys):
    reference = tmp_path / "gateway.json"
    assert main(["attest", IMAGE, "--record", str(reference)]) == 0
    assert main(["attest", IMAGE, "--arch", "x86", "--expect", str(reference)]) == 1
    err = capsys.readouterr().err
    assert "lamp-driver: code differs (firmware lamp_driver.elf" in err
    assert "temp-driver: code differs (firmware temp_driver.elf" in err
    assert "root:" not in err


def test_a_bad_reference_file_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"device": "gateway"}')
    assert main(["attest", IMAGE, "--expect", str(bad)]) == 2
    assert "reference values: KeyError" in capsys.readouterr().err
