"""External links of the README and the docs are well formed.  Their targets are not fetched:
the site is built offline (make docs checks the internal links, strictly)."""
import re
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ["README.md", "CHANGELOG.md", "tokens/README.md", "firmware/README.md",
             *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\((\w+://[^)\s]*)\)|<(\w+://[^>\s]*)>")


def external_links():
    for doc in DOCUMENTS:
        for match in LINK.finditer((ROOT / doc).read_text()):
            yield doc, match.group(1) or match.group(2)


def test_external_links_are_well_formed():
    links = list(external_links())
    assert len(links) >= 5
    bad = [(doc, url) for doc, url in links
           if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname
           or "." not in urlsplit(url).hostname]
    assert bad == []
