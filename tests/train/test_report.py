"""report.html: self-contained, with grids, curves, metrics, config and warnings."""
import base64
import json
import re

import pytest

from gankit.cli import main
from gankit.config import config_from_dict
from gankit.errors import GankitError
from gankit.runfiles.report import RunData, nice_ticks, svg_chart, write_report
from gankit.train.trainer import train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = config_from_dict({
        "model": {"name": "gan", "g_hidden": [32], "d_hidden": [32], "z_dim": 8},
        "data": {"dataset": "synthetic:64", "resolution": 8},
        "train": {"steps": 12, "batch_size": 8, "log_every": 2, "sample_every": 4,
                  "checkpoint_every": 0, "progress": False, "threads": 1, "grid_size": 4,
                  "report_max_grids": 2}})
    return train(cfg, tmp_path_factory.mktemp("r") / "run")


def test_report_is_self_contained(run):
    page = (run / "report.html").read_text()
    assert page.startswith("<!doctype html>")
    # no external resources: nothing is fetched when the file is opened from disk
    assert not re.search(r'(src|href)="(?!data:)', page)
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    # reals + 2 grids (3 were written: 4, 8, 12; report_max_grids=2 keeps the first and last)
    assert len(imgs) == 3
    assert base64.b64decode(imgs[-1]) == (run / "fakes_000012.png").read_bytes()
    assert "step 4<" in page and "step 12<" in page and "step 8<" not in page
    for title in ("losses", "discriminator outputs", "gradient norms"):
        assert f'aria-label="{title}"' in page
    assert page.count("<polyline") >= 5  # loss_d, loss_g, D(x), D(G(z)), grad norms
    assert "lr_d:" in page and "No health warnings" in page


def test_rebuild_shows_metrics_and_events(run, capsys):
    with open(run / "stats.jsonl", "a") as f:
        f.write(json.dumps({"step": 12, "event": "nonfinite", "phase": "G",
                            "what": "non-finite loss"}) + "\n")
    (run / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "fid": 100.0 / s, "kid": 0.1, "headline": 100.0 / s, "n": 500,
                    "seconds": 3.0, "protocol": {"net": "x"}}) + "\n" for s in (4, 8, 12)))
    assert main(["report", str(run)]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (run / "report.html").read_text()
    assert 'aria-label="fid"' in page and 'aria-label="kid"' in page
    assert 'aria-label="seconds"' not in page and 'aria-label="headline"' not in page
    assert 'aria-label="n"' not in page
    assert "nonfinite" in page and "phase G" in page and "No health warnings" not in page


def test_rundata_reads_incrementally(tmp_path):
    (tmp_path / "stats.jsonl").write_text('{"step": 1, "loss_d": 1}\n{"step": 2, "lo')
    data = RunData(tmp_path)
    data.refresh()
    assert [r["step"] for r in data.stats] == [1]  # the torn line waits
    with open(tmp_path / "stats.jsonl", "a") as f:
        f.write('ss_d": 2}\n')
    data.refresh()
    assert [r["loss_d"] for r in data.stats] == [1, 2]


def test_svg_chart_edge_cases():
    assert "no data" in svg_chart({}, "t")
    assert "no data" in svg_chart({"a": [(0, float("nan"))]}, "t")
    one = svg_chart({"a": [(5, 1.0)]}, "t")
    assert "<circle" in one
    logc = svg_chart({"a": [(0, 1e-4), (1, 10.0), (2, 0.0)]}, "t", log_y=True)
    assert "log scale" in logc and logc.count(",") >= 2
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    close = svg_chart({"fid": [(100, 200.91279), (200, 200.91250)]}, "fid")
    labels = re.findall(r'class="tick">([^<]+)<', close)
    assert len(labels) == len(set(labels))  # no repeated tick labels on a narrow range
    spiky = {"loss": [(i, 1.0 + 0.01 * (i % 3)) for i in range(20)] + [(20, 4e4)]}
    assert "(clipped)" in svg_chart(spiky, "losses", robust=True)
    assert "(clipped)" not in svg_chart(spiky, "losses")


def test_report_errors(tmp_path):
    with pytest.raises(GankitError, match="not a gankit run"):
        write_report(tmp_path)
    with pytest.raises(GankitError, match="not a directory"):
        write_report(tmp_path / "missing")


def test_writer_refreshes_when_metrics_arrive(run):
    from types import SimpleNamespace

    from gankit.config import TrainConfig
    from gankit.train.report import ReportWriter

    trainer = SimpleNamespace(out=run, cfg=SimpleNamespace(train=TrainConfig()))
    writer = ReportWriter()
    record = {"step": 12, "precision": 0.5}
    (run / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    writer.on_event(trainer, {"event": "metrics", **record})  # as periodic evaluation sends it
    assert 'aria-label="precision"' in (run / "report.html").read_text()
    (run / "report.html").unlink()
    writer.on_checkpoint(trainer, run / "checkpoints" / "latest.pt")  # no event: no rewrite
    writer.on_event(trainer, {"event": "nonfinite", "step": 3})
    assert not (run / "report.html").exists()
    writer.on_end(trainer)
    assert (run / "report.html").exists()


@pytest.mark.parametrize("name", ["stylegan", "progan", "pix2pix"])
def test_loss_chart_and_health_for_models_with_their_own_logs(name, tmp_path):
    """The trainer's loss_d / loss_g reach the report's loss chart and the health monitor's
    oscillation check for models that log no loss_* key themselves."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
    from test_contract import contract_config

    cfg = contract_config(name, steps=4, checkpoint_every=0, sample_every=2)
    cfg.health.window = 2
    run = train(cfg, tmp_path / "run")
    records = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert all({"loss_d", "loss_g"} <= set(r) for r in records if "img_per_s" in r)
    page = (run / "report.html").read_text()
    chart = page[page.index('aria-label="losses"'):]
    chart = chart[:chart.index("</svg>")]
    assert ">loss_d<" in chart and ">loss_g<" in chart and chart.count("<polyline") >= 2
    # the D-output chart says what the model declared (progan and pix2pix log none)
    assert ('aria-label="discriminator outputs (logits)"' in page) == (name == "stylegan")

    from types import SimpleNamespace

    from gankit.train.health import HealthMonitor

    mon = HealthMonitor(cfg)
    trainer = SimpleNamespace(step=0, cfg=cfg, write_stats=lambda r: None)
    swings = [{"step": i, "loss_d": 0.2 if i % 2 else 2.0, "loss_g": 1.0} for i in range(4)]
    for rec in swings:
        mon.on_log(trainer, rec)
    assert [w["kind"] for r in swings for w in r.get("warnings", [])] == ["oscillation"]
