"""Train the three-network acoustic model on build/corpus/ (see make_corpus.py), then export.

    python plugins/ttsint-voice-en/training/train.py                 # full run, then export.py
    python plugins/ttsint-voice-en/training/train.py --steps 60      # quick smoke test

Losses: masked L1 on log-mel (decoder fed teacher-forced, ground-truth-duration upsampling of the
text encoding) + masked MSE on log(1 + duration frames) for the duration predictor.
Loss curve -> training/loss.csv; checkpoint -> build/acoustic/checkpoint.pt.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
PLUGIN = HERE.parent
REPO = PLUGIN.parent.parent
sys.path.insert(0, str(HERE))

from model import build, n_params  # noqa: E402

CFG = {
    "seed": 1234,
    "hidden": 256,            # H: text_encoding width (decoder input)
    "enc_kernel": 5, "enc_layers": 4, "enc_dropout": 0.1,
    "dur_channels": 128, "dur_kernel": 5, "dur_layers": 4, "dur_dropout": 0.1,
    "dec_channels": 192, "dec_kernel": 3,
    "dec_dilations": [1, 2, 4, 8, 16, 1, 2, 4, 8, 16], "dec_dropout": 0.0,
    "n_mels": 80,
    "max_batch_frames": 3000,  # B * max(T) per batch
    "max_batch_size": 32,
    "lr": 1.5e-3, "warmup_steps": 300, "final_lr_frac": 0.03, "weight_decay": 1e-6,
    "grad_clip": 1.0,
    "steps": 4000,
    "max_minutes": 38.0,        # wall-clock cap; the LR schedule follows whichever ends first
    "log_every": 50, "eval_every": 500,
    "threads": 2,
}
CORPUS = REPO / "build" / "corpus"
CKPT_DIR = REPO / "build" / "acoustic"
LOSS_CSV = HERE / "loss.csv"
PHONES_JSON = PLUGIN / "src" / "ttsint_voice_en" / "addon" / "phones.json"


def load(path: Path) -> list[dict]:
    recs = torch.load(path, weights_only=False)
    for r in recs:
        r["frame_phone"] = torch.repeat_interleave(torch.arange(r["durations"].numel()), r["durations"])
        assert r["frame_phone"].numel() == r["mel"].shape[0]
    return recs


def make_batches(recs: list[dict], max_frames: int, max_bs: int) -> list[list[int]]:
    order = sorted(range(len(recs)), key=lambda i: recs[i]["mel"].shape[0])
    batches, cur, cur_max = [], [], 0
    for i in order:
        t = recs[i]["mel"].shape[0]
        if cur and (max(cur_max, t) * (len(cur) + 1) > max_frames or len(cur) >= max_bs):
            batches.append(cur)
            cur, cur_max = [], 0
        cur.append(i)
        cur_max = max(cur_max, t)
    if cur:
        batches.append(cur)
    return batches


def collate(recs: list[dict], idx: list[int]) -> dict:
    b = len(idx)
    n = max(recs[i]["phone_ids"].numel() for i in idx)
    t = max(recs[i]["mel"].shape[0] for i in idx)
    sym = torch.zeros(b, n, dtype=torch.int64)
    pmask = torch.zeros(b, n)
    dur = torch.zeros(b, n)
    fidx = torch.zeros(b, t, dtype=torch.int64)
    fmask = torch.zeros(b, t)
    mel = torch.zeros(b, t, recs[idx[0]]["mel"].shape[1])
    for j, i in enumerate(idx):
        r = recs[i]
        k, f = r["phone_ids"].numel(), r["mel"].shape[0]
        sym[j, :k] = r["phone_ids"]
        pmask[j, :k] = 1
        dur[j, :k] = r["durations"].float()
        fidx[j, :f] = r["frame_phone"]
        fmask[j, :f] = 1
        mel[j, :f] = r["mel"]
    return {"sym": sym, "pmask": pmask, "dur": dur, "fidx": fidx, "fmask": fmask, "mel": mel}


def losses(enc, dur, dec, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    h = enc(batch["sym"], batch["pmask"])                         # [B, N, H]
    frames = torch.gather(h, 1, batch["fidx"].unsqueeze(-1).expand(-1, -1, h.shape[-1]))
    frames = frames * batch["fmask"].unsqueeze(-1)                # teacher-forced upsampling
    pred = dec(frames, batch["fmask"])
    fm = batch["fmask"].unsqueeze(-1)
    mel_l1 = ((pred - batch["mel"]).abs() * fm).sum() / (fm.sum() * pred.shape[-1])
    logd = dur.forward_log(batch["sym"], batch["pmask"])
    dur_mse = (((logd - torch.log1p(batch["dur"])) ** 2) * batch["pmask"]).sum() / batch["pmask"].sum()
    return mel_l1, dur_mse


def lr_at(step: int, minutes: float, cfg: dict) -> float:
    """Linear warm-up, then cosine decay over progress = max(step fraction, wall-time fraction).

    The wall-time term makes the schedule finish inside the time cap on a shared, busy CPU
    (at the price of run-to-run differences when the machine speed differs)."""
    if step < cfg["warmup_steps"]:
        return cfg["lr"] * (step + 1) / cfg["warmup_steps"]
    p = max((step - cfg["warmup_steps"]) / max(1, cfg["steps"] - cfg["warmup_steps"]),
            minutes / cfg["max_minutes"])
    p = min(1.0, p)
    lo = cfg["final_lr_frac"]
    return cfg["lr"] * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * p)))


@torch.no_grad()
def evaluate(enc, dur, dec, recs, batches) -> tuple[float, float]:
    for m in (enc, dur, dec):
        m.eval()
    tot_m = tot_d = 0.0
    for bi in batches:
        m_l, d_l = losses(enc, dur, dec, collate(recs, bi))
        tot_m += float(m_l) * len(bi)
        tot_d += float(d_l) * len(bi)
    for m in (enc, dur, dec):
        m.train()
    n = sum(len(b) for b in batches)
    return tot_m / n, tot_d / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--loss-csv", default=str(LOSS_CSV))
    args = ap.parse_args()
    cfg = dict(CFG)
    if args.steps is not None:
        cfg["steps"] = args.steps
    if args.max_minutes is not None:
        cfg["max_minutes"] = args.max_minutes
    torch.manual_seed(cfg["seed"])
    random.seed(cfg["seed"])
    torch.set_num_threads(cfg["threads"])

    phones = json.loads(PHONES_JSON.read_text())
    train = load(CORPUS / "train.pt")
    held = load(CORPUS / "heldout.pt")
    enc, dur, dec = build(len(phones), cfg)
    with torch.no_grad():  # start the mel output at the corpus per-bin mean
        dec.out.bias.copy_(torch.cat([r["mel"] for r in train]).mean(0))
    counts = {"text_encoder": n_params(enc), "duration_predictor": n_params(dur), "decoder": n_params(dec)}
    print("params", counts, "total", sum(counts.values()), flush=True)
    params = [p for m in (enc, dur, dec) for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg["lr"], betas=(0.9, 0.98), weight_decay=cfg["weight_decay"])

    batches = make_batches(train, cfg["max_batch_frames"], cfg["max_batch_size"])
    eval_batches = make_batches(held, cfg["max_batch_frames"], cfg["max_batch_size"])
    print(f"{len(train)} utterances, {len(batches)} batches/epoch", flush=True)
    rng = random.Random(cfg["seed"])
    CKPT_DIR.mkdir(parents=True, exist_ok=True)
    fcsv = open(args.loss_csv, "w", newline="")
    w = csv.writer(fcsv)
    w.writerow(["step", "epoch", "minutes", "lr", "train_mel_l1", "train_dur_mse",
                "heldout_mel_l1", "heldout_dur_mse"])
    t0 = time.time()
    step, epoch, acc_m, acc_d, acc_n = 0, 0, 0.0, 0.0, 0
    order: list[int] = []
    done = False
    while not done:
        if not order:
            order = list(range(len(batches)))
            rng.shuffle(order)
            epoch += 1
        batch = collate(train, batches[order.pop()])
        lr = lr_at(step, (time.time() - t0) / 60, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        mel_l1, dur_mse = losses(enc, dur, dec, batch)
        opt.zero_grad(set_to_none=True)
        (mel_l1 + dur_mse).backward()
        torch.nn.utils.clip_grad_norm_(params, cfg["grad_clip"])
        opt.step()
        step += 1
        acc_m += mel_l1.item()
        acc_d += dur_mse.item()
        acc_n += 1
        minutes = (time.time() - t0) / 60
        done = step >= cfg["steps"] or minutes >= cfg["max_minutes"]
        if step % cfg["log_every"] == 0 or done:
            hm = hd = ""
            if step % cfg["eval_every"] == 0 or done:
                hm, hd = evaluate(enc, dur, dec, held, eval_batches)
                hm, hd = f"{hm:.4f}", f"{hd:.4f}"
            row = [step, epoch, f"{minutes:.2f}", f"{lr:.2e}", f"{acc_m / acc_n:.4f}",
                   f"{acc_d / acc_n:.4f}", hm, hd]
            w.writerow(row)
            fcsv.flush()
            names = ["step", "ep", "min", "lr", "mel_l1", "dur_mse", "ho_mel_l1", "ho_dur_mse"]
            print(" ".join(f"{k}={v}" for k, v in zip(names, row, strict=True)), flush=True)
            acc_m = acc_d = 0.0
            acc_n = 0
            if step % cfg["eval_every"] == 0 or done:
                save(enc, dur, dec, cfg, phones, counts, step)
    fcsv.close()
    print(f"trained {step} steps in {(time.time() - t0) / 60:.1f} min", flush=True)
    if not args.no_export:
        import export
        export.main([])


def save(enc, dur, dec, cfg, phones, counts, step) -> None:
    torch.save({
        "cfg": cfg, "phones": phones, "params": counts, "step": step,
        "text_encoder": enc.state_dict(), "duration_predictor": dur.state_dict(),
        "decoder": dec.state_dict(),
    }, CKPT_DIR / "checkpoint.pt")


if __name__ == "__main__":
    main()
