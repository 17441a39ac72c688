#!/usr/bin/python3
"""Reference trajectories for tests/test_optim.c (run with /usr/bin/python3 + torch).

A parameter vector w (3 floats) with gradient g = a*w + b (a, b fixed) is
updated for 3 steps by each optimizer; prints w after every step with 9
significant digits, and a clip_grad_norm_ example."""
import torch

W0 = [0.5, -1.0, 2.0]
A = [1.0, 2.0, 0.5]
B = [0.1, -0.3, 0.2]

CASES = [
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.1)),
    ("sgd_mom_wd", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("sgd_nesterov", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8)),
    ("adam_wd", lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)),
]

def main():
    a = torch.tensor(A, dtype=torch.float32)
    b = torch.tensor(B, dtype=torch.float32)
    for name, make in CASES:
        w = torch.tensor(W0, dtype=torch.float32, requires_grad=True)
        opt = make([w])
        print(name)
        for step in range(3):
            opt.zero_grad()
            w.grad = (a * w.detach() + b)
            opt.step()
            print("    {%s}," % ", ".join("%.9gf" % v for v in w.detach().tolist()))
    g = torch.tensor([3.0, -4.0, 12.0])
    w = torch.zeros(3, requires_grad=True)
    w.grad = g.clone()
    n = torch.nn.utils.clip_grad_norm_([w], 6.5)
    print("clip norm %.9g ->" % n.item(), ", ".join("%.9gf" % v for v in w.grad.tolist()))

if __name__ == "__main__":
    main()
