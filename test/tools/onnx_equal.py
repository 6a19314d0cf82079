#!/usr/bin/python3
"""Checks onnx.load(original) == onnx.load(converted) for many pairs in one process.

usage: onnx_equal.py PAIRS.tsv

PAIRS.tsv has one `original<TAB>converted` pair per line. Both files are read with
onnx.load, which loads external data by default (from the model's own folder).
Prints one JSON object to stdout:

  {"onnx": "1.12.0", "pairs": N, "equal": M, "normalized": K,
   "mismatches": [{"original": ..., "converted": ..., "diff": "..."}]}

and exits 0 whether or not there are mismatches (the caller asserts on the report);
it exits 2 only when it cannot run at all (bad arguments, onnx missing).

One normalization is applied, and only this one: see `normalize_loader_artifacts`.
"""
import json
import sys

try:
    import onnx
    from onnx import TensorProto
    from onnx import external_data_helper as edh
except ImportError as e:  # pragma: no cover - reported to the caller
    print(json.dumps({"fatal": f"cannot import onnx: {e}"}))
    sys.exit(2)


def load(path):
    """onnx.load(path) with external data, plus which tensors the loader filled in.

    Equivalent to onnx.load(path): load the proto without external data, then call
    onnx's own load_external_data_for_model on the model's folder. Splitting the two
    steps lets us record which tensors were external in the file.
    """
    import os

    model = onnx.load(path, load_external_data=False)
    tensors = list(edh._get_all_tensors(model))
    was_external = [edh.uses_external_data(t) for t in tensors]
    edh.load_external_data_for_model(model, os.path.dirname(path))
    return model, tensors, was_external


def normalize_loader_artifacts(a, b):
    """Removes the one difference that onnx's external-data loader itself creates.

    onnx.proto is proto2, so a field's *presence* is part of equality. After onnx's
    load_external_data_for_model reads a tensor's bytes it sets
    `tensor.data_location = TensorProto.DEFAULT` explicitly (and clears external_data),
    so a tensor that was external in one file and inline in the other compares unequal
    only because one has data_location present-with-value-DEFAULT and the other has it
    absent. Both mean DEFAULT (proto2 default value), and the presence bit was written
    by the loader, not read from either file.

    The rule is narrow: only for tensor pairs where the loader filled in at least one
    side, and only when both sides' data_location *value* is DEFAULT; then the presence
    bit is cleared on both. Any other difference (bytes, dims, names, a tensor that is
    still EXTERNAL because the loader does not visit it, ...) is left for == to find.
    Returns how many tensor pairs were normalized.
    """
    (_, ta, ea), (_, tb, eb) = a, b
    n = 0
    for x, y, ex, ey in zip(ta, tb, ea, eb):
        if not (ex or ey):
            continue
        if x.data_location == TensorProto.DEFAULT and y.data_location == TensorProto.DEFAULT:
            if x.HasField("data_location") != y.HasField("data_location"):
                n += 1
            x.ClearField("data_location")
            y.ClearField("data_location")
    return n


def short(v):
    s = repr(v)
    return s if len(s) <= 120 else s[:117] + "..."


def first_diff(a, b, path="model"):
    """A readable path to the first difference between two protobuf values."""
    if hasattr(a, "ListFields") and hasattr(b, "ListFields"):
        fa = {f.name: v for f, v in a.ListFields()}
        fb = {f.name: v for f, v in b.ListFields()}
        for name in sorted(set(fa) | set(fb)):
            if name not in fa:
                return f"{path}.{name}: absent in original, {short(fb[name])} in converted"
            if name not in fb:
                return f"{path}.{name}: {short(fa[name])} in original, absent in converted"
            d = first_diff(fa[name], fb[name], f"{path}.{name}")
            if d:
                return d
        if a.SerializeToString(deterministic=True) != b.SerializeToString(deterministic=True):
            return f"{path}: messages differ in unknown fields"
        return None
    if isinstance(a, (str, bytes, int, float, bool)) or isinstance(b, (str, bytes, int, float, bool)):
        return None if a == b else f"{path}: {short(a)} != {short(b)}"
    # repeated field
    la, lb = list(a), list(b)
    if len(la) != len(lb):
        return f"{path}: {len(la)} items in original, {len(lb)} in converted"
    for i, (x, y) in enumerate(zip(la, lb)):
        d = first_diff(x, y, f"{path}[{i}]")
        if d:
            return d
    return None


def main(argv):
    if len(argv) != 2:
        print(json.dumps({"fatal": "usage: onnx_equal.py PAIRS.tsv"}))
        return 2
    with open(argv[1], encoding="utf-8") as f:
        pairs = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    report = {"onnx": onnx.__version__, "pairs": len(pairs), "equal": 0, "normalized": 0, "mismatches": []}
    for original, converted in pairs:
        try:
            a = load(original)
            b = load(converted)
            report["normalized"] += normalize_loader_artifacts(a, b)
            if a[0] == b[0]:
                report["equal"] += 1
            else:
                diff = first_diff(a[0], b[0]) or "models differ (no field-level difference found)"
                report["mismatches"].append({"original": original, "converted": converted, "diff": diff})
        except Exception as e:  # a file onnx cannot load is a mismatch, not a crash
            report["mismatches"].append(
                {"original": original, "converted": converted, "diff": f"{type(e).__name__}: {e}"}
            )
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
