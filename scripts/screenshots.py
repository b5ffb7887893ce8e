"""Pictures of what `make demo` made, for the README: generated from the demo's own output, never edited by hand.

    make demo && .venv/bin/python scripts/screenshots.py            # writes docs/img/*.png
    .venv/bin/python scripts/screenshots.py --out /tmp/look          # anywhere else, to look at them

What each picture is:
  summary.png          the HTML summary's first screen (headlines, revenue, billings), rendered by headless Chromium
  summary-deferred.png its deferred / unbilled revenue section
  workbook-cover.png   the workbook's cover sheet and workbook-sheet.png its ar_aging sheet, as LibreOffice prints
                       them (xlsx -> PDF -> PNG with pdftoppm): the workbook's own print setup
  fava.png             Fava's income statement of the demo ledger (fava serving it on 127.0.0.1, Chromium)
  query.png            a query on the warehouse and DuckDB's answer, as a terminal shows it (rich's SVG, Chromium)

Needs chromium, libreoffice and pdftoppm (Debian: apt-get install -y chromium libreoffice-calc poppler-utils)
and fava (in the project's test extra: make venv installs it). It says which one is missing.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orb_finance.demo import demo_paths  # noqa: E402

WIDTH = 1200
QUERY = ("select month, currency, net_billings, total_revenue\n"
         "from marts.billings_monthly join marts.revenue_monthly using (month, currency)\n"
         "where month >= date '2026-08-01'\n"
         "order by currency, month")


def find_tools() -> dict[str, str]:
    """The tools the pictures need; exits with what to install when one is missing."""
    found, missing = {}, []
    for name, candidates, how in (
            ("chromium", ("chromium", "chromium-browser", "google-chrome"), "apt-get install -y chromium"),
            ("libreoffice", ("libreoffice", "soffice"), "apt-get install -y libreoffice-calc"),
            ("pdftoppm", ("pdftoppm",), "apt-get install -y poppler-utils"),
            ("fava", (str(Path(sys.executable).parent / "fava"), "fava"), "make venv (fava is in the test extra)")):
        path = next((shutil.which(c) for c in candidates if shutil.which(c)), None)
        if path:
            found[name] = path
        else:
            missing.append(f"  {name}: {how}")
    if missing:
        sys.exit("scripts/screenshots.py needs tools that are not installed:\n" + "\n".join(missing))
    return found


def chromium_png(chromium: str, url: str, out: Path, height: int, width: int = WIDTH) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={out}",
                        "--virtual-time-budget=3000", url],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if not out.exists():
        sys.exit(f"chromium wrote no screenshot of {url}")


def summary(tools: dict[str, str], where: dict[str, Path], out: Path) -> list[Path]:
    """The page's first screen; then one section alone (the same page with every other section hidden by one
    added style rule: a crop, nothing else changes)."""
    chromium_png(tools["chromium"], where["summary"].as_uri(), out / "summary.png", 1030)
    with tempfile.TemporaryDirectory() as tmp:
        page = where["summary"].read_text(encoding="utf-8")
        only = "<style>section:not(#deferred-revenue-balance) { display: none; }</style></head>"
        cropped = Path(tmp) / "summary.html"
        cropped.write_text(page.replace("</head>", only, 1), encoding="utf-8")
        chromium_png(tools["chromium"], cropped.as_uri(), out / "summary-deferred.png", 470)
    return [out / "summary.png", out / "summary-deferred.png"]


def workbook(tools: dict[str, str], where: dict[str, Path], out: Path) -> list[Path]:
    """The cover and the ar_aging sheet, printed by LibreOffice with the workbook's own print setup (a copy
    holding those two sheets: printing the whole workbook takes minutes)."""
    import openpyxl

    with tempfile.TemporaryDirectory() as tmp:
        wb = openpyxl.load_workbook(where["workbook"])
        for name in list(wb.sheetnames):
            if name not in ("cover", "ar_aging"):
                del wb[name]
        subset = Path(tmp) / "workbook.xlsx"
        wb.save(subset)
        subprocess.run([tools["libreoffice"], "--headless", f"-env:UserInstallation=file://{tmp}/lo", "--convert-to",
                        "pdf", "--outdir", tmp, str(subset)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=300)
        pdf = Path(tmp) / "workbook.pdf"
        shots = []
        # (page, file, resolution, crop x, y, width, height in pixels): the cover whole; the sheet's top left
        # (ids, dates, names) at a resolution that shows them
        for page, name, dpi, crop in ((1, "workbook-cover.png", 90, (40, 55, 975, 560)),
                                      (2, "workbook-sheet.png", 160, (70, 95, 1150, 420))):
            x, y, w, h = crop
            stem = Path(tmp) / name.removesuffix(".png")
            subprocess.run([tools["pdftoppm"], "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile",
                            "-x", str(x), "-y", str(y), "-W", str(w), "-H", str(h), str(pdf), str(stem)],
                           check=True, timeout=120)
            shutil.copyfile(f"{stem}.png", out / name)
            shots.append(out / name)
    return shots


def fava(tools: dict[str, str], where: dict[str, Path], out: Path) -> list[Path]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([tools["fava"], "--host", "127.0.0.1", "--port", str(port), str(where["ledger"])],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    landing = resp.url                      # .../<ledger slug>/income_statement/
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("fava did not start on the demo ledger")
                time.sleep(0.3)
        chromium_png(tools["chromium"], landing, out / "fava.png", 860)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return [out / "fava.png"]


def query(tools: dict[str, str], where: dict[str, Path], out: Path) -> list[Path]:
    import duckdb
    from rich.console import Console
    from rich.text import Text

    con = duckdb.connect(str(where["warehouse"]), read_only=True)
    try:
        answer = str(con.sql(QUERY))
    finally:
        con.close()
    console = Console(record=True, width=100, file=open(Path(tempfile.gettempdir()) / "orbfin-query.txt", "w"))
    console.print(Text("$ .venv/bin/python", style="bold green"), Text("-c \"import duckdb; con = duckdb.connect("
                       "'warehouse/orb_finance.duckdb', read_only=True); print(con.sql('''"))
    console.print(Text(QUERY, style="cyan"))
    console.print("''')\"")
    console.print(answer, highlight=False, markup=False)
    with tempfile.TemporaryDirectory() as tmp:
        svg = Path(tmp) / "query.svg"
        console.save_svg(str(svg), title="a query on the warehouse")
        lines = 6 + answer.count("\n")
        chromium_png(tools["chromium"], svg.as_uri(), out / "query.png", 60 + 22 * lines, width=1000)
    return [out / "query.png"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"), help="where the PNG files go (default: docs/img)")
    args = parser.parse_args(argv)
    tools = find_tools()
    where = demo_paths()
    from orb_finance import paths
    where["warehouse"] = paths.duckdb_path()
    for what in ("summary", "workbook", "ledger", "warehouse"):
        if not where[what].exists():
            sys.exit(f"no {what} at {where[what]}: run `make demo` first")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for shoot in (summary, workbook, fava, query):
        written += shoot(tools, where, out)
    for path in written:
        print(f"{path} ({path.stat().st_size / 1000:,.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
