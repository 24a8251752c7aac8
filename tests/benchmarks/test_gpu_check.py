"""The GPU check's CPU dry run (issue 19): every part runs and is recorded, so the script is
ready the day a GPU is lent."""
import json

from states import load_benchmark


def test_gpu_check_dry_run(tmp_path):
    mod = load_benchmark("gpu/check.py")
    assert mod.main(["--dry-run", "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "gpu_check.json").read_text())
    assert r["dry_run"] and r["tests"]["ok"]
    assert [(s["model"], s["batch"]) for s in r["speed"]] == [("dcgan", 4), ("stylegan", 4)]
    assert all(s["img_per_s"] > 0 and "error" not in s for s in r["speed"])
    assert r["fid"]["images"] == 20 and "error" not in r["fid"]
    assert "| dcgan | 4 |" in (tmp_path / "gpu_check.md").read_text()
