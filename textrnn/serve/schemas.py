"""The JSON the server takes and gives: /predict's request, flat or in the Hugging Face Inference API's shape
({"inputs", "parameters": {"top_k", "threshold"}}), /explain's, the results, and /info's description.

A mistake in a field is one message that names it and says what it takes, never pydantic's names for the members
of a union ("top_k.constrained-int", "inputs.list[str]"): each such field is checked before pydantic reads it.
"""

import json
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, model_validator
from pydantic_core import PydanticCustomError

JSON_KINDS = {str: "a string", int: "a number", float: "a number", bool: "true or false", type(None): "null",
              list: "a list", dict: "an object"}


def shown(value) -> str:
    """A request's value as JSON, cut short: for the messages."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def refuse(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)  # no {placeholders} in message: it is used as it is


def check_inputs(value):
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise refuse("inputs_type", f"must be a text or a list of texts, got {JSON_KINDS.get(type(value), 'a value')}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise refuse("inputs_type", f"item {index} is {JSON_KINDS.get(type(item), 'a value')}, not a text")
    return value


def check_top_k(value):
    """0 means every label, as --top-k 0 does on the command line: it becomes None."""
    if value is None or (isinstance(value, str) and value == "auto"):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse("top_k", f"must be a whole number (N: the N best labels; 0 or null: every label) or \"auto\" "
                     f"(the default), got {shown(value)}")
    if value < 0:
        raise refuse("top_k", f"must be 0 or more (N: the N best labels; 0 or null: every label), got {value}")
    return value or None


def check_threshold(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise refuse("threshold", f"must be a probability from 0 to 1 (only the labels scoring at least it are "
                     f"returned) or null, got {shown(value)}")
    return float(value)


TOP_K = ("labels per text, highest first: N, or 0 or null for every label; \"auto\" (the default): 1 for a "
         "single-label model, every label's score for a multi-label one")
THRESHOLD = ("only the labels scoring at least this (0 to 1), as fastText's predict-prob: a single-label model's "
             "answer is then a list, possibly empty, of those among the top_k; a multi-label model's labels are "
             "those scoring at least it, in place of its tuned thresholds")


TopK = Annotated[Annotated[StrictInt, Field(ge=0)] | Literal["auto"] | None, BeforeValidator(check_top_k)]
Threshold = Annotated[Annotated[float, Field(ge=0, le=1)] | None, BeforeValidator(check_threshold)]


class Parameters(BaseModel):
    """/predict's options in the Hugging Face Inference API's shape."""

    model_config = ConfigDict(extra="forbid")
    top_k: TopK = Field("auto", description=TOP_K)
    threshold: Threshold = Field(None, description=THRESHOLD)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: Annotated[StrictStr | list[StrictStr], BeforeValidator(check_inputs)]
    top_k: TopK = Field("auto", description=TOP_K)
    threshold: Threshold = Field(None, description=THRESHOLD)
    parameters: Parameters | None = Field(None, description="top_k and threshold in the Hugging Face Inference "
                                          "API's shape, in place of the top-level ones")

    @model_validator(mode="after")
    def one_place_for_the_options(self):
        given = sorted({"top_k", "threshold"} & self.model_fields_set)
        if self.parameters is not None and given:
            raise refuse("mixed_shapes", f"{' and '.join(given)} given at the top level beside \"parameters\": give "
                         "top_k and threshold either at the top level or in parameters (the Hugging Face Inference "
                         "API's shape), not both")
        return self

    def options(self) -> tuple[int | None | str, float | None]:
        """(top_k, threshold), from wherever the request gave them."""
        source = self.parameters if self.parameters is not None else self
        return source.top_k, source.threshold


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: StrictStr
    label: StrictStr | None = Field(None, description="the label to explain; the predicted one by default")
    method: StrictStr | None = Field(None, description="integrated_gradients or occlusion; by default the model's "
                                     "own: integrated_gradients for a PyTorch model, occlusion for an ONNX export")


class LabelScore(BaseModel):
    label: str
    score: float


class MultiLabelResult(BaseModel):
    labels: list[str]
    scores: list[LabelScore]


TextResult = LabelScore | list[LabelScore] | MultiLabelResult


class Info(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    labels: list[str]
    problem_type: str
    thresholds: dict[str, float] | None = Field(description="a multi-label model's threshold per label (a label "
                                                "passes at a score of at least its threshold); null for a "
                                                "single-label model")
    max_length: int
    tokenizer: str
    textrnn_version: str
    model_textrnn_version: str | None
    engine: str = Field(description="what runs the forward passes: torch (PyTorch) or onnx (onnxruntime)")
    model_settings: dict
    batching: dict
