"""Forecasting the yearly sunspot numbers (statsmodels' sunspots, 1700-2008) one year ahead with a causal Conv1D.

The last 50 years (1959-2008) are held out. Every method forecasts each of those years from the true values
before it (one step ahead), and is scored by MAE and RMSE in sunspot numbers:

    seasonal naive   y[t] = y[t - period], the period (in 9 ... 13 years) that fits the training years best
    linear AR(p)     y[t] = c + sum_i a_i y[t - i], least squares, p (1 ... 20) chosen on the validation years;
                     on the numbers themselves and on their square roots (the scale the network sees)
    Conv1D           a causal, dilated convolution over the last 12 years (about one 11-year cycle) of the
                     square roots, trained with Adam on MSE, early-stopped on the validation years; one model
                     per seed, and the mean of their forecasts

    Conv1D(8, 3, causal, relu) -> Conv1D(8, 3, causal, dilation 2, relu) -> Flatten -> Dense(1)

Years 1700-1918 train, 1919-1958 validate, 1959-2008 test; nothing is refitted on the validation years. The
square root steadies the variance of the counts (the peaks of the large cycles otherwise dominate the fit); the
network's inputs are the square roots standardised with the training years' mean and deviation. A plot of the
forecasts against the truth is written to OUT/timeseries_forecast.png.

Run: python examples/timeseries_forecast.py [--out runs] [--seeds 0 1 2] [--epochs 300] [--window 12]
(needs statsmodels and matplotlib: pip install 'scratchnn[examples,plot]').
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import scratchnn as snn
from scratchnn import callbacks, layers, optim
from scratchnn._optional import require

TEST_YEARS, VALIDATION_YEARS = 50, 40


def load_sunspots():
    """(years, yearly mean sunspot numbers) from statsmodels' copy of the series, 1700-2008."""
    sunspots = require("statsmodels.datasets.sunspots", "the sunspot forecast example")
    data = sunspots.load_pandas().data                                # statsmodels.api.datasets.sunspots
    return data["YEAR"].to_numpy(dtype=int), data["SUNACTIVITY"].to_numpy(dtype=np.float64)


def windows(series, window, targets):
    """x[i] = the `window` values before targets[i] (as (window, 1)), y[i] = series[targets[i]]."""
    x = np.stack([series[t - window:t] for t in targets])[..., None]
    return x, series[targets][:, None]


def scores(truth, forecast):
    error = forecast - truth
    return {"MAE": float(np.mean(np.abs(error))), "RMSE": float(np.sqrt(np.mean(error ** 2)))}


def seasonal_naive(series, train_end, test):
    """y[t - period], the period of 9 ... 13 years with the lowest training MAE (the ~11-year Schwabe cycle)."""
    period = min(range(9, 14), key=lambda p: np.mean(np.abs(series[p:train_end] - series[:train_end - p])))
    return period, series[test - period]


def ar_design(series, order, targets):
    """Rows [1, y[t - 1], ..., y[t - order]] for each target year t."""
    return np.column_stack([np.ones(len(targets)), *[series[targets - i] for i in range(1, order + 1)]])


def linear_ar(series, train_end, validation, test, max_order=20):
    """Least-squares AR(p) fitted on the training years, p chosen by validation RMSE; forecasts for test."""
    def fit(order):
        targets = np.arange(order, train_end)
        coefficients, *_ = np.linalg.lstsq(ar_design(series, order, targets), series[targets], rcond=None)
        return coefficients

    def validation_rmse(order):
        return np.sqrt(np.mean((ar_design(series, order, validation) @ fit(order) - series[validation]) ** 2))

    order = min(range(1, max_order + 1), key=validation_rmse)
    return order, ar_design(series, order, test) @ fit(order)


def conv1d_model(window, seed):
    return snn.Sequential([
        layers.Conv1D(8, 3, padding="causal", activation="relu"),
        layers.Conv1D(8, 3, padding="causal", dilation_rate=2, activation="relu"),
        layers.Flatten(),
        layers.Dense(1),
    ], input_shape=(window, 1), seed=seed)


def train_conv1d(roots, train_end, validation, test, window, seed, epochs):
    """One Conv1D forecaster fitted on the training years' square roots; its forecasts (in sunspot numbers) for
    the test years and its best epoch (by validation loss)."""
    mean, std = roots[:train_end].mean(), roots[:train_end].std()
    scaled = (roots - mean) / std                                   # standardised with the training years
    x_train, y_train = windows(scaled, window, np.arange(window, train_end))
    x_val, y_val = windows(scaled, window, validation)
    x_test, _ = windows(scaled, window, test)
    model = conv1d_model(window, seed)
    model.compile(loss="mse", optimizer=optim.Adam(1e-3))
    stop = callbacks.EarlyStopping(patience=40, restore_best_weights=True)
    model.fit(x_train, y_train, epochs=epochs, batch_size=16, validation_data=(x_val, y_val), callbacks=[stop],
              verbose=0)
    root_forecast = model.predict(x_test)[:, 0] * std + mean
    return np.maximum(root_forecast, 0) ** 2, stop.best_epoch + 1


def plot(years, series, test, forecasts, path):
    pyplot = require("matplotlib.pyplot", "the sunspot forecast plot")
    figure, ax = pyplot.subplots(figsize=(10, 4.2))
    shown = np.arange(test[0] - 60, len(series))
    ax.plot(years[shown], series[shown], color="black", linewidth=2, label="observed")
    styles = {"seasonal naive": ("tab:gray", ":"), "linear AR": ("tab:blue", "--"),
              "linear AR on square roots": ("tab:green", "-."), "Conv1D": ("tab:red", "-")}
    for name, forecast in forecasts.items():
        color, style = styles[name]
        ax.plot(years[test], forecast, color=color, linestyle=style, linewidth=1.6, label=name)
    ax.axvspan(years[test[0]] - 0.5, years[test[-1]] + 0.5, color="0.93", zorder=0, label="held-out years")
    ax.set_xlabel("year")
    ax.set_ylabel("yearly mean sunspot number")
    ax.set_title("Sunspots: one-year-ahead forecasts of the 50 held-out years (Conv1D: mean of the seeds' forecasts)")
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def main(out="runs", seeds=(0, 1, 2), epochs=300, window=12):
    years, series = load_sunspots()
    test_start = len(series) - TEST_YEARS
    train_end = test_start - VALIDATION_YEARS
    validation, test = np.arange(train_end, test_start), np.arange(test_start, len(series))
    truth = series[test]
    print(f"sunspots {years[0]}-{years[-1]}: train {years[0]}-{years[train_end - 1]}, validation "
          f"{years[train_end]}-{years[test_start - 1]}, test {years[test_start]}-{years[-1]} (one year ahead)")

    period, naive = seasonal_naive(series, train_end, test)
    order, ar = linear_ar(series, train_end, validation, test)
    roots = np.sqrt(series)
    root_order, root_ar = linear_ar(roots, train_end, validation, test)
    forecasts = {f"seasonal naive (period {period})": naive, f"linear AR({order})": ar,
                 f"linear AR({root_order}) on square roots": root_ar ** 2}
    start = time.perf_counter()
    networks = []
    for seed in seeds:
        forecast, best_epoch = train_conv1d(roots, train_end, validation, test, window, seed, epochs)
        networks.append(forecast)
        forecasts[f"Conv1D, seed {seed} (best epoch {best_epoch})"] = forecast
    seconds = time.perf_counter() - start
    ensemble = f"Conv1D, mean of {len(seeds)} seeds"
    forecasts[ensemble] = np.mean(networks, axis=0)

    results = {name: scores(truth, forecast) for name, forecast in forecasts.items()}
    for name, result in results.items():
        print(f"  {name:<44} MAE {result['MAE']:6.2f}   RMSE {result['RMSE']:6.2f}")
    print(f"({len(seeds)} Conv1D models of window {window} trained in {seconds:.1f}s)")
    path = os.path.join(out, "timeseries_forecast.png")
    shown = {"seasonal naive": naive, "linear AR": ar, "linear AR on square roots": root_ar ** 2,
             "Conv1D": forecasts[ensemble]}
    plot(years, series, test, shown, path)
    print(f"plot written to {path}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs", help="folder for the plot (default runs/)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--window", type=int, default=12)
    args = parser.parse_args()
    main(args.out, args.seeds, args.epochs, args.window)
