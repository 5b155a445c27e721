"""ttsint-bench: `ttsint bench`, the benchmark suite with peers side by side."""

import ttsint

# Names resolve on first use, so loading the plugin entry point imports neither torch nor the suite.
__getattr__, __all__ = ttsint.lazy_exports(
    __name__,
    {
        "figures": ["Figure", "Item", "machine_info"],
        "report": ["SCHEMA", "markdown", "plot", "write_json"],
        "suite": ["ITEMS", "run_suite"],
    },
)
