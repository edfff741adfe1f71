#!/usr/bin/env python3
"""Makes examples/debian/packages.jsonl.gz: a text-classification task from
Debian's package lists, the real-text workload of the distillation demo.

Each row is a binary package's one-line synopsis (the first line of its
`Description:`) and its `Section:`. The task is topical: eight sections that
no language name gives away (net, science, admin, games, x11, text, sound,
graphics). Rows are split into train / validation / test by *source*
package, since the binaries of one source share wording; the test and
validation splits take whole sources until each section has TEST_ROWS and
VALIDATION_ROWS rows, the rest is train. Synopses of every other section
form an unlabeled corpus (general distillation), split by source into
`unlabeled` and `unlabeled-heldout`.

    python3 examples/debian/make_dataset.py [PACKAGES ...] [-o OUT]

PACKAGES are Packages files as apt keeps them (plain, .gz, .xz or .lz4;
default: bookworm main from /var/lib/apt/lists, which `apt-get update`
fetches). The output is deterministic: the same lists give the same bytes.
"""
import argparse
import glob
import gzip
import hashlib
import json
import lzma
import pathlib
import re
import subprocess
import sys

SECTIONS = ["net", "science", "admin", "games", "x11", "text", "sound", "graphics"]
TEST_ROWS = 300        # per section
VALIDATION_ROWS = 100  # per section
UNLABELED_ROWS = 8000
UNLABELED_HELDOUT_ROWS = 1000
DEFAULT_LISTS = "/var/lib/apt/lists/*debian_dists_bookworm_main_binary-amd64_Packages*"
# Placeholder packages whose synopsis says nothing about the topic.
PLACEHOLDER = re.compile(r"transitional|dummy package|metapackage|debug symbols", re.I)


def read_list(path):
    """A Packages file's text, whatever apt compressed it with."""
    path = str(path)
    if path.endswith(".lz4"):  # apt's own reader knows lz4; Python's stdlib does not
        return subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", path], check=True,
                              capture_output=True, text=True).stdout
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8").read()
    if path.endswith(".xz"):
        return lzma.open(path, "rt", encoding="utf-8").read()
    return pathlib.Path(path).read_text(encoding="utf-8")


def stanzas(text):
    """(package, source, section, synopsis) of each stanza."""
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" not in fields or "Description" not in fields:
            continue
        source = fields.get("Source", fields["Package"]).split(" ")[0]
        section = fields.get("Section", "").split("/")[-1]
        yield fields["Package"], source, section, fields["Description"]


def order(source):
    """A source's place in the split order: a hash, so it does not follow
    the alphabet (sources of one prefix are often one project's)."""
    return hashlib.sha256(source.encode()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lists", nargs="*")
    parser.add_argument("-o", "--out", default=str(pathlib.Path(__file__).with_name(
        "packages.jsonl.gz")))
    args = parser.parse_args()
    lists = args.lists or sorted(glob.glob(DEFAULT_LISTS))
    if not lists:
        sys.exit(f"no Packages lists at {DEFAULT_LISTS}: run apt-get update, or name them")

    rows, seen = [], set()
    for path in lists:
        for package, source, section, synopsis in stanzas(read_list(path)):
            key = synopsis.lower()
            if PLACEHOLDER.search(synopsis) or key in seen:
                continue  # one row per distinct synopsis: no duplicate across splits
            seen.add(key)
            rows.append({"package": package, "source": source, "section": section,
                         "text": synopsis})

    by_source = {}
    for row in rows:
        by_source.setdefault(row["source"], []).append(row)
    labeled = {s: [r for r in rs if r["section"] in SECTIONS] for s, rs in by_source.items()}
    counts = {"test": dict.fromkeys(SECTIONS, 0), "validation": dict.fromkeys(SECTIONS, 0)}
    quota = {"test": TEST_ROWS, "validation": VALIDATION_ROWS}
    unlabeled_rows = 0
    for source in sorted(by_source, key=order):
        mine = labeled[source]
        if mine:
            sections = [r["section"] for r in mine]
            major = max(SECTIONS, key=sections.count)
            split = next((s for s in ("test", "validation") if counts[s][major] < quota[s]),
                         "train")
            for row in mine:
                row["split"] = split
                if split != "train":
                    counts[split][row["section"]] += 1
        for row in by_source[source]:
            if row["section"] not in SECTIONS:
                row["split"] = ("unlabeled-heldout" if unlabeled_rows < UNLABELED_HELDOUT_ROWS
                                else "unlabeled" if unlabeled_rows < UNLABELED_ROWS +
                                UNLABELED_HELDOUT_ROWS else None)
                unlabeled_rows += 1

    kept = sorted((r for r in rows if r.get("split")),
                  key=lambda r: (r["split"], r["section"], r["package"]))
    out = pathlib.Path(args.out)
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        for row in kept:
            f.write((json.dumps({k: row[k] for k in ("split", "section", "package", "source",
                                                   "text")}, ensure_ascii=False)
                     + "\n").encode())
    table = {}
    for row in kept:
        table.setdefault(row["split"], {}).setdefault(row["section"], 0)
        table[row["split"]][row["section"]] += 1
    print(f"{out}: {len(kept)} rows from {len(lists)} list(s), {len(rows)} distinct synopses")
    for split in ("train", "validation", "test"):
        per = table.get(split, {})
        print(f"  {split:>10}: {sum(per.values()):5d}  " +
              " ".join(f"{s} {per.get(s, 0)}" for s in SECTIONS))
    for split in ("unlabeled", "unlabeled-heldout"):
        print(f"  {split:>10}: {sum(table.get(split, {}).values()):5d}")


if __name__ == "__main__":
    main()
