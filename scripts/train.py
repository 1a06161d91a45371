"""Train a textrnn classifier: the same as `textrnn train`, as a script.

    python scripts/train.py --dataset ../shared/data/sst2 --output runs/sst2
    torchrun --nproc_per_node 2 scripts/train.py --dataset ../shared/data/sst2 --output runs/sst2

Every flag is listed by `python scripts/train.py --help`.
"""

import sys

from textrnn.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
