"""The pages' preparation glue: detections drawn, statuses, the list of unsure or failed images."""

from __future__ import annotations

import numpy as np

from app_pages._components.preparation_view import draw_detection, inspect_images, problem_table
from glaucoma_core.preparation import PreparationSettings
from tests.preparation.helpers import demo_set, full_field_set, jpeg_bytes


def test_inspect_images_reports_cropped_left_alone_and_failed(tmp_path):
    full = tmp_path / "full.jpg"
    full.write_bytes(jpeg_bytes(full_field_set()[1][0]))
    demo = tmp_path / "demo.jpg"
    demo.write_bytes(jpeg_bytes(demo_set(2)[0][0]))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    items = inspect_images([str(full), str(demo), str(broken)], 64, PreparationSettings(disc_crop="auto"))
    assert [item["status"] for item in items] == ["cropped", "left alone", "failed"]
    assert items[0]["prepared"].shape == (64, 64, 3) and items[0]["original"].ndim == 3
    table = problem_table(items)
    assert table["image"].tolist() == [str(broken)] and table["why"].iloc[0]


def test_draw_detection_marks_field_disc_and_crop_at_any_display_size():
    record = {"width": 400, "height": 200, "field": {"found": True, "center_x": 200, "center_y": 100, "radius": 95},
              "disc": {"center_x": 120, "center_y": 100, "diameter": 30}, "crop_box": [80, 60, 160, 140]}
    image = np.zeros((100, 200, 3), np.uint8)  # shown at half the photograph's size
    drawn = draw_detection(image, record)
    assert drawn.shape == image.shape
    assert tuple(drawn[50, 60 - 7]) != (0, 0, 0) or tuple(drawn[50, 60 + 7]) != (0, 0, 0)  # disc circle
    assert tuple(drawn[30, 60]) != (0, 0, 0)  # top edge of the crop box (y=60 -> 30, x=120 -> 60)
