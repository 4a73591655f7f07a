"""NER on CoNLL-2003: the spaCy pipeline from models/configs/ner.cfg, trained from scratch here.

    .venv/bin/python bench/ner.py [--data-dir ../shared/data] [--max-epochs N] [--train-rows N]

Trains on CoNLL-2003 train (14,041 sentences), selects the best checkpoint on dev (3,250),
evaluates once on test (3,453): entity-level precision / recall / F1 (exact span and type),
overall and per type, plus the ECE of the entity scores. Writes bench/results/ner.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models.ner import EntityRecognizer  # noqa: E402
from models.settings import NerSettings  # noqa: E402
from report import machine, write_report  # noqa: E402
from training.conll import read_conll  # noqa: E402

# CoNLL-2003 test F1, as listed in the issue and ../shared/data/conll2003/PROVENANCE.md
PUBLISHED_F1 = {"spaCy RoBERTa pipeline": 0.916, "BiLSTM-CRF (Lample 2016)": 0.909, "Stanford CRF": 0.87}
TYPES = ("PER", "ORG", "LOC", "MISC")


def main() -> None:
    defaults = NerSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="folder holding conll2003/{train,dev,test}.txt (default: ../shared/data)")
    parser.add_argument("--max-epochs", type=int, default=defaults.max_epochs, help="training epochs at most")
    parser.add_argument("--patience", type=int, default=defaults.patience, help="steps without a better dev F1 before stopping")
    parser.add_argument("--train-rows", type=int, default=0, help="use the first N training sentences (0: all)")
    parser.add_argument("--save", type=Path, help="also save the trained model to this folder")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "ner.json")
    args = parser.parse_args()

    folder = args.data_dir / "conll2003"
    if not (folder / "train.txt").exists():
        sys.exit(f"CoNLL-2003 not found in {folder}: pass --data-dir")
    train, valid, test = (read_conll(folder / f"{split}.txt") for split in ("train", "dev", "test"))
    if args.train_rows:
        train = train.head(args.train_rows)

    ner = EntityRecognizer(**{**defaults.model_dump(), "max_epochs": args.max_epochs, "patience": args.patience})
    start = time.perf_counter()
    ner.fit(train, valid)
    train_seconds = time.perf_counter() - start
    if args.save:
        ner.save(args.save)
    start = time.perf_counter()
    metrics = ner.evaluate(test)
    predict_seconds = time.perf_counter() - start
    n_tokens = int(test["tokens"].map(len).sum())
    # Side by side on the same model: decoding with the beam, and the scores before calibration.
    ner.decode = "beam"
    beam_f1 = ner.evaluate(test)["f1"]
    ner.decode, calibrator, ner.calibrator_ = defaults.decode, ner.calibrator_, None
    raw_ece = ner.evaluate(test)["span_ece"]
    ner.calibrator_ = calibrator

    report = {
        "dataset": {"name": "conll2003", "train_sentences": len(train), "valid_sentences": len(valid),
                    "test_sentences": len(test), "test_tokens": n_tokens},
        "machine": machine(),
        "params": ner.get_params(),
        "test": metrics,
        "test_f1_beam_decoding": beam_f1,
        "test_span_ece_before_calibration": raw_ece,
        "train_seconds": train_seconds,
        # evaluate() runs the model over the test set: greedy decoding plus the beam for scores
        "predict_sentences_per_second": len(test) / predict_seconds,
        "predict_tokens_per_second": n_tokens / predict_seconds,
        "published_f1": PUBLISHED_F1,
    }
    write_report(report, args.out)

    print(f"\nCoNLL-2003 test ({len(test)} sentences, {metrics['n_entities']:.0f} entities), "
          f"trained on {len(train)} sentences, {report['machine']['cpus']} CPUs")
    print(f"{'':<34} {'P':>6} {'R':>6} {'F1':>6}")
    print(f"{'this project (overall)':<34} {metrics['precision']:>6.3f} {metrics['recall']:>6.3f} {metrics['f1']:>6.3f}")
    for label in TYPES:
        if f"f1_{label}" in metrics:
            print(f"{'  ' + label:<34} {metrics[f'precision_{label}']:>6.3f} {metrics[f'recall_{label}']:>6.3f} {metrics[f'f1_{label}']:>6.3f}")
    for name, f1 in PUBLISHED_F1.items():
        print(f"{name + ' (published)':<34} {'':>6} {'':>6} {f1:>6.3f}")
    print(f"\nbeam decoding instead of greedy: F1 {beam_f1:.3f}")
    print(f"entity-score ECE {metrics['span_ece']:.3f} ({raw_ece:.3f} before calibration); train {train_seconds:.0f} s; "
          f"predict {report['predict_sentences_per_second']:.0f} sentences/s; wrote {args.out}")


if __name__ == "__main__":
    main()
