"""Prints the header and manifest of a .ube file; with --set-target,
--set-version, --rename-section or --set-section-size writes a modified copy
(checksum recomputed) to -o, to make foreign or damaged executables for
tests; with --extract writes one section to -o; with --plan ENTRY prints a
cuda entry point's launch plan (its steps without their arguments)."""
import argparse
import json
import struct

FNV_OFFSET, FNV_PRIME = 0xcbf29ce484222325, 0x100000001b3


def fnv1a64(data):
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("executable")
    parser.add_argument("--set-target")
    parser.add_argument("--set-version", type=int)
    parser.add_argument("--rename-section", metavar="OLD=NEW")
    parser.add_argument("--set-section-size", metavar="NAME=BYTES")
    parser.add_argument("--extract", metavar="SECTION", help="write a section's bytes to -o")
    parser.add_argument("--plan", metavar="ENTRY", help="print a cuda entry's launch plan")
    parser.add_argument("-o", dest="output")
    args = parser.parse_args()
    data = bytearray(open(args.executable, "rb").read())
    magic, version, _, checksum, size = struct.unpack_from("<8sIIQQ", data, 0)
    manifest = json.loads(data[32:32 + size])
    if args.plan:
        entry = next(e for e in manifest["entries"] if e["name"] == args.plan)
        plan = entry["plan"] if isinstance(entry["plan"], dict) else json.loads(entry["plan"])
        print("exprs", json.dumps(plan.get("exprs", [])))
        for buffer in plan["buffers"]:
            print("buffer", json.dumps(buffer))
        for step in plan["steps"]:
            print(step["op"], json.dumps({k: v for k, v in step.items() if k != "args"}))
        return
    if args.extract:
        section = next(s for s in manifest["sections"] if s["name"] == args.extract)
        begin = 32 + size + section["offset"]
        open(args.output, "wb").write(data[begin:begin + section["size"]])
        return
    if args.output:
        if args.set_target:
            manifest["target"] = args.set_target
        if args.set_version is not None:
            version = args.set_version
        if args.rename_section:
            old, new = args.rename_section.split("=")
            next(s for s in manifest["sections"] if s["name"] == old)["name"] = new
        if args.set_section_size:
            name, size_text = args.set_section_size.split("=")
            next(s for s in manifest["sections"] if s["name"] == name)["size"] = int(size_text)
        text = json.dumps(manifest).encode()
        data[32:32 + size] = text + b" " * (size - len(text))  # section offsets stay valid
        struct.pack_into("<I", data, 8, version)
        struct.pack_into("<Q", data, 16, fnv1a64(bytes(data[32:])))
        open(args.output, "wb").write(data)
        return
    ok = checksum == fnv1a64(bytes(data[32:]))
    name = magic.rstrip(b"\0").decode()
    print(f"magic {name} version {version} checksum {'ok' if ok else 'BAD'}")
    print(f"target {manifest['target']}")
    for e in manifest["entries"]:
        sig = [",".join(f"{t['name']}:{t['dtype']}{t['shape']}" for t in e[k])
               for k in ("inputs", "outputs")]
        print(f"entry {e['name']} symbol {e['symbol']} inputs {sig[0]} outputs {sig[1]}")
    for s in manifest["sections"]:
        print(f"section {s['name']} offset {s['offset']} size {s['size']}")


if __name__ == "__main__":
    main()
