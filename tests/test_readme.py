"""README's code examples run as written (they are marked `<!-- tested-example: NAME -->` before their block)."""

import re
import subprocess
import sys

import pytest
from conftest import ROOT

MARK = re.compile(r"<!-- tested-example: (\S+) -->\n```python\n(.*?)```", re.S)
EXAMPLES = dict(MARK.findall((ROOT / "README.md").read_text()))


def test_the_readme_has_its_examples():
    assert "library" in EXAMPLES


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_readme_example_runs(tmp_path, name):
    """In a fresh interpreter outside the repository: the example needs nothing but the installed package."""
    out = subprocess.run([sys.executable, "-c", EXAMPLES[name]], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    if name == "library":
        lines = out.stdout.splitlines()
        assert lines[0] == "torch.Size([2, 5, 3072])"
        assert lines[1] == "dcft-d8-s8 992"  # 2 layers x (4 x (8 + 8 + 64) + 2 x (8 + 16 + 64)), head excluded
