"""ordermesh benchmarks: `python -m bench` (full sizes) or `python -m bench --quick` (toy sizes)."""
