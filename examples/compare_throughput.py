"""MobileNetV4 encoders against SB3's NatureCNN: training throughput, encoder speed, size, memory.

A thin entry point to :mod:`mnv4_lab.bench` (the same as the ``mnv4-rl-bench`` console script)::

    python examples/compare_throughput.py --encoders nano small --repeats 3 --out results/bench
    python examples/compare_throughput.py --encoders small timm-small --extractor-kwargs \
        '{"norm": "batch"}' --algos --out results/ours_vs_timm      # encoder timings only

``--help`` lists every option; the module docstring of ``mnv4_lab.bench.cli`` says what is
measured and how.
"""

from mnv4_lab.bench import main

if __name__ == "__main__":
    main()
