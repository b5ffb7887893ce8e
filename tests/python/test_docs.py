"""The documentation a newcomer reads: the README's links stay inside the repository and its pictures exist, the
dbt docs open on the project's overview, and every mart's description starts with the question it answers."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_readme_links_and_pictures_stay_inside_the_repository():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    assert "docs/spec.md" in local and "docs/img/summary.png" in local
    for target in local:
        path = (ROOT / target.split("#")[0]).resolve()
        assert ROOT in path.parents or path == ROOT, f"README links outside the repository: {target}"
        assert path.exists(), f"README links to a missing file: {target}"
    assert "../shared" not in re.sub(r"`[^`]*`", "", text)          # no link to a folder beside the checkout
    # the first screen says what it is and how to see it: the two commands come before the reference
    assert text.index("make demo") < text.index("## A tour of what `make demo` made") < text.index(
        "## Pointing dbt at a real Orb export")


def test_the_spec_in_the_repository_has_every_section_the_code_cites():
    spec = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    for heading in ("## 2. Input", "### 2.2 Row rules", "## 3. Accounting rules", "## 4. Output: marts",
                    "## 5. Accounting sync", "### 5.1 Books that tie out", "## 6. The nightly job"):
        assert heading in spec, heading
    assert "reference/" not in spec                                 # nothing it points to is outside


def test_dbt_docs_open_on_the_overview_naming_every_mart():
    overview = (ROOT / "models" / "overview.md").read_text(encoding="utf-8")
    assert overview.startswith("{% docs __overview__ %}") and overview.rstrip().endswith("{% enddocs %}")
    finance = yaml.safe_load((ROOT / "models" / "marts" / "finance" / "_finance__models.yml").read_text())
    for model in finance["models"]:
        assert f"`{model['name']}`" in overview, model["name"]
    assert "source_file" in overview and "source_row" in overview   # how to trace a number to a delivery row


def test_every_mart_description_starts_with_the_question_it_answers():
    for path in sorted((ROOT / "models" / "marts").rglob("_*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            first = " ".join(str(model.get("description") or "").split())
            question = first.split("?")[0]
            assert "?" in first and ". " not in question and len(question) < 160, (path.name, model["name"], first[:80])
