"""The README's quick start runs as written and prints what it promises."""
import pathlib
import re


README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start_runs_as_written(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    section = text[text.index("## Quick start"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 16
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README quick start", "exec"), namespace)
    result = namespace["model"].evaluate(namespace["x_test"], namespace["y_test"])
    assert result["accuracy"] >= 0.95
    assert (tmp_path / "digits.snn").exists()
    assert "accuracy" in capsys.readouterr().out
