"""Decode workloads on the CPU: the registry's sizes, the modes' agreement, checkpoint
loading, and the checks before allocating. (Graph mode needs a GPU: its agreement
with eager-static is in benchmarks/results/decode-*.json.)"""
import json

import pytest

torch = pytest.importorskip("torch")

from stepscope.analysis.floor import param_counts, step_bytes  # noqa: E402
from stepscope.profiler.errors import WorkloadError  # noqa: E402
from stepscope.profiler.workloads.decode import (  # noqa: E402
    Decoder,
    build_model,
    check_fits,
    kv_bytes_per_token,
    param_bytes,
    registry,
    resolve_model,
)

#: ../shared/REFERENCE.md
REFERENCE = {"qwen2.5-7b": (7_615_616_512, 57_344, 14.141e9),
             "llama-3.1-8b": (8_030_261_248, 131_072, 15.010e9),
             "mistral-7b-v0.3": (7_248_023_552, 131_072, 14.228e9)}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_registry_models_have_the_published_sizes(name):
    spec = resolve_model(name)
    model = build_model(spec, device="meta")
    pb = param_bytes(model)
    count, kv, read_bytes = REFERENCE[name]
    assert pb["param_count"] == count
    assert param_counts(spec.config)["param_count"] == count   # the analysis' own model
    assert kv_bytes_per_token(spec.config) == kv
    b = step_bytes({"config": spec.config, **pb}, position=0)
    assert b["weights_read_bytes"] == pytest.approx(read_bytes, rel=5e-4)
    assert b["weights_all_bytes"] == 2 * count


def test_registry_lists_the_paper_models():
    assert {"qwen2.5-7b", "llama-3.1-8b", "mistral-7b-v0.3", "mistral-7b-v0.1"} <= set(registry())


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-qwen2"])
def test_eager_and_eager_static_compute_the_same_function(name):
    model = build_model(resolve_model(name), device="cpu", dtype="float32")
    out = {}
    for mode in ("eager", "eager-static"):
        d = Decoder(model, 24, mode, 8, seed=3)
        pre = d.prefill()
        logits = []
        for _ in range(4):
            d.step()
            logits.append(d.last_logits.clone())
        out[mode] = (pre, torch.stack(logits))
    torch.testing.assert_close(out["eager-static"][0], out["eager"][0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out["eager-static"][1], out["eager"][1], rtol=1e-4, atol=1e-4)


def test_local_checkpoint_loads_its_real_weights(tmp_path):
    spec = resolve_model("tiny-qwen2")
    model = build_model(spec, device="cpu", dtype="float32", seed=7)
    model.save_pretrained(tmp_path / "ckpt")
    spec2 = resolve_model(str(tmp_path / "ckpt"))
    assert spec2.checkpoint is not None
    loaded = build_model(spec2, device="cpu", dtype="float32", seed=99)
    for (n1, p1), (n2, p2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2), n1
    a, b = Decoder(model, 16, "eager", 4), Decoder(loaded, 16, "eager", 4)
    torch.testing.assert_close(a.prefill(), b.prefill())


def test_folder_without_config_is_one_sentence(tmp_path):
    with pytest.raises(WorkloadError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_unknown_name_lists_the_registry():
    with pytest.raises(WorkloadError, match="qwen2.5-7b"):
        resolve_model("gpt-17")


def test_hub_id_offline_fails_with_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(WorkloadError, match="cannot fetch 'nobody/nothing'"):
        resolve_model("nobody/nothing")


def test_checks_before_allocating():
    cfg = json.loads(registry()["qwen2.5-7b"].read_text())
    check_fits(cfg, 7_615_616_512, 2048, 40, free_bytes=80e9)
    with pytest.raises(WorkloadError, match="GB free"):
        check_fits(cfg, 7_615_616_512, 2048, 40, free_bytes=10e9)
    with pytest.raises(WorkloadError, match="exceeds the model's 131072 positions"):
        check_fits(cfg, 7_615_616_512, 131_000, 100, free_bytes=1e15)


def test_static_cache_runs_out_with_a_clear_error():
    model = build_model(resolve_model("tiny-llama"), device="cpu", dtype="float32")
    d = Decoder(model, 8, "eager-static", 2)
    d.prefill()
    d.step()
    d.step()
    with pytest.raises(WorkloadError, match="static cache"):
        d.step()


def test_main_job_builds_one_model_and_traces_each_mode_with_it(tmp_path, monkeypatch):
    """``run_arms`` on CPU: the GPU calls are replaced; the model is built once (on the
    meta device for the size check, then for real) and every mode gets that same model."""
    from conftest import trace_path
    from stepscope.analysis.trace import Trace
    from stepscope.profiler.experiments import main_job
    from stepscope.profiler.experiments.protocol import decode_stage_count
    from stepscope.profiler.workloads import decode
    built, runs = [], []

    def fake_build(spec, device="cuda", **kw):
        built.append(device)
        return build_model(spec, device="meta" if device == "meta" else "cpu", dtype="float32")

    def fake_run_decode(model, ctx, mode, warmup, steps, trace_steps, dram_interval_ns, built, progress, stage,
                        rounds=1, graph_level=False):
        runs.append((model, ctx, mode, warmup, steps, trace_steps, id(built[1])))
        assert graph_level == (mode == "graph")
        for i in range(decode_stage_count(steps, rounds=rounds, build=False)):   # tests/test_progress.py: run_decode's
            stage(f"{mode}: {i}")
        return Trace.load(trace_path(f"qwen2.5-7b-ctx2048-{mode}-h100")), {}
    monkeypatch.setattr(decode, "build_model", fake_build)
    monkeypatch.setattr(main_job, "run_decode", fake_run_decode)
    monkeypatch.setattr(main_job, "require_gpu", lambda: None)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (80 << 30, 80 << 30))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    stages = []
    paths = main_job.run_arms("tiny-qwen2", 64, ["eager-static", "graph"], tmp_path, 2, 3, 1,
                              stage=stages.append)
    assert built == ["meta", "cuda"]
    assert [r[2] for r in runs] == ["eager-static", "graph"] and len({r[-1] for r in runs}) == 1
    assert runs[0][:6] == ("tiny-qwen2", 64, "eager-static", 2, 3, 1)
    assert paths == [tmp_path / "tiny-qwen2-ctx64-eager-static.stepscope", tmp_path / "tiny-qwen2-ctx64-graph.stepscope"]
    assert all(p.is_file() for p in paths)
    assert stages[0] == "building the model" and stages[1] == "eager-static: 0" and stages[-1].startswith("graph: ")
    assert len(stages) == main_job.stage_count(["eager-static", "graph"], 3, 1)
