"""`ttsint voices`: what can speak (name, language, rate, architecture, licence), read from configs alone."""

from __future__ import annotations

import json
import subprocess
import sys

from ttsint._addon import stack_types
from ttsint.cli import run


def test_voices_json_lists_en_rms_and_demo_from_their_configs(capsys) -> None:
    assert run(["voices", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    en = rows["en-rms"]
    assert en["language"] == "en-US" and en["sample_rate"] == 16000
    assert en["architecture"] == "Encoders → Upsampler → Decoder → PGHI"
    assert en["license"].startswith("Apache-2.0") and en["distribution"] == "ttsint-voice-en"
    demo = rows["demo"]
    assert demo["architecture"] == "Encoders → Upsampler → Decoder" and demo["language"] == "en"
    assert all("/" not in str(r.get("path", "")) for r in rows.values())


def test_voices_table_has_the_five_columns(capsys) -> None:
    assert run(["voices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "LANGUAGE", "SAMPLE_RATE", "ARCHITECTURE", "LICENSE"]
    assert any(line.startswith("en-rms ") and "16000" in line and "PGHI" in line for line in lines)


def test_voices_loads_no_network_and_no_torch() -> None:
    code = ("import sys\nfrom ttsint.cli import run\nrun(['voices'])\n"
            "print('torch' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stderr.splitlines()[-1] == "False", done.stderr


def test_stack_types_are_the_leaves_in_stream_order() -> None:
    inner = {"type": "StreamableStack", "stack": [{"type": "Upsampler"}, {"type": "Decoder", "context": 8}]}
    spec = [{"type": "StreamablePipeline", "sequence_block": {"type": "Encoders"}, "streamable_block": inner},
            {"type": "GriffinLim", "n_iter": 4}]
    assert stack_types(spec) == ["Encoders", "Upsampler", "Decoder", "GriffinLim"]
