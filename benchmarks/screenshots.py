"""Screenshots of a report (headless Chromium) and captures of the terminal tables at 80 and 100 columns.

    python benchmarks/screenshots.py RUN_DIR OUT_DIR [--sweep SWEEP_DIR] [--report-only]

Writes OUT_DIR/report_first_screen.png (1400x1000: what a reader sees first),
OUT_DIR/report_tearsheet.png (the first strategy's tearsheet, opened),
OUT_DIR/report_<section>.png for the charts, crisis and confidence sections alone, and
OUT_DIR/<verb>_<columns>.txt for ``compare``, ``risk``, ``paper status`` (when a paper
state file is given with --paper-state) and ``sweep`` summaries, plus the time ``report``
took on RUN_DIR (wall and CPU). Needs the store in $CARRYGUARD_DATA_DIR; no network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CHROMIUM = ("--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9", "--hide-scrollbars")


def shoot(html: Path, png: Path, size: str, profile: Path) -> None:
    """A headless Chromium screenshot of ``html`` (window ``size`` "W,H")."""
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    command = [browser, *CHROMIUM, f"--window-size={size}", f"--user-data-dir={profile}", f"--screenshot={png}"]
    subprocess.run([*command, html.resolve().as_uri()], capture_output=True, timeout=180, check=True)


SECTIONS = ("charts", "crisis", "confidence")  # shot alone beside the first screen and the tearsheet


def section_page(report: Path, out: Path, section: str) -> Path:
    """A copy of the report showing only ``section`` (the tearsheets: the first one opened)."""
    html = report.read_text(encoding="utf-8")
    hide = f"<style>header, section:not(#{section}) {{ display: none; }}</style></head>"
    html = html.replace("</head>", hide, 1)
    if section == "tearsheets":
        html = html.replace("<details id=", "<details open id=", 1)
    page = out / f"{section}_only.html"
    page.write_text(html, encoding="utf-8")
    return page


def capture(args: list[str], columns: int) -> str:
    """What ``carryguard ARGS`` prints (stdout and stderr) in a terminal ``columns`` wide."""
    env = {**os.environ, "COLUMNS": str(columns)}
    done = subprocess.run(["carryguard", *args], capture_output=True, text=True, env=env, timeout=900, check=False)
    return f"$ COLUMNS={columns} carryguard {' '.join(args)}\n{done.stderr}{done.stdout}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--sweep", type=Path, help="A sweep folder: its summary is captured too.")
    parser.add_argument("--paper-state", type=Path, help="A paper state file: `paper status` is captured too.")
    parser.add_argument("--report-only", action="store_true", help="Only the report and its screenshots.")
    options = parser.parse_args()
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    done = subprocess.run(["carryguard", "report", str(options.run_dir)], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    usage = os.times()
    print(f"report: exit {done.returncode}, {wall:.1f} s wall, {usage.children_user:.1f} s CPU (user, with its worker)")

    report = options.run_dir / "report.html"
    shoot(report, out / "report_first_screen.png", "1400,1000", out / "profile")
    shoot(section_page(report, out, "tearsheets"), out / "report_tearsheet.png", "1400,1800", out / "profile")
    for section in SECTIONS:
        shoot(section_page(report, out, section), out / f"report_{section}.png", "1400,1400", out / "profile")
    print(f"wrote {out / 'report_first_screen.png'}, {out / 'report_tearsheet.png'} and the section shots")
    if options.report_only:
        sys.exit(done.returncode)

    verbs = [
        ["backtest", "--strategy", "sma_cross", "--strategy", "sma_cross+carry", "--results-dir", str(out / "runs")],
        ["compare", str(options.run_dir)],
        ["risk"],
        ["trades", str(options.run_dir), "--book", "sma_cross+carry"],
    ]
    if options.sweep:
        verbs.append(["compare", str(options.sweep)])
    if options.paper_state:
        verbs.append(["paper", "status", "--state", str(options.paper_state)])
    for args in verbs:
        for columns in (80, 100):
            name = "_".join(a for a in args[:2] if a.isalpha())
            (out / f"{name}_{columns}.txt").write_text(capture(args, columns), encoding="utf-8")
    print(f"captures in {out}")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
