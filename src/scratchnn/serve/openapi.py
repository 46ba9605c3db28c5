"""The OpenAPI 3.1 description of the server (served at /openapi.json and read by the page at /docs)."""
from __future__ import annotations

ERROR = {"description": "a request the server refuses, as one line",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
SAMPLES_BODY = {
    "required": True,
    "description": "JSON {\"inputs\": one sample or a list of samples}; a .npy file (one sample or a batch, values as "
                   "stored); an image (PNG, JPEG, ...: grayscale pixels 0..255, ink made bright and framed "
                   "as in `scratchnn predict`); or a multipart form with one file field holding either.",
    "content": {
        "application/json": {"schema": {"type": "object", "required": ["inputs"],
                                        "properties": {"inputs": {"type": "array", "items": {}}}},
                             "example": {"inputs": [[0.0, 0.5, 1.0]]}},
        "application/x-npy": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}}},
    },
}
INVERT = {"name": "invert", "in": "query", "schema": {"enum": ["auto", "yes", "no"], "default": "auto"},
          "description": "images: make the ink bright on a dark ground (auto: when the border is light)"}
COMMON_ERRORS = {"400": ERROR, "413": ERROR, "415": ERROR, "422": ERROR, "429": ERROR}


def query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def openapi_schema(version: str) -> dict:
    """The schema document: every endpoint, its parameters, bodies, answers and errors."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "scratchnn serve", "version": version,
                 "description": "Predictions and explanations from a scratchnn model (.snn), and the "
                                "Playground's training runs. Every error is a 4xx with {\"error\": \"one line\"}."},
        "paths": {
            "/v1/predict": {"post": {
                "summary": "Class probabilities for each sample (batched with concurrent requests)",
                "parameters": [INVERT, query("top", {"type": "integer", "minimum": 1, "default": 3},
                                             "how many classes to list per sample")],
                "requestBody": SAMPLES_BODY,
                "responses": {"200": {"description": "one prediction per sample", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Predictions"}}}},
                    **COMMON_ERRORS}}},
            "/v1/explain": {"post": {
                "summary": "Which inputs one prediction rests on (scratchnn.explain), as JSON or a PNG heat map",
                "parameters": [
                    query("method", {"enum": ["integrated-gradients", "saliency", "occlusion"],
                                     "default": "saliency"}, "the attribution method"),
                    query("target", {"type": "integer", "minimum": 0}, "the class to explain (default: the top)"),
                    query("steps", {"type": "integer", "minimum": 1, "maximum": 256, "default": 32},
                          "integrated-gradients steps"),
                    query("index", {"type": "integer", "minimum": 0, "default": 0}, "which sample of the body"),
                    query("format", {"enum": ["json", "png"], "default": "json"}, "the answer's form"),
                    INVERT],
                "requestBody": SAMPLES_BODY,
                "responses": {"200": {"description": "the attributions", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Explanation"}},
                    "image/png": {"schema": {"type": "string", "format": "binary"}}}}, **COMMON_ERRORS}}},
            "/v1/model": {"get": {"summary": "The model: summary, input shape, classes, version",
                                  "responses": {"200": {"description": "the model", "content": {
                                      "application/json": {"schema": {"type": "object"}}}}}}},
            "/healthz": {"get": {"summary": "Liveness, and the batching counts so far",
                                 "responses": {"200": {"description": "{\"status\": \"ok\", ...}", "content": {
                                     "application/json": {"schema": {"type": "object"}}}}}}},
            "/v1/playground/train": {"get": {
                "summary": "Train a small network on a toy set; server-sent events setup, frame..., done",
                "parameters": [
                    query("dataset", {"enum": ["moons", "spirals", "blobs", "xor", "gender"], "default": "moons"},
                          "the toy set"),
                    query("layers", {"type": "integer", "minimum": 0, "maximum": 6, "default": 2}, "hidden layers"),
                    query("width", {"type": "integer", "minimum": 1, "maximum": 32, "default": 8},
                          "units per hidden layer"),
                    query("activation", {"type": "string", "default": "tanh"}, "tanh, relu, sigmoid, ..."),
                    query("optimizer", {"type": "string", "default": "adam"}, "adam, sgd, rmsprop, ..."),
                    query("learning_rate", {"type": "number", "default": 0.03}, "the optimizer's step size"),
                    query("epochs", {"type": "integer", "minimum": 1, "maximum": 5000, "default": 300},
                          "passes over the data"),
                    query("batch_size", {"type": "integer", "minimum": 1, "maximum": 1024, "default": 32},
                          "samples per step"),
                    query("frames", {"type": "integer", "minimum": 1, "maximum": 500, "default": 60}, "frames to send"),
                    query("grid", {"type": "integer", "minimum": 8, "maximum": 96, "default": 40},
                          "the boundary grid's side"),
                    query("seed", {"type": "integer", "minimum": 0, "default": 0}, "reproduces the run")],
                "responses": {"200": {"description": "an event stream",
                                      "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                              "422": ERROR, "429": ERROR}}},
            "/v1/playground/step": {"post": {
                "summary": "One SGD step of seed 000's 2-2-1 network on one sample, every partial derivative shown",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        "parameters": {"type": "object", "description": "w1..w6, b1..b3 (default: drawn)"},
                        "seed": {"type": "integer"}, "sample": {"type": "integer", "minimum": 0, "maximum": 3},
                        "learning_rate": {"type": "number"}}}}}},
                "responses": {"200": {"description": "forward values, partials, gradients and new parameters",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              **COMMON_ERRORS}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Predictions": {"type": "object", "properties": {
                "model": {"type": "string"},
                "predictions": {"type": "array", "items": {"type": "object", "properties": {
                    "class": {"type": "integer"}, "name": {"type": "string"}, "probability": {"type": "number"},
                    "probabilities": {"type": "array", "items": {"type": "number"}},
                    "top": {"type": "array", "items": {"type": "object"}}}}}}},
            "Explanation": {"type": "object", "properties": {
                "method": {"type": "string"}, "target": {"type": "integer"}, "class": {"type": "integer"},
                "probabilities": {"type": "array", "items": {"type": "number"}},
                "shape": {"type": "array", "items": {"type": "integer"}},
                "attributions": {"type": "array", "items": {"type": "number"}}}},
        }},
    }
