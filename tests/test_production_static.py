"""Production serves static files from collectstatic's output with a hashed manifest
(whitenoise's CompressedManifestStaticFilesStorage): a file that names a missing neighbour (a
vendored library's source map, say) makes collectstatic fail, and with it every deploy."""

import json
import os
import subprocess
import sys

from django.conf import settings


def test_collectstatic_under_production_settings_collects_every_file(tmp_path):
    static_root = tmp_path / "static"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {
        "DEBUG": "0",
        "SECRET_KEY": "test-" + "x" * 60,
        "ALLOWED_HOSTS": "helpdesk.example.com",
        "STATIC_ROOT": str(static_root),
        "HELPDESK_VAR_DIR": str(tmp_path / "var"),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    for path in (
        "vendor/chart.js-4.5.1/chart.umd.min.js",
        "vendor/htmx-2.0.11/htmx.min.js",
        "chat/widget.js",
    ):
        assert path in manifest
        assert (static_root / manifest[path]).is_file()
