"""A toy cipher. CIPHERTEXT was produced by encrypt(plaintext, key) with a secret key in 1..25."""

ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def encrypt(plaintext: str, key: int) -> str:
    out = []
    i = 0  # index of the letter among the letters seen so far
    for ch in plaintext:
        if ch in ALPHABET:
            shift = key * (i + 1)
            out.append(ALPHABET[(ALPHABET.index(ch) + shift) % 26])
            i += 1
        else:
            out.append(ch)
    return "".join(out)


CIPHERTEXT = "xall ps zd onv qyb quwrpd tpxr ihp ppvh htbiy rv zgmhnwif"
