"""newsclf's benchmarks: each `bench_*.py` measures one thing and runs as a script, either
`python benchmarks/bench_x.py` or `python -m benchmarks.bench_x` from the repository root.
`common` is what they share (clock, peak memory, machine description, result writer); `harness`
is the run that the speed benchmarks (training, inference, ONNX) share."""
