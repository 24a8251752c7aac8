"""The studio's adversarial-example panel: POST /api/attack for an advgan run."""
from test_server import decode, png_bytes, request


def test_attack_upload_and_pick(studio, attack_run):
    s, info = request(studio, "GET", f"/api/runs/{attack_run}")
    assert "attack" in info["capabilities"]
    res = info["resolution"]
    s, b = request(studio, "POST", f"/api/attack?run={attack_run}",
                   png_bytes((50, 40), "RGB", (120, 120, 120)), {"Content-Type": "image/png"})
    assert s == 200, b
    img = decode(b["image"])  # one row: clean | perturbation | adversarial, 2 px padding
    assert img.shape[0] == res + 4 and img.shape[1] == 3 * res + 8
    for key in ("clean", "adversarial"):
        assert set(b[key]) == {"class", "confidence"} and 0 <= b[key]["confidence"] <= 1
    assert b["label"] is None and b["eps"] > 0
    s, b = request(studio, "POST", f"/api/attack?run={attack_run}&index=2")
    assert s == 200, b
    s, b = request(studio, "POST", f"/api/attack?run={attack_run}&index=999999")
    assert s == 400 and "test split has" in b["error"]


def test_attack_needs_an_advgan_run(studio):
    s, b = request(studio, "POST", "/api/attack?run=00000-gan", png_bytes())
    assert s == 400 and "cannot do an adversarial example" in b["error"]
