#!/usr/bin/env python3
"""`filter-jsonlog report --format html` in a real headless browser.

Renders the report of the captured streams in Debian's chromium, at a phone's
width and a desktop's, and checks:
- the screenshots are not blank: many colours, most of the page not
  background, and the charts' own colours present (the SVG was drawn);
- the DOM chromium built has the three SVG charts, with bars;
- the page prints (a PDF comes out).

Without chromium it reports itself skipped, except under CI=true, where it
fails. The screenshots stay in target/report-html/ for a human to look at.
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("FILTER_JSONLOG_BIN", os.path.join(ROOT, "target/release/filter-jsonlog"))
OUT = os.path.join(ROOT, "target/report-html")
CAPTURED = ["debian-6.8.0p2-smtp-in.txt", "debian-6.8.0p2-smtp-out.txt", "debian-6.8.0p2-burst.txt"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Chart colours (src/report/html.rs, svg.rs): accepted, refused, TLS.
CHART_COLOURS = {"accepted bars": (0x15, 0x65, 0xC0), "refused bars": (0xE6, 0x51, 0x00), "TLS bars": (0x2E, 0x7D, 0x32)}


def fail(message):
    print("FAIL: report_browser: " + message)
    sys.exit(1)


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA PNG: (width, height, rows of (r, g, b))."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    pos, idat = 8, b""
    width = height = depth = colour = None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if depth != 8 or colour not in (2, 6):
        fail(f"unexpected PNG format depth={depth} colour={colour}")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 0xFF
            elif f == 2:
                line[x] = (line[x] + b) & 0xFF
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        rows.append([tuple(line[i : i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def check_screenshot(path, label):
    width, height, rows = png_pixels(path)
    counts = {}
    for row in rows:
        for px in row:
            counts[px] = counts.get(px, 0) + 1
    total = width * height
    background, most = max(counts.items(), key=lambda kv: kv[1])
    print(f"  {label}: {width}x{height}, {len(counts)} colours, background {background} on {most * 100 // total}%")
    if len(counts) < 50:
        fail(f"{label}: only {len(counts)} colours: blank page?")
    if most > total * 0.9:
        fail(f"{label}: {most * 100 // total}% of the page is one colour")
    for name, rgb in CHART_COLOURS.items():
        n = counts.get(rgb, 0)
        print(f"    {name} {rgb}: {n} pixels")
        if n < 50:
            fail(f"{label}: the chart colour of {name} is missing: the SVG was not drawn")


def main():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        if os.environ.get("CI") == "true":
            fail("chromium is not installed (CI=true: this test must run)")
        print("SKIPPED report_browser: chromium is not installed")
        return
    os.makedirs(OUT, exist_ok=True)
    docs = b""
    for name in CAPTURED:
        stream = os.path.join(ROOT, "tests/data/captured", name)
        docs += subprocess.run([BIN, "replay", stream], check=True, capture_output=True).stdout
    html = subprocess.run([BIN, "report", "--format", "html"], input=docs, check=True, capture_output=True).stdout
    page = os.path.join(OUT, "report.html")
    with open(page, "wb") as f:
        f.write(html)
    url = "file://" + page
    with tempfile.TemporaryDirectory() as tmp:

        def chromium_run(*args):
            profile = tempfile.mkdtemp(dir=tmp)
            argv = [chromium, *FLAGS, f"--user-data-dir={profile}", *args, url]
            return subprocess.run(argv, capture_output=True, timeout=180)

        for label, size in [("phone", "412,2400"), ("desktop", "1280,2000")]:
            shot = os.path.join(OUT, f"report-{label}.png")
            if os.path.exists(shot):
                os.remove(shot)
            r = chromium_run(f"--window-size={size}", f"--screenshot={shot}", "--hide-scrollbars")
            if not os.path.exists(shot):
                fail(f"no screenshot: {r.stderr.decode(errors='replace')[-2000:]}")
            check_screenshot(shot, label)

        dom = chromium_run("--dump-dom").stdout.decode(errors="replace")
        for chart in ["chart-traffic", "chart-tls", "chart-refusals"]:
            m = re.search(r'<svg id="%s".*?</svg>' % chart, dom, re.S)
            if not m:
                fail(f"{chart}: no SVG in the DOM chromium built")
            bars = m.group(0).count("<rect")
            print(f"  DOM: {chart} with {bars} bars")
            if bars < 1:
                fail(f"{chart}: an SVG without bars")

        # The delivery section (issue 20): a captured run's documents beside
        # smtpd's mail log; its tables are in the DOM chromium built, with rows.
        captured = os.path.join(ROOT, "tests/data/captured")
        delivery = subprocess.run(
            [BIN, "report", "--format", "html", os.path.join(captured, "opensmtpd-7.8.0p1-delivery.json"),
             os.path.join(captured, "opensmtpd-7.8.0p1-delivery.mail.log")],
            check=True, capture_output=True).stdout
        delivery_page = os.path.join(OUT, "report-delivery.html")
        with open(delivery_page, "wb") as f:
            f.write(delivery)
        profile = tempfile.mkdtemp(dir=tmp)
        dom = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                              "file://" + delivery_page], capture_output=True, timeout=180).stdout.decode(errors="replace")
        for title, at_least in [("Delivery (smtpd&#39;s mail log joined to the documents)", 10),
                                ("Delivery by recipient domain", 8),
                                ("Delivery delay by recipient domain (tx-commit to delivery)", 2),
                                ("Deferral and bounce reasons (stat=)", 5)]:
            m = re.search(r"<h2>%s</h2>(.*?)</section>" % re.escape(title), dom, re.S)
            if not m:
                m = re.search(r"<h2>%s</h2>(.*?)</section>" % re.escape(title.replace("&#39;", "'")), dom, re.S)
            if not m:
                fail(f"delivery page: no section {title!r} in the DOM")
            rows = m.group(1).count("<tr>") - 1
            print(f"  DOM: {title.replace('&#39;', chr(39))}: {rows} rows")
            if rows < at_least:
                fail(f"delivery page: {title!r} has {rows} rows, want at least {at_least}")
        shot = os.path.join(OUT, "report-delivery-phone.png")
        profile = tempfile.mkdtemp(dir=tmp)
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--window-size=412,2400",
                        f"--screenshot={shot}", "--hide-scrollbars", "file://" + delivery_page],
                       capture_output=True, timeout=180)
        if not os.path.exists(shot):
            fail("delivery page: no screenshot")

        pdf = os.path.join(OUT, "report.pdf")
        chromium_run(f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
        if not os.path.exists(pdf) or open(pdf, "rb").read(5) != b"%PDF-" or os.path.getsize(pdf) < 10_000:
            fail("printing to PDF failed")
        print(f"  printed: {os.path.getsize(pdf)} bytes of PDF")
    print("ok report_browser: screenshots in " + OUT)


if __name__ == "__main__":
    main()
