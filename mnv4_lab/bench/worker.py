"""One end-to-end measurement in this process: ``python -m mnv4_lab.bench.worker '<json config>'``.

The benchmark starts this in a fresh subprocess per run (its own peak memory, no shared state) and
reads the JSON line it prints last (see :func:`mnv4_lab.bench.measure.run_end_to_end`).
"""

import json
import sys

from .measure import EndToEndConfig, run_end_to_end

if __name__ == "__main__":
    print(json.dumps(run_end_to_end(EndToEndConfig(**json.loads(sys.argv[1])))))
