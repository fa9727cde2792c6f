r"""A bounded loopback load test of `newsclf serve`: batching on vs off, and a peer server.

    python benchmarks/bench_serve.py --model runs/demo/best_model
    python benchmarks/bench_serve.py --model runs/demo/best_model \
        --infinity /tmp/infinity-venv/bin/infinity_emb      # also infinity-emb's /classify
    python benchmarks/bench_serve.py --model runs/demo/best_model --quick   # a smoke test
    python -m benchmarks.bench_serve --model runs/demo/best_model           # the same

Each server is its own process on 127.0.0.1 (never another address), started here and stopped
here with SIGTERM. For each server and each client count (16 and 64 by default) it sends a fixed
number of single-text requests (5,000 by default; texts from the bundled AG News test split, the
same sequence for every server) from that many concurrent keep-alive clients, after a short
warm-up, and stops by itself. It records requests/s, texts/s, latency percentiles, errors (any
answer but a well-formed 200), the server's peak RSS, and the load average, because this
machine's cores may be shared.

newsclf settings: `batched` (the defaults: --max-batch-size 32 --max-wait-ms 5) and `unbatched`
(--max-batch-size 1: one forward pass per request). Both use the default precision.
With --agreement-rows N, the batched server's answers for N test texts are compared with plain
transformers in fp32 (no newsclf code): identical labels and the largest probability difference.

After the servers, the model alone runs the same texts in a fresh process, its threads set
as the server's (`bench_serve_ceiling.run_apart`): one text per forward pass, and groups of
texts arriving together, each group one call in sorted sub-batches of 4 as the server runs a
batch. The groups are each client count N and each batched run's mean batch, rounded. In the
summary, `share_of_ceiling_<N>_clients` is the batched server's texts/s over the model's for
the same batches (its mean batch; `unbatched_...`: one text per pass), and
`share_of_<N>_together_<N>_clients` over N texts arriving together. `cpu_share_...` is the
model's CPU time per text over the server process's, which other jobs on the machine disturb
less than texts/s. `load_client_cpu_share` is the load client's CPU time over the wall time
(1.0: one whole core taken from the server).

Writes a JSON file (default benchmarks/results/serve-<date>.json) and prints a table.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import csv  # noqa: E402
import datetime as dt  # noqa: E402
import gzip  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.common import ROOT  # noqa: E402

TEST_CSV = ROOT / "src/newsclf/datasets/ag_news/test.csv.gz"
AG_CLASSES = ["World", "Sports", "Business", "Sci/Tech"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="runs/demo/best_model", help="a saved model directory")
    p.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    p.add_argument("--requests", type=int, default=5000, help="per server and client count")
    p.add_argument("--warmup", type=int, default=200, help="requests before each measurement")
    p.add_argument("--settings", nargs="+", default=["batched", "unbatched"],
                   choices=["batched", "unbatched"])  # fmt: skip
    p.add_argument("--infinity", help="path to an infinity_emb executable: also benchmark it")
    p.add_argument("--agreement-rows", type=int, default=0, help="compare with fp32 transformers")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each server, wait up to this long for the CPUs to be >=85%% idle",
    )
    p.add_argument("--ceiling-texts", type=int, default=640, help="texts for the model alone")
    p.add_argument("--no-ceiling", action="store_true", help="skip the model-only ceiling")
    p.add_argument("--quick", action="store_true", help="300 requests, 8 and 32 clients")
    p.add_argument("--output", type=Path, help="JSON path (default benchmarks/results/...)")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.clients, args.warmup = 300, [8, 32], 30
    return args


def load_texts() -> list[tuple[str, str]]:
    """(text, label) of the AG News test split, shuffled with a fixed seed."""
    raw = gzip.decompress(TEST_CSV.read_bytes()).decode("utf-8")
    rows = [(f"{t} {d}", AG_CLASSES[int(c) - 1]) for c, t, d in csv.reader(io.StringIO(raw))]
    random.Random(0).shuffle(rows)
    return rows


def cpu_idle(window: float = 3.0) -> float:
    """Fraction of all CPU time that was idle over `window` seconds (others' load included)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total

    idle0, total0 = sample()
    time.sleep(window)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(total1 - total0, 1)


def busy_cpu_s() -> float:
    """CPU seconds spent busy so far, all processes of the machine together."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """CPU seconds of one process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(limit: float) -> dict[str, float]:
    """Wait (at most `limit` s) until other work leaves the CPUs >= 85% idle."""
    start, idle = time.monotonic(), cpu_idle()
    while idle < 0.85 and time.monotonic() - start < limit:
        idle = cpu_idle()
    return {"waited_s": round(time.monotonic() - start, 1), "cpu_idle_before": round(idle, 2)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process on 127.0.0.1, ready once `ready_path` answers 200."""

    def __init__(self, name: str, cmd: list[str], port: int, ready_path: str, log: Path):
        self.name, self.cmd, self.port, self.ready_path = name, cmd, port, ready_path
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def __enter__(self) -> Server:
        import httpx

        self.log_file = self.log.open("w")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self.proc = subprocess.Popen(self.cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env=env, cwd=ROOT)  # fmt: skip
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}: see {self.log}"
                )
            try:
                if httpx.get(self.url + self.ready_path, timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(1)
        raise RuntimeError(f"{self.name} not ready within 600 s: see {self.log}")

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()

    def peak_rss_mib(self) -> float:
        """Peak resident memory (VmHWM) of the server process and its children."""
        total, stack = 0.0, [self.proc.pid]
        while stack:
            pid = stack.pop()
            total += common.peak_rss_mib(pid)  # 0 for a child that has exited meanwhile
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    stack += [int(c) for c in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
        return total


class Client:
    """How one kind of server is asked to classify one text, and what a good answer is."""

    def __init__(self, path: str, body: Any, check: Any) -> None:
        self.path, self.body, self.check = path, body, check


def newsclf_client() -> Client:
    return Client(
        "/predict",
        lambda text: {"texts": [text]},
        lambda ans: len(ans) == 1 and ans[0]["label"] in AG_CLASSES,
    )


def infinity_client(model_id: str) -> Client:
    return Client(
        "/classify",
        lambda text: {"input": [text], "model": model_id},
        lambda ans: len(ans["data"]) == 1 and ans["data"][0][0]["label"] in AG_CLASSES,
    )


async def load_test(url: str, client: Client, texts: list[str], clients: int) -> dict[str, Any]:
    """Send every text as its own request from `clients` concurrent connections."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    next_index = iter(range(len(texts)))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(http: httpx.AsyncClient) -> None:
        for i in next_index:
            start = time.perf_counter()
            try:
                response = await http.post(client.path, json=client.body(texts[i]))
                ok = response.status_code == 200 and client.check(response.json())
                if not ok:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
            except (httpx.HTTPError, ValueError, KeyError, IndexError) as err:
                errors.append(f"{type(err).__name__}: {err}")
            latencies.append(time.perf_counter() - start)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(clients)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return summarize(latencies, errors, wall, cpu, clients)


def summarize(latencies: list[float], errors: list[str], wall: float, cpu: float, clients: int):
    import numpy as np

    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "error_examples": errors[:5],
        "wall_s": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "texts_per_s": round(len(latencies) / wall, 1),  # one text per request
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
        "load_client_cpu_s": round(cpu, 2),
        "load_client_cpu_share": round(cpu / wall, 3),
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def batch_stats(url: str) -> tuple[float, float]:
    """(texts, forward passes) so far, from the server's /metrics."""
    import httpx

    values = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(("newsclf_batch_size_sum ", "newsclf_batch_size_count ")):
            name, value = line.split()
            values[name] = float(value)
    return values.get("newsclf_batch_size_sum", 0.0), values.get("newsclf_batch_size_count", 0.0)


def run_server(server: Server, client: Client, texts: list[str], args) -> dict[str, Any]:
    result: dict[str, Any] = {"name": server.name, "command": server.cmd, "runs": []}
    if args.wait_idle:
        result["idle_wait"] = wait_idle(args.wait_idle)
    with server:
        result["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
        asyncio.run(load_test(server.url, client, texts[: args.warmup], 8))
        for clients in args.clients:
            before = batch_stats(server.url) if client.path == "/predict" else None
            machine0, server0 = busy_cpu_s(), process_cpu_s(server.proc.pid)
            run = asyncio.run(load_test(server.url, client, texts[: args.requests], clients))
            server_cpu = process_cpu_s(server.proc.pid) - server0
            # What other work on the machine took meanwhile: a noisy run shows here.
            others = busy_cpu_s() - machine0 - server_cpu - run["load_client_cpu_s"]
            run["server_cpu_s"] = round(server_cpu, 1)
            run["server_cpu_ms_per_text"] = round(1000 * server_cpu / run["requests"], 2)
            run["others_cpu_s"] = round(max(others, 0.0), 1)
            if before is not None:
                after = batch_stats(server.url)
                passes = after[1] - before[1]
                run["mean_batch_size"] = (
                    round((after[0] - before[0]) / passes, 2) if passes else None
                )
            result["runs"].append(run)
            print_run(server.name, run)
        result["peak_rss_mib"] = round(server.peak_rss_mib(), 1)
        if server.name == "batched" and args.agreement_rows:
            result["agreement"] = agreement(server.url, args.model, args.agreement_rows)
    return result


def agreement(url: str, model_dir: str, n: int) -> dict[str, Any]:
    """The server's answers (its precision, its batches) against fp32 plain transformers."""
    import httpx
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    rows = load_texts()[:n]
    texts = [t for t, _ in rows]
    served = []
    for start in range(0, n, 32):
        answer = httpx.post(
            url + "/predict", json={"texts": texts[start : start + 32]}, timeout=120
        )
        served += [[r["probabilities"][c] for c in AG_CLASSES] for r in answer.json()]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    reference = []
    with torch.inference_mode():
        for text in texts:  # one at a time: no padding at all
            enc = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
            probs = model(**enc).logits.softmax(-1)[0].tolist()
            reference.append([probs[names.index(c)] for c in AG_CLASSES])
    got, want = np.array(served), np.array(reference)
    gold = np.array([AG_CLASSES.index(label) for _, label in rows])
    diff = np.abs(got - want)
    return {
        "texts": n,
        "identical_labels": int((got.argmax(1) == want.argmax(1)).sum()),
        "max_abs_prob_diff": round(float(diff.max()), 4),
        "mean_abs_prob_diff": round(float(diff.mean()), 5),
        "accuracy_served": round(float((got.argmax(1) == gold).mean()), 4),
        "accuracy_fp32_transformers": round(float((want.argmax(1) == gold).mean()), 4),
    }


def print_run(name: str, run: dict[str, Any]) -> None:
    print(
        f"{name:>10} {run['clients']:>3} clients: {run['requests_per_s']:>7.1f} req/s "
        f"p50 {run['p50_ms']:>6.1f} p95 {run['p95_ms']:>6.1f} p99 {run['p99_ms']:>6.1f} ms "
        f"errors {run['errors']}  batch {run.get('mean_batch_size', '-')}  "
        f"CPU/text {run['server_cpu_ms_per_text']} ms  client CPU {run['load_client_cpu_share']:.0%}  "
        f"others' CPU {run.get('others_cpu_s', '-')} s of {(os.cpu_count() or 1) * run['wall_s']:.0f}",
        flush=True,
    )


def servers(args: argparse.Namespace, logs: Path) -> list[tuple[Server, Client]]:
    out = []
    newsclf = [sys.executable, "-m", "newsclf", "serve", args.model, "--no-access-log"]
    flags = {"batched": [], "unbatched": ["--max-batch-size", "1"]}
    for name in args.settings:
        port = free_port()
        cmd = newsclf + ["--port", str(port)] + flags[name]
        out.append((Server(name, cmd, port, "/health", logs / f"{name}.log"), newsclf_client()))
    if args.infinity:
        port = free_port()
        cmd = [args.infinity, "v2", "--model-id", args.model, "--engine", "torch",
               "--device", "cpu", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        model_id = "/".join(Path(args.model).parts[-2:])  # infinity's served name
        server = Server("infinity", cmd, port, "/health", logs / "infinity.log")
        out.append((server, infinity_client(model_id)))
    return out


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    by_name = {r["name"]: {run["clients"]: run for run in r["runs"]} for r in results}
    out: dict[str, Any] = {}
    if "batched" in by_name and "unbatched" in by_name:
        for clients, on in by_name["batched"].items():
            off = by_name["unbatched"].get(clients)
            if off:
                out[f"texts_per_s_ratio_{clients}_clients"] = round(
                    on["texts_per_s"] / off["texts_per_s"], 2
                )
                out[f"p99_batched_vs_unbatched_{clients}_clients_ms"] = [
                    on["p99_ms"],
                    off["p99_ms"],
                ]
    out["errors_total"] = sum(run["errors"] for r in results for run in r["runs"])
    return out


def same_batches(run: dict[str, Any]) -> int | None:
    """The arrival group of the model-only run that matches a batched server run: its mean
    batch, rounded (None for one text per pass)."""
    mean = run.get("mean_batch_size")
    return round(mean) if mean and mean >= 1.5 else None


def ceiling_shares(results: list[dict[str, Any]], ceiling: dict[str, Any]) -> dict[str, Any]:
    """Each server run against the model alone on the same texts: texts/s and CPU per text
    against the same batches (the server's mean batch; one text per pass unbatched), and
    texts/s against N texts arriving together for N clients."""
    from benchmarks.bench_serve_ceiling import ONE_PER_PASS, group_name

    rate, cpu = ceiling["texts_per_s"], ceiling["cpu_ms_per_text"]
    out: dict[str, Any] = {}
    for result in results:
        prefix = {"batched": "", "unbatched": "unbatched_"}.get(result["name"])
        for run in result["runs"] if prefix is not None else []:
            group = same_batches(run)
            model = group_name(group) if group else ONE_PER_PASS
            key, tps = f"{run['clients']}_clients", run["texts_per_s"]
            out[f"{prefix}share_of_ceiling_{key}"] = round(tps / rate[model], 3)
            out[f"{prefix}cpu_share_{key}"] = round(cpu[model] / run["server_cpu_ms_per_text"], 3)
            together = group_name(run["clients"])
            if not prefix and together in rate:
                out[f"share_of_{run['clients']}_together_{key}"] = round(tps / rate[together], 3)
            out[f"{prefix}load_client_cpu_share_{key}"] = run["load_client_cpu_share"]
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.model = str(Path(args.model).resolve())
    texts = [t for t, _ in load_texts()]
    date = dt.datetime.now(dt.timezone.utc)
    output = args.output or common.result_path("serve", "-quick" if args.quick else "", date.date())
    logs = Path(tempfile.gettempdir()) / f"bench_serve-{date:%Y%m%dT%H%M%S}"  # servers' output
    logs.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "date": date.isoformat(timespec="seconds"),
        "command": common.command_line(__file__, sys.argv[1:] if argv is None else argv),
        "machine": common.machine(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "requests_per_setting": args.requests,
        "servers": [],
    }
    for server, client in servers(args, logs):
        try:
            report["servers"].append(run_server(server, client, texts, args))
        except RuntimeError as err:
            print(f"{server.name}: {err}", file=sys.stderr)
            report["servers"].append({"name": server.name, "command": server.cmd,
                                      "failed": str(err)})  # fmt: skip
    done = [s for s in report["servers"] if "runs" in s]
    report["summary"] = summary(done)
    if not args.no_ceiling:
        from benchmarks.bench_serve_ceiling import run_apart

        texts_n = min(args.ceiling_texts, args.requests)
        groups = set(args.clients) | {same_batches(run) for s in done for run in s["runs"]}
        report["ceiling"] = run_apart(args.model, texts_n, sorted(groups - {None}))
        report["summary"]["ceiling_texts_per_s"] = report["ceiling"]["texts_per_s"]
        report["summary"].update(ceiling_shares(done, report["ceiling"]))
    report["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    common.write_json(output, report)
    print(json.dumps(report["summary"], indent=2))
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
