"""ModelSpec: the settings that say which model to load and how, shared by evolve, ascend and dream."""
from __future__ import annotations

from dataclasses import dataclass, fields

from ..model_options import ModelOptions
from .base import Classifier
from .registry import load_classifier


@dataclass
class ModelSpec(ModelOptions):
    """A model name, the engine for its forward passes and the options (ModelOptions) that say where
    and how it runs."""

    model: str = "lenet-mnist"
    engine: str = "torch"             # forward passes: torch, onnxruntime or auto (evolution only)

    @classmethod
    def of(cls, config) -> "ModelSpec":
        """The spec held by any config with these fields (EvolveConfig, AscendConfig, DreamConfig)."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls) if hasattr(config, f.name)})

    def load(self) -> Classifier:
        from ..config import set_torch_threads

        set_torch_threads(self.threads)
        return load_classifier(self.model, device=self.device, classes_file=self.classes_file,
                               input_size=self.input_size, weights=self.weights, engine=self.engine)
