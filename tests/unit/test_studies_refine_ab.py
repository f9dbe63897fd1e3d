"""studies.refine_ab's report: ratios to the base refinement, as a reader would check them by hand."""

from __future__ import annotations

from studies.refine_ab import markdown


def _dev(mae: float, fbeta: float) -> dict[str, float]:
    return {"n": 2, "mae": mae, "max_fbeta": fbeta, "miou": 0.8, "best_threshold": 128, "ms_per_img": 10.0}


def test_report_gives_each_refinement_as_a_ratio_to_the_base() -> None:
    matting = {k: 0.001 for k in ("sad_whole", "mse_whole", "grad_whole", "conn_whole", "sad_band", "grad_band")}
    results = {
        "base": "main (abc1234)",
        "created": "now",
        "models": {
            "m": {
                "horse": {"n": 2, "other_cpu_cores": 0.5, "ways": {"base": _dev(0.04, 0.9), "crisp": _dev(0.03, 0.99)}},
                "matting": {
                    "n": 9,
                    "other_cpu_cores": 0.0,
                    "ways": {"base": {**matting, "soft_share": 0.1, "ms_per_img": 5.0}},
                },
            }
        },
        "speed": {"size": (40, 30), "other_cpu_cores": 0.2, "ms": {"base": 40.0, "crisp": 50.0}},
    }
    text = markdown(results)
    assert "| horse | m | crisp | 0.0300 | 0.750 | 0.9900 | 1.1000 | 10 |" in text
    assert "| crisp | 50 | 1.25 |" in text
    assert "up to 0.50 cores" in text and "main (abc1234)" in text
