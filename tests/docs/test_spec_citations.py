"""Every section of docs/pip-spec.md that the code and the docs cite (``pip-spec §2.3``,
``pip-spec §4.2-4.3``, ``pip-spec §2.3, §8``) exists there with that number."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "pip-spec.md"
SKIP = {".git", ".venv", ".venv-sanitize", ".venv-cwt", "build", "site", "__pycache__"}
CITATION = re.compile(r"pip-spec(?:\.md)? (§[\d.]+(?:(?:[-–]|, )§?[\d.]+)*)")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def sources():
    for path in ROOT.rglob("*"):
        if path.suffix in (".py", ".c", ".h", ".md", ".S", ".s") and \
                not SKIP.intersection(path.relative_to(ROOT).parts):
            yield path


def cited() -> dict[str, set[str]]:
    """section number -> the files citing it."""
    found: dict[str, set[str]] = {}
    for path in sources():
        for match in CITATION.finditer(path.read_text(errors="replace")):
            for number in NUMBER.findall(match.group(1)):
                found.setdefault(number.rstrip("."), set()).add(str(path.relative_to(ROOT)))
    return found


def sections() -> set[str]:
    """The section numbers, from the anchors before the headings (<a id="s2.3"></a>)."""
    text = SPEC.read_text()
    anchored = re.findall(r'^<a id="s([\d.]+)"></a>\n\n#+ ([\d.]+) ', text, re.MULTILINE)
    assert all(anchor == number.rstrip(".") for anchor, number in anchored)
    return {anchor for anchor, _ in anchored}


def test_the_spec_numbers_its_sections():
    assert {"1", "2.3", "4.2", "5", "8"} <= sections()


def test_every_cited_section_exists():
    citations = cited()
    assert len(citations) >= 10                 # the code cites the spec throughout
    missing = {n: sorted(files) for n, files in citations.items() if n not in sections()}
    assert missing == {}
