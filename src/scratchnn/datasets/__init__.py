"""Datasets: the embedded digits (offline default) and loaders."""
from .digits import load_digits
from .idx import read_idx, write_idx
from .mnist import FASHION_CLASSES, load_fashion_mnist, load_mnist
from .toy import exam_scores, gender, make_blobs, make_moons, make_spirals, xor
from .text import CharVocabulary, read_text, sample_text, split_text, text_windows
from .utils import BatchIterator, MinMaxScaler, Standardizer, to_categorical, train_test_split

__all__ = ["load_digits", "read_idx", "write_idx", "load_mnist", "load_fashion_mnist", "FASHION_CLASSES",
           "to_categorical", "train_test_split", "Standardizer", "MinMaxScaler", "BatchIterator",
           "gender", "exam_scores", "xor", "make_spirals", "make_moons", "make_blobs"]
__all__ += ["read_text", "CharVocabulary", "text_windows", "split_text", "sample_text"]     # issue 18
