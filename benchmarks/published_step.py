"""The MNIST report's published per-sample training step, re-created for timing.

Follows the operations of the report's code (github.com/Bbbstin/CV_Assignment1,
functions/NNs.py and activation_function.py) one for one: float64 throughout;
forward through a dict of intermediates; softmax with +1e-6; the output error
``p - onehot``; ``dW2 = np.outer(A1, e) + 2*reg*W2``; the hidden error through
``sigmoid_backward`` / ``relu_backward`` recomputed from Z1;
``dW1 = np.outer(x, d) + 2*reg*W1``; the rate ``step * 0.9**(it/10000)``
recomputed for each parameter; the sample index ``int(np.random.rand(1) * n)``
(written ``rand(1)[0]``: NumPy 2 no longer converts a 1-element array to int).

Run as a script it times ``--steps`` steps in this fresh process and prints
one JSON line: {"us_per_step": ...}. No part of twolayer is imported.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_backward(x):
    return np.exp(-x) / (np.exp(-x) + 1) ** 2


def relu(x):
    return np.maximum(0, x)


def relu_backward(x):
    dx = np.zeros(x.shape)
    dx[x > 0] = 1
    return dx


def softmax(x):
    exps = np.exp(x) + 1e-6
    return exps / np.sum(exps, axis=0)


class PublishedNet:
    def __init__(self, d, h, c, activation, step_size, reg, rng):
        self.params = {"W1": rng.standard_normal((d, h)) / np.sqrt(h), "W2": rng.standard_normal((h, c)) / np.sqrt(c)}
        self.act, self.act_back = (sigmoid, sigmoid_backward) if activation == "sigmoid" else (relu, relu_backward)
        self.step_size, self.reg = step_size, reg

    def forward(self, x):
        m = {"A0": x}
        m["Z1"] = m["A0"] @ self.params["W1"]
        m["A1"] = self.act(m["Z1"])
        m["Z2"] = m["A1"] @ self.params["W2"]
        m["A2"] = softmax(m["Z2"])
        self.memory = m
        return m["A2"]

    def backward(self, out, y_onehot):
        p, m, dw = self.params, self.memory, {}
        e = out - y_onehot
        dw["W2"] = np.outer(m["A1"], e) + 2 * self.reg * p["W2"]
        d = np.dot(p["W2"], e) * self.act_back(m["Z1"])
        dw["W1"] = np.outer(m["A0"], d) + 2 * self.reg * p["W1"]
        return dw

    def learning_rate_decay(self, it):
        return self.step_size * 0.9 ** (it / 10000)

    def step(self, it, X, Y):
        i = int(np.random.rand(1)[0] * X.shape[0])  # NumPy 2 refuses int() of a 1-element array
        out = self.forward(X[i, :])
        dw = self.backward(out, Y[i, :])
        for key, value in dw.items():
            self.params[key] -= self.learning_rate_decay(it) * value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=275)
    ap.add_argument("--activation", default="sigmoid")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--n", type=int, default=55000)
    args = ap.parse_args()
    np.random.seed(0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, 784))
    Y = np.eye(10)[rng.integers(0, 10, args.n)]
    net = PublishedNet(784, args.hidden, 10, args.activation, 0.05, 1e-5, rng)
    for it in range(200):  # warm-up
        net.step(it, X, Y)
    t0 = time.perf_counter()
    for it in range(args.steps):
        net.step(it, X, Y)
    dt = time.perf_counter() - t0
    print(json.dumps({"us_per_step": dt / args.steps * 1e6}))


if __name__ == "__main__":
    main()
