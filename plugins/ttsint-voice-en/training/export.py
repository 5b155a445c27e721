"""Export the trained networks with torch.export (dynamic length) and verify them.

    python plugins/ttsint-voice-en/training/export.py [--checkpoint build/acoustic/checkpoint.pt]

Writes src/ttsint_voice_en/addon/{text_encoder,duration_predictor,decoder}.pt2 and networks.json, and
the networks' sha256 digests into addon.toml.
Checks: numeric receptive field (perturb at t±(R+1): no change; at t±R: change), exported ==
eager for lengths 1, 7, 300, and zero-padded inputs give the same outputs at real positions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import ttsint
from torch.export import Dim

HERE = Path(__file__).resolve().parent
PLUGIN = HERE.parent
REPO = PLUGIN.parent.parent
ADDON = PLUGIN / "src" / "ttsint_voice_en" / "addon"
sys.path.insert(0, str(HERE))

from model import build, n_params  # noqa: E402

MEL_SPEC = {"sample_rate": 16000, "n_fft": 1024, "hop_length": 256, "win_length": 1024,
            "n_mels": 80, "fmin": 0.0, "fmax": 8000.0}
MAX_N, MAX_T = 4096, 32768
TOL = 1e-5


def load_models(path: Path):
    ck = torch.load(path, weights_only=False)
    enc, dur, dec = build(len(ck["phones"]), ck["cfg"])
    enc.load_state_dict(ck["text_encoder"])
    dur.load_state_dict(ck["duration_predictor"])
    dec.load_state_dict(ck["decoder"])
    return ck, enc.eval(), dur.eval(), dec.eval()


def make_input(kind: str, length: int, n_symbols: int, hidden: int, gen: torch.Generator):
    mask = torch.ones(1, length)
    if kind == "symbols":
        return torch.randint(1, n_symbols, (1, length), generator=gen), mask
    return torch.randn(1, length, hidden, generator=gen), mask


def perturb(x: torch.Tensor, pos: int, n_symbols: int) -> torch.Tensor:
    y = x.clone()
    if x.dtype == torch.int64:
        y[0, pos] = 1 + (int(x[0, pos]) % (n_symbols - 1))  # a different real symbol
    else:
        y[0, pos] += 10.0 * torch.randn(x.shape[-1], generator=torch.Generator().manual_seed(pos))
    return y


def check_receptive_field(fn, kind, r, n_symbols, hidden, gen) -> dict:
    length = 2 * r + 41
    t = length // 2
    x, m = make_input(kind, length, n_symbols, hidden, gen)
    base = fn(x, m)
    res = {}
    for off in (r + 1, -(r + 1), r, -r):
        diff = float((fn(perturb(x, t + off, n_symbols), m) - base)[0, t].abs().max())
        res[off] = diff
    # Outside the field the output must be bit-identical; at the edge any change proves dependence.
    ok = (res[r + 1] == 0.0 and res[-(r + 1)] == 0.0 and res[r] > 0.0 and res[-r] > 0.0)
    return {"ok": ok, "diffs": {str(k): v for k, v in res.items()}}


def pad_input(x, m, extra):
    if x.dtype == torch.int64:
        xp = torch.cat([x, torch.zeros(1, extra, dtype=x.dtype)], 1)
    else:
        xp = torch.cat([x, torch.zeros(1, extra, x.shape[2])], 1)
    return xp, torch.cat([m, torch.zeros(1, extra)], 1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(REPO / "build" / "acoustic" / "checkpoint.pt"))
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    ck, enc, dur, dec = load_models(Path(args.checkpoint))
    nsym, hidden = len(ck["phones"]), ck["cfg"]["hidden"]
    gen = torch.Generator().manual_seed(0)
    specs = [
        ("text_encoder", enc, "encoder", ["symbols", "mask"], ["text_encoding"], "symbols", MAX_N),
        ("duration_predictor", dur, "encoder", ["symbols", "mask"], ["durations"], "symbols", MAX_N),
        ("decoder", dec, "decoder", ["frames", "mask"], ["mel"], "frames", MAX_T),
    ]
    ADDON.mkdir(parents=True, exist_ok=True)
    meta = {"hidden_size": hidden, "mel": MEL_SPEC, "phones": "phones.json", "networks": {}}
    report = {}
    all_ok = True
    for name, mod, role, inputs, outputs, kind, max_len in specs:
        r = mod.receptive_field
        with torch.no_grad():
            # The duration output is clamp(expm1(log_d)), pointwise: check R on the log domain so
            # clamped zeros cannot hide a dependency.
            rf_fn = mod.forward_log if name == "duration_predictor" else mod
            rf = check_receptive_field(rf_fn, kind, r, nsym, hidden, gen)
            length = Dim("T" if kind == "frames" else "N", min=1, max=max_len)
            ex = make_input(kind, 17, nsym, hidden, gen)
            dyn = {inputs[0]: {1: length}, "mask": {1: length}}
            ep = torch.export.export(mod, ex, dynamic_shapes=dyn)
            path = ADDON / f"{name}.pt2"
            torch.export.save(ep, str(path))
            loaded = torch.export.load(str(path)).module()
            eq, padd = {}, {}
            for n in (1, 7, 300):
                x, m = make_input(kind, n, nsym, hidden, gen)
                ref = mod(x, m)
                eq[n] = float((loaded(x, m) - ref).abs().max())
                xp, mp = pad_input(x, m, 37)
                out_p = loaded(xp, mp)
                padd[n] = max(float((out_p[:, :n] - ref).abs().max()),
                              float(out_p[:, n:].abs().max()))  # padded outputs are zero too
        ok = rf["ok"] and all(v <= TOL for v in eq.values()) and all(v <= TOL for v in padd.values())
        all_ok &= ok
        report[name] = {"receptive_field": r, "rf_check": rf, "export_vs_eager": eq,
                        "padded_vs_unpadded": padd, "bytes": path.stat().st_size, "ok": ok}
        meta["networks"][name] = {
            "file": f"{name}.pt2", "role": role, "inputs": inputs, "outputs": outputs,
            "receptive_field": r, "parameters": n_params(mod),
        }
        print(name, json.dumps(report[name]), flush=True)
    meta.update(MEL_SPEC)
    meta["n_symbols"] = nsym
    (ADDON / "networks.json").write_text(json.dumps(meta, indent=2) + "\n")
    # The addon refuses networks whose bytes differ from the digests its config declares.
    ttsint.stamp_digests(ADDON / "addon.toml")
    total = sum(v["bytes"] for v in report.values())
    print(f"total .pt2 size {total / 1e6:.2f} MB; all checks {'PASSED' if all_ok else 'FAILED'}")
    if not all_ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
