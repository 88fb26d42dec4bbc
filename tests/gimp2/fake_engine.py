"""Stands in for `python -m uprez upscale SRC -o DST ... --json` (Python 2.7 and 3).

It answers with the engine's JSON-lines protocol and writes DST as a "PNG" of the fake
gimpfu: a text file with the scaled size. Model 'broken-model' fails like the engine does.
"""

from __future__ import print_function

import json
import os
import sys


def main(argv):
    args = argv[argv.index("upscale") + 1:]
    source, target = args[0], args[args.index("-o") + 1]
    model, scale = args[args.index("-m") + 1], float(args[args.index("-s") + 1])
    with open(os.environ["FAKE_ENGINE_LOG"], "a") as log:
        log.write(json.dumps(argv) + "\n")
    if model == "broken-model":
        print(json.dumps({"event": "error", "input": None, "message": "broken-model: no known architecture"}))
        return 3
    width, height = [int(v) for v in open(source).read().split()[:2]]
    print(json.dumps({"event": "start", "input": source, "tiles": 2, "tile": 64, "device": "cpu"}))
    for done in (1, 2):
        print(json.dumps({"event": "progress", "input": source, "done": done, "total": 2, "stage": "colour"}))
    with open(target, "w") as handle:
        handle.write("%d %d\n" % (int(round(width * scale)), int(round(height * scale))))
    print(json.dumps({"event": "done", "input": source, "output": target, "seconds": 0.1}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
