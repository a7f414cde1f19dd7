#!/usr/bin/env python3
"""Regenerates the committed seed corpora from the hex examples in protocol/FORMAT.md.

frame_decoder:   one file per example frame (prefixed by the chunk-size byte the fuzzer
                 reads first), plus all frames back to back.
message_decoder: one file per example message body (frame without its length prefix).
envelope_open:   the envelope example and the three envelopes inside the examples.
"""
import pathlib
import re

here = pathlib.Path(__file__).resolve().parent
doc = (here.parent / "FORMAT.md").read_text()
blocks = {m.group(1): bytes.fromhex(m.group(2).replace("\n", " "))
          for m in re.finditer(r"```hex (\S+)\n(.*?)```", doc, re.S)}
frames = {k: v for k, v in blocks.items() if not k.startswith("envelope-")}


def write(target, name, data):
    d = here / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


for label, frame in frames.items():
    write("frame_decoder", label, bytes([7]) + frame)
    write("message_decoder", label, frame[4:])
write("frame_decoder", "all-frames", bytes([63]) + b"".join(frames.values()))
write("envelope_open", "envelope-sealed", blocks["envelope-sealed"])
write("envelope_open", "envelope-plaintext", blocks["envelope-plaintext"])
for label in ("PUSH", "CHANGES", "SNAPSHOT_CHUNK"):
    body = frames[label]
    env = body[body.index(b"\xa3env\xc4") + 6:]  # after "env" key and the bin8 header
    write("envelope_open", "env-" + label, env)
# Regression: the empty input once hit undefined pointer arithmetic in OpenChangeset.
write("envelope_open", "regression-empty", b"")
print("seeds written under", here / "corpus")
