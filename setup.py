"""The wheel carries the shipped model and reach forecast (pyproject.toml holds
everything else). They live in models/ at the top of the repository, where training
writes them; a wheel copies them into the package as pipeline/_models/, which
pipeline/settings.py reads when it is there."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# What a worker reads at start-up: the complaint head and encoder, and the forecast.
ARTIFACTS = ["complaint/config.json", "complaint/MODEL_CARD.md", "complaint/*.safetensors", "reach/forecast.json"]


class BuildWithModels(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads models/ in the checkout
            return
        for pattern in ARTIFACTS:
            found = sorted((HERE / "models").glob(pattern))
            if not found:
                raise SystemExit(f"setup.py: models/{pattern} is missing; the wheel would not start a worker")
            for src in found:
                dst = Path(self.build_lib) / "pipeline" / "_models" / src.relative_to(HERE / "models")
                dst.parent.mkdir(parents=True, exist_ok=True)
                self.copy_file(str(src), str(dst))


setup(cmdclass={"build_py": BuildWithModels})
