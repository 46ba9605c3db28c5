"""What ONNX export and import share: the graph's tensor names, the default opset and the axis orders.

Images are channels-last (NHWC) in scratchnn and channels-first (NCHW) in ONNX's Conv and pooling
operators; ``TO_NCHW`` and ``TO_NHWC`` are the Transpose permutations between the two.
"""
DEFAULT_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "output"
TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
